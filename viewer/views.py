from django.contrib.auth.decorators import login_required
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe
from django.views.decorators.vary import vary_on_headers

from i2v.lib.ids import id_from_text

from .details import Details

PAGE = "viewer/asset.html"


def _output_id(request):
    """?output=<id>: the output the viewer was opened on; None when absent, False when malformed."""
    value = request.GET.get("output", "")
    if not value:
        return None
    return id_from_text(value) or False


def _render(request, details):
    # The viewer (static/js/viewer.js) asks for its side panel; a link followed without JavaScript gets a page.
    template = f"{PAGE}#details" if request.htmx else PAGE
    return render(request, template, {"d": details, "a": details.asset})


@require_safe
@login_required
@vary_on_headers("HX-Request")
def asset_details(request, asset_id):
    """One asset in full with what made it: the viewer's panel, or a page of its own."""
    output_id = _output_id(request)
    if output_id is False:
        return HttpResponseBadRequest("The output must be an id (a whole number).")
    return _render(request, Details.load(request.user, asset_id, output_id))


def _toggle(request, asset_id, field):
    output_id = _output_id(request)
    if output_id is False:
        return HttpResponseBadRequest("The output must be an id (a whole number).")
    details = Details.load(request.user, asset_id, output_id)  # a 404 before anything changes
    details.asset.toggle(field)
    if request.htmx:
        return _render(request, details)
    query = f"?output={output_id}" if output_id else ""
    return redirect(reverse("viewer:details", args=[asset_id]) + query)


@require_POST
@login_required
def toggle_favorite(request, asset_id):
    return _toggle(request, asset_id, "is_favorite")


@require_POST
@login_required
def toggle_hidden(request, asset_id):
    return _toggle(request, asset_id, "is_hidden")
