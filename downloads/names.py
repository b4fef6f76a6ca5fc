"""Names of files in a download: descriptive, safe on every file system, never twice the same.

A pipeline's output is `<pipeline>/<nn>_<prompt>_<model>_<seed>.<ext>`; a Library
item keeps its original (uploaded) name under `library/`. A name holds letters, marks
and digits of any script (a Hebrew or Chinese prompt names its file as it reads; the
zip marks such names UTF-8), dot, dash and underscore: nothing a file system reads as
a separator or refuses (Windows refuses `<>:"/\\|?*`), and no control or direction mark,
so a name can't climb out of the folder it is unpacked in or display other than it is.
Each part is cut to a number of characters and of UTF-8 bytes, so a whole name stays
under the 255 bytes a file system takes.
"""

import re
import unicodedata

_DASHES = re.compile(r"-{2,}")
_EXT = re.compile(r"[a-z0-9]{1,5}")
# Windows refuses these as file names whatever their extension.
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{n}" for n in range(10)), *(f"lpt{n}" for n in range(10))}
PROMPT_CHARS = 40
STEM_CHARS = 80


def safe(text, limit=STEM_CHARS):
    """`text` in safe characters only (composed, NFC), anything else a dash; at most `limit`
    characters and twice as many UTF-8 bytes."""
    composed = unicodedata.normalize("NFC", str(text))
    kept = "".join(c if c in "._-" or unicodedata.category(c)[0] in "LMN" else "-" for c in composed)
    cut = _DASHES.sub("-", kept)[:limit]
    while len(cut.encode()) > 2 * limit:
        cut = cut[:-1]
    return cut.strip(".-_ ")


def extension(name):
    """The extension of a stored name (content-addressed names end in the real one)."""
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return ext if _EXT.fullmatch(ext) else "bin"


def slug(text, limit):
    """`text` lowercased, its words joined by dashes, in safe() characters."""
    return safe(" ".join(str(text).lower().split()).replace("_", "-"), limit).replace(".", "-").strip("-")


def pipeline_folder(pipeline_id, pipeline_name):
    # The id keeps two pipelines of the same name apart.
    return f"{slug(pipeline_name, 60) or 'pipeline'}-{pipeline_id}"


def output_name(position, prompt, model, seed, ext):
    """<nn>_<prompt-slug>_<model>_<seed>.<ext>: what a person needs to tell outputs apart."""
    parts = [f"{position + 1:02d}", slug(prompt, PROMPT_CHARS) or "untitled", safe(model.replace("/", "-"), 40)]
    if seed is not None and str(seed) != "":
        parts.append(safe(str(seed), 20))
    return "_".join(p for p in parts if p) + f".{ext}"


def library_name(filename, fallback, ext):
    """A Library item under its original name, with its stored file's real extension."""
    base = re.split(r"[\\/]", filename)[-1]  # a browser may have sent a path
    stem = base.rsplit(".", 1)[0] if "." in base.strip(".") else base
    stem = safe(stem) or fallback
    if stem.lower() in _RESERVED:
        stem = f"{stem}-file"
    return f"{stem}.{ext}"


class Namer:
    """Hands out names once each: a second `x.png` in a folder becomes `x-2.png`.

    Compared without case, as macOS and Windows unpack `A.png` and `a.png` onto one file.
    """

    def __init__(self, reserved=()):
        self.taken = {name.lower() for name in reserved}

    def claim(self, name):
        stem, dot, ext = name.rpartition(".")
        if not dot:
            stem, ext = name, ""
        candidate, n = name, 1
        while candidate.lower() in self.taken:
            n += 1
            candidate = f"{stem}-{n}.{ext}" if dot else f"{stem}-{n}"
        self.taken.add(candidate.lower())
        return candidate
