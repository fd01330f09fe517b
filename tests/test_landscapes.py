"""Landscapes: the hand-written gradients against SymPy, torch.autograd and
central differences; the calculus of calc_nn.symbolic.landscape_formulas."""

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from calc_nn import landscapes, optim
from calc_nn.gradcheck import numerical_gradient, relative_error
from calc_nn.symbolic import landscape_formulas as sym

CONDITIONS = [1.0, 10.0, 50.0]


def make(name, condition=10.0):
    if name == "quadratic":
        return landscapes.quadratic(condition)
    return landscapes.get(name)


def sympy_values(name, theta, condition=10.0):
    f, g = sym.lambdified(name)
    args = (*theta, condition) if name == "quadratic" else tuple(theta)
    return float(f(*args)), np.array(g(*args), dtype=float).ravel()


def torch_grad(land, theta):
    """autograd through the NumPy loss is impossible, so re-express it:
    the SymPy expression lambdified to torch."""
    args = (sym.x, sym.y, sym.kappa) if land.name == "quadratic" else (
        sym.x, sym.y)
    f = sp.lambdify(args, sym.landscape(land.name), "math")
    t = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    extra = (10.0,) if land.name == "quadratic" else ()
    f(t[0], t[1], *extra).backward()
    return t.grad.numpy()


points = hnp.arrays(np.float64, 2, elements=st.floats(-4, 4))


@pytest.mark.parametrize("name", landscapes.NAMES)
@settings(max_examples=60, deadline=None)
@given(theta=points)
def test_gradient_four_ways(name, theta):
    land = make(name)
    f_sym, g_sym = sympy_values(name, theta)
    assert land.loss(theta) == pytest.approx(f_sym, rel=1e-12, abs=1e-12)
    g = land.grad(theta)
    assert g.shape == (2,)
    np.testing.assert_allclose(g, g_sym, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(g, torch_grad(land, theta), rtol=1e-12,
                               atol=1e-10)
    fd = numerical_gradient(land.loss, theta)
    assert relative_error(g, fd) < 1e-5 or np.abs(g - fd).max() < 1e-6


@pytest.mark.parametrize("condition", CONDITIONS)
def test_quadratic_hand_gradient_matches_sympy_for_each_condition(
        condition):
    land = landscapes.quadratic(condition)
    for theta in ([1.0, 2.0], [-3.0, 0.5], [0.0, 0.0]):
        _, g_sym = sympy_values("quadratic", theta, condition)
        np.testing.assert_allclose(land.grad(np.array(theta)), g_sym,
                                   rtol=1e-12, atol=1e-15)


def test_quadratic_eigenvalues_are_one_and_one_over_kappa():
    H = sym.hessian("quadratic")
    eig = H.eigenvals()
    assert {sp.simplify(e) for e in eig} == {sp.Integer(1), 1 / sym.kappa}


@pytest.mark.parametrize("name", landscapes.NAMES)
def test_minima_are_stationary_and_lowest(name):
    land = make(name)
    for m in land.minima:
        assert np.abs(land.grad(m)).max() < 1e-4
    xs, ys, Z = land.grid(41)
    assert Z.shape == (41, 41)
    assert land.loss(land.minima).max() <= Z.min() + 1e-9


def test_vectorised_over_points():
    land = landscapes.himmelblau()
    pts = np.random.default_rng(0).uniform(-4, 4, (5, 3, 2))
    G = land.grad(pts)
    assert G.shape == (5, 3, 2) and land.loss(pts).shape == (5, 3)
    np.testing.assert_allclose(G[2, 1], land.grad(pts[2, 1]))


@pytest.mark.parametrize("bad", [np.zeros(3), np.zeros((4, 3)), 1.0])
def test_wrong_dimension_names_theta(bad):
    with pytest.raises(ValueError, match=r"theta must have shape \(2,\)"):
        landscapes.rosenbrock().grad(bad)


def test_bad_factory_arguments():
    with pytest.raises(ValueError, match="condition"):
        landscapes.quadratic(0.5)
    with pytest.raises(ValueError, match="noise"):
        landscapes.noisy(landscapes.saddle(), noise=-1.0)
    with pytest.raises(ValueError, match="name must be one of"):
        landscapes.get("ackley")
    with pytest.raises(ValueError, match="name must be one of"):
        landscapes.get(["saddle"])
    with pytest.raises(ValueError, match="condition"):
        landscapes.quadratic(np.inf)
    with pytest.raises(TypeError, match="condition"):
        landscapes.quadratic("10")
    with pytest.raises(ValueError, match="noise"):
        landscapes.noisy(landscapes.saddle(), noise=np.nan)
    with pytest.raises(TypeError, match="base must be a Landscape"):
        landscapes.noisy(landscapes.saddle, noise=1.0)
    with pytest.raises(ValueError, match="seed"):
        landscapes.noisy(landscapes.saddle(), seed=-1)
    with pytest.raises(TypeError, match="seed"):
        landscapes.noisy(landscapes.saddle(), seed=1.5)
    with pytest.raises(ValueError, match="n must be an int >= 2"):
        landscapes.rosenbrock().grid(1)
    with pytest.raises(TypeError, match="n must be an int"):
        landscapes.rosenbrock().grid(10.0)


@pytest.mark.parametrize("name", landscapes.NAMES)
def test_float32_points_stay_float32(name):
    """The dtype rule: a float32 point gives a float32 loss and gradient
    (NumPy scalars such as np.cos(np.pi / 6) used to promote them), noisy
    gradients included."""
    land = make(name)
    pts = np.random.default_rng(0).uniform(-2, 2, (4, 2)).astype(np.float32)
    assert land.loss(pts).dtype == np.float32
    assert land.grad(pts).dtype == np.float32
    np.testing.assert_allclose(land.grad(pts), land.grad(
        pts.astype(np.float64)), rtol=1e-5, atol=1e-4)
    noisy32 = landscapes.noisy(land, noise=0.5, seed=2).grad(pts)
    noisy64 = landscapes.noisy(land, noise=0.5, seed=2).grad(
        pts.astype(np.float64))
    assert noisy32.dtype == np.float32
    np.testing.assert_allclose(noisy32, noisy64, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("name", landscapes.NAMES)
def test_non_finite_points_propagate(name):
    """Elementwise maths: NaN in, NaN out, no finite wrong number."""
    land = make(name)
    with np.errstate(invalid="ignore", over="ignore"):
        g = land.grad(np.array([[np.nan, 0.5], [0.5, 1.0]]))
        loss = land.loss(np.array([np.nan, 0.5]))
    assert np.isnan(g[0, 0]) and np.all(np.isfinite(g[1]))
    assert np.isnan(loss)


@pytest.mark.parametrize("shape", [(0, 2), (3, 0, 2)])
def test_empty_stacks_of_points(shape):
    land = landscapes.himmelblau()
    assert land.grad(np.zeros(shape)).shape == shape
    assert land.loss(np.zeros(shape)).shape == shape[:-1]


def test_noisy_gradients_are_right_on_average_and_reproducible():
    base = landscapes.rosenbrock()
    theta = np.array([0.3, -0.2])
    noisy = landscapes.noisy(base, noise=2.0, seed=1)
    draws = np.array([noisy.grad(theta) for _ in range(4000)])
    np.testing.assert_allclose(draws.mean(0), base.grad(theta), atol=0.15)
    np.testing.assert_allclose(draws.std(0), [2.0, 2.0], rtol=0.05)
    again = landscapes.noisy(base, noise=2.0, seed=1)
    np.testing.assert_array_equal(again.grad(theta), draws[0])
    assert noisy.loss(theta) == base.loss(theta)


def test_noise_lets_gradient_descent_leave_the_saddle():
    """Started exactly on the saddle's ridge (y = 0), plain gradient
    descent converges to the saddle point; with noise it falls off to a
    minimum y = +-1."""
    land = landscapes.saddle()
    exact = optim.trajectory(optim.gd_step, land.grad, [1.5, 0.0], 300,
                             lr=0.1)
    assert np.abs(exact[-1]).max() < 1e-6  # stuck at the saddle (0, 0)
    noisy = landscapes.noisy(land, noise=0.05, seed=3)
    shaken = optim.trajectory(optim.gd_step, noisy.grad, [1.5, 0.0], 300,
                              lr=0.1)
    assert abs(abs(shaken[-1, 1]) - 1) < 0.1


# ------------------------------------------------- the chapter's calculus

def test_gd_rate_and_critical_lr():
    assert sp.simplify(sym.gd_rate() - (1 - sym.eta * sym.lam)) == 0
    assert sp.simplify(sym.critical_lr() - 2 / sym.lam) == 0


@settings(max_examples=30, deadline=None)
@given(lr=st.floats(0.05, 2.5), lam=st.floats(0.1, 1.0))
def test_per_direction_rate_matches_gradient_descent(lr, lam):
    u = optim.trajectory(optim.gd_step, lambda t: lam * t, [1.0], 10, lr=lr)
    np.testing.assert_allclose(u[:, 0], (1 - lr * lam) ** np.arange(11),
                               rtol=1e-10, atol=1e-300)


def test_bias_correction_is_the_weight_of_the_average():
    beta, t = sp.Symbol("beta", positive=True), sp.Symbol(
        "t", positive=True, integer=True)
    assert sp.simplify(sym.bias_correction(beta, t) - (1 - beta ** t)) == 0
    # numerically: Adam's first moment of a constant gradient, corrected,
    # is that gradient at every step
    g = np.array([0.7, -2.0])
    state = None
    theta = np.zeros(2)
    for t_num in range(1, 20):
        theta, state = optim.adam_step(theta, g, state, lr=1e-3)
        m_hat = state["exp_avg"] / (1 - 0.9 ** t_num)
        np.testing.assert_allclose(m_hat, g, rtol=1e-12)


def test_momentum_rates_on_the_bowl():
    """Measured convergence factors match (k-1)/(k+1) for the best GD
    (lr = 2 / (L + mu)) and (sqrt k - 1)/(sqrt k + 1) for the best heavy
    ball (lr = 4 / (sqrt L + sqrt mu)^2, momentum = rate^2)."""
    k = 100.0
    land = landscapes.quadratic(k)
    gd_rate, hb_rate = (float(r) for r in sym.optimal_momentum_rate(k))
    L, mu = 1.0, 1.0 / k
    n = 400
    gd = optim.trajectory(optim.gd_step, land.grad, land.start, n,
                          lr=2 / (L + mu))
    hb = optim.trajectory(optim.momentum_step, land.grad, land.start, n,
                          lr=4 / (np.sqrt(L) + np.sqrt(mu)) ** 2,
                          momentum=hb_rate ** 2)
    measured_gd = (np.linalg.norm(gd[-1]) / np.linalg.norm(gd[0])) ** (1 / n)
    measured_hb = (np.linalg.norm(hb[-1]) / np.linalg.norm(hb[0])) ** (1 / n)
    assert measured_gd == pytest.approx(gd_rate, rel=1e-3)
    # the heavy ball's matrix is defective at the optimum: a factor ~n
    # in front of rate^n, so allow a little more
    assert measured_hb == pytest.approx(hb_rate, rel=2e-2)
    assert measured_hb < 0.85 * measured_gd
