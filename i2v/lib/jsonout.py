"""JSON through orjson wherever it gives what the standard library gives: the one place the
JSON API writes a list's or a detail's body (jsonbody.py reads them), and the JSON columns
of the rows a list loads (i2v/lib/compiled.py).

orjson writes it: 50 Library items took 0.19 ms of CPU through json.dumps with
DjangoJSONEncoder and 0.015 through orjson (docs/benchmarks.md, "Twenty-second pass"),
and a 2,000-step pipeline's detail is 42 KB. What orjson leaves to a default (dates,
times, durations, decimals, lazy strings) DjangoJSONEncoder writes as before, so a date
is still "2026-12-03T05:16:02.123Z" and a cost "0.0400". Text is UTF-8 (RFC 8259), not
\\u escapes, and no space follows a separator (list bodies are budgeted in bytes).

orjson refuses an integer past 64 bits, which a step's config may hold (json.loads read
it from a request), and text with a lone surrogate: such a body is written by the
standard library, as it was before orjson, never refused.

Read, orjson takes an integer past 64 bits for a float without a word: text holding a run
of 19 digits (any integer past 63 bits has one) is read by the standard library, as is
what orjson refuses and json.loads reads (NaN, 1e400, a lone surrogate). The run is looked
for in the text's UTF-8 bytes with every digit made "0" (bytes.translate, 1.2 µs for a
Library row's renditions; a regular expression took 3-6 µs, more than orjson's reading):
2.7 µs a row in all, against 5 through json.loads.
"""

import datetime
import json

import orjson
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse

_DJANGO = DjangoJSONEncoder()
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS
_DIGITS_AS_ZEROS = bytes(48 if 48 <= byte <= 57 else 32 for byte in range(256))  # b"0" for b"0".."9", b" " else
_LONG_NUMBER = b"0" * 19


def instant(moment, timespec="milliseconds"):
    """A time as the API writes it: ISO 8601 in UTC ending in Z, to the millisecond ("2026-12-03T05:16:02.123Z",
    as DjangoJSONEncoder writes a datetime value) or, in a list's summaries, which are kept small, to the second
    (timespec="seconds"); None for none."""
    if moment is None:
        return None
    return moment.astimezone(datetime.UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def dumps(data):
    """`data` as compact JSON bytes, its values written as DjangoJSONEncoder writes them."""
    try:
        return orjson.dumps(data, default=_DJANGO.default, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return json.dumps(data, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


def json_response(data, status=200):
    """An application/json response of `data` (dumps())."""
    return HttpResponse(dumps(data), status=status, content_type="application/json")


def loads(text):
    """json.loads(text), the same values, through orjson where that reads them the same."""
    if isinstance(text, str):
        encoded = text.encode("utf-8", "surrogatepass")  # a lone surrogate: bytes orjson refuses
        if _LONG_NUMBER not in encoded.translate(_DIGITS_AS_ZEROS):
            try:
                return orjson.loads(encoded)
            except orjson.JSONDecodeError:
                pass  # what only the standard library reads, or what it refuses too
    return json.loads(text)
