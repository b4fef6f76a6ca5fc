"""Text to show: one_line() for a name a person typed or a client sent, and truncatechars in Python, for
rows and tiles written without the template engine.

Django's Truncator normalizes the text to NFC, then counts it a character at a time,
skipping combining marks: 8-18 µs a text, for a Jobs row's prompt or a Library tile's
error on every row of a page. Most texts need less: one no longer than the limit once
normalized is returned as it is (NFC normalization returns ASCII and already-normalized
text at once), and ASCII text, which has no combining marks, is cut by a slice. Only
longer text with other characters goes through Truncator. The answer is Truncator's
in every case (i2v/tests/test_text.py compares them).
"""

import unicodedata

from django.utils.text import Truncator, add_truncation_text


def truncated(text, length):
    """Truncator(text).chars(length): what the truncatechars filter shows."""
    normalized = unicodedata.normalize("NFC", text)
    if len(normalized) <= length:
        return normalized
    if normalized.isascii():
        return add_truncation_text(normalized[: length - len(add_truncation_text(""))])
    return Truncator(normalized).chars(length)


# Marks that reorder the text around them (a name holding U+202E shows "gpj.exe" as "exe.jpg"), and
# characters that show as nothing (zero-width space, word joiner, byte-order mark), which make two names that
# look the same differ. ZWJ and ZWNJ stay: emoji sequences and some scripts need them.
UNSEEN_MARKS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\u2060\ufeff")


def one_line(text):
    """`text` as one line of plain characters: NFC, without control, bidi-control or lone surrogate
    characters, any run of whitespace (tabs, line breaks) one space, no space at either end."""
    text = unicodedata.normalize("NFC", text)
    kept = "".join(c for c in text if c.isspace() or (unicodedata.category(c) not in ("Cc", "Cs") and c not in UNSEEN_MARKS))
    return " ".join(kept.split())

