"""The embedded default's broker: kombu's filesystem transport, each message file written whole before any
worker may take it.

kombu's Channel._put creates a message's file under its final name, then writes it, and Channel._get takes
any file of that name, with no lock, and reads it: a worker polling every 0.1 s (i2v/settings.py) read one
still empty, and the JSONDecodeError was unrecoverable: the control worker stopped, and `make run` with it
(found by a make-run session, eight minutes in). Here each message is written under a name no reader takes,
then renamed to its own (one rename, atomic within the queue's folder). A file that still can't be read as
a message (left half-written by a crash, or by the transport before this) is skipped, logged, and its
message lost as any lost message is: the work queues' sweepers send again what a row still waits for
(i2v/lib/workqueue.py). No package ships a fixed transport; this is kombu's own, its _put replaced and its
_get kept going past such a file.

A worker asked to stop stops waiting for messages at once (Transport.drain_events(), which looks at the
queues once a polling interval as kombu's wait does). Celery's loop for
transports it can't watch, as this one, waits up to 2 s per round for a message, and after SIGTERM it waits
one more round before it stops (celery/worker/loops.py synloop: the round runs in a `finally` after the
shutdown is raised): an idle worker spent 2-4 s there, and `make run` stopped each of its three cold after
its 4 s warm window (docs/benchmarks.md, "Stopping `make run` with Ctrl-C").
"""

import logging
import os
import socket
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.transport.virtual import base as virtual
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

logger = logging.getLogger(__name__)


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        # The name kombu gives (milliseconds since boot first: the queue is read in name order), the milliseconds
        # padded so that order holds across a power of ten (kombu's read the 1,000,000th before the 999,999th),
        # written first under a name with no ".<queue>.msg" after its first dot, which _get passes over.
        name = f"{int(round(monotonic() * 1000)):013d}_{uuid.uuid4()}.{queue}.msg"
        partial = os.path.join(self.data_folder_out, f"partial-{uuid.uuid4().hex}")
        try:
            with open(partial, "wb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(partial, os.path.join(self.data_folder_out, name))
        except OSError as exc:
            raise ChannelError(f"Cannot add a message to the queue {queue!r}") from exc

    def _get(self, queue):
        while True:
            try:
                return super()._get(queue)
            except ValueError as exc:  # the JSON of a file written in part: gone from the folder already
                logger.error("skipped an unreadable message of the queue %r: %s", queue, exc)


class Transport(filesystem.Transport):
    Channel = Channel

    def drain_events(self, connection, timeout=None):
        """kombu's wait for the next message, one look at the queues (kombu's with no time to wait) each polling
        interval, as kombu's, given up (socket.timeout, as at the end of a wait) once this process's worker has
        been asked to stop. It sleeps kombu's sleep, as kombu's wait does."""
        end, step = None if timeout is None else monotonic() + timeout, self.polling_interval or 1.0
        while not _stopping():
            try:
                return super().drain_events(connection, timeout=0)
            except socket.timeout:
                pass
            left = step if end is None else min(step, end - monotonic())
            if left <= 0:
                break
            virtual.sleep(left)
        raise socket.timeout()


def _stopping():
    """Whether this process is a Celery worker asked to stop, warm or cold (Celery's own test, state.maybe_shutdown()).
    Never in a process that only sends messages."""
    from celery.worker import state  # imported as it's asked: loaded by every worker already

    # Identity, not equality: a warm shutdown's code is 0 (EX_OK), which equals False.
    return any(asked is not None and asked is not False for asked in (state.should_stop, state.should_terminate))


def register():
    """Make `filesystem://` this transport in this process (i2v/celery.py calls it as the app loads): kombu
    resolves a broker URL's scheme through its TRANSPORT_ALIASES. By the URL, not Celery's broker_transport
    setting, which would outrank any other URL the app is given (tests' memory://, a broker moved by
    CELERY_BROKER_URL)."""
    TRANSPORT_ALIASES["filesystem"] = f"{__name__}:Transport"
