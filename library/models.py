import datetime
import functools
import hashlib
import math

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, connections, models, transaction
from django.db.models import Value
from django.db.models.functions import Cast, Concat, Lower
from django.urls import reverse
from django.utils import timezone

from i2v.lib.bulk import delete_rows
from i2v.lib.cache import bump_on_commit
from i2v.lib.filters import created_between, equal_beside_text, signature, text_in_range, word_pairs
from i2v.lib.jsonout import instant, loads
from i2v.lib.pagination import Ordering, holds_implied, list_page, planner_rows, reused
from i2v.lib.watch import changes
from media_processing.models import ProcessingJob
from prompts.models import PROMPT_MAX_CHARS

from . import parameters, uploads
from .media import media_url, original_name, store_once


def original_path(asset, filename):
    # In the owner's folder, content-addressed: the same bytes of one owner always land on the same name.
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return original_name(asset.owner_id, asset.sha256, ext)


def stored_names(original, renditions):
    """Every file name an asset row references: its original and its renditions."""
    names = [original] if original else []
    return names + [entry["name"] for entry in (renditions or {}).values() if entry.get("name")]


def rendition(renditions, size):
    """{"url", "w", "h"} of one rendition from an Asset.renditions dict, or None.

    Shared by Asset and by list queries that annotate only the renditions field,
    so a list row never loads the whole asset.
    """
    return _sized((renditions or {}).get(str(size)), settings.MEDIA_URL)


def _sized(entry, prefix):
    return {"url": media_url(entry["name"], prefix), "w": entry["w"], "h": entry["h"]} if entry else None


# The renditions' widths (media_processing makes them), smallest first.
SIZES = (150, 300, 600)
SIZE_KEYS = tuple(str(size) for size in SIZES)  # as a renditions dict names them


def sized_renditions(renditions):
    """rendition() of each of SIZES, smallest first: None for one that doesn't exist. The
    settings' MEDIA_URL is read once (0.3 µs each time: three per tile, 60 tiles a page)."""
    found, prefix = renditions or {}, settings.MEDIA_URL
    return [_sized(found.get(key), prefix) for key in SIZE_KEYS]


def srcset(renditions):
    """The srcset of `renditions` (rendition()'s dicts, None for one that doesn't exist)."""
    return ", ".join(f"{url} {w}w" for url, w in distinct_widths((r["url"], r["w"]) for r in renditions if r))


def distinct_widths(candidates):
    """(url, width) pairs, the first of each width only: a srcset names each width once (the HTML
    standard), and every rendition of a picture smaller than 150 px has the picture's own width."""
    kept = {}
    for url, w in candidates:
        kept.setdefault(w, url)
    return [(url, w) for w, url in kept.items()]


# A text of several words not looked up joined (its joined form expected common, or itself past a
# walk's: i2v/lib/filters.py) is fetched from every row that holds each of them anywhere, each row
# rechecked for the text, which the planner's cost leaves out (it prices the matches): a walk for it
# may read this many rows per unit of that cost. "neon portrait" at a million assets: 6,667 there of
# 6,689 expected, priced 21,759, its fetch rechecked 23,333 rows (3.5 times the matches), 138 ms;
# walked, 11 ms (docs/benchmarks.md, thirty-first pass). (Looked up joined since, it is fetched
# from its 6,667 rows where a walk for it is too long.)
PHRASE_ROWS_PER_COST = 3


# A phrase's page is walked along its rarest pair's links where the planner puts those at no more than this share of
# the rows the walk would otherwise read (AssetQuerySet._word_pair_links()), of the phrase's first PAIRS_WEIGHED pairs:
# a link costs its row, read by key (1,400 for "cup of coffee at a night market" at a million assets, 67,137 links
# of "ght mar": 2.0 ms, 1.4 µs each), an entry of among's index tested for the signature 0.11-0.13 µs. That phrase
# took 5.2-5.4 ms through those links, 4.8 through the entries (docs/benchmarks.md, "Fifty-fifth pass").
PAIR_LINKS_RATIO = 15
PAIRS_WEIGHED = 3


class AssetQuerySet(models.QuerySet):
    def filtered(self, *, kind="", source="", status="", favorites=False, q="", date_from=None, date_to=None, hidden=""):
        """The Library filters. Each maps onto an index named in Asset.Meta.indexes."""
        # Hidden assets are few: the default view filters them out while walking the same indexes;
        # ?hidden=only has a small partial index of its own (asset_hidden_created). So have the
        # favourites (asset_favorite_list), which hold is_hidden: a hidden favourite is hidden.
        qs = self if hidden == "include" else self.filter(is_hidden=hidden == "only")
        if favorites:
            qs = qs.filter(is_favorite=True)
        # With a word, a common kind, source or status is tested on the rows the text index finds,
        # not intersected in it (equal_beside_text()); not in a date range, whose rows the
        # (owner, source, created_at) index and the like read with their kind, source or status.
        searched = q if not (date_from or date_to) else ""
        qs = equal_beside_text(qs, searched, kind=kind, source=source, processing_status=status)
        # search_text is a column the database generates, lowercased.
        return text_in_range(qs, q, date_from, date_to)

    def usable_as_sources(self):
        """Images a pipeline can start from: not imported ones whose bytes are still to be fetched,
        nor those whose processing failed (a file that can't be decoded fails every step)."""
        return self.filter(kind="image").exclude(original="").exclude(processing_status=Asset.Status.FAILED)

    def for_library(self):
        """Only the columns a tile or a list item shows (not exif, prompt or search_text)."""
        return self.only(*Asset.LIST_FIELDS)

    def for_library_text(self):
        """for_library()'s columns, the renditions as their stored JSON text (`renditions_text`),
        not decoded: a tile or an API item this process keeps is found by that text
        (library/tile.py, Asset.as_list_item()), and only one it makes decodes it. Nothing else
        may read these assets' `renditions`: each would be another query."""
        return self.only(*(name for name in Asset.LIST_FIELDS if name != "renditions")).annotate(
            renditions_text=Cast("renditions", models.TextField())
        )

    def changed_tiles(self, watched):
        """(tiles to redraw, ids gone) of the tiles a page watches, {id: processing status}:
        one query whatever the number of ids (i2v/lib/watch.py)."""
        tiles = {a.pk: a for a in self.for_library().filter(pk__in=watched)}
        changed, gone = changes(watched, {pk: a.processing_status for pk, a in tiles.items()})
        return [tiles[pk] for pk in changed], gone

    def library_list(self, owner_id, filters, cursor, page_size):
        """(page, total) of `owner_id`'s Library, for its page and GET /api/library/images
        (whatever this queryset's own filters: the list is its owner's), the assets loaded
        for_library_text(): their tiles and items are kept per process.

        Like the Jobs list, the total is counted for first pages only. The querysets of the
        owner's filters are this process's of the last minute where it has them (reused()).
        """
        mine = self.model._default_manager.db_manager(self.db)
        assets, among, tested = reused(("library", owner_id, self.db), filters, lambda: mine.filter(owner_id=owner_id)._listed(filters, owner_id))
        rows = AssetQuerySet.for_library_text
        # With a word, a walk reads each row for its text, and those lie scattered through the
        # table, a page each, while the text index holds kind, source and status too
        # (asset_search_filters), a fetch the planner prices high: a walk reads no more rows
        # than the fetch's cost in the planner's units (a row walked cost 1.5 µs, a unit of a
        # word's fetch with videos 2.3). Videos with a word, expected 1,027 times, none there:
        # 9,063 rows walked in vain in 13 ms, then fetched in 9.8; now fetched (its cost 4,226).
        # Uploads with that word, expected 6,051 times (cost 19,813), 19,993 there: fetched, 160
        # ms; walked, the page in a few thousand rows (docs/benchmarks.md, "Fourteenth pass").
        # Without a word the walk tests index entries, not rows; a date range's rows lie side by
        # side (a week's 9,600 walked in 2 ms, fetched in 8.5); the Jobs list's long walks pay too.
        narrowed = {"date_from", "date_to"} & {k for k, v in filters.items() if v}
        q = filters.get("q", "")
        per_cost = (PHRASE_ROWS_PER_COST if len(q.split()) > 1 else 1) if q and not narrowed else None
        # A forward cursor's page is one keyset query: the Library's one order meets its matches
        # soon after a cursor, and finding its page as a first page is found measured slower: a
        # word's second page 13.6 ms (5.9 of SQL) against 8.5 (2.3) at a million assets
        # (bench/lists.py --second); 2.9 ms of SQL against 3.6 since. Not a phrase looked up
        # joined: the planner, its estimate multiplied by the joined condition's, fetches and
        # sorts every row the joined index finds ("neon alley, polaroid", 9,999 of a million
        # assets: 123 ms of SQL; found as a first page, 10.4). Nor a backward cursor's, whose page
        # lies toward the top, where few rows follow the cursor read backwards: the planner
        # intersected every match of a word with those ("sailboat" 29 ms of SQL, "neon portrait"
        # 96; found as a first page, 7.9 and 20).
        # Among the favourites a word's matches are fetched from their own text index
        # (asset_search_favorite) reading their rows alone, where a walk through the favourites
        # reads a row for each it passes: a fetch that the planner prices high (their rows lie one
        # a page) is still no job for a walk, until its matches are too many to count
        # ("sailboat"'s 403 favourites of a million assets, 427 expected, priced 1,686: walked,
        # 1,596 rows, 2.4 ms of SQL; fetched, 1.1).
        fetched = {"costly_above": math.inf} if q and filters.get("favorites") else {}
        return list_page(
            assets, rows, Asset.ORDERING, cursor, page_size, keyset_forward=not holds_implied(assets), among=among, tested=tested,
            walk_rows_per_cost=per_cost, **fetched,
        )

    def _listed(self, filters, owner_id=None):
        """(the list's rows, among, tested) of first_page(): this queryset's narrowed by `filters`; among may be
        the links of a pair of the text's words (_word_pair_links()) where `owner_id` says whose they are."""
        assets = self.filtered(**filters)
        # The bounded walk reads the owner's rows narrowed by one filter whose index
        # serves the order (see PipelineListQuerySet._walked), and tests the rest on each.
        # The date range is read in order by the same indexes (created_at follows the filter's
        # column); the hidden view is kept, or the walk would read rows the list can't show.
        # The others of kind, source and status are in every one of those indexes' entries,
        # tested there before a row is read (first_page(tested=)).
        held = {k: filters[k] for k in ("kind", "source", "status", "favorites", "date_from", "date_to", "hidden") if filters.get(k)}
        # The favourites, few, lead whatever else is asked (asset_favorite_list holds kind, source,
        # status and hidden to test): a walk reads no more entries than there are favourites. A
        # kind with a source has an index of its own (asset_kind_source_list), and so has a kind with
        # a status other than complete (asset_kind_status_list).
        if "favorites" in held:
            leading = {"favorites"}
        elif {"kind", "source"} <= held.keys():
            leading = {"kind", "source"}
        elif {"kind", "status"} <= held.keys() and held["status"] != Asset.Status.COMPLETE:
            leading = {"kind", "status"}
        else:
            leading = {next((k for k in ("kind", "source", "status") if k in held), None)}
        narrowing = {k: v for k, v in held.items() if k not in ("kind", "source", "status", "favorites") or k in leading}
        # Each filtered() builds its queryset anew (a tenth of an unfiltered page's CPU for
        # two): the list's own is reused where the others would be the same.
        given = {k: v for k, v in filters.items() if v}
        among = assets if narrowing == given else self.filtered(**narrowing)
        tested = None if held == narrowing else assets if held == given else self.filtered(**held)
        # A text walked along the list's order is tested first on the entries of asset_text_created, which
        # hold each row's text signature (migration 0023, with its adjacent words since 0028), then on the rows
        # that pass: "neon portrait" at a million assets, 61 rows read for a page, not 9,101. So along a status's (0025), or a kind's
        # and status's (0026): "sailboat" among the failed, 1,806 rows read for a page without. Not along a
        # kind's or source's index, which hold none (a word with either was within 2x the first page without).
        # A status's rows other than complete's lie apart in the table, one a page, as the Jobs list's do by
        # cost (scattered); the complete ones, most of the assets, side by side.
        if owner_id is not None and "favorites" not in held and (links := self._word_pair_links(owner_id, filters, among)) is not None:
            return assets, links, None
        signed = leading in ({None}, {"status"}, {"kind", "status"})
        scattered = leading != {None} and held.get("status") not in (None, Asset.Status.COMPLETE)
        if signed and (text := signature(assets, among, filters.get("q", ""), scattered)) is not None:
            tested = (among if tested is None else tested).filter(text)
        return assets, among, tested

    def _word_pair_links(self, owner_id, filters, among):
        """The owner's links of the text's rarest pair of words (AssetWordPair, PostgreSQL) made in the range of dates
        asked for, their facets those of the kind, source and status asked for, for a walk newest first (walked_keys())
        instead of `among`, where the planner puts them at no more than a PAIR_LINKS_RATIO-th of among's rows (an
        EXPLAIN each, reused a minute); otherwise None.

        A walk of among tests each entry's signature, about 0.13 µs an entry at a million assets, then reads the
        rows of those that pass (about 1.4 µs each); a link is read with its row, every row a possible match. So the
        links cost less wherever they are far fewer than among's entries: a rare phrase spread along the order
        ("neon portrait": 9,101 entries for a page, 61 links), and a link that is not of the kind, source or status
        asked for is passed over on its entry, as cheaply as a signature. The favourites are fetched from their own
        index."""
        if connections[self.db].vendor != "postgresql":
            return None
        pairs = word_pairs(filters.get("q", ""))[:PAIRS_WEIGHED]
        if not pairs:
            return None
        mine = created_between(AssetWordPair.objects.using(self.db).filter(owner_id=owner_id), filters.get("date_from"), filters.get("date_to"))
        wanted = {"kind": filters.get("kind"), "source": filters.get("source"), "processing_status": filters.get("status")}
        if any(wanted.values()):
            mine = mine.filter(facets__in=AssetWordPair.facets_matching(**wanted))
        rows, links = min(((planner_rows(links, reuse=True), links) for links in (mine.filter(pair=pair) for pair in pairs)), key=lambda weighed: weighed[0])
        return links if rows * PAIR_LINKS_RATIO <= planner_rows(among, reuse=True) else None

    def store_generated(self, owner_id, file, prompt, parameters_text=""):
        """The Asset for a file a provider made: stored once per owner by content
        (sha256), through the storage API, and given renditions like any upload.

        `parameters_text` (A1111 text, library/parameters.py) goes inside the image
        first, so the file carries how it was made wherever it is copied.
        """
        data = parameters.embed(file.data, file.mime, parameters_text) if parameters_text else file.data
        sha256 = hashlib.sha256(data).hexdigest()
        existing = self.filter(owner_id=owner_id, sha256=sha256).first()
        if existing:
            return existing
        name = original_path(Asset(owner_id=owner_id, sha256=sha256), f"generated.{file.extension}")
        store_once(name, ContentFile(data))  # in the owner's folder; withdrawn from the media collector first
        asset, created = self.get_or_create(
            owner_id=owner_id, sha256=sha256,
            defaults={
                "kind": file.kind, "source": Asset.Source.GENERATED, "original": name, "prompt": prompt,
                "filename": f"{sha256[:12]}.{file.extension}", "mime": file.mime, "bytes": len(data),
                "width": file.width, "height": file.height, "duration": file.duration,
            },
        )  # fmt: skip
        if created:
            ProcessingJob.objects.schedule_upload(asset)
        return asset

    def ingest_each(self, owner, files):
        """[uploads.Ingested] for each uploaded file (ingest()), in order: a bad file never sinks the good ones. Each file's temporary copy goes once it is ingested,
        not at the end of a many-file request."""
        ingested = []
        for upload in files:
            try:
                asset, created, refused = *self.ingest(owner, upload), None
            except uploads.UploadRejected as exc:
                asset, created, refused = None, False, exc
            finally:
                upload.close()
            ingested.append(uploads.Ingested(uploads.display_name(upload.name), asset, created, refused))
        return ingested

    def ingest(self, owner, upload):
        """(asset, created) for one uploaded file, or UploadRejected.

        `upload` comes from uploads.HashingUploadHandler: already on disk and
        hashed. The same bytes from the same owner return their existing asset.
        A new one is identified by decoding its header, saved, stored under its
        content address in the owner's folder and given its processing jobs, in
        one transaction; nothing is rendered here. If anything fails after the
        file was stored, the file is removed again, so a rejected upload leaves
        nothing behind.
        """
        uploads.check_streamed_size(upload)
        sha256 = uploads.sha256_of(upload)
        existing = self.filter(owner=owner, sha256=sha256).first()
        if existing:
            return existing, False
        probe = uploads.identify(upload)
        asset = Asset(
            owner=owner, kind=probe.kind, source=Asset.Source.UPLOAD, filename=uploads.display_name(upload.name),
            sha256=sha256, mime=probe.mime, bytes=upload.size, width=probe.width, height=probe.height,
            duration=probe.duration,
        )  # fmt: skip
        asset.original.name = original_path(asset, f"upload.{probe.ext}")
        try:
            with transaction.atomic():
                # The row first: it claims (owner, sha256), so the same bytes
                # arriving twice at once wait here for the first one's outcome
                # instead of racing it for the file.
                asset.save()
                wrote = store_once(asset.original.name, upload)
                try:
                    ProcessingJob.objects.schedule_upload(asset)
                except BaseException:
                    # Still inside the transaction, so no twin upload can have taken the file meanwhile.
                    if wrote:
                        default_storage.delete(asset.original.name)
                    raise
        except IntegrityError:
            # The same bytes arrived twice at once and the other request won.
            return self.get(owner=owner, sha256=sha256), False
        return asset, True

    def deletion_summary(self, shown=24):
        """What the confirmation page tells before these assets are deleted."""
        from jobs.models import Output

        outputs = Output.objects.filter(asset__in=self)
        return {
            "count": self.count(),
            "shown": list(self.for_library().order_by("-created_at", "-id")[:shown]),
            "output_count": outputs.count(),
            "pipeline_count": outputs.order_by().values("pipeline").distinct().count(),
        }

    def delete_in_bulk(self):
        """Delete these assets with their processing jobs, and remove them from
        the pipelines they are outputs of; the ids deleted.

        Pipelines keep their steps and costs; their grids lose these tiles.
        One statement per table by subquery (i2v.lib.bulk): no row is loaded
        as a model, no per-row signal is sent, and each owner's lists are
        invalidated once. The files go to the collector, which deletes them
        once nothing references them (another owner's asset may share a
        legacy file), and a collection is asked for at once.
        """
        from jobs.models import Output  # jobs builds on library, not the other way round

        from .collector import collect_soon

        with transaction.atomic():
            # Locked first: a writer about to reference one of them (a generation
            # step that made the same bytes adds an output) waits for this delete,
            # then fails on its own foreign key instead of failing this one.
            rows = list(self.select_for_update().order_by("pk").values_list("pk", "owner_id"))
            if not rows:
                return []
            doomed = self.order_by()
            Tombstone.objects.bury(
                name for original, renditions in doomed.values_list("original", "renditions").iterator(2000)
                for name in stored_names(original, renditions)
            )  # fmt: skip
            delete_rows(Output.objects.filter(asset__in=doomed))
            delete_rows(doomed)
            for owner_id in {owner_id for _, owner_id in rows}:
                bump_on_commit("library", owner_id)
                bump_on_commit("jobs", owner_id)  # generated assets are Jobs covers and output tiles
            transaction.on_commit(collect_soon)
        return [pk for pk, _ in rows]


class Asset(models.Model):
    """Every image or video a user has: uploaded or generated."""

    # Newest first; the id makes the order unique, as keyset pagination needs.
    ORDERING = Ordering("newest", (("created_at", True), ("id", True)))
    # What a Library tile or an API list item shows; the list query loads nothing else.
    LIST_FIELDS = (
        "id", "owner_id", "kind", "source", "original", "filename", "mime", "width", "height",
        "duration", "renditions", "processing_status", "last_error", "created_at", "is_favorite", "is_hidden",
        "thumbhash",  # painted while the rendition loads (static/js/thumbhash.js)
    )  # fmt: skip
    PENDING = ("pending", "processing")

    class Kind(models.TextChoices):
        IMAGE = "image"
        VIDEO = "video"

    class Source(models.TextChoices):
        UPLOAD = "upload"
        GENERATED = "generated"

    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSING = "processing"
        COMPLETE = "complete"
        FAILED = "failed"
        # Imported from i2v as a URL whose bytes are not here yet: a fetch job brings them.
        REMOTE = "remote", "Remote, not fetched yet"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assets")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.IMAGE)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.UPLOAD)
    original = models.FileField(upload_to=original_path, max_length=255)
    filename = models.CharField(max_length=255, blank=True)
    prompt = models.TextField(blank=True)
    # Of the original's bytes; empty (NULL) only while a remote asset waits for its fetch,
    # so (owner, sha256) stays unique where it is known.
    sha256 = models.CharField(max_length=64, null=True, blank=True)
    mime = models.CharField(max_length=64, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    duration = models.FloatField(null=True, blank=True)
    bytes = models.BigIntegerField(default=0)
    exif = models.JSONField(default=dict, blank=True)
    taken_at = models.DateTimeField(null=True, blank=True)
    thumbhash = models.CharField(max_length=64, blank=True)
    # Which renditions exist and where: {"150": {"name": ..., "w": ..., "h": ...}, "300": ..., "600": ...}.
    # Pages build URLs from this field and never ask the storage whether a file exists.
    renditions = models.JSONField(default=dict, blank=True)
    processing_status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    thumbnail_status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    variant_status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Set from the viewer (viewer/): a star, and out of the Library's default view.
    is_favorite = models.BooleanField(default=False, db_default=False)
    is_hidden = models.BooleanField(default=False, db_default=False)
    # Where an imported original lives elsewhere (i2v kept URLs of fal's CDN or R2). While
    # `original` is empty the bytes are only there; a "fetch" ProcessingJob (library/remote.py)
    # stores them and fills sha256, mime and size. Kept afterwards to say where it came from.
    remote_url = models.TextField(blank=True, default="")
    # Lowercased filename and prompt for ?q=. Generated by the database, so every
    # way rows are written (save, bulk_create, update, seed_demo's COPY) keeps it
    # right. (SQLite's lower() folds ASCII only; PostgreSQL folds all of Unicode.)
    search_text = models.GeneratedField(
        expression=Lower(Concat("filename", Value(" "), "prompt", output_field=models.TextField())),
        output_field=models.TextField(),
        db_persist=True,
    )

    objects = AssetQuerySet.as_manager()

    class Meta:
        constraints = [
            # Dedupe: the same bytes are stored once per owner.
            models.UniqueConstraint(fields=["owner", "sha256"], name="asset_owner_sha256_uniq"),
        ]
        # Each list index carries the other filter columns (INCLUDE, PostgreSQL), so any
        # combination of kind, source, status and hidden is checked in the index, never on the
        # table: "kind=video&status=failed" reads the videos' index entries, not their rows.
        indexes = [
            # Library page, newest first, optional date range and other filters:
            # owner=? [AND kind=? AND source=? AND processing_status=?] ORDER BY created_at DESC, id DESC
            models.Index(
                fields=["owner", "-created_at", "-id"], include=["kind", "source", "processing_status", "is_hidden"],
                name="asset_created_list",
            ),
            # Filtered by kind: owner=? AND kind=? [AND source=? AND processing_status=?] ORDER BY created_at DESC, id DESC
            models.Index(
                fields=["owner", "kind", "-created_at", "-id"], include=["source", "processing_status", "is_hidden"],
                name="asset_kind_list",
            ),
            # Filtered by source: owner=? AND source=? [AND kind=? AND processing_status=?] ORDER BY created_at DESC, id DESC
            models.Index(
                fields=["owner", "source", "-created_at", "-id"], include=["kind", "processing_status", "is_hidden"],
                name="asset_source_list",
            ),
            # Filtered by kind and source (the videos uploaded, the images generated):
            # owner=? AND kind=? AND source=? [AND processing_status=?] ORDER BY created_at DESC, id DESC.
            # A pair that matches few or none ("kind=video&source=upload" at a million assets: none)
            # was found by intersecting the two values' GIN entries (6.8 ms) or by walking the 50,000
            # videos' entries; its range here is found empty in 0.1 ms (migration 0014).
            models.Index(
                fields=["owner", "kind", "source", "-created_at", "-id"], include=["processing_status", "is_hidden"],
                name="asset_kind_source_list",
            ),
            # Filtered by processing status (pending and failed are the ones asked for):
            # owner=? AND processing_status=? [AND kind=? AND source=?] ORDER BY created_at DESC, id DESC
            models.Index(
                fields=["owner", "processing_status", "-created_at", "-id"], include=["kind", "source", "is_hidden"],
                name="asset_status_list",
            ),
            # Filtered by kind and a processing status other than complete (the failed videos, the pending
            # images), few: owner=? AND kind=? AND processing_status=? [AND source=?] ORDER BY created_at DESC, id
            # DESC. "kind=video&status=failed" (1,000 of a million assets) walked the videos' entries testing each
            # one's status, 3,018 for a page; here the pair's range holds only them (migration 0026).
            models.Index(
                fields=["owner", "kind", "processing_status", "-created_at", "-id"], include=["source", "is_hidden"],
                name="asset_kind_status_list", condition=~models.Q(processing_status="complete"),
            ),
            # Hidden assets only (few, set from the viewer): owner=? AND is_hidden ORDER BY created_at DESC, id DESC
            models.Index(
                fields=["owner", "-created_at", "-id"], name="asset_hidden_created", condition=models.Q(is_hidden=True)
            ),
            # Favourites only (few, starred by hand in the viewer), hidden or not; the other filters,
            # hidden included, tested on its entries: owner=? AND is_favorite [AND NOT is_hidden AND
            # kind=? AND source=? AND processing_status=?] ORDER BY created_at DESC, id DESC.
            # is_favorite is in its entries too, true in every one: the list's statements select it,
            # and without it each entry's row was read from the table (migration 0021).
            models.Index(
                fields=["owner", "-created_at", "-id"], include=["kind", "source", "processing_status", "is_hidden", "is_favorite"],
                name="asset_favorite_list", condition=models.Q(is_favorite=True),
            ),
            # Favourites of a kind, or in a processing status, counted exactly (fewer than a thousand
            # match) from their range, not from every favourite's entry ("kind=video" among 10,215
            # favourites at a million assets: 516, 1.9 ms of SQL; 0.5 so):
            # owner=? AND is_favorite AND kind=? [AND ...] ORDER BY created_at DESC, id DESC
            models.Index(
                fields=["owner", "kind", "-created_at", "-id"], include=["source", "processing_status", "is_hidden", "is_favorite"],
                name="asset_favorite_kind_list", condition=models.Q(is_favorite=True),
            ),
            # owner=? AND is_favorite AND processing_status=? [AND ...] ORDER BY created_at DESC, id DESC
            models.Index(
                fields=["owner", "processing_status", "-created_at", "-id"], include=["kind", "source", "is_hidden", "is_favorite"],
                name="asset_favorite_status_list", condition=models.Q(is_favorite=True),
            ),
            # (The date range uses asset_created_list; ?q= uses a GIN index of search_text's
            # trigrams with kind, source and status, PostgreSQL only, in migration 0010; with videos
            # or a status other than complete, that value's own, in migration 0015; with the
            # favourites, theirs, in 0022; in 0016, 0019 and 0020, each text's characters, joined
            # words and pairs of characters: i2v/lib/filters.py text_search().)
        ]

    def __str__(self):
        return self.filename or (self.sha256 or "")[:12]

    def toggle(self, field):
        """Flip is_favorite or is_hidden (the save's signal invalidates the owner's lists)."""
        setattr(self, field, not getattr(self, field))
        self.save(update_fields=[field])

    @property
    def is_remote(self):
        """Imported as a URL whose bytes have not been fetched yet."""
        return bool(self.remote_url) and not self.original

    def rendition(self, size):
        return rendition(self.renditions, size)

    @property
    def rendition_300(self):
        return self.rendition(300)

    @property
    def rendition_600(self):
        return self.rendition(600)

    @property
    def srcset(self):
        """srcset of the renditions that exist, for a browser to pick by density."""
        return srcset(sized_renditions(self.renditions))

    @property
    def original_name(self):
        # From the column's value as loaded, not through the FileField's descriptor, which
        # makes a FieldFile of it first: 3 µs, more than the URL (60 tiles a page). Once
        # something has made that file, its name; a deferred column is read as Django reads it.
        original = self.__dict__["original"] if "original" in self.__dict__ else self.original
        return getattr(original, "name", original)

    @property
    def original_url(self):
        name = self.original_name
        return media_url(name) if name else None

    @property
    def is_pending(self):
        return self.processing_status in self.PENDING

    @property
    def status_url(self):
        return reverse("media_processing:api_status", args=[self.id])

    def read_parameters(self):
        """The generation parameters inside this image's file (parameters.parse_text), or None."""
        if self.kind != Asset.Kind.IMAGE or not self.original:
            return None
        try:
            with self.original.open("rb") as f:
                return parameters.read(f)
        except OSError:
            return None  # not in storage (yet): nothing to show, not an error

    def prompt_in_file(self):
        """The prompt an upload's file carries (read_parameters()' positive prompt), for `prompt`, so that
        ?q= finds the upload by it as it finds a generated asset by its own; cut to the length a generated
        asset's may have. "" for one that has a prompt already (typed, or generated: never replaced),
        for a generated asset (its step's prompt is the one), and for a file with none."""
        if self.prompt or self.source != Asset.Source.UPLOAD:
            return ""
        found = self.read_parameters()
        return found["prompt"][:PROMPT_MAX_CHARS].strip() if found else ""

    def as_details(self):
        """GET /api/images/<id>/details: the file, the parameters inside it, and for an
        output, the pipeline, step, model, seed and cost that made it (one query)."""
        from jobs.models import Output  # jobs builds on library, not the other way round

        output = (
            Output.objects.filter(asset=self, owner_id=self.owner_id).select_related("pipeline", "step").order_by("id").first()
        )
        generation = None
        if output is not None:
            step = output.step
            generation = {
                "pipeline_id": output.pipeline_id, "pipeline": output.pipeline.name, "output_id": output.id,
                "step_id": step.id, "kind": step.kind, "model": step.model_name, "prompt": step.prompt,
                "seed": step.config.get("seed") if isinstance(step.config, dict) else None,
                "cost": str(step.cost_actual), "finished_at": instant(step.finished_at),
                "download_url": reverse("downloads:output", args=[output.id]),
            }  # fmt: skip
        return {
            **self.as_list_item(),
            "mime": self.mime, "bytes": self.bytes, "duration": self.duration, "sha256": self.sha256,
            "prompt": self.prompt, "download_url": reverse("downloads:asset", args=[self.id]) if self.original else None,
            "parameters": self.read_parameters(), "generation": generation,
        }  # fmt: skip

    def as_list_item(self):
        """An item of GET /api/library/images: what a grid tile needs, no more. Of an asset
        loaded for_library_text(), the one this process keeps for those values (a copy)."""
        name, stored = self.original_name, self.__dict__.get("renditions_text")
        values = (self.id, self.kind, self.source, self.filename, self.width, self.height)
        status, made = self.processing_status, self.created_at
        if stored is None:
            return _list_item(*values, self.renditions, name, status, made)
        return dict(_kept_list_item(*values, stored, name, status, made, settings.MEDIA_URL))


ITEMS_HELD = 2048  # API list items of about 0.6 KB each, per process


@functools.lru_cache(maxsize=ITEMS_HELD)
def _kept_list_item(id, kind, source, filename, width, height, renditions_text, original, status, created_at, media_url):
    """_list_item() of these values, the renditions as their stored text; made once per process
    for them and for `media_url` (the settings' MEDIA_URL, which the URLs begin with), as
    library/tile.py keeps a tile: 50 items took 0.33 ms to make and their renditions 0.17 to
    decode, where a list rebuilt after a write has most of its items as they were (docs/benchmarks.md,
    "Twenty-fourth pass")."""
    return _list_item(id, kind, source, filename, width, height, loads(renditions_text), original, status, created_at)


def _list_item(id, kind, source, filename, width, height, renditions, original, status, created_at):
    sized = sized_renditions(renditions)  # each built once
    thumb = sized[SIZES.index(300)]
    return {
        "id": id,
        "kind": kind,
        "source": source,
        "filename": filename,
        "width": width,
        "height": height,
        "thumbnail_url": thumb["url"] if thumb else None,
        "srcset": srcset(sized),
        "original_url": media_url(original) if original else None,
        "processing_status": status,
        "created_at": instant(created_at, "seconds"),  # a list item, kept small
    }


class AssetWordPair(models.Model):
    """A pair of adjacent words in an asset's text, kept by PostgreSQL's triggers (library migration 0029) for a
    phrase's walk newest first (AssetQuerySet._word_pair_links()); an empty table on SQLite, whose lists never
    walk it.

    A word is a run of ASCII letters and digits in search_text, and a pair is named by the last three
    characters of one and the first three of the next, hashed as PostgreSQL's hashtext() hashes them ("eon por"
    in "a neon portrait"), for each pair of words of three characters or more. A text holding a searched phrase
    holds the phrase's pairs (i2v/lib/filters.py word_pairs()): a walk along the links of its rarest pair, in the
    list's order, reads only assets that may hold it, each tested whole on its row. "neon portrait", in 0.67 % of a million
    assets spread along the order, had its page walked through 9,101 entries of asset_text_created; its pair's
    links name 61 for that page (docs/benchmarks.md, "Fifty-fifth pass").

    Its primary key is the walk's index (owner, pair, date, asset; read backwards for newest first), its only one,
    its entries holding each link's facets (INCLUDE): a kind, source or status asked for is tested there, before a
    row is read ("neon portrait" with the videos at a million assets: none of its pair's 6,667 links a video's, all
    of them passed over in about a millisecond, where the trigram index's bitmap with the videos' entries took 16 ms;
    migration 0030). The triggers delete an asset's links by their keys, computed again from the asset's text. No
    foreign key constraint: the triggers insert an asset's links with it and delete them with it, and a constraint's check
    would look up the asset again for each of its pairs. Written by no Django code."""

    pk = models.CompositePrimaryKey("owner", "pair", "created_at", "asset")
    asset = models.ForeignKey(Asset, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+")
    pair = models.IntegerField()  # hashtext() of the pair, signed as PostgreSQL's
    created_at = models.DateTimeField()  # the asset's
    # The asset's kind, source and status, numbered (FACETS), in the key's entries (INCLUDE, migration 0030): a
    # walk tests them there before it reads a row.
    facets = models.SmallIntegerField()

    # The values of each of the asset's columns a link's facets number, by their places; a value not listed is
    # numbered past them. Migration 0030's i2v_asset_facets() numbers them the same (a test holds the two to each
    # other); a value added to Asset's choices is added here and there in a migration of its own.
    FACETS = (
        ("kind", ("image", "video")),
        ("source", ("upload", "generated")),
        ("processing_status", ("pending", "processing", "complete", "failed", "remote")),
    )

    @classmethod
    def facets_matching(cls, **wanted):
        """The facets numbers of the links whose asset has the `wanted` values (kind=, source=, processing_status=;
        any value where one is not given), in order."""
        numbers, scale = [0], 1
        for column, values in cls.FACETS:
            value = wanted.get(column)
            places = range(len(values) + 1) if not value else [values.index(value) if value in values else len(values)]
            numbers = [number + scale * place for place in places for number in numbers]
            scale *= len(values) + 1
        return sorted(numbers)


class TombstoneQuerySet(models.QuerySet):
    def bury(self, names, due=None, batch=1000):
        """Hand stored file names to the collector, to be checked and deleted from `due` (default: now).

        A name already buried keeps its earlier date.
        """
        due = due or timezone.now()
        pending = []
        for name in names:
            pending.append(Tombstone(name=name, due_at=due))
            if len(pending) >= batch:
                self.bulk_create(pending, ignore_conflicts=True)
                pending = []
        if pending:
            self.bulk_create(pending, ignore_conflicts=True)

    def due(self, now):
        return self.filter(due_at__lte=now).order_by("due_at", "name")


class Tombstone(models.Model):
    """A stored file that may no longer be referenced by any asset.

    Written when assets are deleted (with the rows, in one transaction; due at
    once) and when the collector's scan finds a file no asset names (due after
    the grace period). The collector deletes the file once it is due and,
    checked again under the tombstone's lock, nothing references it; a writer
    about to use a name deletes its tombstone first (media.reclaim). See
    library/collector.py.
    """

    name = models.CharField(max_length=255, primary_key=True)
    due_at = models.DateTimeField(default=timezone.now)

    objects = TombstoneQuerySet.as_manager()

    class Meta:
        indexes = [
            # The collector's batches: due_at <= ? ORDER BY due_at, name
            models.Index(fields=["due_at", "name"], name="tombstone_due"),
        ]

    def __str__(self):
        return self.name
