"""Input checks shared by every maths module.

Each public function turns its array arguments into NumPy arrays here, so bad
input fails early with a message that names the argument, instead of coming
out later as a silent NaN.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["as_float_array", "check_nonnegative", "check_axis"]


def as_float_array(x, name: str = "x") -> np.ndarray:
    """Return ``x`` as a floating-point NumPy array, keeping float dtypes.

    float16/32/64 inputs keep their dtype (float32 stays float32, as in
    PyTorch); bool and integer inputs become float64.

    Raises
    ------
    TypeError
        If ``x`` is not real-valued numeric data (strings, objects, complex).
    """
    arr = np.asarray(x)
    kind = arr.dtype.kind
    if kind == "f":
        return arr
    if kind in "biu":
        return arr.astype(np.float64)
    raise TypeError(
        f"{name} must be an array of real numbers (float, int or bool); "
        f"got dtype {arr.dtype!s}"
    )


def check_nonnegative(value, name: str) -> float:
    """Return ``value`` as a float after checking it is a real number >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be a real number, got {type(value).__name__}"
        )
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return value


def check_axis(axis, ndim: int, name: str = "axis") -> int:
    """Return ``axis`` normalised to ``0 <= axis < ndim``."""
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(axis).__name__}")
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"{name}={axis} is out of range for an array with {ndim} "
            f"dimension(s); expected {-ndim} <= {name} < {ndim}"
        )
    return int(axis) % ndim
