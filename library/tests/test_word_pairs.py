"""An asset's pairs of adjacent words (AssetWordPair), kept by PostgreSQL's triggers (library migration 0029)
for every writer, and a phrase's page walked along its rarest pair's links: the same pairs on both sides (the
database's from a text, word_pairs() from a search), the links inserted, moved and deleted with their
assets, and the page the links give the same as the plain query's."""

import datetime
import importlib
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conftest import make_asset
from i2v.lib import pagination
from i2v.lib.filters import word_pairs
from i2v.lib.pghash import hashtext
from library import models
from library.models import Asset, AssetWordPair

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's triggers keep the links")

TEXTS = [
    "neon portrait", "ÉCOLE→PORTRAIT", "Ǆemal Kelvin portrait", "A Neon, PORTRAIT!", "img_0012.jpg lush cup of coffee at a night market", "x1 abc de fgh ijk",
    "abc", "", "--neon--  --portrait--", "école portrait™ neon", "neon\tportrait\nat dusk", "neon portrait neon portrait",
]  # fmt: skip


def _database_pairs(text):
    with connection.cursor() as cursor:
        cursor.execute("SELECT i2v_word_pairs(lower(%s))", [text])
        return sorted(cursor.fetchone()[0])


def _links(asset):
    return sorted(AssetWordPair.objects.filter(asset_id=asset.pk).values_list("owner_id", "pair", "created_at", "facets"))


def _expected(asset):
    """An asset's links as word_pairs() names its text's pairs (the database's text, lowercased there), each with
    the number facets_matching() gives its kind, source and status."""
    asset = Asset.objects.get(pk=asset.pk)
    (facets,) = AssetWordPair.facets_matching(kind=asset.kind, source=asset.source, processing_status=asset.processing_status)
    return sorted((asset.owner_id, pair, asset.created_at, facets) for pair in word_pairs(asset.search_text))


@postgresql_only
@pytest.mark.parametrize("text", TEXTS)
def test_it_names_a_texts_pairs_as_the_database_does(db, text):
    assert sorted(word_pairs(text)) == _database_pairs(text)


@postgresql_only
def test_it_numbers_an_assets_facets_as_the_database_does(db):
    """Every value of Asset's choices, and one that none is, numbered by migration 0030's i2v_asset_facets() as
    facets_matching() numbers them, and each value asked for alone matching every number that holds it."""
    listed = dict(AssetWordPair.FACETS)
    assert [set(listed[column]) == set(choices.values) for column, choices in [("kind", Asset.Kind), ("source", Asset.Source), ("processing_status", Asset.Status)]] == [True] * 3
    values = [(*listed[column], "unheard-of") for column, _ in AssetWordPair.FACETS]
    combinations = [(kind, source, status) for kind in values[0] for source in values[1] for status in values[2]]
    with connection.cursor() as cursor:
        cursor.execute("SELECT k, s, t, i2v_asset_facets(k, s, t) FROM unnest(%s::text[], %s::text[], %s::text[]) AS v (k, s, t)", [*map(list, zip(*combinations))])
        numbered = {(k, s, t): number for k, s, t, number in cursor.fetchall()}
    assert len(set(numbered.values())) == len(combinations)
    for (kind, source, status), number in numbered.items():
        assert AssetWordPair.facets_matching(kind=kind, source=source, processing_status=status) == [number]
    for column, value in [("kind", "video"), ("source", "upload"), ("processing_status", "failed"), ("kind", "unheard-of")]:
        held = sorted(number for combination, number in numbered.items() if combination[[c for c, _ in AssetWordPair.FACETS].index(column)] == value)
        assert AssetWordPair.facets_matching(**{column: value}) == held
    assert AssetWordPair.facets_matching() == sorted(numbered.values())


@pytest.mark.parametrize(
    "q, pairs",
    [("neon portrait", ["eon por"]), ("a neon portrait", ["eon por"]), ("portrait of a dog", []), ("neon-portrait, dusky lights", ["eon por", "ait dus", "sky lig"]),
     ("NEON PORTRAIT", ["eon por"]), ("neon portrait neon portrait", ["eon por", "ait neo"]), ("école portrait", ["ole por"]), ("ÉCOLE→PORTRAIT", ["ole por"]), ("", []), ("<b>neon</b>", []),
     ("<b>neon</b> <i>portrait</i>", []), ("<b>neon portrait</b>", ["eon por"])],
)  # fmt: skip
def test_it_takes_a_searchs_pairs_of_words_of_three_characters_or_more(q, pairs):
    def signed(text):
        value = hashtext(text)
        return value - (1 << 32) if value >= 1 << 31 else value

    assert word_pairs(q) == [signed(pair) for pair in pairs]


@postgresql_only
def test_it_links_an_asset_to_its_pairs_for_every_writer(owner, other):
    asset = make_asset(owner)
    Asset.objects.filter(pk=asset.pk).update(prompt="A neon portrait at dusk")
    assert _links(asset) == _expected(asset) and word_pairs("neon portrait")[0] in [link[1] for link in _links(asset)]
    moved = timezone.now() - datetime.timedelta(days=30)
    Asset.objects.filter(pk=asset.pk).update(created_at=moved, owner=other)
    assert _links(asset) == _expected(asset) and {link[0] for link in _links(asset)} == {other.pk}
    Asset.objects.filter(pk=asset.pk).update(is_favorite=True, prompt="A neon portrait at dusk")  # its text unchanged
    assert _links(asset) == _expected(asset)
    before = _links(asset)
    Asset.objects.filter(pk=asset.pk).update(processing_status=Asset.Status.FAILED, kind=Asset.Kind.VIDEO)
    assert _links(asset) == _expected(asset) and _links(asset) != before
    bulk = Asset.objects.bulk_create([Asset(owner=owner, sha256=f"{n:064}", filename=f"neon portrait {n}.png") for n in range(3)])
    Asset.objects.filter(pk=bulk[2].pk).update(prompt="dusky light")  # a pair more
    Asset.objects.filter(pk=bulk[1].pk).update(filename="a sailboat.png")
    assert all(_links(made) == _expected(made) and _links(made) for made in bulk)
    Asset.objects.filter(pk__in=[bulk[0].pk, asset.pk]).delete()
    assert not AssetWordPair.objects.filter(asset_id__in=[bulk[0].pk, asset.pk]).exists()
    assert _links(bulk[1]) == _expected(bulk[1])


@postgresql_only
def test_it_links_the_assets_a_replica_load_writes(owner):
    """seed_demo loads its COPYs in replica mode (no foreign-key checks): the triggers fire there too."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            (asset,) = Asset.objects.bulk_create([Asset(owner=owner, sha256="f" * 64, filename="neon portrait.png")])
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")
    assert _links(asset) == _expected(asset) and _links(asset)


@postgresql_only
def test_it_backfills_the_links_of_the_assets_made_before_the_triggers(owner, other):
    """Migration 0030's backfill (0029's wrote no numbers), into the table (0030 fills a new one, then names it so)."""
    migration = importlib.import_module("library.migrations.0030_word_pair_facets")
    made = [make_asset(user) for user in (owner, other, owner)]
    Asset.objects.filter(pk__in=[asset.pk for asset in made]).update(prompt="a neon portrait")
    Asset.objects.filter(pk=made[2].pk).update(kind=Asset.Kind.VIDEO, processing_status=Asset.Status.PENDING)
    AssetWordPair.objects.filter(asset_id__in=[made[0].pk, made[2].pk]).delete()
    with connection.cursor() as cursor:
        migration.filled(cursor, AssetWordPair._meta.db_table)
    assert all(_links(asset) == _expected(asset) and _links(asset) for asset in made)


def _texts(owner, texts, start=None):
    """Assets of `owner` holding `texts`, a minute apart, the first the oldest: their keys."""
    start = start or timezone.now() - datetime.timedelta(days=1)
    made = []
    for n, text in enumerate(texts):
        asset = make_asset(owner)
        Asset.objects.filter(pk=asset.pk).update(prompt=text, created_at=start + datetime.timedelta(minutes=n))
        made.append(asset.pk)
    return made


@postgresql_only
def test_it_walks_a_phrase_along_its_rarest_pairs_links(owner, other, monkeypatch):
    texts = ["Neon portrait, dusk", "a neon sign, a portrait", "neon portraits", "portrait neon", "NEON PORTRAIT at night", "neon portrait"]
    made = _texts(owner, texts)
    _texts(other, ["neon portrait"])
    Asset.objects.filter(pk=made[5]).update(is_hidden=True)
    monkeypatch.setattr(models, "PAIR_LINKS_RATIO", 0)  # whatever the estimates of so few rows
    filters = {"q": "neon portrait at night"}
    assets, among, tested = Asset.objects.filter(owner=owner)._listed(filters, owner.pk)
    assert among.model is AssetWordPair and tested is None
    assert among.query.where.children[-1].rhs in word_pairs(filters["q"])
    sql, params = pagination._read_through(assets, Asset.ORDERING, *pagination._keys_sql(assets, Asset.ORDERING)[:2], ["k0", "k1"], 100, among, None, True)[:2]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # as it is planned at a million assets
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index Only Scan Backward using library_assetwordpair_pkey" in plan, plan
    for q, expected in [("neon portrait at night", [made[4]]), ("neon portrait", [made[4], made[2], made[0]])]:
        assets, among, tested = Asset.objects.filter(owner=owner)._listed({"q": q}, owner.pk)
        assert pagination.walked_keys(assets, among, Asset.ORDERING, 10, 100, tested) == expected
        assert list(assets.order_by(*Asset.ORDERING.order_by()).values_list("pk", flat=True)) == expected


@postgresql_only
def test_it_walks_a_ranges_links_alone(owner, monkeypatch):
    made = _texts(owner, ["neon portrait"] * 3, start=timezone.now() - datetime.timedelta(days=3))
    Asset.objects.filter(pk=made[0]).update(created_at=timezone.now() - datetime.timedelta(days=40))
    monkeypatch.setattr(models, "PAIR_LINKS_RATIO", 0)
    week = {"q": "neon portrait", "date_from": (timezone.now() - datetime.timedelta(days=7)).date()}
    assets, among, tested = Asset.objects.filter(owner=owner)._listed(week, owner.pk)
    assert among.model is AssetWordPair
    assert sorted(among.values_list("asset_id", flat=True)) == made[1:]
    assert pagination.walked_keys(assets, among, Asset.ORDERING, 10, 100, tested) == [made[2], made[1]]


@postgresql_only
def test_it_tests_a_kind_source_and_status_on_the_links_entries(owner, monkeypatch):
    """Generated complete images, but a video and a failed upload: each asked for with the phrase walks only the
    links of its own, tested on the key's entries (an index-only scan) before any row is read."""
    made = _texts(owner, ["neon portrait"] * 4)
    Asset.objects.filter(pk=made[1]).update(kind=Asset.Kind.VIDEO)
    Asset.objects.filter(pk=made[2]).update(processing_status=Asset.Status.FAILED, source=Asset.Source.UPLOAD)
    monkeypatch.setattr(models, "PAIR_LINKS_RATIO", 0)
    for filters, expected in [
        ({"kind": "video"}, [made[1]]), ({"status": "failed"}, [made[2]]), ({"source": "upload", "status": "failed"}, [made[2]]),
        ({"kind": "image", "source": "generated"}, [made[3], made[0]]), ({"kind": "video", "status": "failed"}, []),
    ]:  # fmt: skip
        assets, among, tested = Asset.objects.filter(owner=owner)._listed({"q": "neon portrait", **filters}, owner.pk)
        assert among.model is AssetWordPair
        assert sorted(among.values_list("asset_id", flat=True)) == sorted(expected)
        assert pagination.walked_keys(assets, among, Asset.ORDERING, 10, 100, tested) == expected
    sql, params = pagination._read_through(assets, Asset.ORDERING, *pagination._keys_sql(assets, Asset.ORDERING)[:2], ["k0", "k1"], 100, among, None, True)[:2]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # as it is planned at a million assets
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert re.search(r"Index Only Scan Backward using library_assetwordpair_pkey .*\n.*Index Cond: .*\n.*Filter: \(facets = ANY", plan), plan


@pytest.mark.parametrize(
    "filters",
    [{"q": "neon"}, {"q": "neon-p"}, {"q": "neon portrait", "favorites": True}, {"q": "a b c d"}],
)
def test_it_walks_no_links_without_a_pair_or_among_the_favourites(owner, monkeypatch, filters):
    monkeypatch.setattr(models, "PAIR_LINKS_RATIO", 0)
    among = Asset.objects.filter(owner=owner)._listed(filters, owner.pk)[1]
    assert among is None or among.model is Asset


def test_it_walks_no_links_where_they_are_not_far_fewer(owner, monkeypatch):
    monkeypatch.setattr(models, "PAIR_LINKS_RATIO", 10**9)
    among = Asset.objects.filter(owner=owner)._listed({"q": "neon portrait"}, owner.pk)[1]
    assert among is None or among.model is Asset


@postgresql_only
@pytest.mark.parametrize("expected", [1500, 50_000])
def test_it_lists_a_phrases_first_page_from_its_links(owner, other, monkeypatch, expected):
    """Through library_list(), as the page and the API ask: the newest matches, the hidden one and the other
    owner's left out, the page's walk reading the links, however many matches the planner expects (past
    WALK_ABOVE a page is otherwise the planner's LIMIT, which reads no index of theirs), and as far as three
    pages of them, or all the links where they are fewer, however few the planner expects them beside the
    matches (every match is one of them)."""
    made = _texts(owner, [f"neon portrait number {n}" if n % 3 else f"neon sign {n}" for n in range(40)])
    _texts(other, ["neon portrait"], start=timezone.now())  # the newest of all
    monkeypatch.setattr(models, "PAIR_LINKS_RATIO", 0)
    monkeypatch.setattr(pagination, "planner_estimate", lambda queryset, reuse=False: (expected, 10**6))  # walked, as at a million
    Asset.objects.filter(pk=made[-2]).update(is_hidden=True)  # the newest match
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE library_assetwordpair")  # the owner's 26 links of "eon por" known
    with CaptureQueriesContext(connection) as captured:
        page, total = Asset.objects.library_list(owner.pk, {"q": "neon portrait"}, None, 10)
    expected_keys = [pk for n, pk in enumerate(made) if n % 3 and pk != made[-2]][::-1][:10]
    assert [asset.pk for asset in page.items] == expected_keys
    (walk,) = [query["sql"] for query in captured.captured_queries if "WITH walk" in query["sql"]]
    links = re.search(r'FROM "library_assetwordpair" WHERE .* LIMIT (\d+)\) AS passed', walk)
    # Every one of the owner's 26 links (the planner's count of them, near it), not three pages at the density the
    # estimates make of it (one link).
    assert links and 26 <= int(links.group(1)) < 3 * (10 + 1), walk


@postgresql_only
@pytest.mark.parametrize("planned", [0, 900])
@pytest.mark.parametrize("videos", [0, 1])
def test_it_finds_a_phrases_few_of_a_kind_along_its_links_without_the_fetch(owner, monkeypatch, planned, videos):
    """A phrase in 30 images and none or one of the videos, asked for with the videos, through library_list(): the
    links' entries tested for the videos' facets, all of them walked, and what that found is the page and its exact
    total, with no fetch after it (the trigram index's bitmap at a million assets, 16-30 ms), whether the planner
    expects none of them (a page found none the minute before) or most of the 918 links it expects (it takes the
    facets for independent of the pair)."""
    _texts(owner, ["neon portrait"] * 30)
    found = _texts(owner, ["a neon portrait"] * videos)
    Asset.objects.filter(pk__in=found).update(kind=Asset.Kind.VIDEO)
    make_asset(owner, kind="video")  # a video without the phrase
    monkeypatch.setattr(models, "PAIR_LINKS_RATIO", 0)
    monkeypatch.setattr(pagination, "planner_estimate", lambda queryset, reuse=False: (planned, 10**5))  # costly, as at a million
    rows = pagination.planner_rows
    monkeypatch.setattr(pagination, "planner_rows", lambda queryset, reuse=False: 918 if queryset.model is AssetWordPair else rows(queryset, reuse))
    with CaptureQueriesContext(connection) as captured:
        page, total = Asset.objects.library_list(owner.pk, {"q": "neon portrait", "kind": "video"}, None, 10)
    assert [asset.pk for asset in page.items] == found and (total.count, total.is_estimate) == (videos, False)
    read = [query["sql"] for query in captured.captured_queries if not query["sql"].startswith("EXPLAIN")]
    (searched,) = [sql for sql in read if "search_text" in sql]  # no fetch after the walk
    assert searched.startswith("WITH walk"), searched
