"""Prompt templates: `{red|blue} car at {dawn|night}` makes four prompts.

Syntax, line by line (each line of a template is a template of its own):

- `{a|b|c}`: one of the alternatives (an empty one is allowed: `{very |}big`);
- `{name}`: one of the items of the owner's saved list `name` (PromptList);
- `\\{`, `\\}`, `\\|` and `\\\\`: the character itself; `|` outside braces is text.

A line makes the cartesian product of its groups. The number of prompts is
worked out before any is made, so a template of 10^12 prompts is refused at
once, not after filling the memory. Nested and unbalanced braces are errors
that say where they are.
"""

import math
import re
from dataclasses import dataclass
from itertools import product

LIST_NAME = re.compile(r"[a-z0-9_-]{1,40}")
ESCAPABLE = "{}|\\"


class TemplateError(ValueError):
    """A template that can't be expanded, with a message for the person who typed it."""


@dataclass(frozen=True)
class ListRef:
    name: str


def parse_line(line, number=1):
    """The parts of one line: text (str), alternatives (tuple of str) and list references (ListRef)."""
    parts, text, group, opened = [], [], None, 0
    i = 0
    while i < len(line):
        char = line[i]
        where = f"line {number}, column {i + 1}"
        if char == "\\" and i + 1 < len(line) and line[i + 1] in ESCAPABLE:
            (group[-1] if group is not None else text).append(line[i + 1])
            i += 2
            continue
        if char == "{":
            if group is not None:
                raise TemplateError(f"Braces can't be nested ({where}); write {{a|b}} groups side by side.")
            parts.append("".join(text))
            text, group, opened = [], [[]], i
        elif char == "}":
            if group is None:
                raise TemplateError(f"“}}” at {where} has no “{{” before it (write \\}} for the character).")
            parts.append(_group(["".join(option) for option in group], f"line {number}, column {opened + 1}"))
            group = None
        elif char == "|" and group is not None:
            group.append([])
        else:
            (group[-1] if group is not None else text).append(char)
        i += 1
    if group is not None:
        raise TemplateError(f"“{{” at line {number}, column {opened + 1} is never closed.")
    parts.append("".join(text))
    return [p for p in parts if p != ""]


def _group(options, where):
    if len(options) > 1:
        return tuple(options)
    name = options[0].strip()
    if not name:
        raise TemplateError(f"Empty braces at {where}: write {{a|b}} alternatives or {{name}} of a saved list.")
    if not LIST_NAME.fullmatch(name.lower()):
        raise TemplateError(
            f"“{{{name}}}” at {where} is neither alternatives ({{a|b}}) nor the name of a saved list "
            "(letters, digits, - and _)."
        )
    return ListRef(name.lower())


def _lines(text):
    """The non-blank lines of a template, each with its number."""
    return [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def parse(text):
    """The parsed non-blank lines of a template."""
    return [parse_line(line, n) for n, line in _lines(text)]


def list_names(lines):
    return {part.name for line in lines for part in line if isinstance(part, ListRef)}


def _choices(part, lists):
    if isinstance(part, str):
        return (part,)
    if isinstance(part, tuple):
        return part
    if part.name not in lists:
        raise TemplateError(f"You have no saved list named “{part.name}”.")
    if not lists[part.name]:
        raise TemplateError(f"Your saved list “{part.name}” is empty.")
    return lists[part.name]


def count(lines, lists):
    """How many prompts the parsed lines make, without making them."""
    return sum(math.prod(len(_choices(part, lists)) for part in line) for line in lines)


def expand(text, lists, limit):
    """The prompts of `text`, with `lists` ({name: [items]}) for {name} references.
    TemplateError beyond `limit` prompts, before any is made."""
    lines = parse(text)
    total = count(lines, lists)
    if total > limit:
        # A count past a trillion is read as "too many" (and one of 4,300 digits can't even be written out).
        many = f"{total:,}" if total <= 10**12 else "more than 1,000,000,000,000"
        raise TemplateError(f"This template makes {many} prompts; a pipeline takes at most {limit:,}.")
    prompts = []
    for (number, _), line in zip(_lines(text), lines):
        for combination in product(*(_choices(part, lists) for part in line)):
            # Empty alternatives leave double spaces behind: one space reads as meant.
            prompt = re.sub(r"\s{2,}", " ", "".join(combination)).strip()
            if not prompt:
                # Each prompt is a paid generation: one of nothing would be billed like any other.
                raise TemplateError(f"A choice on line {number} leaves the prompt empty: give every alternative some text, or add text around the braces.")
            prompts.append(prompt)
    return prompts


def renamed(text, old, new):
    """`text` with each reference to the list `old` ({old}, any case, spaces inside the braces) written {new}:
    a template follows its list's rename. An escaped brace (\\{old}) is text and stays; a brace after an
    escaped backslash (\\\\{old}) opens a reference."""
    space = r"[^\S\n]*"  # what the parser strips around a name (str.strip()), within the line
    reference = re.compile(r"(?<!\\)((?:\\\\)*)\{" + space + re.escape(old) + space + r"\}", re.IGNORECASE)
    return reference.sub(lambda found: f"{found.group(1)}{{{new}}}", text)

