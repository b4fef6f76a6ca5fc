"""The results fragment of a filtered, keyset-paginated list page (Jobs, Library)."""

from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from .cache import ListEntry
from .pagination import CursorError


class ListResults:
    """The results fragment a list page's request asks for: `page#append` for a request with a
    cursor under HTMX (infinite scroll appends), `page#results` otherwise, through the owner's
    list cache (ListEntry), keyed by the request's own parameters so that a hit is found before
    any form is built: no form, no template, no query.

    The fragment is kept as the bytes a response sends: a hit is then unpickled as one copy
    and sent as it is, where text was decoded from UTF-8 by pickle and encoded again by the
    response (75 µs of a cached Library page's 63 KB, against 2, measured)."""

    def __init__(self, request, form_class, *, scope, page, append, owner_id=None):
        self.request = request
        partial = append if request.GET.get("cursor") and request.htmx else "results"
        self.page, self.template = page, f"{page}#{partial}"
        self.entry = ListEntry.for_request(request, form_class, scope, f"{scope}_html:{self.template}", owner_id)

    def cached(self):
        """The cached fragment's bytes, or None (one cache round trip)."""
        return self.entry.cached()

    @staticmethod
    def in_page(results):
        """A fragment's bytes as the full page's template shows them."""
        return mark_safe(results.decode())

    def render(self, form, fetch):
        """(html bytes, status): the fragment, or `page#invalid` with a 400 for a bad filter or a
        tampered cursor. `fetch(**form.list_args())` returns (page, total); the form also
        builds the page's links, so junk query parameters never reach them."""
        if form.is_valid():
            try:
                return self.entry.through(lambda: self._build(form, fetch)), 200
            except CursorError as exc:
                form.add_error("cursor", str(exc))
        return render_to_string(f"{self.page}#invalid", {"form": form}, self.request).encode(), 400

    def _build(self, form, fetch):
        page, total = fetch(**form.list_args())
        context = {
            "page": page,
            "total": total,
            "form": form,
            "next_url": form.url(cursor=page.next_cursor) if page.has_next else None,
            "first_url": form.url(),
        }
        return render_to_string(self.template, context, self.request).encode()
