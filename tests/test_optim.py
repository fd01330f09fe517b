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


def test_nn_document_momentum_is_pytorch_scaled_by_lr():
    """The NN document [nn-calculus-doc] §4.3: v = gamma v + lr g,
    theta -= v. PyTorch: b = mu b + g, theta -= lr b. Same path with a
    constant lr, v = lr b."""
    land = landscapes.quadratic(10.0)
    lr, mu = 0.3, 0.8
    theta, v = np.array(land.start), np.zeros(2)
    doc_path = [theta]
    for _ in range(100):
        v = mu * v + lr * land.grad(theta)
        theta = theta - v
        doc_path.append(theta)
    ours = optim.trajectory(optim.momentum_step, land.grad, land.start, 100,
                            lr=lr, momentum=mu)
    np.testing.assert_allclose(ours, np.array(doc_path), rtol=1e-10,
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
    (optim.momentum_step, dict(lr=0.1, nesterov="no"), "nesterov"),
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
    with pytest.raises(ValueError, match="name must be one of"):
        optim.get("lbfgs")
    with pytest.raises(ValueError, match="name must be one of"):
        optim.get(["gd"])


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


def test_overflow_in_the_update_is_divergence_not_a_crash():
    """The optimizer's own arithmetic overflows on a diverging run (here
    theta - lr * 1e300): reported as divergence at step 1, with no
    warning or exception even under np.errstate(all="raise")."""
    with np.errstate(all="raise"):
        res = optim.run(optim.momentum_step, lambda t: np.full(2, 1e300),
                        [1.0, 2.0], 5, lr=1e10, bound=np.inf)
        gd = optim.run(optim.gd_step, lambda t: np.full(2, 1e300),
                       [1.0, 2.0], 5, lr=1e10, bound=np.inf)
    assert res.diverged_at == 1 and gd.diverged_at == 1
    assert np.all(np.isnan(gd.path[1:])) and np.all(gd.path[0] == [1, 2])
    land = landscapes.rosenbrock()
    with np.errstate(all="raise"):
        box = optim.run(optim.momentum_step, land.grad, land.start, 300,
                        lr=0.5, momentum=0.9)
    assert box.diverged and box.diverged_at < 10


def test_a_non_finite_start_is_an_error():
    land = landscapes.rosenbrock()
    with pytest.raises(ValueError, match="theta0 must be finite"):
        optim.run(optim.gd_step, land.grad, [np.nan, 0.0], 5, lr=0.1)


def test_small_bound_counts_as_divergence():
    """Issue 11: path[1] = (0.45, -0.78) leaves the box |theta| <= 0.5, so
    the run diverges at step 1 (the old test also passed when detection was
    broken)."""
    land = landscapes.quadratic(10.0)
    res = optim.run(optim.gd_step, land.grad, [2.0, 0.0], 10, lr=1.0,
                    bound=0.5)
    free = optim.run(optim.gd_step, land.grad, [2.0, 0.0], 10, lr=1.0)
    assert np.abs(free.path[1]).max() > 0.5 >= free.path[1].max()
    assert res.diverged_at == 1
    np.testing.assert_array_equal(res.path[0], [2.0, 0.0])
    assert np.all(np.isnan(res.path[1:]))
    # a box the run never leaves (|theta_0| = 2 is on its edge)
    assert optim.run(optim.gd_step, land.grad, [2.0, 0.0], 10, lr=1.0,
                     bound=2.0).diverged_at is None


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


# ------------------------------------------- issue 12: the user's functions

def _point_grad(t):
    """A gradient of one point only (indexes t[0], t[1])."""
    return np.array([2 * t[0], 20 * t[1]])


RUNS_2 = [(optim.gd_step, dict(lr=0.01)),
          (optim.momentum_step, dict(lr=0.01, momentum=0.5))]


@pytest.mark.parametrize("n_runs", [1, 2, 3])
def test_run_many_never_guesses_the_calling_convention(n_runs):
    """Issue 12, item 1: with as many runs as dimensions, run_many used to
    feed a point-by-point gradient a stack of points and silently compute
    wrong paths (GD path[1] = (0.98, 0.98) instead of (0.98, 0.80)); with
    three runs it raised an unpack error. Now grad_fn gets one point unless
    vectorized=True is passed."""
    runs = (RUNS_2 + [(optim.adam_step, dict(lr=0.1))])[:n_runs]
    calls = []

    def grad(t):
        calls.append(np.shape(t))
        return _point_grad(t)

    many = optim.run_many(runs, grad, [1.0, 1.0], 10)
    assert set(calls) == {(2,)}
    np.testing.assert_allclose(many[0].path[1], [0.98, 0.80], rtol=1e-15)
    for (step, hyper), res in zip(runs, many):
        one = optim.run(step, _point_grad, [1.0, 1.0], 10, **hyper)
        np.testing.assert_array_equal(res.path, one.path)


def test_vectorized_declared_wrongly_is_a_named_error():
    with pytest.raises(ValueError, match=r"grad_fn\(points\) returned "
                       r"shape \(2,\).*vectorized=True"):
        optim.run_many(RUNS_2 + RUNS_2[:1], lambda t: np.zeros(2),
                       [1.0, 1.0], 3, vectorized=True)
    with pytest.raises(ValueError, match=r"grad_fn\(theta\) returned "
                       r"shape \(3,\).*vectorized=False"):
        optim.run(optim.gd_step, lambda t: np.zeros(3), [1.0, 1.0], 3,
                  lr=0.1)
    with pytest.raises(ValueError, match="vectorized"):
        optim.run_many(RUNS_2, _point_grad, [1.0, 1.0], 3, vectorized=1)
    with pytest.raises(TypeError, match=r"grad_fn\(theta\)"):
        optim.run(optim.gd_step, lambda t: np.array(["a", "b"]), [1.0, 1.0],
                  3, lr=0.1)


def _sqrt_grad(t):
    """A buggy gradient: sqrt of a coordinate that becomes negative."""
    return np.array([np.sqrt(t[0]), 1.0])


def test_an_invalid_operation_in_grad_fn_warns_and_raises():
    """Issue 12, item 12: np.errstate(all="ignore") around grad_fn hid a
    sqrt of a negative number and reported it as divergence."""
    with pytest.warns(RuntimeWarning, match="invalid value"), \
            pytest.raises(ValueError, match=r"grad_fn returned NaN at the "
                          r"finite point \[-0\.\d+, .*\] \(step \d\)"):
        optim.run(optim.gd_step, _sqrt_grad, [0.5, 0.0], 10, lr=1.0)
    with np.errstate(invalid="raise"), pytest.raises(FloatingPointError):
        optim.run(optim.gd_step, _sqrt_grad, [0.5, 0.0], 10, lr=1.0)
    with pytest.warns(RuntimeWarning), pytest.raises(ValueError,
                                                     match="NaN"):
        optim.run_many([(optim.gd_step, dict(lr=1.0)),
                        (optim.adam_step, dict(lr=0.1))],
                       lambda t: np.sqrt(t), [0.5, 0.5], 10, vectorized=True)


def test_errors_of_a_batched_loss_fn_are_not_swallowed():
    """Issue 12, item 12: _grown caught TypeError/ValueError of a batched
    loss_fn and silently called it point by point instead."""
    land = landscapes.quadratic(10.0)

    def buggy(points):
        raise ValueError("a real bug in my loss")

    for vectorized in (True, False):
        with pytest.raises(ValueError, match="a real bug in my loss"):
            optim.run(optim.gd_step, land.grad, land.start, 5, lr=0.1,
                      loss_fn=buggy, vectorized=vectorized)
    with pytest.raises(ValueError, match=r"loss_fn\(points\) returned "
                       r"shape \(\)"):
        optim.run(optim.gd_step, land.grad, land.start, 5, lr=0.1,
                  loss_fn=lambda p: 0.0, vectorized=True)
    with pytest.raises(ValueError, match=r"loss_fn\(theta\) returned "
                       r"shape \(6,\)"):
        optim.run(optim.gd_step, land.grad, land.start, 5, lr=0.1,
                  loss_fn=lambda p: np.zeros(6))
    with pytest.warns(RuntimeWarning, match="invalid value"), \
            pytest.raises(ValueError, match="loss_fn returned NaN"):
        optim.run(optim.gd_step, land.grad, land.start, 5, lr=0.1,
                  loss_fn=lambda p: np.log(p[0] - 10.0))
    with pytest.raises(ValueError, match="loss_fn is inf at theta0"):
        optim.run(optim.gd_step, land.grad, land.start, 5, lr=0.1,
                  loss_fn=lambda p: np.inf)


def test_grad_fn_cannot_change_the_run_by_changing_its_argument():
    land = landscapes.quadratic(10.0)

    def meddling(t):
        g = land.grad(t)
        t[...] = 100.0  # the caller's point must not change
        return g

    for vectorized in (False, True):
        res = optim.run_many(RUNS_2, meddling, land.start, 20,
                             vectorized=vectorized)
        clean = optim.run_many(RUNS_2, land.grad, land.start, 20)
        for a, b in zip(res, clean):
            np.testing.assert_array_equal(a.path, b.path)


def test_a_custom_step_function_is_run_and_checked():
    def halve(theta, grad, state, *, factor):
        return theta * factor, state

    res = optim.run(halve, _point_grad, [1.0, -2.0], 3, factor=0.5)
    np.testing.assert_array_equal(res.path[-1], [0.125, -0.25])
    with pytest.raises(TypeError, match="factor"):
        optim.run(halve, _point_grad, [1.0, -2.0], 3)
    with pytest.raises(TypeError, match=r"step must return \(theta, "
                       r"state\)"):
        optim.run(lambda th, g, s: th, _point_grad, [1.0, -2.0], 3)
    with pytest.raises(ValueError, match="the theta returned by step"):
        optim.run(lambda th, g, s: (th[:1], s), _point_grad, [1.0, -2.0], 3)


# ------------------------------------------------------- issue 12: steps

@pytest.mark.parametrize("case", sorted(CASES))
def test_float32_stays_float32_and_dtypes_must_match(case):
    step, hyper, _, _ = CASES[case]
    theta = np.array([0.5, -1.0], np.float32)
    grad = np.array([2.0, 3.0], np.float32)
    theta1, state = step(theta, grad, None, **hyper)
    theta2, state = step(theta1, grad, state, **hyper)
    assert theta1.dtype == theta2.dtype == np.float32
    assert all(v.dtype == np.float32 for v in state.values()
               if isinstance(v, np.ndarray))
    with pytest.raises(TypeError, match="theta is float32, grad is "
                       "float64"):
        step(theta, grad.astype(np.float64), None, **hyper)
    if len(state) > 1:  # a state with arrays
        key = next(k for k in state if k != "step")
        bad = {**state, key: state[key].astype(np.float64)}
        with pytest.raises(TypeError, match=f"state\\['{key}'\\] is "
                           "float64"):
            step(theta1, grad, bad, **hyper)
        with pytest.raises(ValueError, match=r"state\['step'\]"):
            step(theta1, grad, {**state, "step": -1}, **hyper)


@pytest.mark.parametrize("case", sorted(CASES))
def test_non_finite_gradients_propagate_like_torch(case):
    """Elementwise maths propagates NaN and inf as torch.optim does."""
    step, hyper, opt_class, kwargs = CASES[case]
    for bad in (np.nan, np.inf):
        theta = np.array([0.5, -1.0, 2.0])
        grad = np.array([1.0, bad, -0.5])
        param = torch.tensor(theta, requires_grad=True)
        opt = opt_class([param], **kwargs)
        state = None
        for _ in range(3):
            param.grad = torch.tensor(grad)
            opt.step()
            with np.errstate(invalid="ignore"):  # inf - inf is NaN
                theta, state = step(theta, grad, state, **hyper)
        expected = param.detach().numpy()
        np.testing.assert_array_equal(np.isnan(theta), np.isnan(expected))
        finite = np.isfinite(expected)
        np.testing.assert_allclose(theta[finite], expected[finite],
                                   rtol=1e-12)


HYPER = {
    "gd": (optim.gd_step, torch.optim.SGD, lambda d: dict(lr=d["lr"])),
    "momentum": (optim.momentum_step, torch.optim.SGD, lambda d: dict(
        lr=d["lr"], momentum=d["beta1"], weight_decay=d["wd"])),
    "nesterov": (optim.nesterov_step, torch.optim.SGD, lambda d: dict(
        lr=d["lr"], momentum=max(d["beta1"], 0.01), weight_decay=d["wd"])),
    "rmsprop": (optim.rmsprop_step, torch.optim.RMSprop, lambda d: dict(
        lr=d["lr"], alpha=d["beta2"], eps=d["eps"], weight_decay=d["wd"])),
    "adagrad": (optim.adagrad_step, torch.optim.Adagrad, lambda d: dict(
        lr=d["lr"], eps=d["eps"], weight_decay=d["wd"])),
    "adam": (optim.adam_step, torch.optim.Adam, lambda d: dict(
        lr=d["lr"], betas=(d["beta1"], d["beta2"]), eps=d["eps"],
        weight_decay=d["wd"])),
    "adamw": (optim.adamw_step, torch.optim.AdamW, lambda d: dict(
        lr=d["lr"], betas=(d["beta1"], d["beta2"]), eps=d["eps"],
        weight_decay=d["wd"])),
}


@pytest.mark.parametrize("name", sorted(HYPER))
@settings(max_examples=25, deadline=None)
@given(d=st.fixed_dictionaries(dict(
    lr=st.floats(1e-4, 1.0), beta1=st.floats(0, 0.99),
    beta2=st.floats(0.5, 0.9999), eps=st.floats(1e-10, 1e-2),
    wd=st.sampled_from([0.0, 1e-3, 0.1]))),
    seed=st.integers(0, 2 ** 32 - 1))
def test_steps_equal_torch_for_generated_hyperparameters(name, d, seed):
    step, opt_class, hyper_of = HYPER[name]
    hyper = hyper_of(d)
    if name == "nesterov":
        kwargs = dict(hyper, nesterov=True)
    else:
        kwargs = hyper
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal(5)
    param = torch.tensor(theta, requires_grad=True)
    opt = opt_class([param], **kwargs)
    state = None
    for _ in range(30):
        g = rng.standard_normal(5) * 10.0 ** rng.integers(-3, 3)
        param.grad = torch.tensor(g)
        opt.step()
        theta, state = step(theta, g, state, **hyper)
    np.testing.assert_allclose(theta, param.detach().numpy(), rtol=1e-9,
                               atol=1e-12)


@pytest.mark.parametrize("vectorized", [False, True])
def test_grad_fn_only_sees_the_finite_points_of_live_runs(vectorized):
    """A run that overflows to inf is put back on its last point (and
    dropped); the shared gradient call never sees inf or NaN."""
    land = landscapes.quadratic(10.0)

    def strict(points):
        assert np.all(np.isfinite(points)), "grad_fn got a non-finite point"
        return 1e300 * land.grad(points)

    runs = [(optim.gd_step, dict(lr=1e-301)), (optim.gd_step, dict(lr=1e10))]
    stable, wild = optim.run_many(runs, strict, land.start, 5, bound=np.inf,
                                  vectorized=vectorized)
    assert wild.diverged_at == 1 and stable.diverged_at is None
