"""Checks of the display formulas typed in book/losses.md.

Each typed formula is rebuilt as a SymPy expression on a small batch
(N = 2 samples, K = 3 classes) and compared with SymPy's own derivative
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
N, K = 2, 3
C = K  # the loops below run over the classes


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
    # L = -1/N sum_i sum_k y_ik log p_ik, as typed
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
    document = -sp.Rational(1, N) * sum(
        (y[i][j] - yhat[i][j]) * sp.diff(yhat[i][j], theta)
        for i in range(N) for j in range(C))
    for t in (-0.7, 0.0, 0.4, 1.3):
        at = {theta: sp.Rational(t)}
        assert float(typed.subs(at)) == pytest.approx(
            float(true.subs(at)), rel=1e-12, abs=1e-15)
        # and the CNN document's version (its section 3.1) is not the
        # gradient
        assert float(document.subs(at)) != pytest.approx(
            float(true.subs(at)), rel=1e-3)


def check_weighted_mean():
    n = 3
    w = sp.symbols("alpha_1:4", positive=True)  # alpha_{t_i}
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
    dfl_dpt = sym.focal_gradient_p().subs(sym.p_t, pt)
    for k in range(C):
        bracket = 1 if k == t else 0   # [k = t]
        members = [dfl_dpt * pt * (bracket - s[k]),
                   -a * (1 - pt) ** g * (1 - g * pt * sp.log(pt) / (1 - pt))
                   * (bracket - s[k])]
        for point, gv, av in (((0.3, -1.0, 2.0), 2, 0.25),
                              ((1.0, 1.5, -0.5), sp.Rational(1, 2), 1),
                              ((-2.0, 0.0, 0.7), 5, 3)):
            at = {**{zi: sp.Rational(v) for zi, v in zip(zc, point)},
                  g: gv, a: av}
            true = float(sp.diff(fl, zc[k]).subs(at))
            for member in members:
                assert float(member.subs(at)) == pytest.approx(true,
                                                               rel=1e-12)


def check_mse_gradient():
    """(2/M)(y_hat_i - y_i), M the number of entries; PyTorch agrees."""
    for M in (1, 3, 4):
        y_hat, y, loss = sym.mse(M)
        for i in range(M):
            typed = sp.Rational(2, M) * (y_hat[i] - y[i])
            assert sp.expand(sp.diff(loss, y_hat[i]) - typed) == 0
    # a batch of N = 2 samples with m = 3 outputs: M = N m = 6 entries
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    t = torch.tensor(a, requires_grad=True)
    F.mse_loss(t, torch.tensor(b)).backward()
    np.testing.assert_allclose(t.grad.numpy(), 2 / 6 * (a - b), rtol=1e-14)


def check_bce_gradient():
    """Each member of the chain equals d BCE / dz, with p = sigma(z)."""
    z, y = sym.z, sym.y
    p = sym.sigma_of(z)
    true = sp.diff(sym.bce(), z)
    members = [(-y / p + (1 - y) / (1 - p)) * p * (1 - p),
               -y * (1 - p) + (1 - y) * p, p - y]
    for member in members:
        assert sp.simplify(member - true) == 0


def check_ce_chain():
    """The four members of the chain for one sample with K = 3 classes;
    the last one needs sum_j y_j = 1."""
    zc, p = softmax(K)
    y = sp.symbols("y_1:4", real=True)
    ell = -sum(yj * sp.log(pj) for yj, pj in zip(y, p))
    rows_sum_to_1 = {y[-1]: 1 - sum(y[:-1])}
    for k in range(K):
        true = sp.diff(ell, zc[k])
        jac = [p[j] * ((1 if j == k else 0) - p[k]) for j in range(K)]
        members = [sum((-y[j] / p[j]) * jac[j] for j in range(K)),
                   -y[k] + p[k] * sum(y)]
        for member in members:
            assert sp.simplify(member - true) == 0
        assert sp.simplify((p[k] - y[k] - true).subs(rows_sum_to_1)) == 0
        # the chain-rule form of the second member: dl/dp_j dp_j/dz_k with
        # SymPy's own softmax derivative
        assert sp.simplify(sum(-y[j] / p[j] * sp.diff(p[j], zc[k])
                               for j in range(K)) - true) == 0


# label -> (the formula exactly as typed in the chapter, its check)
CHECKED = {
    "eq-mse-gradient": (
        r"""\frac{\partial\,\operatorname{MSE}}{\partial \hat y_i}
= \frac{2}{M}\,(\hat y_i - y_i)""",
        check_mse_gradient),
    "eq-bce-gradient": (
        r"""\begin{aligned}
\frac{\partial \ell}{\partial z}
&= \Bigl(-\frac{y}{p} + \frac{1 - y}{1 - p}\Bigr)\, p\,(1 - p) \\
&= -y\,(1 - p) + (1 - y)\,p
= p - y
\end{aligned}""",
        check_bce_gradient),
    "eq-ce-batch": (
        r"""L = -\frac{1}{N}\sum_{i=1}^{N}\sum_{k=1}^{K} y_{ik}\log p_{ik}""",
        check_ce_batch),
    "eq-ce-chain": (
        r"""\begin{aligned}
\frac{\partial \ell}{\partial z_k}
&= \sum_{j=1}^{K} \frac{\partial \ell}{\partial p_j}\,
\frac{\partial p_j}{\partial z_k}
= \sum_{j=1}^{K} \Bigl(-\frac{y_j}{p_j}\Bigr)\, p_j\,([j = k] - p_k) \\
&= -y_k + p_k \sum_{j=1}^{K} y_j
= p_k - y_k
\end{aligned}""",
        check_ce_chain),
    "eq-ce-logit-gradient": (
        r"""\frac{\partial L}{\partial z_{ik}} = \frac{1}{N}\,(p_{ik} - y_{ik})""",
        check_ce_logit_gradient),
    "eq-ce-theta-gradient": (
        r"""\frac{\partial L}{\partial \theta} = -\frac{1}{N}\sum_{i=1}^{N}
\sum_{k=1}^{K} \frac{y_{ik}}{p_{ik}}\,
\frac{\partial p_{ik}}{\partial \theta}""",
        check_ce_theta_gradient),
    "eq-weighted-mean": (
        r"""L = \frac{\sum_{i=1}^{N} \alpha_{t_i}\,\ell_i}{\sum_{i=1}^{N} \alpha_{t_i}},
\qquad \ell_i = -\log p_{i t_i}""",
        check_weighted_mean),
    "eq-focal-gradient": (
        r"""\begin{aligned}
\frac{\partial \operatorname{FL}}{\partial z_k}
&= \frac{d\operatorname{FL}}{dp_t}\, p_t\,([k = t] - p_k) \\
&= -\alpha_t\,(1 - p_t)^{\gamma}\left[1 - \frac{\gamma\, p_t \log p_t}
{1 - p_t}\right] \\
&\qquad \times ([k = t] - p_k)
\end{aligned}""",
        check_focal_gradient),
}
