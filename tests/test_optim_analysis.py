"""The tools the optimizers chapter added to calc_nn.optim (issue 17):
``warmup_cosine_lr`` against ``torch.optim.lr_scheduler.SequentialLR``,
``momentum_eigenvalues`` / ``momentum_rate`` against NumPy's eigenvalues
and real momentum runs, ``sgd_noise_floor`` against its closed form and
``gradient_noise`` against the exact variance; bad input named."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from calc_nn import optim

EPS = np.finfo(np.float64).eps


# ------------------------------------------------------- warm-up + cosine

def _sequential_rates(lr, warmup, T_max, start_factor, eta_min, n):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    sched = torch.optim.lr_scheduler.SequentialLR(opt, [
        torch.optim.lr_scheduler.LinearLR(opt, start_factor=start_factor,
                                          end_factor=1.0,
                                          total_iters=warmup),
        torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=T_max,
                                                   eta_min=eta_min)],
        milestones=[warmup])
    rates = []
    for _ in range(n + 1):
        rates.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    return np.array(rates)


@settings(max_examples=40, deadline=None)
@given(lr=st.floats(1e-4, 5.0), warmup=st.integers(1, 20),
       T_max=st.integers(1, 40), start_factor=st.floats(0.01, 1.0),
       eta_ratio=st.sampled_from([0.0, 0.0, 0.1, 0.5]),
       periods=st.floats(0.0, 2.5))
def test_warmup_cosine_equals_torch_sequential_lr(lr, warmup, T_max,
                                                  start_factor, eta_ratio,
                                                  periods):
    eta_min = eta_ratio * lr
    n = warmup + int(periods * T_max)
    expected = _sequential_rates(lr, warmup, T_max, start_factor, eta_min, n)
    got = np.array([optim.warmup_cosine_lr(
        t, lr=lr, warmup_iters=warmup, T_max=T_max,
        start_factor=start_factor, eta_min=eta_min) for t in range(n + 1)])
    # PyTorch's rates are recursive: a few eps of lr per step taken
    np.testing.assert_allclose(got, expected, rtol=0,
                               atol=8 * EPS * lr * (n + 1))


def test_warmup_cosine_landmarks():
    kw = dict(lr=0.1, warmup_iters=10, T_max=90, start_factor=0.1)
    assert optim.warmup_cosine_lr(0, **kw) == pytest.approx(0.01)
    assert optim.warmup_cosine_lr(10, **kw) == pytest.approx(0.1)
    assert optim.warmup_cosine_lr(55, **kw) == pytest.approx(0.05)
    assert optim.warmup_cosine_lr(100, **kw) == pytest.approx(0.0, abs=1e-17)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(warmup_iters=0), ValueError, "warmup_iters"),
    (dict(warmup_iters=2.5), TypeError, "warmup_iters"),
    (dict(T_max=0), ValueError, "T_max"),
    (dict(start_factor=0.0), ValueError, "start_factor"),
    (dict(start_factor=1.5), ValueError, "start_factor"),
    (dict(eta_min=-1.0), ValueError, "eta_min"),
    (dict(lr=float("nan")), ValueError, "lr"),
    (dict(step=-1), ValueError, "step"),
])
def test_warmup_cosine_bad_input_is_named(kwargs, error, match):
    args = dict(step=3, lr=0.1, warmup_iters=5, T_max=10)
    args.update(kwargs)
    step = args.pop("step")
    with pytest.raises(error, match=match):
        optim.warmup_cosine_lr(step, **args)


# ------------------------------------------------------- momentum, analysed

@settings(max_examples=80, deadline=None)
@given(lr=st.floats(1e-3, 5.0), mu=st.floats(0.0, 0.999),
       lam=st.floats(0.0, 3.0))
def test_momentum_eigenvalues_are_those_of_the_iteration_matrix(lr, mu, lam):
    M = np.array([[1 - lr * lam, -lr * mu], [lam, mu]])
    expected = np.sort_complex(np.linalg.eigvals(M).astype(complex))
    got = np.sort_complex(optim.momentum_eigenvalues(lr, mu, lam))
    # a double root is ill-conditioned: its error is ~sqrt(eps * |M|)
    scale = 1 + np.abs(M).max()
    np.testing.assert_allclose(got, expected, rtol=0,
                               atol=4 * np.sqrt(EPS) * scale)
    # exact relations: the product is mu and the sum 1 + mu - lr lam
    assert np.prod(got).real == pytest.approx(mu, abs=1e-12 * scale ** 2)
    assert np.sum(got).real == pytest.approx(1 + mu - lr * lam,
                                             abs=1e-12 * scale)


def test_momentum_eigenvalues_broadcast():
    z = optim.momentum_eigenvalues(np.array([[0.1], [1.0]]),
                                   np.array([0.0, 0.5, 0.9]), 1.0)
    assert z.shape == (2, 3, 2)
    assert optim.momentum_eigenvalues(0.1, 0.5, 1.0).shape == (2,)


@pytest.mark.parametrize("lr, mu", [(0.3, 0.5), (1.9, 0.0), (2.5, 0.5),
                                    (0.05, 0.9), (3.5, 0.9)])
def test_momentum_rate_is_the_measured_factor_of_a_run(lr, mu):
    """On a 2-D quadratic with curvatures 1 and 0.1, the distance after
    t steps shrinks (or grows) like rate^t."""
    lams = np.array([1.0, 0.1])
    rate = float(optim.momentum_rate(lr, mu, lams))
    path = optim.trajectory(optim.momentum_step, lambda t: lams * t,
                            [1.0, 1.0], 400, lr=lr, momentum=mu,
                            bound=math.inf)
    late = np.linalg.norm(path[200:], axis=1)
    measured = (late.max() / np.linalg.norm(path[100:200], axis=1).max()
                ) ** (1 / 100)
    assert measured == pytest.approx(rate, rel=0.02)


def test_momentum_rate_shape_and_the_stability_bound():
    lrs = np.linspace(0.1, 4.0, 40)[:, None]
    mus = np.array([0.0, 0.5, 0.9])[None, :]
    rho = optim.momentum_rate(lrs, mus, [1.0])
    assert rho.shape == (40, 3)
    inside = lrs < 2 * (1 + mus) - 1e-9
    assert np.all(rho[inside] < 1) and np.all(rho[~inside] >= 1 - 1e-12)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(lr=0.0), ValueError, "lr"),
    (dict(lr=-1.0), ValueError, "lr"),
    (dict(momentum=1.0), ValueError, "momentum"),
    (dict(momentum=-0.1), ValueError, "momentum"),
    (dict(eigenvalue=-1.0), ValueError, "eigenvalue"),
    (dict(eigenvalue=np.nan), ValueError, "eigenvalue"),
    (dict(lr="fast"), TypeError, "lr"),
    (dict(lr=np.float32(0.1)), TypeError, "precision"),
])
def test_momentum_eigenvalues_bad_input_is_named(kwargs, error, match):
    args = dict(lr=0.1, momentum=0.5, eigenvalue=np.float64(1.0))
    args.update(kwargs)
    with pytest.raises(error, match=match):
        optim.momentum_eigenvalues(**args)


def test_momentum_rate_bad_eigenvalues_are_named():
    for bad, error in (([], ValueError), ([[1.0]], ValueError),
                       ([-1.0], ValueError), ("ab", TypeError)):
        with pytest.raises(error, match="eigenvalue"):
            optim.momentum_rate(0.1, 0.5, bad)


# ------------------------------------------------------------- noise

@settings(max_examples=60, deadline=None)
@given(lr=st.floats(1e-3, 1.9), noise=st.floats(0.0, 3.0),
       lams=st.lists(st.floats(0.01, 1.0), min_size=1, max_size=5))
def test_noise_floor_closed_form(lr, noise, lams):
    expected = sum(lr * noise ** 2 / 2 / (2 - lr * v) for v in lams)
    assert optim.sgd_noise_floor(lr, lams, noise) == pytest.approx(
        expected, rel=1e-12, abs=1e-300)


def test_noise_floor_unstable_is_infinite_and_bad_input_named():
    assert optim.sgd_noise_floor(2.0, [1.0], 1.0) == math.inf
    assert optim.sgd_noise_floor(1.0, [1.0, 2.5], 1.0) == math.inf
    for kwargs, match in ((dict(lr=0.0), "lr"), (dict(noise=-1.0), "noise"),
                          (dict(eigenvalues=[0.0, 1.0]), "eigenvalues"),
                          (dict(eigenvalues=[]), "eigenvalues"),
                          (dict(noise=np.inf), "noise")):
        args = dict(lr=0.1, eigenvalues=[1.0], noise=1.0)
        args.update(kwargs)
        with pytest.raises(ValueError, match=match):
            optim.sgd_noise_floor(**args)


def test_gradient_noise_of_identical_examples_is_zero():
    got = optim.gradient_noise(lambda idx: np.ones(3), 10, [1, 5, 10],
                               rng=np.random.default_rng(0))
    np.testing.assert_array_equal(got, 0.0)


def test_gradient_noise_uses_every_example_once_per_epoch():
    """With B = 1 and one epoch the mean squared error is tr(Sigma)
    exactly: every example is drawn once."""
    A = np.random.default_rng(0).standard_normal((7, 2))
    trace = ((A - A.mean(0)) ** 2).sum(1).mean()
    got = optim.gradient_noise(lambda idx: A[idx].mean(0), 7, [1],
                               rng=np.random.default_rng(3))
    assert got[0] == pytest.approx(trace, rel=1e-13)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(grad_fn=3), TypeError, "grad_fn"),
    (dict(n_examples=0), ValueError, "n_examples"),
    (dict(batch_sizes=[0]), ValueError, "batch_sizes"),
    (dict(batch_sizes=[11]), ValueError, "batch_sizes"),
    (dict(batch_sizes=4), TypeError, "batch_sizes"),
    (dict(n_epochs=0), ValueError, "n_epochs"),
    (dict(rng=0), TypeError, "rng"),
    (dict(vectorized=1), ValueError, "vectorized"),
    (dict(grad_fn=lambda idx: (1.0, 2.0)), TypeError, "grad_fn"),
    (dict(grad_fn=lambda idx: np.full(2, np.nan)), ValueError, "finite"),
    (dict(grad_fn=lambda idx: np.ones(len(idx))), ValueError, "shape"),
    (dict(grad_fn=lambda b: np.ones(2), vectorized=True), ValueError,
     "one gradient per row"),
])
def test_gradient_noise_bad_input_is_named(kwargs, error, match):
    args = dict(grad_fn=lambda idx: np.ones(2), n_examples=10,
                batch_sizes=[2], rng=np.random.default_rng(0))
    args.update(kwargs)
    with pytest.raises(error, match=match):
        optim.gradient_noise(**args)
