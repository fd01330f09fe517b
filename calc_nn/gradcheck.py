r"""Numerical derivatives by central differences, and how to compare them.

.. math:: f'(x) \approx \frac{f(x + h) - f(x - h)}{2h}

The error of this estimate has two parts: truncation, about
:math:`h^2 |f'''| / 6`, and rounding, about :math:`\epsilon |f| / h` with
:math:`\epsilon` the machine epsilon. Their sum is smallest near
:math:`h \approx \epsilon^{1/3}` (about 6e-6 in float64), scaled by
:math:`|x|` for large inputs. That is why every check here runs in float64:
in float32, :math:`\epsilon^{1/3}` is 5e-3 and the best attainable error is
around 1e-5, too coarse to tell a right gradient from a slightly wrong one.

These are checkers: they reject NaN and infinity (in ``x``, in what ``f``
returns, in the gradients compared) with a ValueError rather than return a
NaN that a comparison such as ``relative_error(a, b) > 1e-4`` would let
through.
"""

from __future__ import annotations

import numpy as np

from calc_nn._validation import (
    as_float_array,
    check_callable,
    check_finite,
    check_real,
    check_same_shape,
)

__all__ = [
    "default_step",
    "central_difference",
    "numerical_gradient",
    "relative_error",
]

_EPS64 = np.finfo(np.float64).eps


def default_step(x) -> np.ndarray:
    r"""The step :math:`h = \epsilon^{1/3} \max(1, |x|)` for each entry.

    Parameters
    ----------
    x : array_like, shape (...)

    Returns
    -------
    ndarray, shape (...), float64 (NaN and inf propagate)

    Used in: book/activations.md, book/calculus.md
    """
    x = as_float_array(x, "x").astype(np.float64)
    return _EPS64 ** (1 / 3) * np.maximum(1.0, np.abs(x))


def central_difference(f, x, h=None) -> np.ndarray:
    """Elementwise derivative of an elementwise function ``f``, in float64.

    Parameters
    ----------
    f : callable, ndarray (...) -> ndarray (...)
        Elementwise: ``f(x)[i]`` depends on ``x[i]`` only (an activation).
    x : array_like, shape (...), finite
    h : float or array_like of shape (...), > 0, optional
        The step; default :func:`default_step`.

    Returns
    -------
    ndarray, shape (...), float64

    Raises
    ------
    TypeError
        If ``f`` is not callable or ``x`` not real.
    ValueError
        If ``x`` or ``h`` is not finite, ``h <= 0``, or ``f`` returns
        another shape or a non-finite value.

    Used in: book/activations.md
    """
    f, x, h = _check_difference(f, x, h)
    upper = _evaluate(f, x + h, x.shape, "x + h")
    lower = _evaluate(f, x - h, x.shape, "x - h")
    return (upper - lower) / (2 * h)


def numerical_gradient(f, x, h=None) -> np.ndarray:
    """Gradient of a scalar function ``f`` of an array, one entry at a time.

    Costs two evaluations of ``f`` per entry of ``x``: fine for checking,
    hopeless for training (the chapter "Backpropagation" measures this).

    Parameters
    ----------
    f : callable, ndarray (...) -> float
    x : array_like, shape (...), finite
    h : float or array_like of shape (...), > 0, optional

    Returns
    -------
    ndarray, shape (...), float64

    Raises
    ------
    TypeError, ValueError
        As :func:`central_difference`; also if ``f`` does not return one
        number.

    Used in: book/backprop.md, book/calculus.md, book/losses.md
    """
    f, x, steps = _check_difference(f, x, h)
    grad = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[idx] = steps[idx]
        upper = _evaluate(f, x + step, (), f"x + h at index {idx}")
        lower = _evaluate(f, x - step, (), f"x - h at index {idx}")
        grad[idx] = (upper - lower) / (2 * steps[idx])
    return grad


def relative_error(a, b, eps: float = 1e-12) -> float:
    r"""Largest entrywise relative error between two arrays, in float64.

    .. math:: \max_i \frac{|a_i - b_i|}{\max(|a_i| + |b_i|, \varepsilon)}

    Rules of thumb in float64 (CS231n's): below 1e-7 the gradients agree;
    above 1e-4 be suspicious, unless the point sits on a kink such as
    ReLU's 0; above 1e-2 the gradient is probably wrong.
    ``a`` and ``b`` may differ in precision (a float32 gradient against a
    float64 reference): both are compared in float64.

    Parameters
    ----------
    a, b : array_like, same shape (...), finite
    eps : float, > 0
        Floor of the denominator, so that two zeros agree.

    Returns
    -------
    float, >= 0 (0.0 for empty arrays)

    Raises
    ------
    ValueError
        If the shapes differ, or ``a`` or ``b`` holds NaN or inf (a broken
        gradient must not pass as a small NaN error).

    Used in: book/activations.md, book/backprop.md, book/calculus.md,
    book/losses.md, book/optimizers.md
    """
    a, b, eps = _check_compared(a, b, eps)
    if a.size == 0:
        return 0.0
    denom = np.maximum(np.abs(a) + np.abs(b), eps)
    return float(np.max(np.abs(a - b) / denom))


# --- checks

def _check_difference(f, x, h):
    """``(f, x, h)`` for a finite difference: ``x`` a finite float64 array
    (a copy) and ``h`` positive steps of its shape."""
    f = check_callable(f, "f")
    x = check_finite(as_float_array(x, "x").astype(np.float64), "x")
    if h is None:
        return f, x, default_step(x)
    if np.ndim(h) == 0:
        h = check_real(h, "h", low=0, low_open=True)
        return f, x, np.full(x.shape, h)
    h = check_finite(as_float_array(h, "h").astype(np.float64), "h")
    check_same_shape(h, x, "h", "x")
    if h.size:
        check_real(h.min(), "every entry of h", low=0, low_open=True)
    return f, x, h


def _evaluate(f, x, shape, where: str) -> np.ndarray:
    """``f(x)`` as a float64 array of ``shape``, after checking it is one
    and is finite (``where`` says which point, for the message)."""
    value = as_float_array(f(x), "f(x)").astype(np.float64)
    if shape == () and value.size == 1:
        value = value.reshape(())
    if value.shape != shape:
        expected = "one number" if shape == () else f"shape {shape}"
        raise ValueError(f"f must return {expected}, got shape "
                         f"{value.shape} at {where}")
    return check_finite(value, f"the value of f at {where}")


def _check_compared(a, b, eps):
    """``a`` and ``b`` as finite float64 arrays of one shape, and ``eps``."""
    a = check_finite(as_float_array(a, "a").astype(np.float64), "a")
    b = check_finite(as_float_array(b, "b").astype(np.float64), "b")
    check_same_shape(a, b, "a", "b")
    return a, b, check_real(eps, "eps", low=0, low_open=True)
