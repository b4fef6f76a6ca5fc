"""Primary keys as requests name them: whether a number could be one, before any query asks; and
whole numbers as text from outside spells them (whole_number()).

A number past a bigint can't be compared with a key column: PostgreSQL refuses it (bigint out of
range) and SQLite's driver can't even pass it, a 500 either way. So every id a request names, in its
path (<id:...>, IdConverter), its query or its form (id_from_text()), is checked here first.
"""

ID_MAX = 2**63 - 1  # the largest primary key a bigint column (and SQLite's integer) holds
ID_DIGITS = len(str(ID_MAX))  # 19


def is_plausible_id(value):
    """Whether `value` could be a primary key: positive and within a bigint."""
    return 0 < value <= ID_MAX


def whole_number(text):
    """The number `text` spells in ASCII digits, no more than a bigint's, or None: str.isdigit()
    passes "²" and "٣", which int() refuses, and int() reads digits however many (a header's or a
    query's thousand, then refuses to print them past 4,300)."""
    if not (text and len(text) <= ID_DIGITS and text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if number <= ID_MAX else None


def id_from_text(text):
    """The id `text` spells (whole_number()), or None."""
    number = whole_number(text)
    return number if number and is_plausible_id(number) else None


class IdConverter:
    """<id:name> in a URL: a primary key (id_from_text()); any other number is no such path, a 404."""

    regex = "[0-9]{1,%d}" % ID_DIGITS

    def to_python(self, value):
        number = id_from_text(value)
        if number is None:
            raise ValueError(value)  # Django's "no match"
        return number

    def to_url(self, value):
        return str(value)
