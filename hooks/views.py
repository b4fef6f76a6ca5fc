"""The webhooks page: the URLs a person registered, and the delivery log."""

from functools import partial

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_safe

from i2v.lib.errors import refused_page
from i2v.lib.methods import posted_to
from i2v.lib.pagination import CursorError

from .forms import EndpointEventsForm, EndpointForm
from .models import EVENTS, Delivery

PAGE = "hooks/webhooks_page.html"


def _page(request, form=None, status=200, editing=None, cursor=None):
    context = {
        "endpoints": request.user.webhook_endpoints.all(),
        "deliveries": Delivery.objects.log(request.user, cursor),
        # Called by the template only when the log is longer than a page: a short log is not counted.
        "logged": partial(Delivery.objects.logged, request.user),
        "form": form or EndpointForm(owner=request.user),
        "editing": editing,  # an endpoint's events form with an error, shown open in its row
        "events": EVENTS,
    }
    return render(request, PAGE, context, status=status)


@require_safe
@login_required
def webhooks_page(request):
    """The page; ?cursor= (its "Older deliveries" link) pages the delivery log by keyset."""
    try:
        return _page(request, cursor=request.GET.get("cursor") or None)
    except CursorError as exc:
        return refused_page(request, 400, "Bad page parameters", str(exc))


@posted_to("hooks:page")
@login_required
def add_endpoint(request):
    form = EndpointForm(request.POST, owner=request.user)
    if not form.is_valid():
        return _page(request, form, 422)
    form.save()
    return redirect("hooks:page")


@posted_to("hooks:page")
@login_required
def edit_events(request, endpoint_id):
    form = EndpointEventsForm(request.POST, instance=get_object_or_404(request.user.webhook_endpoints, pk=endpoint_id))
    if not form.is_valid():
        return _page(request, status=422, editing=form)
    form.save()
    return redirect("hooks:page")


@posted_to("hooks:page")
@login_required
def delete_endpoint(request, endpoint_id):
    get_object_or_404(request.user.webhook_endpoints, pk=endpoint_id).delete()
    return redirect("hooks:page")


@posted_to("hooks:page")
@login_required
def toggle_endpoint(request, endpoint_id):
    endpoint = get_object_or_404(request.user.webhook_endpoints, pk=endpoint_id)
    endpoint.is_active = not endpoint.is_active
    endpoint.save(update_fields=["is_active"])
    return redirect("hooks:page")


@posted_to("hooks:page")
@login_required
def redeliver(request, delivery_id):
    get_object_or_404(Delivery.objects.filter(owner=request.user), pk=delivery_id).redeliver()
    return redirect("hooks:page")
