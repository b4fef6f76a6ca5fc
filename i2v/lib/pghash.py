"""PostgreSQL's hashtext() in Python, for the bits of a searched text's signature (i2v/lib/filters.py).

A row's signature is computed by the database (i2v/lib/migrations.py SEARCH_WORDS: a bit for each trigram
and each pair of adjacent words, placed by hashtext()); a search's is written into the walk's SQL as integer
constants, which the planner reads as they are. Computed there instead, by the same SQL function, each of
the six words cost an evaluation of the function while the statement was planned (0.05 ms each). No
library exposes PostgreSQL's hash, so it is written here: Bob Jenkins' lookup3 mix as PostgreSQL's
hash_bytes() applies it, on a little-endian server (the word reads of a big-endian one differ). The
tests compare it with the server's on thousands of strings, and the migration that makes the signatures
refuses a server whose hashtext() differs (check()).
"""

_MASK = 0xFFFFFFFF


def _rotated(x, k):
    return ((x << k) | (x >> (32 - k))) & _MASK


def _mixed(a, b, c):
    for first, second, third in ((4, 6, 8), (16, 19, 4)):  # the same three steps twice, rotated by these
        a = ((a - c) & _MASK) ^ _rotated(c, first)
        c = (c + b) & _MASK
        b = ((b - a) & _MASK) ^ _rotated(a, second)
        a = (a + c) & _MASK
        c = ((c - b) & _MASK) ^ _rotated(b, third)
        b = (b + a) & _MASK
    return a, b, c


def _final(a, b, c):
    c = ((c ^ b) - _rotated(b, 14)) & _MASK
    a = ((a ^ c) - _rotated(c, 11)) & _MASK
    b = ((b ^ a) - _rotated(a, 25)) & _MASK
    c = ((c ^ b) - _rotated(b, 16)) & _MASK
    a = ((a ^ c) - _rotated(c, 4)) & _MASK
    b = ((b ^ a) - _rotated(a, 14)) & _MASK
    return ((c ^ b) - _rotated(b, 24)) & _MASK


def hash_bytes(data):
    """PostgreSQL's hash_bytes() of `data` (bytes), as an unsigned 32-bit integer."""
    a = b = c = (0x9E3779B9 + len(data) + 3923095) & _MASK
    while len(data) >= 12:
        a = (a + int.from_bytes(data[0:4], "little")) & _MASK
        b = (b + int.from_bytes(data[4:8], "little")) & _MASK
        c = (c + int.from_bytes(data[8:12], "little")) & _MASK
        a, b, c = _mixed(a, b, c)
        data = data[12:]
    # The last 11 bytes or fewer: c's lowest byte is left to the length.
    rest = data.ljust(12, b"\0")
    if len(data) > 8:
        c = (c + (int.from_bytes(rest[8:11], "little") << 8)) & _MASK
    if len(data) > 4:
        b = (b + int.from_bytes(rest[4:8], "little")) & _MASK
    if data:
        a = (a + int.from_bytes(rest[0:4], "little")) & _MASK
    return _final(a, b, c)


def hashtext(text):
    """PostgreSQL's hashtext(`text`) in a UTF-8 database, unsigned (the server's is the same bits, signed). What a
    search hashes, trigrams and adjacent words of ASCII letters, digits and spaces, is the same bytes in any
    server encoding."""
    return hash_bytes(text.encode())


def check(cursor):
    """Raise RuntimeError unless the server's hashtext() agrees with hashtext() here on what a search hashes
    (ASCII, whatever the server's encoding): strings of each length a word of the hash reads in turn."""
    samples = ["", "neo", "  p", "on p", "a trigram signature", "0123456789 abcdefghijklmnopqrstuvwxyz"]
    cursor.execute("SELECT hashtext(t) FROM unnest(%s::text[]) WITH ORDINALITY AS s (t, n) ORDER BY n", [samples])
    theirs = [row[0] & _MASK for row in cursor.fetchall()]
    if theirs != [hashtext(text) for text in samples]:
        raise RuntimeError("this PostgreSQL's hashtext() differs from i2v/lib/pghash.py's (a big-endian server?)")
