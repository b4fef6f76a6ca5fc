"""Primary keys as requests name them: whether a number could be one, before any query asks."""

ID_MAX = 2**63 - 1  # the largest primary key a bigint column (and SQLite's integer) holds


def is_plausible_id(value):
    """Whether `value` could be a primary key: positive and within a bigint."""
    return 0 < value <= ID_MAX
