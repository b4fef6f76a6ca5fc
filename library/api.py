"""JSON API of the Library: the asset list and uploads, for scripts and for the page's uploader."""

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.csrf import csrf_exempt

from i2v.lib.cache import ListEntry, reads_ahead
from i2v.lib.errors import CSRF_MESSAGE, ApiError, api_view, error_response, form_error, unreadable
from i2v.lib.ids import ID_MAX
from i2v.lib.jsonbody import json_body
from i2v.lib.jsonout import dumps, json_response
from i2v.lib.pagination import CursorError, pagination_json
from i2v.lib.ratelimit import rate_limited

from .forms import AssetIdsForm, LibraryFilterForm
from .models import Asset
from .uploads import received


def _listed(request, owner_id=None):
    return ListEntry.for_request(request, LibraryFilterForm, "library", "api_images", owner_id)


# CSRF is checked inside, once the hashing upload handler is in place: the
# middleware's own check would read the body first, with Django's default
# handlers (which keep small files in memory and don't hash).
@csrf_exempt
@api_view(methods=("GET", "POST"))
@rate_limited("uploads")
@reads_ahead(_listed)
def images(request):
    if request.method == "POST":
        return _upload(request)
    return _list(request)


def _list(request):
    entry = _listed(request)
    if (hit := entry.cached()) is not None:
        return HttpResponse(hit, content_type="application/json")  # no form, no query: one cache read
    form = LibraryFilterForm(request.GET, default_page_size=settings.PAGE_SIZE_DEFAULT)
    if not form.is_valid():
        raise form_error(form)

    def build():
        try:
            page, total = Asset.objects.library_list(request.user.id, **form.list_args())
        except CursorError as exc:
            raise ApiError(400, "invalid_cursor", str(exc), "cursor") from None
        items = [a.as_list_item() for a in page.items]
        return dumps({"items": items, "pagination": pagination_json(page, total)})

    body = entry.through(build)
    return HttpResponse(body, content_type="application/json")


def _upload(request):
    """One or many files under `files`; one result per file, in order.

    The response status is the worst of the files' statuses (max() does it:
    any refusal outranks 201, and 201 outranks 200), so a script sending one
    file reads it straight from the status; a script sending several looks at
    each item, as a bad file never sinks the good ones.
    """
    try:
        files = received(request)
    except (MultiPartParserError, SuspiciousOperation) as exc:
        raise unreadable(exc, "files") from None
    if files is None:
        return error_response(403, "csrf_failed", CSRF_MESSAGE)
    if not files:
        raise ApiError(400, "invalid", "Send one or more files in the multipart field “files”.", "files")
    results = [_result(ingested) for ingested in Asset.objects.ingest_each(request.user, files)]
    status = max(r["status"] for r in results)
    body = {"items": results}
    if status >= 400:
        body["error"] = _refusal_summary(results)
    return json_response(body, status=status)


def _result(ingested):
    if ingested.refused is not None:
        return {"file": ingested.name, "status": ingested.refused.status, "error": ingested.refused.as_json()}
    asset = ingested.asset
    result = {"file": ingested.name, "status": 201 if ingested.created else 200, "duplicate": not ingested.created}
    if not ingested.created:
        result["hidden"] = asset.is_hidden  # already there, and out of the Library's default view
    return {**result, **asset.as_list_item(), "status_url": asset.status_url}


def _refusal_summary(results):
    """The top-level error of a response with refusals, in the API's usual shape."""
    refused = [r for r in results if "error" in r]
    if len(results) == 1:
        return refused[0]["error"]
    worst = max(refused, key=lambda r: r["status"])
    message = f"{len(refused)} of {len(results)} files were refused; each item says why."
    return {"code": worst["error"]["code"], "message": message, "field": "files"}


@api_view()
def image_details(request, asset_id):
    """GET /api/images/<id>/details: what a viewer shows beside one asset.

    The generation parameters inside its file (library/parameters.py) are read
    here, from the file's header only; for an output, how its pipeline made it.
    """
    if asset_id > ID_MAX:
        raise Http404
    asset = request.user.assets.filter(pk=asset_id).first()
    if asset is None:
        raise Http404
    return json_response(asset.as_details())


@api_view(methods=("DELETE",))
def image(request, asset_id):
    """DELETE /api/images/<id>: the asset goes, with its place in pipelines' outputs; its files follow."""
    if asset_id > ID_MAX or not request.user.assets.filter(pk=asset_id).delete_in_bulk():
        raise Http404
    response = HttpResponse(status=204)
    del response["Content-Type"]  # no body, so no type
    return response


@api_view(methods=("POST",))
def delete_images(request):
    """POST /api/images/delete {"ids": [...]}: delete many at once.

    Ids that aren't the caller's assets (someone else's, or already gone) are
    left alone and listed under not_found.
    """
    form = AssetIdsForm(json_body(request))
    if not form.is_valid():
        raise form_error(form, status=422)
    ids = form.cleaned_data["ids"]
    found = set(request.user.assets.filter(pk__in=ids).delete_in_bulk())
    return json_response({"deleted": [i for i in ids if i in found], "not_found": [i for i in ids if i not in found]})
