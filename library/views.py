import functools

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HTMX_STOP_POLLING, trigger_client_event

from i2v.lib import errors
from i2v.lib.cache import reads_ahead
from i2v.lib.lists import ListResults
from i2v.lib.ratelimit import rate_limited
from i2v.lib.watch import watch_response
from media_processing.models import AlreadyQueued, ProcessingJob

from . import uploads
from .forms import AssetIdsForm, LibraryFilterForm
from .media import parse, serve
from .models import Asset

PAGE = "library/library_page.html"
CONFIRM = "library/confirm_delete.html"
UPLOADED = "library/uploaded.html"


def _listed(request, owner_id=None):
    return ListResults(request, LibraryFilterForm, scope="library", page=PAGE, append="tiles", owner_id=owner_id)


@require_safe
@login_required
@vary_on_headers("HX-Request")
@reads_ahead(lambda request, owner_id: _listed(request, owner_id).entry)
def library_page(request):
    fragment = request.htmx and not request.htmx.history_restore_request
    listed = _listed(request)
    if fragment and (hit := listed.cached()) is not None:
        return HttpResponse(hit)
    form = LibraryFilterForm(request.GET, default_page_size=settings.LIBRARY_PAGE_SIZE)
    results, status = listed.render(form, functools.partial(Asset.objects.library_list, request.user.id))
    if fragment:
        return HttpResponse(results, status=status)
    limits = {kind: f"{n / 1048576:g} MB" for kind, n in settings.UPLOAD_MAX_BYTES.items()}
    context = {"form": form, "results": ListResults.in_page(results), "max_bytes": settings.UPLOAD_MAX_BYTES, "limits": limits}
    return render(request, PAGE, context, status=status)


def _render_tile(request, asset_id):
    asset = get_object_or_404(request.user.assets.for_library(), pk=asset_id)
    if asset.is_pending:
        return render(request, f"{PAGE}#tile", {"a": asset})
    # A tile that just finished says so for a moment (the badge fades out).
    return render(request, f"{PAGE}#tile", {"a": asset, "just_finished": True}, status=HTMX_STOP_POLLING)


@require_safe
@login_required
def tile(request, asset_id):
    """One tile: a just-uploaded file's, put in the grid by static/js/library.js."""
    return _render_tile(request, asset_id)


@require_safe
@login_required
def watch(request):
    """The grid's tiles still processing, checked in one request (i2v/lib/watch.py): those
    whose status changed come back out of band (a finished one says so for a moment),
    those gone as removals; 204 when nothing changed."""
    return watch_response(request, request.user.assets.changed_tiles, f"{PAGE}#watched", "tiles", just_finished=True)


@csrf_exempt  # checked by uploads.received(), once the files are streamed and hashed
@require_POST
@login_required
@rate_limited("uploads")
def upload(request):
    """The Library's upload form where JavaScript is off (the page's uploader sends each file to the API):
    the files ingested as the API ingests them. All taken: back to the Library, which says so. Any refused:
    a page of what came of each file, with the worst file's status, as the API answers."""
    try:
        files = uploads.received(request)
    except (MultiPartParserError, SuspiciousOperation) as exc:
        refused = errors.unreadable(exc, "files")
        return errors.refused_page(request, refused.status, "Upload refused", refused.message)
    if files is None:
        return errors.csrf_failure(request)
    if not files:
        return errors.refused_page(request, 400, "Nothing uploaded", "Choose one or more images or videos to upload.")
    ingested = Asset.objects.ingest_each(request.user, files)
    refusals = [i.refused.status for i in ingested if i.refused is not None]
    if not refusals:
        messages.success(request, _taken(ingested))
        return redirect("library:page")
    status = max(refusals)
    return render(request, UPLOADED, {"ingested": ingested}, status=status)


def _taken(ingested):
    """What the Library says of files all taken: how many are new, how many were there already."""
    new = sum(i.created for i in ingested)
    there = len(ingested) - new
    said = [f"Uploaded {new} file{pluralize(new)}: each appears once it is processed."] if new else []
    if there:
        said.append(f"{there} {pluralize(there, 'was,were')} already in your library.")
    return " ".join(said)


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


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def delete(request):
    """Delete assets chosen in the Library; someone else's ids are ignored.

    POST deletes. From the page's selection bar (htmx, after hx-confirm) the
    answer removes the tiles out of band and says how many went; a plain form
    goes back to the Library. GET is the plain form's confirmation page: the
    grid's checkboxes submit to it when JavaScript is off.
    """
    data = request.POST if request.method == "POST" else request.GET
    form = AssetIdsForm(data)
    # Without JavaScript, the Library the selection was made on (its filters, `back`) is where the page returns.
    back = {"back": data.get("back", ""), "back_url": LibraryFilterForm.page_url(data.get("back", ""))}
    if not form.is_valid():
        if request.htmx:
            return errors.toast(form.first_error())
        return render(request, CONFIRM, {"form": form, **back}, status=422)
    assets = request.user.assets.filter(pk__in=form.cleaned_data["ids"])
    if request.method != "POST":  # GET or HEAD: only POST deletes
        return render(request, CONFIRM, {"form": form, **back, **assets.deletion_summary()})
    ids = assets.delete_in_bulk()
    message = f"Deleted {len(ids)} asset{pluralize(len(ids))}."
    if not request.htmx:
        messages.success(request, message)
        return redirect(back["back_url"])
    # app.js lowers the count above the grid by as many.
    return trigger_client_event(render(request, f"{PAGE}#deleted", {"ids": ids, "message": message}), "totalChanged", {"by": -len(ids), "noun": "asset"})


@require_safe
def media(request, name):
    """A stored file, for its owner (and staff) only.

    Names carry their owner (library/media.py), so this needs no query of its
    own: someone else's name is a 404 whether or not the file exists, and a
    name of no known shape never reaches the storage.
    """
    if not request.user.is_authenticated:
        response = HttpResponse("Log in to see this file.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="i2v"'
        return response
    stored = parse(name)
    if stored is None or not (stored.owner_id == request.user.id or request.user.is_staff):
        raise Http404
    return serve(request, name)
