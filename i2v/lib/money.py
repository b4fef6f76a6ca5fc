"""Amounts of USD as the pages print them, by one rule: to the cent, rounded half up (as the floatformat
filter rounds), so that a cost reads the same on a Jobs row, on its pipeline's page and in its steps.

The cent, not the tenth of a cent: no priced model costs under a cent a request (the cheapest, 0.011 an
image: jobs/catalog.toml), so a step's cost to the cent still tells a paid step from a free one, and the
steps then add up to the pipeline's cost as printed beside them. What the cent would hide (a provider's
report of a fraction of one) says so instead of printing as nothing. The JSON API gives amounts as stored.
"""

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def cents(amount):
    """`amount` (a Decimal) to the cent, without a sign: "0.17" for 0.168."""
    return str(amount.quantize(CENT, ROUND_HALF_UP))


def usd(amount):
    """"$0.17" for 0.168; "<$0.01" for an amount above nothing that would print as $0.00."""
    return "<$0.01" if 0 < amount < CENT / 2 else f"${cents(amount)}"
