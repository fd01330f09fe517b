"""Every display formula typed by hand in a chapter is checked by SymPy.

Formulas printed from ``calc_nn.symbolic`` by a code cell are checked where
they are made (``test_symbolic.py``). A display formula typed in a chapter's
Markdown must carry a label and appear below, verbatim, with a check that
ties it to the SymPy expressions. Editing a formula without updating its
check, or adding an unchecked one, fails this test.
"""

import re
from pathlib import Path

import pytest
import sympy as sp

from calc_nn import symbolic

BOOK = Path(__file__).resolve().parents[1] / "book"
x = symbolic.x


def check_stable_sigmoid():
    sig = symbolic.activation("sigmoid")
    pos = sp.Symbol("x", positive=True)
    neg = sp.Symbol("x", negative=True)
    upper = 1 / (1 + sp.exp(-sp.Abs(pos)))
    lower = sp.exp(-sp.Abs(neg)) / (1 + sp.exp(-sp.Abs(neg)))
    assert sp.simplify(upper - sig.subs(x, pos)) == 0
    assert sp.simplify(lower - sig.subs(x, neg)) == 0


def check_chain_product():
    w, a0 = sp.symbols("w a_0", real=True)
    for name in ("sigmoid", "tanh"):
        f = sp.Lambda(x, symbolic.activation(name))
        fp = sp.Lambda(x, symbolic.derivative(name))
        a, product = [a0], sp.Integer(1)
        for _ in range(3):
            z = w * a[-1]
            a.append(f(z))
            product *= w * fp(z)
        lhs = sp.diff(a[-1], a0)
        for wv, av in ((0.7, 0.3), (-1.3, 2.0), (2.5, -0.4)):
            point = {w: wv, a0: av}
            assert float(lhs.subs(point)) == pytest.approx(
                float(product.subs(point)), rel=1e-12)


def check_softmax_jacobian():
    for n in (2, 3):
        z, s = symbolic.softmax(n)
        _, J = symbolic.softmax_jacobian(n)
        entrywise = sp.Matrix(n, n, lambda i, j: s[i] * (
            sp.KroneckerDelta(i, j) - s[j]))
        matrix = sp.diag(*s) - s * s.T
        assert sp.simplify(J - entrywise) == sp.zeros(n, n)
        assert sp.simplify(J - matrix) == sp.zeros(n, n)


# chapter -> label -> (the formula as typed, its check)
CHECKED = {
    "activations.md": {
        "eq-stable-sigmoid": (
            r"""\sigma(x) = \begin{cases} \dfrac{1}{1 + e^{-|x|}} & x \ge 0 \\[2ex]
\dfrac{e^{-|x|}}{1 + e^{-|x|}} & x < 0 \end{cases}""",
            check_stable_sigmoid),
        "eq-chain-product": (
            r"""\frac{\partial a_n}{\partial a_0}
= \prod_{k=1}^{n} \frac{\partial a_k}{\partial a_{k-1}}
= \prod_{k=1}^{n} w\, f'(z_k)""",
            check_chain_product),
        "eq-softmax-jacobian": (
            r"""\frac{\partial s_i}{\partial z_j} = s_i\,(\delta_{ij} - s_j),
\qquad
J = \operatorname{diag}(s) - s\,s^\top""",
            check_softmax_jacobian),
    },
}

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
    monkeypatch.setitem(symbolic.ACTIVATIONS, "sigmoid",
                        1 / (1 + sp.exp(-2 * x)))
    with pytest.raises(AssertionError):
        check_stable_sigmoid()
