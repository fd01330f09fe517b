"""Reading a chapter's Markdown in the tests of its claims.

The chapter tests (``test_*_chapter.py``) check what a page says against
what calc_nn and PyTorch compute: the worked-example tables typed by hand,
the "Before you start" box and its links. These helpers find those parts
of the page.
"""

import inspect
import re
from pathlib import Path

BOOK = Path(__file__).resolve().parents[1] / "book"
REF = re.compile(r"\{ref\}`(?:[^`<]*<)?([^`>]+)>?`")
CODE_CELL = re.compile(r"^```\{code-cell\}.*?^```$", re.S | re.M)


def read(chapter: str) -> str:
    """The Markdown of ``book/<chapter>.md``."""
    return (BOOK / f"{chapter}.md").read_text()


def labels() -> set[str]:
    """Every target a ``{ref}`` can point to: section labels ``(x)=`` and
    exercise labels, on every page."""
    found = set()
    for page in BOOK.glob("*.md"):
        text = page.read_text()
        found |= set(re.findall(r"^\(([\w-]+)\)=$", text, re.M))
        found |= set(re.findall(r"^:label: ([\w-]+)$", text, re.M))
    return found


def glossary_entry(term: str) -> str:
    """The text of ``term``'s entry in the glossary (its indented lines),
    on one line."""
    entry = re.search(r"^" + re.escape(term) + r"\n((?:  .*\n)+)",
                      read("glossary"), re.M)
    assert entry, f"no glossary entry {term!r}"
    return " ".join(entry.group(1).split())


def admonition(text: str, title: str) -> str:
    """The body of the ``:::{admonition} <title>`` block of a page."""
    match = re.search(r"^:::\{admonition\} " + re.escape(title)
                      + r"\n(.*?)^:::$", text, re.S | re.M)
    assert match, f"no admonition titled {title!r}"
    return match.group(1)


def refs(text: str) -> list[str]:
    """The labels of the ``{ref}`` links in ``text``, in order."""
    return REF.findall(text)


def prose(text: str) -> str:
    """The page without its code cells."""
    return CODE_CELL.sub("", text)


def used_in(obj) -> str:
    """The last paragraph of ``obj``'s docstring on one line: for a public
    calc_nn function, ``Used in: book/a.md, book/b.md``."""
    doc = inspect.getdoc(obj) or ""
    return " ".join(doc.strip().split("\n\n")[-1].split())


def used_in_pages(obj) -> list[str] | None:
    """The pages of :func:`used_in`'s line, or None if there is none."""
    line = used_in(obj)
    if not line.startswith("Used in: "):
        return None
    return line.removeprefix("Used in: ").split(", ")


def code(text: str) -> list[str]:
    """The Python of each code cell of the page, without its fences and
    its ``:tags:`` lines."""
    cells = []
    for cell in CODE_CELL.findall(text):
        lines = cell.splitlines()[1:-1]
        while lines and lines[0].startswith(":"):
            lines.pop(0)
        cells.append("\n".join(lines))
    return cells


def table(text: str, name: str) -> list[list[str]]:
    """The body rows of the ``{table}`` directive with ``:name: <name>``,
    each a list of its cells (``$`` and spaces stripped)."""
    match = re.search(r"^```\{table\}[^\n]*\n:name: " + re.escape(name)
                      + r"\n\n(.*?)^```$", text, re.S | re.M)
    assert match, f"no table named {name!r}"
    rows = [line for line in match.group(1).strip().splitlines()
            if line.startswith("|")]
    return [[cell.strip().strip("$") for cell in row.strip("|").split("|")]
            for row in rows[2:]]  # the header and the |---| line


def matches_rounded(typed: str, value: float) -> bool:
    """True when ``typed`` (like "0.2350" or "-4.0862") is ``value``
    rounded to the digits it shows: within half a unit of its last digit
    (plus a little for the float ``value``)."""
    decimals = len(typed.split(".")[1]) if "." in typed else 0
    return abs(float(typed) - value) <= 0.5 * 10.0 ** -decimals + 1e-12


MATH = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$", re.S)
_NAMED = re.compile(r"\\(?:text|mathrm|operatorname|mathbf|mathcal|mathbb"
                    r"|begin|end)\s*\{[^{}]*\}")


def maths(text: str) -> list[str]:
    """Every formula of the prose of ``text``, displayed or inline, in
    order (code cells left out)."""
    return [display or inline
            for display, inline in MATH.findall(prose(text))]


def symbols(formula: str) -> str:
    """The letters of ``formula`` that are symbols of their own: without
    LaTeX commands (``\\sigma`` holds no s), names set in roman
    (``\\operatorname{tr}``, ``\\text{pad}``), and subscripts (the k of
    ``W_{jk}``); a letter that carries a subscript (``s_t``, ``n_H``)
    becomes ``#``, another symbol than the bare letter."""
    text = _NAMED.sub(" ", formula)
    text = re.sub(r"\\[A-Za-z]+", " ", text)
    text = re.sub(r"[A-Za-z](?=\s*_)", "#", text)
    out, i = [], 0
    while i < len(text):
        if text[i] != "_":
            out.append(text[i])
            i += 1
            continue
        i += 1
        while i < len(text) and text[i].isspace():
            i += 1
        if i < len(text) and text[i] == "{":
            depth = 0
            while i < len(text):
                depth += {"{": 1, "}": -1}.get(text[i], 0)
                i += 1
                if depth == 0:
                    break
        else:
            i += 1
    return "".join(out)


def bare(text: str, letter: str) -> list[str]:
    """The formulas of the prose of ``text`` in which ``letter`` stands
    as a symbol of its own (see :func:`symbols`)."""
    return [f for f in maths(text) if letter in symbols(f)]
