"""The Celery broker, as the work queues use it: send without ever waiting on it,
and ask what it holds.

A request that queues work must answer at once even when the broker is down:
publishing is tried once, and a failure only means "the sweeper sends it later".
The sweeper asks how many messages each queue holds, to tell when the broker
has lost some (a Redis restarted without persistence) while the queue is busy.
"""

import json
import logging
from contextlib import contextmanager
from typing import NamedTuple

from celery import current_app

logger = logging.getLogger(__name__)


class Held(NamedTuple):
    """Messages a broker queue holds: waiting to be delivered, and delivered to a
    worker but not yet acknowledged. `exact` is False where the broker can't tell
    the second number (only Redis can), which is then 0."""

    ready: int
    unacked: int
    exact: bool

    @property
    def total(self):
        return self.ready + self.unacked


@contextmanager
def producer():
    """A Celery producer on a pooled broker connection that was tried once.

    kombu's default is to retry a broker connection for seconds before giving
    up; a request whose message can't be sent must not wait out a broker
    outage. Queues are declared per message, so the producer declares nothing.
    """
    app = current_app
    with app.pool.acquire(block=True, timeout=app.conf.broker_pool_acquire_timeout) as conn:
        conn.ensure_connection(max_retries=0)
        yield app.amqp.Producer(conn, auto_declare=False)


def publish(pooled, task, args, queue, priority=None, countdown=None):
    # No publish retries: with the broker down the caller learns at once.
    current_app.send_task(
        task, args=args, queue=queue, priority=priority, countdown=countdown, producer=pooled, retry=False
    )


def held(queues):
    """{queue: Held} for `queues`, or None when the broker can't be reached."""
    try:
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=0)
            channel = conn.default_channel
            ready = {queue: channel.queue_declare(queue=queue).message_count for queue in queues}
            unacked = _unacked_by_queue(channel, queues)
    except Exception:  # noqa: BLE001 - broker down: nothing can be sent anyway
        logger.warning("could not reach the broker to count its messages", exc_info=True)
        return None
    exact = unacked is not None
    return {queue: Held(ready[queue], (unacked or {}).get(queue, 0), exact) for queue in queues}


def _unacked_by_queue(channel, queues):
    """Delivered, unacknowledged messages per queue on Redis, or None elsewhere.

    kombu's Redis transport keeps them in one hash (its `unacked_key`), each
    value the JSON [message, exchange, routing key]; our queues are routed by
    their own name. With no countdown messages (the work queues send none), the
    hash holds about one entry per busy worker slot, so reading it is cheap.
    """
    client = getattr(channel, "client", None)
    key = getattr(channel, "unacked_key", None)
    if client is None or key is None:
        return None
    counts = dict.fromkeys(queues, 0)
    for raw in client.hvals(key):
        try:
            routing_key = json.loads(raw)[2]
        except (ValueError, IndexError, TypeError):
            continue
        if routing_key in counts:
            counts[routing_key] += 1
    return counts
