"""Ids and whole numbers as text from outside spells them (i2v/lib/ids.py), and <id:...> in a path."""

import pytest
from django.urls import Resolver404, resolve

from i2v.lib.ids import ID_MAX, id_from_text, whole_number


@pytest.mark.parametrize("text, number", [("1", 1), ("007", 7), (str(ID_MAX), ID_MAX), ("0", 0)])
def test_it_reads_ascii_digits_within_a_bigint(text, number):
    assert whole_number(text) == number


@pytest.mark.parametrize("text", ["", " 1", "1 ", "+1", "-1", "1.0", "1e3", "²", "٣", "１", str(ID_MAX + 1), "9" * 5000])
def test_it_reads_nothing_else(text):
    assert whole_number(text) is None


@pytest.mark.parametrize("text, number", [("1", 1), (str(ID_MAX), ID_MAX), ("0", None), ("-5", None), ("²", None), ("9" * 20, None)])
def test_it_reads_an_id_only_where_a_row_could_have_it(text, number):
    assert id_from_text(text) == number


@pytest.mark.parametrize("pk, found", [(1, True), (ID_MAX, True), (0, False), (ID_MAX + 1, False), (int("9" * 40), False)])
def test_it_matches_a_path_only_with_an_id_a_row_could_have(pk, found):
    if found:
        assert resolve(f"/jobs/{pk}/").kwargs == {"pipeline_id": pk}
    else:
        with pytest.raises(Resolver404):
            resolve(f"/jobs/{pk}/")
