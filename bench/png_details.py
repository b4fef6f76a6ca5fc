"""Benchmark (not a test): what reading a PNG's generation parameters costs (library/parameters.py
read(), run on each view of an asset's details), for a PNG of about 100 megapixels without
parameters, against Pillow's getexif() on it, which decodes the whole picture. Time and the
process's peak memory growth (ru_maxrss) of each, medians of --runs. Prints Markdown.

Usage: python bench/png_details.py [--runs 5]
"""

import argparse
import io
import os
import resource
import statistics
import struct
import sys
import time
import warnings
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "i2v.settings")


def _timed(call, runs):
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _png(width, height):
    """An RGB PNG of one grey, written row by row: no picture in memory to spoil the peak measured."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    packer, row, parts = zlib.compressobj(9), b"\x00" + b"\x80" * (3 * width), []
    parts.extend(packer.compress(row) for _ in range(height))
    parts.append(packer.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    import django

    django.setup()
    from PIL import Image

    from library import parameters

    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
    size = (10_000, 9_999)  # under the uploads' 100-megapixel cap
    data = _png(*size)
    print(f"PNG {size[0]}x{size[1]}, {len(data):,} bytes, median of {args.runs}\n")
    print("| read | ms | peak RSS growth |\n| --- | ---: | ---: |")
    for label, call in (
        ("parameters.read()", lambda: parameters.read(io.BytesIO(data))),
        ("Image.open().getexif()", lambda: Image.open(io.BytesIO(data)).getexif()),
    ):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        ms = _timed(call, args.runs)
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        print(f"| {label} | {ms:.2f} | {grown:.0f} MB |")


if __name__ == "__main__":
    main()
