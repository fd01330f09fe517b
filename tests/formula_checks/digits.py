"""Checks of the display formulas typed in book/digits.md.

* The cross-entropy of a batch and its gradient with respect to the
  logits (classes and examples counted from 1, as typed), checked
  symbolically (SymPy, a batch of N = 2 with K = 3 classes) and compared
  with calc_nn.losses and PyTorch on a real-sized batch (N = 5, K = 10).
* The standard errors: the binomial one from the Bernoulli variance
  (sympy.stats), the per-example one against NumPy and torch, and the two
  equal on 0/1 values.
* The second-order model of one gradient step, against the exact
  expansion (SymPy) and against torch's Hessian-vector products; the
  step-size bound, solved by SymPy and exact on a quadratic.
"""

import numpy as np
import sympy as sp
import torch
import torch.nn.functional as F
from sympy import stats

from calc_nn import losses, train

CHAPTER = "digits.md"
N, K = 2, 3
# Z[i - 1, k - 1] is z_{ik}: the formulas count from 1, Python from 0
Z = sp.Matrix(N, K, lambda i, k: sp.Symbol(f"z_{i + 1}{k + 1}", real=True))
LABELS = (3, 1)  # y_1, y_2 in {1, ..., K}
POINT = dict(zip(Z, (0.3, -1.2, 2.0, 0.7, 0.1, -0.4)))


def ce_formula(z, labels):
    """eq-digits-ce as typed:
    -1/N sum_{i=1}^N log(e^{z_{i y_i}} / sum_{k=1}^K e^{z_{ik}})."""
    n, k_classes = z.shape

    def zz(i, k):  # z_{ik}, 1-based
        return z[i - 1, k - 1]

    return -sp.Rational(1, n) * sum(
        sp.log(sp.exp(zz(i, labels[i - 1]))
               / sum(sp.exp(zz(i, k)) for k in range(1, k_classes + 1)))
        for i in range(1, n + 1))


def ce_grad_formula(z, labels):
    """eq-digits-ce-grad as typed, entry (i, k), 1-based:
    (e^{z_ik} / sum_j e^{z_ij} - [k = y_i]) / N."""
    n, k_classes = z.shape
    return sp.Matrix(n, k_classes, lambda i0, k0: sp.Rational(1, n) * (
        sp.exp(z[i0, k0]) / sum(sp.exp(z[i0, j]) for j in range(k_classes))
        - (1 if k0 + 1 == labels[i0] else 0)))


def _numeric_batch():
    rng = np.random.default_rng(7)
    z = rng.standard_normal((5, 10)) * 3
    y = rng.integers(1, 11, 5)  # classes 1..K; the code's index is y - 1
    return z, y


def check_ce():
    # symbolic: the typed formula is log-sum-exp minus the true logit
    L = ce_formula(Z, LABELS)
    lse = sp.Rational(1, N) * sum(
        sp.log(sum(sp.exp(Z[i, k]) for k in range(K)))
        - Z[i, LABELS[i] - 1] for i in range(N))
    assert abs(float((L - lse).subs(POINT))) < 1e-12
    # numeric: the same formula against calc_nn and PyTorch (0-based)
    z, y = _numeric_batch()
    value = float(ce_formula(sp.Matrix(z.tolist()), tuple(map(int, y))))
    ours = float(losses.cross_entropy(z, y - 1))
    theirs = F.cross_entropy(torch.tensor(z), torch.tensor(y - 1)).item()
    assert abs(value - ours) < 1e-10 and abs(value - theirs) < 1e-10


def check_ce_grad():
    L = ce_formula(Z, LABELS)
    G = ce_grad_formula(Z, LABELS)
    for i in range(N):
        for k in range(K):
            diff = sp.diff(L, Z[i, k]) - G[i, k]
            assert abs(float(diff.subs(POINT))) < 1e-12
            assert sp.simplify(diff) == 0
    z, y = _numeric_batch()
    formula = np.array(ce_grad_formula(sp.Matrix(z.tolist()),
                                       tuple(map(int, y))), dtype=float)
    zt = torch.tensor(z, requires_grad=True)
    F.cross_entropy(zt, torch.tensor(y - 1)).backward()
    np.testing.assert_allclose(formula, zt.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(formula, losses.cross_entropy_grad(z, y - 1),
                               atol=1e-12)


def se_binomial_formula(p_hat, n):
    """eq-digits-se-binomial as typed: sqrt(p (1 - p) / N_val)."""
    return sp.sqrt(p_hat * (1 - p_hat) / n)


def se_formula(values):
    """eq-digits-se as typed: sqrt(sum_i (v_i - mean)^2) / N_val."""
    n = len(values)
    mean = sum(values) / n
    return sp.sqrt(sum((v - mean) ** 2 for v in values)) / n


def check_se_binomial():
    p = sp.Symbol("p", positive=True)
    # the variance of the mean of three independent Bernoulli(p) digits
    # is p (1 - p) / 3: the square of the typed formula with N_val = 3
    digits = [stats.Bernoulli(f"v{i}", p) for i in range(3)]
    variance = stats.variance(sum(digits) / 3)
    assert sp.simplify(variance - se_binomial_formula(p, 3) ** 2) == 0
    # on data: calc_nn's mean_and_se of 0/1 values is the formula
    rng = np.random.default_rng(3)
    for n, rate in ((2000, 0.94), (17, 0.5), (1, 1.0)):
        v = (rng.random(n) < rate).astype(float)
        p_hat, se = train.mean_and_se(v)
        exact = se_binomial_formula(sp.Rational(int(v.sum()), n), n)
        assert abs(se - float(exact)) < 1e-15 * max(1.0, float(exact)) + 1e-15


def check_se():
    # symbolic: k ones and N - k zeros give the binomial formula
    n, k = sp.symbols("N k", positive=True)
    mean = k / n
    sq = k * (1 - mean) ** 2 + (n - k) * mean ** 2  # sum of squares
    assert sp.simplify(sp.sqrt(sq) / n
                       - se_binomial_formula(mean, n)) == 0
    values = [sp.Rational(v) for v in ("0.3", "1.7", "-0.4", "2", "0")]
    assert sp.simplify(se_formula(values) - sp.sqrt(
        sum((v - sum(values) / 5) ** 2 for v in values)) / 5) == 0
    # numeric: against calc_nn, NumPy and torch (population std / sqrt N)
    rng = np.random.default_rng(4)
    v = rng.exponential(0.3, 500)  # skewed, like per-digit losses
    typed = float(se_formula([sp.Float(x, 30) for x in v]))
    _, ours = train.mean_and_se(v)
    theirs = torch.tensor(v).std(correction=0).item() / np.sqrt(len(v))
    np.testing.assert_allclose([ours, theirs, np.std(v) / np.sqrt(len(v))],
                               typed, rtol=1e-12)


def taylor_step_formula(L_theta, g, H, eta):
    """eq-digits-taylor-step as typed (right-hand side):
    L(theta) - eta g^T g + eta^2 / 2 g^T H g."""
    return L_theta - eta * (g.T * g)[0] + eta ** 2 / 2 * (g.T * H * g)[0]


def check_taylor_step():
    # symbolic: a non-quadratic loss of two weights; the exact expansion of
    # L(theta - eta g) in eta agrees with the formula to order eta^2
    t1, t2, eta = sp.symbols("theta1 theta2 eta", real=True)
    theta = sp.Matrix([t1, t2])
    L = sp.log(1 + sp.exp(t1 - 2 * t2)) + t1 ** 2 * t2 ** 2 / 4 + t2 ** 4
    g = sp.Matrix([sp.diff(L, t) for t in theta])
    H = sp.hessian(L, theta)
    at = {t1: sp.Rational(1, 2), t2: sp.Rational(-1, 3)}
    g0, H0, L0 = g.subs(at), H.subs(at), L.subs(at)
    stepped = L.subs({t1: at[t1] - eta * g0[0], t2: at[t2] - eta * g0[1]},
                     simultaneous=True)
    exact = sp.series(stepped, eta, 0, 3).removeO()
    assert sp.simplify(sp.expand(exact - taylor_step_formula(
        L0, g0, H0, eta))) == 0
    # torch: the error of the formula on a small network falls like eta^3
    torch.manual_seed(0)
    x, y = torch.randn(16, 5, dtype=torch.float64), torch.randint(0, 3, (16,))
    shapes = [(4, 5), (4,), (3, 4), (3,)]
    sizes = [int(np.prod(s)) for s in shapes]

    def loss(theta):
        W1, b1, W2, b2 = (t.reshape(s) for t, s in
                          zip(torch.split(theta, sizes), shapes))
        return F.cross_entropy(torch.tanh(x @ W1.T + b1) @ W2.T + b2, y)

    theta0 = torch.randn(sum(sizes), dtype=torch.float64) * 0.5
    g0 = torch.autograd.functional.jacobian(loss, theta0)
    _, Hg = torch.autograd.functional.hvp(loss, theta0, g0)
    errors = []
    for step in (1e-2, 5e-3):
        model = (loss(theta0) - step * g0 @ g0 + step ** 2 / 2 * g0 @ Hg)
        errors.append(abs((loss(theta0 - step * g0) - model).item()))
    assert 5 < errors[0] / errors[1] < 11  # 2^3 = 8: third order


def step_bound_formula(g, H):
    """eq-digits-step-bound as typed (the bound): 2 g^T g / g^T H g."""
    return 2 * float(g @ g) / float(g @ H @ g)


def check_step_bound():
    eta, a, b = sp.symbols("eta a b", positive=True)
    solved = sp.solve_univariate_inequality(-eta * a + eta ** 2 / 2 * b < 0,
                                            eta, relational=False)
    assert solved == sp.Interval.open(0, 2 * a / b)
    # on a quadratic the model is exact: the step lowers the loss iff
    # eta is below the bound, and the bound is >= 2 / lambda_max
    rng = np.random.default_rng(5)
    Q = np.linalg.qr(rng.standard_normal((6, 6)))[0]
    lams = np.array([0.1, 0.5, 1.0, 2.0, 4.0, 9.0])
    H = Q @ np.diag(lams) @ Q.T
    H_t = torch.tensor(H)

    def loss(theta):
        return 0.5 * theta @ H_t @ theta

    for _ in range(20):
        theta = torch.tensor(rng.standard_normal(6))
        g = torch.autograd.functional.jacobian(loss, theta).numpy()
        bound = step_bound_formula(g, H)
        assert bound >= 2 / lams.max() * (1 - 1e-12)
        for factor, sign in ((0.99, -1), (1.01, 1)):
            change = (loss(theta - factor * bound * torch.tensor(g))
                      - loss(theta)).item()
            assert np.sign(change) == sign
    top = Q[:, -1]  # along the top eigenvector the bound is 2 / lambda_max
    assert abs(step_bound_formula(H @ top, H) - 2 / lams.max()) < 1e-12


# label -> (the formula exactly as typed in the chapter, its check)
CHECKED = {
    "eq-digits-ce": (
        r"""L = -\frac{1}{N} \sum_{i=1}^{N} \log \frac{e^{z_{i y_i}}}{\sum_{k=1}^{K} e^{z_{i k}}}""",
        check_ce),
    "eq-digits-ce-grad": (
        r"""\frac{\partial L}{\partial z_{i k}} = \frac{1}{N} \left( \frac{e^{z_{i k}}}{\sum_{j=1}^{K} e^{z_{i j}}} - [k = y_i] \right)""",
        check_ce_grad),
    "eq-digits-se-binomial": (
        r"""\operatorname{SE}(\hat p) = \sqrt{\frac{\hat p (1 - \hat p)}{N_{\mathrm{val}}}}""",
        check_se_binomial),
    "eq-digits-se": (
        r"""\operatorname{SE}(\bar v) = \frac{1}{N_{\mathrm{val}}} \sqrt{\sum_{i=1}^{N_{\mathrm{val}}} (v_i - \bar v)^2}""",
        check_se),
    "eq-digits-taylor-step": (
        r"""L(\theta - \eta g) \approx L(\theta) - \eta\, g^\top g + \frac{\eta^2}{2}\, g^\top H g""",
        check_taylor_step),
    "eq-digits-step-bound": (
        r"""\eta < \frac{2\, g^\top g}{g^\top H g}""",
        check_step_bound),
}
