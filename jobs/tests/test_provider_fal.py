"""fal's webhook keys (jobs/providers/fal.py _public_keys()): a JWKS document that can't be read refuses the
webhook with the reason, never a 500, whatever fal's key server answers."""

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
    document = b""

    def jwks(self, match, query, body, headers):
        return Reply(200, self.document, {"Content-Type": "application/json"})


@pytest.fixture
def keys_server(settings):
    with BadKeys() as server:
        server.configure(settings)
        yield server
    fal.forget_keys()


@pytest.mark.parametrize("name", BAD_DOCUMENTS)
def test_it_refuses_the_webhook_with_the_reason_when_fals_keys_cant_be_read(keys_server, name):
    keys_server.document = BAD_DOCUMENTS[name]
    with pytest.raises(WebhookRefused, match="fal's public keys could not be fetched"):
        fal._public_keys(refresh=True)


def test_it_reads_the_documented_document(settings):
    with FakeFal() as server:
        server.configure(settings)
        assert len(fal._public_keys(refresh=True)) == 1
    fal.forget_keys()
