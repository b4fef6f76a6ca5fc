"""Errors a processing job records for a person to read.

The message of a ProcessingError is what the Library page, the API and the
admin show, so it says what is wrong in plain words, never a traceback.
`systemic` tells the circuit breaker whether the failure says something about
the queue (storage gone, a bug) or only about one file (a corrupt upload):
ten corrupt uploads in a row must not pause everybody's thumbnails.
`permanent` tells the work queue not to try again: a file that can't be decoded
today can't be decoded in ten minutes either.
"""

from celery.exceptions import SoftTimeLimitExceeded

MAX_MESSAGE = 500


class ProcessingError(Exception):
    systemic = True
    permanent = False


class BadOriginal(ProcessingError):
    """The original is there but cannot be decoded: it is this file's fault."""

    systemic = False
    permanent = True


class MissingOriginal(ProcessingError):
    """The storage has no file under the original's name. One such asset is a
    deleted file; many in a row mean the storage is gone, hence systemic. A
    retry finds the file no more than this run did."""

    permanent = True


class StorageError(ProcessingError):
    """The storage failed to open the original."""


def readable(exc):
    if isinstance(exc, ProcessingError):
        message = str(exc)
    elif isinstance(exc, SoftTimeLimitExceeded):
        message = "Processing took too long and was stopped."
    else:
        # An unexpected error: its type and message are still more useful to a
        # person than "failed"; the traceback goes to the worker's log.
        message = f"Unexpected error ({type(exc).__name__}): {exc}"
    return message[:MAX_MESSAGE]


def is_systemic(exc):
    return getattr(exc, "systemic", True)
