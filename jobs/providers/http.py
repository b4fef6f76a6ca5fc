"""HTTP as every hosted provider uses it: one call, its failure sorted into what
may be done next, and capped downloads of the files a provider made.

One call is one try. Nothing here retries: whether a failed call may be tried
again is the work queue's decision (a backoff, a 429's Retry-After), and a
submission that may have reached the provider is never tried again at all
(OutcomeUnknown), because a second one would be paid twice.
"""

import email.utils
import os
import threading
import time
from contextlib import contextmanager
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from i2v.lib.ids import whole_number
from i2v.lib.jsonbody import loads

from .base import OutcomeUnknown, ProviderError, RateLimited

USER_AGENT = "i2v (https://github.com/YallaPapi/i2v)"
CHUNK = 256 * 1024
# Answers we read whole are small JSON documents; a provider that sends more is broken.
MAX_ANSWER_BYTES = 8 * 1024 * 1024


_clients = {}
_clients_lock = threading.Lock()


def client(**headers):
    """A pooled client with these headers, shared by the threads of this process.

    Making a client builds an SSL context and a connection pool: tens of
    milliseconds a call, which the poller would pay for every request it asks
    about. One per (headers, timeout) is kept and reused; httpx clients are
    safe to share between threads. Use it as a context manager or not: it is
    never closed by a caller.
    """
    timeout = settings.GENERATION_HTTP_TIMEOUT_SECONDS
    key = (tuple(sorted(headers.items())), timeout, os.getpid())
    with _clients_lock:
        shared = _clients.get(key)
        if shared is None:
            shared = _clients[key] = _Shared(
                timeout=httpx.Timeout(timeout, connect=min(10, timeout)),
                headers={"User-Agent": USER_AGENT, **headers},
                follow_redirects=False,
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
            )
        return shared


class _Shared(httpx.Client):
    # A shared client lives as long as its process: `with client() as http:`, or a provider's
    # own library closing the client it was given, must neither reopen nor close it.
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def close(self):
        pass


def call(http, who, method, url, *, submission=False, **kwargs):
    """The JSON answer of one call (None for an empty body), or the right error.

    `submission` says the call asks for paid work: once its bytes may have left,
    a failure to hear the answer is OutcomeUnknown, never a plain retry.
    """
    what = f"{method} {_path(url)}"
    with failures(who, what, submission):
        response = http.request(method, url, **kwargs)
    return answer(response, who, what, submission)


@contextmanager
def failures(who, what, submission=False):
    """The block's transport failure (an httpx exception), raised as the error that says
    what may be done next. For the calls a provider's own client library makes on httpx."""
    try:
        yield
    except UNANSWERED as exc:
        raise unanswered(exc, who, what, submission) from None


# What a call can die of before its answer arrives.
UNANSWERED = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def unanswered(exc, who, what, submission=False):
    """The error a call that got no answer means (`exc` is one of UNANSWERED); also
    for the providers whose official client makes the call on httpx (Gemini)."""
    if isinstance(exc, httpx.ConnectError):
        # Nothing reached the provider: trying again costs nothing.
        return ProviderError(f"Could not reach {who} ({what}): {exc}.", retryable=True)
    if isinstance(exc, httpx.ConnectTimeout):
        return ProviderError(f"Could not reach {who} in time ({what}).", retryable=True)
    if submission:
        return OutcomeUnknown(f"{who} did not answer the submission ({type(exc).__name__}); it may or may not have started it.")
    return ProviderError(f"{who} did not answer {what} ({type(exc).__name__}).", retryable=True)


def answer(response, who, what, submission=False):
    """The JSON of a response, or the error its status means."""
    status = response.status_code
    body = parse_json(response.content[:MAX_ANSWER_BYTES])
    if status < 300:
        if response.content and body is None:
            if submission:
                raise OutcomeUnknown(f"{who} accepted the submission with an answer that is not JSON; it may have started it.")
            raise ProviderError(f"{who} sent an answer that is not JSON to {what}.", retryable=True)
        return body
    detail = api_message(body) or response.reason_phrase or "no details"
    if status == 429:
        raise RateLimited(f"{who} is busy (HTTP 429 to {what}): {detail}", retry_after(response.headers))
    if status == 408 or status >= 500:
        raise ProviderError(f"{who} answered HTTP {status} to {what}: {detail}", retryable=True)
    if status in (401, 403):
        raise ProviderError(f"{who} refused the API key (HTTP {status}: {detail}). Check its setting.")
    raise ProviderError(f"{who} rejected the request (HTTP {status}): {detail}")


def download(http, who, url, checkpoint=None, send_key=False):
    """The bytes at `url`, at most GENERATION_DOWNLOAD_MAX_BYTES, read in chunks.

    `checkpoint` is called between chunks (it keeps the fetching step's lease,
    and stops the download once the step is no longer this run's). The API key
    goes only to the provider's own API (`send_key`), never to a file host.
    """
    if urlsplit(url).scheme not in ("https", "http"):
        raise ProviderError(f"{who} returned an output address we won't fetch: {url[:100]}")
    limit = settings.GENERATION_DOWNLOAD_MAX_BYTES
    headers = None if send_key else {"Authorization": ""}
    try:
        with http.stream("GET", url, headers=headers) as response:
            if response.status_code >= 400:
                transient = response.status_code in (408, 429) or response.status_code >= 500
                raise ProviderError(f"{who}'s file answered HTTP {response.status_code}.", retryable=transient)
            length = whole_number(response.headers.get("Content-Length", ""))
            if length is not None and length > limit:
                raise too_big(who, length, limit)
            chunks, total = [], 0
            for chunk in response.iter_bytes(CHUNK):
                total += len(chunk)
                if total > limit:
                    raise too_big(who, None, limit)
                chunks.append(chunk)
                if checkpoint:
                    checkpoint()
    except httpx.HTTPError as exc:
        raise ProviderError(f"Downloading a file from {who} failed: {type(exc).__name__}.", retryable=True) from None
    return b"".join(chunks)


def too_big(who, size, limit):
    shown = f"{limit / 1e6:.1f} MB" if limit >= 1e5 else f"{limit:,} bytes"
    what = f"is {size / 1e6:.1f} MB" if size and limit >= 1e5 else "is bigger"
    return ProviderError(f"A file from {who} {what}, over the download limit of {shown} (GENERATION_DOWNLOAD_MAX_BYTES).")


def api_message(reply):
    """A provider's error text from a JSON reply: {"detail"}, FastAPI's [{"loc", "msg"}], {"error": {...}}."""
    if not isinstance(reply, dict):
        return ""
    detail = reply.get("detail") or reply.get("error") or reply.get("message") or reply.get("title")
    if isinstance(detail, list):
        return "; ".join(_field_error(item) for item in detail)[:500]
    if isinstance(detail, dict):
        return str(detail.get("message") or detail.get("msg") or detail)[:500]
    return str(detail or "")[:500]


def _field_error(item):
    if not isinstance(item, dict):
        return str(item)
    where = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
    return f"{where}: {item.get('msg', '')}" if where else str(item.get("msg", item))


def retry_after(headers):
    """Seconds from a Retry-After header (seconds or an HTTP date), or None."""
    value = (headers or {}).get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def parse_json(content):
    """The JSON of an answer, or None when it is none (nested past jsonbody.MAX_DEPTH included)."""
    if not content:
        return None
    try:
        return loads(content)
    except ValueError:
        return None


def _path(url):
    return urlsplit(url).path
