"""PostgreSQL only: the index of each pipeline's joined words, across typography's punctuation too (issue 10).

Migration 0024's index made each ASCII punctuation mark a letter, but not an em dash, a curly quote or
"…", which prompts pasted from a document or written by a language model are full of (an em dash in
231,766 of a million seeded pipelines): pg_trgm reads words apart across such a mark, so a phrase
holding one ("neon—portrait") had every pipeline holding its words apart offered and rechecked, 400-460
ms at a million for none, and the characters index can't narrow a mark that common. Rebuilt with the
no-break and ideographic spaces dropped too, and dashes, curly quotes, "…", guillemets, bullets and
CJK's commas, stops and brackets each a letter of its own after ASCII's (i2v/lib/filters.py SPACES and
PUNCTUATION, written out here as built). Rebuilt concurrently under its own name, the old one dropped after.
"""

import string

from django.db import migrations

from i2v.lib.migrations import joined_words_index

ASCII = (" \t\n\r\f\v", string.punctuation)
TYPOGRAPHY = (" \t\n\r\f\v", string.punctuation, "\u00a0\u2007\u202f\u3000‐‑‒–—―‘’‚‛“”„‟‹›«»…‧•·・、。，．！？：；（）【】《》〈〉「」『』")


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY can't run in a transaction

    dependencies = [("jobs", "0024_search_joined_separators")]

    operations = [joined_words_index("jobs_pipeline", "pipe_search_joined", TYPOGRAPHY, ASCII)]
