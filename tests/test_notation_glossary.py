"""The notation page and the glossary: linked from where readers start,
and pointing to where each term is introduced.

The build (-n -W) already fails on a link to a missing label; these tests
check what it cannot: that the links exist at all, in the right places.
"""

import re
from pathlib import Path

import pytest
from conftest import toc_files

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CHAPTERS = ["calculus", "forward", "activations", "losses", "optimizers",
            "backprop", "cnn", "digits"]
GLOSSARY = re.search(r"```\{glossary\}\n(.*?)\n```",
                     (BOOK / "glossary.md").read_text(), re.S).group(1)
ENTRIES = {block.split("\n")[0]: block
           for block in GLOSSARY.strip().split("\n\n")}
LABELS = {m for p in BOOK.glob("*.md")
          for m in re.findall(r"^\((\S+)\)=$", p.read_text(), re.M)}


def test_notation_page_sits_with_the_appendices_and_calculus_comes_first():
    pages = toc_files()
    assert pages.index("book/calculus") < pages.index("book/forward")
    assert pages.index("book/notation") == pages.index("book/glossary") - 1
    assert pages.index("book/notation") > pages.index("book/digits")


def test_the_preface_links_the_notation_page():
    assert "{doc}`notation`" in (BOOK / "preface.md").read_text()


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapter_links_the_notation_in_its_first_paragraph(chapter):
    text = (BOOK / f"{chapter}.md").read_text()
    after_title = text.split("\n# ", 1)[1].split("\n", 1)[1].lstrip("\n")
    first_paragraph = after_title.split("\n\n", 1)[0]
    assert "{ref}`notation`" in first_paragraph


def test_notation_states_the_choices_the_chapters_follow():
    text = (BOOK / "notation.md").read_text()
    for needle in (r"\| \$L\$ \| the loss", r"\| \$K\$ \| number of classes",
                   r"\| \$N\$ \| batch size", r"C_\{\\mathrm\{out\}\}\$ \| "
                   r"output channels", r"\$n_H\$, \$n_W\$ \| height and width",
                   r"count from 1 in formulas",
                   r"\\delta\^l = \\partial L / \\partial z\^l",
                   r"\| \$B\$, \$\\mathcal B\$ \| a minibatch's size",
                   r"\| \$\\tau\$ \| the damping",
                   r"\$N\$\n\(the batch of one forward pass; the whole "
                   r"data set"):
        assert re.search(needle, text), needle


def test_notation_lists_the_deep_chapters_symbols():
    """Batch normalization's and dropout's letters, which the deep chapter
    uses and other chapters use otherwise (gamma, beta, p)."""
    text = (BOOK / "notation.md").read_text()
    deep = (BOOK / "deep.md").read_text()
    for symbol, meaning in ((r"\gamma$", "batch normalization's scale"),
                            (r"\beta$", "batch normalization's shift"),
                            (r"\rho$", "running-statistics rate"),
                            ("s_B$", "per feature"),
                            ("k_i$", "mask"),
                            ("$p$ (dropout)", "dropping a unit")):
        row = re.search(rf"^\| [^|]*{re.escape(symbol)}[^|]*\|[^\n]*"
                        rf"{re.escape(meaning)}", text, re.M)
        assert row, (symbol, meaning)
    for symbol in (r"\gamma", r"\beta", r"\rho", "s_B", "k_i"):
        assert symbol in deep, symbol  # still the chapter's letters


@pytest.mark.parametrize("term", sorted(ENTRIES))
def test_glossary_entry_is_bilingual_and_links_its_introduction(term):
    body = ENTRIES[term]
    assert re.search(r"[\u4e00-\u9fff]", body), "give the Chinese term"
    refs = re.findall(r"\{ref\}`(?:[^`<]*<)?([^`>]+)>?`", body)
    assert refs, "link to where the term is introduced"
    assert all(r in LABELS for r in refs), refs


@pytest.mark.parametrize("term, label", [
    ("derivative", "calc-derivative"), ("partial derivative", "calc-gradient"),
    ("gradient", "calc-gradient"), ("directional derivative",
                                    "calc-gradient"),
    ("Jacobian", "calc-jacobian"), ("chain rule", "calc-chain-rule"),
    ("vector-Jacobian product", "calc-vjp"), ("Hessian", "calc-hessian"),
    ("Taylor expansion", "calc-hessian"), ("convex function",
                                           "calc-convexity"),
    ("finite differences", "calc-finite-differences"),
    ("machine epsilon", "calc-finite-differences"),
    ("gradient check", "calc-gradient-check"),
])
def test_calculus_terms_link_to_their_section(term, label):
    assert label in ENTRIES[term]


def test_every_term_the_book_links_is_in_the_glossary():
    used = {" ".join(m.split("<")[-1].rstrip(">").split()).lower()
            for p in BOOK.glob("*.md")
            for m in re.findall(r"\{term\}`([^`]+)`", p.read_text())}
    assert used <= {t.lower() for t in ENTRIES}, used - {
        t.lower() for t in ENTRIES}


def test_epoch_is_defined_where_the_book_first_uses_it():
    """In reading order, the first "epoch" of the prose (code cells left
    out) is its bold definition, and the glossary links that section."""
    pages = re.findall(r"file: (\S+)", (ROOT / "_toc.yml").read_text())
    for page in pages:
        text = (ROOT / f"{page}.md").read_text()
        prose = re.sub(r"```\{code-cell\}.*?```", "", text, flags=re.S)
        if "epoch" in prose.lower():
            break
    first = prose.lower().index("epoch")
    assert prose[first - 2:first + 7] == "**epoch**", (page, prose[
        first - 80:first + 40])
    label = re.findall(r"^\((\S+)\)=$", prose[:first], re.M)[-1]
    entry = ENTRIES["epoch"]
    assert f"{{ref}}`{label}`" in entry, (label, entry)
