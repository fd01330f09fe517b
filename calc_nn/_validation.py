"""The one place where calc_nn checks its inputs.

Every public function turns its arguments into checked values here, in one
line at its top (``x, W, b = _check_linear(x, W, b)``), so that its printed
body is its maths and bad input fails early with a message that names the
argument and says what was expected, instead of coming out later as a
silent NaN. Modules build their small ``_check_*`` helpers from these
primitives only; no module writes its own.

The rules (the README's developer notes say the same):

* **dtype.** Floating arrays keep their dtype (float32 stays float32, as in
  PyTorch). The floating arrays of one call must share one dtype, or
  :func:`as_float_arrays` raises a TypeError naming both (PyTorch's rule for
  ``x @ W``); integer, bool and list arguments are converted to that dtype
  (float64 when no argument is a floating array).
* **Non-finite values.** Hyperparameters must be finite. Losses and oracles
  reject NaN and inf in their arrays (:func:`check_finite`); elementwise
  maths propagates them as IEEE arithmetic and PyTorch do, and never turns
  them into a finite wrong number.
* **Caches.** A forward pass never keeps a reference to a caller's array in
  its cache (the caller may change it in place before the backward pass): it
  keeps a copy, or an array it made itself.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable

import numpy as np

__all__ = [
    "as_float_array", "as_float_arrays", "check_finite", "check_ndim",
    "check_same_shape", "check_real", "check_int", "check_choice",
    "check_axis", "check_rng", "check_callable", "check_nonnegative",
]


def as_float_array(x, name: str = "x", dtype=None) -> np.ndarray:
    """``x`` as a floating-point NumPy array.

    float16/32/64 arrays keep their dtype; bool, integer, list and Python
    number input becomes ``dtype`` (default float64). With ``dtype`` given,
    a floating NumPy array of another precision is a TypeError (no silent
    promotion).
    """
    arr = np.asarray(x)
    kind = arr.dtype.kind
    if kind == "f" and dtype is not None and not isinstance(
            x, (np.ndarray, np.generic)):
        return arr.astype(dtype)  # a list or a Python float: no precision
    if kind == "f":
        if dtype is not None and arr.dtype != np.dtype(dtype):
            raise TypeError(f"{name} has dtype {arr.dtype} but {dtype} is "
                            f"expected here; convert it with "
                            f"{name}.astype(np.{np.dtype(dtype)})")
        return arr
    if kind in "biu":
        return arr.astype(np.float64 if dtype is None else dtype)
    raise TypeError(f"{name} must be an array of real numbers (float, int "
                    f"or bool); got dtype {arr.dtype!s}")


def as_float_arrays(**arrays) -> tuple[np.ndarray, ...]:
    """The keyword arguments as floating arrays of one common dtype, in order.

    >>> x, W = as_float_arrays(x=[0.5, 2], W=np.ones((3, 2), np.float32))
    >>> x.dtype
    dtype('float32')
    """
    # only NumPy arrays and scalars carry a precision; a list or a Python
    # float takes the precision of the arrays beside it
    floats = {name: v.dtype for name, v in arrays.items()
              if isinstance(v, (np.ndarray, np.generic))
              and v.dtype.kind == "f"}
    dtypes = set(floats.values())
    if len(dtypes) > 1:
        described = ", ".join(f"{n} is {d}" for n, d in floats.items())
        raise TypeError(f"arrays of different precision: {described}; "
                        f"convert them to one dtype (as PyTorch requires)")
    dtype = dtypes.pop() if dtypes else np.dtype(np.float64)
    return tuple(as_float_array(v, name, dtype)
                 for name, v in arrays.items())


def check_finite(x: np.ndarray, name: str) -> np.ndarray:
    """``x`` unchanged, after checking it holds no NaN or infinity."""
    if not np.all(np.isfinite(x)):
        bad = np.asarray(x)[~np.isfinite(x)].ravel()[0]
        raise ValueError(f"{name} must be finite; it contains {bad}")
    return x


def check_ndim(x: np.ndarray, name: str, ndims: Iterable[int],
               shape: str) -> np.ndarray:
    """``x`` unchanged, after checking ``x.ndim`` is one of ``ndims``.

    ``shape`` describes the expected shape in the message, e.g.
    ``"(N, C, H, W)"``.
    """
    if x.ndim not in tuple(ndims):
        raise ValueError(f"{name} must have shape {shape}, got shape "
                         f"{x.shape}")
    return x


def check_same_shape(a: np.ndarray, b: np.ndarray, name_a: str,
                     name_b: str) -> None:
    """Raise a ValueError naming both arrays unless their shapes match."""
    if a.shape != b.shape:
        raise ValueError(f"{name_a} has shape {a.shape} but {name_b} has "
                         f"shape {b.shape}; they must be equal")


def _interval(low, high, low_open, high_open) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high:g}")
    return " and ".join(parts)


def check_real(value, name: str, *, low=None, high=None,
               low_open: bool = False, high_open: bool = False,
               finite: bool = True) -> float:
    """``value`` as a float, after checking it is a finite real number in
    the interval given by ``low``/``high`` (open ends if ``*_open``).
    ``finite=False`` also accepts NaN and +-inf (data, not a
    hyperparameter: an autograd value propagates them as IEEE does)."""
    if type(value) is not float and (  # a float is fine: skip the ABC
            isinstance(value, (bool, np.bool_))
            or not isinstance(value, numbers.Real)):
        raise TypeError(f"{name} must be a real number, got "
                        f"{type(value).__name__} {value!r}")
    value = float(value)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (
        value >= high if high_open else value > high)
    if (finite and not math.isfinite(value)) or too_low or too_high:
        bounds = _interval(low, high, low_open, high_open)
        raise ValueError(f"{name} must be a finite number"
                         f"{' ' + bounds if bounds else ''}, got {value}")
    return value


def check_nonnegative(value, name: str) -> float:
    """``value`` as a float, after checking it is a finite number >= 0."""
    return check_real(value, name, low=0)


def check_int(value, name: str, *, low=None, high=None) -> int:
    """``value`` as an int, after checking ``low <= value <= high``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got "
                        f"{type(value).__name__} {value!r}")
    value = int(value)
    if (low is not None and value < low) or (
            high is not None and value > high):
        raise ValueError(f"{name} must be an int "
                         f"{_interval(low, high, False, False)}, "
                         f"got {value}")
    return value


def check_choice(value, name: str, choices: Iterable):
    """``value`` unchanged, after checking it is one of ``choices``."""
    choices = list(choices)
    if not any(type(value) is type(c) and value == c for c in choices):
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_axis(axis, ndim: int, name: str = "axis") -> int:
    """``axis`` normalised to ``0 <= axis < ndim``."""
    axis = check_int(axis, name)
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"{name}={axis} is out of range for an array with {ndim} "
            f"dimension(s); expected {-ndim} <= {name} < {ndim}")
    return axis % ndim


def check_rng(rng, name: str = "rng") -> np.random.Generator:
    """``rng`` unchanged, after checking it is a NumPy ``Generator``."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{name} must be a numpy.random.Generator (e.g. "
                        f"np.random.default_rng(0)), got "
                        f"{type(rng).__name__}")
    return rng


def check_callable(fn, name: str) -> Callable:
    """``fn`` unchanged, after checking it can be called."""
    if not callable(fn):
        raise TypeError(f"{name} must be a function, got "
                        f"{type(fn).__name__}")
    return fn
