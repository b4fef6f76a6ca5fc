"""What a download holds, and the zip that carries it.

A selection (outputs, whole pipelines, Library assets) is sized with one
aggregate query per kind before anything is sent, so an empty or oversized one
is refused with a clear 4xx. The zip is then streamed from its first byte:
each kind's rows come from one query read in chunks (a server-side cursor on
PostgreSQL), each file is read through the storage API a MiB at a time and
stored uncompressed (images and videos don't compress), so memory stays flat
and the query count is the same for 2 files or 10,000. The manifest rows are
the only thing kept per file, and go last as manifest.csv and manifest.json.
"""

import csv
import io
import json
from dataclasses import dataclass

from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from zipstream import ZIP_STORED, ZipStream

from i2v.lib.jsonout import instant
from jobs.models import Output

from .names import Namer, extension, library_name, output_name, pipeline_folder

CHUNK = 1024 * 1024
ROWS_PER_FETCH = 500
MANIFEST = ("manifest.csv", "manifest.json")
COLUMNS = (
    "path", "source", "pipeline_id", "pipeline", "output_id", "asset_id", "kind", "origin", "original_name",
    "prompt", "model", "seed", "cost", "bytes", "sha256", "created_at", "finished_at", "error",
)  # fmt: skip
# Only what names and the manifest need: no exif, renditions or search text.
OUTPUT_FIELDS = (
    "id", "position", "pipeline_id", "step_id", "asset_id",
    "pipeline__id", "pipeline__name", "pipeline__model",
    "step__config", "step__cost_actual", "step__finished_at",
    "asset__id", "asset__kind", "asset__source", "asset__original", "asset__filename", "asset__prompt",
    "asset__bytes", "asset__sha256", "asset__created_at",
)  # fmt: skip
ASSET_FIELDS = ("id", "owner_id", "kind", "source", "original", "filename", "prompt", "bytes", "sha256", "created_at")


class SelectionRefused(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class Entry:
    path: str  # in the zip
    stored: str  # the storage name of its bytes ("" when there are none here)
    size: int
    row: dict  # its manifest row


def _instant(moment):
    return instant(moment) or ""  # the API's form; an empty cell for none


def _row(**fields):
    return {column: fields.get(column, "") for column in COLUMNS}


@dataclass
class Selection:
    """What one person asked to download; every query starts from them."""

    owner: object
    outputs: list
    pipelines: list
    assets: list

    def _made(self):
        # A generated item is zipped as the output it is: its pipeline, prompt, model, seed and cost.
        return Output.objects.making(self.owner, self.assets)

    def output_rows(self):
        chosen = Q(pk__in=self.outputs) if self.outputs else Q()
        if self.pipelines:
            chosen |= Q(pipeline_id__in=self.pipelines)
        if self.assets:
            chosen |= Q(pk__in=self._made().newest_of_each_asset())
        if not chosen:
            return Output.objects.none()
        # owner_id on the output itself: someone else's output or pipeline id matches nothing.
        return Output.objects.filter(chosen, owner=self.owner)

    def asset_rows(self):
        if not self.assets:
            return self.owner.assets.none()
        return self.owner.assets.filter(pk__in=self.assets).exclude(pk__in=self._made().values("asset_id"))

    def size(self):
        """(files, bytes) selected: one aggregate query per kind asked for."""
        files = total = 0
        for rows, size in ((self.output_rows(), "asset__bytes"), (self.asset_rows(), "bytes")):
            if rows.query.is_empty():
                continue
            found = rows.aggregate(n=Count("pk"), b=Coalesce(Sum(size), 0))
            files, total = files + found["n"], total + found["b"]
        return files, total

    def check(self):
        """Refuse (SelectionRefused) what can't be sent: nothing of the owner's, or too much."""
        files, total = self.size()
        if not files:
            if self.pipelines and self.owner.pipelines.filter(pk__in=self.pipelines).exists():
                raise SelectionRefused(404, "The selected pipelines have no outputs yet: nothing to download.")
            raise SelectionRefused(404, "None of the selected items is yours, or they have been deleted.")
        if files > settings.DOWNLOAD_MAX_FILES:
            raise SelectionRefused(413, f"{files:,} files selected; one download holds at most {settings.DOWNLOAD_MAX_FILES:,}.")
        if total > settings.DOWNLOAD_MAX_BYTES:
            raise SelectionRefused(
                413, f"{total / 1e9:.1f} GB selected; one download holds at most {settings.DOWNLOAD_MAX_BYTES / 1e9:.1f} GB."
            )
        return files, total

    def archive_name(self, now):
        """The zip's name: one pipeline's folder name (what unpacking it makes), else i2v-<time>."""
        if len(self.pipelines) == 1 and not self.outputs and not self.assets:
            name = self.owner.pipelines.filter(pk=self.pipelines[0]).values_list("name", flat=True).first()
            if name is not None:
                return f"{pipeline_folder(self.pipelines[0], name)}.zip"
        return f"i2v-{now:%Y%m%d-%H%M%S}.zip"

    def entries(self):
        """Every file of the selection with its name and manifest row, read in chunks."""
        namer = Namer(MANIFEST)
        yield from self._output_entries(namer)
        yield from self._asset_entries(namer)

    def _output_entries(self, namer):
        rows = self.output_rows()
        if rows.query.is_empty():
            return
        rows = rows.select_related("pipeline", "step", "asset").only(*OUTPUT_FIELDS).order_by("pipeline_id", "position", "id")
        for o in rows.iterator(chunk_size=ROWS_PER_FETCH):
            yield output_entry(o, namer)

    def _asset_entries(self, namer):
        rows = self.asset_rows()
        if rows.query.is_empty():
            return
        for a in rows.only(*ASSET_FIELDS).order_by("-created_at", "-id").iterator(chunk_size=ROWS_PER_FETCH):
            yield asset_entry(a, namer)


def output_file_name(o):
    """The name of one output: the same on its own as inside a zip (without the pipeline's folder)."""
    a, step = o.asset, o.step
    config = step.config if isinstance(step.config, dict) else {}
    ext = extension(a.original.name) if a.original else "bin"
    model = config.get("model") or o.pipeline.model
    return output_name(o.position, config.get("prompt") or a.prompt, model, config.get("seed"), ext)


def output_entry(o, namer):
    a, step = o.asset, o.step
    config = step.config if isinstance(step.config, dict) else {}
    path = namer.claim(f"{pipeline_folder(o.pipeline.id, o.pipeline.name)}/{output_file_name(o)}")
    row = _row(
        path=path, source="pipeline", pipeline_id=o.pipeline.id, pipeline=o.pipeline.name, output_id=o.id,
        asset_id=a.id, kind=a.kind, origin=a.source, original_name=a.filename,
        prompt=config.get("prompt") or a.prompt, model=config.get("model") or o.pipeline.model,
        seed=config.get("seed", ""), cost=str(step.cost_actual), bytes=a.bytes, sha256=a.sha256 or "",
        created_at=_instant(a.created_at), finished_at=_instant(step.finished_at),
    )  # fmt: skip
    return Entry(path, a.original.name if a.original else "", a.bytes, row)


def library_file_name(owner, a):
    """The name of one Library item downloaded on its own, as in a zip (a generated one, its output's)."""
    made = None
    if a.source == "generated":
        outputs = Output.objects.making(owner, [a.pk]).select_related("pipeline", "step", "asset").only(*OUTPUT_FIELDS)
        made = outputs.order_by("-id").first()
    return output_file_name(made) if made else asset_file_name(a)


def asset_file_name(a):
    ext = extension(a.original.name) if a.original else "bin"
    return library_name(a.filename, f"{a.kind}-{a.id}", ext)


def asset_entry(a, namer):
    path = namer.claim(f"library/{asset_file_name(a)}")
    row = _row(
        path=path, source="library", asset_id=a.id, kind=a.kind, origin=a.source, original_name=a.filename,
        prompt=a.prompt, bytes=a.bytes, sha256=a.sha256 or "", created_at=_instant(a.created_at),
    )  # fmt: skip
    return Entry(path, a.original.name if a.original else "", a.bytes, row)


def _open(entry):
    if not entry.stored:
        return None, "not fetched yet: imported as a link whose file is not here"
    try:
        return default_storage.open(entry.stored, "rb"), ""
    except (FileNotFoundError, OSError):
        return None, "missing from storage"


def _chunks(handle):
    with handle:
        while chunk := handle.read(CHUNK):
            yield chunk


# A text cell starting with one of these is a formula to a spreadsheet (=HYPERLINK(...), =cmd|...): a name
# or a prompt someone typed must not run when the manifest is opened, so such a cell starts with a quote,
# as OWASP's "CSV injection" advice has it. manifest.json keeps every value as it is.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _inert(value):
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def manifest_csv(rows):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows({key: _inert(value) for key, value in row.items()} for row in rows)
    return out.getvalue().encode()


def manifest_json(rows):
    return json.dumps({"made_at": _instant(timezone.now()), "files": rows}, indent=1, ensure_ascii=False).encode()


def stream(entries):
    """The zip of `entries`, generated as it is sent. A file that can't be read is
    left out and its manifest row says why: the rest still arrives."""
    zs = ZipStream(compress_type=ZIP_STORED)
    rows = []
    for entry in entries:
        handle, error = _open(entry)
        if handle is None:
            rows.append({**entry.row, "path": "", "error": error})
            continue
        zs.add(_chunks(handle), entry.path, size=entry.size or None)
        rows.append(entry.row)
        yield from zs.all_files()
    zs.add(manifest_csv(rows), MANIFEST[0])
    zs.add(manifest_json(rows), MANIFEST[1])
    yield from zs.finalize()
