from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HTMX_STOP_POLLING

from i2v.lib.lists import list_results
from media_processing.models import AlreadyQueued, ProcessingJob

from .forms import LibraryFilterForm

PAGE = "library/library_page.html"


@require_GET
@login_required
@vary_on_headers("HX-Request")
def library_page(request):
    form = LibraryFilterForm(request.GET, default_page_size=settings.LIBRARY_PAGE_SIZE)
    fetch = request.user.assets.library_list
    results, status = list_results(request, form, scope="library", fetch=fetch, page=PAGE, append="tiles")
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
