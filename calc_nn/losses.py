r"""Loss functions and their gradients, with PyTorch's semantics.

Each loss sits beside its gradient (``cross_entropy`` /
``cross_entropy_grad``), the losses of the NN document [nn-calculus-doc]
§4.2. The gradient is taken with respect to the model's raw output, the
**logits** (``y_hat`` for MSE), and uses the same ``reduction`` as the
loss:

* ``"mean"`` (default): the loss is averaged, and so is the gradient;
* ``"sum"``: summed;
* ``"none"``: one loss per sample (per element for MSE and BCE); the
  gradient then holds, row by row, the gradient of each sample's own loss
  (which is also the gradient of their sum).

Arguments are named and shaped as in ``torch.nn.functional``: ``logits``
of shape (N, C) (or (C,) for one sample), a ``target`` of class indices
(an int array of shape (N,)) or of probabilities (a float array of shape
(N, C) whose rows are distributions), a per-class ``weight`` of shape (C,).
The floating arrays of one call share one dtype (float32 stays float32);
float16 input is computed in float32 and rounded once at the end, so means
and sums accumulate in float32, as PyTorch's do.
NaN and infinity in any argument are errors. The logits go through
:func:`calc_nn.activations.log_softmax` (or the sigmoid's log form), never
through ``log(softmax(...))``, so logits of size 1e4 give finite losses and
gradients.
"""

from __future__ import annotations

import functools
import inspect

import numpy as np

from calc_nn._validation import (
    as_float_arrays,
    check_choice,
    check_finite,
    check_int,
    check_ndim,
    check_nonnegative,
    check_real,
    check_same_shape,
)
from calc_nn.activations import log_softmax, sigmoid, sigmoid_grad, softmax
from calc_nn.layers import linear_backward, linear_forward

__all__ = [
    "REDUCTIONS",
    "mse",
    "mse_grad",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_grad",
    "cross_entropy",
    "cross_entropy_grad",
    "weighted_cross_entropy",
    "weighted_cross_entropy_grad",
    "focal_loss",
    "focal_loss_grad",
    "logit_descent",
    "steps_to_reach",
    "imbalanced_data",
    "train_linear_classifier",
    "minority_scores",
]

REDUCTIONS = ("mean", "sum", "none")
_ARRAYS = ("y_hat", "logits", "target", "weight", "alpha")


def _float16_in_float32(loss):
    """Round the result of ``loss`` to float16 when its floating arrays
    are float16; its checks (:func:`_in_float32`) compute them in float32,
    as PyTorch's CPU kernels compute half precision: sums and means
    accumulate in float32."""
    signature = inspect.signature(loss)

    @functools.wraps(loss)
    def wrapper(*args, **kwargs):
        arguments = signature.bind(*args, **kwargs).arguments
        dtypes = {np.asarray(arguments[name]).dtype for name in _ARRAYS
                  if name in arguments}
        out = loss(*args, **kwargs)
        if np.dtype(np.float16) in dtypes:  # the checks allow no mix
            return out.astype(np.float16)
        return out
    return wrapper


def _in_float32(*arrays):
    """The arrays, float16 ones as float32 (see _float16_in_float32)."""
    return tuple(a.astype(np.float32) if a.dtype == np.float16 else a
                 for a in arrays)


# ------------------------------------------------------------------ MSE

@_float16_in_float32
def mse(y_hat, target, reduction="mean"):
    r"""Mean squared error, as ``torch.nn.functional.mse_loss``.

    .. math:: \operatorname{MSE}(\hat y, y) = \frac{1}{M}\sum_{i=1}^{M}
              (\hat y_i - y_i)^2

    over the ``M`` entries of ``y_hat`` (the letter of the losses chapter).

    Parameters
    ----------
    y_hat : array_like, shape (...), predictions
    target : array_like, shape of ``y_hat``
    reduction : {"mean", "sum", "none"}

    Returns
    -------
    scalar (``"mean"``, ``"sum"``) or ndarray of shape (...) (``"none"``)

    Used in: book/losses.md
    """
    y_hat, target, reduction = _check_pair(y_hat, target, reduction,
                                           "y_hat")
    return _reduce((y_hat - target) ** 2, reduction)


@_float16_in_float32
def mse_grad(y_hat, target, reduction="mean"):
    r"""Gradient of :func:`mse` with respect to ``y_hat``.

    .. math:: \frac{\partial\,\operatorname{MSE}}{\partial \hat y_i}
              = \frac{2}{M}(\hat y_i - y_i)

    (without the :math:`1/M` for ``"sum"`` and ``"none"``).

    Parameters
    ----------
    y_hat, target : array_like, shape (...)
    reduction : {"mean", "sum", "none"}

    Returns
    -------
    ndarray, shape (...)

    Used in: book/losses.md
    """
    y_hat, target, reduction = _check_pair(y_hat, target, reduction,
                                           "y_hat")
    scale = _scale(reduction, y_hat.size, y_hat.dtype)
    return _cast(2 * scale * (y_hat - target), y_hat.dtype)


# ------------------------------------------------------------------ BCE

@_float16_in_float32
def binary_cross_entropy_with_logits(logits, target, reduction="mean"):
    r"""Binary cross-entropy of ``sigmoid(logits)`` against ``target``, as
    ``torch.nn.functional.binary_cross_entropy_with_logits``.

    .. math:: \ell = -\bigl[y \log\sigma(z) + (1 - y)\log(1 - \sigma(z))\bigr]
              = \max(z, 0) - z\,y + \log\bigl(1 + e^{-|z|}\bigr)

    The second form (equal to the first, since
    :math:`\log\sigma(z) = -\log(1 + e^{-z})`) exponentiates only
    :math:`-|z| \le 0`: no overflow, no ``log(0)``.

    Parameters
    ----------
    logits : array_like, shape (...), raw scores :math:`z`
    target : array_like, shape of ``logits``, values in [0, 1]
    reduction : {"mean", "sum", "none"}

    Returns
    -------
    scalar, or ndarray of shape (...) (``"none"``)

    Used in: book/losses.md
    """
    z, y, reduction = _check_bce(logits, target, reduction)
    return _reduce(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))),
                   reduction)


@_float16_in_float32
def binary_cross_entropy_with_logits_grad(logits, target, reduction="mean"):
    r"""Gradient of :func:`binary_cross_entropy_with_logits` w.r.t. logits.

    .. math:: \frac{\partial \ell}{\partial z} = \sigma(z) - y

    Parameters
    ----------
    logits, target : array_like, shape (...)
    reduction : {"mean", "sum", "none"}

    Returns
    -------
    ndarray, shape (...)

    Used in: book/losses.md
    """
    z, y, reduction = _check_bce(logits, target, reduction)
    return _cast(_scale(reduction, z.size, z.dtype) * (sigmoid(z) - y),
                 z.dtype)


# -------------------------------------------------------- cross-entropy

@_float16_in_float32
def cross_entropy(logits, target, weight=None, reduction="mean"):
    r"""Cross-entropy of ``softmax(logits)`` against ``target``, as
    ``torch.nn.functional.cross_entropy``.

    With class indices :math:`t_i` and per-class weights :math:`w`
    (default all 1):

    .. math:: \ell_i = -w_{t_i} \log \operatorname{softmax}(z_i)_{t_i},
              \qquad \text{mean} = \frac{\sum_i \ell_i}{\sum_i w_{t_i}}

    With probability rows :math:`y_i`:
    :math:`\ell_i = -\sum_c w_c\, y_{ic} \log \operatorname{softmax}(z_i)_c`,
    and the mean divides by :math:`N`, as in PyTorch.

    Parameters
    ----------
    logits : array_like, shape (N, C) or (C,)
    target : int array_like of shape (N,), class indices in [0, C); or
        float array_like of shape (N, C), rows >= 0 summing to 1 (for
        logits (C,): an int, or shape (C,)). The dtype decides.
    weight : array_like, shape (C,), >= 0, optional
    reduction : {"mean", "sum", "none"}

    Returns
    -------
    scalar, or ndarray of shape (N,) (``"none"``)

    Used in: book/calculus.md, book/losses.md, book/optimizers.md,
    book/backprop.md, book/digits.md
    """
    z, target, w, reduction, unbatched = _check_cross_entropy(
        logits, target, weight, reduction)
    log_p = log_softmax(z, axis=-1)
    if target.ndim == 1:  # class indices: the mean divides by sum of w_t
        w_t = w[target]
        out = _reduce(-w_t * log_p[np.arange(len(z)), target], reduction,
                      w_t)
    else:  # probabilities: the mean divides by N
        out = _reduce(-np.sum(w * target * log_p, axis=-1), reduction)
    return out[0] if unbatched and reduction == "none" else out


@_float16_in_float32
def cross_entropy_grad(logits, target, weight=None, reduction="mean"):
    r"""Gradient of :func:`cross_entropy` with respect to the logits.

    .. math:: \frac{\partial \ell_i}{\partial z_i}
              = \operatorname{softmax}(z_i) - y_i

    for a one-hot or probability row :math:`y_i`, divided by :math:`N` for
    ``"mean"``. With weights it is
    :math:`w_{t_i}(\operatorname{softmax}(z_i) - y_i)` for class indices
    (divided by :math:`\sum_i w_{t_i}` for ``"mean"``), and
    :math:`p_i \sum_c w_c y_{ic} - w \odot y_i` for probabilities.

    Parameters
    ----------
    logits, target, weight, reduction : as :func:`cross_entropy`

    Returns
    -------
    ndarray, shape of ``logits``

    Used in: book/losses.md, book/optimizers.md, book/backprop.md,
    book/digits.md
    """
    z, target, w, reduction, unbatched = _check_cross_entropy(
        logits, target, weight, reduction)
    p = softmax(z, axis=-1)
    if target.ndim == 1:  # class indices
        rows, w_t = np.arange(len(z)), w[target]
        grad = p
        # p_t - 1 = -(sum of the other p_j): no cancellation when p_t ~ 1
        grad[rows, target] = 0
        grad[rows, target] = -np.sum(grad, axis=-1)
        grad = w_t[:, None] * grad * _scale(reduction, len(z), z.dtype, w_t)
    else:  # probabilities
        wy = w * target
        grad = (p * np.sum(wy, axis=-1, keepdims=True) - wy) * _scale(
            reduction, len(z), z.dtype)
    return _cast(grad[0] if unbatched else grad, z.dtype)


def weighted_cross_entropy(logits, target, weight, reduction="mean"):
    r""":func:`cross_entropy` with per-class weights (required), as
    ``F.cross_entropy(logits, target, weight=weight)``.

    .. math:: \text{mean} = \frac{\sum_i w_{t_i}\,
              (-\log \operatorname{softmax}(z_i)_{t_i})}{\sum_i w_{t_i}}

    The mean is a weighted average over the samples, not
    :math:`\frac1N\sum_i`: rescaling every weight by the same factor
    leaves it unchanged.

    Parameters
    ----------
    logits, target, reduction : as :func:`cross_entropy`
    weight : array_like, shape (C,), >= 0

    Returns
    -------
    scalar, or ndarray of shape (N,) (``"none"``)

    Used in: book/losses.md
    """
    return cross_entropy(logits, target, _required(weight), reduction)


def weighted_cross_entropy_grad(logits, target, weight, reduction="mean"):
    r"""Gradient of :func:`weighted_cross_entropy` w.r.t. the logits.

    .. math:: \frac{\partial\,\text{mean}}{\partial z_i}
              = \frac{w_{t_i}\,(\operatorname{softmax}(z_i) - y_i)}
                     {\sum_j w_{t_j}}

    Parameters
    ----------
    logits, target, weight, reduction : as :func:`weighted_cross_entropy`

    Returns
    -------
    ndarray, shape of ``logits``

    Used in: book/losses.md
    """
    return cross_entropy_grad(logits, target, _required(weight), reduction)


# ------------------------------------------------------------- focal loss

@_float16_in_float32
def focal_loss(logits, target, gamma=2.0, alpha=None, reduction="mean"):
    r"""Focal loss (Lin et al., 2017) for C classes.

    .. math:: \operatorname{FL}(p_t) = -\alpha_t\,(1 - p_t)^{\gamma}\,
              \log p_t, \qquad p_t = \operatorname{softmax}(z)_t

    With ``gamma=0`` and ``alpha=None`` it is :func:`cross_entropy`. The
    factor :math:`(1 - p_t)^\gamma` shrinks the loss of samples that are
    already well classified. :math:`1 - p_t` is the sum of the other
    classes' probabilities (``1 - p_t`` would round to 0 below 1e-16) and
    :math:`\log p_t` is ``log1p(-(1 - p_t))`` when :math:`p_t > 1/2`, so
    the loss is accurate as :math:`p_t \to 0` and :math:`p_t \to 1`. The
    mean divides by :math:`N`, even with ``alpha``.

    Parameters
    ----------
    logits : array_like, shape (N, C) or (C,)
    target : int array_like, shape (N,) (an int for (C,) logits)
    gamma : float, >= 0, the focusing parameter
    alpha : array_like, shape (C,), >= 0, optional
        Per-class weight (default all 1); :math:`\alpha_t` is the target's.
    reduction : {"mean", "sum", "none"}

    Returns
    -------
    scalar, or ndarray of shape (N,) (``"none"``)

    Used in: book/losses.md
    """
    z, t, alpha, gamma, reduction, unbatched = _check_focal(
        logits, target, gamma, alpha, reduction)
    _, log_pt, one_minus_pt = _log_pt(z, t)
    out = _reduce(-alpha[t] * one_minus_pt ** gamma * log_pt, reduction)
    return out[0] if unbatched and reduction == "none" else out


@_float16_in_float32
def focal_loss_grad(logits, target, gamma=2.0, alpha=None,
                    reduction="mean"):
    r"""Gradient of :func:`focal_loss` with respect to the logits.

    With :math:`q = \log p_t` and :math:`\partial q / \partial z_k =
    [k = t] - p_k` (the log-softmax derivative; :math:`[k = t]` is 1 when
    :math:`k = t`, else 0):

    .. math:: \frac{\partial \operatorname{FL}}{\partial z_k}
              = -\alpha_t (1 - p_t)^{\gamma}
                \Bigl[1 + \gamma\, p_t\, \frac{-\log p_t}{1 - p_t}\Bigr]
                ([k = t] - p_k)

    The ratio :math:`-\log p_t / (1 - p_t)` tends to 1 as
    :math:`p_t \to 1` and is taken as 1 where :math:`1 - p_t` rounds to 0,
    so the gradient is finite for every :math:`\gamma \ge 0`.

    Parameters
    ----------
    logits, target, gamma, alpha, reduction : as :func:`focal_loss`

    Returns
    -------
    ndarray, shape of ``logits``

    Used in: book/losses.md
    """
    z, t, alpha, gamma, reduction, unbatched = _check_focal(
        logits, target, gamma, alpha, reduction)
    log_p, log_pt, one_minus_pt = _log_pt(z, t)
    rows, p = np.arange(len(z)), np.exp(log_p)
    safe = np.where(one_minus_pt > 0, one_minus_pt, 1)
    ratio = np.where(one_minus_pt > 0, -log_pt / safe, 1)  # -> 1 as p_t -> 1
    d_dq = -alpha[t] * one_minus_pt ** gamma * (1 + gamma * p[rows, t] * ratio)
    grad = -p
    grad[rows, t] = one_minus_pt  # [k = t] - p_t, without cancellation
    grad = d_dq[:, None] * _scale(reduction, len(z), z.dtype) * grad
    return _cast(grad[0] if unbatched else grad, z.dtype)


def _log_pt(z, t):
    """``(log_p, log p_t, 1 - p_t)``: log p_t and 1 - p_t to a relative
    error below 1e-12 (a few hundred ulps at worst, from exponentiating
    log_p), log_p (the log-softmax) to an absolute one."""
    rows = np.arange(len(z))
    log_p = log_softmax(z, axis=-1)
    # 1 - p_t as the sum of the other classes' probabilities: accurate
    # even when it is 1e-40 (1 - p_t would round to 0).
    others = np.exp(log_p)
    others[rows, t] = 0
    one_minus_pt = np.sum(others, axis=-1)
    # log p_t: from the log-softmax when p_t is small; as log1p(-(1 - p_t))
    # when p_t is near 1, where the log-softmax keeps no relative precision
    near_one = one_minus_pt < 0.5
    log_pt = np.where(near_one,
                      np.log1p(-np.where(near_one, one_minus_pt, 0)),
                      log_p[rows, t])
    return log_p, log_pt, one_minus_pt


# ------------------------------------------- one sigmoid output, learning

def logit_descent(z0, loss="bce", lr=1.0, steps=60):
    r"""Gradient descent on the logit of one sigmoid output whose target
    is 1: the probabilities :math:`p_t = \sigma(z_t)` it visits.

    Each step is :math:`z_{t+1} = z_t - \eta\, \partial\ell /
    \partial z`, with, for the squared error and the binary
    cross-entropy,

    .. math:: \frac{\partial (\sigma(z) - 1)^2}{\partial z}
              = 2(\sigma(z) - 1)\,\sigma'(z), \qquad
              \frac{\partial \ell_{\mathrm{BCE}}}{\partial z}
              = \sigma(z) - 1.

    Parameters
    ----------
    z0 : float, finite, the starting logit
    loss : {"mse", "bce"}
    lr : float, > 0, the learning rate :math:`\eta`
    steps : int, >= 0

    Returns
    -------
    ndarray, shape (steps + 1,): :math:`p_0, \dots, p_{\text{steps}}`

    Used in: book/losses.md
    """
    z0, grad, lr, steps = _check_descent(z0, loss, lr, steps)
    z = np.empty(steps + 1)
    z[0] = z0
    for t in range(steps):
        z[t + 1] = z[t] - lr * grad(z[t])
    return sigmoid(z)


def steps_to_reach(z0, loss, p, lr=1.0, max_steps=100_000):
    r"""How many steps of :func:`logit_descent` from ``z0`` it takes until
    the probability first exceeds ``p``.

    Parameters
    ----------
    z0 : float, finite
    loss : {"mse", "bce"}
    p : float, in (0, 1)
    lr : float, > 0
    max_steps : int, >= 0

    Returns
    -------
    int, the first ``t`` with :math:`\sigma(z_t) > p` (0 if
    :math:`\sigma(z_0) > p` already)

    Raises
    ------
    ValueError
        If ``p`` is not reached within ``max_steps`` steps (or on bad
        input).

    Used in: book/losses.md
    """
    z, grad, lr, max_steps = _check_descent(z0, loss, lr, max_steps,
                                            "max_steps")
    logit = _check_probability_level(p)  # sigma(z) > p  <=>  z > logit(p)
    for t in range(max_steps + 1):
        if z > logit:
            return t
        z -= lr * grad(z)
    raise ValueError(f"p = {p} is not reached from z0 = {z0} within "
                     f"max_steps = {max_steps} steps; give more")


def _mse_logit_grad(z):
    """d/dz (sigma(z) - 1)^2 = 2 (sigma(z) - 1) sigma'(z): the chain rule."""
    return float(2 * (sigmoid(z) - 1) * sigmoid_grad(z))


def _bce_logit_grad(z):
    """d/dz of the binary cross-entropy with target 1: sigma(z) - 1."""
    return float(sigmoid(z) - 1)


_LOGIT_GRADS = {"mse": _mse_logit_grad, "bce": _bce_logit_grad}


# -------------------------------------------------- class-imbalance demo

def imbalanced_data(n_majority: int = 400, ratio: int = 20, seed: int = 0):
    """Two overlapping Gaussian classes in 2-D, one minority sample for
    every ``ratio`` majority samples.

    Parameters
    ----------
    n_majority : int, >= ratio
    ratio : int, >= 1
    seed : int, >= 0, the random seed

    Returns
    -------
    X : ndarray, shape (N, 2), rounded to 2 decimals, read-only
    y : ndarray, shape (N,), 0 (majority) or 1 (minority), read-only

    Used in: book/losses.md
    """
    return _imbalanced_data(*_check_imbalanced(n_majority, ratio, seed))


def train_linear_classifier(weight: float, gamma: float, steps: int = 300,
                            lr: float = 1.0, seed: int = 0):
    """A linear two-class classifier trained on :func:`imbalanced_data` by
    gradient descent on the focal loss with ``alpha = (1, weight)`` (the
    weighted cross-entropy when ``gamma = 0``), normalised like PyTorch's
    weighted mean.

    Parameters
    ----------
    weight : float, >= 0, the minority class's weight
    gamma : float, >= 0
    steps : int, >= 0
    lr : float, > 0
    seed : int, >= 0, the random seed of the data

    Returns
    -------
    W : ndarray, shape (2, 2) (out, in), read-only
    b : ndarray, shape (2,), read-only

    Used in: book/losses.md
    """
    return _train_linear_classifier(*_check_training(weight, gamma, steps,
                                                     lr, seed))


def minority_scores(W, b, X, y):
    """How well the linear classifier ``(W, b)`` finds the minority class
    1 of :func:`imbalanced_data`.

    Parameters
    ----------
    W : array_like, shape (2, n); b : array_like, shape (2,)
    X : array_like, shape (N, n); y : int array_like, shape (N,), 0 or 1

    Returns
    -------
    dict with ``recall`` (the fraction of the minority samples predicted
    minority), ``precision`` (the fraction of the samples predicted
    minority that are) and ``accuracy``, floats in [0, 1] (a precision
    with no sample predicted minority is 0), and ``predicted``, the
    predicted classes, shape (N,).

    Used in: book/losses.md
    """
    W, b, X, y = _check_scores(W, b, X, y)
    predicted = np.argmax(X @ W.T + b, axis=1)
    found = np.sum((predicted == 1) & (y == 1))
    return dict(recall=float(found / max(np.sum(y == 1), 1)),
                precision=float(found / max(np.sum(predicted == 1), 1)),
                accuracy=float(np.mean(predicted == y)), predicted=predicted)


@functools.lru_cache(maxsize=4)
def _imbalanced_data(n_majority, ratio, seed):
    rng = np.random.default_rng(seed)
    X0 = rng.normal([0.0, 0.0], 1.0, size=(n_majority, 2))
    X1 = rng.normal([1.8, 1.8], 0.8, size=(n_majority // ratio, 2))
    X = np.round(np.concatenate([X0, X1]), 2)
    y = np.concatenate([np.zeros(len(X0), int), np.ones(len(X1), int)])
    return _read_only(X), _read_only(y)


@functools.lru_cache(maxsize=64)
def _train_linear_classifier(weight, gamma, steps, lr, seed):
    X, y = imbalanced_data(seed=seed)
    alpha = np.array([1.0, weight])
    norm = len(y) / alpha[y].sum()  # focal loss's mean over N -> weighted
    W, b = np.zeros((2, 2)), np.zeros(2)
    for _ in range(steps):
        logits, cache = linear_forward(X, W, b)
        dlogits = focal_loss_grad(logits, y, gamma, alpha) * norm
        _, dW, db = linear_backward(dlogits, cache)
        W, b = W - lr * dW, b - lr * db
    return _read_only(W), _read_only(b)


def _read_only(a):
    a.flags.writeable = False
    return a


# ------------------------------------------------------------ reductions

def _denominator(count, weights=None):
    """What ``"mean"`` divides by: ``count``, or the sum of ``weights``."""
    if count == 0:
        raise ValueError("reduction='mean' of an empty batch is undefined "
                         "(PyTorch returns nan); use reduction='sum'")
    total = count if weights is None else np.sum(weights)
    if total == 0:
        raise ValueError(
            "the targets' weights sum to 0, so the weighted mean is "
            "undefined (PyTorch returns nan); give some target class a "
            "weight > 0 or use reduction='sum'")
    return total


def _reduce(losses, reduction, weights=None):
    """Sum, mean (over the count or the sum of ``weights``) or nothing."""
    if reduction == "none":
        return losses
    total = np.sum(losses)
    if reduction == "mean":
        total = total / _denominator(losses.size, weights)
    return total.astype(losses.dtype)


def _scale(reduction, count, dtype, weights=None):
    """The factor the reduction puts in front of each sample's gradient."""
    if reduction != "mean":
        return dtype.type(1)
    return dtype.type(1 / _denominator(count, weights))


def _cast(grad, dtype):
    return grad.astype(dtype, copy=False)


# ------------------------------------------------------------ the checks

def _check_reduction(reduction):
    return check_choice(reduction, "reduction", REDUCTIONS)


def _check_pair(values, target, reduction, name):
    """``values`` and ``target``: finite arrays of one shape and dtype."""
    values, target = as_float_arrays(**{name: values, "target": target})
    check_same_shape(values, target, name, "target")
    check_finite(values, name)
    check_finite(target, "target")
    return (*_in_float32(values, target), _check_reduction(reduction))


def _check_bce(logits, target, reduction):
    logits, target, reduction = _check_pair(logits, target, reduction,
                                            "logits")
    if np.any((target < 0) | (target > 1)):
        bad = target[(target < 0) | (target > 1)].ravel()[0]
        raise ValueError(f"target must hold probabilities in [0, 1]; it "
                         f"contains {bad}")
    return logits, target, reduction


def _required(weight, name="weight"):
    if weight is None:
        raise ValueError(f"{name} is required: an array of shape (C,)")
    return weight


def _check_cross_entropy(logits, target, weight, reduction, *,
                         weight_name="weight", indices_only=False):
    """``(logits (N, C), target, weight (C,), reduction, unbatched)``.

    The target's dtype decides what it holds: integers are class indices
    (returned as int64 of shape (N,)), floats are probability rows (shape
    (N, C), in the logits' dtype). ``weight`` defaults to all ones.
    """
    reduction = _check_reduction(reduction)
    target = np.asarray(target)
    kind = target.dtype.kind
    if kind not in "iuf" or (indices_only and kind == "f"):
        wanted = ("class indices (an int array)" if indices_only else
                  "class indices (an int array) or probabilities (a float "
                  "array)")
        raise TypeError(f"target must hold {wanted}; got dtype "
                        f"{target.dtype}")
    floats = {"logits": logits}
    if kind == "f":
        floats["target"] = target
    if weight is not None:
        floats[weight_name] = weight
    floats = dict(zip(floats, as_float_arrays(**floats)))
    z = check_finite(check_ndim(floats["logits"], "logits", [1, 2],
                                "(N, C) or (C,)"), "logits")
    if z.shape[-1] == 0:
        raise ValueError("logits must have at least one class (C >= 1)")
    unbatched = z.ndim == 1
    if kind == "f":
        target = _check_probabilities(floats["target"], z)
    else:
        target = _check_indices(target, z)
    w = (np.ones(z.shape[-1], z.dtype) if weight is None
         else _check_weight(floats[weight_name], z.shape[-1], weight_name))
    if unbatched:
        z, target = z[None], target[None]
    if target.dtype.kind == "f":
        z, target, w = _in_float32(z, target, w)
    else:
        z, w = _in_float32(z, w)
    return z, target, w, reduction, unbatched


def _check_indices(target, z):
    n_shape, c = z.shape[:-1], z.shape[-1]
    if target.shape != n_shape:
        expected = ("() (one class index, for logits of shape (C,))"
                    if z.ndim == 1 else f"(N,) = {n_shape}")
        if target.ndim == 1 and z.ndim == 2:
            raise ValueError(f"target has batch size {target.shape[0]} but "
                             f"logits has batch size {n_shape[0]}")
        raise ValueError(
            f"an int target holds class indices and must have shape "
            f"{expected}; got shape {target.shape} for logits of shape "
            f"{z.shape}. One-hot or probability rows must be a float "
            f"array of the logits' shape")
    if target.size and (target.min() < 0 or target.max() >= c):
        bad = target.min() if target.min() < 0 else target.max()
        raise ValueError(f"target contains class index {int(bad)}, out of "
                         f"range [0, {c}) for logits with C = {c} classes")
    return target.astype(np.int64)


def _check_probabilities(target, z):
    n_shape, c = z.shape[:-1], z.shape[-1]
    if target.shape == n_shape:
        raise TypeError(
            f"target has shape {n_shape}, the shape of class indices for "
            f"logits of shape {z.shape}, but dtype {target.dtype}: class "
            f"indices must be ints (target.astype(int)); probability "
            f"targets have the logits' shape")
    if target.shape != z.shape:
        if target.ndim == 2 and z.ndim == 2 and target.shape[0] != z.shape[0]:
            raise ValueError(f"target has batch size {target.shape[0]} but "
                             f"logits has batch size {z.shape[0]}")
        if target.ndim == z.ndim:
            raise ValueError(f"target has {target.shape[-1]} classes but "
                             f"logits has C = {c}")
        raise ValueError(f"a float target holds probabilities and must "
                         f"have the logits' shape {z.shape}; got shape "
                         f"{target.shape}")
    check_finite(target, "target")
    if np.any(target < 0):
        raise ValueError(f"probability targets must be >= 0; target "
                         f"contains {target[target < 0].ravel()[0]}")
    # each entry rounded (eps/2) and the row summed (c eps/2 more)
    tol = c * np.finfo(target.dtype).eps
    sums = np.sum(target, axis=-1)
    if np.any(np.abs(sums - 1) > tol):
        row = np.flatnonzero(np.abs(np.ravel(sums) - 1) > tol)[0]
        raise ValueError(
            f"probability targets must be distributions (each row >= 0 and "
            f"summing to 1 within {tol:.1e} for {target.dtype}); row {row} "
            f"sums to {np.ravel(sums)[row]:.17g}. Class indices must be an "
            f"int array")
    return target


def _check_weight(w, n_classes: int, name: str):
    """A per-class weight vector of shape (C,), finite and >= 0."""
    if w.shape != (n_classes,):
        raise ValueError(f"{name} must have shape (C,) = ({n_classes},), "
                         f"one entry per class; got shape {w.shape}")
    check_finite(w, name)
    if np.any(w < 0):
        bad = np.flatnonzero(w < 0).tolist()
        raise ValueError(f"{name} must be >= 0; negative entries for "
                         f"classes {bad}")
    return w


def _check_focal(logits, target, gamma, alpha, reduction):
    z, t, alpha, reduction, unbatched = _check_cross_entropy(
        logits, target, alpha, reduction, weight_name="alpha",
        indices_only=True)
    return (z, t, alpha, check_nonnegative(gamma, "gamma"), reduction,
            unbatched)


def _check_scores(W, b, X, y):
    W, b, X = (check_finite(a, name) for a, name in zip(
        as_float_arrays(W=W, b=b, X=X), ("W", "b", "X")))
    check_ndim(X, "X", [2], "(N, n)")
    check_ndim(W, "W", [2], "(2, n)")
    if W.shape != (2, X.shape[1]) or b.shape != (2,):
        raise ValueError(f"W must have shape (2, {X.shape[1]}) and b shape "
                         f"(2,); got {W.shape} and {b.shape}")
    y = np.asarray(y)
    if y.shape != (len(X),) or not np.isin(y, (0, 1)).all():
        raise ValueError(f"y must hold {len(X)} labels 0 or 1, one per row "
                         f"of X; got shape {y.shape}")
    return W, b, X, y


def _check_descent(z0, loss, lr, steps, steps_name="steps"):
    """``(z0, the gradient function, lr, steps)`` for the logit demos."""
    return (check_real(z0, "z0"),
            _LOGIT_GRADS[check_choice(loss, "loss", _LOGIT_GRADS)],
            check_real(lr, "lr", low=0, low_open=True),
            check_int(steps, steps_name, low=0))


def _check_probability_level(p):
    """The logit of ``p``, a float in (0, 1)."""
    p = check_real(p, "p", low=0, high=1, low_open=True, high_open=True)
    return float(np.log(p) - np.log1p(-p))


def _check_imbalanced(n_majority, ratio, seed):
    ratio = check_int(ratio, "ratio", low=1)
    return (check_int(n_majority, "n_majority", low=ratio), ratio,
            check_int(seed, "seed", low=0))


def _check_training(weight, gamma, steps, lr, seed):
    return (check_nonnegative(weight, "weight"),
            check_nonnegative(gamma, "gamma"),
            check_int(steps, "steps", low=0),
            check_real(lr, "lr", low=0, low_open=True),
            check_int(seed, "seed", low=0))
