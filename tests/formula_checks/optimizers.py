"""Checks of the display formulas typed in book/optimizers.md: each is
derived again by SymPy, or recomputed by calc_nn and torch."""

import itertools

import numpy as np
import pytest
import sympy as sp
import torch

from calc_nn import landscapes, optim
from calc_nn.symbolic import landscape_formulas as sym

CHAPTER = "optimizers.md"
x, y = sym.x, sym.y
eta = sp.Symbol("eta", positive=True)
mu = sp.Symbol("mu", nonnegative=True)
lam = sp.Symbol("lambda", positive=True)
POINTS = [(-1.5, 2.5), (0.3, -0.7), (2.0, 1.0)]


def _sympy_grad(name, point):
    return np.array(sym.gradient(name).subs({x: point[0], y: point[1]}),
                    dtype=float).ravel()


def check_taylor_step():
    """The coefficient of eta^0 and eta^1 of L(theta - eta g) are L and
    -|g|^2, for every landscape, at a symbolic point."""
    for name in ("rosenbrock", "himmelblau", "saddle"):
        L = sym.landscape(name)
        g = sym.gradient(name)
        stepped = L.subs({x: x - eta * g[0], y: y - eta * g[1]},
                         simultaneous=True)
        poly = sp.Poly(sp.expand(stepped), eta)
        coeffs = dict(zip([m[0] for m in poly.monoms()], poly.coeffs()))
        assert sp.simplify(coeffs[0] - L) == 0
        assert sp.simplify(coeffs[1] + (g[0] ** 2 + g[1] ** 2)) == 0


def check_gd():
    for point in POINTS:
        theta = np.array(point)
        g = _sympy_grad("rosenbrock", point)
        expected = theta - 1e-3 * g
        got, _ = optim.gd_step(theta, landscapes.rosenbrock().grad(theta),
                               None, lr=1e-3)
        np.testing.assert_allclose(got, expected, rtol=1e-14)


def check_gd_eigen():
    """u = Q^T theta: one GD step on the bowl is u -> (I - eta Lambda) u."""
    kappa = sym.kappa
    H = sym.hessian("quadratic")
    c, s = sp.cos(sp.pi / 6), sp.sin(sp.pi / 6)
    Q = sp.Matrix([[c, -s], [s, c]])
    Lam = sp.diag(1, 1 / kappa)
    assert sp.simplify(Q * Lam * Q.T - H) == sp.zeros(2, 2)
    theta = sp.Matrix([x, y])
    grad = sym.gradient("quadratic")
    u_next = Q.T * (theta - eta * grad)
    assert sp.simplify(u_next - (sp.eye(2) - eta * Lam) * Q.T * theta) \
        == sp.zeros(2, 1)


def check_gd_best_rate():
    """At eta = 2/(lmax + lmin) the two extreme factors are opposite and
    equal to (kappa-1)/(kappa+1); no learning rate on a fine grid has a
    smaller largest factor."""
    lmin, lmax = sp.symbols("lambda_min lambda_max", positive=True)
    best = 2 / (lmax + lmin)
    kappa = lmax / lmin
    assert sp.simplify((1 - best * lmin) - (kappa - 1) / (kappa + 1)) == 0
    assert sp.simplify((1 - best * lmin) + (1 - best * lmax)) == 0
    lams = np.array([1.0, 0.1])
    etas = np.linspace(0.01, 2.0, 4000)
    worst = np.abs(1 - etas[:, None] * lams).max(axis=1)
    assert worst.min() >= 9 / 11 - 1e-12
    assert abs(etas[worst.argmin()] - 2 / 1.1) < 1e-3


THETA0 = sp.Symbol("theta_0", real=True)


def _momentum_paths(lrs, mu_=sp.Rational(4, 5), n=3):
    """Symbolic gradients g_1..g_n: the NN document's and PyTorch's
    momentum."""
    gs = sp.symbols(f"g1:{n + 1}", real=True)
    theta_nn = theta_torch = THETA0
    v = b = 0
    for g, lr in zip(gs, lrs):
        v = mu_ * v + lr * g          # eq-nn-momentum
        theta_nn = theta_nn - v
        b = mu_ * b + g               # eq-torch-momentum
        theta_torch = theta_torch - lr * b
    return gs, theta_nn, theta_torch


def check_nn_momentum():
    # same method with a constant learning rate ...
    _, nn_form, torch_form = _momentum_paths([eta] * 3)
    assert sp.simplify(nn_form - torch_form) == 0
    # ... different ones when the learning rate changes
    _, nn_form, torch_form = _momentum_paths([eta, eta / 10, eta / 10])
    assert sp.simplify(nn_form - torch_form) != 0


def check_torch_momentum():
    mu_, lr = 0.8, 0.05
    gs, _, theta_torch = _momentum_paths([lr] * 3, mu_=mu_)
    values = [1.5, -0.3, 2.0]
    expected = float(theta_torch.subs({**dict(zip(gs, values)),
                                       THETA0: 0.7}))
    theta, state = np.array([0.7]), None
    for g in values:
        theta, state = optim.momentum_step(theta, np.array([g]), state,
                                           lr=lr, momentum=mu_)
    assert theta[0] == pytest.approx(expected, rel=1e-14)


def _typed_momentum_matrix():
    return sp.Matrix([[1 - eta * lam, -eta * mu], [lam, mu]])


def check_momentum_matrix():
    """SymPy derives M from the update rule; one momentum_step of calc_nn
    on (lam/2) u^2 from a state (u, b~) is M (u, b~), where b~ is the
    buffer in eigen-coordinates (the chapter's tilde b)."""
    assert sp.simplify(sym.momentum_matrix(eta, mu, lam)
                       - _typed_momentum_matrix()) == sp.zeros(2, 2)
    rng = np.random.default_rng(0)
    for _ in range(5):
        lr, m, curv = rng.uniform(0.01, 2), rng.uniform(0, 0.99), \
            rng.uniform(0.1, 3)
        u, b_tilde = rng.standard_normal(2)
        state = {"buf": np.array([b_tilde]), "step": 1}
        theta, state = optim.momentum_step(
            np.array([u]), np.array([curv * u]), state, lr=lr, momentum=m)
        M = np.array(_typed_momentum_matrix().subs(
            {eta: lr, mu: m, lam: curv}), dtype=float)
        np.testing.assert_allclose([theta[0], state["buf"][0]],
                                   M @ [u, b_tilde], rtol=1e-13,
                                   atol=1e-15)


def check_momentum_charpoly():
    z = sp.Symbol("z")
    typed = z ** 2 - (1 + mu - eta * lam) * z + mu
    M = _typed_momentum_matrix()
    assert sp.expand((z * sp.eye(2) - M).det() - typed) == 0
    assert sp.expand(sym.momentum_charpoly(eta, mu, lam, z) - typed) == 0
    # the roots are the eigenvalues calc_nn computes, and numpy's
    for lr, m, curv in [(0.3, 0.5, 1.0), (3.0, 0.5, 1.0), (0.01, 0.9, 0.1),
                        (2.31, 0.27, 0.1)]:
        M_num = np.array(M.subs({eta: lr, mu: m, lam: curv}), dtype=float)
        ours = np.sort_complex(optim.momentum_eigenvalues(lr, m, curv))
        np.testing.assert_allclose(ours, np.sort_complex(
            np.linalg.eigvals(M_num).astype(complex)), atol=1e-12)
    # the stability bound: a root at -1 exactly at eta lam = 2 (1 + mu)
    assert sp.simplify(sym.momentum_critical_lr(mu, lam)
                       - 2 * (1 + mu) / lam) == 0


def check_heavy_ball():
    lmin, lmax = sp.symbols("lambda_min lambda_max", positive=True)
    kappa = lmax / lmin
    lr, m, rate = sym.optimal_momentum(lmin, lmax)
    assert sp.simplify(lr - 4 / (sp.sqrt(lmax) + sp.sqrt(lmin)) ** 2) == 0
    typed_rate = (sp.sqrt(kappa) - 1) / (sp.sqrt(kappa) + 1)
    assert sp.simplify(m - typed_rate ** 2) == 0
    assert sp.simplify(rate - typed_rate) == 0
    # numerically: the factor at (eta*, mu*) is sqrt(mu*), and no point of
    # a grid of (eta, mu) does better on the bowl with kappa = 10
    lams = [1.0, 0.1]
    best_lr, best_mu = 4 / (1 + 0.1 ** 0.5) ** 2, (
        (10 ** 0.5 - 1) / (10 ** 0.5 + 1)) ** 2
    at_best = float(optim.momentum_rate(best_lr, best_mu, lams))
    assert at_best == pytest.approx(best_mu ** 0.5, rel=1e-6)
    grid = optim.momentum_rate(np.linspace(0.01, 4, 400)[:, None],
                               np.linspace(0, 0.99, 300)[None, :], lams)
    assert grid.min() >= at_best - 1e-9


def check_adagrad():
    """The recursion, by hand, against calc_nn and torch.optim.Adagrad."""
    grads = [np.array([0.3, -2.0]), np.array([1e-3, 5.0]),
             np.array([-1.0, 0.5])]
    lr, eps = 0.1, 1e-10
    theta, s = np.array([0.5, -0.2]), np.zeros(2)
    ours, state = theta.copy(), None
    p = torch.tensor(theta, requires_grad=True)
    opt = torch.optim.Adagrad([p], lr=lr, eps=eps)
    for g in grads:
        s = s + g ** 2
        theta = theta - lr * g / (np.sqrt(s) + eps)
        ours, state = optim.adagrad_step(ours, g, state, lr=lr, eps=eps)
        p.grad = torch.tensor(g)
        opt.step()
    np.testing.assert_allclose(ours, theta, rtol=1e-14)
    np.testing.assert_allclose(p.detach().numpy(), theta, rtol=1e-14)


def _rms(alpha, eps, lr, grads, inside):
    v = sp.Integer(0)
    theta = sp.Rational(1, 2)
    for g in grads:
        v = alpha * v + (1 - alpha) * g ** 2
        denom = sp.sqrt(v + eps) if inside else sp.sqrt(v) + eps
        theta = theta - lr * g / denom
    return theta


def check_nn_rmsprop():
    grads = [sp.Rational(3, 10), -2, sp.Rational(1, 1000)]
    a, lr = sp.Rational(9, 10), sp.Rational(1, 100)
    eps = sp.Symbol("epsilon", positive=True)
    inside = _rms(a, eps, lr, grads, inside=True)
    outside = _rms(a, eps, lr, grads, inside=False)
    # equal without eps, different with it
    assert sp.simplify(inside.subs(eps, 0) - outside.subs(eps, 0)) == 0
    assert sp.simplify(inside - outside) != 0
    # and calc_nn (PyTorch's convention) is the eps-outside one
    theta, state = np.array([0.5]), None
    for g in grads:
        theta, state = optim.rmsprop_step(theta, np.array([float(g)]), state,
                                          lr=0.01, alpha=0.9, eps=1e-3)
    assert theta[0] == pytest.approx(float(outside.subs(eps, 1e-3)),
                                     rel=1e-13)
    assert theta[0] != pytest.approx(float(inside.subs(eps, 1e-3)),
                                     rel=1e-6)


def check_torch_rmsprop():
    grads = [0.3, -2.0, 1e-3, 5.0]
    expected = float(_rms(sp.Rational(99, 100), sp.Float(1e-8), 0.01,
                          [sp.Float(g) for g in grads], inside=False))
    theta, state = np.array([0.5]), None
    for g in grads:
        theta, state = optim.rmsprop_step(theta, np.array([g]), state,
                                          lr=0.01)
    assert theta[0] == pytest.approx(expected, rel=1e-13)


def check_ema_unrolled():
    """The recursion m_t = beta m_{t-1} + (1 - beta) g_t from m_0 = 0,
    unrolled by SymPy, is the weighted sum; Adam's state is it."""
    beta = sp.Symbol("beta", positive=True)
    gs = sp.symbols("g1:7", real=True)
    m = 0
    for t, g in enumerate(gs, start=1):
        m = beta * m + (1 - beta) * g
        unrolled = (1 - beta) * sum(beta ** (t - k) * gs[k - 1]
                                    for k in range(1, t + 1))
        assert sp.expand(m - unrolled) == 0
    values = [0.4, -1.0, 2.5, 0.1, 0.0, -0.3]
    theta, state = np.zeros(1), None
    for g in values:
        theta, state = optim.adam_step(theta, np.array([g]), state, lr=0.1,
                                       betas=(0.7, 0.9))
    expected = float(unrolled.subs({beta: sp.Rational(7, 10),
                                    **dict(zip(gs, values))}))
    assert state["exp_avg"][0] == pytest.approx(expected, rel=1e-13)


def check_bias_correction():
    beta, t = sp.Symbol("beta", positive=True), sp.Symbol(
        "t", positive=True, integer=True)
    g = sp.Symbol("g", real=True)
    k = sp.Symbol("k", integer=True, positive=True)
    # m_t for a constant gradient g, from m_0 = 0
    m_t = g * sp.simplify((1 - beta) * sp.summation(beta ** (t - k),
                                                    (k, 1, t)))
    assert sp.simplify(m_t / (1 - beta ** t) - g) == 0
    # Adam's state: m_hat of a constant gradient is that gradient
    theta, state = np.zeros(1), None
    for step in range(1, 6):
        theta, state = optim.adam_step(theta, np.array([0.4]), state,
                                       lr=0.1, betas=(0.7, 0.9))
        assert state["exp_avg"][0] / (1 - 0.7 ** step) == pytest.approx(
            0.4, rel=1e-14)


# five per-example gradients in R^2, exact
_GRADS = [sp.Matrix([3, -1]), sp.Matrix([0, 2]), sp.Matrix([-2, 5]),
          sp.Matrix([1, 1]), sp.Matrix([4, 0])]


def _batches(B):
    return list(itertools.combinations(range(len(_GRADS)), B))


def _batch_mean(batch):
    return sum((_GRADS[i] for i in batch), sp.zeros(2, 1)) / len(batch)


def check_minibatch_gradient():
    """Exactly, over every minibatch of every size: the mean of g_B is the
    full gradient. And calc_nn's softmax-regression minibatch gradient is
    the mean of torch's per-example gradients."""
    full = _batch_mean(range(len(_GRADS)))
    for B in range(1, len(_GRADS) + 1):
        batches = _batches(B)
        assert sum((_batch_mean(b) for b in batches),
                   sp.zeros(2, 1)) / len(batches) == full
    from calc_nn import losses
    rng = np.random.default_rng(0)
    X, labels = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    W, b = rng.standard_normal((3, 4)), rng.standard_normal(3)
    idx = np.array([0, 2, 5])
    G = losses.cross_entropy_grad(X[idx] @ W.T + b, labels[idx])
    ours = np.concatenate([(G.T @ X[idx]).ravel(), G.sum(axis=0)])
    per_example = []
    for i in idx:
        Wt = torch.tensor(W, requires_grad=True)
        bt = torch.tensor(b, requires_grad=True)
        torch.nn.functional.cross_entropy(
            (torch.tensor(X[i]) @ Wt.T + bt)[None],
            torch.tensor([labels[i]])).backward()
        per_example.append(np.concatenate([Wt.grad.numpy().ravel(),
                                           bt.grad.numpy()]))
    np.testing.assert_allclose(ours, np.mean(per_example, axis=0),
                               rtol=1e-12, atol=1e-15)


def check_minibatch_variance():
    """Exactly, over every minibatch of every size (without
    replacement): the mean squared error is tr(Sigma)/B (N-B)/(N-1)."""
    N = len(_GRADS)
    full = _batch_mean(range(N))
    trace = sum(((g - full).T * (g - full))[0] for g in _GRADS) / N
    for B in range(1, N + 1):
        errors = [((_batch_mean(b) - full).T * (_batch_mean(b) - full))[0]
                  for b in _batches(B)]
        assert sum(errors) / len(errors) == trace / B * sp.Rational(
            N - B, N - 1)


def check_noise_floor():
    """SymPy solves the stationary variance of one direction; the sum is
    calc_nn's sgd_noise_floor; small eta gives eta sigma^2 d / 4."""
    sigma = sp.Symbol("sigma", positive=True)
    one = sym.noise_floor(eta, lam, sigma)
    assert sp.simplify(one - eta * sigma ** 2 / 2 / (2 - eta * lam)) == 0
    lams = [1.0, 0.1, 0.37]
    for lr, noise in [(0.1, 1.0), (1.5, 0.3), (0.01, 2.0)]:
        expected = sum(float(one.subs({eta: lr, lam: v, sigma: noise}))
                       for v in lams)
        assert optim.sgd_noise_floor(lr, lams, noise) == pytest.approx(
            expected, rel=1e-13)
    assert optim.sgd_noise_floor(2.0, lams, 1.0) == float("inf")
    assert sp.limit(one / eta, eta, 0) == sigma ** 2 / 4


def _torch_rates(make, lr, n):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    scheduler = make(opt)
    rates = []
    for _ in range(n):
        rates.append(scheduler.get_last_lr()[0])
        opt.step()
        scheduler.step()
    return np.array(rates)


def check_step_lr():
    t = np.arange(40)
    typed = 0.5 * 0.3 ** (t // 7)
    ours = [optim.step_lr(k, lr=0.5, step_size=7, gamma=0.3) for k in t]
    theirs = _torch_rates(lambda o: torch.optim.lr_scheduler.StepLR(
        o, step_size=7, gamma=0.3), 0.5, 40)
    np.testing.assert_allclose(ours, typed, rtol=1e-15)
    np.testing.assert_allclose(theirs, typed, rtol=1e-14)


def check_cosine_lr():
    t = np.arange(60)
    typed = 0.01 + 0.5 * (0.5 - 0.01) * (1 + np.cos(np.pi * t / 25))
    ours = [optim.cosine_annealing_lr(k, lr=0.5, T_max=25, eta_min=0.01)
            for k in t]
    theirs = _torch_rates(lambda o: torch.optim.lr_scheduler.
                          CosineAnnealingLR(o, T_max=25, eta_min=0.01),
                          0.5, 60)
    np.testing.assert_allclose(ours, typed, rtol=1e-14)
    np.testing.assert_allclose(theirs, typed, rtol=1e-12)


def check_warmup_lr():
    t = np.arange(30)
    typed = 0.5 * (0.1 + 0.9 * np.minimum(t, 12) / 12)
    ours = [optim.linear_lr(k, lr=0.5, start_factor=0.1, total_iters=12)
            for k in t]
    theirs = _torch_rates(lambda o: torch.optim.lr_scheduler.LinearLR(
        o, start_factor=0.1, total_iters=12), 0.5, 30)
    np.testing.assert_allclose(ours, typed, rtol=1e-15)
    np.testing.assert_allclose(theirs, typed, rtol=1e-13)


def check_newton():
    """The stationary point of the quadratic model m(h) = g^T h + h^T H h
    / 2 is -H^{-1} g (SymPy, for a symbolic symmetric H); calc_nn's
    newton_step takes it, as torch.linalg.solve does."""
    a, b, c, g1, g2 = sp.symbols("a b c g1 g2", real=True)
    h = sp.Matrix(sp.symbols("h1 h2", real=True))
    H = sp.Matrix([[a, b], [b, c]])
    g = sp.Matrix([g1, g2])
    model = (g.T * h)[0] + (h.T * H * h)[0] / 2
    (solution,) = sp.solve(list(sp.Matrix([model]).jacobian(h)), list(h),
                           dict=True)
    step = sp.Matrix([solution[h[0]], solution[h[1]]])
    assert sp.simplify(step + H.inv() * g) == sp.zeros(2, 1)
    rng = np.random.default_rng(0)
    A = rng.standard_normal((4, 4))
    Hn, gn, theta = A @ A.T + np.eye(4), rng.standard_normal(4), \
        rng.standard_normal(4)
    ours, _ = optim.newton_step(theta, gn, Hn)
    theirs = torch.tensor(theta) - torch.linalg.solve(torch.tensor(Hn),
                                                      torch.tensor(gn))
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-12)


def check_preconditioned():
    """Gradient descent on L(P^{-1/2} phi), mapped back by theta =
    P^{-1/2} phi, is the preconditioned step (SymPy, diagonal P, on a
    general quadratic)."""
    p1, p2 = sp.symbols("p1 p2", positive=True)
    phi = sp.Matrix(sp.symbols("phi1 phi2", real=True))
    A = sp.Matrix([[3, 1], [1, 2]])
    r = sp.Matrix([1, -2])
    P = sp.diag(p1, p2)
    P_inv_half = sp.diag(1 / sp.sqrt(p1), 1 / sp.sqrt(p2))

    def loss(theta):
        return (theta.T * A * theta)[0] / 2 + (r.T * theta)[0]

    theta = P_inv_half * phi
    grad_phi = sp.Matrix([loss(theta)]).jacobian(phi).T
    stepped = P_inv_half * (phi - eta * grad_phi)
    grad_theta = A * theta + r                  # the gradient at theta
    assert sp.simplify(stepped - (theta - eta * P.inv() * grad_theta)) \
        == sp.zeros(2, 1)


# label -> (the formula exactly as typed in the chapter, its check)
CHECKED = {
    "eq-taylor-step": (
        r"""L(\theta - \eta g) = L(\theta) - \eta\, \lVert g \rVert^2 + O(\eta^2)""",
        check_taylor_step),
    "eq-gd": (
        r"""\theta_{t+1} = \theta_t - \eta \nabla_\theta L(\theta_t)""",
        check_gd),
    "eq-gd-eigen": (
        r"""u_{t+1, i} = (1 - \eta \lambda_i)\, u_{t, i}""",
        check_gd_eigen),
    "eq-gd-best-rate": (
        r"""1 - \frac{2\lambda_{\min}}{\lambda_{\max} + \lambda_{\min}}
= \frac{\kappa - 1}{\kappa + 1}""",
        check_gd_best_rate),
    "eq-nn-momentum": (
        r"""\begin{gathered}
v_{t+1} = \gamma v_t + \eta \nabla_\theta L(\theta_t), \\
\theta_{t+1} = \theta_t - v_{t+1}
\end{gathered}""",
        check_nn_momentum),
    "eq-torch-momentum": (
        r"""\begin{aligned}
b_{t+1} &= \mu b_t + \nabla_\theta L(\theta_t), \\
\theta_{t+1} &= \theta_t - \eta\, b_{t+1}
\end{aligned}""",
        check_torch_momentum),
    "eq-momentum-matrix": (
        r"""\begin{pmatrix} u_{t+1} \\ \tilde b_{t+1} \end{pmatrix}
= \underbrace{\begin{pmatrix} 1 - \eta\lambda & -\eta\mu \\ \lambda & \mu
\end{pmatrix}}_{M}
\begin{pmatrix} u_t \\ \tilde b_t \end{pmatrix}""",
        check_momentum_matrix),
    "eq-momentum-charpoly": (
        r"""z^2 - (1 + \mu - \eta\lambda)\, z + \mu = 0""",
        check_momentum_charpoly),
    "eq-heavy-ball": (
        r"""\begin{gathered}
\eta^* = \frac{4}{(\sqrt{\lambda_{\max}} + \sqrt{\lambda_{\min}})^2},
\\
\mu^* = \left(\frac{\sqrt\kappa - 1}{\sqrt\kappa + 1}\right)^2,
\\
\text{factor per step } \sqrt{\mu^*} = \frac{\sqrt\kappa - 1}{\sqrt\kappa + 1}
\end{gathered}""",
        check_heavy_ball),
    "eq-adagrad": (
        r"""s_t = s_{t-1} + g_t^2, \qquad
\theta_t = \theta_{t-1} - \frac{\eta\, g_t}{\sqrt{s_t} + \epsilon}""",
        check_adagrad),
    "eq-nn-rmsprop": (
        r"""\begin{aligned}
E[g^2]_{t+1} &= 0.9 E[g^2]_t + 0.1 (\nabla_\theta L(\theta_t))^2, \\
\theta_{t+1} &= \theta_t - \frac{\eta}{\sqrt{E[g^2]_{t+1} + \epsilon}} \nabla_\theta L(\theta_t)
\end{aligned}""",
        check_nn_rmsprop),
    "eq-torch-rmsprop": (
        r"""\begin{aligned}
v_{t+1} &= \alpha v_t + (1 - \alpha) g_t^2, \\
\theta_{t+1} &= \theta_t - \frac{\eta\, g_t}{\sqrt{v_{t+1}} + \epsilon}
\end{aligned}""",
        check_torch_rmsprop),
    "eq-ema-unrolled": (
        r"""m_t = (1-\beta_1) \sum_{k=1}^{t} \beta_1^{t-k} g_k""",
        check_ema_unrolled),
    "eq-bias-correction": (
        r"""\hat m_t = \frac{m_t}{1 - \beta_1^t}""",
        check_bias_correction),
    "eq-minibatch-gradient": (
        r"""g_{\mathcal B}(\theta) = \frac{1}{B} \sum_{i \in \mathcal B} \nabla \ell_i(\theta)""",
        check_minibatch_gradient),
    "eq-minibatch-variance": (
        r"""\mathbb E\, \lVert g_{\mathcal B} - \nabla L \rVert^2
= \frac{\operatorname{tr}\Sigma}{B} \cdot \frac{N - B}{N - 1}""",
        check_minibatch_variance),
    "eq-noise-floor": (
        r"""\lim_{t \to \infty} \mathbb E\,[L(\theta_t)] - L^*
= \frac{\eta\sigma^2}{2} \sum_i \frac{1}{2 - \eta\lambda_i}""",
        check_noise_floor),
    "eq-step-lr": (
        r"""\eta_t = \eta\, \gamma^{\lfloor t / T_s \rfloor}""",
        check_step_lr),
    "eq-cosine-lr": (
        r"""\eta_t = \eta_{\min} + \tfrac12 (\eta - \eta_{\min}) \left(1 + \cos \frac{\pi t}{T}\right)""",
        check_cosine_lr),
    "eq-warmup-lr": (
        r"""\eta_t = \eta \left(\psi + (1 - \psi)\, \frac{\min(t, T_w)}{T_w}\right)""",
        check_warmup_lr),
    "eq-newton": (
        r"""\theta_{t+1} = \theta_t - H(\theta_t)^{-1}\, \nabla L(\theta_t)""",
        check_newton),
    "eq-preconditioned": (
        r"""\theta_{t+1} = \theta_t - \eta\, P^{-1} \nabla L(\theta_t)""",
        check_preconditioned),
}
