"""Template expansion (prompts/expand.py): counts, escapes, named lists and clear errors."""

import pytest

from prompts.expand import TemplateError, count, expand, parse


def test_it_makes_the_cartesian_product():
    assert expand("{red|blue} car at {dawn|night}", {}, 100) == [
        "red car at dawn", "red car at night", "blue car at dawn", "blue car at night",
    ]  # fmt: skip


def test_it_counts_without_expanding():
    lines = parse("{a|b|c}{d|e|f}{g|h|i}{j|k|l}{m|n|o}{p|q|r}{s|t|u}{v|w|x}{y|z|0}{1|2|3}" * 3)
    assert count(lines, {}) == 3**30
    with pytest.raises(TemplateError, match=r"makes more than 1,000,000,000,000 prompts; a pipeline takes at most 500"):
        expand("{a|b|c}" * 30, {}, 500)
    with pytest.raises(TemplateError, match=r"makes 531,441 prompts"):
        expand("{a|b|c}" * 12, {}, 500)


def test_it_refuses_a_count_too_long_to_write_out():
    items = [f"i{n}" for n in range(500)]  # 500 ** 1,666 has 4,497 digits: past what Python writes as text
    with pytest.raises(TemplateError, match=r"^This template makes more than 1,000,000,000,000 prompts; a pipeline takes at most 500\.$"):
        expand("{z}" * 1_666, {"z": items}, 500)


def test_it_sums_lines_and_skips_blank_ones():
    assert expand("{a|b} one\n\n  \nplain two\n", {}, 10) == ["a one", "b one", "plain two"]


def test_it_allows_the_limit_exactly():
    assert len(expand("{1|2|3|4|5} {1|2}", {}, 10)) == 10
    with pytest.raises(TemplateError, match="makes 10 prompts; a pipeline takes at most 9"):
        expand("{1|2|3|4|5} {1|2}", {}, 9)


def test_it_takes_items_from_named_lists():
    lists = {"costume": ["pirate", "astronaut"], "place": ["moon"]}
    assert expand("a {Costume} on the {place}, {day|night}", lists, 10) == [
        "a pirate on the moon, day", "a pirate on the moon, night",
        "a astronaut on the moon, day", "a astronaut on the moon, night",
    ]  # fmt: skip


def test_it_names_a_missing_or_empty_list():
    with pytest.raises(TemplateError, match="no saved list named “costume”"):
        expand("a {costume}", {}, 10)
    with pytest.raises(TemplateError, match="list “costume” is empty"):
        expand("a {costume}", {"costume": []}, 10)


def test_it_reads_escapes_and_literal_pipes():
    assert expand(r"\{literal\} a|b {x\|y|z} back\\slash", {}, 10) == [r"{literal} a|b x|y back\slash", r"{literal} a|b z back\slash"]


def test_it_tidies_empty_alternatives():
    assert expand("a {very |}big {dog|}", {}, 10) == ["a very big dog", "a very big", "a big dog", "a big"]


@pytest.mark.parametrize("template", ["{|x}", "x\n\n{ | }", "{  |x} {|}"])
def test_it_refuses_a_choice_that_leaves_no_prompt(template):
    # An empty prompt would be a generation paid for nothing: the line it comes from is named.
    line = template.count("\n") + 1
    with pytest.raises(TemplateError, match=f"A choice on line {line} leaves the prompt empty"):
        expand(template, {}, 10)


@pytest.mark.parametrize(
    "template, message",
    [
        ("a {red|{blue|green}} car", r"Braces can't be nested \(line 1, column 8\)"),
        ("a {red|blue car", r"“\{” at line 1, column 3 is never closed"),
        ("ok\na red} car", r"“\}” at line 2, column 6 has no “\{” before it"),
        ("a {} car", r"Empty braces at line 1, column 3"),
        ("a {red car} here", r"“\{red car\}” at line 1, column 3 is neither alternatives"),
    ],
)
def test_it_explains_bad_braces(template, message):
    with pytest.raises(TemplateError, match=message):
        expand(template, {}, 10)


def test_it_keeps_html_as_text():
    # Expansion never interprets markup: pages escape it when they show prompts.
    assert expand("<b>{x|<i>y</i>}</b>", {}, 10) == ["<b>x</b>", "<b><i>y</i></b>"]
