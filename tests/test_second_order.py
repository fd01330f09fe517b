"""Second-order tools (issue 17): optim.newton_step against torch.linalg
and closed forms; optim.top_hessian_eigenvalue against the exact top
eigenvalue of quadratics and of a logistic-regression loss whose Hessian
is written in closed form (itself checked against torch.autograd)."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from calc_nn import optim

EPS = np.finfo(np.float64).eps


def spd(rng, eigenvalues):
    """A symmetric matrix with the given eigenvalues and random
    eigenvectors, and those eigenvectors (columns)."""
    Q, _ = np.linalg.qr(rng.standard_normal((len(eigenvalues),) * 2))
    return (Q * eigenvalues) @ Q.T, Q


# ------------------------------------------------------------- Newton

@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), n=st.integers(1, 6),
       lr=st.floats(0.01, 1.0), damping=st.sampled_from([0.0, 1e-3, 0.5]))
def test_newton_step_equals_torch_solve(seed, n, lr, damping):
    rng = np.random.default_rng(seed)
    H, _ = spd(rng, rng.uniform(0.1, 10.0, n))
    H = (H + H.T) / 2
    theta, grad = rng.standard_normal(n), rng.standard_normal(n)
    got, state = optim.newton_step(theta, grad, H, lr=lr, damping=damping)
    Ht = torch.tensor(H) + damping * torch.eye(n, dtype=torch.float64)
    expected = torch.tensor(theta) - lr * torch.linalg.solve(
        Ht, torch.tensor(grad))
    # cond(H) <= 100: the solve is accurate to about cond * eps
    np.testing.assert_allclose(got, expected.numpy(), rtol=0,
                               atol=100 * 100 * EPS * (np.abs(theta).max()
                                                       + lr * 10))
    assert state == {"step": 1}
    _, state = optim.newton_step(got, grad, H, state, lr=lr)
    assert state == {"step": 2}


def test_one_newton_step_solves_a_quadratic():
    """L = 1/2 theta^T A theta - b^T theta has its minimum at A^-1 b; one
    step with lr = 1 gets there from anywhere."""
    rng = np.random.default_rng(0)
    A, _ = spd(rng, [4.0, 1.0, 0.25])
    A = (A + A.T) / 2
    b = rng.standard_normal(3)
    theta = rng.standard_normal(3) * 10
    new, _ = optim.newton_step(theta, A @ theta - b, A)
    np.testing.assert_allclose(new, np.linalg.solve(A, b), rtol=1e-12,
                               atol=1e-12)


def test_newton_step_on_any_shape_and_float32():
    rng = np.random.default_rng(1)
    H, _ = spd(rng, np.linspace(1, 2, 6))
    H = ((H + H.T) / 2).astype(np.float32)
    theta = rng.standard_normal((2, 3)).astype(np.float32)
    grad = rng.standard_normal((2, 3)).astype(np.float32)
    new, _ = optim.newton_step(theta, grad, H, lr=0.5)
    assert new.shape == (2, 3) and new.dtype == np.float32
    expected = theta.ravel() - 0.5 * np.linalg.solve(
        H.astype(np.float64), grad.ravel().astype(np.float64))
    np.testing.assert_allclose(new.ravel(), expected, rtol=1e-5, atol=1e-5)
    theta_copy, grad_copy, H_copy = theta.copy(), grad.copy(), H.copy()
    optim.newton_step(theta, grad, H)
    np.testing.assert_array_equal(theta, theta_copy)
    np.testing.assert_array_equal(grad, grad_copy)
    np.testing.assert_array_equal(H, H_copy)


def test_a_hessian_that_is_not_positive_definite_is_refused():
    H = np.diag([2.0, -0.5])
    with pytest.raises(ValueError, match=r"not positive definite \("
                       r"smallest eigenvalue -0.5\).*above 0.5"):
        optim.newton_step(np.zeros(2), np.ones(2), H)
    with pytest.raises(ValueError, match="not positive definite"):
        optim.newton_step(np.zeros(2), np.ones(2), H, damping=0.5)
    # the hint names the damping needed, not what is still missing
    with pytest.raises(ValueError, match=r"smallest eigenvalue -0.3\).*"
                       r"increase damping above 0.5$"):
        optim.newton_step(np.zeros(2), np.ones(2), H, damping=0.2)
    new, _ = optim.newton_step(np.zeros(2), np.ones(2), H, damping=1.5)
    np.testing.assert_allclose(new, [-1 / 3.5, -1.0])
    with pytest.raises(ValueError, match="not positive definite"):
        optim.newton_step(np.zeros(2), np.ones(2), np.diag([1.0, 0.0]))


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(hess=np.array([[1.0, 2.0], [0.0, 1.0]])), ValueError,
     "hess must be symmetric"),
    (dict(hess=np.array([[1.0, np.nan], [np.nan, 1.0]])), ValueError,
     "hess must be finite"),
    (dict(hess=np.eye(3)), ValueError, r"hess must have shape \(n, n\) = "
     r"\(2, 2\)"),
    (dict(hess=np.eye(2, dtype=np.float32)), TypeError, "hess"),
    (dict(grad=np.ones(3)), ValueError, "grad must have the shape"),
    (dict(lr=0.0), ValueError, "lr"),
    (dict(damping=-1.0), ValueError, "damping"),
    (dict(damping=np.inf), ValueError, "damping"),
    (dict(state={"buf": 1}), ValueError, "state"),
])
def test_newton_step_bad_input_is_a_named_error(kwargs, error, match):
    args = dict(theta=np.zeros(2), grad=np.ones(2), hess=np.eye(2),
                state=None)
    args.update(kwargs)
    hyper = {k: args.pop(k) for k in ("lr", "damping") if k in args}
    with pytest.raises(error, match=match):
        optim.newton_step(**args, **hyper)


# --------------------------------------------- the Hessian's eigenvalue

def power_iteration_bound(eigenvalues, Q, v0, n_iter):
    """|lambda_1 - v^T H v| for v after n_iter - 1 exact multiplications
    from v0 (the Rayleigh quotient of the last iteration), H with
    eigenvalues sorted by decreasing magnitude."""
    c = Q.T @ (v0 / np.linalg.norm(v0))
    k = n_iter - 1
    ratio = (eigenvalues[1:] / eigenvalues[0]) ** (2 * k)
    spread = np.abs(eigenvalues - eigenvalues[0]).max()
    return spread * np.sum(c[1:] ** 2 * ratio) / c[0] ** 2


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), n=st.integers(2, 8),
       top=st.floats(0.1, 100.0), gap=st.floats(0.05, 0.5),
       n_iter=st.integers(10, 40))
def test_top_eigenvalue_of_quadratics(seed, n, top, gap, n_iter):
    """The other eigenvalues are at most gap * top in magnitude (some
    negative): the error bound (gap)^(2k) tan^2 is computed from the same
    start vector."""
    rng = np.random.default_rng(seed)
    rest = rng.uniform(-gap, gap, n - 1) * top
    eigenvalues = np.concatenate([[top], rest])
    A, Q = spd(rng, eigenvalues)
    b = rng.standard_normal(n)
    theta = rng.standard_normal(n) * rng.choice([0.1, 1.0, 100.0])
    got = optim.top_hessian_eigenvalue(lambda t: A @ t - b, theta,
                                       n_iter=n_iter,
                                       rng=np.random.default_rng(seed))
    v0 = np.random.default_rng(seed).standard_normal(n)
    bound = power_iteration_bound(eigenvalues, Q, v0, n_iter)
    # the gradient is linear: the central difference is exact up to the
    # rounding of the gradients, eps * |g| / h with h = eps^(1/3) max|theta|
    g_scale = top * np.linalg.norm(theta) + np.linalg.norm(b)
    fd = 100 * EPS ** (2 / 3) * (g_scale / max(1.0, np.abs(theta).max())
                                 + top)
    assert abs(got - top) <= bound + fd


def test_top_eigenvalue_is_the_largest_in_magnitude():
    """A saddle: eigenvalues -3 and 1. Power iteration finds -3 (the
    docstring says so); near a minimum all are >= 0."""
    rng = np.random.default_rng(0)
    A, _ = spd(rng, [-3.0, 1.0])
    got = optim.top_hessian_eigenvalue(lambda t: A @ t, np.zeros(2),
                                       rng=np.random.default_rng(1))
    assert got == pytest.approx(-3.0, rel=1e-8)


def logistic(X, y):
    """Mean logistic loss of labels y in {0, 1}, its gradient and its
    Hessian X^T diag(p (1 - p)) X / N, in closed form."""
    def loss(w):
        z = X @ w
        return np.mean(np.logaddexp(0, z) - y * z)

    def grad(w):
        p = 1 / (1 + np.exp(-(X @ w)))
        return X.T @ (p - y) / len(y)

    def hess(w):
        p = 1 / (1 + np.exp(-(X @ w)))
        return (X.T * (p * (1 - p))) @ X / len(y)
    return loss, grad, hess


def test_logistic_hessian_closed_form_equals_torch():
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((30, 4)), rng.integers(0, 2, 30)
    w = rng.standard_normal(4)
    _, grad, hess = logistic(X, y)
    Xt, yt = torch.tensor(X), torch.tensor(y, dtype=torch.float64)

    def torch_loss(wt):
        z = Xt @ wt
        return torch.mean(torch.nn.functional.softplus(z) - yt * z)

    np.testing.assert_allclose(
        hess(w), torch.autograd.functional.hessian(
            torch_loss, torch.tensor(w)).numpy(), rtol=1e-12, atol=1e-15)
    wt = torch.tensor(w, requires_grad=True)
    torch_loss(wt).backward()
    np.testing.assert_allclose(grad(w), wt.grad.numpy(), rtol=1e-12,
                               atol=1e-15)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), n_iter=st.integers(15, 40))
def test_top_eigenvalue_of_a_logistic_regression_loss(seed, n_iter):
    rng = np.random.default_rng(seed)
    # features of different scales, so the top eigenvalue stands out
    X = rng.standard_normal((40, 4)) * np.array([3.0, 1.0, 0.7, 0.3])
    y = rng.integers(0, 2, 40)
    w = rng.standard_normal(4) * 0.3
    _, grad, hess = logistic(X, y)
    lam, Q = np.linalg.eigh(hess(w))
    order = np.argsort(-np.abs(lam))
    lam, Q = lam[order], Q[:, order]
    got = optim.top_hessian_eigenvalue(grad, w, n_iter=n_iter,
                                       rng=np.random.default_rng(seed))
    v0 = np.random.default_rng(seed).standard_normal(4)
    bound = power_iteration_bound(lam, Q, v0, n_iter)
    # central difference of a smooth gradient: h^2 |third derivative| and
    # eps |g| / h, both about eps^(2/3) relative
    assert abs(got - lam[0]) <= bound + 1e-7 * lam[0]


def test_top_eigenvalue_with_the_default_iterations_is_close():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((40, 4)) * np.array([3.0, 1.0, 0.7, 0.3])
    y = rng.integers(0, 2, 40)
    _, grad, hess = logistic(X, y)
    w = np.zeros(4)
    top = np.linalg.eigvalsh(hess(w))[-1]
    got = optim.top_hessian_eigenvalue(grad, w, rng=np.random.default_rng(0))
    assert got == pytest.approx(top, rel=1e-6)
    # float32: the step is eps32^(1/3), so about 1e-4 relative
    X32 = X.astype(np.float32)
    _, grad32, _ = logistic(X32, y.astype(np.float32))
    got32 = optim.top_hessian_eigenvalue(grad32, w.astype(np.float32),
                                         rng=np.random.default_rng(0))
    assert got32 == pytest.approx(top, rel=1e-3)


def test_a_linear_loss_has_hessian_zero():
    b = np.array([1.0, -2.0, 3.0])
    assert optim.top_hessian_eigenvalue(lambda t: b, np.ones(3),
                                        rng=np.random.default_rng(0)) == 0.0


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(loss_grad_fn=3), TypeError, "loss_grad_fn"),
    (dict(loss_grad_fn=lambda t: (float(t @ t), 2 * t)), TypeError,
     r"loss_grad_fn\(theta\) must return an array.*tuple"),
    (dict(loss_grad_fn=lambda t: [1.0, [2.0, 3.0]]), TypeError,
     r"loss_grad_fn\(theta\) must return an array"),
    (dict(loss_grad_fn=lambda t: np.zeros(5)), ValueError,
     r"loss_grad_fn must return the gradient, of theta's shape \(3,\)"),
    (dict(loss_grad_fn=lambda t: t * np.nan), ValueError,
     r"loss_grad_fn\(theta\) must be finite"),
    (dict(loss_grad_fn=lambda t: (2 * t).astype(np.float32)), TypeError,
     r"loss_grad_fn\(theta\)"),
    (dict(theta=np.array([1.0, np.inf, 0.0])), ValueError,
     "theta must be finite"),
    (dict(theta=np.zeros(0)), ValueError, "theta must have at least one"),
    (dict(theta=np.array(["a", "b", "c"])), TypeError, "theta"),
    (dict(n_iter=0), ValueError, "n_iter"),
    (dict(n_iter=2.0), TypeError, "n_iter"),
    (dict(rng=0), TypeError, "rng"),
    (dict(rng=None), TypeError, "rng"),
])
def test_top_eigenvalue_bad_input_is_a_named_error(kwargs, error, match):
    args = dict(loss_grad_fn=lambda t: 2 * t, theta=np.ones(3), n_iter=5,
                rng=np.random.default_rng(0))
    args.update(kwargs)
    with pytest.raises(error, match=match):
        optim.top_hessian_eigenvalue(args.pop("loss_grad_fn"),
                                     args.pop("theta"), **args)
