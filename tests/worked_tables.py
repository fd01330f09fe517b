"""Read the worked-example tables and the prerequisite boxes of a chapter.

A worked example is typed in the chapter as a Markdown table (so that it
reads well in the source and in a notebook), one row per quantity, the
value in the second column with 4 significant digits. The tests of the
forward and backpropagation chapters parse it here and compare every
number with calc_nn and PyTorch: a typo in the table fails the suite.
"""

import math
import re
from pathlib import Path

BOOK = Path(__file__).resolve().parents[1] / "book"
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
LABEL = re.compile(r"^\((\S+)\)=$", re.M)
EXERCISE = re.compile(r"^```\{exercise\} ?(.*)\n:label: (\S+)", re.M)


def chapter(name: str) -> str:
    return (BOOK / f"{name}.md").read_text()


def table(text: str, header: str) -> dict[str, list[float]]:
    """The Markdown table whose header row starts with ``| header |``:
    first cell (stripped) -> the numbers of the second cell (the value),
    in order."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines)
                 if line.startswith(f"| {header} |"))
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[0]] = [float(v) for v in NUMBER.findall(cells[1])]
    return rows


def rounded_to_4_digits(typed: float, exact: float) -> bool:
    """``typed`` is ``exact`` rounded to (at most) 4 significant digits."""
    if exact == 0:
        return typed == 0
    unit = 10 ** (math.floor(math.log10(abs(exact))) - 3)
    return abs(typed - exact) <= 0.5 * unit * (1 + 1e-9) + 1e-15


def mismatches(rows: dict[str, list[float]], computed: dict) -> list[str]:
    """Rows whose typed numbers are not ``computed`` (flattened row by row)
    rounded to 4 significant digits; a row missing on either side too."""
    bad = sorted(set(rows) ^ set(computed))
    for key in set(rows) & set(computed):
        exact = [float(v) for v in _flat(computed[key])]
        typed = rows[key]
        if len(typed) != len(exact) or not all(
                rounded_to_4_digits(t, e) for t, e in zip(typed, exact)):
            bad.append(f"{key}: typed {typed}, computed "
                       f"{[f'{e:.4g}' for e in exact]}")
    return bad


def typo_is_caught(text: str, right: str, typo: str, computed: dict) -> bool:
    """Replacing ``right`` (found once in ``text``) by ``typo`` in the table
    headed "quantity" makes :func:`mismatches` report it."""
    assert text.count(right) == 1, right
    return bool(mismatches(table(text.replace(right, typo), "quantity"),
                           computed))


def _flat(value):
    try:
        return [v for row in value for v in _flat(row)]
    except TypeError:
        return [value]


def before_you_start(text: str) -> str:
    """The body of the chapter's "Before you start" admonition."""
    box = re.search(r"^:::\{admonition\} Before you start\n(.*?)^:::$",
                    text, re.S | re.M)
    assert box, "no 'Before you start' admonition"
    return box.group(1)


def labels() -> set[str]:
    """Every section label ``(name)=`` and equation label of the book."""
    found = set()
    for path in BOOK.glob("*.md"):
        text = path.read_text()
        found |= set(LABEL.findall(text))
        found |= set(re.findall(r"^\$\$ \(([\w-]+)\)$", text, re.M))
        found |= set(re.findall(r"^:label: (\S+)$", text, re.M))
    return found


def references(text: str) -> list[str]:
    """The targets of the ``{ref}`` and ``{eq}`` roles in ``text``."""
    return [m.split("<")[-1].rstrip(">") for m in
            re.findall(r"\{(?:ref|eq)\}`([^`]+)`", text)]


def exercises(text: str) -> list[tuple[str, str]]:
    """``(title, label)`` of every exercise, in order."""
    return EXERCISE.findall(text)
