"""calc_nn.optim against torch.optim, step for step, in float64.

PyTorch is the judge: the same start point, the same loss, hundreds of
steps, and the whole trajectory must agree to a relative 1e-8. Plus the
purity of the step functions, the checks of their arguments, and
divergence detection in ``trajectory``.
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from calc_nn import landscapes, optim

N_STEPS = 300


def torch_rosenbrock(t):
    return (1 - t[0]) ** 2 + 100 * (t[1] - t[0] ** 2) ** 2


def torch_bowl(t):
    # the rotated quadratic bowl of calc_nn.landscapes.quadratic(10)
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    u, v = c * t[0] + s * t[1], -s * t[0] + c * t[1]
    return (u * u + v * v / 10) / 2


def torch_himmelblau(t):
    return (t[0] ** 2 + t[1] - 11) ** 2 + (t[0] + t[1] ** 2 - 7) ** 2


PROBLEMS = {
    "bowl": (landscapes.quadratic(10.0), torch_bowl),
    "rosenbrock": (landscapes.rosenbrock(), torch_rosenbrock),
    "himmelblau": (landscapes.himmelblau(), torch_himmelblau),
}

# (calc_nn step, its hyper-parameters, torch optimizer, its arguments),
# with learning rates small enough to stay on the landscapes above
CASES = {
    "sgd": (optim.gd_step, dict(lr=1e-3), torch.optim.SGD, dict(lr=1e-3)),
    "sgd-momentum": (optim.momentum_step, dict(lr=5e-4, momentum=0.9),
                     torch.optim.SGD, dict(lr=5e-4, momentum=0.9)),
    "sgd-nesterov": (optim.momentum_step,
                     dict(lr=5e-4, momentum=0.8, nesterov=True),
                     torch.optim.SGD,
                     dict(lr=5e-4, momentum=0.8, nesterov=True)),
    "sgd-nesterov-fn": (optim.nesterov_step, dict(lr=5e-4, momentum=0.8),
                        torch.optim.SGD,
                        dict(lr=5e-4, momentum=0.8, nesterov=True)),
    "sgd-weight-decay": (optim.momentum_step,
                         dict(lr=5e-4, momentum=0.5, weight_decay=0.1),
                         torch.optim.SGD,
                         dict(lr=5e-4, momentum=0.5, weight_decay=0.1)),
    "rmsprop": (optim.rmsprop_step, dict(lr=1e-2), torch.optim.RMSprop,
                dict(lr=1e-2)),
    "rmsprop-alpha": (optim.rmsprop_step,
                      dict(lr=3e-3, alpha=0.9, eps=1e-6, weight_decay=0.01),
                      torch.optim.RMSprop,
                      dict(lr=3e-3, alpha=0.9, eps=1e-6, weight_decay=0.01)),
    "adagrad": (optim.adagrad_step, dict(lr=0.1), torch.optim.Adagrad,
                dict(lr=0.1)),
    "adam": (optim.adam_step, dict(lr=1e-2), torch.optim.Adam,
             dict(lr=1e-2)),
    "adam-betas": (optim.adam_step, dict(lr=2e-2, betas=(0.8, 0.99),
                                         eps=1e-6),
                   torch.optim.Adam, dict(lr=2e-2, betas=(0.8, 0.99),
                                          eps=1e-6)),
    "adam-weight-decay": (optim.adam_step, dict(lr=1e-2, weight_decay=0.1),
                          torch.optim.Adam, dict(lr=1e-2, weight_decay=0.1)),
    "adamw": (optim.adamw_step, dict(lr=1e-2, weight_decay=0.1),
              torch.optim.AdamW, dict(lr=1e-2, weight_decay=0.1)),
    "adamw-default-decay": (optim.adamw_step, dict(lr=1e-2),
                            torch.optim.AdamW, dict(lr=1e-2)),
}


def torch_trajectory(opt_class, kwargs, loss_fn, theta0, n_steps):
    param = torch.tensor(theta0, dtype=torch.float64, requires_grad=True)
    opt = opt_class([param], **kwargs)
    path = [param.detach().numpy().copy()]
    for _ in range(n_steps):
        opt.zero_grad()
        loss_fn(param).backward()
        opt.step()
        path.append(param.detach().numpy().copy())
    return np.array(path)


@pytest.mark.parametrize("problem", sorted(PROBLEMS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_trajectory_equals_torch_optim(case, problem):
    step, hyper, opt_class, kwargs = CASES[case]
    land, loss_fn = PROBLEMS[problem]
    expected = torch_trajectory(opt_class, kwargs, loss_fn, land.start,
                                N_STEPS)
    got = optim.trajectory(step, land.grad, land.start, N_STEPS, **hyper)
    assert got.shape == (N_STEPS + 1, 2)
    assert np.all(np.isfinite(expected)), "pick a stable learning rate"
    # relative to the size of the trajectory: Adam's step m / sqrt(v) is
    # scale-free, so near a minimum (coordinates ~1e-4) the last digits of
    # both paths are rounding noise and an entrywise rtol would judge noise
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-8 * scale)
    # and the run went somewhere: the test would catch a step that does
    # nothing
    assert np.linalg.norm(got[-1] - got[0]) > 1e-2


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_step_equals_torch_on_random_gradients(case):
    """Arbitrary gradients (not from a loss), shape (3, 4), 200 steps,
    feeding PyTorch the same gradient through ``param.grad``."""
    step, hyper, opt_class, kwargs = CASES[case]
    rng = np.random.default_rng(7)
    theta = rng.standard_normal((3, 4))
    param = torch.tensor(theta, requires_grad=True)
    opt = opt_class([param], **kwargs)
    state = None
    for _ in range(200):
        g = rng.standard_normal((3, 4)) * rng.choice([1e-3, 1.0, 30.0])
        param.grad = torch.tensor(g)
        opt.step()
        theta, state = step(theta, g, state, **hyper)
        np.testing.assert_allclose(theta, param.detach().numpy(),
                                   rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("case", sorted(CASES))
def test_steps_are_pure(case):
    step, hyper, _, _ = CASES[case]
    theta = np.array([0.5, -1.0])
    grad = np.array([2.0, 3.0])
    theta1, state1 = step(theta, grad, None, **hyper)
    snapshot = {k: np.copy(v) for k, v in state1.items()}
    theta_copy, grad_copy = theta.copy(), grad.copy()
    theta2a, state2a = step(theta1, grad, state1, **hyper)
    theta2b, state2b = step(theta1, grad, state1, **hyper)
    np.testing.assert_array_equal(theta, theta_copy)
    np.testing.assert_array_equal(grad, grad_copy)
    for key, value in snapshot.items():
        np.testing.assert_array_equal(state1[key], value)
    np.testing.assert_array_equal(theta2a, theta2b)
    assert state2a["step"] == state1["step"] + 1 == 2
    assert theta1 is not theta


def test_momentum_zero_is_gradient_descent():
    land = landscapes.rosenbrock()
    a = optim.trajectory(optim.gd_step, land.grad, land.start, 50, lr=1e-3)
    b = optim.trajectory(optim.momentum_step, land.grad, land.start, 50,
                         lr=1e-3, momentum=0.0)
    np.testing.assert_allclose(a, b, rtol=1e-14)


def test_seed_momentum_convention_is_pytorch_scaled_by_lr():
    """Seed 002: v = gamma v + lr g, theta -= v. PyTorch: b = mu b + g,
    theta -= lr b. Same path with a constant lr, v = lr b."""
    land = landscapes.quadratic(10.0)
    lr, mu = 0.3, 0.8
    theta, v = np.array(land.start), np.zeros(2)
    seed_path = [theta]
    for _ in range(100):
        v = mu * v + lr * land.grad(theta)
        theta = theta - v
        seed_path.append(theta)
    ours = optim.trajectory(optim.momentum_step, land.grad, land.start, 100,
                            lr=lr, momentum=mu)
    np.testing.assert_allclose(ours, np.array(seed_path), rtol=1e-10,
                               atol=1e-14)


# ----------------------------------------------------------------- errors

BAD_HYPER = [
    (optim.gd_step, dict(lr=0.0), "lr"),
    (optim.gd_step, dict(lr=-1e-3), "lr"),
    (optim.momentum_step, dict(lr=0.1, momentum=1.0), "momentum"),
    (optim.momentum_step, dict(lr=0.1, momentum=-0.1), "momentum"),
    (optim.momentum_step, dict(lr=0.1, momentum=0.0, nesterov=True),
     "nesterov"),
    (optim.momentum_step, dict(lr=0.1, weight_decay=-1.0), "weight_decay"),
    (optim.rmsprop_step, dict(lr=0.1, eps=0.0), "eps"),
    (optim.rmsprop_step, dict(lr=0.1, alpha=1.0), "alpha"),
    (optim.rmsprop_step, dict(lr=-0.1), "lr"),
    (optim.adagrad_step, dict(lr=0.1, eps=-1e-8), "eps"),
    (optim.adam_step, dict(lr=0.1, betas=(1.0, 0.999)), r"betas\[0\]"),
    (optim.adam_step, dict(lr=0.1, betas=(0.9, 1.5)), r"betas\[1\]"),
    (optim.adam_step, dict(lr=0.1, betas=(-0.1, 0.9)), r"betas\[0\]"),
    (optim.adam_step, dict(lr=0.1, betas=0.9), "betas"),
    (optim.adam_step, dict(lr=0.1, eps=0.0), "eps"),
    (optim.adam_step, dict(lr=float("nan")), "lr"),
    (optim.adamw_step, dict(lr=0.0), "lr"),
    (optim.adamw_step, dict(lr=0.1, weight_decay=-0.01), "weight_decay"),
]


@pytest.mark.parametrize("step,hyper,name", BAD_HYPER)
def test_bad_hyper_parameters_name_the_argument(step, hyper, name):
    with pytest.raises(ValueError, match=name):
        step(np.zeros(2), np.ones(2), None, **hyper)
    # trajectory checks them before the first step, even with n_steps = 0
    with pytest.raises(ValueError, match=name):
        optim.trajectory(step, landscapes.rosenbrock().grad, [0.0, 0.0], 0,
                         **hyper)


def test_bad_arrays_and_state():
    with pytest.raises(ValueError, match="grad must have the shape"):
        optim.gd_step(np.zeros(2), np.zeros(3), lr=0.1)
    with pytest.raises(TypeError, match="theta"):
        optim.gd_step(np.array(["a", "b"]), np.zeros(2), lr=0.1)
    with pytest.raises(ValueError, match="state"):
        optim.adam_step(np.zeros(2), np.zeros(2), {"step": 1}, lr=0.1)
    with pytest.raises(ValueError, match="exp_avg"):
        bad = {"exp_avg": np.zeros(3), "exp_avg_sq": np.zeros(2), "step": 1}
        optim.adam_step(np.zeros(2), np.zeros(2), bad, lr=0.1)
    with pytest.raises(TypeError, match="lr"):
        optim.gd_step(np.zeros(2), np.zeros(2), lr="0.1")


def test_bad_trajectory_arguments():
    land = landscapes.himmelblau()
    with pytest.raises(ValueError, match="n_steps"):
        optim.trajectory(optim.gd_step, land.grad, land.start, -1, lr=0.1)
    with pytest.raises(TypeError, match="n_steps"):
        optim.trajectory(optim.gd_step, land.grad, land.start, 2.5, lr=0.1)
    with pytest.raises(ValueError, match=r"theta0 must have shape \(2,\)"):
        optim.trajectory(optim.gd_step, land.grad, [0.0, 1.0, 2.0], 5,
                         lr=0.1, dim=land.dim)
    with pytest.raises(ValueError, match="theta0"):
        optim.trajectory(optim.gd_step, land.grad, [[0.0, 1.0]], 5, lr=0.1)
    # without dim the landscape's own check names the shape it expects
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        optim.trajectory(optim.gd_step, land.grad, [0.0, 1.0, 2.0], 5,
                         lr=0.1)
    with pytest.raises(ValueError, match="unknown optimizer"):
        optim.get("lbfgs")


# ----------------------------------------------------------------- runs

def test_n_steps_zero_is_the_start_point():
    path = optim.trajectory(optim.adam_step, landscapes.saddle().grad,
                            [1.0, 2.0], 0, lr=0.1)
    np.testing.assert_array_equal(path, [[1.0, 2.0]])


def test_divergence_on_the_bowl_is_reported_at_the_right_step():
    """On the bowl lambda_max = 1: lr = 3 multiplies the steep component
    by |1 - 3| = 2 per step, so |theta| passes the bound 1e6 after about
    log2(1e6 / |theta0|) steps."""
    land = landscapes.quadratic(10.0)
    res = optim.run(optim.gd_step, land.grad, land.start, 100, lr=3.0)
    assert res.diverged
    assert 15 <= res.diverged_at <= 25
    assert optim.diverged_at(res.path) == res.diverged_at
    assert np.all(np.isfinite(res.path[:res.diverged_at]))
    assert np.all(np.isnan(res.path[res.diverged_at:]))
    stable = optim.run(optim.gd_step, land.grad, land.start, 100, lr=1.9)
    assert stable.diverged_at is None
    assert optim.diverged_at(stable.path) is None


def test_non_finite_values_are_divergence_not_crashes():
    """Rosenbrock with a huge lr overflows to inf/NaN within a few steps:
    reported, no exception, no warning."""
    land = landscapes.rosenbrock()
    with np.errstate(all="raise"):
        res = optim.run(optim.momentum_step, land.grad, land.start, 300,
                        lr=0.5, momentum=0.9, bound=np.inf)
    assert res.diverged and res.diverged_at < 10
    start = optim.run(optim.gd_step, land.grad, [np.nan, 0.0], 5, lr=0.1)
    assert start.diverged_at == 0


def test_small_bound_counts_as_divergence():
    land = landscapes.quadratic(10.0)
    res = optim.run(optim.gd_step, land.grad, [2.0, 0.0], 10, lr=1.0,
                    bound=0.5)
    assert res.diverged_at == 1 or res.path[1].max() <= 0.5


@settings(max_examples=40, deadline=None)
@given(lr=st.floats(1e-4, 1.99), condition=st.floats(1, 100),
       x0=st.floats(-3, 3), y0=st.floats(-3, 3))
def test_gradient_descent_on_the_bowl_matches_the_eigen_analysis(
        lr, condition, x0, y0):
    """theta_k = Q diag((1 - lr lambda_i)^k) Q^T theta_0 exactly."""
    land = landscapes.quadratic(condition)
    path = optim.trajectory(optim.gd_step, land.grad, [x0, y0], 30, lr=lr)
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    Q = np.array([[c, -s], [s, c]])  # columns: the eigenvectors
    lam = np.array([1.0, 1.0 / condition])
    k = np.arange(31)[:, None]
    coords = (Q.T @ np.array([x0, y0])) * (1 - lr * lam) ** k
    np.testing.assert_allclose(path, coords @ Q.T, rtol=1e-9, atol=1e-12)
