r"""Loss functions and their gradients, with PyTorch's semantics.

Each loss sits beside its gradient (``cross_entropy`` /
``cross_entropy_grad``). The gradient is taken with respect to the model's
raw output, the **logits** (``y_hat`` for MSE), and uses the same
``reduction`` as the loss:

* ``"mean"`` (default): the loss is averaged, and so is the gradient;
* ``"sum"``: summed;
* ``"none"``: one loss per sample (per element for MSE and BCE); the
  gradient then holds, row by row, the gradient of each sample's own loss
  (which is also the gradient of their sum).

The arguments are named and shaped as in ``torch.nn.functional``: ``logits``
of shape (N, C) (or (C,) for one sample), class-index targets of shape (N,)
or probability / one-hot targets of shape (N, C), a per-class ``weight`` of
shape (C,). Float32 input gives float32 output. The logits go through
:func:`calc_nn.activations.log_softmax` (or the sigmoid's log form), never
through ``log(softmax(...))``, so logits of size 1e4 give finite losses and
gradients.
"""

from __future__ import annotations

import numpy as np

from calc_nn._validation import as_float_array, check_nonnegative
from calc_nn.activations import log_softmax, sigmoid, softmax

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
]

REDUCTIONS = ("mean", "sum", "none")


# ------------------------------------------------------------ validation

def _check_reduction(reduction) -> str:
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(
            f"unknown reduction {reduction!r}; expected one of "
            + ", ".join(repr(r) for r in REDUCTIONS))
    return reduction


def _check_finite(arr: np.ndarray, name: str) -> None:
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinity")


def _check_same_shape(a, b, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{name_b} has shape {b.shape} but {name_a} has shape "
            f"{a.shape}: they must be equal (PyTorch would broadcast them, "
            "with a warning, which is almost always a bug)")


def _check_weight(weight, n_classes: int, dtype, name: str = "weight"):
    """A per-class weight vector of shape (C,), finite and >= 0."""
    w = as_float_array(weight, name).astype(dtype, copy=False)
    if w.shape != (n_classes,):
        raise ValueError(f"{name} must have shape (C,) = ({n_classes},), "
                         f"one entry per class; got shape {w.shape}")
    _check_finite(w, name)
    if np.any(w < 0):
        bad = np.flatnonzero(w < 0).tolist()
        raise ValueError(f"{name} must be >= 0; negative entries for "
                         f"classes {bad}")
    return w


def _classification_inputs(logits, target, *, allow_probabilities=True):
    """Check ``logits`` and ``target`` and bring them to a batch.

    Returns ``(logits (N, C), target, is_index, unbatched)``, where
    ``target`` is an int64 array (N,) of class indices or a float array
    (N, C) of probabilities, in the logits' dtype.
    """
    logits = as_float_array(logits, "logits")
    if logits.ndim not in (1, 2):
        raise ValueError("logits must have shape (N, C) (a batch) or (C,) "
                         f"(one sample); got shape {logits.shape}")
    unbatched = logits.ndim == 1
    if unbatched:
        logits = logits[None, :]
    n, c = logits.shape
    if c == 0:
        raise ValueError("logits must have at least one class (C >= 1)")
    _check_finite(logits, "logits")
    target = np.asarray(target)
    if target.dtype.kind not in "biuf":
        raise TypeError("target must be an array of class indices (int) or "
                        f"of probabilities (float); got dtype {target.dtype}")
    if unbatched:
        target = target[None, ...]
    if target.ndim == 1:  # class indices
        if target.dtype.kind not in "iu":
            raise TypeError(
                f"class-index targets of shape (N,) must be integers, got "
                f"dtype {target.dtype}; for probabilities or one-hot "
                f"targets pass shape (N, C) = ({n}, {c})")
        if target.shape[0] != n:
            raise ValueError(f"target has batch size {target.shape[0]} but "
                             f"logits has batch size {n}")
        if target.size and (target.min() < 0 or target.max() >= c):
            bad = target.min() if target.min() < 0 else target.max()
            raise ValueError(
                f"target contains class index {int(bad)}, out of range "
                f"[0, {c}) for logits with C = {c} classes")
        return logits, target.astype(np.int64), True, unbatched
    if target.ndim == 2:
        if not allow_probabilities:
            raise ValueError(
                f"target must hold class indices, shape (N,) = ({n},); got "
                f"shape {target.shape}")
        if target.shape[0] != n:
            raise ValueError(f"target has batch size {target.shape[0]} but "
                             f"logits has batch size {n}")
        if target.shape[1] != c:
            raise ValueError(f"target has {target.shape[1]} classes but "
                             f"logits has C = {c}")
        y = as_float_array(target, "target").astype(logits.dtype, copy=False)
        _check_finite(y, "target")
        if np.any(y < 0):
            raise ValueError("probability targets must be >= 0")
        return logits, y, False, unbatched
    shape = "()" if unbatched else f"({n},)"
    raise ValueError(
        f"target must have shape {shape} (class indices) or the logits' "
        f"shape {logits.shape[1:] if unbatched else logits.shape} "
        f"(probabilities); got shape "
        f"{target.shape[1:] if unbatched else target.shape}")


def _reduce(losses: np.ndarray, reduction: str, denominator=None):
    """Sum, mean (over ``denominator``, default the count) or nothing."""
    if reduction == "none":
        return losses
    total = np.sum(losses, dtype=losses.dtype)
    if reduction == "sum":
        return total
    if denominator is None:
        denominator = losses.size
    if losses.size == 0:
        raise ValueError("reduction='mean' of an empty batch is undefined "
                         "(PyTorch returns nan); use reduction='sum'")
    if denominator == 0:
        raise ValueError(
            "the targets' weights sum to 0, so the weighted mean is "
            "undefined (PyTorch returns nan); give some target class a "
            "weight > 0 or use reduction='sum'")
    return (total / denominator).astype(losses.dtype)


def _scale(reduction: str, size: int, denominator=None):
    """The factor the reduction puts in front of each sample's gradient."""
    if reduction != "mean":
        return 1.0
    if size == 0:
        raise ValueError("reduction='mean' of an empty batch is undefined "
                         "(PyTorch returns nan); use reduction='sum'")
    denominator = size if denominator is None else denominator
    if denominator == 0:
        raise ValueError(
            "the targets' weights sum to 0, so the weighted mean is "
            "undefined (PyTorch returns nan); give some target class a "
            "weight > 0 or use reduction='sum'")
    return 1.0 / denominator


def _unbatch(out, unbatched: bool, reduction: str):
    if unbatched and reduction == "none":
        return out[0]
    return out


# ------------------------------------------------------------------ MSE

def mse(y_hat, y, reduction="mean"):
    r"""Mean squared error, as ``torch.nn.functional.mse_loss``.

    .. math:: \operatorname{MSE}(\hat y, y) = \frac{1}{n}\sum_{i=1}^{n}
              (\hat y_i - y_i)^2

    Parameters
    ----------
    y_hat : array_like, shape (...)
        Predictions.
    y : array_like, same shape as ``y_hat``
        Targets.
    reduction : {"mean", "sum", "none"}

    Returns
    -------
    scalar (``"mean"``, ``"sum"``) or ndarray of shape (...) (``"none"``)
    """
    reduction = _check_reduction(reduction)
    y_hat = as_float_array(y_hat, "y_hat")
    y = as_float_array(y, "y").astype(y_hat.dtype, copy=False)
    _check_same_shape(y_hat, y, "y_hat", "y")
    return _reduce((y_hat - y) ** 2, reduction)


def mse_grad(y_hat, y, reduction="mean"):
    r"""Gradient of :func:`mse` with respect to ``y_hat``.

    .. math:: \frac{\partial\,\operatorname{MSE}}{\partial \hat y_i}
              = \frac{2}{n}(\hat y_i - y_i)

    (without the :math:`1/n` for ``"sum"`` and ``"none"``).

    Parameters
    ----------
    y_hat, y : array_like, shape (...)
    reduction : {"mean", "sum", "none"}

    Returns
    -------
    ndarray, shape (...)
    """
    reduction = _check_reduction(reduction)
    y_hat = as_float_array(y_hat, "y_hat")
    y = as_float_array(y, "y").astype(y_hat.dtype, copy=False)
    _check_same_shape(y_hat, y, "y_hat", "y")
    scale = _scale(reduction, y_hat.size)
    return (2 * scale * (y_hat - y)).astype(y_hat.dtype, copy=False)


# ------------------------------------------------------------------ BCE

def _bce_inputs(logits, y):
    logits = as_float_array(logits, "logits")
    _check_finite(logits, "logits")
    y = as_float_array(y, "y").astype(logits.dtype, copy=False)
    _check_same_shape(logits, y, "logits", "y")
    _check_finite(y, "y")
    if np.any((y < 0) | (y > 1)):
        raise ValueError("y must hold probabilities in [0, 1]")
    return logits, y


def binary_cross_entropy_with_logits(logits, y, reduction="mean"):
    r"""Binary cross-entropy of ``sigmoid(logits)`` against ``y``.

    As ``torch.nn.functional.binary_cross_entropy_with_logits``:

    .. math:: \ell = -\bigl[y \log\sigma(z) + (1 - y)\log(1 - \sigma(z))\bigr]
              = \max(z, 0) - z\,y + \log\bigl(1 + e^{-|z|}\bigr)

    The second form (equal to the first, since
    :math:`\log\sigma(z) = -\log(1 + e^{-z})`) exponentiates only
    :math:`-|z| \le 0`: no overflow, no ``log(0)``.

    Parameters
    ----------
    logits : array_like, shape (...)
        Raw scores :math:`z`, before the sigmoid.
    y : array_like, same shape, values in [0, 1]
    reduction : {"mean", "sum", "none"}

    Returns
    -------
    scalar or ndarray of shape (...) (``"none"``)
    """
    reduction = _check_reduction(reduction)
    z, y = _bce_inputs(logits, y)
    losses = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    return _reduce(losses, reduction)


def binary_cross_entropy_with_logits_grad(logits, y, reduction="mean"):
    r"""Gradient of :func:`binary_cross_entropy_with_logits` w.r.t. logits.

    .. math:: \frac{\partial \ell}{\partial z} = \sigma(z) - y

    Parameters
    ----------
    logits, y : array_like, shape (...)
    reduction : {"mean", "sum", "none"}

    Returns
    -------
    ndarray, shape (...)
    """
    reduction = _check_reduction(reduction)
    z, y = _bce_inputs(logits, y)
    scale = _scale(reduction, z.size)
    return (scale * (sigmoid(z) - y)).astype(z.dtype, copy=False)


# -------------------------------------------------------- cross-entropy

def cross_entropy(logits, target, weight=None, reduction="mean"):
    r"""Cross-entropy of ``softmax(logits)`` against ``target``.

    As ``torch.nn.functional.cross_entropy``. With class indices
    :math:`t_i` (and per-class weights :math:`w`, default all 1):

    .. math:: \ell_i = -w_{t_i} \log \operatorname{softmax}(z_i)_{t_i},
              \qquad \text{mean} = \frac{\sum_i \ell_i}{\sum_i w_{t_i}}

    With probability (or one-hot) targets :math:`y_i`:
    :math:`\ell_i = -\sum_c w_c\, y_{ic} \log \operatorname{softmax}(z_i)_c`,
    and the mean divides by :math:`N`, as in PyTorch.

    Parameters
    ----------
    logits : array_like, shape (N, C) or (C,)
    target : array_like, shape (N,) of ints in [0, C), or (N, C) of floats
        Class indices, or probabilities / one-hot rows. For (C,) logits:
        an int, or shape (C,).
    weight : array_like, shape (C,), optional
        Non-negative weight of each class.
    reduction : {"mean", "sum", "none"}

    Returns
    -------
    scalar, or ndarray of shape (N,) (``"none"``)
    """
    reduction = _check_reduction(reduction)
    z, target, is_index, unbatched = _classification_inputs(logits, target)
    log_p = log_softmax(z, axis=-1)
    n, c = z.shape
    w = None if weight is None else _check_weight(weight, c, z.dtype)
    rows = np.arange(n)
    if is_index:
        losses = -log_p[rows, target]
        denominator = None
        if w is not None:
            w_t = w[target]
            losses = w_t * losses
            denominator = np.sum(w_t)
    else:
        wy = target if w is None else w * target
        losses = -np.sum(wy * log_p, axis=-1)
        denominator = None
    out = _reduce(losses, reduction, denominator)
    return _unbatch(out, unbatched, reduction)


def cross_entropy_grad(logits, target, weight=None, reduction="mean"):
    r"""Gradient of :func:`cross_entropy` with respect to the logits.

    .. math:: \frac{\partial \ell_i}{\partial z_i}
              = \operatorname{softmax}(z_i) - y_i

    for a one-hot or probability row :math:`y_i`, divided by :math:`N` for
    ``"mean"``. With weights it is
    :math:`w_{t_i}(\operatorname{softmax}(z_i) - y_i)` for class indices
    (divided by :math:`\sum_i w_{t_i}` for ``"mean"``), and in general
    :math:`p_i \sum_c w_c y_{ic} - w \odot y_i`.

    Parameters
    ----------
    logits, target, weight, reduction
        As :func:`cross_entropy`.

    Returns
    -------
    ndarray, same shape as ``logits``
    """
    reduction = _check_reduction(reduction)
    z, target, is_index, unbatched = _classification_inputs(logits, target)
    p = softmax(z, axis=-1)
    n, c = z.shape
    w = None if weight is None else _check_weight(weight, c, z.dtype)
    rows = np.arange(n)
    if is_index:
        grad = p
        # p_t - 1 = -(sum of the other p_j): no cancellation when p_t ~ 1
        grad[rows, target] = 0
        grad[rows, target] = -np.sum(grad, axis=-1)
        denominator = None
        if w is not None:
            w_t = w[target]
            grad *= w_t[:, None]
            denominator = np.sum(w_t)
    else:
        wy = target if w is None else w * target
        grad = p * np.sum(wy, axis=-1, keepdims=True) - wy
        denominator = None
    grad *= z.dtype.type(_scale(reduction, n, denominator))
    return grad[0] if unbatched else grad


def weighted_cross_entropy(logits, target, weight, reduction="mean"):
    r"""Cross-entropy with per-class weights, as
    ``F.cross_entropy(logits, target, weight=weight)``.

    .. math:: \text{mean} = \frac{\sum_i w_{t_i}\,
              (-\log \operatorname{softmax}(z_i)_{t_i})}{\sum_i w_{t_i}}

    The mean is a weighted average over the samples, not
    :math:`\frac1N\sum_i`: rescaling every weight by the same factor
    leaves it unchanged, and a batch that happens to contain more rare
    (heavily weighted) samples does not get a larger loss.

    Parameters
    ----------
    logits : array_like, shape (N, C) or (C,)
    target : array_like, shape (N,) of ints, or (N, C) of floats
    weight : array_like, shape (C,), >= 0
    reduction : {"mean", "sum", "none"}

    Returns
    -------
    scalar, or ndarray of shape (N,) (``"none"``)
    """
    if weight is None:
        raise ValueError("weight is required: an array of shape (C,)")
    return cross_entropy(logits, target, weight=weight, reduction=reduction)


def weighted_cross_entropy_grad(logits, target, weight, reduction="mean"):
    r"""Gradient of :func:`weighted_cross_entropy` w.r.t. the logits.

    .. math:: \frac{\partial\,\text{mean}}{\partial z_i}
              = \frac{w_{t_i}\,(\operatorname{softmax}(z_i) - y_i)}
                     {\sum_j w_{t_j}}

    Parameters
    ----------
    logits, target, weight, reduction
        As :func:`weighted_cross_entropy`.

    Returns
    -------
    ndarray, same shape as ``logits``
    """
    if weight is None:
        raise ValueError("weight is required: an array of shape (C,)")
    return cross_entropy_grad(logits, target, weight=weight,
                              reduction=reduction)


# ------------------------------------------------------------- focal loss

def _focal_parts(logits, target, gamma, alpha):
    gamma = check_nonnegative(gamma, "gamma")
    z, t, _, unbatched = _classification_inputs(
        logits, target, allow_probabilities=False)
    n, c = z.shape
    rows = np.arange(n)
    log_p = log_softmax(z, axis=-1)
    # 1 - p_t as the sum of the other classes' probabilities: accurate to
    # the last digit even when it is 1e-40 (1 - p_t would round to 0).
    others = np.exp(log_p)
    others[rows, t] = 0
    one_minus_pt = np.sum(others, axis=-1)
    # log p_t: from the log-softmax when p_t is small; as log1p(-(1 - p_t))
    # when p_t is near 1, where the log-softmax keeps no relative precision
    log_pt = log_p[rows, t]
    near_one = one_minus_pt < 0.5
    log_pt = np.where(near_one, np.log1p(-np.where(near_one, one_minus_pt,
                                                     0)), log_pt)
    a_t = (np.ones(n, z.dtype) if alpha is None
           else _check_weight(alpha, c, z.dtype, "alpha")[t])
    return z, t, log_p, log_pt, one_minus_pt, a_t, gamma, unbatched


def focal_loss(logits, target, gamma=2.0, alpha=None, reduction="mean"):
    r"""Focal loss (Lin et al., 2017) for C classes.

    .. math:: \operatorname{FL}(p_t) = -\alpha_t\,(1 - p_t)^{\gamma}\,
              \log p_t, \qquad p_t = \operatorname{softmax}(z)_t

    With ``gamma=0`` and ``alpha=None`` it is :func:`cross_entropy`. The
    factor :math:`(1 - p_t)^\gamma` shrinks the loss of samples that are
    already well classified (:math:`p_t \to 1`). Both come from the
    log-softmax: :math:`1 - p_t` as the sum of the other classes'
    probabilities (never ``1 - p_t``, which rounds to 0 once
    :math:`1 - p_t < 10^{-16}`), and :math:`\log p_t` as
    ``log1p(-(1 - p_t))`` when :math:`p_t > 1/2`, so the loss is finite
    and accurate to float64 precision as :math:`p_t \to 0` and
    :math:`p_t \to 1`. The mean divides by
    :math:`N` (as ``torchvision.ops.sigmoid_focal_loss``), even with
    ``alpha``.

    Parameters
    ----------
    logits : array_like, shape (N, C) or (C,)
    target : array_like of ints, shape (N,) (or an int for (C,) logits)
    gamma : float, >= 0
        Focusing parameter.
    alpha : array_like, shape (C,), >= 0, optional
        Per-class weight; :math:`\alpha_t` is the weight of the target
        class. Default: all 1.
    reduction : {"mean", "sum", "none"}

    Returns
    -------
    scalar, or ndarray of shape (N,) (``"none"``)
    """
    reduction = _check_reduction(reduction)
    z, t, _, log_pt, one_minus_pt, a_t, gamma, unbatched = _focal_parts(
        logits, target, gamma, alpha)
    losses = -a_t * one_minus_pt ** gamma * log_pt
    return _unbatch(_reduce(losses, reduction), unbatched, reduction)


def focal_loss_grad(logits, target, gamma=2.0, alpha=None,
                    reduction="mean"):
    r"""Gradient of :func:`focal_loss` with respect to the logits.

    With :math:`q = \log p_t` and :math:`\partial q / \partial z_k =
    \delta_{kt} - p_k` (the log-softmax derivative):

    .. math:: \frac{\partial \operatorname{FL}}{\partial z_k}
              = -\alpha_t (1 - p_t)^{\gamma}
                \Bigl[1 + \gamma\, p_t\, \frac{-\log p_t}{1 - p_t}\Bigr]
                (\delta_{kt} - p_k)

    The ratio :math:`-\log p_t / (1 - p_t)` tends to 1 as
    :math:`p_t \to 1` and is evaluated in that limit where
    :math:`1 - p_t` rounds to 0, so the gradient is finite for every
    :math:`\gamma \ge 0` (the naive :math:`(1-p_t)^{\gamma-1}` is not, for
    :math:`\gamma < 1`).

    Parameters
    ----------
    logits, target, gamma, alpha, reduction
        As :func:`focal_loss`.

    Returns
    -------
    ndarray, same shape as ``logits``
    """
    reduction = _check_reduction(reduction)
    z, t, log_p, log_pt, one_minus_pt, a_t, gamma, unbatched = \
        _focal_parts(logits, target, gamma, alpha)
    n = z.shape[0]
    p = np.exp(log_p)
    pt = p[np.arange(n), t]
    safe = np.where(one_minus_pt > 0, one_minus_pt, 1)
    ratio = np.where(one_minus_pt > 0, -log_pt / safe, 1)  # -> 1 as p_t -> 1
    d_dq = -a_t * one_minus_pt ** gamma * (1 + gamma * pt * ratio)
    grad = -p
    # delta_kt - p_t = 1 - p_t, taken as computed (no cancellation)
    grad[np.arange(n), t] = one_minus_pt
    grad *= (d_dq * z.dtype.type(_scale(reduction, n)))[:, None]
    return (grad[0] if unbatched else grad).astype(z.dtype, copy=False)
