"""The files i2v's outputs name: found, identified and stored, or kept as remote URLs.

i2v wrote either URLs (fal's CDN, R2) or paths of files it had downloaded
(relative to its working folder, or absolute on the machine it ran on). For
each output the candidates are tried in order (a job's downloaded copy first,
then its URL) and the first usable one wins:

- a path is looked for under --files-from only, never anywhere else on this
  machine: first as written, then by ever shorter tails of it ("/srv/i2v/
  downloads/a.mp4" is found as <folder>/downloads/a.mp4 or <folder>/a.mp4),
  so the folder may be copied anywhere. Symlinks leading out of it are refused;
- a URL is downloaded with --fetch-remote (library/remote.py: size cap,
  retries); otherwise, or when the server fails for now, it becomes a remote
  asset fetched later in the background. A 404, an oversized or non-image
  file is a failed output.

Files are identified like uploads and stored under their content address
through the storage API before the batch's transaction (so a crash leaves at
most files the next run finds again by name, never rows without files).
Resolving runs on a small thread pool: copies and downloads wait on I/O.
"""

import os
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.core.files import File

from library import remote, uploads


@dataclass(frozen=True)
class Found:
    """A file now stored (or, in a dry run, found and identified)."""

    stored: remote.Stored
    filename: str
    remote_url: str = ""


@dataclass(frozen=True)
class Remote:
    """A URL kept to be fetched in the background."""

    url: str
    filename: str


@dataclass(frozen=True)
class Failed:
    reason: str


class Files:
    def __init__(self, owner_id, files_from=None, fetch_remote=False, concurrency=8, dry_run=False):
        self.owner_id = owner_id  # files are stored in their owner's folder (library/media.py)
        self.root = Path(files_from).resolve() if files_from else None
        self.fetch_remote = fetch_remote
        self.dry_run = dry_run
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="import-files")
        self.http = remote.client(concurrency) if fetch_remote and not dry_run else None
        self.locks = defaultdict(threading.Lock)  # per sha256: the same bytes from two threads are stored once
        self.locks_lock = threading.Lock()

    def close(self):
        self.pool.shutdown()
        if self.http:
            self.http.close()

    def resolve(self, candidate_lists):
        """{candidates: Found | Remote | Failed} for distinct tuples of candidates."""
        distinct = list(dict.fromkeys(candidate_lists))
        try:
            return dict(zip(distinct, self.pool.map(self.resolve_one, distinct)))
        finally:
            self.locks.clear()  # batches run one after the other: the storage has their files by now

    def resolve_one(self, candidates):
        reasons = []
        for ref in candidates:
            try:
                return self._resolve(ref)
            except remote.RemoteError as exc:
                reasons.append(str(exc))
        return Failed("; ".join(reasons) or "no file named")

    def _resolve(self, ref):
        if ref.lower().startswith(("http://", "https://")):
            return self._url(ref)
        if ref.lower().startswith("file://"):
            ref = ref[len("file://") :]
        elif "://" in ref or ref.startswith("data:"):
            raise remote.RemoteError(f"Not a URL or a path that can be imported: {ref[:80]}")
        return self._local(ref)

    def _url(self, url):
        remote.check_url(url)
        if not self.fetch_remote or self.dry_run:
            return Remote(url, remote.filename_of(url))
        try:
            upload = remote.download(self.http, url)
        except remote.RemoteError as exc:
            if exc.permanent:
                raise
            return Remote(url, remote.filename_of(url))  # the background fetch tries again later
        with upload:
            return Found(self.store(upload, upload.sha256), remote.filename_of(url), remote_url=url)

    def _local(self, ref):
        path = self.find(ref)
        try:
            handle = open(path, "rb")  # noqa: SIM115 - File closes it
        except OSError as exc:  # a file the import may not read is that file's failure
            raise remote.RemoteError(f"Can't read {ref}: {exc.strerror or exc}") from None
        with File(handle, name=path) as file:
            sha256 = uploads.sha256_of(file)
            if self.dry_run:
                return Found(remote.Stored("", sha256, file.size, _identify(file)), uploads.display_name(path))
            return Found(self.store(file, sha256), uploads.display_name(path))

    def store(self, file, sha256):
        with self.locks_lock:
            lock = self.locks[sha256]
        with lock:
            return remote.store(file, sha256, self.owner_id)

    def find(self, ref):
        """The file a path from i2v names, under --files-from only."""
        if self.root is None:
            raise remote.RemoteError(f"{ref} is a local file and no --files-from folder was given.")
        written = PurePosixPath(ref.replace("\\", "/"))
        parts = [p for p in written.parts if p not in ("/", ".", "..") and not p.endswith(":")]
        tries = [Path(ref)] if written.is_absolute() else []
        tries += [self.root.joinpath(*parts[n:]) for n in range(len(parts))]
        for path in tries:
            real = os.path.realpath(path)
            if os.path.commonpath([real, self.root]) == str(self.root) and os.path.isfile(real):
                return real
        raise remote.RemoteError(f"Missing file: {ref} is not under {self.root}.")


def _identify(file):
    try:
        return uploads.identify(file)
    except uploads.UploadRejected as exc:
        raise remote.RemoteError(exc.message, permanent=True) from None

