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


def check_sigmoid_grad_cosh():
    """Each member of the chain is sigma'(x); the denominator
    e^x + 2 + e^{-x} is even in x, as the text reads off it."""
    e, ex = sp.exp(-x), sp.exp(x)
    members = [e / (1 + e) ** 2, e * ex / (ex * (1 + e) ** 2),
               1 / (ex * (1 + 2 * e + sp.exp(-2 * x))),
               1 / (ex + 2 + e), 1 / (2 + 2 * sp.cosh(x))]
    true = sp.diff(symbolic.activation("sigmoid"), x)
    for member in members:
        assert sp.simplify((member - true).rewrite(sp.exp)) == 0
    denominator = ex + 2 + e
    assert sp.simplify(denominator.subs(x, -x) - denominator) == 0


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
    """Entry (i, j) is p_i([i = j] - p_j); the matrix diag(p) - p p^T."""
    for n in (2, 3):
        z, p = symbolic.softmax(n)
        _, J = symbolic.softmax_jacobian(n)
        entrywise = sp.Matrix(n, n, lambda i, j: p[i] * (
            (1 if i == j else 0) - p[j]))
        matrix = sp.diag(*p) - p * p.T
        assert sp.simplify(J - entrywise) == sp.zeros(n, n)
        assert sp.simplify(J - matrix) == sp.zeros(n, n)
        # the quotient-rule step of the text: ([i = j] e^{z_i} S -
        # e^{z_i} e^{z_j}) / S^2 = [i = j] p_i - p_i p_j
        S = sum(sp.exp(v) for v in z)
        quotient = sp.Matrix(n, n, lambda i, j: (
            (1 if i == j else 0) * sp.exp(z[i]) * S
            - sp.exp(z[i]) * sp.exp(z[j])) / S ** 2)
        assert sp.simplify(J - quotient) == sp.zeros(n, n)


def check_sigmoid_derivative():
    """Each member of the chain of equalities is sigma'(x)."""
    e = sp.exp(-x)
    sig = symbolic.activation("sigmoid")
    members = [-(1 + e) ** -2 * (-e), e / (1 + e) ** 2,
               1 / (1 + e) * e / (1 + e), sig * (1 - sig)]
    true = sp.diff(sig, x)
    for member in members:
        assert sp.simplify(member - true) == 0
    # and the maximum 1/4 at x = 0 that the text reads off s(1 - s)
    s = sp.Symbol("s")
    assert sp.solve(sp.diff(s * (1 - s), s), s) == [sp.Rational(1, 2)]
    assert true.subs(x, 0) == sp.Rational(1, 4)


def check_tanh_derivative():
    """u' = v, v' = u, and each member equals d tanh / dx."""
    u, v = sp.exp(x) - sp.exp(-x), sp.exp(x) + sp.exp(-x)
    assert sp.simplify(sp.diff(u, x) - v) == 0
    assert sp.simplify(sp.diff(v, x) - u) == 0
    true = sp.diff(symbolic.activation("tanh"), x)
    members = [(sp.diff(u, x) * v - u * sp.diff(v, x)) / v ** 2,
               (v ** 2 - u ** 2) / v ** 2, 1 - sp.tanh(x) ** 2]
    for member in members:
        assert sp.simplify((member - true).rewrite(sp.exp)) == 0
    # the remark after it: v^2 - u^2 = 4
    assert sp.expand(v ** 2 - u ** 2) == 4


# label -> (the formula exactly as typed in the chapter, its check)
CHECKED = {
        "eq-sigmoid-derivative": (
            r"""\begin{aligned}
\sigma'(x) &= -\bigl(1 + e^{-x}\bigr)^{-2} \cdot \bigl(-e^{-x}\bigr)
= \frac{e^{-x}}{(1 + e^{-x})^2} \\
&= \frac{1}{1 + e^{-x}} \cdot \frac{e^{-x}}{1 + e^{-x}}
= \sigma(x)\,\bigl(1 - \sigma(x)\bigr)
\end{aligned}""",
            check_sigmoid_derivative),
        "eq-tanh-derivative": (
            r"""\tanh'(x) = \frac{u'v - u v'}{v^2} = \frac{v^2 - u^2}{v^2}
= 1 - \tanh^2(x)""",
            check_tanh_derivative),
        "eq-stable-sigmoid": (
            r"""\sigma(x) = \begin{cases} \dfrac{1}{1 + e^{-|x|}} & x \ge 0 \\[2ex]
\dfrac{e^{-|x|}}{1 + e^{-|x|}} & x < 0 \end{cases}""",
            check_stable_sigmoid),
        "eq-sigmoid-grad-cosh": (
            r"""\begin{aligned}
\sigma'(x) &= \frac{e^{-x}}{(1 + e^{-x})^2}
= \frac{e^{-x}\,e^{x}}{e^{x}\,(1 + e^{-x})^2} \\
&= \frac{1}{e^{x}\,(1 + 2e^{-x} + e^{-2x})}
= \frac{1}{e^{x} + 2 + e^{-x}} \\
&= \frac{1}{2 + 2\cosh x}
\end{aligned}""",
            check_sigmoid_grad_cosh),
        "eq-chain-product": (
            r"""\frac{\partial a^D}{\partial a^0}
= \prod_{k=1}^{D} \frac{\partial a^k}{\partial a^{k-1}}
= \prod_{k=1}^{D} w\, f'(z^k)""",
            check_chain_product),
        "eq-softmax-jacobian": (
            r"""\begin{gathered}
\frac{\partial p_i}{\partial z_j} = p_i\,([i = j] - p_j), \\
J = \operatorname{diag}(p) - p\,p^\top
\end{gathered}""",
            check_softmax_jacobian),
}
