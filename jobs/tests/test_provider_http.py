"""What the providers' shared HTTP helpers make of an answer (jobs/providers/http.py)."""

import httpx
import pytest

from jobs.providers import http
from jobs.providers.base import OutcomeUnknown, ProviderError

DEEP = b"[" * 5000 + b"]" * 5000  # past the parser's recursion


def test_it_takes_an_answer_nested_past_any_real_one_for_no_json():
    assert http.parse_json(DEEP) is None
    assert http.parse_json(b'{"a": ' * 65 + b"1" + b"}" * 65) is None
    assert http.parse_json(b'{"images": [{"url": "https://x/1.png"}]}') == {"images": [{"url": "https://x/1.png"}]}


def test_it_reads_such_an_answer_to_a_submission_as_an_unknown_outcome_never_a_crash():
    """A submission's answer that can't be read may still have started the work: not sent again."""
    with pytest.raises(OutcomeUnknown, match="not JSON"):
        http.answer(httpx.Response(200, content=DEEP), "fal", "the submission", submission=True)
    with pytest.raises(ProviderError, match="not JSON") as raised:
        http.answer(httpx.Response(200, content=DEEP), "fal", "the status")
    assert raised.value.retryable
