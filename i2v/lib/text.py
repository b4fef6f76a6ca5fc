"""truncatechars in Python, for rows and tiles written without the template engine.

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
