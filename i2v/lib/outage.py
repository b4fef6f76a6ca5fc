"""What a database outage looks like from a web request and from a worker.

Web: any view or middleware that can't reach the database answers 503 with
Retry-After (the JSON error shape under /api/, a short page elsewhere) instead
of a 500, and the next request after the outage works again: Django drops a
broken connection at the end of the request and opens a new one.

Workers: `wait_for_database(fn)` runs fn, and while the database is unreachable
waits and tries again, up to WORK_DB_WAIT_SECONDS; then it raises
DatabaseUnavailable and the task hands its message back to the broker instead
of acknowledging it (work queues never drop a message because of an outage).
"""

import logging
import sys
import time

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connections
from django.http import HttpResponse
from django.template.loader import render_to_string

from .errors import error_response, refused_page

logger = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5


class DatabaseUnavailable(Exception):
    """The database stayed unreachable for as long as a worker may wait."""


def is_outage(exc):
    # OperationalError: refused, reset, closed by the server, "database is locked";
    # InterfaceError: a connection that is already closed.
    return isinstance(exc, (OperationalError, InterfaceError))


def drop_connections():
    """Close this thread's database connections, so the next query reconnects.

    A connection inside a transaction is left alone: closing it would break the
    caller's transaction, which must roll back on its own.
    """
    for connection in connections.all(initialized_only=True):
        if connection.in_atomic_block:
            continue
        try:
            connection.close()
        except DatabaseError:
            pass  # it is broken already; closing it only frees the object


def wait_for_database(fn, seconds=None):
    """fn(), tried again with growing pauses while the database can't be reached."""
    seconds = settings.WORK_DB_WAIT_SECONDS if seconds is None else seconds
    deadline = time.monotonic() + seconds
    pause = 0.5
    while True:
        try:
            return fn()
        except DatabaseError as exc:
            if not is_outage(exc):
                raise
            drop_connections()
            if time.monotonic() + pause > deadline:
                raise DatabaseUnavailable(str(exc).strip() or type(exc).__name__) from exc
            logger.warning("database unreachable (%s); trying again in %.1f s", str(exc).strip(), pause)
            time.sleep(pause)
            pause = min(pause * 2, 5)


def unavailable(request):
    """The 503 for a request that needed the database while it was down."""
    message = "The database is unreachable for a moment; try again in a few seconds."
    if request.path.startswith("/api/"):
        response = error_response(503, "unavailable", message)
    else:
        html = render_to_string("503.html", {"message": message, "retry_after": RETRY_AFTER_SECONDS})
        response = HttpResponse(html, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseOutageMiddleware:
    """Turns a view's database outage into a 503 (handler500 below covers the
    middleware that run before the view, such as sessions and tokens)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if is_outage(exception):
            logger.warning("database unreachable during %s %s: %s", request.method, request.path, exception)
            drop_connections()
            return unavailable(request)
        return None


def server_error(request):
    """handler500: a 503 when the failure was the database being down, else the
    usual 500 (JSON under /api/, so scripts always get the error shape)."""
    exc = sys.exc_info()[1]
    if is_outage(exc):
        drop_connections()
        return unavailable(request)
    message = "Something went wrong on our side; it was logged."
    if request.path.startswith("/api/"):
        return error_response(500, "server_error", message)
    return refused_page(request, 500, "Something went wrong", f"{message} Try again in a moment.")
