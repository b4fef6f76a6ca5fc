"""The results fragment of a filtered, keyset-paginated list page (Jobs, Library)."""

from django.template.loader import render_to_string

from .cache import cached_list, cached_only, request_parts
from .pagination import CursorError


def results_html(request, form, *, scope, fetch, template, alias=None):
    """Render `template` (a "page.html#partial" name) for one page of a list,
    through the owner's versioned list cache.

    `fetch(**form.list_args())` returns (page, total); `form` also builds the
    page's links and its cache key, so junk query parameters never reach either.
    """

    def build():
        page, total = fetch(**form.list_args())
        count, estimate = total or (None, False)
        context = {
            "page": page,
            "total_count": count,
            "total_is_estimate": estimate,
            "form": form,
            "next_url": form.url(cursor=page.next_cursor) if page.has_next else None,
            "first_url": form.url(),
        }
        return render_to_string(template, context, request)

    parts = {"view": f"{scope}_html", "template": template, **form.cache_parts()}
    return cached_list(scope, request.user.id, parts, build, alias)


def list_results(request, form, *, scope, fetch, page, append):
    """(html, status) of a list page's results for this request.

    A valid request renders `page#append` when it carries a cursor under HTMX
    (infinite scroll appends) and `page#results` otherwise; a bad filter or a
    tampered cursor renders `page#invalid` with a 400.
    """
    if form.is_valid():
        partial = append if form.cleaned_data["cursor"] and request.htmx else "results"
        alias = request_parts(request, type(form), f"{scope}_html:{page}#{partial}")
        try:
            return results_html(request, form, scope=scope, fetch=fetch, template=f"{page}#{partial}", alias=alias), 200
        except CursorError as exc:
            form.add_error("cursor", str(exc))
    return render_to_string(f"{page}#invalid", {"form": form}, request), 400


def cached_results(request, form_class, *, scope, page, append):
    """The results fragment list_results would render for this request, straight from the
    cache, or None. Looked up by the request's own parameters before any form is built, a
    hit costs two cache reads: no form, no template, no query."""
    partial = append if request.GET.get("cursor") and request.htmx else "results"
    return cached_only(scope, request.user.id, request_parts(request, form_class, f"{scope}_html:{page}#{partial}"))
