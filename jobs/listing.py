"""The Jobs list: its filters, what a row loads, and how a row shows itself.

Kept apart from the pipeline domain (models.py): these decide what the list
queries cost (each filter maps onto an index named in Pipeline.Meta) and how
small a row is, not what a pipeline does.
"""

import datetime

from django.apps import apps
from django.conf import settings
from django.db import connections, models
from django.db.models import Exists, OuterRef, Q, Subquery, Value
from django.db.models.functions import Concat
from django.http import Http404

from i2v.lib.compiled import rows_by_keys
from i2v.lib.filters import IndexedCondition, created_between, short_range, signature, text_in_range, utc_days
from i2v.lib.ids import is_plausible_id
from i2v.lib.jsonout import instant
from i2v.lib.money import cents
from i2v.lib.pagination import DateRuns, list_page, planner_rows, reused
from i2v.lib.watch import changes
from library.models import rendition


def _model(name):
    return apps.get_model("jobs", name)


def bare(pipelines):
    """A pipeline as its owner's check and its id need it, and no more."""
    return pipelines.only("id", "owner_id")


def owned_pipeline(user, pipeline_id, rows):
    """The user's pipeline `pipeline_id` as `rows(queryset)` reads it (bare(); with_tags() for a
    detail; for_jobs_page() for a Jobs row), else Http404. Every detail, and every action that
    redraws a row, reads one, so its SQL is compiled once (i2v/lib/compiled.py): the ORM built and
    compiled a row's query in more CPU than PostgreSQL took to run it."""
    Pipeline = _model("Pipeline")
    found = rows_by_keys(Pipeline, rows, None, [pipeline_id], Pipeline.objects.db) if is_plausible_id(pipeline_id) else []
    if not found or found[0].owner_id != user.pk:
        raise Http404("No such pipeline.")
    return found[0]


class TagList(models.Aggregate):
    """'id:name:colour' of every tag, comma-joined, in one column.

    Tags ride along in the list query itself instead of a prefetch query; names
    are [a-z0-9-] and colours hex, so ',' and ':' can't appear inside a value.
    """

    function = "STRING_AGG"
    template = "%(function)s(%(expressions)s, ',')"
    output_field = models.TextField()

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, function="GROUP_CONCAT", **extra)


class TagNamesContain(IndexedCondition):
    """tag_names @> ARRAY[name]: the pipeline has this tag (a column migration 0009 adds and
    triggers keep, so no model field), as the GIN indexes read it; a walk tests `name = ANY`
    of the array, the same for one name and under half the cost (pagination.walking). The name is
    a literal, so the planner reads its frequency from the column's statistics."""

    column = "tag_names"
    sql = "{column} @> ARRAY[{values}]::text[]"
    walked = "{values} = ANY({column})"


class PipelineListQuerySet(models.QuerySet):
    def filtered(self, *, status="", tag="", favorites=False, hidden="", q="", date_from=None, date_to=None, model=""):
        """The Jobs page filters. Each maps onto an index named in Pipeline.Meta.indexes."""
        qs = self
        if hidden == "only":
            qs = qs.filter(is_hidden=True)
        elif hidden != "include":
            qs = qs.filter(is_hidden=False)
        elif (q or tag) and connections[self.db].vendor == "postgresql":
            # The text and tag indexes are partial, visible and hidden (jobs migration 0013):
            # both, ORed, serve everything when the condition names both halves.
            qs = qs.filter(Q(is_hidden=True) | Q(is_hidden=False))
        if status:
            qs = qs.filter(status=status)
        if favorites:
            qs = qs.filter(is_favorite=True)
        if model:
            qs = qs.filter(model=model)
        if tag:
            qs = qs.filter(self._tagged(tag))
        return text_in_range(qs, q, date_from, date_to)

    def _tagged(self, name):
        """The tag filter. PostgreSQL has each pipeline's tag names in an array (jobs
        migration 0010), in the GIN indexes of the text, status and model (migration 0013),
        which intersect them as they are read, estimated from the array's statistics.
        Elsewhere, through the link table."""
        if connections[self.db].vendor == "postgresql":
            return TagNamesContain(name)
        PipelineTag = _model("PipelineTag")
        return Exists(PipelineTag.objects.filter(pipeline=OuterRef("pk"), tag__owner=OuterRef("owner"), tag__name=name))

    def for_jobs_page(self):
        """Rows for the Jobs list: only the columns a row shows (the counts of steps and
        outputs among them), first thumbnail and tags as subqueries evaluated for the page's rows only."""
        Output = _model("Output")
        first_output = Output.objects.filter(pipeline=OuterRef("pk")).order_by("position", "id")
        return self.only(*self.model.LIST_FIELDS).with_tags().annotate(
            cover_renditions=Subquery(first_output.values("asset__renditions")[:1]),
            cover_kind=Subquery(first_output.values("asset__kind")[:1]),
        )

    def with_tags(self):
        """Annotate tag_data ('id:name:colour,...') so tags cost no extra query."""
        PipelineTag = _model("PipelineTag")
        return self.annotate(
            tag_data=Subquery(
                PipelineTag.objects.filter(pipeline=OuterRef("pk"))
                .order_by()
                .values("pipeline")
                .annotate(s=TagList(Concat("tag_id", Value(":"), "tag__name", Value(":"), "tag__colour")))
                .values("s")
            )
        )

    def changed_rows(self, watched):
        """(rows to redraw, ids gone) of the Jobs rows a page watches, {id: version}.

        Two queries whatever the number of ids: the versions, then the full rows
        of the changed ones only (none when nothing changed)."""
        current = {pk: row_version(at) for pk, at in self.filter(pk__in=watched).values_list("pk", "updated_at")}
        changed, gone = changes(watched, current)
        return (list(self.for_jobs_page().filter(pk__in=changed)) if changed else []), gone

    def newer_count(self, filters, top, most):
        """How many of the Jobs rows `filters` narrow to come before `top` newest first (a row's key:
        created_at, id; None: every one), up to `most` (jobs/newer.py). One statement, a COUNT of a LIMIT:
        `top` is one row comparison (Ordering.after()), a range of the list indexes (owner, created_at, id;
        Pipeline.Meta) that holds only the rows made since, and the LIMIT stops the count at `most`."""
        rows = self.filtered(**filters)
        if top is not None:
            rows = rows.filter(_model("Pipeline").ORDERINGS["newest"].reversed().after(top))
        return rows.order_by()[:most].count()

    def jobs_list(self, owner_id, filters, ordering, cursor, page_size):
        """(page, total) of `owner_id`'s Jobs list, for its page and GET /api/pipelines
        (whatever this queryset's own filters: the list is its owner's).

        The total is counted only for a first page: later pages of an infinite
        scroll don't show it, so they don't pay for it (list_page()). The querysets of the
        owner's filters and order are this process's of the last minute where it has them (reused()).
        """
        mine = self.model._default_manager.db_manager(self.db)
        built = lambda: mine.filter(owner_id=owner_id)._listed(owner_id, filters, ordering)  # noqa: E731
        pipelines, days, among, tested, in_order = reused(("jobs", owner_id, self.db, ordering.name), filters, built)
        rows = PipelineListQuerySet.for_jobs_page
        if days:
            return list_page(pipelines, rows, ordering, cursor, page_size, days=days, among=among)
        return list_page(pipelines, rows, ordering, cursor, page_size, among=among, tested=tested, among_in_order=in_order)

    def _listed(self, owner_id, filters, ordering):
        """(the list's rows, the days of a merged first page or None, among, tested, among_in_order)
        of list_page(): this queryset's narrowed by `filters`, in `ordering`."""
        if days := self._days(filters, ordering):
            return self.filtered(**filters), days, self.filtered(hidden=filters.get("hidden", "")), None, True
        pipelines = self.filtered(**filters)
        among, tested, in_order = self._walked(owner_id, filters, ordering)
        # By cost, or along a tag's links, each row walked is read by its key, from a page of its own.
        q, scattered = filters.get("q", ""), ordering.name == "cost" or among.model is not self.model
        if _signed(filters, ordering, among, in_order) and (text := signature(pipelines, among, q, scattered)) is not None:
            if among.model is self.model:
                tested = (among if tested is None else tested).filter(text)
            else:  # a tag's links: their indexes' entries hold it (jobs migration 0035)
                among = among.filter(text)
        return pipelines, None, among, tested, in_order

    def _days(self, filters, ordering):
        """The days (DateRuns) of a first page merged from each day's (first_page(days=)), or None.

        A date range sorted by cost with no other filter than which hidden ones show: jobs
        migration 0015's index holds each day's pipelines in cost order, with what those
        filters test. Not with hidden=only (the hidden are few: each day's page would read
        the day) nor with another filter (the list indexes serve those), nor past MERGED_DAYS.
        The owner's pipelines by cost (which hidden ones show: pipe_cost_cover holds their dates) are
        the page's `among`, walked for it first where the range holds many of them (first_page())."""
        if any(value for name, value in filters.items() if name not in {"date_from", "date_to", "hidden"}):
            return None
        return self._day_runs(filters, ordering, MERGED_DAYS)

    def _day_runs(self, filters, ordering, most):
        """The UTC days (DateRuns) of the date range of `filters` sorted by cost, when it spans no more
        than `most` days and doesn't ask for the hidden pipelines alone (PostgreSQL), or None:
        jobs migration 0015's index reads each of them in cost order. The days are UTC's, as the
        index's: those the range's instants fall on (utc_days()), a day more than the range's in a
        time zone other than UTC; the range's own bounds still apply."""
        date_from, date_to = filters.get("date_from"), filters.get("date_to")
        if ordering.name != "cost" or not (date_from and date_to) or filters.get("hidden") == "only":
            return None
        if connections[self.db].vendor != "postgresql" or (date_to - date_from).days > most:
            return None
        days = utc_days(date_from, date_to)
        return DateRuns(*days) if days else None

    def _walked_runs(self, filters, ordering):
        """The runs (DateRuns) of a range sorted by cost with no filter but a text and which hidden ones
        show, walked merged (_walked()): its UTC days, up to WALKED_DAYS (jobs migration 0015's index),
        else the UTC months they lie in, up to WALKED_MONTHS (0034's); or None. A month's pipelines with
        "sailboat", walked along the owner's cost order testing the month on each, read 14,102 entries
        for a page at a million pipelines (5.7 ms); along June's run of 0034, 24 (0.4 ms)."""
        days = self._day_runs(filters, ordering, MERGED_DAYS)
        if days is None or (filters["date_to"] - filters["date_from"]).days <= WALKED_DAYS:
            return days
        months = DateRuns(days.first, days.last, months=True)
        return months if len(months) <= WALKED_MONTHS else None

    def _walked(self, owner_id, filters, ordering):
        """(among, tested, among_in_order) of a first page's bounded walk (first_page()).

        among: the rows the walk reads, the owner's narrowed only by filters one index
        serves in this order, so that every entry the walk reads is one of them (status
        with hidden or not, or favourites: Pipeline.Meta's list indexes, newest or oldest
        first), and the date range, which those indexes read in order. Narrowing by two,
        or by a filter the order's index doesn't lead with, makes the planner sort them
        all (measured: favourites with hidden=only 148 ms where the owner's rows take 8 ms).
        Sorted by cost or name, among is a short date range (short_range()) if one is
        given, read whole and sorted (among_in_order False): a week's 9,200 index entries
        cost 3 ms, where the order's index meets them only as far down as their costs
        lie, and a word in that week was fetched by testing the week's rows (4.5 ms). By
        cost with no filter but the word (and which hidden ones show), a range is read in
        order instead, each of its days or months merged (a DateRuns, _walked_runs()): a page
        of a week's pipelines with "sailboat" read 807 of its 9,134 entries, not all of them
        sorted (1.4 ms against 7.4, at a million pipelines). Otherwise, sorted by cost with a
        status, among is that status's pipelines, which
        jobs migration 0016's index (PostgreSQL) reads in cost order: pending ones with a
        word were fetched through the word's index and sorted, 6.7 ms at a million pipelines; with
        hidden=only or favourites, the hidden ones or the visible favourites (0031): _cost_leading().

        tested: among narrowed by every filter whose column each of those indexes holds
        (status, model, favourites, hidden, the dates, and the tag: migration 0014), tested
        on the index's entries before a row is read (walked_keys()); None when that leaves
        out no more than the hidden pipelines, too few to pay for reading the others' rows
        one key at a time, unless among is sorted whole: then what is sorted must be the
        index's entries, never the rows.

        With a tag and a text, by date or by cost, among may be the tag's links instead (_tag_links())."""
        hidden = filters.get("hidden", "")
        dates = {"date_from": filters.get("date_from"), "date_to": filters.get("date_to")}
        held = {
            "status": filters.get("status", ""), "favorites": bool(filters.get("favorites")),
            "model": filters.get("model", ""), "tag": filters.get("tag", ""), **dates,
        }  # fmt: skip
        if ordering.fields[0][0] == "created_at":
            leading = {"status": held["status"]} if held["status"] else {"favorites": held["favorites"] and not hidden}
            narrowing = {"hidden": hidden, **leading, **dates}
            among = self.filtered(**narrowing)
            if not any(value and not narrowing.get(name) for name, value in held.items()):
                return among, None, True
            if filters.get("q") and held["tag"] and (links := self._tag_links(owner_id, held["tag"], among, dates)) is not None:
                return links, None, True
            return among, self.filtered(hidden=hidden, **held), True
        ranged = self.filtered(hidden=hidden, **dates)
        alone = not any(value for name, value in held.items() if name not in dates)
        if alone and (runs := self._walked_runs(filters, ordering)) is not None:
            return ranged, self.filtered(hidden=hidden, **held), runs
        if any(dates.values()) and short_range(ranged):
            return ranged, self.filtered(hidden=hidden, **held), False
        leading = _cost_leading(hidden, held) if ordering.name == "cost" else None
        if ordering.name == "cost" and filters.get("q") and held["tag"]:
            among = self.filtered(hidden=hidden, **(leading or {}))
            if (links := self._tag_links(owner_id, held["tag"], among, dates)) is not None:
                return links, None, True
        if leading is not None:
            among = self.filtered(hidden=hidden, **leading)
            others = any(value for name, value in held.items() if name not in leading)
            return among, (self.filtered(hidden=hidden, **held) if others else None), True
        return self, (self.filtered(hidden=hidden, **held) if any(held.values()) or hidden == "only" else None), True

    def _tag_links(self, owner_id, tag, among, dates):
        """The links of the owner's tag `tag` made on `dates` (PostgreSQL), each with its pipeline's
        created_at (jobs migration 0027) and cost (0035), for a walk by date or by cost
        (walked_keys()) instead of `among`, where the tag's pipelines are no more than a
        TAG_LINKS_RATIO-th of among's (two EXPLAINs, reused a minute); otherwise None.

        Walked with a text, among's entries are read and their tags tested on each (0.47 µs an entry
        at a million pipelines), then the rows of the tagged ones for the text (3.1 µs each); the
        tag's links name only tagged pipelines, each read with its row (about 4.5 µs a link). So the
        links cost less wherever a tenth of among or less is tagged, whatever the other filters:
        "4k" with "sailboat", 5% of the pipelines, read 312 links for a page where among's walk
        read 5,994 entries and 290 rows (docs/benchmarks.md, "Thirty-seventh pass"). The links'
        indexes hold the text's signature too, tested on their entries before a row is read
        (_listed()): by cost, 10,678 entries of the owner's cost order had been read for that page
        where 521 links are. The links hold the hidden pipelines too: with hidden=only, the few
        hidden ones are the shorter walk.

        The tag is named by its id's subquery, never resolved ahead: the queryset is reused a
        minute (reused()), and a tag deleted and made again meanwhile has another id. The planner
        then estimates the links as an average tag's, which only sets how far the walk goes."""
        if connections[self.db].vendor != "postgresql":
            return None
        tagged = planner_rows(self.filtered(hidden="include", tag=tag, **dates), reuse=True)
        if tagged * TAG_LINKS_RATIO > planner_rows(among, reuse=True):
            return None
        tag_id = Subquery(_model("Tag").objects.filter(owner_id=owner_id, name=tag).order_by().values("id"))
        links = _model("PipelineTag").objects.using(self.db).filter(tag_id=tag_id)
        return created_between(links, dates["date_from"], dates["date_to"])


def _cost_leading(hidden, held):
    """The filter whose own index holds its pipelines by cost (PostgreSQL), for a walk by cost of those alone, or
    None: a status (jobs migration 0016), else the hidden ones, else the visible favourites (0031): few of the
    owner's, met on the owner's cost index only as often as they are common (hidden ones, 5 % of them, with
    "sailboat": 13,372 entries tested for a page, where their own index holds 656)."""
    if held["status"]:
        return {"status": held["status"]}
    if hidden == "only":
        return {}
    if held["favorites"] and not hidden:
        return {"favorites": True}
    return None


def _signed(filters, ordering, among, in_order):
    """Whether a walk of `among` in `ordering` reads an index that holds the rows' text signatures
    (jobs migrations 0028 and 0032), for a text to be tested on its entries (i2v/lib/filters.py signature()):
    a tag's links (0035); by cost, the owner's pipelines, hidden or not, the hidden ones or the visible favourites,
    or a short range's days merged (0033); by date, the visible ones. Not among a status's, the favourites' by date
    (their own indexes), or a short range read whole."""
    if among.model is _model("PipelineTag"):
        return True  # pipetag_tag_cost and pipetag_tag_created hold it
    if among.model is not _model("Pipeline"):
        return False
    if isinstance(in_order, DateRuns):
        return ordering.name == "cost"
    if in_order is not True:
        return False
    if ordering.name == "cost":
        return not filters.get("status")
    return ordering.fields[0][0] == "created_at" and not (filters.get("status") or filters.get("favorites") or filters.get("hidden"))


# A tag's links are walked where its pipelines are no more than a TAG_LINKS_RATIO-th of the rows
# the walk would otherwise read (_tag_links()).
TAG_LINKS_RATIO = 10

# A range of up to this many days sorted by cost is merged from each day's page (_days()):
# a page from each of a year's days: 11 ms at a million pipelines (measured with 367, a day more on each side), of
# 1,000 days 26 ms (docs/benchmarks.md).
MERGED_DAYS = 750
# A short range sorted by cost of up to this many days is walked through each day's index run,
# merged (_walked()): the planner plans each day as a query of its own, 0.13 ms a day, so that
# a longer range costs more planned than its walk spares (a month: 4.2 ms; its word's matches
# fetched took 4.9-10.6 ms, merged 10.2-12.5; docs/benchmarks.md).
WALKED_DAYS = 14
# A longer range sorted by cost that lies in up to this many months is walked through each month's run of
# jobs migration 0034's index, merged (_walked_runs()): a run for each, planned as for the days.
WALKED_MONTHS = 3

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def row_version(updated_at):
    """A row's version for the page's live updates (i2v/lib/watch.py): updated_at in
    microseconds, which every change a row shows moves (status, progress, edits)."""
    return str((updated_at - _EPOCH) // datetime.timedelta(microseconds=1))


class PipelineRow:
    """How a pipeline shows itself in a list row and a list item of the API."""

    @property
    def cost_label(self):
        """The cost as a row and the pipeline's page show it: to the cent (i2v/lib/money.py)."""
        return cents(self.total_cost)

    @property
    def model_label(self):
        return settings.GENERATION_MODELS.get(self.model, {}).get("label", self.model)

    @property
    def tag_chips(self):
        """Tags of a list row, decoded from the tag_data annotation (sorted by name)."""
        data = self.tag_data  # from with_tags(): a row loaded without it is a bug, not a query
        if not data:
            return []
        chips = []
        for item in data.split(","):
            tag_id, name, colour = item.split(":")
            chips.append({"id": int(tag_id), "name": name, "colour": colour})
        return sorted(chips, key=lambda c: c["name"])

    @property
    def version(self):
        return row_version(self.updated_at)

    @property
    def cover(self):
        return rendition(getattr(self, "cover_renditions", None), 150)

    def as_summary(self):
        """A list item of GET /api/pipelines, under 300 bytes (20 must fit in 6 KB).

        Prompts, description and the hidden flag are in the detail; ?hidden=only
        lists the hidden ones.
        """
        cover = self.cover
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "model": self.model,
            "cost": str(self.total_cost),
            "created_at": instant(self.created_at, "seconds"),  # 20 summaries fit in 6 KB
            "is_favorite": self.is_favorite,
            "step_count": self.step_count,
            "output_count": self.output_count,
            "thumbnail_url": cover["url"] if cover else None,
            "tags": [t["name"] for t in self.tag_chips],
        }
