from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HTMX_STOP_POLLING

from i2v.lib.lists import results_html
from i2v.lib.pagination import CursorError
from media_processing.models import AlreadyQueued, ProcessingJob

from .forms import LibraryFilterForm

PAGE = "library/library_page.html"


def _results_html(request, form, partial):
    template = f"{PAGE}#{partial}"
    return results_html(request, form, scope="library", fetch=request.user.assets.library_list, template=template)


@require_GET
@login_required
@vary_on_headers("HX-Request")
def library_page(request):
    form = LibraryFilterForm(request.GET, default_page_size=settings.LIBRARY_PAGE_SIZE)
    results = None
    if form.is_valid():
        # A request with a cursor appends tiles (infinite scroll); any other
        # HTMX request replaces the results under the filter bar.
        partial = "tiles" if form.cleaned_data["cursor"] and request.htmx else "results"
        try:
            results = _results_html(request, form, partial)
        except CursorError as exc:
            form.add_error("cursor", str(exc))
    status = 200 if results is not None else 400
    if results is None:
        results = render_to_string(f"{PAGE}#invalid", {"form": form}, request)
    if request.htmx and not request.htmx.history_restore_request:
        return HttpResponse(results, status=status)
    limits = {kind: f"{n / 1048576:g} MB" for kind, n in settings.UPLOAD_MAX_BYTES.items()}
    context = {"form": form, "results": results, "max_bytes": settings.UPLOAD_MAX_BYTES, "limits": limits}
    return render(request, PAGE, context, status=status)


def _render_tile(request, asset_id):
    asset = get_object_or_404(request.user.assets.for_library(), pk=asset_id)
    if asset.is_pending:
        return render(request, f"{PAGE}#tile", {"a": asset})
    # A tile that just finished says so for a moment (the badge fades out).
    return render(request, f"{PAGE}#tile", {"a": asset, "just_finished": True}, status=HTMX_STOP_POLLING)


@require_GET
@login_required
def tile(request, asset_id):
    """One tile, polled every 2 s while its renditions are being made; 286 tells htmx to stop."""
    return _render_tile(request, asset_id)


@require_POST
@login_required
def retry(request, asset_id):
    """The Retry button of a failed tile: queue its work again (as POST
    /api/images/<id>/retry-processing does) and redraw it, pending and polling."""
    asset = get_object_or_404(request.user.assets, pk=asset_id)
    try:
        ProcessingJob.objects.retry(asset)
    except AlreadyQueued:
        pass  # a retry from another tab or the API got there first: the tile shows that work
    return _render_tile(request, asset_id)
