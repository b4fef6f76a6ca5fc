"""truncated() (i2v/lib/text.py): what Truncator, and so the truncatechars filter, gives."""

import random

import pytest
from django.template.defaultfilters import truncatechars

from i2v.lib.text import truncated

PIECES = ["a", "x", " ", "<", "é", "e\u0301", "\u0301", "\u0327", "Å", "A\u030a", "中", "🙂"]


@pytest.mark.parametrize("length", [1, 2, 64, 120])
def test_it_gives_what_truncatechars_gives(length):
    texts = ["", "short", "x" * (length - 1), "x" * length, "x" * (length + 1), "é" * (length + 10), "a\u0301" * length]
    rng = random.Random(length)
    texts += ["".join(rng.choice(PIECES) for _ in range(rng.randint(0, 2 * length + 20))) for _ in range(2000)]
    for text in texts:
        assert truncated(text, length) == truncatechars(text, length), repr(text)
