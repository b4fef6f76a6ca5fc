"""Live rows and tiles: one request a page makes for everything it shows at work.

A page's rows that are still at work carry data-watch="<id>:<version>"
(static/js/lists.js). Every 2 s the page sends those near the viewport in one
GET ?watch=12:v,13:v, and the answer holds only what changed since: the rows
whose version differs, and removals for ids the user has no such row for
(deleted since, or never theirs: the same answer either way, so it tells
nothing about other users). What the version is belongs to each list: a
pipeline's updated_at, an asset's processing status.
"""

import re

from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import render

# A page watches what is near its viewport, a few dozen rows at most; the bound
# keeps one request's query (pk IN ...) small whatever a client sends.
WATCH_MAX = 100
_ITEM = re.compile(r"(\d{1,18}):([A-Za-z0-9_.-]{1,40})")


class WatchError(ValueError):
    pass


def parse_watch(value):
    """{id: version} from "12:v,13:w"; WatchError with a message for anything else."""
    if not value:
        raise WatchError("Say which rows to check: ?watch=<id>:<version>,...")
    items = value.split(",")
    if len(items) > WATCH_MAX:
        raise WatchError(f"At most {WATCH_MAX} rows can be checked at once.")
    watched = {}
    for n, item in enumerate(items, 1):
        match = _ITEM.fullmatch(item)
        if not match:
            raise WatchError(f"Item {n} is not an <id>:<version> pair.")  # not echoed: nothing of the input goes back
        watched[int(match[1])] = match[2]
    return watched


def changes(watched, current):
    """(ids whose version changed, ids not found) given {id: current version}."""
    changed = [pk for pk, version in current.items() if watched.get(pk) != version]
    return changed, sorted(watched.keys() - current.keys())


def watch_response(request, changed, template, name, news=None, **context):
    """The answer to a page's watch request: `changed({id: version})` gives (items that
    changed, ids gone); those are rendered by `template` as `name` and `gone`, out of
    band; 204 when nothing changed; 400 in plain text (it doesn't repeat the input) for a
    malformed list.

    `news`: what else the page asked with the same request (the Jobs page: its new pipelines,
    jobs/newer.py), None if nothing; rendered as `news` when it is news to the page (`news.moved`).
    A page that asks it may watch no rows: it has none at work, and asks only that."""
    value = request.GET.get("watch", "")
    try:
        watched = parse_watch(value) if value or news is None else {}
    except WatchError as exc:
        return HttpResponseBadRequest(str(exc), content_type="text/plain")
    items, gone = changed(watched) if watched else ([], [])
    news = news if news is not None and news.moved else None
    if not items and not gone and news is None:
        return HttpResponse(status=204)
    return render(request, template, {name: items, "gone": gone, "news": news, **context})
