import pytest

from i2v.lib.jsonbody import NotText, TooDeep, loads


@pytest.mark.parametrize(
    "text",
    [
        b'{"a": "\\ud800"}', '{"a": "x \\uDBFF y"}', b'{"\\udc00": 1}', b'[[{"a": ["ok", "\\udfff"]}]]', bytearray(b'["\\ud800"]'),
        # As a body's bytes: UTF-8's encoding of one, which json.loads() lets through, and UTF-16's.
        b'{"a": "x\xed\xa0\x80y"}', '{"a": "x\\ud800"}'.encode("utf-16-le"), '["\\udfff"]'.encode("utf-16"),
    ],
)
def test_it_refuses_a_lone_surrogate_anywhere(text):
    with pytest.raises(NotText, match="lone surrogate"):
        loads(text)


def test_it_reads_surrogates_that_pair_as_the_one_character_they_spell():
    assert loads(b'{"a": ["\\ud83d\\ude00"]}') == {"a": ["\U0001f600"]}
    assert loads('"\\uD83D\\uDE00"') == "\U0001f600"


def test_it_reads_an_escaped_backslash_before_such_letters_as_text():
    assert loads(b'{"a": "ok \\\\ud800"}') == {"a": "ok \\ud800"}


def test_it_still_refuses_what_nests_too_deep():
    with pytest.raises(TooDeep):
        loads(b"[" * 100 + b"]" * 100, max_depth=64)
    assert loads("[[1]]", max_depth=2) == [[1]]
