"""Checks of the display formulas typed in book/digits.md.

The cross-entropy of a batch and its gradient with respect to the logits,
checked symbolically (SymPy, a batch of B = 2 with C = 3 classes), and the
formulas' SymPy transcriptions compared with calc_nn.losses and PyTorch on
a real-sized batch (B = 5, C = 10).
"""

import numpy as np
import sympy as sp
import torch
import torch.nn.functional as F

from calc_nn import losses

CHAPTER = "digits.md"
B, C = 2, 3
Z = sp.Matrix(B, C, lambda n, c: sp.Symbol(f"z_{n}{c}", real=True))
LABELS = (2, 0)


def ce_formula(z, labels):
    """eq-digits-ce as typed: -1/B sum_n log(e^{z_{n y_n}} / sum_c e^{z_nc})."""
    b, c = z.shape
    return -sp.Rational(1, b) * sum(
        sp.log(sp.exp(z[n, labels[n]]) / sum(sp.exp(z[n, k])
                                             for k in range(c)))
        for n in range(b))


def ce_grad_formula(z, labels):
    """eq-digits-ce-grad as typed: (softmax(z_n)_c - [c = y_n]) / B."""
    b, c = z.shape
    return sp.Matrix(b, c, lambda n, j: sp.Rational(1, b) * (
        sp.exp(z[n, j]) / sum(sp.exp(z[n, k]) for k in range(c))
        - (1 if j == labels[n] else 0)))


def _numeric_batch():
    rng = np.random.default_rng(7)
    z = rng.standard_normal((5, 10)) * 3
    y = rng.integers(0, 10, 5)
    return z, y


def check_ce():
    # symbolic: the typed formula is log-sum-exp minus the true logit
    L = ce_formula(Z, LABELS)
    lse = sp.Rational(1, B) * sum(
        sp.log(sum(sp.exp(Z[n, k]) for k in range(C))) - Z[n, LABELS[n]]
        for n in range(B))
    point = {s: v for s, v in zip(Z, (0.3, -1.2, 2.0, 0.7, 0.1, -0.4))}
    assert abs(float((L - lse).subs(point))) < 1e-12
    # numeric: the same formula against calc_nn and PyTorch
    z, y = _numeric_batch()
    zs = sp.Matrix(z.tolist())
    value = float(ce_formula(zs, tuple(int(v) for v in y)))
    ours = float(losses.cross_entropy(z, y))
    theirs = F.cross_entropy(torch.tensor(z), torch.tensor(y)).item()
    assert abs(value - ours) < 1e-10 and abs(value - theirs) < 1e-10


def check_ce_grad():
    L = ce_formula(Z, LABELS)
    G = ce_grad_formula(Z, LABELS)
    point = {s: v for s, v in zip(Z, (0.3, -1.2, 2.0, 0.7, 0.1, -0.4))}
    for n in range(B):
        for c in range(C):
            diff = sp.diff(L, Z[n, c]) - G[n, c]
            assert abs(float(diff.subs(point))) < 1e-12
            assert sp.simplify(diff) == 0
    z, y = _numeric_batch()
    zs = sp.Matrix(z.tolist())
    formula = np.array(ce_grad_formula(zs, tuple(int(v) for v in y)),
                       dtype=float)
    zt = torch.tensor(z, requires_grad=True)
    F.cross_entropy(zt, torch.tensor(y)).backward()
    np.testing.assert_allclose(formula, zt.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(formula, losses.cross_entropy_grad(z, y),
                               atol=1e-12)


# label -> (the formula exactly as typed in the chapter, its check)
CHECKED = {
    "eq-digits-ce": (
        r"""L = -\frac{1}{B} \sum_{n=1}^{B} \log \frac{e^{z_{n y_n}}}{\sum_{c=0}^{9} e^{z_{n c}}}""",
        check_ce),
    "eq-digits-ce-grad": (
        r"""\frac{\partial L}{\partial z_{n c}} = \frac{1}{B} \left( \frac{e^{z_{n c}}}{\sum_{k=0}^{9} e^{z_{n k}}} - [c = y_n] \right)""",
        check_ce_grad),
}
