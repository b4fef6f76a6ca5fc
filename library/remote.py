"""Remote originals: assets imported from i2v as URLs (fal's CDN, R2) until their bytes are here.

Three pieces, used by `import_i2v --fetch-remote` (imports/) and by the "fetch"
ProcessingJob that brings a remote asset's bytes in the background:

- download(): one URL streamed to a temporary file, hashed on the way, cut off
  past a size cap (the Content-Length is checked first, then the bytes as they
  come, since a server may lie or send none). 5xx, 408, 429 and network errors
  are retried with a doubling wait (Retry-After when the server gives one);
  other 4xx answers and oversized files are permanent and fail at once.
- store(): identify the bytes like an upload (decoded, never trusted by name)
  and store them under their content address through the storage API.
- fetch(job): the worker's side: download, store, fill the asset in, and queue
  its renditions at backfill priority. When the owner already has the same
  bytes, the remote asset is merged into that one (its outputs re-pointed, the
  duplicate deleted), so sha256 stays unique per owner like everywhere else.

httpx does the HTTP (timeouts, redirects, streaming, a connection pool one
client shares between threads); the importer runs downloads on a small thread
pool, because the wait is on the network and Django's ORM is synchronous.
"""

import hashlib
import logging
import time
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import httpx
from django.conf import settings
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.db import IntegrityError, transaction

from i2v.lib.cache import bump_on_commit
from i2v.lib.ids import whole_number
from media_processing.errors import ProcessingError
from media_processing.models import PENDING, ProcessingJob, update_asset

from . import uploads
from .media import original_name, store_once
from .models import Asset

logger = logging.getLogger(__name__)

MAX_URL_LENGTH = 2048
RETRY_STATUSES = {408, 429}
MAX_RETRY_AFTER_SECONDS = 60


class RemoteError(ProcessingError):
    """A URL that could not be fetched. About that one file, never the queue's health
    (a dead CDN link must not pause everybody's thumbnails), so not systemic.
    `permanent` errors (404, too large, not an image) are not worth another try."""

    systemic = False

    def __init__(self, message, permanent=False, retry_after=None):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


@dataclass(frozen=True)
class Stored:
    """Bytes now in storage under their content address, and what they are."""

    name: str
    sha256: str
    size: int
    probe: uploads.Probe


def client(concurrency=None):
    """An httpx client for downloads; thread-safe, so a pool of threads shares it."""
    limits = httpx.Limits(max_connections=concurrency or settings.REMOTE_FETCH_CONCURRENCY)
    return httpx.Client(
        timeout=httpx.Timeout(settings.REMOTE_FETCH_TIMEOUT_SECONDS), follow_redirects=True, max_redirects=5,
        limits=limits, headers={"User-Agent": "i2v-import"},
    )  # fmt: skip


def filename_of(url):
    """A display name for a URL's file: the last part of its path, made safe."""
    path = unquote(urlsplit(url).path)
    return uploads.display_name(path.rsplit("/", 1)[-1] or "remote")


def check_url(url):
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH:
        raise RemoteError(f"Not a usable URL (longer than {MAX_URL_LENGTH} characters).", permanent=True)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RemoteError(f"Not an http(s) URL: {url[:200]}", permanent=True)


def download(http, url, max_bytes=None, attempts=None, backoff=None):
    """The URL's bytes as a TemporaryUploadedFile with .sha256 and .size set, or RemoteError.

    The caller closes the file (which deletes it).
    """
    check_url(url)
    max_bytes = settings.REMOTE_FETCH_MAX_BYTES if max_bytes is None else max_bytes
    attempts = settings.REMOTE_FETCH_ATTEMPTS if attempts is None else attempts
    backoff = settings.REMOTE_FETCH_BACKOFF_SECONDS if backoff is None else backoff
    for attempt in range(1, attempts + 1):
        try:
            return _download_once(http, url, max_bytes)
        except RemoteError as exc:
            if exc.permanent or attempt == attempts:
                if not exc.permanent and attempts > 1:
                    exc.args = (f"{exc} (after {attempts} attempts)",)
                raise
            wait = exc.retry_after if exc.retry_after is not None else backoff * 2 ** (attempt - 1)
            time.sleep(min(wait, MAX_RETRY_AFTER_SECONDS))
    raise AssertionError("unreachable")


def _download_once(http, url, max_bytes):
    try:
        with http.stream("GET", url) as response:
            _check_response(response, max_bytes)
            return _save_body(response, url, max_bytes)
    except httpx.TimeoutException:
        raise RemoteError(f"Timed out fetching {_short(url)}.") from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol, httpx.TooManyRedirects) as exc:
        raise RemoteError(f"Can't fetch {_short(url)}: {exc}", permanent=True) from None
    except httpx.HTTPError as exc:  # connection refused or reset, a broken response
        raise RemoteError(f"Network error fetching {_short(url)}: {exc}") from None


def _check_response(response, max_bytes):
    status = response.status_code
    if status >= 400:
        transient = status >= 500 or status in RETRY_STATUSES
        raise RemoteError(
            f"HTTP {status} fetching {_short(str(response.url))}.", permanent=not transient,
            retry_after=_retry_after(response) if transient else None,
        )  # fmt: skip
    length = whole_number(response.headers.get("content-length", ""))
    if length is not None and length > max_bytes:
        raise _too_large(length, max_bytes)


def _save_body(response, url, max_bytes):
    upload = TemporaryUploadedFile(filename_of(url), response.headers.get("content-type", ""), 0, None)
    hasher, size = hashlib.sha256(), 0
    try:
        for chunk in response.iter_bytes(1 << 16):
            size += len(chunk)
            if size > max_bytes:
                raise _too_large(size, max_bytes, at_least=True)
            upload.write(chunk)
            hasher.update(chunk)
    except BaseException:
        upload.close()
        raise
    upload.flush()
    upload.seek(0)
    upload.size, upload.sha256 = size, hasher.hexdigest()
    return upload


def _retry_after(response):
    return whole_number(response.headers.get("retry-after", ""))


def _too_large(size, limit, at_least=False):
    more = "over " if at_least else ""
    return RemoteError(f"The file is {more}{size / 1048576:.3g} MB; at most {limit / 1048576:.3g} MB is fetched.", permanent=True)


def _short(url):
    return url if len(url) <= 120 else url[:117] + "..."


def store(file, sha256, owner_id):
    """Identify `file` (an upload-like object) and store it under its content address,
    in its owner's folder.

    Raises RemoteError (permanent) for bytes that are not an accepted image or video.
    Storing the same bytes twice writes them once: the name is their hash.
    """
    try:
        probe = uploads.identify(file)
    except uploads.UploadRejected as exc:
        raise RemoteError(exc.message, permanent=True) from None
    name = original_name(owner_id, sha256, probe.ext)
    store_once(name, file)
    return Stored(name, sha256, file.size, probe)


def download_and_store(http, url, owner_id, **options):
    """download() then store(); the temporary file is gone either way."""
    upload = download(http, url, **options)
    try:
        return store(upload, upload.sha256, owner_id)
    finally:
        upload.close()


def fetch(job):
    """The "fetch" ProcessingJob: bring a remote asset's bytes, then queue its renditions.

    Idempotent: an asset that already has its original (a redelivered message)
    is left alone, and a stored file is found again by its content address.
    """
    asset = job.asset
    if not asset.is_remote:
        return
    with client(concurrency=1) as http:
        stored = download_and_store(http, asset.remote_url, asset.owner_id)
    job.checkpoint()
    attach(asset, stored)


def attach(asset, stored):
    """Fill a remote asset in from its stored bytes; the asset that now holds them.

    If the owner already has these bytes (an upload, another URL of the same
    file), the remote asset is merged into that one instead.
    """
    same = Asset.objects.filter(owner_id=asset.owner_id, sha256=stored.sha256).exclude(pk=asset.pk).first()
    if same:
        return merge(asset, same)
    probe = stored.probe
    fields = {
        "sha256": stored.sha256, "original": stored.name, "kind": probe.kind, "mime": probe.mime, "bytes": stored.size,
        "width": probe.width, "height": probe.height, "duration": probe.duration, "processing_status": PENDING,
        "thumbnail_status": PENDING, "variant_status": PENDING, "last_error": "",
    }  # fmt: skip
    try:
        with transaction.atomic():
            update_asset(asset, **fields)
            ProcessingJob.objects.backfill(Asset.objects.filter(pk=asset.pk))
    except IntegrityError:
        # Another worker fetched the same bytes for another of the owner's assets first.
        return merge(asset, Asset.objects.get(owner_id=asset.owner_id, sha256=stored.sha256))
    for name, value in fields.items():
        setattr(asset, name, value)
    return asset


def merge(duplicate, keep):
    """Point everything at `keep` and delete `duplicate` (its processing jobs go with it)."""
    with transaction.atomic():
        duplicate.outputs.update(asset=keep)
        duplicate.delete()
        bump_on_commit("jobs", keep.owner_id)
    logger.info("remote asset %s holds the same bytes as asset %s: merged", duplicate.pk, keep.pk)
    return keep
