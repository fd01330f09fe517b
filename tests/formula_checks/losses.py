"""Checks of the display formulas typed in book/losses.md.

Each typed formula is rebuilt as a SymPy expression on a small batch
(N = 2 samples, C = 3 classes) and compared with SymPy's own derivative
of the losses in :mod:`calc_nn.symbolic.loss_formulas`, and where it states
PyTorch's semantics, with PyTorch.
"""

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F

from calc_nn import losses
from calc_nn.symbolic import loss_formulas as sym
from calc_nn.symbolic.activation_formulas import softmax

CHAPTER = "losses.md"
N, C = 2, 3


def _batch():
    """Logit symbols z[i][j], target symbols y[i][j] and the softmax
    p[i][j] of each row."""
    z = [[sp.Symbol(f"z_{i}{j}", real=True) for j in range(C)]
         for i in range(N)]
    y = [[sp.Symbol(f"y_{i}{j}", real=True) for j in range(C)]
         for i in range(N)]
    zc, s = softmax(C)
    p = [[s[j].subs(dict(zip(zc, z[i]))) for j in range(C)]
         for i in range(N)]
    return z, y, p


def _ce_batch(p, y):
    # L = -1/N sum_i sum_j y_ij log yhat_ij, as typed
    return -sp.Rational(1, N) * sum(y[i][j] * sp.log(p[i][j])
                                    for i in range(N) for j in range(C))


POINT = [[0.3, -1.2, 2.0], [1.5, 0.1, -0.4]]
TARGET = [[0.2, 0.5, 0.3], [1.0, 0.0, 0.0]]


def _subs(z, y, point=POINT, target=TARGET):
    out = {}
    for i in range(N):
        for j in range(C):
            out[z[i][j]] = sp.Rational(point[i][j])
            out[y[i][j]] = sp.Rational(target[i][j])
    return out


def check_ce_batch():
    z, y, p = _batch()
    L = _ce_batch(p, y)
    # SymPy's per-sample cross-entropy from calc_nn.symbolic, averaged
    zc, yc, _, per = sym.cross_entropy(C)
    mean = sum(per.subs({**dict(zip(zc, z[i])), **dict(zip(yc, y[i]))})
               for i in range(N)) / N
    assert sp.simplify(sp.expand_log(L - mean, force=True)) == 0
    value = float(L.subs(_subs(z, y)))
    assert value == pytest.approx(float(losses.cross_entropy(
        np.array(POINT), np.array(TARGET))), rel=1e-12)
    assert value == pytest.approx(F.cross_entropy(
        torch.tensor(POINT, dtype=torch.float64),
        torch.tensor(TARGET, dtype=torch.float64)).item(), rel=1e-12)


def check_ce_logit_gradient():
    z, y, p = _batch()
    L = _ce_batch(p, y)
    rows_sum_to_1 = {y[i][C - 1]: 1 - sum(y[i][:C - 1]) for i in range(N)}
    for i in range(N):
        for k in range(C):
            typed = sp.Rational(1, N) * (p[i][k] - y[i][k])
            diff = (sp.diff(L, z[i][k]) - typed).subs(rows_sum_to_1)
            assert sp.simplify(diff) == 0


def _theta_model():
    """Logits depending on one parameter theta: z_ij = a_ij theta + c_ij."""
    theta = sp.Symbol("theta", real=True)
    rng = np.random.default_rng(3)
    a = rng.integers(-3, 4, (N, C))
    c = rng.integers(-2, 3, (N, C))
    zc, s = softmax(C)
    yhat = [[s[j].subs({zc[k]: int(a[i, k]) * theta + int(c[i, k])
                        for k in range(C)}) for j in range(C)]
            for i in range(N)]
    return theta, yhat


def check_ce_theta_gradient():
    theta, yhat = _theta_model()
    y = [[sp.Rational(v) for v in row] for row in TARGET]
    L = -sp.Rational(1, N) * sum(y[i][j] * sp.log(yhat[i][j])
                                 for i in range(N) for j in range(C))
    true = sp.diff(L, theta)
    typed = -sp.Rational(1, N) * sum(
        y[i][j] / yhat[i][j] * sp.diff(yhat[i][j], theta)
        for i in range(N) for j in range(C))
    seed = -sp.Rational(1, N) * sum(
        (y[i][j] - yhat[i][j]) * sp.diff(yhat[i][j], theta)
        for i in range(N) for j in range(C))
    for t in (-0.7, 0.0, 0.4, 1.3):
        at = {theta: sp.Rational(t)}
        assert float(typed.subs(at)) == pytest.approx(
            float(true.subs(at)), rel=1e-12, abs=1e-15)
        # and the seed's version (seed 000 section 3.1) is not the gradient
        assert float(seed.subs(at)) != pytest.approx(float(true.subs(at)),
                                                     rel=1e-3)


def check_weighted_mean():
    n = 3
    w = sp.symbols("w_1:4", positive=True)
    ell = sp.symbols("ell_1:4", positive=True)
    mean = sum(wi * li for wi, li in zip(w, ell)) / sum(w)
    c = sp.Symbol("c", positive=True)
    # only the ratios of the weights matter ...
    assert sp.simplify(mean.subs({wi: c * wi for wi in w}, simultaneous=True)
                       - mean) == 0
    # ... and equal weights give the plain mean
    assert sp.simplify(mean.subs({wi: w[0] for wi in w})
                       - sum(ell) / n) == 0
    # it is what PyTorch computes
    logits = np.array([[1.5, -0.3, 0.2], [0.2, 0.4, -1.0], [-1.0, 2.0, 0.1]])
    target = np.array([0, 2, 1])
    weight = np.array([1.0, 10.0, 3.0])
    per = -np.log(np.exp(logits) / np.exp(logits).sum(1, keepdims=True))[
        np.arange(n), target]
    w_t = weight[target]
    formula = float(mean.subs({**dict(zip(w, w_t)), **dict(zip(ell, per))}))
    ref = F.cross_entropy(torch.tensor(logits), torch.tensor(target),
                          weight=torch.tensor(weight)).item()
    assert formula == pytest.approx(ref, rel=1e-12)
    assert formula == pytest.approx(float(losses.weighted_cross_entropy(
        logits, target, weight)), rel=1e-12)


def check_focal_gradient():
    t = 1  # the true class (0-based)
    zc, fl = sym.focal_expression(C, t)
    _, s = softmax(C)
    pt = s[t]
    g, a = sym.gamma, sym.alpha_t
    for k in range(C):
        delta = 1 if k == t else 0
        typed = -a * (1 - pt) ** g * (1 - g * pt * sp.log(pt) / (1 - pt)) * (
            delta - s[k])
        for point, gv, av in (((0.3, -1.0, 2.0), 2, 0.25),
                              ((1.0, 1.5, -0.5), sp.Rational(1, 2), 1),
                              ((-2.0, 0.0, 0.7), 5, 3)):
            at = {**{zi: sp.Rational(v) for zi, v in zip(zc, point)},
                  g: gv, a: av}
            assert float(typed.subs(at)) == pytest.approx(
                float(sp.diff(fl, zc[k]).subs(at)), rel=1e-12)


# label -> (the formula exactly as typed in the chapter, its check)
CHECKED = {
    "eq-ce-batch": (
        r"""L = -\frac{1}{N}\sum_{i=1}^{N}\sum_{j=1}^{C} y_{ij}\log \hat y_{ij}""",
        check_ce_batch),
    "eq-ce-logit-gradient": (
        r"""\frac{\partial L}{\partial z_{ik}} = \frac{1}{N}\,(p_{ik} - y_{ik})""",
        check_ce_logit_gradient),
    "eq-ce-theta-gradient": (
        r"""\frac{\partial L}{\partial \theta} = -\frac{1}{N}\sum_{i=1}^{N}
\sum_{j=1}^{C} \frac{y_{ij}}{\hat y_{ij}}\,
\frac{\partial \hat y_{ij}}{\partial \theta}""",
        check_ce_theta_gradient),
    "eq-weighted-mean": (
        r"""\ell = \frac{\sum_{i=1}^{N} w_{t_i}\,\ell_i}{\sum_{i=1}^{N} w_{t_i}},
\qquad \ell_i = -\log p_{i t_i}""",
        check_weighted_mean),
    "eq-focal-gradient": (
        r"""\frac{\partial \operatorname{FL}}{\partial z_k}
= -\alpha_t\,(1 - p_t)^{\gamma}\left[1 - \frac{\gamma\, p_t \log p_t}
{1 - p_t}\right](\delta_{kt} - p_k)""",
        check_focal_gradient),
}
