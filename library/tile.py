"""A Library grid tile's HTML, written in Python rather than in the page's template.

The tile is the Library's inner loop: 60 per first page and per scroll, and each live
check redraws some. As a template partial it cost 114 µs of CPU per tile (its
conditions, filters and variable lookups, each paying the template engine's
resolution): 6.9 ms of an uncached first page's 9 ms, against 1 ms of SQL. This
function makes the same bytes (compared byte for byte with the partial it replaced,
docs/benchmarks.md "Ninth pass") for a tenth of that, as jobs/row.py does for a Jobs
row. Templates reach it through {% asset_tile %} (library/templatetags/library_tiles.py).

What the markup is and why:
- pending tiles carry data-watch: the page checks those near the viewport in one
  request every 2 s (static/js/lists.js), so 300 fresh uploads still mean one request;
- clicking a tile selects it; ↗ (or a double click) opens it in the viewer once it is
  processed (static/js/viewer.js; without JavaScript ↗ opens the original), which
  finds it by data-viewer-item;
- the rendition's thumbhash is painted while the image loads (static/js/thumbhash.js);
- an asset imported from i2v as a URL shows a placeholder until a fetch job on the
  backfill queue brings it; a legacy image without renditions shows its original,
  scaled into the tile by CSS;
- every string is escaped (html.escape, quotes included) as the template escaped it;
  numbers are plain digits, never localized.

A tile is made once per process for what it shows (Shown: the columns it reads, as
loaded; the Library page loads the renditions as their stored JSON text, for_library_text(),
and that text is the key: only a tile made decodes it) and kept (functools.lru_cache,
TILE_HELD tiles, the least recently used forgotten first). Any write of an owner's rebuilds their first page (the list cache's
version moves: i2v/lib/cache.py) while 59 of its 60 tiles are as they were; those come
from here: 3 µs for its key and the lookup instead of 12-14 µs of making (docs/benchmarks.md,
"Twenty-third pass"). The markup is made from the Shown alone, so a tile can't come
back with a value its key doesn't hold; a tile never made in this process costs its
key more (the first scroll through a library).
"""

import functools
import html
from typing import NamedTuple

from django.conf import settings
from django.utils.safestring import SafeString

from i2v.lib.jsonout import loads
from i2v.lib.text import truncated
from i2v.lib.urls import id_url
from library.models import SIZE_KEYS, Asset, distinct_widths

TILE_HELD = 2048  # tiles of about 1 KB each: 34 pages of 60 per process

_VIDEO, _IMAGE = "▶", "◻"


class Shown(NamedTuple):
    """What a tile shows of an asset, hashable: the key its markup is kept under."""

    id: int
    status: str
    kind: str
    filename: str
    original: str  # the original's stored name ("" without one)
    renditions: tuple | str  # sizes(): (name, w, h) of each rendition, or the stored JSON text they are read from
    thumbhash: str
    width: int | None
    height: int | None
    last_error: str
    is_favorite: bool
    is_hidden: bool

    @classmethod
    def of(cls, a):
        """The Shown of asset `a`, loaded for_library_text() (its renditions as the stored text,
        the key as it is) or for_library() (decoded)."""
        stored = a.__dict__.get("renditions_text")
        return cls(
            a.id, a.processing_status, a.kind, a.filename, a.original_name or "",
            stored if stored is not None else _sizes(a.renditions),
            a.thumbhash, a.width, a.height, a.last_error, a.is_favorite, a.is_hidden,
        )  # fmt: skip

    def sizes(self):
        """(name, w, h) of each of SIZE_KEYS (_size()), smallest first, or None for one that doesn't exist."""
        return _sizes(loads(self.renditions)) if isinstance(self.renditions, str) else self.renditions

    @property
    def is_pending(self):
        return self.status in Asset.PENDING


def _sizes(renditions):
    found = renditions or {}
    return tuple((str(r["name"]), _size(r["w"]), _size(r["h"])) if r else None for r in map(found.get, SIZE_KEYS))


def _size(value):
    """A rendition's width or height as the key holds it: an integer, or the text the markup
    shows of anything else a row may hold (edited by hand), so that 1, 1.0 and true, equal as
    keys, stay three keys, and a list is a key at all."""
    return value if type(value) is int else str(value)


def _number(value):
    """A width or height (_size()) as plain digits, or escaped like any text."""
    return str(value) if type(value) is int else html.escape(value)


def _picture(a, sized, urls, original, name):
    """What fills the tile: its 300 px rendition, or what stands in for one. `urls` are the
    `sized` renditions' URLs, escaped (so is a srcset made of them and of their widths as digits)."""
    esc = html.escape
    if small := sized[1]:
        thumbhash = f' data-thumbhash="{esc(a.thumbhash)}"' if a.thumbhash else ""
        described = ", ".join(f"{url} {_number(w)}w" for url, w in distinct_widths((url, r[1]) for url, r in zip(urls, sized) if r))
        return (
            f'<img src="{urls[1]}" srcset="{described}" sizes="(max-width: 600px) 50vw, 200px" '
            f'width="{_number(small[1])}" height="{_number(small[2])}" loading="lazy" decoding="async" alt="{name}"{thumbhash}>'
        )
    status = a.status
    symbol = _VIDEO if a.kind == "video" else _IMAGE
    if a.is_pending:
        return '<div class="skeleton-tile" aria-hidden="true"></div>'
    if status == "remote":
        return f'<div class="tile-placeholder remote" title="Imported from i2v; it will be fetched in the background">{symbol}</div>'
    if a.kind == "image" and status == "complete":
        size = f' width="{esc(str(a.width))}" height="{esc(str(a.height))}"' if a.width else ""
        return f'<img class="fallback" src="{esc(original or "")}"{size} loading="lazy" decoding="async" alt="{name}">'
    return f'<div class="tile-placeholder" aria-hidden="true">{symbol}</div>'


def _badge(a, just_finished):
    status = a.status
    if a.is_pending:
        return '<span class="badge s-processing">processing</span>'
    if status == "remote":
        return '<span class="badge s-remote">not fetched yet</span>'
    if just_finished and status == "complete":
        return '<span class="badge s-completed fade">complete</span>'
    return ""


def _error(a):
    esc = html.escape
    shown = truncated(a.last_error or "No error was recorded.", 120)  # truncatechars:120
    return (
        f'<div class="tile-error" role="alert"><strong>Processing failed</strong><small title="{esc(a.last_error)}">{esc(shown)}</small>'
        f'<button type="button" data-retry hx-post="{id_url("library:retry", a.id)}" hx-target="closest .asset" hx-swap="outerHTML">Retry</button></div>'
    )


def _links(a, original, name):
    """↗ (the original, or the viewer) and ⤓ (a download), once there is an original."""
    if not original:
        return ""
    label = name or "this asset"
    return (
        f'<a class="open" href="{html.escape(original)}" target="_blank" rel="noopener" data-viewer-open title="Open the original" '
        f'aria-label="Open the original of {label}">↗</a>'
        f'<a class="download" href="{id_url("downloads:asset", a.id)}" title="Download" aria-label="Download {label}">⤓</a>'
    )


def tile_html(a, *, oob=False, just_finished=False):
    """The <li> of asset `a` (loaded by for_library()); `oob` marks it for an htmx out-of-band
    swap, `just_finished` shows a fading "complete" badge (a tile whose processing just ended)."""
    return _tile(Shown.of(a), oob, just_finished, settings.MEDIA_URL)


@functools.lru_cache(maxsize=TILE_HELD)
def _tile(a, oob, just_finished, media_url):
    """tile_html() of the Shown `a`, with `media_url` the settings' MEDIA_URL (the URLs' prefix)."""
    esc = html.escape
    status = esc(a.status)
    name = esc(a.filename)
    sized = a.sizes()
    urls = [esc(f"{media_url}{r[0]}") if r else None for r in sized]  # each escaped once: in src, srcset and data-preview
    original = f"{media_url}{a.original}" if a.original else None
    attributes = f' data-preview="{urls[-1]}"' if sized[-1] else ""
    if a.is_pending:
        attributes += f' data-watch="{a.id}:{status}"'
    elif original:
        attributes += f' data-viewer-item="{a.id}" data-kind="{esc(a.kind)}"'
        attributes += (" data-favorite" if a.is_favorite else "") + (" data-hidden" if a.is_hidden else "")
    if oob:
        attributes += ' hx-swap-oob="outerHTML"'
    return SafeString(
        f'<li class="asset tile s-{status}" id="asset-{a.id}" data-status="{status}"{attributes}>'
        f'<input class="pick" type="checkbox" name="ids" form="picks" value="{a.id}" aria-label="Select {name or "asset"}">'
        f"{_picture(a, sized, urls, original, name)}"
        + ('<span class="play" aria-hidden="true">▶</span>' if a.kind == "video" else "")
        + _badge(a, just_finished)
        + (_error(a) if a.status == "failed" else "")
        + f'{_links(a, original, name)}<span class="name">{name}</span></li>'
    )
