"""Every chapter opens with a "Before you start" box whose links resolve
and name what earlier pages introduced (issue 15, §4). A box may also
point forward (where the chapter's results are used next, or a topic it
defers), but a chapter after the first relies on at least one earlier
page.

The chapter tests check which sections each box names; this test checks
the rule for every chapter in the table of contents, so a new chapter
without its box, or a box that sends the reader forward, fails.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from chapter_text import admonition

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
# pages that are not chapters: no box
NOT_CHAPTERS = {"preface", "notation", "glossary", "references"}
# reference pages: linked from every box, they are no prerequisite
REFERENCE_PAGES = {"notation", "glossary"}
DOC = re.compile(r"\{doc\}`(?:[^`<]*<)?([^`>]+)>?`")
REF = re.compile(r"\{ref\}`(?:[^`<]*<)?([^`>]+)>?`")
LABEL = re.compile(r"^\(([\w-]+)\)=$|^:label: ([\w-]+)$", re.M)


def _toc_order() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]] + [c["file"] for c in toc.get("chapters", [])]
    return [Path(p).name for p in pages]


ORDER = _toc_order()
CHAPTERS = [p for p in ORDER if p not in NOT_CHAPTERS]


def _label_pages() -> dict[str, str]:
    """Each ``(label)=`` / ``:label:`` target and the page defining it."""
    found = {}
    for page in BOOK.glob("*.md"):
        for match in LABEL.finditer(page.read_text()):
            found[match.group(1) or match.group(2)] = page.stem
    return found


def _box(chapter: str) -> str:
    return admonition((BOOK / f"{chapter}.md").read_text(),
                      "Before you start")


def test_the_toc_lists_chapters():
    assert len(CHAPTERS) >= 8, CHAPTERS


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_before_you_start_box_links_resolve(chapter):
    """The box exists, every link in it resolves to a page or a section,
    and (after the first chapter) at least one link is to an earlier page
    in ``_toc.yml`` (the notation and glossary pages do not count)."""
    box = _box(chapter)
    pages = _label_pages()
    linked = []
    for label in REF.findall(box):
        assert label in pages, (
            f"{chapter}: the box links {{ref}}`{label}`, which no page "
            "defines")
        linked.append((f"{{ref}}`{label}`", pages[label]))
    for target in DOC.findall(box):
        page = Path(target).name
        assert (BOOK / f"{page}.md").is_file(), (
            f"{chapter}: the box links {{doc}}`{target}`, which is no page")
        linked.append((f"{{doc}}`{target}`", page))
    assert linked, f"{chapter}: the 'Before you start' box links nothing"
    here = ORDER.index(chapter)
    earlier = [link for link, page in linked
               if page not in REFERENCE_PAGES and ORDER.index(page) < here]
    if chapter != CHAPTERS[0]:
        assert earlier, (
            f"{chapter}: the box links no earlier page, only {linked}")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_box_opens_the_chapter(chapter):
    """The box comes before the chapter's first section (``##``): it is
    what the reader sees first, not a note in the middle."""
    text = (BOOK / f"{chapter}.md").read_text()
    box = text.index(":::{admonition} Before you start")
    first_section = re.search(r"^## ", text, re.M)
    assert first_section is None or box < first_section.start(), (
        f"{chapter}: the box comes after the first section")


def test_the_preface_maps_every_chapter():
    """The preface's chapter map has a row for every chapter of the toc,
    in toc order (a new chapter without its row fails)."""
    text = (BOOK / "preface.md").read_text()
    rows = re.findall(r"^\| \{(?:ref|doc)\}`(?:chapter-)?([\w-]+)`", text,
                      re.M)
    assert rows == CHAPTERS, (rows, CHAPTERS)


def _exercises(text: str) -> list[tuple[str, str]]:
    """(label, body up to the next exercise) of each exercise."""
    starts = [m.start() for m in re.finditer(r"^[`:]{3,}\{exercise\}",
                                            text, re.M)]
    bodies = [text[a:b] for a, b in zip(starts, starts[1:] + [len(text)])]
    return [(re.search(r":label: ([\w-]+)", b).group(1), b) for b in bodies]


def _implement_and_check_exceptions() -> set[str]:
    """The chapters the preface names as having no implement-it-and-check
    exercise ("Every chapter but {ref}`chapter-x` ...")."""
    text = " ".join((BOOK / "preface.md").read_text().split())
    sentence = re.search(r"Every chapter but (.*?) has an \*implement it",
                         text)
    assert sentence, "the preface no longer names the exceptions"
    return set(re.findall(r"\{ref\}`chapter-([\w-]+)`",
                          re.sub(r"\(.*?\)", "", sentence.group(1))))


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_chapter_has_what_the_preface_promises(chapter):
    """"Each chapter opens with its learning objectives and ends with a
    summary and at least four exercises"; every chapter but those the
    preface names has an exercise whose solution calls calc_nn.check."""
    from calc_nn import check

    text = (BOOK / f"{chapter}.md").read_text()
    objectives = re.search(r"\{admonition\} What you will (be able to do|"
                           r"take away)", text)
    first_section = re.search(r"^## ", text, re.M)
    assert objectives and objectives.start() < first_section.start(), (
        f"{chapter}: no learning objectives before the first section")
    headings = re.findall(r"^## (.+)$", text, re.M)
    assert headings[-2:] == ["Summary", "Exercises"], (chapter, headings)
    exercises = _exercises(text)
    assert len(exercises) >= 4, (chapter, len(exercises))
    checked = [label for label, body in exercises
               if any(name in check.available() for name in
                      re.findall(r"\bcheck\.(\w+)\(", body))]
    if chapter in _implement_and_check_exceptions():
        assert not checked, (
            f"{chapter} now has an implement-and-check exercise {checked}: "
            "the preface still names it as the exception")
    else:
        assert checked, (
            f"{chapter}: no exercise calls calc_nn.check, as the preface "
            "says every chapter but the exceptions does")


def test_the_preface_check_example_fails_as_its_comment_says():
    """The preface's `check.relu_grad(my_relu_grad)` example: FAILED, at
    x = 0 expected 0, got 1."""
    import numpy as np

    text = (BOOK / "preface.md").read_text()
    code = re.search(r"```python\n(from calc_nn import check.*?)```", text,
                     re.S).group(1)
    comment = re.search(r"# (FAILED: at x = 0 expected 0, got 1)", code)
    assert comment, "the example's comment changed: update this test"
    namespace = {"np": np}
    exec(code.replace("check.relu_grad(my_relu_grad)",
                      "report = check.relu_grad(my_relu_grad)"), namespace)
    report = namespace["report"]
    assert not report.passed
    failure = str(report.failures[0])
    assert "where the input is 0" in failure, failure
    assert "expected 0, got 1" in failure, failure


# Topics the preface's chapter map names for each chapter, each in a section
# heading of that chapter (case-insensitive): a section renamed or removed,
# or a row rewritten without it, fails until the two agree again.
MAP_TOPICS = {
    "calculus": ["Jacobian", "Hessian", "Vector–Jacobian", "Gradient checks",
                 "Matrix calculus"],
    "forward": ["forward pass"],
    "activations": ["Leaky ReLU", "Numerical stability", "Dead ReLU",
                    "Softmax", "Vanishing"],
    "losses": ["Mean squared error", "cross-entropy",
               "Weighted cross-entropy", "Focal loss", "likelihood",
               "Class imbalance"],
    "optimizers": ["Momentum", "AdaGrad", "RMSprop", "Adam",
                   "Minibatch", "schedules", "Newton", "preconditioning"],
    "backprop": ["four equations of backpropagation", "by hand",
                 "costs", "Vanishing and exploding gradients",
                 "from scratch"],
    "cnn": ["Pooling", "Convolution as a matrix", "fully connected layer",
            "receptive field", "fast"],
    "deep": ["Initialisation", "Batch normalisation", "Residual",
             "Dropout", "Weight decay", "clipping"],
    "digits": ["PyTorch", "from scratch", "small CNN", "accurac",
               "Overfitting", "regularisation", "learning rate"],
    "outlook": ["Tools", "Open", "questions"],
}


def test_the_chapter_map_names_sections_that_exist():
    text = (BOOK / "preface.md").read_text()
    for chapter in CHAPTERS:
        row = re.search(rf"^\| \{{(?:ref|doc)\}}`(?:chapter-)?{chapter}`"
                        r" \| (.*?) \|", text, re.M)
        assert row, chapter
        headings = " / ".join(re.findall(
            r"^#{2,3} (.+)$", (BOOK / f"{chapter}.md").read_text(), re.M))
        assert chapter in MAP_TOPICS, f"{chapter}: add its map topics here"
        for topic in MAP_TOPICS[chapter]:
            assert topic.lower() in row.group(1).lower(), (
                f"{chapter}: the map's row does not name {topic!r}")
            assert topic.lower() in headings.lower(), (
                f"{chapter}: no section on {topic!r} any more; its row in "
                f"the preface's chapter map says {row.group(1)!r}")


def test_the_short_module_has_what_backprop_relies_on():
    """The preface's short module on backpropagation takes every page the
    backprop chapter's "Before you start" box links (sections, equations,
    chapters), except the optimizers chapter, which the box names as a
    user of the gradient, not a prerequisite."""
    text = " ".join((BOOK / "preface.md").read_text().split())
    sentence = re.search(r"a short module on backpropagation can take (.*?)"
                         r"\. ", text).group(1)
    module = set(re.findall(r"\{ref\}`chapter-([\w-]+)`", sentence))
    box = _box("backprop")
    pages = _label_pages()
    eq_labels = re.findall(r"\{eq\}`([\w-]+)`", box)
    eq_pages = {}
    for page in BOOK.glob("*.md"):
        for label in re.findall(r"^\$\$ *\(([\w-]+)\)$", page.read_text(),
                                re.M):
            eq_pages[label] = page.stem
    linked = {pages[label] for label in REF.findall(box)}
    linked |= {eq_pages[label] for label in eq_labels}
    needed = linked - REFERENCE_PAGES - {"optimizers"}
    assert "uses what it computes" in " ".join(box.split())
    assert needed <= module, sorted(needed - module)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_opening_points_to_the_notation_page(chapter):
    """README, "How a chapter is written": the chapter's opening (before
    its first box) points to book/notation.md."""
    text = (BOOK / f"{chapter}.md").read_text()
    title = re.search(r"^# ", text, re.M).start()
    opening = text[title:text.index(":::{admonition}", title)]
    assert re.search(r"\{(?:ref|doc)\}`notation`", opening), chapter


def test_the_semester_plan_counts_the_chapters():
    """"the nine chapters from calculus to digits": counted in the toc."""
    text = " ".join((BOOK / "preface.md").read_text().split())
    plan = re.search(r"can take the (\w+) chapters from \{ref\}`chapter-"
                     r"([\w-]+)` to \{ref\}`chapter-([\w-]+)`", text)
    words = ["one", "two", "three", "four", "five", "six", "seven",
             "eight", "nine", "ten", "eleven", "twelve"]
    first, last = ORDER.index(plan.group(2)), ORDER.index(plan.group(3))
    assert words.index(plan.group(1)) + 1 == last - first + 1, plan.group(0)


def _figures(text: str) -> tuple[int, int]:
    """(explorers, figures drawn without controls) of a chapter: `explore(`
    calls, and figure calls at the start of a line (`plots.f(...)` or
    `digit_plots.f(...)`, the cell's shown value or `.show()`)."""
    explorers = len(re.findall(r"\bexplore\(", text))
    static = len(re.findall(r"^[\w.]*plots\.\w+\(", text, re.M))
    return explorers, static


def test_most_figures_are_interactive_as_the_preface_says():
    """"Most figures are interactive ... (figures of one measurement or one
    training run, such as the loss curves of the digits chapter, have no
    controls)": more explorers than figures without controls, and the
    digits chapter has some of the latter."""
    text = " ".join((BOOK / "preface.md").read_text().split())
    assert "Most figures are interactive" in text
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "Most figures are interactive on the static website" in readme
    counts = [_figures((BOOK / f"{c}.md").read_text()) for c in CHAPTERS]
    explorers = sum(e for e, _ in counts)
    static = sum(s for _, s in counts)
    assert explorers > static > 0, (explorers, static)
    assert _figures((BOOK / "digits.md").read_text())[1] > 0


def test_the_examples_worked_by_hand_are_recomputed():
    """The preface: "those of the examples worked by hand are typed, and
    the tests recompute them". Every chapter with a section worked by hand
    has a test of its own that names the worked example, its table or
    the hand computation."""
    text = " ".join((BOOK / "preface.md").read_text().split())
    assert ("those of the examples worked by hand are typed, and the tests "
            "recompute them") in text
    assert "Nothing is asserted" not in text
    for chapter in CHAPTERS:
        page = (BOOK / f"{chapter}.md").read_text()
        if not re.search(r"^#{2,3} .*(by hand|[Ww]orked example)", page,
                         re.M):
            continue
        tests = (ROOT / "tests" / f"test_{chapter}_chapter.py").read_text()
        assert re.search(r"^def test_\w*(worked|by_hand|table)", tests,
                         re.M), f"{chapter}: no test recomputes its example"
