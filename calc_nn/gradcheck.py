r"""Numerical derivatives by central differences, and how to compare them.

.. math:: f'(x) \approx \frac{f(x + h) - f(x - h)}{2h}

The error of this estimate has two parts: truncation, about
:math:`h^2 |f'''| / 6`, and rounding, about :math:`\epsilon |f| / h` with
:math:`\epsilon` the machine epsilon. Their sum is smallest near
:math:`h \approx \epsilon^{1/3}` (about 6e-6 in float64), scaled by
:math:`|x|` for large inputs. That is why every check here runs in float64:
in float32, :math:`\epsilon^{1/3}` is 5e-3 and the best attainable error is
around 1e-5, too coarse to tell a right gradient from a slightly wrong one.
"""

from __future__ import annotations

import numpy as np

from calc_nn._validation import as_float_array

__all__ = [
    "default_step",
    "central_difference",
    "numerical_gradient",
    "relative_error",
]

_EPS64 = np.finfo(np.float64).eps


def default_step(x) -> np.ndarray:
    """Step ``h = eps**(1/3) * max(1, |x|)`` for each entry of ``x``."""
    x = as_float_array(x, "x").astype(np.float64)
    return _EPS64 ** (1 / 3) * np.maximum(1.0, np.abs(x))


def central_difference(f, x, h=None) -> np.ndarray:
    """Elementwise derivative of an elementwise function ``f``, in float64.

    Parameters
    ----------
    f : callable
        Elementwise: ``f(x)[i]`` depends on ``x[i]`` only (an activation).
    x : array_like, shape (...)
    h : float or array_like, optional
        Step; default :func:`default_step`.

    Returns
    -------
    ndarray, shape (...), float64
    """
    x = as_float_array(x, "x").astype(np.float64)
    h = default_step(x) if h is None else np.broadcast_to(h, x.shape)
    return (np.asarray(f(x + h)) - np.asarray(f(x - h))) / (2 * h)


def numerical_gradient(f, x, h=None) -> np.ndarray:
    """Gradient of a scalar function ``f`` of an array, one entry at a time.

    Costs two evaluations of ``f`` per entry of ``x``: fine for checking,
    hopeless for training (chapter "Backpropagation" measures this).

    Parameters
    ----------
    f : callable, array of shape (...) -> float
    x : array_like, shape (...)

    Returns
    -------
    ndarray, shape (...), float64
    """
    x = as_float_array(x, "x").astype(np.float64)
    steps = default_step(x) if h is None else np.broadcast_to(h, x.shape)
    grad = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[idx] = steps[idx]
        grad[idx] = (f(x + step) - f(x - step)) / (2 * steps[idx])
    return grad


def relative_error(a, b, eps: float = 1e-12) -> float:
    r"""Largest entrywise relative error between two arrays.

    .. math:: \max_i \frac{|a_i - b_i|}{\max(|a_i| + |b_i|, \varepsilon)}

    Rules of thumb in float64: below 1e-7 the gradients agree; above 1e-4
    something is wrong (unless the point sits on a kink such as ReLU's 0).
    """
    a = as_float_array(a, "a").astype(np.float64)
    b = as_float_array(b, "b").astype(np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got "
                         f"{a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    denom = np.maximum(np.abs(a) + np.abs(b), eps)
    return float(np.max(np.abs(a - b) / denom))
