"""fal's webhook keys (jobs/providers/fal.py _public_keys()): a JWKS document that can't be read refuses the
webhook, never a 500, whatever fal's key server answers; why goes to the log, and the fetch waits before
it is tried again."""

import pytest

from jobs.providers import fal
from jobs.providers.base import WebhookRefused

from .fakes.fal import FakeFal
from .fakes.server import Reply

BAD_DOCUMENTS = {
    "deep": b"[" * 5000 + b"]" * 5000,
    "not json": b"<html>maintenance</html>",
    "a list": b"[]",
    "bad base64": b'{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "!!!!"}]}',
    "wrong length": b'{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}]}',
    "x a number": b'{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": 5}]}',
}


class BadKeys(FakeFal):
    document = b""  # None: fal's own document

    def jwks(self, match, query, body, headers):
        if self.document is None:
            return super().jwks(match, query, body, headers)
        return Reply(200, self.document, {"Content-Type": "application/json"})


@pytest.fixture
def keys_server(settings):
    with BadKeys() as server:
        server.configure(settings)
        yield server
    fal.forget_keys()


@pytest.mark.parametrize("name", BAD_DOCUMENTS)
def test_it_refuses_the_webhook_when_fals_keys_cant_be_read_logging_why(keys_server, name, caplog):
    keys_server.document = BAD_DOCUMENTS[name]
    with pytest.raises(WebhookRefused) as refused:
        fal._public_keys(refresh=True)
    assert str(refused.value) == fal.KEYS_UNAVAILABLE  # the caller learns nothing of this server's network
    assert f"fal's public keys could not be fetched from {keys_server.url}/.well-known/jwks.json: " in caplog.text


def test_it_waits_before_fetching_keys_again_after_a_failure(keys_server):
    keys_server.document = b"<html>maintenance</html>"
    with pytest.raises(WebhookRefused):
        fal._public_keys()
    with pytest.raises(WebhookRefused, match="polled instead"):
        fal._public_keys()  # refused at once: no webhook waits on a key server that just failed
    assert len(keys_server.calls_to("GET", "jwks")) == 1
    keys_server.document = None  # the key server is back
    fal._jwks["failed_at"] -= fal.JWKS_RETRY  # the wait is over
    assert len(fal._public_keys()) == 1  # tried again
    assert len(keys_server.calls_to("GET", "jwks")) == 2


def test_it_reads_the_documented_document(settings):
    with FakeFal() as server:
        server.configure(settings)
        assert len(fal._public_keys(refresh=True)) == 1
    fal.forget_keys()
