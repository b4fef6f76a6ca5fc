"""A django-sendfile2 backend that sends the file from Django itself, with HTTP Range support.

Production hands files to nginx (django-sendfile2's nginx backend: X-Accel-Redirect),
which answers ranges itself. The embedded default has no front server, and
django-sendfile2's own "simple" backend reads the whole file into memory and
ignores Range, which video needs: Safari won't play a video without it, and
seeking asks for one. No maintained package adds ranges to Django's
FileResponse (django-ranged-response's last release is from 2017), so this
small one is written here:

- one range per request ("bytes=a-b", "bytes=a-", "bytes=-n"); a request for
  several ranges, or a malformed one, gets the whole file, as RFC 9110 allows;
  a range that starts past the end gets 416;
- the file streams (wsgi.file_wrapper: gunicorn uses sendfile(2) for whole files
  and for ranges to the end, which is what players ask for);
- If-Range is not compared: files are served by content-addressed names, so
  their bytes never change.
"""

import re

from django.http import FileResponse, HttpResponse

# At most 18 digits: every real offset fits, and int() never sees a 10,000-digit number.
_RANGE = re.compile(r"bytes=(\d{0,18})-(\d{0,18})")
UNSATISFIABLE = "unsatisfiable"


class _OwnLength:
    """Keeps the Content-Length the backend set.

    django-sendfile2 sets Content-Length to the whole file's size on whatever
    its backend returns; a part, or a 416, is shorter.
    """

    def __setitem__(self, header, value):
        if header.lower() == "content-length" and self.has_header("Content-Length"):
            return
        super().__setitem__(header, value)


class PartialFileResponse(_OwnLength, FileResponse):
    pass


class RangeNotSatisfiable(_OwnLength, HttpResponse):
    status_code = 416


class _Slice:
    """The next `length` bytes of an open file. It has no fileno(), so a WSGI
    server's file_wrapper reads it (stopping at its end) instead of sendfile(2)ing to EOF."""

    def __init__(self, file, length):
        self.file = file
        self.left = length

    def read(self, size=-1):
        if self.left <= 0:
            return b""
        data = self.file.read(self.left if size is None or size < 0 else min(size, self.left))
        self.left -= len(data)
        return data

    def close(self):
        self.file.close()


def byte_range(header, size):
    """(first, last) byte of the one range `header` asks for, None to send the whole file, or UNSATISFIABLE."""
    match = _RANGE.fullmatch((header or "").strip())
    if not match or match.group(1) == match.group(2) == "":
        return None
    first, last = match.groups()
    if first == "":  # the last n bytes
        if int(last) == 0 or size == 0:
            return UNSATISFIABLE
        return max(size - int(last), 0), size - 1
    start = int(first)
    if last and int(last) < start:
        return None  # invalid: ignored
    if start >= size:
        return UNSATISFIABLE
    return start, min(int(last), size - 1) if last else size - 1


def sendfile(request, filepath, **kwargs):
    size = filepath.stat().st_size
    wanted = byte_range(request.headers.get("Range"), size) if request.method in ("GET", "HEAD") else None
    if wanted == UNSATISFIABLE:
        response = RangeNotSatisfiable(b"")
        response["Content-Length"] = "0"
        response["Content-Range"] = f"bytes */{size}"
    elif wanted is None:
        response = FileResponse(filepath.open("rb"))
    else:
        first, last = wanted
        file = filepath.open("rb")
        file.seek(first)
        length = last - first + 1
        # To the end: the file itself (FileResponse counts from the offset); else a bounded slice.
        response = PartialFileResponse(file if last == size - 1 else _Slice(file, length), status=206)
        response.headers["Content-Length"] = str(length)
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    response["Accept-Ranges"] = "bytes"
    return response
