"""Checks of the display formulas typed in book/activations.md."""

import pytest
import sympy as sp

from calc_nn import symbolic

CHAPTER = "activations.md"
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


# label -> (the formula exactly as typed in the chapter, its check)
CHECKED = {
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
}

