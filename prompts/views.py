"""The page where a person keeps their prompt templates and named lists."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from i2v.lib.methods import posted_to, unasked

from .forms import PromptListForm, PromptTemplateForm
from .models import saved_for

PAGE = "prompts/prompts_page.html"
CONFIRM = "prompts/confirm_delete.html"


def _page(request, status=200, **forms):
    lists, templates = saved_for(request.user)
    context = {
        "lists": lists,
        "templates": templates,
        "list_form": forms.get("list_form") or PromptListForm(owner=request.user),
        "template_form": forms.get("template_form") or PromptTemplateForm(owner=request.user),
        "editing": forms.get("editing"),
    }
    return render(request, PAGE, context, status=status)


@require_safe
@login_required
def prompts_page(request):
    return _page(request)


@posted_to("prompts:page")
@login_required
def save_list(request, list_id=None):
    instance = get_object_or_404(request.user.prompt_lists, pk=list_id) if list_id is not None else None
    form = PromptListForm(request.POST, instance=instance, owner=request.user)
    if not form.is_valid():
        return _page(request, 422, list_form=form, editing=("list", list_id))
    form.save()
    return redirect("prompts:page")


@posted_to("prompts:page")
@login_required
def save_template(request, template_id=None):
    instance = get_object_or_404(request.user.prompt_templates, pk=template_id) if template_id is not None else None
    form = PromptTemplateForm(request.POST, instance=instance, owner=request.user)
    if not form.is_valid():
        return _page(request, 422, template_form=form, editing=("template", template_id))
    form.save()
    return redirect("prompts:page")


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def delete_list(request, list_id):
    """POST deletes once asked (confirm=1); GET is the confirmation page, naming the templates that use the list."""
    return _delete(request, get_object_or_404(request.user.prompt_lists, pk=list_id).find_used_by())


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def delete_template(request, template_id):
    """POST deletes once asked (confirm=1); GET is the confirmation page."""
    return _delete(request, get_object_or_404(request.user.prompt_templates, pk=template_id))


def _delete(request, saved):
    """Delete `saved` (a list or a template) once asked. The page's button asks with JavaScript (data-confirm:
    app.js adds confirm=1 to the form); without it the form arrives unconfirmed and goes to its confirmation
    page, this URL by GET (nothing is deleted on GET or HEAD)."""
    if request.method != "POST":
        return render(request, CONFIRM, {"saved": saved})
    if asking := unasked(request):
        return asking
    saved.delete()
    messages.success(request, f"Deleted “{saved.name}”.")
    return redirect("prompts:page")
