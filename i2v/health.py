"""GET /healthz: can this process reach what it needs? 200 when it can, 503 when not.

django-health-check runs the checks (database, cache, storage, and the broker
check below, which it has no ready-made one for: its Celery check pings workers,
and a web server must stay healthy while the workers restart). The answer is
JSON, one entry per check, never cached; the container healthcheck and a load
balancer read only the status.
"""

import asyncio
import dataclasses

from health_check.base import HealthCheck
from health_check.checks import Cache, Database, Storage
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView


@dataclasses.dataclass
class Broker(HealthCheck):
    """Open (and close) a connection to the Celery broker, whatever its transport."""

    def run(self):
        from i2v.celery import app

        try:
            with app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, interval_start=0.2, interval_step=0.2, timeout=2)
        except Exception as exc:  # noqa: BLE001 - kombu raises the transport's own errors
            raise ServiceUnavailable(f"The broker can't be reached ({type(exc).__name__}).") from exc


class Healthz(HealthCheckView):
    checks = (Database, Cache, Broker, Storage)

    async def get(self, request, *args, **kwargs):
        with self.get_executor() as executor:
            self.results = await asyncio.gather(*(check.get_result(executor) for check in self.get_checks()))
        failing = any(result.error for result in self.results)
        return self.render_to_response_json(503 if failing else 200)


healthz = Healthz.as_view()
