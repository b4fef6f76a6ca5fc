"""Where media files live, how pages link to them, and how they are written.

Every file belongs to one owner and lives under that owner's folder:

    u/<owner id>/o/<sha[:2]>/<sha256>.<ext>              an original, named by the SHA-256 of its bytes
    u/<owner id>/r/<sha[:2]>/<sha[2:12]>-<digest[:12]>.jpg  a rendition of the original whose SHA-256 is sha,
                                                         named by (a prefix of) the SHA-256 of its own bytes

So a name says whose file it is (the media view authorises by the name alone,
with no query), never means anything to another owner (bob asking for alice's
name gets a 404 whether or not the file exists), and never changes meaning
(both kinds are content-addressed, so they are cached as immutable). The same
bytes are stored once per owner, as assets are deduplicated per owner.
A rendition's name starts with its original's hash, so the collector finds the
asset that may reference it through the (owner, sha256) unique index.

Files written before this layout (originals/ab/<sha>.<ext>, r/ab/<hash>.jpg,
shared across owners) are copied into it by `manage.py scope_media`.

Pages build URLs from stored names (media_url) and never ask the storage.

Writers go through store_once(): it first withdraws the names from the
collector (deletes their tombstones, waiting for a collection that holds one),
then reuses an existing file or writes it. See collector.py for why that
order makes collection safe against an upload of the same bytes.
"""

import re
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.core.files.storage import default_storage
from django.http import HttpResponseRedirect
from django.utils.http import content_disposition_header
from django_sendfile import sendfile

# Both kinds of names are content-addressed, and only their owner may fetch them.
CACHE_CONTROL = "private, max-age=31536000, immutable"
# User-supplied bytes: never sniffed into HTML, and sandboxed should a browser
# still render one as a document (a polyglot opened in a tab runs nothing).
SANDBOX = "default-src 'none'; style-src 'unsafe-inline'; sandbox"

ORIGINAL = "o"
RENDITION = "r"
# The asset key in a rendition's name: 48 bits of the original's hash. Within one
# owner it finds the asset through the unique index; a rare shared prefix only
# makes the collector look at two assets' renditions instead of one.
KEY_LENGTH = 12

_OWNED = re.compile(
    r"u/(?P<owner>[1-9][0-9]{0,18})/(?:"
    r"o/(?P<fan>[0-9a-f]{2})/(?P<sha>[0-9a-f]{64})\.[a-z0-9]{1,5}"
    r"|r/(?P<rfan>[0-9a-f]{2})/(?P<key>[0-9a-f]{10})-[0-9a-f]{12}\.[a-z0-9]{1,5}"
    r")"
)
# Names of the layout before files had owners (shared by every owner with the same bytes).
_LEGACY = re.compile(r"(?:originals|r)/[0-9a-f]{2}/[0-9a-f]{16,64}\.[a-z0-9]{1,5}")


@dataclass(frozen=True)
class StoredName:
    """What a storage name says about its file."""

    name: str
    owner_id: int | None  # None: a legacy name, shared by whoever references it
    kind: str | None = None  # ORIGINAL or RENDITION (owned names only)
    sha256: str = ""  # originals: the whole hash
    key: str = ""  # renditions: the first KEY_LENGTH hex digits of the original's hash

    @property
    def is_legacy(self):
        return self.owner_id is None


def parse(name):
    """The StoredName of a name in one of the known layouts, else None.

    Only these exact shapes are accepted: no "..", no other folders. The media
    view serves nothing else, and the collector deletes nothing else.
    """
    if not isinstance(name, str) or len(name) > 255:
        return None
    match = _OWNED.fullmatch(name)
    if match:
        if match["sha"]:
            if match["fan"] != match["sha"][:2]:
                return None
            return StoredName(name, int(match["owner"]), ORIGINAL, sha256=match["sha"])
        return StoredName(name, int(match["owner"]), RENDITION, key=match["rfan"] + match["key"])
    if _LEGACY.fullmatch(name):
        return StoredName(name, None)
    return None


def owner_folder(owner_id):
    return f"u/{owner_id}/"


def original_name(owner_id, sha256, ext):
    return f"u/{owner_id}/{ORIGINAL}/{sha256[:2]}/{sha256}.{ext}"


def rendition_name(owner_id, sha256, digest, ext):
    """The name of a rendition with SHA-256 `digest` of the original with SHA-256 `sha256`."""
    return f"u/{owner_id}/{RENDITION}/{sha256[:2]}/{sha256[2:KEY_LENGTH]}-{digest[:12]}.{ext}"


def media_url(name, prefix=None):
    """The URL of a stored file: always the app's authorising view, built without the storage.
    `prefix`: settings.MEDIA_URL, read once by a caller that builds many."""
    return f"{settings.MEDIA_URL if prefix is None else prefix}{name}"


def serve(request, name, download_name=None):
    """The response that delivers stored file `name` (the caller has authorised it).

    With `download_name` it comes as an attachment under that name (a download
    button); without, inline (a page's image).

    On a disk, django-sendfile2 hands it over: to nginx (X-Accel-Redirect; it
    answers ranges and holds no app thread while a video streams) or, in the
    embedded default, to Django itself (i2v.lib.ranges, with Range support).
    On S3 the browser is redirected to a presigned URL, whose response says
    private too; the redirect itself is kept for half the URL's lifetime, so
    a page's images are fetched from S3 once, not signed again per view.
    """
    try:
        path = default_storage.path(name)
    except NotImplementedError:
        parameters = {"ResponseCacheControl": CACHE_CONTROL}
        if download_name:
            parameters["ResponseContentDisposition"] = content_disposition_header(True, download_name)
        url = default_storage.url(name, parameters=parameters)
        response = HttpResponseRedirect(url)
        response["Cache-Control"] = f"private, max-age={settings.MEDIA_URL_EXPIRE_SECONDS // 2}"
        return response
    if download_name:
        response = sendfile(request, path, attachment=True, attachment_filename=download_name)
    else:
        response = sendfile(request, path)
    response["Cache-Control"] = CACHE_CONTROL
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = SANDBOX
    return response


def reclaim(names):
    """Withdraw `names` from the collector before a writer uses them.

    Deleting their tombstones waits for a collection that holds one (it locks
    them while it deletes files), so a file this returns for is either still
    there and no longer collectable, or already gone (and written again).
    """
    tombstones = apps.get_model("library", "Tombstone").objects.filter(name__in=list(names))
    # Look before deleting: almost always there is none, and a read takes no
    # write lock (on SQLite, threads storing files at once would queue on it).
    if tombstones.exists():
        tombstones.delete()


def store_once(name, content):
    """Store `content` under `name` unless a file is there already; True if this call wrote it."""
    return name in store_all({name: content})


def store_all(files):
    """Store each {name: content} unless a file is there already; the names this call wrote.

    Names are content-addressed, so an existing file holds these very bytes
    and is shared instead of copied.
    """
    reclaim(files)
    wrote = set()
    for name, content in files.items():
        if default_storage.exists(name):
            continue
        saved = default_storage.save(name, content)
        if saved == name:
            wrote.add(name)
        else:
            # Another writer stored the same bytes between exists() and save(),
            # and the storage picked a new name for ours: keep theirs.
            default_storage.delete(saved)
    return wrote
