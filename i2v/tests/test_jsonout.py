import datetime
import json
from decimal import Decimal

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.translation import gettext_lazy

from i2v.lib.jsonout import dumps, json_response, loads


def test_it_writes_values_as_djangos_encoder_does_compactly():
    data = {
        "made": datetime.datetime(2026, 12, 3, 5, 16, 2, 123456, tzinfo=datetime.UTC), "day": datetime.date(2026, 1, 2),
        "at": datetime.time(1, 2, 3), "took": datetime.timedelta(seconds=90), "cost": Decimal("0.0400"),
        "label": gettext_lazy("Completed"), "items": [1, 2.5, None, True], 7: "an integer key",
    }  # fmt: skip
    written = dumps(data)
    assert json.loads(written) == json.loads(json.dumps(data, cls=DjangoJSONEncoder))
    assert b'"made":"2026-12-03T05:16:02.123Z"' in written and b'"cost":"0.0400"' in written
    assert b": " not in written and b", " not in written


def test_it_writes_text_as_utf8_and_leaves_html_to_the_reader():
    written = dumps({"name": "café <b>&</b> 🎞"})
    assert written == '{"name":"café <b>&</b> 🎞"}'.encode()


@pytest.mark.parametrize("value", [2**64, -(2**63) - 1, 123456789012345678901234567890])
def test_it_writes_an_integer_past_64_bits_exactly(value):
    """orjson refuses them; a step's config may hold one, read by json.loads from a request."""
    assert json.loads(dumps({"seed": value, "made": datetime.date(2026, 1, 2)})) == {"seed": value, "made": "2026-01-02"}


def test_it_writes_a_lone_surrogate_escaped():
    assert json.loads(dumps({"prompt": "a\ud800b"})) == {"prompt": "a\ud800b"}


def test_it_refuses_what_no_encoder_writes():
    with pytest.raises(TypeError):
        dumps({"ids": {1, 2}})


def test_it_makes_a_json_response():
    response = json_response({"ok": True}, status=202)
    assert response.status_code == 202 and response["Content-Type"] == "application/json"
    assert response.content == b'{"ok":true}'


@pytest.mark.parametrize(
    "text",
    [
        "18446744073709551616", "-9223372036854775809", "123456789012345678901234567890", '{"seed": 9223372036854775808}',
        "18446744073709551615", "0.1", "1.7976931348623157e308", "-0.0", "-0", '{"a": 1, "a": 2}', '"caf\\u00e9 \\ud83c\\udf9e"',
        "NaN", "-Infinity", "1e400", '"\\ud800"', '"a\ud800b"', '{"w": 300, "name": "u/1/r/aa/x.jpg"}', "[" * 50 + "]" * 50,
    ],
)  # fmt: skip
def test_it_reads_what_the_standard_library_reads_the_same(text):
    read, want = loads(text), json.loads(text)
    assert repr(read) == repr(want)  # the same types: no integer read as a float, -0.0 kept


@pytest.mark.parametrize("text", ["", "{", "[1,]", "{'a': 1}", "nan"])
def test_it_refuses_what_the_standard_library_refuses(text):
    with pytest.raises(json.JSONDecodeError):
        loads(text)
