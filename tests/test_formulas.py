"""Every display formula typed by hand in a chapter is checked.

Formulas printed from ``calc_nn.symbolic`` by a code cell are checked where
they are made (``test_symbolic.py``). A display formula typed in a chapter's
Markdown must carry a label and appear, verbatim, in the chapter's module in
``tests/formula_checks/`` with a check that ties it to SymPy, or, for some
(batch norm's running statistics, gradient clipping, a variance estimated
by sampling), to PyTorch or NumPy. Editing a formula without updating its
check, or adding an unchecked one, fails.
"""

import importlib
import re
from pathlib import Path

import pytest
import sympy as sp

from calc_nn import symbolic

BOOK = Path(__file__).resolve().parents[1] / "book"


def _registry():
    """chapter -> label -> (formula as typed, check), one module per
    chapter in tests/formula_checks/."""
    registry = {}
    for path in sorted((Path(__file__).parent / "formula_checks").glob(
            "[!_]*.py")):
        module = importlib.import_module(f"formula_checks.{path.stem}")
        registry[module.CHAPTER] = module.CHECKED
    return registry


CHECKED = _registry()

DISPLAY = re.compile(r"^\$\$\n(.*?)\n\$\$(?: \((?P<label>[\w-]+)\))?$",
                     re.S | re.M)
MATH_DIRECTIVE = re.compile(r"^```\{math\}", re.M)


def display_formulas(text):
    return {m.group("label"): m.group(1).strip()
            for m in DISPLAY.finditer(text)}


def chapters():
    return sorted(p.name for p in BOOK.glob("*.md"))


@pytest.mark.parametrize("chapter", chapters())
def test_every_display_formula_is_labelled_and_checked(chapter):
    text = (BOOK / chapter).read_text()
    assert not MATH_DIRECTIVE.search(text), (
        "use $$ ... $$ (label) blocks, which this test reads")
    found = display_formulas(text)
    assert text.count("$$") == 2 * len(found), "unparsed $$ block"
    assert None not in found, "a display formula has no label"
    registered = CHECKED.get(chapter, {})
    unchecked = sorted(set(found) - set(registered))
    assert not unchecked, f"formulas without a check: {unchecked}"
    missing = sorted(set(registered) - set(found))
    assert not missing, f"checked formulas no longer in the chapter: " \
                        f"{missing}"
    for label, (typed, _) in registered.items():
        assert found[label] == typed, (
            f"{label} was edited: update its check in tests/"
            "test_formulas.py")


@pytest.mark.parametrize("chapter,label", [
    (c, label) for c, labels in CHECKED.items() for label in labels])
def test_formula_check(chapter, label):
    CHECKED[chapter][label][1]()


def test_a_wrong_formula_fails_its_check(monkeypatch):
    from formula_checks.activations import check_stable_sigmoid
    monkeypatch.setitem(symbolic.ACTIVATIONS, "sigmoid",
                        1 / (1 + sp.exp(-2 * symbolic.x)))
    with pytest.raises(AssertionError):
        check_stable_sigmoid()
