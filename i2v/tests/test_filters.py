import datetime
import json
import re
import string

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conftest import drop_btree_indexes, make_asset, make_pipeline, merge_gin_pending_lists
from i2v.lib import filters, migrations, pagination, pghash
from i2v.lib.migrations import SEARCH_SIGNATURE
from jobs import listing
from jobs.models import Pipeline, PipelineTag
from library.models import Asset

DAY = datetime.date(2026, 3, 10)
INDEXES = sorted(
    ["pipe_search_visible", "pipe_search_hidden", "pipe_search_favorite", *(f"pipe_search_{s}" for s in ("pending", "running", "paused", "failed", "cancelled"))]
)


@pytest.fixture
def week(owner):
    """Sailboats and lighthouses over three weeks, one a day."""
    start = timezone.make_aware(datetime.datetime.combine(DAY - datetime.timedelta(days=10), datetime.time(12)))
    return [
        make_pipeline(owner, prompt="a Sailboat at dawn" if i % 3 else "a lighthouse", outputs=0, steps=0,
                      created_at=start + datetime.timedelta(days=i))
        for i in range(21)
    ]  # fmt: skip


def _found(queryset):
    return sorted(queryset.values_list("id", flat=True))


def test_it_finds_the_same_rows_whichever_way_it_tests_the_text(owner, week, monkeypatch):
    pipelines = Pipeline.objects.filter(owner=owner)
    in_range = filters.text_in_range(pipelines, "SAILBOAT", DAY, DAY + datetime.timedelta(days=6))
    wanted = [p.id for p in week if "Sailboat" in p.first_prompt and DAY <= p.created_at.date() <= DAY + datetime.timedelta(days=6)]
    assert _found(in_range) == sorted(wanted) and len(wanted) == 5
    monkeypatch.setattr(filters, "SHORT_RANGE", 0)  # past the bound: through the index
    assert _found(filters.text_in_range(pipelines, "SAILBOAT", DAY, DAY + datetime.timedelta(days=6))) == sorted(wanted)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the choice is PostgreSQL's (SQLite has no text index)")
def test_it_tests_the_text_on_a_short_ranges_rows_and_uses_the_index_otherwise(owner, week, monkeypatch):
    pipelines = Pipeline.objects.filter(owner=owner)
    sql = lambda qs: str(qs.query)  # noqa: E731
    assert 'COLLATE "C"' in sql(filters.text_in_range(pipelines, "sailboat", DAY, DAY))
    assert 'COLLATE "C"' not in sql(filters.text_in_range(pipelines, "sailboat"))  # no range: the index
    assert 'COLLATE "C"' not in sql(filters.text_in_range(pipelines, "", DAY, DAY))  # no text
    monkeypatch.setattr(filters, "SHORT_RANGE", 0)
    assert 'COLLATE "C"' not in sql(filters.text_in_range(pipelines, "sailboat", DAY, DAY))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the indexes are PostgreSQL's")
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "filters, indexes",
    [
        ({"tag": "4k", "q": "sail", "status": "failed"}, ["pipe_search_failed"]),  # its status's own (migration 0021)
        ({"tag": "4k", "q": "sail", "status": "completed"}, ["pipe_search_visible"]),
        ({"hidden": "only", "q": "sail", "model": "veo-3"}, ["pipe_search_hidden"]),
        ({"favorites": True, "q": "sail"}, ["pipe_search_favorite"]),
        ({"hidden": "include", "q": "sail", "tag": "4k"}, ["pipe_search_hidden", "pipe_search_visible"]),
        ({"q": "sail", "date_from": DAY, "date_to": DAY}, []),  # a short range: tested on its rows
    ],
)  # fmt: skip
def test_it_serves_the_text_with_the_other_filters_from_one_index(filters, indexes):
    """The Jobs list's own conditions match the GIN indexes of jobs migration 0013, and a
    short range's text test none (the planner may still read a partial index whole for its
    rows, as here with nothing else left): asked with no other index to choose (the btree
    ones dropped in a transaction rolled back) nor a table scan."""
    with transaction.atomic(), connection.cursor() as cursor:
        _only_gin_indexes(cursor)
        sql, params = Pipeline.objects.filtered(**filters).values("id").query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    conditions = [line for line in plan.splitlines() if "Index Cond" in line]
    assert any("search_text" in line for line in conditions) == bool(indexes), plan
    if indexes:
        assert [name for name in INDEXES if f"Bitmap Index Scan on {name}" in plan] == sorted(indexes), plan


@pytest.mark.parametrize("q", ["100%", "a_b", "back\\slash", "ünïcode", "x" * 300, "img_100% 'cat'", "ünï-100%_\\code"])
def test_it_matches_wildcards_and_odd_text_literally_either_way(owner, q, monkeypatch):
    at = timezone.make_aware(datetime.datetime.combine(DAY, datetime.time(9)))
    literal = make_pipeline(owner, prompt=f"holds {q} literally", outputs=0, steps=0, created_at=at)
    make_pipeline(owner, prompt="holds 1000 and aXb and backslash and unicode", outputs=0, steps=0, created_at=at)
    pipelines = Pipeline.objects.filter(owner=owner)
    for bound in (filters.SHORT_RANGE, 0):  # tested on the range's rows, then through the index
        monkeypatch.setattr(filters, "SHORT_RANGE", bound)
        assert _found(filters.text_in_range(pipelines, q.upper(), DAY, DAY)) == [literal.id]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the choice is PostgreSQL's (SQLite has no text index)")
def test_it_finds_a_text_of_common_and_rare_words_through_the_rare_ones_rows(owner, monkeypatch):
    """A text of several words, one of them rare (the planner's estimate): that word alone is
    the trigram index's condition and the whole text is tested on its rows, so "img_00012"
    costs the few rows of "00012", not every file name's "img"; the rows are the same."""
    named = [make_pipeline(owner, prompt=f"img_{n:05d}", outputs=0, steps=0) for n in range(40)]
    odd = [make_pipeline(owner, prompt=text, outputs=0, steps=0) for text in ("img 00012", "00012 img_", "my_img_000123")]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_pipeline")
    pipelines = Pipeline.objects.filter(owner=owner)
    rare = filters.text_search(pipelines, "IMG_00012")
    assert _found(rare) == sorted([named[12].id, odd[2].id])
    sql, params = rare.query.sql_with_params()
    assert 'COLLATE "C"' in sql and "%00012%" in params and "%img\\_00012%" in params
    monkeypatch.setattr(filters, "RARE_WORD", 0)  # no word rare enough: the whole text is the index's
    common = filters.text_search(pipelines, "IMG_00012")
    assert 'COLLATE "C"' not in str(common.query) and _found(common) == _found(rare)
    assert 'COLLATE "C"' not in str(filters.text_search(pipelines, "img"))  # one word: nothing to choose


@pytest.mark.parametrize(
    "q, joins",
    [("a sailboat", True), ("neon  portrait of", True), ("1 2 3", True), ("portrait, neon", True), ("neon-alley", True),
     ("a% sailboat", True), ("a.b", True), ("img_00012", True), ("neon—portrait", True), ("a\u00a0sailboat", True),
     ("“neon”", True), ("neon→portrait", False), ("a b", False), ("1 2", False), ("-a", False), ("a-", False),
     ("sailboat", False), ("%", False), ("%%", False)],
)  # fmt: skip
def test_it_joins_a_phrase_where_a_trigram_spans_where_its_words_meet(q, joins):
    assert filters._joins_words(q) is joins


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the joined text's index is PostgreSQL's")
@pytest.mark.parametrize("text", [string.printable, string.printable + filters.TYPOGRAPHY + " neon→portrait ™ é 中文 ᐁ ᐡ 🔥"])
def test_it_joins_a_phrase_as_the_database_joins_a_text(db, text):
    """The phrase is joined in Python (joined()), the rows' texts by the index's SQL (joined_sql()):
    the same text either way, all ASCII (the typography skipped) or not."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {filters.joined_sql('t')} FROM (SELECT %s::text AS t) given", [text])
        assert cursor.fetchone()[0] == filters.joined(text)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the pairs index is PostgreSQL's")
@pytest.mark.parametrize("text", ["", "a", "ab", "abc", "a, b", string.printable, "é中文🔥——\n\tx" * 3, "a\x01bc\x01"])
def test_it_lists_a_texts_pairs_as_the_database_does(db, text):
    """The rows' pairs by the index's SQL (character_pairs()), a text's by pairs(): the same, odd and
    even lengths, newlines and all; a row's pairs holding PAIRS_APART lacking, and nothing else."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {migrations.character_pairs('t')} FROM (SELECT %s::text AS t) given", [text])
        listed = {piece for piece in cursor.fetchone()[0] if len(piece) == 2}
    assert listed == {pair for pair in filters.pairs(text) if filters.PAIRS_APART not in pair}


def _joined(sql):
    """Whether `sql` looks a text up joined (JoinedWordsContain): only that writes the marks' letters."""
    return all(letter in sql for letter in filters.MARKS.values())


def _walk_plan(table, index, sql, params, order="created_at DESC, id DESC"):
    """The plan of a walk's first 10 of `sql` in `order` with no B-tree index of `table` left but `index`, and
    neither a scan of the table, a bitmap nor a sort allowed (in a rolled-back transaction)."""
    with transaction.atomic(), connection.cursor() as cursor:
        drop_btree_indexes(table, keep=[index])
        cursor.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off")
        cursor.execute(f"EXPLAIN {sql} ORDER BY {order} LIMIT 10", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    return plan


def _plan_by_index_alone(table, index, sql, params):
    """The plan of `sql` with no index of `table` left but `index` (in a rolled-back transaction)."""
    with transaction.atomic(), connection.cursor() as cursor:
        drop_btree_indexes(table)
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexdef LIKE '%%gin_trgm_ops%%'", [table])
        for (name,) in cursor.fetchall():
            if name != index:
                cursor.execute(f"DROP INDEX {name}")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    return plan


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the joined text's index is PostgreSQL's")
@pytest.mark.parametrize("model, make, index", [(Pipeline, "pipeline", "pipe_search_joined"), (Asset, "asset", "asset_search_joined")])
def test_it_finds_a_rare_phrase_where_its_words_meet(owner, model, make, index, monkeypatch):
    """A phrase the planner expects rare is also looked up joined (spaces dropped, each punctuation
    mark a letter of its own, typography's too), a condition the index of each text so joined can read
    (jobs migration 0025, library 0019): the rows where its words meet, across spaces or punctuation, not every row
    holding them apart. It finds what the phrase alone finds: a joined match is no match of the
    phrase ("asailboat" or "a sail boat" for "a sailboat", "a ,sailboat" for "a, sailboat"), which
    is tested on the rows found (the planner would otherwise intersect the bitmaps of both indexes).
    Expected past WALK_ABOVE, the phrase alone."""
    texts = ["A SAILBOAT at dawn", "dawn, a sailboat", "asailboat", "a sail boat", "a, sailboat", "a ,sailboat", "a% sailboat",
             "neon—portrait", "neon–portrait", "“neon” sign"]  # fmt: skip
    made = [make_pipeline(owner, prompt=text, outputs=0, steps=0).id if make == "pipeline" else make_asset(owner).id for text in texts]
    if make == "asset":  # its text is its file's name and its prompt
        for pk, text in zip(made, texts):
            Asset.objects.filter(pk=pk).update(prompt=text)
    rows = model.objects.filter(owner=owner)
    cases = [("a Sailboat", made[:2]), ("A, sailboat", made[4:5]), ("a% Sailboat", made[6:7]), ("at, da", []),
             ("N—Portrait", made[7:8]), ("“neon”", made[9:]), ("on”\u00a0si", [])]  # fmt: skip
    for q, found in cases:
        phrase = filters.text_search(rows, q)
        assert _found(phrase) == sorted(found), q
        sql, params = phrase.values("id").query.sql_with_params()
        assert _joined(sql) and filters.joined(q.lower()) in params, q  # the rows' texts joined by the database, as its index is
        assert 'COLLATE "C"' in sql  # the phrase tested on the rows the joined form finds, not offered to its own index
        plan = _plan_by_index_alone(model._meta.db_table, index, sql, params)
        assert f"Bitmap Index Scan on {index}" in plan, plan  # the condition is the expression it holds
    monkeypatch.setattr(filters, "WALK_ABOVE", 0)  # every phrase expected past a walk's
    common = filters.text_search(rows, "a Sailboat")
    assert not _joined(str(common.query)) and _found(common) == sorted(made[:2])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the joined text's index is PostgreSQL's")
def test_it_estimates_a_phrase_found_where_its_words_meet_as_the_phrase_alone(owner, monkeypatch):
    """The phrase implies its joined form, so the lists' estimates leave the joined condition out: the
    planner takes the two for independent, and multiplied, put a phrase in 6,667 of a million assets at
    1 (a fetch, where the phrase's own estimate walks). So the phrase is looked up joined wherever the
    joined form is expected rare, the phrase common or not, up to WALK_ABOVE (past it the planner's
    LIMIT reads the order's index, and would read the joined one, every row it finds sorted)."""
    texts = ["a sailboat at dawn"] * 30 + ["a lighthouse"] * 30  # one name: the planner's common values hold them
    made = [make_pipeline(owner, name="p", prompt=text, outputs=0, steps=0).id for text in texts]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_pipeline")
        # No statistics of the joined text (as a million rows' sample can miss a phrase's texts):
        # the planner puts any joined phrase at a row or so. Rolled back with the test.
        cursor.execute("DELETE FROM pg_statistic WHERE starelid = 'pipe_search_joined'::regclass")
    rows = Pipeline.objects.filter(owner=owner)
    alone = pagination.planner_rows(rows.filter(search_text__contains="a sailboat"))
    assert alone >= 20
    monkeypatch.setattr(filters, "RARE_WORD", 5)  # the phrase expected common, its joined form rare
    searched = filters.text_search(rows, "A sailboat")
    assert _joined(str(searched.query)) and _found(searched) == sorted(made[:30])
    assert pagination.planner_rows(searched) == alone
    monkeypatch.setattr(filters, "WALK_ABOVE", alone - 1)
    assert not _joined(str(filters.text_search(rows, "A sailboat").query))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the joined text's index is PostgreSQL's")
def test_it_joins_no_phrase_whose_joined_form_is_common(owner, monkeypatch):
    """Joined, "l boat" is "lboat", in every "sailboat": each of those rows would be rechecked, where
    the trigram index reads the phrase's words' ends. "l-boat" joined keeps its mark."""
    texts = ["a sailboat"] * 20 + ["a sail boat", "a sail-boat"]  # one name: the planner's common values hold them
    made = [make_pipeline(owner, name="p", prompt=text, outputs=0, steps=0).id for text in texts]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_pipeline")
    monkeypatch.setattr(filters, "RARE_WORD", 5)
    rows = Pipeline.objects.filter(owner=owner)
    for q, found, joined in [("l Boat", made[20:21], False), ("l-Boat", made[21:], True)]:
        searched = filters.text_search(rows, q)
        assert _found(searched) == sorted(found), q
        assert _joined(str(searched.query)) is joined, q


WORD_STARTS = ["4k", "img_4k.png", "a 4K film", "tab\t4k", "line\n4k", "(4k)", "x]4k", "x\\4k", "4k-hdr"]


@pytest.mark.parametrize("q", ["4k", "4K"])
def test_it_finds_one_or_two_letters_or_digits_where_they_start_a_word(owner, q, monkeypatch):
    at = timezone.make_aware(datetime.datetime.combine(DAY, datetime.time(9)))
    starts = [make_pipeline(owner, prompt=text, outputs=0, steps=0, created_at=at).id for text in WORD_STARTS]
    for text in ("x4k", "a4k b", "4 k", "k4"):  # inside a word, or not the text
        make_pipeline(owner, prompt=text, outputs=0, steps=0, created_at=at)
    pipelines = Pipeline.objects.filter(owner=owner)
    for bound in (filters.SHORT_RANGE, 0):  # a short range, then a long one: the same rows
        monkeypatch.setattr(filters, "SHORT_RANGE", bound)
        assert _found(filters.text_in_range(pipelines, q, DAY, DAY)) == sorted(starts)
    assert _found(filters.text_search(pipelines, q)) == sorted(starts)


@pytest.mark.parametrize(
    "q, trigramless",
    [("%%", True), ("!!", True), ("a(", True), ("x.", True), ("中文", True), ("é", True), ("  ", True),
     ("-a", False), ("1 2", False), ("a b", False), ("xy.", False), ("é1x", False), ("sailboat", False)],
)  # fmt: skip
def test_it_knows_a_text_pg_trgm_finds_no_trigram_in(q, trigramless):
    """Which texts the trigram index could only answer by reading all of itself (measured at a
    million assets: each True one had the index name all 411,396 pages, each False one a few)."""
    assert filters._trigramless(q) is trigramless


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the choice is PostgreSQL's (SQLite has no text index)")
@pytest.mark.parametrize("q", ["%%", "x.", "中文", "É"])
def test_it_tests_a_text_without_a_trigram_on_the_rows_the_other_filters_find(owner, q):
    """Not through the trigram index, which would read all of itself and every row (2.7 s for a
    status with "%_" at a million assets), but compared on the rows, found anywhere as before."""
    texts = ("100%% sure", "box.x", "我的中文书", "café été", "plain")
    found = {text: make_pipeline(owner, prompt=text, outputs=0, steps=0).id for text in texts}
    pipelines = Pipeline.objects.filter(owner=owner)
    searched = filters.text_search(pipelines, q)
    assert 'COLLATE "C"' in str(searched.query)
    assert _found(searched) == sorted(found[text] for text in texts if q.lower() in text)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the characters and pairs indexes are PostgreSQL's")
@pytest.mark.parametrize("ratio, narrowed", [(1, True), (10**9, False)])
@pytest.mark.parametrize("q", ["%", "x.", "中文", "É", "--"])
def test_it_narrows_a_text_without_a_trigram_to_the_rows_holding_its_pieces_when_they_are_rare(owner, q, ratio, narrowed, monkeypatch):
    """Through the index of each row's pairs of characters (of its characters, for one) where the
    planner expects them in few rows (CHARACTERS_RATIO: at 1 always here, at a billion never),
    tested on the rows either way: the same rows found, "中 and 文" holding both characters of
    "中文" but not the text."""
    at = timezone.make_aware(datetime.datetime.combine(DAY, datetime.time(9)))
    texts = ("100% sure", "box.x", "x.x", "我的中文书", "中 and 文", "café été", "a -- b", "plain")
    found = {text: make_pipeline(owner, prompt=text, outputs=0, steps=0, created_at=at).id for text in texts}
    monkeypatch.setattr(filters, "CHARACTERS_RATIO", ratio)
    pipelines = Pipeline.objects.filter(owner=owner)
    # Anywhere, and in a short range, whose rows a text with trigrams is tested on without its index.
    for searched in (filters.text_search(pipelines, q), filters.text_in_range(pipelines, q, DAY, DAY)):
        assert ("string_to_array" in str(searched.query)) is narrowed
        assert 'COLLATE "C"' in str(searched.query)
        assert _found(searched) == sorted(found[text] for text in texts if q.lower() in text)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the characters index is PostgreSQL's")
@pytest.mark.parametrize("ratio, narrowed", [(1, True), (10**9, False)])
@pytest.mark.parametrize("q, unread", [("neon→portrait", "→"), ("a neon™ portrait", "™"), ("neon portrait", ""), ("neon—portrait", "")])
def test_it_narrows_a_text_to_the_rows_holding_what_neither_text_index_reads(owner, q, unread, ratio, narrowed, monkeypatch):
    """An arrow or "™" is no letter to pg_trgm nor a mark the joined index reads: through the
    characters index where the planner expects those in few rows, tested on the rows; the same rows
    either way. A space, an ASCII mark or an em dash is read, and no text of them is narrowed so."""
    texts = ("neon→portrait", "a neon™ portrait!", "neon portrait", "neon—portrait", "neon → portrait", "plain→")
    found = {text: make_pipeline(owner, prompt=text, outputs=0, steps=0).id for text in texts}
    monkeypatch.setattr(filters, "CHARACTERS_RATIO", ratio)
    monkeypatch.setattr(filters, "RARE_WORD", 0)  # no word rare: "neon" and "portrait" are in most texts
    assert filters._unread(q) == unread
    searched = filters.text_search(Pipeline.objects.filter(owner=owner), q)
    assert ("string_to_array" in str(searched.query)) is (narrowed and bool(unread))
    assert _found(searched) == sorted(found[text] for text in texts if q in text)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the joined text's index is PostgreSQL's")
@pytest.mark.parametrize("rare, joined", [(1000, True), (0, False)])
def test_it_looks_three_marks_up_joined_where_few_rows_hold_them(owner, rare, joined, monkeypatch):
    """", , ," has no trigram, but joined it is a word of three letters: through the index of joined
    texts where the planner expects it in few rows, else as any text without a trigram; tested on the
    rows either way."""
    texts = ("a, , , b", "a,,,b", "a, , b", "a, b, c", "plain")
    found = {text: make_pipeline(owner, prompt=text, outputs=0, steps=0).id for text in texts}
    monkeypatch.setattr(filters, "RARE_WORD", rare)
    assert filters._trigramless(", , ,") and filters._joins_words(", , ,")
    searched = filters.text_search(Pipeline.objects.filter(owner=owner), ", , ,")
    assert _joined(str(searched.query)) is joined
    assert 'COLLATE "C"' in str(searched.query)
    assert _found(searched) == [found["a, , , b"]]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the pairs index is PostgreSQL's")
@pytest.mark.parametrize("ratio, narrowed", [(1, True), (10**9, False)])
@pytest.mark.parametrize("q", ["-a", "(A", "a b", "1 2"])
def test_it_narrows_a_text_of_single_letters_to_the_rows_holding_them_when_they_are_rare(owner, q, ratio, narrowed, monkeypatch):
    """pg_trgm's only trigrams of such a text are its words' starts: through the pairs index and
    tested on the rows where the planner expects the pairs in few rows, else through the trigram
    index as before (no "C" comparison); the same rows either way."""
    texts = ("x-a y", "x-b", "ab-c", "f(a)", "(b a", "a b c", "ab b", "1 2 3", "12 3", "plain")
    found = {text: make_pipeline(owner, prompt=text, outputs=0, steps=0).id for text in texts}
    monkeypatch.setattr(filters, "CHARACTERS_RATIO", ratio)
    assert filters._single_letters(q.lower()) and not filters._trigramless(q.lower())
    searched = filters.text_search(Pipeline.objects.filter(owner=owner), q)
    assert ("string_to_array" in str(searched.query)) is narrowed
    assert ('COLLATE "C"' in str(searched.query)) is narrowed
    assert _found(searched) == sorted(found[text] for text in texts if q.lower() in text)
    assert _found(searched)  # each finds one at least


@pytest.mark.parametrize("q, single", [("-a", True), ("a b", True), ("(a", True), ("é", True), ("-ab", False), ("a bc", False), ("--", False), ("", False)])
def test_it_knows_a_text_of_single_letters(q, single):
    assert filters._single_letters(q) is single


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the planner's estimates weigh it on PostgreSQL only")
@pytest.mark.parametrize(
    "q, narrowed, found",
    [("%", "string_to_array(", 2), ("t.", None, 400), ("a,", "regexp_replace(", 2), ("a\x01", "string_to_array(", 1)],
)
def test_it_weighs_the_pieces_by_how_many_rows_hold_them(owner, q, narrowed, found, monkeypatch):
    """400 texts hold "t." (in "prompt.") and "a" and "," each, two hold "%", two "a,", one "a\x01":
    the planner, from each index's statistics, expects "%" (one character: the characters index) and
    "a," (its pair: the pairs index, its characters being in every text) in a handful of rows
    (narrowed), and "t." in all of them (scanned, as before). A text holding PAIRS_APART, which splits
    a row's pairs apart, is narrowed by its characters."""
    for n in range(400):
        make_pipeline(owner, prompt=f"a plain prompt. number {n}, more", outputs=0, steps=0)
    for text in ("100% sure", "100% sure", "a, b", "a, c", "x a\x01 y"):
        make_pipeline(owner, prompt=text, outputs=0, steps=0)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_pipeline")
    monkeypatch.setattr(pagination, "_estimates", {})  # estimates made after this ANALYZE only
    assert filters._trigramless(q)
    searched = filters.text_search(Pipeline.objects.filter(owner=owner), q)
    sql = str(searched.query)
    assert ("string_to_array(" in sql) is bool(narrowed) and (narrowed is None or narrowed in sql)
    assert ("regexp_replace(" in sql) is (narrowed == "regexp_replace(")
    assert len(_found(searched)) == found


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the characters and pairs indexes are PostgreSQL's")
@pytest.mark.parametrize(
    "model, pieces, index",
    [
        (Pipeline, filters.HoldsCharacters, "pipe_search_characters"),
        (Asset, filters.HoldsCharacters, "asset_search_characters"),
        (Pipeline, filters.HoldsPairs, "pipe_search_pairs"),
        (Asset, filters.HoldsPairs, "asset_search_pairs"),
    ],
)
def test_it_reads_the_characters_and_pairs_through_their_index(owner, model, pieces, index):
    """The condition names the expression jobs migrations 0022's and 0026's and library 0016's and
    0020's indexes hold, so the planner can read them for it: asked with no table scan to choose
    instead."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = model.objects.filter(pieces("%中'\\")).values("id").query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert f"Bitmap Index Scan on {index}" in plan, plan


def test_it_still_finds_any_other_text_anywhere(owner):
    texts = ("concatenate", "x#4k", "xa b", "x中文", "a(b", "ab")
    found = {text: make_pipeline(owner, prompt=text, outputs=0, steps=0).id for text in texts}
    pipelines = Pipeline.objects.filter(owner=owner)
    assert _found(filters.text_search(pipelines, "cat")) == [found["concatenate"]]  # three in a row: anywhere
    assert _found(filters.text_search(pipelines, "#4k")) == [found["x#4k"]]  # a boundary of its own in front
    # Anything but one or two ASCII letters or digits is found anywhere, as before.
    assert _found(filters.text_search(pipelines, "a b")) == [found["xa b"]]
    assert _found(filters.text_search(pipelines, "中文")) == [found["x中文"]]
    assert _found(filters.text_search(pipelines, "A(")) == [found["a(b"]]
    assert _found(filters.text_search(pipelines, "%%")) == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigram index is PostgreSQL's")
def test_it_looks_a_word_start_up_in_the_trigram_index_not_through_all_of_it(owner):
    """pg_trgm finds the trigrams of the word's start in word_start()'s expression: the index
    offers the rows that hold them, not the 300 where "4k" is inside a word. (A class such as
    [^[:alnum:]] in its place gives it none: every row would come back to be tested.) Asked
    with no other index to choose (the btree ones dropped in a transaction rolled back)."""
    at = timezone.make_aware(datetime.datetime.combine(DAY, datetime.time(9)))
    for n in range(300):
        make_pipeline(owner, prompt=f"a sailboat x4k number {n}", outputs=0, steps=0, created_at=at)
    starts = [make_pipeline(owner, prompt=text, outputs=0, steps=0, created_at=at).id for text in WORD_STARTS[:3]]
    with transaction.atomic(), connection.cursor() as cursor:
        _only_gin_indexes(cursor)
        merge_gin_pending_lists("jobs_pipeline")  # new rows wait there, their entries offered more loosely
        cursor.execute("ANALYZE jobs_pipeline")
        sql, params = Pipeline.objects.filter(owner=owner).filtered(q="4k").values("id").query.sql_with_params()
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
        transaction.set_rollback(True)
    plan = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
    scan = next(node for node in _nodes(plan) if node["Node Type"] == "Bitmap Index Scan")
    assert "search_text ~" in scan["Index Cond"], plan
    # The index offers what holds the trigrams pg_trgm takes from the expression: the three, and
    # a few that hold a word starting with "4" and one ending with "4k" (names "Pipeline 4xx").
    assert len(starts) <= scan["Actual Rows"] < 100, plan


def _only_gin_indexes(cursor):
    """Leave the planner the pipelines' GIN indexes alone, inside the caller's transaction (to be
    rolled back): the btree ones dropped (conftest.drop_btree_indexes()), and no table scan."""
    drop_btree_indexes("jobs_pipeline")
    cursor.execute("SET LOCAL enable_seqscan = off")


def _nodes(plan):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


@pytest.mark.parametrize("ratio, collated", [(0, True), (10**9, False)])
@pytest.mark.parametrize("q", ["sailboat", ""])
def test_it_tests_a_common_value_beside_a_text_on_the_rows(owner, q, ratio, collated, monkeypatch):
    made = [make_asset(owner, kind=kind) for kind in ("image", "video", "image")]
    Asset.objects.filter(pk=made[0].pk).update(prompt="a sailboat", source="generated")
    Asset.objects.filter(pk=made[1].pk).update(prompt="a sailboat")
    monkeypatch.setattr(filters, "BESIDE_RATIO", ratio)
    base = Asset.objects.filter(owner=owner)
    beside = filters.equal_beside_text(base, q, kind="image", source="", processing_status="")
    sql = str(beside.query)
    # Only with a text, and only on PostgreSQL (where a text index holds the column), is the value compared in "C".
    assert ('COLLATE "C"' in sql) == (collated and bool(q) and connection.vendor == "postgresql")
    expected = base.filter(kind="image")
    assert _found(filters.text_search(beside, q)) == _found(filters.text_search(expected, q))
    assert _found(beside) == _found(expected) == sorted([made[0].pk, made[2].pk])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the planner's estimates weigh it on PostgreSQL only")
@pytest.mark.parametrize("sailboats, collated", [(1, True), (200, False)])
def test_it_weighs_a_value_against_the_rows_the_rest_finds(owner, sailboats, collated, monkeypatch):
    # 200 images: tested on the rows when "sailboat" finds few of them, intersected in the index when many.
    made = [make_asset(owner, kind="image") for _ in range(200)]
    Asset.objects.filter(pk__in=[a.pk for a in made[:sailboats]]).update(prompt="a sailboat")
    Asset.objects.exclude(pk__in=[a.pk for a in made[:sailboats]]).update(prompt="a lighthouse")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE library_asset")
    monkeypatch.setattr(filters, "BESIDE_RATIO", 10)
    monkeypatch.setattr(pagination, "_estimates", {})  # estimates made after this ANALYZE only
    beside = filters.equal_beside_text(Asset.objects.filter(owner=owner), "sailboat", kind="image")
    assert ('COLLATE "C"' in str(beside.query)) == collated
    assert len(_found(filters.text_search(beside, "sailboat"))) == sailboats


@pytest.mark.parametrize(
    "zone, date_from, date_to, days",
    [
        ("UTC", DAY, DAY + datetime.timedelta(days=6), (DAY, DAY + datetime.timedelta(days=6))),
        # Auckland's days begin on the UTC day before (UTC+13 in March)
        ("Pacific/Auckland", DAY, DAY + datetime.timedelta(days=6), (DAY - datetime.timedelta(days=1), DAY + datetime.timedelta(days=6))),
        ("America/Los_Angeles", DAY, DAY, (DAY, DAY + datetime.timedelta(days=1))),  # its evening is the next UTC day
        ("Pacific/Auckland", datetime.date.min, DAY, None),  # 0001-01-01 begins before the first day a date holds
        ("UTC", DAY, datetime.date.max, None),  # no instant follows 9999-12-31
    ],
)
def test_it_names_the_utc_days_a_ranges_instants_fall_on(zone, date_from, date_to, days):
    with timezone.override(zone):
        assert filters.utc_days(date_from, date_to) == days


# Texts that part words every way pg_trgm might: ASCII punctuation and whitespace, "_", digits,
# letters of other scripts, marks a locale may read as letters or not, case the database folds.
SIGNED_TEXTS = [
    string.printable,
    "Neon Portrait of a naïve café-owner, 4K_img_00012.png (v2)",
    "中文neon portrait—NEON→portrait™ «sailboat» ÉCOLE école",
    "a-b c_d e.f g  h\ti\nj 1 2 34 567",
    "İstanbul KELVIN straße ǅemal ﬁsh",
]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_trgm and the signature are PostgreSQL's")
@pytest.mark.parametrize("text", SIGNED_TEXTS)
def test_it_takes_only_trigrams_pg_trgm_reads_in_every_text_holding_the_text(db, text):
    """Every text searched that a row's text holds (each of its substrings, as the database lowercases
    it) has only trigrams that pg_trgm reads in that row's text, so no match is dropped by the
    signature; and the database's signature of the row (i2v_search_words()) holds each bit of the
    text's (signature_words(): those trigrams' and its adjacent words')."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT lower(%s), show_trgm(lower(%s))", [text, text])
        lowered, read = cursor.fetchone()
    searched = {lowered[start:end] for start in range(len(lowered)) for end in range(start + 1, min(start + 16, len(lowered)) + 1)}
    taken = {q: filters.signature_trigrams(q.lower()) for q in searched}
    for q, trigrams in taken.items():
        assert trigrams <= set(read), (q, trigrams - set(read))
    assert any(len(t) >= filters.SIGNATURE_TRIGRAMS for t in taken.values())  # the test reads signatures, not nothing
    assert any(filters.adjacent_words(q.lower()) for q in taken) == (len(filters.adjacent_words(lowered)) > 0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT i2v_search_words(%s)", [lowered])
        (row,) = cursor.fetchone()
    for q in taken:
        words = filters.signature_words(q.lower())
        assert all(held & word == word for held, word in zip(row, words)), q


@pytest.mark.parametrize(
    "q, trigrams",
    [
        ("neon portrait", {"neo", "eon", "on ", "  p", " po", "por", "ort", "rtr", "tra", "rai", "ait"}),  # its ends may go on
        ("-ab-", {"  a", " ab", "ab "}),  # a word whole
        ("naïve", set()),  # "ï" may be a letter: "na" and "ve" may go on
        ("x中文abcd", {"abc", "bcd"}),
        ("4k", set()),
    ],
)
def test_it_takes_a_words_start_and_end_only_where_an_ascii_mark_stands_beside_it(q, trigrams):
    assert filters.signature_trigrams(q) == trigrams


def _signatures_kept(table, owner):
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), count(*) FILTER (WHERE ARRAY[{', '.join(SEARCH_SIGNATURE)}] = i2v_search_words(search_text))"
            f" FROM {table} WHERE owner_id = %s", [owner.id],
        )  # fmt: skip
        return cursor.fetchone()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the signature is PostgreSQL's")
def test_it_keeps_each_assets_signature_as_its_text_whoever_writes_it(owner):
    """Library migration 0023's trigger: the signature is the one of search_text (which the database
    generates) for rows made by save(), bulk_create() and changed by save() or update()."""
    made = make_asset(owner)
    Asset.objects.bulk_create([Asset(owner=owner, sha256=f"{n:064x}", filename=f"Bulk {n}.PNG", prompt="a Neon portrait") for n in range(3)])
    made.prompt = "a sailboat at dawn"
    made.save()
    Asset.objects.filter(owner=owner, filename="Bulk 1.PNG").update(prompt="Rain on a window")
    Asset.objects.filter(owner=owner, filename="Bulk 2.PNG").update(kind="video")  # no text changed
    assert _signatures_kept("library_asset", owner) == (4, 4)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the signature is PostgreSQL's")
def test_it_keeps_each_pipelines_signature_as_its_text_whoever_writes_it(owner):
    """Jobs migration 0028's trigger: a pipeline's signature is its search_text's, made, renamed,
    bulk-made or updated."""
    made = make_pipeline(owner, prompt="a sailboat", outputs=0, steps=0)
    made.rename("Neon Portraits")
    made.save()
    Pipeline.objects.bulk_create([Pipeline(owner=owner, name=f"Bulk {n}", search_text=f"bulk {n} rain") for n in range(2)])
    Pipeline.objects.filter(owner=owner, name="Bulk 1").update(search_text="bulk 1 a lighthouse")
    Pipeline.objects.filter(owner=owner, name="Bulk 0").update(is_favorite=True)  # no text changed
    assert _signatures_kept("jobs_pipeline", owner) == (3, 3)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the signature is PostgreSQL's")
def test_it_walks_a_text_through_the_signatures_in_the_list_index(owner, monkeypatch):
    """A text whose matches the planner expects few is walked for along asset_text_created, its signature
    tested on the entries: the rows that hold it, newest first, whether their words are apart or not,
    and those whose signature is not yet filled in (NULL, before migration 0023's backfill)."""
    texts = ["Neon portrait, dusk", "a neon sign, a portrait", "neon portraits", "portrait neon", "NEON PORTRAIT", "sailboat"]
    made = []
    for text in texts:
        asset = make_asset(owner)
        Asset.objects.filter(pk=asset.pk).update(prompt=text)
        made.append(asset.pk)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE library_asset SET {' = NULL, '.join(SEARCH_SIGNATURE)} = NULL WHERE id = %s", [made[4]])
    monkeypatch.setattr(filters, "SIGNATURE_DENSITY", 10**9)  # whatever the estimates of so few rows
    assets, among, tested = Asset.objects.filter(owner=owner)._listed({"q": "neon portrait"})
    sql, params = pagination._keys_sql(tested, Asset.ORDERING)[:2]
    assert "search_sig0" in sql
    keys = pagination.walked_keys(assets, among, Asset.ORDERING, 10, 100, tested)
    assert keys == [made[4], made[2], made[0]]  # newest first
    plan = _walk_plan("library_asset", "asset_text_created", sql, params)
    assert "Index Only Scan using asset_text_created" in plan, plan  # the signature tested on its entries
    monkeypatch.setattr(filters, "SIGNATURE_DENSITY", 0)  # a text met every few rows: tested on the rows
    assert "search_sig0" not in str(Asset.objects.filter(owner=owner)._listed({"q": "neon portrait!"})[2] or "")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the walk is PostgreSQL's")
def test_it_walks_a_text_testing_each_row_without_its_joined_look_up(owner, monkeypatch):
    """A text's joined look-up (JoinedWordsContain) is there for its index: a walk, meeting the rows along
    the order's, tests each with the text alone, and finds the same rows as the fetch that follows a walk
    fallen short, which keeps the joined look-up; so does a fetch through among's entries, its rows by key."""
    made = []
    for text in ["a, , , b", "a,,,b", "x, , , y", "plain"]:
        asset = make_asset(owner)
        Asset.objects.filter(pk=asset.pk).update(prompt=text)
        made.append(asset.pk)
    monkeypatch.setattr(filters, "RARE_WORD", 1000)  # joined, ", , ," is a word expected in few rows
    mine = Asset.objects.filter(owner=owner)
    searched = filters.text_search(mine, ", , ,")
    assert _joined(str(searched.query))
    for length, fetched in [(100, False), (1, True)]:  # the assets read to their end; the newest alone, no match
        with CaptureQueriesContext(connection) as captured:
            keys = pagination.walked_keys(searched, mine, Asset.ORDERING, 10, length)
        assert keys == [made[2], made[0]]
        walk, *fetch = [query["sql"] for query in captured.captured_queries]
        assert not _joined(walk) and "LIKE '%, , ,%'" in walk
        assert len(fetch) == fetched and all(_joined(sql) for sql in fetch)
    with CaptureQueriesContext(connection) as captured:  # fetched through among's entries, each row by key
        assert pagination.matching_keys(searched, Asset.ORDERING, 10, through=(mine, mine, True)) == ([made[2], made[0]], 2)
    (fetch,) = [query["sql"] for query in captured.captured_queries]
    assert not _joined(fetch) and "LIKE '%, , ,%'" in fetch and "CROSS JOIN LATERAL" in fetch


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the signature is PostgreSQL's")
def test_it_walks_a_text_among_a_status_through_the_signatures_in_its_index(owner, monkeypatch):
    """Library migration 0025: with a processing status, a text is walked for along asset_status_list, its
    signature tested on the entries before a row is read: the failed assets that hold it, newest first."""
    texts = [("failed", "Neon portrait"), ("complete", "neon portrait"), ("failed", "a portrait, neon"), ("failed", "NEON PORTRAITS")]
    made = []
    for status, text in texts:
        asset = make_asset(owner)
        Asset.objects.filter(pk=asset.pk).update(prompt=text, processing_status=status)
        made.append(asset.pk)
    monkeypatch.setattr(filters, "SCATTERED_DENSITY", 10**9)  # whatever the estimates of so few rows (apart in the table)
    assets, among, tested = Asset.objects.filter(owner=owner)._listed({"q": "neon portrait", "status": "failed"})
    sql, params = pagination._keys_sql(tested, Asset.ORDERING)[:2]
    assert "search_sig0" in sql
    assert pagination.walked_keys(assets, among, Asset.ORDERING, 10, 100, tested) == [made[3], made[0]]
    plan = _walk_plan("library_asset", "asset_status_list", sql, params)
    assert "Index Only Scan using asset_status_list" in plan, plan  # the signature tested on its entries
    # A text met every few rows: among the complete ones, which lie side by side, tested on the rows.
    monkeypatch.setattr(filters, "SIGNATURE_DENSITY", 0)
    for status, signed in [("complete", False), ("failed", True)]:
        tested = Asset.objects.filter(owner=owner)._listed({"q": "neon portrait", "status": status})[2]
        assert ("search_sig0" in str(tested.query if tested is not None else "")) is signed, status


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the signature is PostgreSQL's")
@pytest.mark.parametrize(
    "ordering, given, index",
    [
        ("newest", {}, "pipe_text_visible"),
        ("oldest", {"model": "veo-3"}, "pipe_text_visible"),
        ("cost", {}, "pipe_text_cost"),
        ("cost", {"hidden": "only", "favorites": True}, "pipe_text_cost"),
    ],
)
def test_it_walks_a_text_through_the_signatures_in_the_jobs_indexes(owner, ordering, given, index, monkeypatch):
    """Jobs migration 0028: newest or oldest first (the visible pipelines) and by cost (any), a text is
    walked for with its signature tested on the entries of the index that holds it."""
    monkeypatch.setattr(filters, "SIGNATURE_DENSITY", 10**9)
    monkeypatch.setattr(filters, "SCATTERED_DENSITY", 10**9)
    order = Pipeline.ORDERINGS[ordering]
    tested = Pipeline.objects.filter(owner=owner)._listed(owner.id, {"q": "neon portrait", **given}, order)[3]
    sql, params = pagination._keys_sql(tested, order)[:2]
    assert "search_sig0" in sql
    terms = ", ".join(f"{name} {'DESC' if descending else 'ASC'}" for name, descending in order.fields)
    plan = _walk_plan("jobs_pipeline", index, sql, params, terms)
    assert f"Index Only Scan using {index}" in plan or f"Index Only Scan Backward using {index}" in plan, plan


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the signature is PostgreSQL's")
@pytest.mark.parametrize("ordering, signed", [("newest", False), ("oldest", False), ("cost", True)])
def test_it_tests_a_common_texts_signature_only_along_an_order_the_rows_dont_lie_in(owner, ordering, signed, monkeypatch):
    """A text the planner expects in more rows than SIGNATURE_DENSITY, fewer than SCATTERED_DENSITY: by date,
    where a walk's rows lie together in the table, it is tested on the rows; by cost, each row walked is read
    from a page of its own anyway, and the signature spares those reads (filters.signature(scattered=))."""
    # Whatever the estimates of so few rows: a text commoner than the one bound, rarer than the other.
    monkeypatch.setattr(filters, "SIGNATURE_DENSITY", 0)
    monkeypatch.setattr(filters, "SCATTERED_DENSITY", 10**9)
    order = Pipeline.ORDERINGS[ordering]
    tested = Pipeline.objects.filter(owner=owner)._listed(owner.id, {"q": "neon portrait"}, order)[3]
    assert ("search_sig0" in pagination._keys_sql(tested, order)[0] if tested is not None else False) == signed


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the signature is PostgreSQL's")
@pytest.mark.parametrize("given", [{"status": "failed"}, {"favorites": True}, {"hidden": "include"}])
def test_it_leaves_the_signature_out_where_the_walks_index_holds_none(owner, given, monkeypatch):
    """Newest first, a status's, the favourites' and all pipelines' walks read indexes of their own."""
    monkeypatch.setattr(filters, "SIGNATURE_DENSITY", 10**9)
    order = Pipeline.ORDERINGS["newest"]
    tested = Pipeline.objects.filter(owner=owner)._listed(owner.id, {"q": "neon portrait", **given}, order)[3]
    assert tested is None or "search_sig0" not in pagination._keys_sql(tested, order)[0]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the signature is PostgreSQL's")
def test_it_finds_the_pipelines_holding_a_text_walked_through_the_signatures(owner, monkeypatch):
    monkeypatch.setattr(filters, "SIGNATURE_DENSITY", 10**9)
    monkeypatch.setattr(filters, "SCATTERED_DENSITY", 10**9)
    texts = ["Neon portrait, dusk", "a neon sign, a portrait", "neon portraits", "portrait neon", "NEON PORTRAIT"]
    made = [make_pipeline(owner, prompt=text, outputs=0, steps=0, total_cost=n).pk for n, text in enumerate(texts)]
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE jobs_pipeline SET {' = NULL, '.join(SEARCH_SIGNATURE)} = NULL WHERE id = %s", [made[4]])
    order = Pipeline.ORDERINGS["cost"]
    pipelines, _, among, tested, _ = Pipeline.objects.filter(owner=owner)._listed(owner.id, {"q": "neon portrait"}, order)
    assert pagination.walked_keys(pipelines, among, order, 10, 100, tested) == [made[4], made[2], made[0]]  # dearest first


@pytest.mark.skipif(connection.vendor != "postgresql", reason="tag_names is PostgreSQL's")
def test_it_walks_a_tag_testing_each_entry_for_the_name_in_its_array(owner, monkeypatch):
    """A tag with a text by cost: the walk tests the tag on each entry of pipe_text_cost (and on each row it
    reads) as `name = ANY` of tag_names, not with the GIN indexes' `@>`, and finds what the fetch, which
    keeps `@>`, finds: the tagged pipelines that hold the text, dearest first, whatever their other tags."""
    monkeypatch.setattr(filters, "SIGNATURE_DENSITY", 10**9)
    monkeypatch.setattr(filters, "SCATTERED_DENSITY", 10**9)
    cases = [("neon portrait", ["4k"]), ("neon portrait", ["4k-hdr"]), ("neon portrait", ["draft", "4k"]), ("portrait", ["4k"]), ("Neon Portrait", [])]
    made = [make_pipeline(owner, prompt=text, tags=tags, outputs=0, steps=0, total_cost=n).pk for n, (text, tags) in enumerate(cases)]
    order = Pipeline.ORDERINGS["cost"]
    pipelines, _, among, tested, _ = Pipeline.objects.filter(owner=owner)._listed(owner.id, {"q": "neon portrait", "tag": "4k"}, order)
    with CaptureQueriesContext(connection) as captured:
        assert pagination.walked_keys(pipelines, among, order, 10, 100, tested) == [made[2], made[0]]
    (walk,) = [query["sql"] for query in captured.captured_queries]
    assert "search_sig0" in walk and walk.count("= ANY(\"jobs_pipeline\".\"tag_names\")") == 2 and "@>" not in walk
    assert "@>" in pagination._keys_sql(pipelines, order)[0]  # what the planner is asked: the GIN indexes' operator
    assert pagination.matching_keys(pipelines, order, 10) == ([made[2], made[0]], 2)


@pytest.mark.parametrize(
    "q, pairs",
    [
        ("neon portrait", {"on p"}),
        ("a neon—portrait, 3d", {"on p", "it 3"}),  # "a" may end a longer word: no pair from it
        ("neonportrait", set()),
        ("x中文ab cd", {"ab c"}),
        ("4k-hdr_10", {"4k h", "dr 1"}),
    ],
)
def test_it_takes_the_adjacent_words_every_text_holding_the_text_has(q, pairs):
    assert filters.adjacent_words(q) == pairs


@pytest.mark.skipif(connection.vendor != "postgresql", reason="hashtext() is PostgreSQL's")
def test_it_hashes_text_as_the_database_does(db):
    texts = ["", "a", "neo", "on p", "  p", "twelve bytes", "thirteen bytes", "é", "straße ǅemal ﬁsh", string.printable * 3]
    texts += ["".join(string.ascii_lowercase[(n * 7 + k) % 26] for k in range(n)) for n in range(40)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT hashtext(t) FROM unnest(%s::text[]) WITH ORDINALITY AS s (t, n) ORDER BY n", [texts])
        theirs = [row[0] & 0xFFFFFFFF for row in cursor.fetchall()]
        assert theirs == [pghash.hashtext(text) for text in texts]
        pghash.check(cursor)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the signature is PostgreSQL's")
def test_it_reads_no_row_holding_a_phrases_words_apart(owner):
    """The signature holds a text's adjacent words: a row with both of a phrase's words, apart, fails it
    on the index's entries, and is never read; one holding the phrase (or its words side by side across a
    mark) passes."""
    texts = ["a neon sign, a portrait", "portrait of a neon alley", "neon portrait", "a neon-portrait", "Neon, portraits"]
    made = []
    for text in texts:
        asset = make_asset(owner)
        Asset.objects.filter(pk=asset.pk).update(prompt=text, filename="x.png")
        made.append(asset.pk)
    signed = Asset.objects.filter(owner=owner).filter(filters.TextSignature(filters.signature_words("neon portrait")))
    assert sorted(signed.values_list("pk", flat=True)) == made[2:]
    assert list(Asset.objects.filter(owner=owner).filter(filters.TextSignature(filters.signature_words("neon sign")))) == [Asset.objects.get(pk=made[0])]
    every = filters.TextSignature([-(2**63), 2**63 - 1, -1, 0, 1, 2**62])  # each word's extremes, as SQL literals
    assert not Asset.objects.filter(owner=owner).filter(every).exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the signature is PostgreSQL's")
def test_it_walks_a_text_in_a_short_range_by_cost_through_the_signatures_of_each_days_run(owner, monkeypatch):
    """Jobs migration 0033: a week sorted by cost with a text is merged from each day's run of pipe_day_cost,
    its signature tested on their entries: the week's pipelines that hold the text, dearest first, those
    without a signature yet among them; none from outside the week."""
    monkeypatch.setattr(filters, "SCATTERED_DENSITY", 10**9)  # whatever the estimates of so few rows
    now = timezone.now()
    texts = [("Neon portrait", 2, 1), ("neon sign, portrait", 9, 2), ("neon portraits", 5, 3), ("NEON PORTRAIT", 7, 4), ("neon portrait", 8, 20)]
    made = [
        make_pipeline(owner, prompt=text, outputs=0, steps=0, total_cost=cost, created_at=now - datetime.timedelta(days=age)).pk
        for text, cost, age in texts
    ]
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE jobs_pipeline SET {' = NULL, '.join(SEARCH_SIGNATURE)} = NULL WHERE id = %s", [made[3]])
    order = Pipeline.ORDERINGS["cost"]
    week = {"q": "neon portrait", "date_from": (now - datetime.timedelta(days=6)).date(), "date_to": now.date()}
    pipelines, _, among, tested, in_order = Pipeline.objects.filter(owner=owner)._listed(owner.id, week, order)
    assert isinstance(in_order, pagination.DateRuns) and "search_sig0" in str(tested.query)
    with CaptureQueriesContext(connection) as captured:
        assert pagination.walked_keys(pipelines, among, order, 10, 100, tested, in_order) == [made[3], made[2], made[0]]
    assert "search_sig0" in captured.captured_queries[0]["sql"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the signature is PostgreSQL's")
def test_it_tests_first_the_signatures_word_fewest_rows_hold():
    """Each entry a walk reads fails at its first test all but a few times in a hundred, so the word of most bits
    comes first, a pair of adjacent words' bit before a trigram's; a word with no bit is not tested."""
    words = [1 << 5, (1 << 3) | (1 << 9) | (1 << 40), 0, -(2**63), 1 << 7, (1 << 2) | (1 << 3)]
    sql = str(Asset.objects.filter(filters.TextSignature(words)).query)
    order = [int(n) for n in re.findall(r'"search_sig(\d)" & ', sql)]
    assert order == [1, 5, 4, 0, 3]
    assert sql.count('"search_sig0" IS NULL OR') == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the links' signature is PostgreSQL's")
@pytest.mark.parametrize(
    "ordering, index, column, expected",
    [("cost", "pipetag_tag_cost", "total_cost", [1, 3, 0]), ("newest", "pipetag_tag_created", "created_at", [3, 1, 0])],
)
def test_it_walks_a_tags_links_testing_the_signature_on_their_entries(owner, other, ordering, index, column, expected, monkeypatch):
    """A tag with a text, where the tag's pipelines are few beside the owner's: the walk reads the tag's links in
    the order (by cost, pipetag_tag_cost; by date, pipetag_tag_created: jobs migration 0035), the text's signature
    tested on their entries before a pipeline's row is read, and finds the visible pipelines of that tag holding
    the text, ties in cost by id, whatever the signature (a link whose pipeline has none yet passes, and its row is
    tested)."""
    monkeypatch.setattr(filters, "SIGNATURE_DENSITY", 10**9)
    monkeypatch.setattr(filters, "SCATTERED_DENSITY", 10**9)
    monkeypatch.setattr(listing, "TAG_LINKS_RATIO", 1)  # whatever the estimates of so few rows
    cases = [("neon portrait", ["4k"], 3, False), ("a Neon Portrait", ["4k", "draft"], 5, False), ("portrait neon", ["4k"], 9, False),
             ("neon portraits", ["4k"], 3, False), ("neon portrait", ["draft"], 8, False), ("neon portrait", ["4k"], 7, True),
             ("neon portrait", [], 6, False), ("sailboat", ["4k"], 1, False)]  # fmt: skip
    start = timezone.now() - datetime.timedelta(days=1)
    made = [
        make_pipeline(owner, prompt=text, tags=tags, outputs=0, steps=0, total_cost=cost, is_hidden=hidden,
                      created_at=start + datetime.timedelta(minutes=n)).pk
        for n, (text, tags, cost, hidden) in enumerate(cases)
    ]  # fmt: skip
    make_pipeline(other, prompt="neon portrait", tags=["4k"], outputs=0, steps=0, total_cost=99)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE jobs_pipelinetag SET {' = NULL, '.join(SEARCH_SIGNATURE)} = NULL WHERE pipeline_id = %s", [made[3]])
    order = Pipeline.ORDERINGS[ordering]
    pipelines, _, among, tested, _ = Pipeline.objects.filter(owner=owner)._listed(owner.id, {"q": "neon portrait", "tag": "4k"}, order)
    assert among.model is PipelineTag and tested is None
    with CaptureQueriesContext(connection) as captured:
        assert pagination.walked_keys(pipelines, among, order, 10, 100) == [made[n] for n in expected]
    (walk,) = [query["sql"] for query in captured.captured_queries]
    assert '"jobs_pipelinetag"."search_sig0"' in walk and f'ORDER BY "jobs_pipelinetag"."{column}" DESC' in walk
    links_sql, params = pagination._sql(among.order_by().values("pipeline"))
    plan = _walk_plan("jobs_pipelinetag", index, links_sql, params, f"{column} DESC, pipeline_id DESC")
    assert f"Index Only Scan using {index}" in plan and "search_sig" in plan, plan  # tested on its entries
    page, _ = Pipeline.objects.jobs_list(owner.id, {"q": "neon portrait", "tag": "4k"}, order, None, 2)
    assert [p.pk for p in page.items] == [made[n] for n in expected[:2]] and page.has_next
