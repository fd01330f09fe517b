"""Checks of the display formulas typed in book/optimizers.md."""

import numpy as np
import pytest
import sympy as sp

from calc_nn import landscapes, optim
from calc_nn.symbolic import landscape_formulas as sym

CHAPTER = "optimizers.md"
x, y = sym.x, sym.y
eta = sp.Symbol("eta", positive=True)
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


THETA0 = sp.Symbol("theta_0", real=True)


def _momentum_paths(lrs, mu=sp.Rational(4, 5), n=3):
    """Symbolic gradients g_1..g_n: the seed's and PyTorch's momentum."""
    gs = sp.symbols(f"g1:{n + 1}", real=True)
    theta_seed = theta_torch = THETA0
    v = b = 0
    for g, lr in zip(gs, lrs):
        v = mu * v + lr * g          # eq-seed-momentum
        theta_seed = theta_seed - v
        b = mu * b + g               # eq-torch-momentum
        theta_torch = theta_torch - lr * b
    return gs, theta_seed, theta_torch


def check_seed_momentum():
    # same method with a constant learning rate ...
    _, seed, torch_ = _momentum_paths([eta] * 3)
    assert sp.simplify(seed - torch_) == 0
    # ... different ones when the learning rate changes
    _, seed, torch_ = _momentum_paths([eta, eta / 10, eta / 10])
    assert sp.simplify(seed - torch_) != 0


def check_torch_momentum():
    mu, lr = 0.8, 0.05
    gs, _, theta_torch = _momentum_paths([lr] * 3, mu=mu)
    values = [1.5, -0.3, 2.0]
    expected = float(theta_torch.subs({**dict(zip(gs, values)),
                                       THETA0: 0.7}))
    theta, state = np.array([0.7]), None
    for g in values:
        theta, state = optim.momentum_step(theta, np.array([g]), state,
                                           lr=lr, momentum=mu)
    assert theta[0] == pytest.approx(expected, rel=1e-14)


def _rms(alpha, eps, lr, grads, inside):
    v = sp.Integer(0)
    theta = sp.Rational(1, 2)
    for g in grads:
        v = alpha * v + (1 - alpha) * g ** 2
        denom = sp.sqrt(v + eps) if inside else sp.sqrt(v) + eps
        theta = theta - lr * g / denom
    return theta


def check_seed_rmsprop():
    grads = [sp.Rational(3, 10), -2, sp.Rational(1, 1000)]
    a, lr = sp.Rational(9, 10), sp.Rational(1, 100)
    eps = sp.Symbol("epsilon", positive=True)
    seed = _rms(a, eps, lr, grads, inside=True)
    torch_ = _rms(a, eps, lr, grads, inside=False)
    # equal without eps, different with it
    assert sp.simplify(seed.subs(eps, 0) - torch_.subs(eps, 0)) == 0
    assert sp.simplify(seed - torch_) != 0
    # and calc_nn (PyTorch's convention) is the eps-outside one
    theta, state = np.array([0.5]), None
    for g in grads:
        theta, state = optim.rmsprop_step(theta, np.array([float(g)]), state,
                                          lr=0.01, alpha=0.9, eps=1e-3)
    assert theta[0] == pytest.approx(float(torch_.subs(eps, 1e-3)),
                                     rel=1e-13)
    assert theta[0] != pytest.approx(float(seed.subs(eps, 1e-3)),
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


# label -> (the formula exactly as typed in the chapter, its check)
CHECKED = {
    "eq-taylor-step": (
        r"""L(\theta - \eta g) = L(\theta) - \eta\, \lVert g \rVert^2 + O(\eta^2)""",
        check_taylor_step),
    "eq-gd": (
        r"""\theta_{t+1} = \theta_t - \eta \nabla_\theta J(\theta_t)""",
        check_gd),
    "eq-gd-eigen": (
        r"""u_{t+1, i} = (1 - \eta \lambda_i)\, u_{t, i}""",
        check_gd_eigen),
    "eq-seed-momentum": (
        r"""v_{t+1} = \gamma v_t + \eta \nabla_\theta J(\theta_t), \qquad
\theta_{t+1} = \theta_t - v_{t+1}""",
        check_seed_momentum),
    "eq-torch-momentum": (
        r"""b_{t+1} = \mu b_t + \nabla_\theta J(\theta_t), \qquad
\theta_{t+1} = \theta_t - \eta\, b_{t+1}""",
        check_torch_momentum),
    "eq-seed-rmsprop": (
        r"""E[g^2]_{t+1} = 0.9 E[g^2]_t + 0.1 (\nabla_\theta J(\theta_t))^2, \qquad
\theta_{t+1} = \theta_t - \frac{\eta}{\sqrt{E[g^2]_{t+1} + \epsilon}} \nabla_\theta J(\theta_t)""",
        check_seed_rmsprop),
    "eq-torch-rmsprop": (
        r"""v_{t+1} = \alpha v_t + (1 - \alpha) g_t^2, \qquad
\theta_{t+1} = \theta_t - \frac{\eta\, g_t}{\sqrt{v_{t+1}} + \epsilon}""",
        check_torch_rmsprop),
    "eq-bias-correction": (
        r"""\hat m_t = \frac{m_t}{1 - \beta_1^t}""",
        check_bias_correction),
}
