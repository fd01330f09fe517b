r"""Optimizers as pure step functions, and the trajectories they draw.

Every optimizer is one function with the same signature,

.. code-block:: python

    theta, state = step(theta, grad, state, **hyper)

``state`` is ``None`` on the first call and afterwards whatever the previous
call returned (a dict of arrays and the step count). Nothing is mutated: the
arrays passed in are left as they were and new ones are returned, so a
trajectory can be replayed, branched or compared with PyTorch step by step.

The update rules, names and defaults are those of ``torch.optim`` (``lr``,
``momentum``, ``nesterov``, ``alpha``, ``betas``, ``eps``,
``weight_decay``), and ``tests/test_optim.py`` checks that every step agrees
with ``torch.optim`` in float64 to a relative 1e-8 after hundreds of steps.
Where PyTorch's convention differs from the textbook one (momentum, the
place of ``eps`` in RMSprop), the docstring says so.

:func:`trajectory` runs a step function from a start point and detects
divergence (a non-finite value, or a point leaving a bound).
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable, Mapping

import numpy as np

from calc_nn._validation import as_float_array

__all__ = [
    "gd_step",
    "momentum_step",
    "rmsprop_step",
    "adagrad_step",
    "adam_step",
    "adamw_step",
    "nesterov_step",
    "OPTIMIZERS",
    "get",
    "trajectory",
    "Run",
    "run",
    "run_many",
    "diverged_at",
]


# ----------------------------------------------------------------- checks

def _real(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got "
                        f"{type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def _positive(value, name: str) -> float:
    value = _real(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def _nonnegative(value, name: str) -> float:
    value = _real(value, name)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def _unit(value, name: str) -> float:
    """A decay rate in [0, 1): momentum, alpha, beta1, beta2."""
    value = _real(value, name)
    if not 0 <= value < 1:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return value


def _betas(betas) -> tuple[float, float]:
    try:
        b1, b2 = betas
    except (TypeError, ValueError):
        raise ValueError(f"betas must be a pair (beta1, beta2), got "
                         f"{betas!r}") from None
    return _unit(b1, "betas[0]"), _unit(b2, "betas[1]")


def _arrays(theta, grad):
    theta = as_float_array(theta, "theta")
    grad = as_float_array(grad, "grad")
    if theta.shape != grad.shape:
        raise ValueError(f"grad must have the shape of theta {theta.shape}, "
                         f"got {grad.shape}")
    return theta, grad


def _state(state, keys, shape):
    """The previous state, checked; None means the first step."""
    if state is None:
        return None
    if not isinstance(state, Mapping) or not set(keys) <= set(state):
        raise ValueError(f"state must be None (first step) or the dict "
                         f"returned by the previous step, with keys "
                         f"{sorted(keys)}; got {state!r}")
    for key in keys:
        if key != "step" and np.shape(state[key]) != shape:
            raise ValueError(f"state[{key!r}] has shape "
                             f"{np.shape(state[key])}, theta has {shape}")
    return state


# ----------------------------------------------------------------- steps
# Each optimizer is a kernel (the update rule, no checks: run() calls it in
# its loop after checking the hyper-parameters once) and a public step
# function that checks its arguments, then calls the kernel.

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


def _check_momentum(lr, momentum=0.9, nesterov=False, weight_decay=0.0):
    momentum = _unit(momentum, "momentum")
    if nesterov and momentum == 0:
        raise ValueError("nesterov=True requires momentum > 0")
    return dict(lr=_positive(lr, "lr"), momentum=momentum,
                nesterov=bool(nesterov),
                weight_decay=_nonnegative(weight_decay, "weight_decay"))


def _check_rmsprop(lr, alpha=0.99, eps=1e-8, weight_decay=0.0):
    return dict(lr=_positive(lr, "lr"), alpha=_unit(alpha, "alpha"),
                eps=_positive(eps, "eps"),
                weight_decay=_nonnegative(weight_decay, "weight_decay"))


def _check_adagrad(lr=0.01, eps=1e-10, weight_decay=0.0):
    return dict(lr=_positive(lr, "lr"), eps=_positive(eps, "eps"),
                weight_decay=_nonnegative(weight_decay, "weight_decay"))


def _check_adam(lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                decoupled=False):
    return dict(lr=_positive(lr, "lr"), betas=_betas(betas),
                eps=_positive(eps, "eps"),
                weight_decay=_nonnegative(weight_decay, "weight_decay"),
                decoupled=decoupled)


def _check_state(state, theta, keys):
    return _state(state, (*keys, "step"), theta.shape)


def gd_step(theta, grad, state=None, *, lr: float):
    r"""One step of plain gradient descent (``torch.optim.SGD`` without
    momentum).

    .. math:: \theta_{t+1} = \theta_t - \eta\, \nabla L(\theta_t)

    Parameters
    ----------
    theta : array_like, shape (d,) or any shape
        Current parameters.
    grad : array_like, same shape as ``theta``
        Gradient of the loss at ``theta``.
    state : None or dict
        None on the first step; gradient descent keeps only the step count
        ``{"step": t}``.
    lr : float
        Learning rate :math:`\eta > 0`.

    Returns
    -------
    theta : ndarray, same shape as ``theta``
    state : dict
    """
    lr = _positive(lr, "lr")
    theta, grad = _arrays(theta, grad)
    return _gd(theta, grad, _check_state(state, theta, ()), lr)


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
    :math:`b_t`. The textbook form :math:`v_t = \gamma v_{t-1} + \eta g_t`,
    :math:`\theta_t = \theta_{t-1} - v_t` is the same method with
    :math:`v = \eta b`, as long as :math:`\eta` never changes.

    Parameters
    ----------
    theta : array_like, shape (d,) or any shape
    grad : array_like, same shape as ``theta``
    state : None or dict with ``"buf"`` (same shape as ``theta``), ``"step"``
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
    theta : ndarray, same shape as ``theta``
    state : dict with ``"buf"`` (the velocity :math:`b_t`) and ``"step"``
    """
    hyper = _check_momentum(lr, momentum, nesterov, weight_decay)
    theta, grad = _arrays(theta, grad)
    return _momentum(theta, grad, _check_state(state, theta, ("buf",)),
                     **hyper)


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
    theta : array_like, shape (d,) or any shape
    grad : array_like, same shape as ``theta``
    state : None or dict with ``"square_avg"`` (same shape), ``"step"``
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
    theta : ndarray, same shape as ``theta``
    state : dict with ``"square_avg"`` and ``"step"``
    """
    hyper = _check_rmsprop(lr, alpha, eps, weight_decay)
    theta, grad = _arrays(theta, grad)
    return _rmsprop(theta, grad,
                    _check_state(state, theta, ("square_avg",)), **hyper)


def adagrad_step(theta, grad, state=None, *, lr: float = 0.01,
                 eps: float = 1e-10, weight_decay: float = 0.0):
    r"""One step of AdaGrad (``torch.optim.Adagrad``, no learning-rate
    decay, zero initial accumulator).

    .. math:: s_t = s_{t-1} + g_t^2, \quad
              \theta_t = \theta_{t-1} - \frac{\eta\, g_t}{\sqrt{s_t}
              + \epsilon}

    Parameters
    ----------
    theta : array_like, shape (d,) or any shape
    grad : array_like, same shape as ``theta``
    state : None or dict with ``"sum"`` (same shape), ``"step"``
    lr : float
        Learning rate, > 0.
    eps : float
        > 0.
    weight_decay : float
        L2 penalty added to the gradient, >= 0.

    Returns
    -------
    theta : ndarray, same shape as ``theta``
    state : dict with ``"sum"`` and ``"step"``
    """
    hyper = _check_adagrad(lr, eps, weight_decay)
    theta, grad = _arrays(theta, grad)
    return _adagrad(theta, grad, _check_state(state, theta, ("sum",)),
                    **hyper)


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
    theta : array_like, shape (d,) or any shape
    grad : array_like, same shape as ``theta``
    state : None or dict with ``"exp_avg"``, ``"exp_avg_sq"`` (same shape
        as ``theta``) and ``"step"``
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
    theta : ndarray, same shape as ``theta``
    state : dict with ``"exp_avg"`` (:math:`m_t`), ``"exp_avg_sq"``
        (:math:`v_t`) and ``"step"`` (:math:`t`)
    """
    hyper = _check_adam(lr, betas, eps, weight_decay)
    theta, grad = _arrays(theta, grad)
    return _adam(theta, grad, _check_state(
        state, theta, ("exp_avg", "exp_avg_sq")), **hyper)


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
    """
    hyper = _check_adam(lr, betas, eps, weight_decay, decoupled=True)
    theta, grad = _arrays(theta, grad)
    return _adam(theta, grad, _check_state(
        state, theta, ("exp_avg", "exp_avg_sq")), **hyper)


def nesterov_step(theta, grad, state=None, *, lr: float,
                  momentum: float = 0.9, weight_decay: float = 0.0):
    """:func:`momentum_step` with ``nesterov=True``."""
    return momentum_step(theta, grad, state, lr=lr, momentum=momentum,
                         nesterov=True, weight_decay=weight_decay)


def _check_gd(lr):
    return dict(lr=_positive(lr, "lr"))


def _check_nesterov(lr, momentum=0.9, weight_decay=0.0):
    return _check_momentum(lr, momentum, True, weight_decay)


def _check_adamw(lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
    return _check_adam(lr, betas, eps, weight_decay, decoupled=True)


# public step -> (checks of its hyper-parameters, kernel), for run()
_FAST = {
    gd_step: (_check_gd, _gd),
    momentum_step: (_check_momentum, _momentum),
    nesterov_step: (_check_nesterov, _momentum),
    rmsprop_step: (_check_rmsprop, _rmsprop),
    adagrad_step: (_check_adagrad, _adagrad),
    adam_step: (_check_adam, _adam),
    adamw_step: (_check_adamw, _adam),
}


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
    """The step function called ``name`` (a key of :data:`OPTIMIZERS`)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of "
                         f"{sorted(OPTIMIZERS)}")
    return OPTIMIZERS[name]


# ----------------------------------------------------------------- runs

def _check_start(theta0, dim):
    theta0 = as_float_array(theta0, "theta0")
    if theta0.ndim != 1 or theta0.size == 0:
        raise ValueError(f"theta0 must be a 1-D array of parameters, shape "
                         f"(d,), got shape {theta0.shape}")
    if dim is not None and theta0.shape != (dim,):
        raise ValueError(f"theta0 must have shape ({dim},) for this "
                         f"landscape, got {theta0.shape}")
    return theta0.astype(np.float64)


def _check_steps(n_steps):
    if isinstance(n_steps, bool) or not isinstance(n_steps, numbers.Integral):
        raise TypeError(f"n_steps must be an int, got "
                        f"{type(n_steps).__name__}")
    if n_steps < 0:
        raise ValueError(f"n_steps must be >= 0, got {n_steps}")
    return int(n_steps)


@dataclasses.dataclass(frozen=True)
class Run:
    """The result of :func:`run`.

    Attributes
    ----------
    path : ndarray, shape (n_steps + 1, d)
        ``path[k]`` is the parameter vector after ``k`` steps; rows from the
        divergence on are NaN.
    diverged_at : int or None
        The first step ``k`` whose point was non-finite or out of bounds;
        None if the run stayed finite and in bounds.
    """

    path: np.ndarray
    diverged_at: int | None

    @property
    def diverged(self) -> bool:
        return self.diverged_at is not None


def run(step: Callable, grad_fn: Callable, theta0, n_steps: int, *,
        bound: float = 1e6, dim: int | None = None,
        loss_fn: Callable | None = None, max_growth: float = 1e4,
        **hyper) -> Run:
    r"""Like :func:`trajectory`, returning the path and the divergence step.

    The run diverges at the first step ``k`` where

    * a coordinate of :math:`\theta_k` is not finite (NaN or inf), or
    * :math:`\max_i |\theta_{k,i}| > \mathrm{bound}` (a plot passes a bound
      tied to its window), or
    * ``loss_fn`` is given and the loss has grown by a large factor,

      .. math:: L(\theta_k) > \mathrm{max\_growth} \cdot
                \max(|L(\theta_0)|, 1),

      which catches a run that escapes slowly (gradient descent on the
      bowl with ``lr`` just above ``2 / lambda_max`` multiplies its loss by
      about 1.2 per step without leaving any reasonable box for a while).

    The rows from ``k`` on are NaN, and ``diverged_at`` is ``k``.

    Parameters
    ----------
    step : callable
        A step function of this module (or any with the same signature).
    grad_fn : callable
        ``theta (d,) -> grad (d,)``.
    theta0 : array_like, shape (d,)
        Start point.
    n_steps : int
        Number of steps, >= 0.
    bound : float
        A point with ``max(abs(theta)) > bound`` counts as diverged.
    dim : int, optional
        Required length of ``theta0`` (a landscape's dimension).
    loss_fn : callable, optional
        ``points (n, d) -> losses (n,)`` (or one point (d,) -> float): the
        loss, to detect a loss that grows by more than ``max_growth``.
    max_growth : float
        > 0; see above. Only used with ``loss_fn``.
    **hyper
        Hyper-parameters passed to ``step`` (``lr``, ``momentum``, ...).

    Returns
    -------
    Run
    """
    theta = _check_start(theta0, dim)
    n_steps = _check_steps(n_steps)
    if isinstance(bound, bool) or not isinstance(bound, numbers.Real) \
            or not bound > 0:
        raise ValueError(f"bound must be a number > 0 (inf allowed), got "
                         f"{bound!r}")
    if loss_fn is not None:
        max_growth = _positive(max_growth, "max_growth")
    path = np.full((n_steps + 1, theta.size), np.nan)
    path[0] = theta
    if step in _FAST:  # check the hyper-parameters once, then the kernel
        check, kernel = _FAST[step]
        hyper = check(**hyper)
    else:
        kernel = step
        step(theta, np.zeros_like(theta), None, **hyper)  # checks them
    if not np.all(np.isfinite(theta)):
        return Run(path, 0)
    state = None
    with np.errstate(all="ignore"):
        for k in range(1, n_steps + 1):
            grad = np.asarray(grad_fn(theta), dtype=np.float64)
            if grad.shape != theta.shape:
                raise ValueError(f"grad_fn returned shape {grad.shape}, "
                                 f"expected {theta.shape}")
            theta, state = kernel(theta, grad, state, **hyper)
            # abs(a) + abs(b) is NaN or inf as soon as one is
            size = float(np.abs(theta).max())
            if not size <= bound:
                return _grown(path, k, loss_fn, max_growth)
            path[k] = theta
    return _grown(path, None, loss_fn, max_growth)


def run_many(runs, grad_fn: Callable, theta0, n_steps: int, *,
             bound: float = 1e6, dim: int | None = None,
             loss_fn: Callable | None = None,
             max_growth: float = 1e4) -> list[Run]:
    """Several optimizers from the same start, in one loop: what the
    explorer recomputes when a slider moves.

    Equal, bit for bit, to ``[run(step, grad_fn, theta0, n_steps, **hyper)
    for step, hyper in runs]`` for a deterministic ``grad_fn`` that works
    point by point on a batch: the gradient of all the current points is
    one call ``grad_fn(thetas (m, d)) -> (m, d)`` per step (a landscape's
    gradient does that), then each optimizer's update rule runs on its row.
    Divergence is detected per run, as in :func:`run`.

    Parameters
    ----------
    runs : sequence of (step, dict)
        Step functions of this module with their hyper-parameters.
    grad_fn : callable
        ``thetas (m, d) -> grads (m, d)``; one that only takes one point
        ``(d,) -> (d,)`` is called row by row.
    theta0 : array_like, shape (d,)
    n_steps : int
    bound, dim, loss_fn, max_growth
        As in :func:`run`.

    Returns
    -------
    list of Run, one per entry of ``runs``, each ``path`` (n_steps + 1, d)
    """
    runs = list(runs)
    if not runs:
        raise ValueError("runs must name at least one (step, hyper) pair")
    theta = _check_start(theta0, dim)
    n_steps = _check_steps(n_steps)
    if isinstance(bound, bool) or not isinstance(bound, numbers.Real) \
            or not bound > 0:
        raise ValueError(f"bound must be a number > 0 (inf allowed), got "
                         f"{bound!r}")
    if loss_fn is not None:
        max_growth = _positive(max_growth, "max_growth")
    m, d = len(runs), theta.size
    kernels = []
    for entry in runs:
        if not (isinstance(entry, tuple) and len(entry) == 2
                and callable(entry[0]) and isinstance(entry[1], Mapping)):
            raise TypeError(f"runs must hold (step, hyper dict) pairs, got "
                            f"{entry!r}")
        step, hyper = entry
        if step in _FAST:
            check, kernel = _FAST[step]
            kernels.append((kernel, check(**hyper)))
        else:
            step(theta, np.zeros_like(theta), None, **hyper)
            kernels.append((step, dict(hyper)))
    paths = np.full((m, n_steps + 1, d), np.nan)
    paths[:, 0] = theta
    stops: list[int | None] = [None] * m
    if not np.all(np.isfinite(theta)):
        return [Run(paths[i], 0) for i in range(m)]
    thetas = np.repeat(theta[None, :], m, axis=0)
    states = [None] * m
    live = list(range(m))
    batched = True
    with np.errstate(all="ignore"):
        for k in range(1, n_steps + 1):
            if batched:
                grads = np.asarray(grad_fn(thetas), dtype=np.float64)
                if grads.shape != thetas.shape:
                    batched = False
            if not batched:
                grads = np.array([np.asarray(grad_fn(t), dtype=np.float64)
                                  for t in thetas])
                if grads.shape != thetas.shape:
                    raise ValueError(f"grad_fn returned shape "
                                     f"{grads.shape[1:]}, expected {(d,)}")
            for i in list(live):
                kernel, hyper = kernels[i]
                new, states[i] = kernel(thetas[i], grads[i], states[i],
                                        **hyper)
                if not float(np.abs(new).max()) <= bound:
                    stops[i] = k
                    live.remove(i)
                    continue  # the row keeps its last finite point
                thetas[i] = new
                paths[i, k] = new
            if not live:
                break
    return [_grown(paths[i], stops[i], loss_fn, max_growth)
            for i in range(m)]


def _grown(path, stop, loss_fn, max_growth) -> Run:
    """The run of ``path`` (finite up to row ``stop``, excluded), cut at
    the first step whose loss exceeds ``max_growth * max(|L0|, 1)``."""
    if loss_fn is None:
        return Run(path, stop)
    m = len(path) if stop is None else stop
    with np.errstate(all="ignore"):
        try:
            losses = np.asarray(loss_fn(path[:m]), dtype=np.float64)
        except (TypeError, ValueError):
            losses = None
        if losses is None or losses.shape != (m,):  # one point at a time
            losses = np.array([float(loss_fn(p)) for p in path[:m]])
        limit = max_growth * max(abs(float(losses[0])), 1.0)
        # NaN counts as grown (a loss that overflowed)
        bad = ~(losses <= limit)
    if not bad.any():
        return Run(path, stop)
    k = int(np.argmax(bad))
    path[k:] = np.nan
    return Run(path, k)


def trajectory(step: Callable, grad_fn: Callable, theta0, n_steps: int, *,
               bound: float = 1e6, dim: int | None = None,
               **hyper) -> np.ndarray:
    r"""The points an optimizer visits from ``theta0``.

    .. math:: \theta_{k} = \mathrm{step}(\theta_{k-1},
              \nabla L(\theta_{k-1}), s_{k-1}), \quad k = 1, \dots,
              n_\text{steps}

    A run that diverges (a non-finite value, or ``max |theta| > bound``) at
    step ``k`` stops there: rows ``k`` and after are NaN, and
    :func:`diverged_at` returns ``k``. It never raises for divergence.

    Parameters
    ----------
    step : callable
        ``step(theta, grad, state, **hyper) -> (theta, state)``.
    grad_fn : callable
        ``theta (d,) -> grad (d,)``.
    theta0 : array_like, shape (d,)
    n_steps : int
        >= 0.
    bound : float
        > 0; leaving the box ``max |theta| <= bound`` counts as diverging.
    dim : int, optional
        Required length of ``theta0``.
    **hyper
        Passed to ``step``.

    Returns
    -------
    ndarray, shape (n_steps + 1, d), float64
    """
    return run(step, grad_fn, theta0, n_steps, bound=bound, dim=dim,
               **hyper).path


def diverged_at(path) -> int | None:
    """The first step whose row of ``path`` (shape (n+1, d)) is not finite,
    or None."""
    path = np.asarray(path, dtype=float)
    bad = ~np.all(np.isfinite(path), axis=-1)
    return int(np.argmax(bad)) if bad.any() else None
