"""Filters that the Jobs and Library lists share."""

import datetime
import re

from django.db import connections, models
from django.db.models.functions import Collate
from django.utils import timezone

from .migrations import JOINED_TYPOGRAPHY, PAIRS_APART, character_pairs, joined_text, typography_letter
from .pagination import WALK_ABOVE, estimating, planner_rows, walking
from .pghash import hashtext

# A date range of up to this many rows (the planner's estimate) is short: read row by
# row, its rows sit side by side in the table (short_range()).
SHORT_RANGE = 20_000


def _start_of(day):
    """The first instant of `day`, or None when it lies past what a datetime holds.

    date.max + 1 day, or the first instant of 0001-01-01 in a zone east of UTC,
    overflows; such a bound excludes nothing that can be stored, so it is dropped.
    """
    try:
        return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
    except OverflowError:
        return None


def _day_after(day):
    return day + datetime.timedelta(days=1) if day < datetime.date.max else None


def _bounds(date_from, date_to):
    """(the first instant of date_from, the first after date_to), each None when its day is
    None or lies past what a datetime holds."""
    after = _day_after(date_to) if date_to else None
    return (_start_of(date_from) if date_from else None), (_start_of(after) if after else None)


def utc_days(date_from, date_to):
    """(first, last) UTC day of the instants of date_from .. date_to (both days included, in the
    current time zone, as created_between() reads them), or None when a bound lies past what a
    datetime holds: the days of an index keyed by the UTC day (jobs migration 0015) that hold
    the range's rows."""
    start, end = _bounds(date_from, date_to)
    if start is None or end is None:
        return None
    try:  # 0001-01-01 east of UTC is a day before the first a date holds
        return start.astimezone(datetime.UTC).date(), (end - datetime.timedelta(microseconds=1)).astimezone(datetime.UTC).date()
    except OverflowError:
        return None


def created_between(queryset, date_from=None, date_to=None):
    """Rows created on date_from .. date_to, both days included.

    Compares the column with instants, not DATE(created_at), so the
    (owner, created_at) indexes still serve the range.
    """
    start, end = _bounds(date_from, date_to)
    if start:
        queryset = queryset.filter(created_at__gte=start)
    if end:
        queryset = queryset.filter(created_at__lt=end)
    return queryset


def short_range(ranged):
    """Whether `ranged`, rows narrowed by a date range (created_between()), holds no more
    than SHORT_RANGE rows by the planner's estimate (PostgreSQL; one EXPLAIN, reused).

    A short range is cheaper read whole than through another index: its text tested on
    each of its rows (text_in_range()), its index entries sorted for an order no index
    reads it in (the Jobs list's walks, jobs/listing.py)."""
    return connections[ranged.db].vendor == "postgresql" and planner_rows(ranged, reuse=True) <= SHORT_RANGE


# A word as pg_trgm reads one: a run of letters and digits.
_WORD = re.compile(r"[^\W_]+")

# A word of the text whose matches the planner estimates at no more than this is rare enough
# to be the trigram index's only condition (text_search()): at most this many rows to test.
RARE_WORD = 1000
# The longest words of a text that are weighed for that, one EXPLAIN each (reused a minute).
WORDS_WEIGHED = 3


def text_search(queryset, q):
    """Rows whose lowercased search_text contains q.

    search_text is kept lowercased, so a plain LIKE matches whatever case was
    typed and can use the trigram index on PostgreSQL.

    The trigram index finds the rows that hold every trigram of the text, and for each
    row one of them offers it must look up every other, however common: "img_00012" is
    "img" and "00012" (pg_trgm splits words at what is not a letter or a digit), and the
    five trigrams of "img" and of the digits' leading blanks are in all of a million file
    names, so the 113 rows "000", "001" and "012" agree on cost 1,201 index pages, 7.3 ms;
    "00012" alone reads 52, 0.7 ms. So, on PostgreSQL, when a word of a text of several
    is rare (_rare_word()), that word alone is the index's condition and the whole text
    is tested on the rows it finds, in the "C" collation that the index can't serve (as
    text_in_range() does).

    A text of one or two letters or digits ("4k") gives pg_trgm no trigram to look up in
    "contains": finding that nothing matches meant reading every row, 180-310 ms at a
    million. Such a text is looked for where it starts a word (word_start()), which gives
    the index the trigrams of the word's start: 2-4 ms (_needs_word_start() says which).
    Any other text without a trigram ("%", "x.", "中文", "é": _trigramless()) the index
    could only answer by reading all of itself and then every row it names (0.4-0.5 s at a
    million assets, 2.7 s with a status beside it): on PostgreSQL it is tested on the rows
    the other filters' indexes find instead (_tested_on_rows()), found anywhere as before,
    and first narrowed to the rows holding each of its pairs of characters (or its one
    character) where those are rare (_holding_pieces()). So is a text whose words are single
    letters or digits ("-a", "(a", "a b", "1 2": _single_letters()) where its pairs are rare:
    pg_trgm's only trigrams of such a text are its words' starts ("  a"), and the trigram index
    offered every row that has them, in most rows for a common initial (0.66-0.79 s for "-a"
    at a million pipelines or assets; 1.5-2.4 ms through its characters, and "1 2" 0.61-0.63 s
    where its characters were too common, 28-30 ms through its pairs). So is a text holding a
    character neither text index reads (_unread(): "neon→portrait"), where few rows hold
    those, when none of its words is rare.
    """
    if not q:
        return queryset
    q = q.lower()
    if _needs_word_start(q):
        return queryset.filter(search_text__regex=word_start(q))
    postgresql = connections[queryset.db].vendor == "postgresql"
    if postgresql and _trigramless(q):
        # Joined, three marks or more are a word of letters (", , ,": "ᐌᐌᐌ"), found in few rows.
        joined = _where_words_meet(queryset, q) if _joins_words(q) else None
        if joined is not None:
            return joined
        narrowed = _holding_pieces(queryset, q)
        return _tested_on_rows(queryset if narrowed is None else narrowed, q)
    if postgresql and _single_letters(q) and (holding := _holding_pieces(queryset, q)) is not None:
        return _tested_on_rows(holding, q)
    rare = _rare_word(queryset, q)
    if rare is not None:
        return _tested_on_rows(queryset.filter(search_text__contains=rare), q)
    unread = _unread(q) if postgresql else ""
    if unread and (holding := _holding(queryset, HoldsCharacters(unread))) is not None:
        return _tested_on_rows(holding, q)
    found = queryset.filter(search_text__contains=q)
    if not postgresql:
        return found
    # Not for a phrase the planner expects past WALK_ABOVE: its page is the planner's LIMIT, and the
    # joined condition's estimate, multiplied with the phrase's, would lead it to fetch and sort every
    # row the joined index finds instead of walking the order's index.
    if _joins_words(q) and planner_rows(found, reuse=True) <= WALK_ABOVE:
        joined = _where_words_meet(queryset, q)
        if joined is not None:
            return joined
    return found


def _where_words_meet(queryset, q):
    """`queryset`'s rows whose text holds `q`, found where `q`'s words meet: those whose text joined
    holds `q` joined (JoinedWordsContain), `q` tested on each; where the planner puts those at no
    more than RARE_WORD (one EXPLAIN, reused a minute), else None.

    Every row the joined text is in is rechecked with the index's expression, matches or not:
    joined, "sail boat" is "sailboat", in 70,703 of a million pipelines (870 ms, none a match),
    where the trigram index reads the phrase's words' ends ("sail" then a word starting "boat":
    27 ms).

    `q` is tested on the rows the joined index finds (_tested_on_rows()): offered to its trigram
    index as well, the planner may intersect that index's bitmap, every row holding the words,
    with the joined one's ("neon portrait" at a million pipelines: 71,302 rows' bitmap ANDed,
    109 ms; 20 without). The joined condition is implied, left out of the lists' estimates: the
    planner takes it for independent of `q`, which implies it, and multiplied, put "neon portrait"
    (5,178 in a million pipelines, 6,667 in as many assets) at 1: a fetch, a thousand rows read
    before the page was walked for, where the estimate of `q` alone walks at once (a page in 9,000
    assets, 7-14 ms), or fetches where its matches are rarer."""
    if planner_rows(queryset.filter(JoinedWordsContain(q)), reuse=True) > RARE_WORD:
        return None
    return _tested_on_rows(queryset.filter(JoinedWordsContain(q, implied=True)), q)


class IndexedCondition(models.Expression):
    """A condition on a column of the row's own table (PostgreSQL only) in SQL the ORM has no
    lookup for, written as an index on an expression of that column reads it: `sql` names the
    column {column}, and {values} stands for the values it compares (params, literals to the
    planner, which reads how common each is from the column's or the index's statistics).

    `implied`: another condition of the queryset implies this one, there for an index to find
    the rows by: the planner's estimates of the lists leave it out (pagination.estimating).
    `walked`, where given: the same condition as a walk tests it on each entry or row it reads,
    where no index serves it and this is cheaper (pagination.walking)."""

    output_field = models.BooleanField()
    column = "search_text"
    sql = ""
    walked = ""

    def __init__(self, *values, implied=False):
        super().__init__()
        self.values = list(values)
        self.implied = implied

    def params(self, connection):
        return self.values

    def as_sql(self, compiler, connection):
        if self.implied and estimating.get():
            return "TRUE", []
        table = compiler.quote_name_unless_alias(compiler.query.get_initial_alias())
        column = f"{table}.{connection.ops.quote_name(self.column)}"  # quoted as the ORM's own conditions name it
        return self.template(column, ", ".join(["%s"] * len(self.values))), self.params(connection)

    def template(self, column, values):
        return (self.walked if self.walked and walking.get() else self.sql).format(column=column, values=values)


# The text of joined words (jobs migration 0025, library 0019: JOINED_TYPOGRAPHY, joined_text()): ASCII
# whitespace dropped, each ASCII punctuation mark made a letter of its own, and every space and punctuation
# mark of typography (the no-break and ideographic spaces, dashes, curly quotes, "…", guillemets, bullets,
# CJK's punctuation: what a prompt pasted from a document or written by a language model holds) made one
# letter more; all else as it is.
SPACES, PUNCTUATION, TYPOGRAPHY = JOINED_TYPOGRAPHY
MARKS = {
    **{mark: chr(0x1401 + place) for place, mark in enumerate(PUNCTUATION)},
    **dict.fromkeys(TYPOGRAPHY, typography_letter(PUNCTUATION)),
}
_JOINED = str.maketrans({**dict.fromkeys(SPACES), **MARKS})


def _joins_words(q):
    """Whether `q` joined (joined()) has a trigram across where a space or a punctuation mark was: "a
    sailboat", "portrait, neon", "neon-alley", "a.b", "neon—portrait"; not "a b" or "-a". Python's idea
    of a letter is close to PostgreSQL's, and only decides whether the joined condition is added."""
    return any(len(word) >= 3 for word in set(_WORD.findall(joined(q))) - set(_WORD.findall(q)))


def joined(q):
    """`q` joined as joined_sql() joins a row's text: the same characters dropped and made the same
    letters (a test compares the two)."""
    return q.translate(_JOINED)


def joined_sql(expression):
    """SQL of `expression` (text) joined: each of SPACES dropped and each of MARKS made its letter
    (joined_text(), which says what that costs a row), written for a statement formatted with its
    params (a literal "%" is "%%"). What the index of joined words indexes (its migration writes it
    so), what JoinedWordsContain compares, and what a row found through that index is rechecked with."""
    return joined_text(expression, *JOINED_TYPOGRAPHY, quote=_literal)


def _literal(text):
    return "'" + text.replace("'", "''").replace("%", "%%") + "'"


class JoinedWordsContain(IndexedCondition):
    """The row's text joined (joined_sql()) holds the phrase joined (joined()), as the trigram index of
    the joined text reads it (jobs migration 0025, library 0019).

    pg_trgm reads a text's words apart, whatever parts them, so the trigram index offers every
    row that holds a phrase's words anywhere, each rechecked on the table ("a sailboat" at a
    million pipelines: 67,158 rows rechecked, none there, 223 ms; "portrait, neon" 240;
    "neon-alley" 260, every "neon alley" offered; "neon — portrait" 227, every row with an em dash
    among them). Joined, a text is one word whose trigrams span where its spaces were ("asailboat":
    "asa") and its punctuation marks, each as the letter it is made ("neonᐍalley"): found where the
    words meet, 1 ms. Dropping or replacing characters one by one keeps a substring a substring, so a
    row whose text holds the phrase holds it joined: this drops no match, and the phrase itself is
    still tested. The phrase is joined here, a constant for the planner; "%", "_" and "\\" are among
    the marks, so the joined phrase has no wildcard of LIKE's."""

    def __init__(self, q, implied=False):
        super().__init__(joined(q), implied=implied)

    def template(self, column, values):
        return f"{joined_sql(column)} LIKE '%%' || {values} || '%%'"


class TextSignature(IndexedCondition):
    """The row's signature holds every bit of the searched text's (signature_words()), or the row has none
    yet (written before library migration 0028's or jobs 0032's trigger, not yet backfilled).

    Implied by the text itself, a filter for a walk to test on an index's entries before it reads their
    rows (asset_text_created, asset_status_list, asset_kind_status_list, pipe_text_visible, pipe_text_cost,
    pipe_hidden_cost, pipe_favorite_cost): a row that holds the text holds its trigrams and its adjacent
    words. The lists' estimates leave it out. Each word is tested as integers are, where the bit string it
    replaced was copied and compared a row at a time ("neon portrait" at a million assets: 9,101 entries
    tested in 0.31 ms less), and its bits are constants the planner reads (pghash.py)."""

    def __init__(self, words):
        super().__init__(*words, implied=True)

    def as_sql(self, compiler, connection):
        # The words with a bit set, each a literal (quoted: -2**63 unquoted is no bigint); 0 holds in every row. The
        # word that fewest rows pass is tested first: an entry fails at its first test all but a few times in a hundred
        # ("neon portrait" at a million assets: a word of five bits, then one of three, before the single bits; the
        # walk's statement 2.07 -> 1.98 ms, medians of 15 interleaved).
        tested = [(f"search_sig{n}", f"'{int(word)}'::bigint") for n, word in sorted(enumerate(self.values), key=_passing) if word]
        if estimating.get() or not tested:
            return "TRUE", []
        table = compiler.quote_name_unless_alias(compiler.query.get_initial_alias())
        held = " AND ".join(f"({table}.{connection.ops.quote_name(name)} & {word}) = {word}" for name, word in tested)
        return f"({table}.{connection.ops.quote_name('search_sig0')} IS NULL OR ({held}))", []


# A row's signature (i2v/lib/migrations.py SEARCH_WORDS): six 64-bit words, the first four a bit for each
# trigram pg_trgm reads in its text, the last two two bits for each pair of adjacent words (the last two
# letters or digits of one, the first of the next: "on p" in "neon portrait").
SIGNATURE_WORDS = 6
TRIGRAM_BITS = 256
PAIR_BITS = 128


def _passing(numbered):
    """About the share of rows that hold every bit set in a (number, word) of signature_words(): a trigram's
    bit is set in about a quarter of the rows (a fourth of the Library's, two fifths of the pipelines', whose
    texts are longer), a pair of adjacent words' in about a sixth (a quarter)."""
    number, word = numbered
    bits = bin(word % (1 << 64)).count("1")
    return (TRIGRAM_SHARE if number * 64 < TRIGRAM_BITS else PAIR_SHARE) ** bits


# The share of rows with a given bit of the signature set (_passing()), measured on the million rows' words.
TRIGRAM_SHARE = 0.3
PAIR_SHARE = 0.2


def signature_words(q):
    """The six words (signed 64-bit integers, as the columns hold them) of the bits every text holding `q`
    (lowercased) has set: those of signature_trigrams() and adjacent_words(), placed as SEARCH_WORDS places
    them."""
    bits = {hashtext(trigram) % TRIGRAM_BITS for trigram in signature_trigrams(q)}
    for pair in adjacent_words(q):
        hashed = hashtext(pair)
        bits |= {TRIGRAM_BITS + hashed % PAIR_BITS, TRIGRAM_BITS + (hashed >> 8) % PAIR_BITS}
    words = [0] * SIGNATURE_WORDS
    for bit in bits:
        words[bit // 64] |= 1 << (bit % 64)
    return [word - (1 << 64) if word >= 1 << 63 else word for word in words]


def adjacent_words(q):
    """The pairs of adjacent words every text holding `q` (lowercased) has, as SEARCH_WORDS lists a text's:
    the last two characters of a word and the first of the next, a space between, where a word is a run
    of ASCII letters and digits. Two runs of them in `q` are apart by other characters only, which part
    words in the text too: the first ends there and the next begins, whatever either holds beyond `q`
    ("neon portrait" in "a neon portraits": "on p"). A run of one character in `q` may be the end of a
    longer word: none then."""
    return {f"{first[-2:]} {following[0]}" for first, following in _adjacent_runs(q) if len(first) >= 2}


def word_pairs(q):
    """The pairs of words every text holding `q` holds, as library migration 0029 lists a text's (its
    i2v_word_pairs(), library/models.py AssetWordPair): hashtext() of the last three characters of a run of ASCII
    letters and digits and the first three of the next (signed, as the server's), for each two runs of `q`
    (lowercased) apart by other characters only and both three characters or more, each once, in `q`'s order.
    A text holding `q` holds it lowercased as `q` is (the search tests that), and those characters part its words
    too: its word ends as the first run does and the next begins as the second does ("neon portrait" in "a neon
    portraits": "eon por"), whatever other characters, of any script, lie around them."""
    pairs = (hashtext(f"{first[-3:]} {following[:3]}") for first, following in _adjacent_runs(q.lower()) if min(len(first), len(following)) >= 3)
    return [pair - (1 << 32) if pair >= 1 << 31 else pair for pair in dict.fromkeys(pairs)]


def _adjacent_runs(q):
    """Each two runs of ASCII letters and digits of `q` that follow one another."""
    runs = _ASCII_WORD.findall(q)
    return zip(runs, runs[1:])


# Fewer trigrams than this set too few bits of the signature to pass over many rows ("4k": none surely read).
SIGNATURE_TRIGRAMS = 4
# A text the planner expects in more than this share of the rows walked is met every few entries: a walk
# reads about as many rows for a page whatever the signature passes, and each, found by its key rather
# than from the entry, costs more ("portrait", in a tenth of a million assets: 4.2 ms against 3.0).
SIGNATURE_DENSITY = 1 / 25
# The same for a walk in an order the table's rows don't lie in (by cost), or among rows few and far between
# (the Library's failed assets, one in fifty): each row walked is read from a page of its own whatever the
# signature passes ("sailboat" among a million assets' failed ones, 5.7 % of them as the planner has it:
# 1,270 buffers read for a page without the signature, 272 with it, docs/benchmarks.md "Forty-eighth pass"),
# and the share of the whole table says little of the order's ("sailboat", in 8 % of a million pipelines as
# the planner has it, 0.76 % of the dearest: a page by cost 3.7 ms with the signature against 4.9;
# "portrait", in 22 %, 3.1 against 2.5; "Forty-sixth pass").
SCATTERED_DENSITY = 1 / 8
_ASCII_WORD = re.compile(r"[a-z0-9]+")


def signature(found, among, q, scattered=False):
    """TextSignature of `q` for a walk of `among` for the rows `found` (PostgreSQL; two EXPLAINs,
    the lists' own, reused a minute), or None where the signature would pass too many rows to spare
    their reads: `q` has fewer than SIGNATURE_TRIGRAMS trigrams surely read (signature_trigrams()), or
    the planner expects its matches in more than SIGNATURE_DENSITY of among's rows (SCATTERED_DENSITY where
    the walk is `scattered`: see there)."""
    if connections[found.db].vendor != "postgresql" or len(signature_trigrams(q.lower())) < SIGNATURE_TRIGRAMS:
        return None
    density = SCATTERED_DENSITY if scattered else SIGNATURE_DENSITY
    if planner_rows(found, reuse=True) > density * planner_rows(among, reuse=True):
        return None
    return TextSignature(signature_words(q.lower()))


def signature_trigrams(q):
    """The trigrams pg_trgm surely reads in any text holding `q` (lowercased).

    pg_trgm reads a text's words (runs of letters and digits), each as "  " + word + " ": a run of
    ASCII letters and digits in `q` lies in such a word, and its trigrams are that word's; where an
    ASCII character that is no letter or digit stands beside it in `q`, the word begins or ends there
    too ("  n", " ne", "on "). Beside any other character (a letter of another script, or a mark
    the database's locale may read as one) or at `q`'s ends, it may go on: only its inner trigrams."""
    found = set()
    for word in _ASCII_WORD.finditer(q):
        start, end = word.span()
        begins = start > 0 and q[start - 1].isascii()
        ends = end < len(q) and q[end].isascii()
        padded = ("  " if begins else "") + word.group() + (" " if ends else "")
        found.update(padded[place : place + 3] for place in range(len(padded) - 2))
    return found


def _tested_on_rows(queryset, q):
    """`queryset`'s rows whose search_text contains `q` (lowercased), compared in the "C"
    collation, which the trigram index (built in the column's) can't serve: tested on each row
    the other conditions find, while the planner still estimates it from the column's statistics
    as it would the plain LIKE. A substring test is the same in any deterministic collation."""
    return queryset.alias(search_text_c=Collate("search_text", "C")).filter(search_text_c__contains=q)


class HoldsCharacters(IndexedCondition):
    """string_to_array(search_text, NULL) @> ARRAY[characters]: the row's text holds each of
    `characters`, as the GIN index of each row's characters (jobs migration 0022, library 0016)
    reads it."""

    sql = "string_to_array({column}, NULL) @> ARRAY[{values}]::text[]"

    def __init__(self, characters):
        super().__init__(*sorted(set(characters)))


# A row found through the characters (or pairs) index is read from the table on its own, 10 to 15 times
# what testing a row in a scan of the table costs with the table's pages cold (at a million
# pipelines, "-" in 25,903 of them: 172-292 ms through the index against 615-777 ms scanning
# 949,000), 4 to 9 times warm, and 19 to 41 times once the rows are so many that the bitmap outgrows
# work_mem and every row of its pages is rechecked (docs/benchmarks.md, thirtieth pass). So the
# index narrows a text only when the planner expects its characters in no more than a 20th of the
# rows the other filters find, where it costs at most two thirds of the scan. The pairs' is held to
# the same: a bitmap that outgrows work_mem has its rows rechecked with their pairs, 28 µs each.
CHARACTERS_RATIO = 20


class HoldsPairs(IndexedCondition):
    """character_pairs(search_text) @> ARRAY[pairs]: the row's text holds each pair of adjacent
    characters of `q` (two or more, none PAIRS_APART: pairs()), as the GIN index of each row's pairs
    (jobs migration 0026, library 0020) reads it."""

    def __init__(self, q):
        super().__init__(*sorted(pairs(q)))

    def template(self, column, values):
        return f"{character_pairs(column)} @> ARRAY[{values}]::text[]"


def pairs(q):
    """The pairs of adjacent characters in `q`, as character_pairs() lists a row's text's."""
    return {q[place : place + 2] for place in range(len(q) - 1)}


def _holding_pieces(queryset, q):
    """_holding() the pairs of `q` (HoldsPairs) where it has two characters or more, none of them
    PAIRS_APART, else its characters (HoldsCharacters). A text's pairs are in fewer rows than its
    characters, often far fewer: "a," in none of a million pipelines, "a" and "," each in most
    (a first page with its total in 1 ms of SQL, against 0.51 s scanned); "1 2" in none, "1 " and
    " 2" together in 5,449 (28-30 ms against 0.61-0.63 s; docs/benchmarks.md, "Thirty-sixth pass").
    So are they in no more rows than its words' starts, which pg_trgm reads of a text of single
    letters (" 2" is one)."""
    if len(q) < 2 or PAIRS_APART in q:
        return _holding(queryset, HoldsCharacters(q))
    return _holding(queryset, HoldsPairs(q))


def _holding(queryset, pieces):
    """`queryset` narrowed to rows whose text holds each of the `pieces` (HoldsCharacters or
    HoldsPairs) of a text, when the planner expects those in no more than a CHARACTERS_RATIO-th
    of its rows (two EXPLAINs, reused a minute: "%" in a million pipelines, 5,000 by the
    estimate, none there: 2 ms for the first page and its total, against 0.3 s scanned);
    otherwise None ("a(" by its characters: "a" is in nearly every pipeline's text, and the
    index would name them all). A row whose text holds a text holds each of its pieces, so this
    drops no match; the text is still to be tested on each row."""
    holding = queryset.filter(pieces)
    rows = planner_rows(holding, reuse=True)
    if rows * CHARACTERS_RATIO <= planner_rows(queryset, reuse=True):
        return holding
    return None


def _unread(q):
    """The characters of `q` that neither text index reads, each once: not a letter or a digit (pg_trgm
    reads words of those), nor a space or a punctuation mark the joined index reads (SPACES, MARKS): an
    arrow, "™", an emoji. Both indexes offer every row holding the words around one, each rechecked
    ("neon—portrait" at a million assets before the joined index read an em dash: every one with "neon"
    and "portrait", 271 ms of SQL, none a match), where the characters index finds the few rows holding
    it (text_search(), _holding(): 0.9 ms)."""
    return "".join(sorted({c for c in q if not c.isalnum() and c not in SPACES and c not in MARKS}))


def _single_letters(q):
    """Whether every word of `q` (a run of letters and digits) is one character long, and it has one."""
    words = _WORD.findall(q)
    return bool(words) and all(len(word) == 1 for word in words)


def _trigramless(q):
    """Whether pg_trgm finds no trigram in a LIKE of `q` anywhere in the text ('%q%').

    It reads a pattern's words (runs of letters and digits) padded with two blanks in front
    where something that is not a wildcard comes before them, and one behind where something
    comes after, and takes the trigrams of each padded word three characters long or more:
    none from a text of no word ("%%", "!!"), of one or two letters at an end ("中文", "é", "x."),
    while "-a" has "  a" (a word starting with "a") and "1 2" "  2"."""
    words = [(match.start(), match.end()) for match in _WORD.finditer(q)]
    return all(end - start + (2 if start > 0 else 0) + (1 if end < len(q) else 0) < 3 for start, end in words)


# What separates words, for word_start(): whitespace and ASCII punctuation, spelled out. pg_trgm
# takes any character that is not a letter or a digit for a word's boundary, but a class such
# as [^[:alnum:]] is too big for its analysis of a regular expression, which then reads the
# whole index. (The same pattern is valid in PostgreSQL's and Python's (SQLite's) syntax.)
_WORD_START = "(^|[ \t\n\r!\"#$%&'()*+,./:;<=>?@\\[\\\\\\]^_`{|}~-])"


def word_start(q):
    """A regular expression matching text where `q` starts a word: at its beginning or after
    whitespace or punctuation ("4k" in "img_4k.png" and "a 4k film", not in "x4k")."""
    return _WORD_START + re.escape(q)


def _needs_word_start(q):
    # One or two ASCII letters or digits, nothing else. A boundary of its own ("#4k") gives pg_trgm
    # a trigram of the word's start already. Measured at a million rows: a word start followed by
    # punctuation ("a(") has only trigrams most rows hold (a bitmap of every row, 0.8-1.4 s against
    # a 0.2-0.3 s table scan), and pg_trgm finds no trigram in an expression with other letters
    # ("中文" read the whole index).
    return bool(re.fullmatch(r"[a-z0-9]{1,2}", q))


def _rare_word(queryset, q):
    """The word of `q` (of several of three characters or more) whose rows the planner
    estimates fewest, if no more than RARE_WORD; None otherwise, or off PostgreSQL."""
    words = sorted({word for word in _WORD.findall(q) if len(word) >= 3}, key=len, reverse=True)
    if len(words) < 2 or connections[queryset.db].vendor != "postgresql":
        return None
    rows, word = min((planner_rows(queryset.filter(search_text__contains=word), reuse=True), word) for word in words[:WORDS_WEIGHED])
    return word if rows <= RARE_WORD else None


# A GIN index intersects the entries of every condition it is given, a few nanoseconds each
# ("upload"'s 300,000 took 4.4 ms), while a value tested on a row the other conditions found costs
# that row's read from the table, microseconds ("sailboat"'s 40,000 rows tested for videos:
# 220 ms). So a value is tested on the rows when it holds more than this many times the
# rows the rest finds (equal_beside_text()).
BESIDE_RATIO = 100


def equal_beside_text(queryset, q, **equalities):
    """`queryset` filtered by each column = value of `equalities` (those with a value), for a list
    that also searches for text `q`, where the text's trigram index holds those columns too (a GIN
    index with btree_gin's operator classes, like the Library's asset_search_filters).

    The index intersects the entries of every condition it is given, and a common value's are
    most of the table: "upload" is 300,000 of a million assets, and took 4.4 ms of an 8.2 ms scan
    for 334 failed uploads with a word (docs/benchmarks.md, "Twelfth pass"). Testing it on the
    rows the text and the other values find reads those rows instead: cheaper for 814 failed ones
    with the word (4.0 ms), far dearer for 40,000 with the word tested for "video" (220 ms against
    5.5 in the index, "Thirteenth pass"). So, with a text, on PostgreSQL, a value that the planner
    estimates at more than BESIDE_RATIO times the rows the rest finds (two EXPLAINs, reused a
    minute) is compared in the "C" collation, which the index can't serve: it is tested on the
    rows the rest finds. Equality is the same in any deterministic collation, and the planner
    still estimates it from the column's statistics.
    """
    given = {column: value for column, value in equalities.items() if value}
    if not q or connections[queryset.db].vendor != "postgresql":
        return queryset.filter(**given)
    beside = []
    for column, value in given.items():
        rows = planner_rows(queryset.filter(**{column: value}), reuse=True)
        if rows > BESIDE_RATIO:
            rest = text_search(queryset.filter(**{c: v for c, v in given.items() if c != column}), q)
            if rows > BESIDE_RATIO * planner_rows(rest, reuse=True):
                beside.append(column)
    for column, value in given.items():
        if column in beside:
            queryset = queryset.alias(**{f"{column}_c": Collate(column, "C")}).filter(**{f"{column}_c": value})
        else:
            queryset = queryset.filter(**{column: value})
    return queryset


def text_in_range(queryset, q="", date_from=None, date_to=None):
    """Rows created on date_from .. date_to (created_between()) whose text contains q (text_search()).

    The text index's cost is the word's matches across the whole table, however few
    rows the range holds ("sailboat" matches 70,000 of a million pipelines: 14 ms of
    index for the 676 of one week). Rows are written in the order they are created,
    so a range's rows sit side by side in the table, and testing the text on each row
    of a short one reads a few hundred pages: 8 ms for that week's 9,200 rows. So on
    PostgreSQL, when the range (with the other filters) is short (short_range()), the
    text is compared in the "C" collation, which the index (built in the column's)
    can't serve, while the planner still estimates it from the column's statistics, as
    it would the plain LIKE. A substring test is the same in any deterministic collation.
    A text without a trigram is tested on the rows either way, text_search()'s, which first
    narrows it to the rows holding its characters where they are rare: "%" in a week of a
    million pipelines, 0.9 ms against 7.9-9.2 testing the week's 9,200 rows.
    """
    ranged = created_between(queryset, date_from, date_to)
    lowered = q.lower()
    if not q or ranged is queryset or _needs_word_start(lowered) or _trigramless(lowered) or not short_range(ranged):
        return text_search(ranged, q)
    return _tested_on_rows(ranged, lowered)
