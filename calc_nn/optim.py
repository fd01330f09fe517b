r"""Optimizers as pure step functions, the trajectories they draw, and the
tools around them: learning-rate schedules, gradient clipping, Newton's
step and the Hessian's largest eigenvalue.

Every optimizer is one function with the same signature,

.. code-block:: python

    theta, state = step(theta, grad, state, **hyper)

``state`` is ``None`` on the first call and afterwards whatever the previous
call returned (a dict of arrays and the step count). Nothing is mutated: the
arrays passed in are left as they were and new ones are returned, so a
trajectory can be replayed, branched or compared with PyTorch step by step.

The update rules, names and defaults are those of ``torch.optim`` (``lr``,
``momentum``, ``nesterov``, ``alpha``, ``betas``, ``eps``,
``weight_decay``), and ``tests/test_optim.py`` checks every step against
``torch.optim`` in float64 to a relative 1e-8 after hundreds of steps.
Where PyTorch's convention differs from the textbook one (momentum, the
place of ``eps`` in RMSprop), the docstring says so.

:func:`run` and :func:`run_many` run step functions from a start point and
detect divergence (a non-finite point, a point leaving a box, or a loss
that grows by a large factor).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from collections.abc import Callable, Mapping

import numpy as np

from calc_nn._validation import (
    as_float_array,
    as_float_arrays,
    check_callable,
    check_choice,
    check_finite,
    check_int,
    check_ndim,
    check_nonnegative,
    check_real,
    check_rng,
)

__all__ = [
    "gd_step",
    "momentum_step",
    "nesterov_step",
    "rmsprop_step",
    "adagrad_step",
    "adam_step",
    "adamw_step",
    "newton_step",
    "OPTIMIZERS",
    "get",
    "Run",
    "run",
    "run_many",
    "trajectory",
    "diverged_at",
    "step_lr",
    "cosine_annealing_lr",
    "linear_lr",
    "warmup_cosine_lr",
    "clip_grad_norm",
    "top_hessian_eigenvalue",
    "momentum_eigenvalues",
    "momentum_rate",
    "sgd_noise_floor",
    "gradient_noise",
]


# ----------------------------------------------------------------- steps
# Each optimizer is a kernel (the update rule, no checks: run() calls it in
# its loop after checking the hyperparameters once) and a public step
# function that checks its arguments in one line, then calls the kernel.

def _gd(theta, grad, state, lr):
    step = 0 if state is None else state["step"]
    return theta - lr * grad, {"step": step + 1}


def _momentum(theta, grad, state, lr, momentum, nesterov, weight_decay):
    if weight_decay:
        grad = grad + weight_decay * theta
    if state is None:
        buf, step = grad.copy(), 0
    else:
        buf, step = momentum * state["buf"] + grad, state["step"]
    direction = grad + momentum * buf if nesterov else buf
    return theta - lr * direction, {"buf": buf, "step": step + 1}


def _rmsprop(theta, grad, state, lr, alpha, eps, weight_decay):
    if weight_decay:
        grad = grad + weight_decay * theta
    if state is None:
        square_avg, step = (1 - alpha) * grad * grad, 0
    else:
        square_avg = alpha * state["square_avg"] + (1 - alpha) * grad * grad
        step = state["step"]
    theta = theta - lr * grad / (np.sqrt(square_avg) + eps)
    return theta, {"square_avg": square_avg, "step": step + 1}


def _adagrad(theta, grad, state, lr, eps, weight_decay):
    if weight_decay:
        grad = grad + weight_decay * theta
    total = grad * grad if state is None else state["sum"] + grad * grad
    step = 0 if state is None else state["step"]
    theta = theta - lr * grad / (np.sqrt(total) + eps)
    return theta, {"sum": total, "step": step + 1}


def _adam(theta, grad, state, lr, betas, eps, weight_decay, decoupled):
    beta1, beta2 = betas
    if weight_decay:
        if decoupled:  # AdamW: shrink the weights, leave the gradient alone
            theta = theta * (1 - lr * weight_decay)
        else:  # Adam: L2 penalty in the gradient, rescaled by Adam later
            grad = grad + weight_decay * theta
    if state is None:
        m, v, t = (1 - beta1) * grad, (1 - beta2) * grad * grad, 1
    else:
        t = state["step"] + 1
        m = beta1 * state["exp_avg"] + (1 - beta1) * grad
        v = beta2 * state["exp_avg_sq"] + (1 - beta2) * grad * grad
    # m_hat = m / (1 - beta1^t), sqrt(v_hat) = sqrt(v) / sqrt(1 - beta2^t),
    # in PyTorch's order of operations: Adam's step m_hat / sqrt(v_hat) is
    # scale-free, so near a minimum rounding differences would grow
    denom = np.sqrt(v) / (1 - beta2 ** t) ** 0.5 + eps
    theta = theta - (lr / (1 - beta1 ** t)) * (m / denom)
    return theta, {"exp_avg": m, "exp_avg_sq": v, "step": t}


def gd_step(theta, grad, state=None, *, lr: float):
    r"""One step of plain gradient descent (``torch.optim.SGD`` without
    momentum).

    .. math:: \theta_{t+1} = \theta_t - \eta\, \nabla L(\theta_t)

    Parameters
    ----------
    theta : array_like, any shape
        Current parameters.
    grad : array_like, shape and dtype of ``theta``
        Gradient of the loss at ``theta``.
    state : None or dict
        None on the first step, then the previous step's ``{"step": t}``.
    lr : float
        Learning rate :math:`\eta > 0`.

    Returns
    -------
    theta : ndarray, shape and dtype of ``theta``
    state : dict ``{"step": t + 1}``

    Raises
    ------
    TypeError, ValueError
        For a bad argument; the message names it.

    Used in: book/calculus.md, book/optimizers.md, book/backprop.md,
    book/digits.md
    """
    theta, grad, state = _check_step(theta, grad, state, ())
    return _gd(theta, grad, state, **_check_gd(lr))


def momentum_step(theta, grad, state=None, *, lr: float,
                  momentum: float = 0.9, nesterov: bool = False,
                  weight_decay: float = 0.0):
    r"""One step of SGD with momentum, PyTorch's convention
    (``torch.optim.SGD(lr, momentum, nesterov)``, ``dampening=0``).

    .. math:: b_t = \mu\, b_{t-1} + g_t, \quad
              \theta_{t} = \theta_{t-1} - \eta\, b_t

    with :math:`b_1 = g_1` and :math:`g_t = \nabla L(\theta_{t-1}) +
    \lambda\theta_{t-1}` (``weight_decay`` :math:`\lambda`). With
    ``nesterov=True`` the step uses :math:`g_t + \mu b_t` instead of
    :math:`b_t`. The NN document [nn-calculus-doc] §4.3 writes
    :math:`v_t = \gamma v_{t-1} + \eta g_t`, :math:`\theta_t =
    \theta_{t-1} - v_t`: the same method with :math:`v = \eta b`, as long
    as :math:`\eta` never changes.

    Parameters
    ----------
    theta : array_like, any shape
    grad : array_like, shape and dtype of ``theta``
    state : None or dict with ``"buf"`` (shape of ``theta``) and ``"step"``
    lr : float
        Learning rate, > 0.
    momentum : float
        :math:`\mu \in [0, 1)`.
    nesterov : bool
        Nesterov's look-ahead variant (needs ``momentum > 0``).
    weight_decay : float
        L2 penalty added to the gradient, >= 0.

    Returns
    -------
    theta : ndarray, shape and dtype of ``theta``
    state : dict with ``"buf"`` (the velocity :math:`b_t`) and ``"step"``

    Used in: book/optimizers.md
    """
    theta, grad, state = _check_step(theta, grad, state, ("buf",))
    return _momentum(theta, grad, state, **_check_momentum(
        lr, momentum, nesterov, weight_decay))


def nesterov_step(theta, grad, state=None, *, lr: float,
                  momentum: float = 0.9, weight_decay: float = 0.0):
    """:func:`momentum_step` with ``nesterov=True``.

    Used in: book/optimizers.md
    """
    return momentum_step(theta, grad, state, lr=lr, momentum=momentum,
                         nesterov=True, weight_decay=weight_decay)


def rmsprop_step(theta, grad, state=None, *, lr: float, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0):
    r"""One step of RMSprop, PyTorch's convention (``torch.optim.RMSprop``,
    no momentum, not centred).

    .. math:: v_t = \alpha\, v_{t-1} + (1 - \alpha)\, g_t^2, \quad
              \theta_t = \theta_{t-1} - \frac{\eta\, g_t}{\sqrt{v_t}
              + \epsilon}

    with :math:`v_0 = 0`. Note :math:`\epsilon` *outside* the square root;
    the NN document [nn-calculus-doc] §4.3 puts it inside,
    :math:`\sqrt{v_t + \epsilon}`.

    Parameters
    ----------
    theta : array_like, any shape
    grad : array_like, shape and dtype of ``theta``
    state : None or dict with ``"square_avg"`` (shape of ``theta``) and
        ``"step"``
    lr : float
        Learning rate, > 0.
    alpha : float
        Decay of the running mean of squared gradients, in [0, 1).
    eps : float
        > 0, added to the root mean square.
    weight_decay : float
        L2 penalty added to the gradient, >= 0.

    Returns
    -------
    theta : ndarray, shape and dtype of ``theta``
    state : dict with ``"square_avg"`` and ``"step"``

    Used in: book/optimizers.md
    """
    theta, grad, state = _check_step(theta, grad, state, ("square_avg",))
    return _rmsprop(theta, grad, state, **_check_rmsprop(
        lr, alpha, eps, weight_decay))


def adagrad_step(theta, grad, state=None, *, lr: float = 0.01,
                 eps: float = 1e-10, weight_decay: float = 0.0):
    r"""One step of AdaGrad (``torch.optim.Adagrad``, no learning-rate
    decay, zero initial accumulator).

    .. math:: s_t = s_{t-1} + g_t^2, \quad
              \theta_t = \theta_{t-1} - \frac{\eta\, g_t}{\sqrt{s_t}
              + \epsilon}

    Parameters
    ----------
    theta : array_like, any shape
    grad : array_like, shape and dtype of ``theta``
    state : None or dict with ``"sum"`` (shape of ``theta``) and ``"step"``
    lr : float
        Learning rate, > 0.
    eps : float
        > 0.
    weight_decay : float
        L2 penalty added to the gradient, >= 0.

    Returns
    -------
    theta : ndarray, shape and dtype of ``theta``
    state : dict with ``"sum"`` and ``"step"``

    Used in: book/optimizers.md
    """
    theta, grad, state = _check_step(theta, grad, state, ("sum",))
    return _adagrad(theta, grad, state, **_check_adagrad(
        lr, eps, weight_decay))


def adam_step(theta, grad, state=None, *, lr: float = 0.001,
              betas=(0.9, 0.999), eps: float = 1e-8,
              weight_decay: float = 0.0):
    r"""One step of Adam (``torch.optim.Adam``, ``amsgrad=False``).

    .. math:: m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\;
              v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\;
              \theta_t = \theta_{t-1} - \eta\,
              \frac{m_t / (1-\beta_1^t)}{\sqrt{v_t / (1-\beta_2^t)}
              + \epsilon}

    with :math:`m_0 = v_0 = 0` and :math:`g_t = \nabla L(\theta_{t-1}) +
    \lambda \theta_{t-1}` (``weight_decay`` :math:`\lambda`, an L2 penalty
    that Adam then rescales; see :func:`adamw_step` for the decoupled form).

    Parameters
    ----------
    theta : array_like, any shape
    grad : array_like, shape and dtype of ``theta``
    state : None or dict with ``"exp_avg"``, ``"exp_avg_sq"`` (shape of
        ``theta``) and ``"step"``
    lr : float
        Learning rate, > 0.
    betas : (float, float)
        Decay rates :math:`(\beta_1, \beta_2)`, each in [0, 1).
    eps : float
        > 0, added to :math:`\sqrt{\hat v_t}`.
    weight_decay : float
        >= 0.

    Returns
    -------
    theta : ndarray, shape and dtype of ``theta``
    state : dict with ``"exp_avg"`` (:math:`m_t`), ``"exp_avg_sq"``
        (:math:`v_t`) and ``"step"`` (:math:`t`)

    Used in: book/optimizers.md, book/deep.md, book/digits.md
    """
    theta, grad, state = _check_step(theta, grad, state,
                                     ("exp_avg", "exp_avg_sq"))
    return _adam(theta, grad, state, **_check_adam(
        lr, betas, eps, weight_decay))


def adamw_step(theta, grad, state=None, *, lr: float = 0.001,
               betas=(0.9, 0.999), eps: float = 1e-8,
               weight_decay: float = 0.01):
    r"""One step of AdamW (``torch.optim.AdamW``): Adam with decoupled
    weight decay.

    .. math:: \theta' = (1 - \eta\lambda)\,\theta_{t-1}, \quad
              \theta_t = \theta' - \eta\,
              \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}

    where :math:`\hat m_t, \hat v_t` are Adam's bias-corrected moments of
    the plain gradient (no penalty in it). Parameters and returns as
    :func:`adam_step`; ``weight_decay`` defaults to 0.01 as in PyTorch.

    Used in: book/optimizers.md, book/deep.md
    """
    theta, grad, state = _check_step(theta, grad, state,
                                     ("exp_avg", "exp_avg_sq"))
    return _adam(theta, grad, state, **_check_adamw(
        lr, betas, eps, weight_decay))


def newton_step(theta, grad, hess, state=None, *, lr: float = 1.0,
                damping: float = 0.0):
    r"""One (damped) Newton step: the minimum of the second-order Taylor
    model of the loss.

    .. math:: \theta_{t+1} = \theta_t - \eta\,(H + \tau I)^{-1}\,
              \nabla L(\theta_t)

    On a quadratic with positive definite Hessian, one step with
    ``lr=1, damping=0`` lands on the minimum. A :math:`\theta` of any shape
    is treated as the flat vector ``theta.ravel()`` of length ``n``.

    Parameters
    ----------
    theta : array_like, any shape, ``n`` entries
    grad : array_like, shape and dtype of ``theta``
    hess : array_like, shape (n, n), dtype of ``theta``
        The Hessian at ``theta``: finite and symmetric (up to a relative
        ``sqrt(eps)`` of its dtype).
    state : None or dict
        None on the first step, then the previous step's ``{"step": t}``.
    lr : float
        Step size :math:`\eta > 0`.
    damping : float
        :math:`\tau \ge 0`, added to the diagonal (Levenberg's damping).

    Returns
    -------
    theta : ndarray, shape and dtype of ``theta``
    state : dict ``{"step": t + 1}``

    Raises
    ------
    ValueError
        If ``hess + damping * I`` is not positive definite (the message
        gives its smallest eigenvalue and the damping above which it
        would be), or for a bad argument.

    Used in: book/optimizers.md
    """
    theta, grad, hess, state = _check_newton(theta, grad, hess, state)
    lr, damping = _check_newton_hyper(lr, damping)
    H = hess + damping * np.eye(len(hess), dtype=hess.dtype)
    direction = _solve_positive_definite(H, grad.reshape(-1), damping)
    step = 0 if state is None else state["step"]
    return theta - lr * direction.reshape(theta.shape), {"step": step + 1}


def _solve_positive_definite(H, g, damping):
    """``H^{-1} g`` after checking, by a Cholesky factorisation, that ``H``
    (the Hessian plus ``damping`` times I) is positive definite; if not,
    the message names the damping that would make it so."""
    try:
        np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        smallest = float(np.linalg.eigvalsh(H.astype(np.float64))[0])
        raise ValueError(
            f"hess + damping * I is not positive definite (smallest "
            f"eigenvalue {smallest:.6g}): Newton's step would not go "
            f"downhill; increase damping above "
            f"{damping + max(-smallest, 0.0):.6g}"
        ) from None
    return np.linalg.solve(H, g)


#: name -> step function
OPTIMIZERS: dict[str, Callable] = {
    "gd": gd_step,
    "momentum": momentum_step,
    "nesterov": nesterov_step,
    "rmsprop": rmsprop_step,
    "adagrad": adagrad_step,
    "adam": adam_step,
    "adamw": adamw_step,
}


def get(name: str) -> Callable:
    """The step function called ``name``, a key of :data:`OPTIMIZERS`.

    Used in: book/optimizers.md
    """
    return OPTIMIZERS[check_choice(name, "name", sorted(OPTIMIZERS))]


# ----------------------------------------------------------------- runs

@dataclasses.dataclass(frozen=True)
class Run:
    """The result of :func:`run`.

    Attributes
    ----------
    path : ndarray, shape (n_steps + 1, d), float64
        ``path[k]`` is the parameter vector after ``k`` steps; rows from the
        divergence on are NaN.
    diverged_at : int or None
        The first step ``k`` whose point was non-finite, out of bounds or
        of a grown loss; None if the run stayed finite and in bounds.
    """

    path: np.ndarray
    diverged_at: int | None

    @property
    def diverged(self) -> bool:
        return self.diverged_at is not None


def run(step: Callable, grad_fn: Callable, theta0, n_steps: int, *,
        bound: float = 1e6, dim: int | None = None,
        loss_fn: Callable | None = None, max_growth: float = 1e4,
        vectorized: bool = False, **hyper) -> Run:
    r"""Run one optimizer from ``theta0`` and report where it diverges.

    .. math:: \theta_{k} = \mathrm{step}(\theta_{k-1},
              \nabla L(\theta_{k-1}), s_{k-1}), \quad k = 1, \dots,
              n_\text{steps}

    The run diverges at the first step ``k`` where

    * a coordinate of :math:`\theta_k` is not finite (NaN or inf), or
    * :math:`\max_i |\theta_{k,i}| > \mathrm{bound}` (a plot passes a bound
      tied to its window), or
    * ``loss_fn`` is given and :math:`L(\theta_k) > \mathrm{max\_growth}
      \cdot \max(|L(\theta_0)|, 1)`, which catches a run that escapes
      slowly (gradient descent on the bowl with ``lr`` just above
      ``2 / lambda_max`` multiplies its loss by about 1.2 per step without
      leaving any reasonable box for a while).

    The rows from ``k`` on are NaN, and ``diverged_at`` is ``k``. The
    path is float64. ``grad_fn`` and ``loss_fn`` run under the caller's
    ``np.errstate``: a NumPy warning in them is shown, and a NaN gradient
    or loss at a finite point is a ValueError (a bug such as the square
    root of a negative number), not a divergence.

    Parameters
    ----------
    step : callable
        A step function of this module (or any with the same signature).
    grad_fn : callable
        ``theta (d,) -> grad (d,)``; with ``vectorized=True``,
        ``thetas (m, d) -> grads (m, d)``.
    theta0 : array_like, shape (d,)
        Start point, finite.
    n_steps : int
        Number of steps, >= 0.
    bound : float
        > 0 (inf allowed): a point with ``max(abs(theta)) > bound`` counts
        as diverged.
    dim : int, optional
        Required length of ``theta0`` (a landscape's dimension).
    loss_fn : callable, optional
        ``theta (d,) -> float`` (``points (n, d) -> (n,)`` with
        ``vectorized=True``): the loss, to detect a loss that grows.
    max_growth : float
        > 0; see above. Only used with ``loss_fn``.
    vectorized : bool
        Whether ``grad_fn`` and ``loss_fn`` take a stack of points (as a
        :mod:`calc_nn.landscapes` landscape's do). Never guessed.
    **hyper
        Hyperparameters passed to ``step`` (``lr``, ``momentum``, ...).

    Returns
    -------
    Run

    Used in: book/optimizers.md
    """
    return run_many([(step, hyper)], grad_fn, theta0, n_steps, bound=bound,
                    dim=dim, loss_fn=loss_fn, max_growth=max_growth,
                    vectorized=vectorized)[0]


def run_many(runs, grad_fn: Callable, theta0, n_steps: int, *,
             bound: float = 1e6, dim: int | None = None,
             loss_fn: Callable | None = None, max_growth: float = 1e4,
             vectorized: bool = False) -> list[Run]:
    """Several optimizers from the same start, in one loop: what the
    explorer recomputes when a slider moves.

    Equal, bit for bit, to ``[run(step, grad_fn, theta0, n_steps, **hyper)
    for step, hyper in runs]`` for a deterministic ``grad_fn`` whose
    stacked result equals its row-by-row result. With ``vectorized=True``
    the gradient of all the live runs' points is one call ``grad_fn(thetas
    (m, d)) -> (m, d)`` per step; otherwise ``grad_fn`` gets one point
    ``(d,)`` at a time. Divergence is detected per run, as in :func:`run`.

    Parameters
    ----------
    runs : sequence of (step, dict)
        Step functions of this module with their hyperparameters.
    grad_fn, theta0, n_steps, bound, dim, loss_fn, max_growth, vectorized
        As in :func:`run`.

    Returns
    -------
    list of Run, one per entry of ``runs``, each ``path`` (n_steps + 1, d)

    Used in: book/optimizers.md
    """
    kernels, theta0, n_steps, bound, max_growth = _check_runs(
        runs, grad_fn, theta0, n_steps, bound, dim, loss_fn, max_growth,
        vectorized)
    paths = np.full((len(kernels), n_steps + 1, theta0.size), np.nan)
    paths[:, 0] = theta0
    gradients = _stacked(grad_fn, vectorized, "grad_fn", theta0.shape)
    stops = _iterate(kernels, gradients, paths, bound)
    losses = _stacked(loss_fn, vectorized, "loss_fn", ())
    return [_cut_at_growth(path, stop, losses, max_growth)
            for path, stop in zip(paths, stops)]


def _iterate(kernels, gradients, paths, bound) -> list[int | None]:
    """Fill ``paths[:, 1:]`` step by step; return each run's divergence
    step or None. A run that diverges keeps its last point (NaN in
    ``paths`` from there), so the others still share one gradient call per
    step."""
    thetas = paths[:, 0].copy()
    history = [thetas.copy()]
    states = [None] * len(kernels)
    stops: list[int | None] = [None] * len(kernels)
    live = list(range(len(kernels)))
    for k in range(1, paths.shape[1]):
        grads = gradients(thetas, live)
        with np.errstate(all="ignore"):  # the update of a diverging run
            for i in live:
                thetas[i], states[i] = kernels[i](thetas[i], grads[i],
                                                  states[i])
        # one test for all the runs first (NaN fails it)
        if not _inside(np.abs(thetas).max(), bound):
            for i in _left(thetas, history[-1], live, bound, grads, k):
                stops[i] = k
        history.append(thetas.copy())
        if not live:
            break
    paths[:, :len(history)] = np.stack(history, axis=1)
    for i, stop in enumerate(stops):
        if stop is not None:
            paths[i, stop:] = np.nan
    return stops


def _left(thetas, previous, live, bound, grads, k):
    """The runs that left the box at step ``k``: removed from ``live`` and
    put back on their previous point. A NaN gradient at that finite point
    is the gradient's fault, not a divergence: ValueError."""
    out = [i for i in live if not _inside(np.abs(thetas[i]).max(), bound)]
    for i in out:
        if np.isnan(grads[i]).any():
            raise ValueError(
                f"grad_fn returned NaN at the finite point "
                f"{previous[i].tolist()} (step {k}): an invalid operation "
                f"in grad_fn, such as the square root or the log of a "
                f"negative number, or inf - inf after an overflow")
        live.remove(i)
        thetas[i] = previous[i]
    return out


def _inside(size, bound) -> bool:
    """Whether ``max |theta| = size`` is finite and at most ``bound``."""
    return size <= bound and size < math.inf


def _stacked(fn, vectorized, name, shape):
    """``fn`` as ``values(points (m, d), live, when) -> (m, *shape)``:
    one call on the stack of points, or one call per live point (the
    others get zeros); results checked: real, of the right shape."""
    if fn is None:
        return None

    def one(value, expected, what):
        out = _as_result(value, f"{name}({what})")
        if out.shape != expected:
            hint = ("a stack of points (m, d) gives (m, d) gradients or (m,)"
                    " losses with vectorized=True" if vectorized else
                    "one point (d,) gives (d,) or a scalar with "
                    "vectorized=False")
            raise ValueError(f"{name}({what}) returned shape {out.shape}, "
                             f"expected {expected}: {hint}")
        return out

    def values(points, live):
        if vectorized:  # a copy: fn must not change our points
            return one(fn(points.copy()), (len(points), *shape), "points")
        out = np.zeros((len(points), *shape))
        for i in live:
            out[i] = one(fn(points[i].copy()), shape, "theta")
        return out
    return values


def _cut_at_growth(path, stop, losses, max_growth) -> Run:
    """The run of ``path`` (finite up to row ``stop``, excluded), cut at
    the first step whose loss exceeds ``max_growth * max(|L0|, 1)``."""
    if losses is None:
        return Run(path, stop)
    kept = len(path) if stop is None else stop
    loss = losses(path[:kept], range(kept))
    if np.isnan(loss).any():
        raise ValueError(
            f"loss_fn returned NaN at the finite point "
            f"{path[int(np.argmax(np.isnan(loss)))].tolist()}: an invalid "
            f"operation in loss_fn, such as the log of a negative number")
    if not np.isfinite(loss[0]):
        raise ValueError(f"loss_fn is {loss[0]} at theta0; the start must "
                         f"have a finite loss")
    grown = ~(loss <= max_growth * max(abs(float(loss[0])), 1.0))
    if not grown.any():
        return Run(path, stop)
    k = int(np.argmax(grown))
    path[k:] = np.nan
    return Run(path, k)


def trajectory(step: Callable, grad_fn: Callable, theta0, n_steps: int, *,
               bound: float = 1e6, dim: int | None = None,
               **hyper) -> np.ndarray:
    """The points an optimizer visits from ``theta0``: ``run(...).path``.

    A run that diverges at step ``k`` stops there: rows ``k`` and after are
    NaN, and :func:`diverged_at` returns ``k``.

    Parameters
    ----------
    step, grad_fn, theta0, n_steps, bound, dim, **hyper
        As in :func:`run` (``grad_fn`` takes one point ``(d,)``).

    Returns
    -------
    ndarray, shape (n_steps + 1, d), float64

    Used in: book/optimizers.md
    """
    return run(step, grad_fn, theta0, n_steps, bound=bound, dim=dim,
               **hyper).path


def diverged_at(path) -> int | None:
    """The first step whose row of ``path`` (shape (n_steps + 1, d)) is not
    finite, or None.

    Used in: book/optimizers.md
    """
    bad = ~np.isfinite(_check_path(path)).all(axis=1)
    return int(np.argmax(bad)) if bad.any() else None


# ----------------------------------------------------------- schedules

def step_lr(step: int, *, lr: float, step_size: int,
            gamma: float = 0.1) -> float:
    r"""Step decay: the learning rate after ``step`` scheduler steps of
    ``torch.optim.lr_scheduler.StepLR``.

    .. math:: \eta_t = \eta\, \gamma^{\lfloor t / \text{step\_size}
              \rfloor}

    PyTorch multiplies the current rate by :math:`\gamma` every
    ``step_size`` steps; this is the closed form (equal to a few ulps).

    Parameters
    ----------
    step : int
        :math:`t \ge 0`, the number of ``scheduler.step()`` calls.
    lr : float
        The initial rate :math:`\eta > 0`.
    step_size : int
        >= 1.
    gamma : float
        Decay factor, > 0.

    Returns
    -------
    float

    Used in: book/optimizers.md
    """
    step, lr, step_size, gamma = _check_step_lr(step, lr, step_size, gamma)
    return lr * gamma ** (step // step_size)


def cosine_annealing_lr(step: int, *, lr: float, T_max: int,
                        eta_min: float = 0.0) -> float:
    r"""Cosine annealing: the learning rate after ``step`` scheduler steps
    of ``torch.optim.lr_scheduler.CosineAnnealingLR``.

    .. math:: \eta_t = \eta_{\min} + \tfrac12 (\eta - \eta_{\min})
              \left(1 + \cos \frac{\pi t}{T_{\max}}\right)

    This is the closed form, for every :math:`t` (past :math:`T_{\max}`
    the rate rises again, with period :math:`2T_{\max}`, as PyTorch's).
    PyTorch computes each rate from the previous one by a ratio of
    cosines; the two agree to rounding (a few ulps per step taken).

    Parameters
    ----------
    step : int
        :math:`t \ge 0`.
    lr : float
        The initial rate :math:`\eta > 0`.
    T_max : int
        Half-period, >= 1.
    eta_min : float
        The lowest rate, >= 0.

    Returns
    -------
    float

    Used in: book/optimizers.md, book/digits.md
    """
    step, lr, T_max, eta_min = _check_cosine(step, lr, T_max, eta_min)
    return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * step / T_max)
                                       ) / 2


def linear_lr(step: int, *, lr: float, start_factor: float = 1 / 3,
              end_factor: float = 1.0, total_iters: int = 5) -> float:
    r"""Linear warm-up (or decay): the learning rate after ``step``
    scheduler steps of ``torch.optim.lr_scheduler.LinearLR``.

    .. math:: \eta_t = \eta \left(\psi + (e - \psi)\,
              \frac{\min(t, T)}{T}\right)

    with :math:`\psi` = ``start_factor``, :math:`e` = ``end_factor`` and
    :math:`T` = ``total_iters``; constant after :math:`T` steps. This is
    the closed form; PyTorch's recursive update agrees to rounding.

    Parameters
    ----------
    step : int
        :math:`t \ge 0`.
    lr : float
        The base rate :math:`\eta > 0`.
    start_factor : float
        In (0, 1], as PyTorch requires.
    end_factor : float
        In [0, 1].
    total_iters : int
        >= 1.

    Returns
    -------
    float

    Used in: book/optimizers.md
    """
    step, lr, s, e, T = _check_linear_lr(step, lr, start_factor, end_factor,
                                         total_iters)
    return lr * (s + (e - s) * min(T, step) / T)


def warmup_cosine_lr(step: int, *, lr: float, warmup_iters: int,
                     T_max: int, start_factor: float = 1 / 3,
                     eta_min: float = 0.0) -> float:
    r"""Linear warm-up, then cosine annealing: the learning rate after
    ``step`` scheduler steps of ``torch.optim.lr_scheduler.SequentialLR``
    with ``[LinearLR(start_factor, 1.0, warmup_iters),
    CosineAnnealingLR(T_max, eta_min)]`` and ``milestones=[warmup_iters]``.

    .. math:: \eta_t = \begin{cases} \eta\,\bigl(\psi + (1 - \psi)\, t / T_w
              \bigr) & t < T_w \\ \eta_{\min} + \tfrac12 (\eta -
              \eta_{\min}) \bigl(1 + \cos \frac{\pi (t - T_w)}{T_{\max}}
              \bigr) & t \ge T_w \end{cases}

    with :math:`\psi` = ``start_factor`` and :math:`T_w` = ``warmup_iters``:
    :func:`linear_lr` up to the milestone, then :func:`cosine_annealing_lr`
    restarted there (so the rate reaches :math:`\eta_{\min}` at
    :math:`t = T_w + T_{\max}`).

    Parameters
    ----------
    step : int
        :math:`t \ge 0`.
    lr : float
        The peak rate :math:`\eta > 0`.
    warmup_iters : int
        :math:`T_w \ge 1`, the length of the warm-up.
    T_max : int
        Half-period of the cosine, >= 1.
    start_factor : float
        In (0, 1]: the first rate is ``start_factor * lr``.
    eta_min : float
        The lowest rate, >= 0.

    Returns
    -------
    float

    Used in: book/optimizers.md
    """
    step, lr, T_w, T_max, s, eta_min = _check_warmup_cosine(
        step, lr, warmup_iters, T_max, start_factor, eta_min)
    if step < T_w:
        return linear_lr(step, lr=lr, start_factor=s, total_iters=T_w)
    return cosine_annealing_lr(step - T_w, lr=lr, T_max=T_max,
                               eta_min=eta_min)


# ----------------------------------------------------------- clipping

def clip_grad_norm(grads, max_norm: float, *, norm_type: float = 2.0):
    r"""Scale a list of gradients so that their global norm is at most
    ``max_norm``, as ``torch.nn.utils.clip_grad_norm_`` does.

    .. math:: \|g\| = \Big\| \big(\|g_1\|_p, \dots, \|g_k\|_p\big)
              \Big\|_p, \quad g_i \leftarrow g_i \cdot
              \min\!\Big(1, \frac{\text{max\_norm}}{\|g\| + 10^{-6}}\Big)

    The gradients are new arrays (the arguments are left alone), computed
    in their dtype. Like PyTorch (``error_if_nonfinite=False``), a NaN or
    infinite gradient gives a non-finite norm and is propagated, not
    raised.

    Parameters
    ----------
    grads : list or tuple of array_like
        The gradients, of any shapes, of one floating dtype.
    max_norm : float
        >= 0.
    norm_type : float
        :math:`p > 0`, or ``inf`` for the largest absolute entry.

    Returns
    -------
    clipped : list of ndarray, shapes and dtype of ``grads``
    total_norm : float
        :math:`\|g\|` before clipping (0.0 for an empty list).

    Used in: book/deep.md
    """
    grads, max_norm, p = _check_clip(grads, max_norm, norm_type)
    if not grads:
        return [], 0.0
    norms = np.array([_p_norm(g, p) for g in grads], dtype=grads[0].dtype)
    total_norm = _p_norm(norms, p)
    coef = min(max_norm / (total_norm + 1e-6), 1.0)
    coef = grads[0].dtype.type(coef)  # keep float32 float32
    return [np.asarray(g * coef) for g in grads], float(total_norm)


def _p_norm(a, p):
    r"""The :math:`p`-norm of all the entries of ``a``, in its dtype, as
    PyTorch computes it: one entry is its absolute value; several, the
    root of a sum of powers (which, like PyTorch's, can underflow to 0 or
    overflow to inf in float32)."""
    a = np.abs(a)
    if p == math.inf:
        return a.max(initial=0)
    if a.size == 1:  # no power taken: 7e-24 stays 7e-24 in float32
        return a.reshape(())[()]
    if p == 2:
        return np.sqrt(np.sum(a * a))
    return np.sum(a ** p) ** (1 / p)


# ------------------------------------------------------------ curvature

def top_hessian_eigenvalue(loss_grad_fn: Callable, theta, *,
                           n_iter: int = 20, rng) -> float:
    r"""The Hessian's eigenvalue of largest magnitude at ``theta``, by
    power iteration with finite-difference Hessian-vector products.

    .. math:: Hv \approx \frac{\nabla L(\theta + \epsilon v) - \nabla
              L(\theta - \epsilon v)}{2\epsilon}, \quad
              v \leftarrow \frac{Hv}{\|Hv\|}, \quad
              \lambda \approx v^\top H v

    Near a minimum the Hessian is positive semi-definite, and this is
    :math:`\lambda_{\max}`: gradient descent is stable for
    :math:`\eta < 2/\lambda_{\max}`. The error after :math:`k` iterations
    falls like :math:`(\lambda_2/\lambda_1)^{2k}`. The step is
    :math:`\epsilon = \sqrt[3]{\text{eps}} \max(1, \max_i|\theta_i|)`,
    which balances the truncation and rounding errors of the central
    difference.

    Parameters
    ----------
    loss_grad_fn : callable
        ``theta -> grad``, the gradient of the loss, an array of the shape
        of ``theta`` (called ``2 * n_iter`` times).
    theta : array_like, any shape
        Finite, not empty.
    n_iter : int
        Number of Hessian-vector products, >= 1.
    rng : numpy.random.Generator
        Draws the start vector.

    Returns
    -------
    float

    Used in: book/digits.md
    """
    theta, n_iter, rng = _check_power_iteration(loss_grad_fn, theta, n_iter,
                                                rng)
    v = rng.standard_normal(theta.shape).astype(theta.dtype)
    v = v / np.linalg.norm(v)
    eigenvalue = 0.0
    for _ in range(n_iter):
        Hv = _hessian_vector_product(loss_grad_fn, theta, v)
        eigenvalue = float(np.vdot(v, Hv))  # Rayleigh quotient, |v| = 1
        norm = np.linalg.norm(Hv)
        if norm == 0:  # H v = 0: v is in the null space
            return eigenvalue
        v = Hv / norm
    return eigenvalue


def _hessian_vector_product(loss_grad_fn, theta, v):
    """Central difference of the gradient along ``v`` (unit norm)."""
    eps = np.finfo(theta.dtype).eps ** (1 / 3) * max(
        1.0, float(np.abs(theta).max()))
    g_plus = _gradient_at(loss_grad_fn, theta + eps * v)
    g_minus = _gradient_at(loss_grad_fn, theta - eps * v)
    return (g_plus - g_minus) / (2 * eps)


# ---------------------------------------------- momentum and noise, analysed

def momentum_eigenvalues(lr, momentum, eigenvalue) -> np.ndarray:
    r"""The two eigenvalues of one momentum step (PyTorch's convention)
    along an eigen-direction of a quadratic with curvature ``eigenvalue``.

    .. math:: z_\pm = \tfrac12 \left(\operatorname{tr} M \pm
              \sqrt{(\operatorname{tr} M)^2 - 4\mu}\right), \quad
              \operatorname{tr} M = 1 + \mu - \eta\lambda

    the roots of :math:`z^2 - (1 + \mu - \eta\lambda)\,z + \mu = 0`, the
    characteristic polynomial of the matrix :math:`M = \begin{pmatrix} 1 -
    \eta\lambda & -\eta\mu \\ \lambda & \mu \end{pmatrix}` that maps
    :math:`(u_t, \tilde b_t)` to :math:`(u_{t+1}, \tilde b_{t+1})` (the
    coordinate and the momentum buffer along that direction). The step
    converges along that direction iff both have modulus below 1.

    Parameters
    ----------
    lr, momentum, eigenvalue : float or array_like, broadcastable
        :math:`\eta > 0`, :math:`\mu \in [0, 1)`, :math:`\lambda \ge 0`.

    Returns
    -------
    ndarray of complex, shape ``broadcast shape + (2,)``
        :math:`(z_+, z_-)`.

    Used in: book/optimizers.md
    """
    lr, momentum, eigenvalue = _check_momentum_analysis(lr, momentum,
                                                        eigenvalue)
    trace = 1 + momentum - lr * eigenvalue
    root = np.sqrt(trace * trace - 4 * momentum + 0j)
    return np.stack([(trace + root) / 2, (trace - root) / 2], axis=-1)


def momentum_rate(lr, momentum, eigenvalues) -> np.ndarray:
    r"""The factor by which momentum shrinks the distance to the minimum
    of a quadratic per step, in the long run: the largest modulus of the
    iteration's eigenvalues over every eigen-direction.

    .. math:: \rho(\eta, \mu) = \max_i \max_\pm
              |z_\pm(\eta, \mu, \lambda_i)|

    (:func:`momentum_eigenvalues`). Below 1 the run converges, above 1
    it diverges; exactly 1 (e.g. :math:`\eta\lambda_{\max} = 2(1 + \mu)`)
    it does neither.

    Parameters
    ----------
    lr, momentum : float or array_like, broadcastable to a shape ``S``
    eigenvalues : array_like, shape (k,)
        The Hessian's eigenvalues, >= 0.

    Returns
    -------
    ndarray of float, shape ``S`` (0-d for scalars)

    Used in: book/optimizers.md
    """
    eigenvalues = _check_eigenvalues(eigenvalues)
    z = momentum_eigenvalues(np.expand_dims(lr, -1),
                             np.expand_dims(momentum, -1), eigenvalues)
    return np.abs(z).max(axis=(-2, -1))


def sgd_noise_floor(lr: float, eigenvalues, noise: float) -> float:
    r"""The loss above the minimum at which gradient descent with a
    constant learning rate settles on a quadratic with noisy gradients.

    .. math:: \lim_{t \to \infty} \mathbb E\,[L(\theta_t)] - L^* =
              \frac{\eta \sigma^2}{2} \sum_i \frac{1}{2 - \eta\lambda_i}

    for gradients :math:`H\theta + \sigma\xi` with independent
    :math:`\xi \sim \mathcal N(0, I)` at every step (a model of minibatch
    noise), Hessian eigenvalues :math:`\lambda_i`. For small :math:`\eta`
    it is about :math:`\eta\sigma^2 d / 4` with :math:`d` parameters. When
    some :math:`\eta\lambda_i \ge 2` the run diverges: ``inf``.

    Parameters
    ----------
    lr : float
        :math:`\eta > 0`.
    eigenvalues : array_like, shape (d,)
        :math:`\lambda_i > 0`.
    noise : float
        :math:`\sigma \ge 0`, the standard deviation of each coordinate
        of the noise.

    Returns
    -------
    float

    Used in: book/optimizers.md
    """
    lr, eigenvalues, noise = _check_noise_floor(lr, eigenvalues, noise)
    if np.any(lr * eigenvalues >= 2):
        return math.inf
    return float(lr * noise ** 2 / 2 * np.sum(1 / (2 - lr * eigenvalues)))


def gradient_noise(grad_fn: Callable, n_examples: int, batch_sizes, *,
                   n_epochs: int = 1, rng,
                   vectorized: bool = False) -> np.ndarray:
    r"""The mean squared error of a minibatch gradient, measured: for each
    batch size :math:`B`, the average of :math:`\lVert g_B - \nabla L
    \rVert^2` over the minibatches of ``n_epochs`` shuffled epochs.

    .. math:: g_B = \frac{1}{B} \sum_{i \in \mathcal B} \nabla \ell_i,
              \quad \nabla L = \frac{1}{N} \sum_{i=1}^{N} \nabla \ell_i

    An epoch shuffles the :math:`N` examples and cuts them into
    :math:`\lfloor N / B \rfloor` minibatches of :math:`B` distinct
    examples (the rest is dropped), as minibatch SGD does: every batch
    size sees the same examples the same number of times.

    Parameters
    ----------
    grad_fn : callable
        ``indices (B,) -> gradient``: the mean gradient of the examples
        with those indices, an array of any fixed shape. With
        ``vectorized=True``, ``indices (m, B) -> gradients (m, ...)``, one
        minibatch per row (``m`` is chosen so that the gradients hold
        about :math:`2^{22}` numbers).
    n_examples : int
        :math:`N \ge 1`; ``grad_fn`` of all the indices is the full
        gradient.
    batch_sizes : sequence of int
        Each in :math:`1 \dots N`.
    n_epochs : int
        >= 1.
    rng : numpy.random.Generator
        Draws the shuffles.
    vectorized : bool
        Whether ``grad_fn`` takes a stack of minibatches.

    Returns
    -------
    ndarray of float64, shape (len(batch_sizes),)

    Used in: book/optimizers.md
    """
    n, batch_sizes, n_epochs, rng = _check_gradient_noise(
        grad_fn, n_examples, batch_sizes, n_epochs, rng, vectorized)
    gradients = _minibatch_gradients(grad_fn, vectorized)
    full = gradients(np.arange(n)[None])[0]

    rows = max(1, 2 ** 22 // full.size)  # minibatches per call of grad_fn

    def squared_errors(B):  # one epoch: n // B minibatches of B examples
        batches = rng.permutation(n)[:n // B * B].reshape(-1, B)
        return np.concatenate([
            np.sum((g_B - full) ** 2, axis=tuple(range(1, g_B.ndim)))
            for g_B in map(gradients, np.array_split(
                batches, -(-len(batches) // rows)))])

    return np.array([np.mean([squared_errors(B) for _ in range(n_epochs)])
                     for B in batch_sizes])


def _minibatch_gradients(grad_fn, vectorized):
    """``grad_fn`` as ``batches (m, B) -> gradients (m, ...)``, float64,
    checked: finite, one shape for every minibatch."""
    shape = []

    def one(value, m):
        g = check_finite(_as_result(value, "grad_fn(indices)"),
                         "grad_fn(indices)").astype(np.float64)
        if vectorized and (g.ndim == 0 or len(g) != m):
            raise ValueError(f"grad_fn returned shape {g.shape} for {m} "
                             f"minibatches; with vectorized=True it must "
                             f"return one gradient per row of indices")
        if not shape:
            shape.append(g.shape[1:] if vectorized else g.shape)
        if (g.shape[1:] if vectorized else g.shape) != shape[0]:
            raise ValueError(f"grad_fn returned gradients of shape "
                             f"{g.shape} but {shape[0]} for the full "
                             f"batch")
        return g

    def gradients(batches):
        if vectorized:
            return one(grad_fn(batches), len(batches))
        return np.stack([one(grad_fn(idx), 1) for idx in batches])
    return gradients


# ----------------------------------------------------------------- checks
# One line at the top of each public function; built from the primitives
# of calc_nn._validation only.

def _positive(value, name):
    return check_real(value, name, low=0, low_open=True)


def _unit(value, name):
    """A decay rate in [0, 1): momentum, alpha, beta1, beta2."""
    return check_real(value, name, low=0, high=1, high_open=True)


def _check_gd(lr):
    return dict(lr=_positive(lr, "lr"))


def _check_momentum(lr, momentum=0.9, nesterov=False, weight_decay=0.0):
    momentum = _unit(momentum, "momentum")
    if check_choice(nesterov, "nesterov", [False, True]) and momentum == 0:
        raise ValueError("nesterov=True requires momentum > 0")
    return dict(lr=_positive(lr, "lr"), momentum=momentum,
                nesterov=nesterov,
                weight_decay=check_nonnegative(weight_decay, "weight_decay"))


def _check_nesterov(lr, momentum=0.9, weight_decay=0.0):
    return _check_momentum(lr, momentum, True, weight_decay)


def _check_rmsprop(lr, alpha=0.99, eps=1e-8, weight_decay=0.0):
    return dict(lr=_positive(lr, "lr"), alpha=_unit(alpha, "alpha"),
                eps=_positive(eps, "eps"),
                weight_decay=check_nonnegative(weight_decay, "weight_decay"))


def _check_adagrad(lr=0.01, eps=1e-10, weight_decay=0.0):
    return dict(lr=_positive(lr, "lr"), eps=_positive(eps, "eps"),
                weight_decay=check_nonnegative(weight_decay, "weight_decay"))


def _check_adam(lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                decoupled=False):
    if isinstance(betas, (str, bytes)) or np.ndim(betas) != 1 or len(
            betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got "
                         f"{betas!r}")
    return dict(lr=_positive(lr, "lr"),
                betas=(_unit(betas[0], "betas[0]"),
                       _unit(betas[1], "betas[1]")),
                eps=_positive(eps, "eps"),
                weight_decay=check_nonnegative(weight_decay, "weight_decay"),
                decoupled=decoupled)


def _check_adamw(lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
    return _check_adam(lr, betas, eps, weight_decay, decoupled=True)


def _check_step(theta, grad, state, keys):
    """theta, grad and the state's arrays as arrays of one dtype and one
    shape; ``state`` None (first step) or a dict with ``keys`` and
    ``"step"``."""
    if state is None:
        theta, grad = as_float_arrays(theta=theta, grad=grad)
    else:
        if not isinstance(state, Mapping) or not {*keys, "step"} <= set(
                state):
            raise ValueError(
                f"state must be None (first step) or the dict returned by "
                f"the previous step, with keys {sorted({*keys, 'step'})}; "
                f"got {state!r}")
        theta, grad, *arrays = as_float_arrays(
            theta=theta, grad=grad, **{f"state[{k!r}]": state[k]
                                       for k in keys})
        for key, arr in zip(keys, arrays):
            _same_shape(arr, theta, f"state[{key!r}]")
        state = {**state, **dict(zip(keys, arrays)), "step": check_int(
            state["step"], "state['step']", low=0)}
    _same_shape(grad, theta, "grad")
    return theta, grad, state


def _same_shape(arr, theta, name):
    if arr.shape != theta.shape:
        raise ValueError(f"{name} must have the shape of theta "
                         f"{theta.shape}, got {arr.shape}")


def _check_newton(theta, grad, hess, state):
    theta, grad, state = _check_step(theta, grad, state, ())
    hess = as_float_array(hess, "hess", theta.dtype)
    n = theta.size
    if hess.shape != (n, n):
        raise ValueError(f"hess must have shape (n, n) = ({n}, {n}) for "
                         f"theta of shape {theta.shape}, got {hess.shape}")
    check_finite(hess, "hess")
    asymmetry = float(np.abs(hess - hess.T).max(initial=0))
    if asymmetry > np.sqrt(np.finfo(hess.dtype).eps) * float(
            np.abs(hess).max(initial=0)):
        raise ValueError(f"hess must be symmetric; hess - hess.T has an "
                         f"entry {asymmetry:.3g} (use (hess + hess.T) / 2)")
    return theta, grad, hess, state


def _check_newton_hyper(lr, damping):
    return _positive(lr, "lr"), check_nonnegative(damping, "damping")


def _check_start(theta0, dim):
    theta0 = check_finite(check_ndim(as_float_array(theta0, "theta0"),
                                     "theta0", (1,), "(d,)"), "theta0")
    if theta0.size == 0 or (dim is not None and theta0.size != dim):
        raise ValueError(f"theta0 must have shape "
                         f"({'d >= 1' if dim is None else dim},), got "
                         f"{theta0.shape}")
    return theta0.astype(np.float64)


def _check_bound(bound):
    if isinstance(bound, numbers.Real) and bound == math.inf:
        return math.inf
    return _positive(bound, "bound")


def _check_kernel(entry, theta0):
    """One entry of ``runs`` as ``kernel(theta, grad, state)``: our update
    rule with its checked hyperparameters, or the user's step, whose
    results are checked."""
    if not (isinstance(entry, tuple) and len(entry) == 2
            and callable(entry[0]) and isinstance(entry[1], Mapping)):
        raise TypeError(f"runs must hold (step, hyper dict) pairs, got "
                        f"{entry!r}")
    step, hyper = entry
    if step in _FAST:
        check, kernel = _FAST[step]
        return functools.partial(kernel, **check(**hyper))

    def user_step(theta, grad, state):
        out = step(theta, grad, state, **hyper)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError(f"step must return (theta, state), got "
                            f"{type(out).__name__}")
        new = _as_result(out[0], "the theta returned by step")
        _same_shape(new, theta, "the theta returned by step")
        return new, out[1]

    user_step(theta0, np.zeros_like(theta0), None)  # checks hyper early
    return user_step


def _check_runs(runs, grad_fn, theta0, n_steps, bound, dim, loss_fn,
                max_growth, vectorized):
    check_callable(grad_fn, "grad_fn")
    if loss_fn is not None:
        check_callable(loss_fn, "loss_fn")
    check_choice(vectorized, "vectorized", [False, True])
    if dim is not None:
        dim = check_int(dim, "dim", low=1)
    theta0 = _check_start(theta0, dim)
    if isinstance(runs, Mapping) or not hasattr(runs, "__iter__"):
        raise TypeError(f"runs must be a list of (step, hyper dict) pairs, "
                        f"got {type(runs).__name__}")
    kernels = [_check_kernel(entry, theta0) for entry in runs]
    if not kernels:
        raise ValueError("runs must name at least one (step, hyper) pair")
    return (kernels, theta0, check_int(n_steps, "n_steps", low=0),
            _check_bound(bound), _positive(max_growth, "max_growth"))


def _check_path(path):
    return check_ndim(as_float_array(path, "path"), "path", (2,),
                      "(n_steps + 1, d)")


def _check_schedule(step, lr):
    return check_int(step, "step", low=0), _positive(lr, "lr")


def _check_step_lr(step, lr, step_size, gamma):
    return (*_check_schedule(step, lr),
            check_int(step_size, "step_size", low=1),
            _positive(gamma, "gamma"))


def _check_cosine(step, lr, T_max, eta_min):
    return (*_check_schedule(step, lr), check_int(T_max, "T_max", low=1),
            check_nonnegative(eta_min, "eta_min"))


def _check_linear_lr(step, lr, start_factor, end_factor, total_iters):
    return (*_check_schedule(step, lr),
            check_real(start_factor, "start_factor", low=0, high=1,
                       low_open=True),
            check_real(end_factor, "end_factor", low=0, high=1),
            check_int(total_iters, "total_iters", low=1))


def _check_warmup_cosine(step, lr, warmup_iters, T_max, start_factor,
                         eta_min):
    return (*_check_schedule(step, lr),
            check_int(warmup_iters, "warmup_iters", low=1),
            check_int(T_max, "T_max", low=1),
            check_real(start_factor, "start_factor", low=0, high=1,
                       low_open=True),
            check_nonnegative(eta_min, "eta_min"))


def _check_clip(grads, max_norm, norm_type):
    if not isinstance(grads, (list, tuple)):
        raise TypeError(f"grads must be a list of arrays (one per "
                        f"parameter; [g] for a single one), got "
                        f"{type(grads).__name__}")
    grads = list(as_float_arrays(**{f"grads[{i}]": g
                                    for i, g in enumerate(grads)}))
    if not (isinstance(norm_type, numbers.Real)
            and norm_type == math.inf):
        norm_type = _positive(norm_type, "norm_type")
    return grads, check_nonnegative(max_norm, "max_norm"), float(norm_type)


def _check_power_iteration(loss_grad_fn, theta, n_iter, rng):
    check_callable(loss_grad_fn, "loss_grad_fn")
    theta = check_finite(as_float_array(theta, "theta"), "theta")
    if theta.size == 0:
        raise ValueError("theta must have at least one entry, got shape "
                         f"{theta.shape}")
    return theta, check_int(n_iter, "n_iter", low=1), check_rng(rng)


def _check_momentum_analysis(lr, momentum, eigenvalue):
    lr, momentum, eigenvalue = as_float_arrays(
        lr=lr, momentum=momentum, eigenvalue=eigenvalue)
    _in_range(lr, "lr", lambda a: a > 0, "> 0")
    _in_range(momentum, "momentum", lambda a: (a >= 0) & (a < 1),
              "in [0, 1)")
    _in_range(eigenvalue, "eigenvalue", lambda a: a >= 0, ">= 0")
    return lr, momentum, eigenvalue


def _check_eigenvalues(eigenvalues, low_open=False):
    eigenvalues = check_ndim(as_float_array(eigenvalues, "eigenvalues"),
                             "eigenvalues", (1,), "(k,)")
    if eigenvalues.size == 0:
        raise ValueError("eigenvalues must not be empty")
    if low_open:
        _in_range(eigenvalues, "eigenvalues", lambda a: a > 0, "> 0")
    return eigenvalues


def _check_noise_floor(lr, eigenvalues, noise):
    return (_positive(lr, "lr"), _check_eigenvalues(eigenvalues, True),
            check_nonnegative(noise, "noise"))


def _check_gradient_noise(grad_fn, n_examples, batch_sizes, n_epochs, rng,
                          vectorized):
    check_callable(grad_fn, "grad_fn")
    check_choice(vectorized, "vectorized", [False, True])
    n = check_int(n_examples, "n_examples", low=1)
    if isinstance(batch_sizes, (str, bytes)) or not hasattr(
            batch_sizes, "__iter__"):
        raise TypeError(f"batch_sizes must be a sequence of ints, got "
                        f"{type(batch_sizes).__name__}")
    sizes = [check_int(B, "batch_sizes[i]", low=1, high=n)
             for B in batch_sizes]
    return n, sizes, check_int(n_epochs, "n_epochs", low=1), check_rng(rng)


def _in_range(arr, name, ok, expected):
    """ValueError naming ``name`` unless every entry is finite and
    ``ok``."""
    check_finite(arr, name)
    if not np.all(ok(arr)):
        bad = arr[~ok(arr)].ravel()[0] if arr.ndim else arr
        raise ValueError(f"{name} must be {expected}, got {bad}")


def _gradient_at(loss_grad_fn, point):
    g = _as_result(loss_grad_fn(point), "loss_grad_fn(theta)", point.dtype)
    if g.shape != point.shape:
        raise ValueError(f"loss_grad_fn must return the gradient, of "
                         f"theta's shape {point.shape}; got shape "
                         f"{g.shape}")
    return check_finite(g, "loss_grad_fn(theta)")


def _as_result(value, name, dtype=None):
    """A user function's result as a floating array; a tuple (such as a
    (loss, grad) pair) or a ragged list is a TypeError naming it."""
    if isinstance(value, tuple):
        raise TypeError(f"{name} must return an array, got a tuple of "
                        f"{len(value)} values")
    try:
        return as_float_array(value, name, dtype)
    except ValueError:  # NumPy cannot make an array of a ragged list
        raise TypeError(f"{name} must return an array of real numbers, "
                        f"got {type(value).__name__} {value!r}") from None


# public step -> (checks of its hyperparameters, kernel), for run()
_FAST = {
    gd_step: (_check_gd, _gd),
    momentum_step: (_check_momentum, _momentum),
    nesterov_step: (_check_nesterov, _momentum),
    rmsprop_step: (_check_rmsprop, _rmsprop),
    adagrad_step: (_check_adagrad, _adagrad),
    adam_step: (_check_adam, _adam),
    adamw_step: (_check_adamw, _adam),
}
