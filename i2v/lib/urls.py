"""URLs of one object by id, for list rows, and of a page: reverse() once per URL name, not once per row or request.

reverse() matches the pattern and quotes its arguments on every call, about 25 µs:
a Library page's 60 download links cost 1.5 ms of its CPU. A pattern with one
integer argument only ever differs by that integer, so its URL is reversed once
with a sentinel id and the two sides around it are kept; a URL without arguments
is kept whole (a list's own URL and its live-check URL, four reverses of an uncached
list request). The script prefix is the process's (a deployment serves the app under
one prefix).
"""

import functools

from django.urls import reverse

_SENTINEL = 987654321


@functools.cache
def _around(name):
    url = reverse(name, args=[_SENTINEL])
    before, _, after = url.partition(str(_SENTINEL))
    return before, after


def id_url(name, pk):
    """reverse(name, args=[pk]) for a URL whose one argument is an integer id."""
    before, after = _around(name)
    return f"{before}{int(pk)}{after}"


@functools.cache
def url_of(name):
    """reverse(name) for a URL without arguments."""
    return reverse(name)
