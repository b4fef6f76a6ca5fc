"""The one place the JSON API reads a request body as JSON (json_body()), and the one parser of
JSON from outside with a bound on its nesting (loads(): a provider's answers and webhooks, an
import's columns).

Limits, so no body can cost more than a small, known amount: its size (checked
against Content-Length before anything is read, then against what was read) and
its nesting depth (a body like [[[[...]]]] 100,000 deep would otherwise exhaust
the parser's recursion). Every failure is an ApiError with a 4xx.
"""

import json

from django.conf import settings
from django.core.exceptions import RequestDataTooBig

from .errors import ApiError


def _too_large():
    limit = settings.API_JSON_MAX_BYTES
    return ApiError(413, "too_large", f"The JSON body is larger than {limit:,} bytes.")


# Deeper than any JSON i2v reads from outside nests (a provider's answer a few levels, a ComfyUI
# workflow six); far short of the parser's recursion limit.
MAX_DEPTH = 64


class TooDeep(ValueError):
    """JSON nested deeper than its reader allows (a ValueError, as any JSON that can't be read)."""

    def __init__(self, max_depth):
        super().__init__(f"nested more than {max_depth} levels deep")


class NotText(ValueError):
    """JSON whose strings aren't all text: a lone UTF-16 surrogate, which JSON's escapes can spell
    ("\\ud800") and Python's parser keeps, but no UTF-8 (the database's, a page's) holds."""

    def __init__(self):
        super().__init__("a string holds a lone surrogate (\\ud800 to \\udfff), which is no character")


def _lone_surrogate(text):
    """Whether `text` holds a lone surrogate, which UTF-8 can't encode: an escape spells one ("\\ud800"),
    and so do a body's bytes, which json.loads() decodes letting UTF-8's encoding of one through (ED A0 80)
    and UTF-16's unpaired. ASCII holds none; encoding the rest costs a fifth of a search for one (a
    megabyte of accented prompts: 3 ms searched, the ASCII check alone 0.05 ms)."""
    if text.isascii():
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return True
    return False


def loads(text, max_depth=MAX_DEPTH):
    """json.loads(text), refused with TooDeep when nested more than `max_depth` deep: the
    parser's own recursion (a RecursionError past about a thousand levels) never escapes, and
    what reads the value afterwards, recursively or not, meets no deeper one. Refused with
    NotText when a string holds a lone surrogate: saving or printing it would fail far from here."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise TooDeep(max_depth) from None
    return bounded(value, max_depth, text=True)


def bounded(value, max_depth=MAX_DEPTH, text=False):
    """`value` (parsed JSON), refused with TooDeep when nested more than `max_depth` deep, and with
    `text` with NotText when a string of it (a key too) holds a lone surrogate: one walk, without
    recursion, that stops at the first."""
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, str):
            if text and _lone_surrogate(item):
                raise NotText()
            continue
        if isinstance(item, dict):
            children = [*item.keys(), *item.values()]
        elif isinstance(item, list):
            children = item
        else:
            continue
        if level > max_depth:
            raise TooDeep(max_depth)
        stack.extend((child, level + 1) for child in children)
    return value


def declared_length(request):
    """The body's length as its Content-Length says (0 when it says none, or nothing a number)."""
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def json_body(request, expect=dict):
    """The request's body parsed as JSON, within the size and depth limits.

    An empty body is refused like any non-object when `expect` is dict.
    """
    if declared_length(request) > settings.API_JSON_MAX_BYTES:
        raise _too_large()
    try:
        raw = request.body
    except RequestDataTooBig:
        raise _too_large() from None
    if len(raw) > settings.API_JSON_MAX_BYTES:
        raise _too_large()
    try:
        value = loads(raw or b"null", settings.API_JSON_MAX_DEPTH)
    except TooDeep as exc:
        raise ApiError(400, "too_deep", f"The JSON body is {exc}.") from None
    except NotText as exc:
        raise ApiError(400, "invalid_json", f"The body is not valid text: {exc}.") from None
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "The body is not valid JSON.") from None
    if expect is not None and not isinstance(value, expect):
        raise ApiError(400, "invalid_json", "The body must be a JSON object.")
    return value
