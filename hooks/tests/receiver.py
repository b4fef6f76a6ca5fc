"""A webhook receiver on loopback, on the fake providers' server scaffolding
(jobs/tests/fakes/server.py): every POST is recorded, and a test forces failures."""

import hashlib
import hmac

from jobs.tests.fakes.server import FakeServer, Reply


class Receiver(FakeServer):
    routes = (("POST", r"/hook", "hook"),)

    def hook(self, match, query, body, headers):
        return Reply(204)

    @property
    def hook_url(self):
        return f"{self.url}/hook"

    @staticmethod
    def verify(secret, call):
        """What a receiver does: recompute the signature over `<timestamp>.<raw body>`."""
        timestamp = call.headers["X-I2V-Timestamp"]
        expected = "v1=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + call.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, call.headers["X-I2V-Signature"])
