"""The two source documents are cited by their bibliography entries.

A reader cannot look up "seed 002 §4.3": the book cites the sources as
``{cite:t}`nn-calculus-doc{§4.3}``` (the NN document) and
``cnn-calculus-doc`` (the CNN document), and calc_nn's docstrings as "the NN
document [nn-calculus-doc] §4.3". No page or docstring calls them "seed"; a
random seed is still a seed (``seed=0``, "fixed seeds").
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "book").glob("*.md"))
PACKAGE = sorted((ROOT / "calc_nn").rglob("*.py"))
KEYS = {"NN": "nn-calculus-doc", "CNN": "cnn-calculus-doc"}

# The ways the sources were called "seed" ("seed 002", "Seed 000 §4.1",
# "the seed's formula", "the seeds' MLP", "seed documents"), and the names
# and strings a code cell prints ("seed_loss", print("seed: ...")).
SOURCE_AS_SEED = re.compile(
    r"\bseed ?0{0,2}[02]\b|\bseed documents?\b|\bthe seeds?\b|\bseed's\b"
    r"|\bseeds'", re.I)
SEED_IN_CODE = re.compile(r"\bseed_\w+|[\"']seed\b", re.I)
CODE_CELL = re.compile(r"^```\{code-cell\}.*?^```$", re.S | re.M)
CITE = re.compile(r"\{cite:[a-z]+\}`([^`]*)`")


def _prose_and_comments(text):
    """The page without its code, keeping the comments of code cells."""
    def comments_only(match):
        return "\n".join(line[line.index("#"):] if "#" in line else ""
                         for line in match.group(0).splitlines())
    return CODE_CELL.sub(comments_only, text)


def _offending(pattern, text):
    return [f"line {text[:m.start()].count(chr(10)) + 1}: {m.group(0)!r}"
            for m in pattern.finditer(text)]


@pytest.mark.parametrize("path", PAGES + PACKAGE,
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_prose_docstrings_and_comments_never_call_the_sources_seed(path):
    text = path.read_text()
    if path.suffix == ".md":
        text = _prose_and_comments(text)
    found = _offending(SOURCE_AS_SEED, text)
    assert not found, f"cite the source documents by name: {found}"


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_code_cells_never_call_the_sources_seed(path):
    code = "\n".join(CODE_CELL.findall(path.read_text()))
    found = _offending(SOURCE_AS_SEED, code) + _offending(SEED_IN_CODE, code)
    assert not found, f"a code cell calls a source 'seed': {found}"


def _cited_keys(text):
    return {key.split("{")[0].strip() for roles in CITE.findall(text)
            for key in re.sub(r"\{[^}]*\}", "", roles).split(",")}


def test_both_sources_are_in_the_bibliography_and_cited():
    bib = (ROOT / "references.bib").read_text()
    for key in KEYS.values():
        entry = re.search(r"@\w+\{" + re.escape(key) + r",(.*?)\n\}", bib,
                          re.S)
        assert entry, f"references.bib has no entry {key}"
        title = re.search(r"title\s*=\s*\{(.*)\},", entry.group(1)).group(1)
        assert re.search(r"[\u4e00-\u9fff]{4}", title), (
            f"{key}: the title needs the Chinese title")
        assert re.search(r"[A-Za-z]{4} [a-z]+", title), (
            f"{key}: the title needs an English title")
        assert "note" in entry.group(1), f"{key}: say what it covers"
    cited = set().union(*(_cited_keys(p.read_text()) for p in PAGES))
    assert set(KEYS.values()) <= cited


def test_the_bibliography_parses_and_holds_every_cited_key():
    """references.bib is valid BibTeX (sphinxcontrib-bibtex stops the
    build at the first syntax error) and every key the pages cite is in
    it, once."""
    from pybtex.database import parse_file

    bib = parse_file(str(ROOT / "references.bib"))
    text = (ROOT / "references.bib").read_text()
    keys = re.findall(r"^@\w+\{([^,]+),", text, re.M)
    assert len(keys) == len(set(keys)) == len(bib.entries), keys
    cited = set().union(*(_cited_keys(p.read_text()) for p in PAGES))
    assert cited <= set(bib.entries), cited - set(bib.entries)


def _sections(text):
    """(heading, body) of every section, code cells left out."""
    text = CODE_CELL.sub("", text)
    parts = re.split(r"^(#{1,6} .*)$", text, flags=re.M)
    return list(zip(["(top)"] + parts[1::2], parts[0::2]))


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_a_section_cites_a_source_before_naming_it(path):
    """"The NN document" is a short name: each section that uses it cites
    the entry first ({cite:t}`nn-calculus-doc{§4.3}`), so a reader who
    lands on the section can look it up."""
    late = []
    for heading, body in _sections(path.read_text()):
        for short, key in KEYS.items():
            first_name = re.search(rf"\b{short} document", body)
            first_cite = next((m for m in CITE.finditer(body)
                               if key in _cited_keys(m.group(0))), None)
            if first_name and (first_cite is None
                               or first_cite.start() > first_name.start()):
                late.append(f"{heading!r}: {short} document")
    assert not late, f"name a source only after citing it: {late}"
