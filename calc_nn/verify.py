"""The four-way derivative check every chapter uses.

For a function with a derivative, four independent computations of ``f'(x)``
must agree:

1. ``sympy``: the SymPy derivative from :mod:`calc_nn.symbolic`, evaluated
   with arbitrary precision (``evalf``) and rounded to float64;
2. ``numpy``: the hand-written ``*_grad`` of :mod:`calc_nn.activations`;
3. ``torch``: ``torch.autograd`` on the PyTorch function;
4. ``finite_difference``: central differences of the NumPy function.

The tests run it on generated inputs; chapters show it on a few points.
The names are those of :data:`calc_nn.activations.ACTIVATIONS`; ``alpha``
is Leaky ReLU's slope (checked, and ignored by the others). The NumPy and
PyTorch functions propagate NaN and inf; the exact oracle and the four-way
check reject them. PyTorch is imported only when a torch oracle is called.
"""

from __future__ import annotations

import numpy as np

from calc_nn import activations, symbolic
from calc_nn._validation import as_float_array, check_finite
from calc_nn.gradcheck import central_difference

__all__ = [
    "ACTIVATION_NAMES",
    "numpy_activation",
    "numpy_derivative",
    "torch_activation",
    "torch_derivative",
    "sympy_activation",
    "sympy_derivative",
    "four_way_derivatives",
]

ACTIVATION_NAMES = tuple(activations.ACTIVATIONS)


def numpy_activation(name, x, alpha=0.01):
    """calc_nn's activation ``name`` at ``x``, shape and dtype of ``x``.

    Used in: book/activations.md
    """
    return activations.get(name, alpha)[0](x)


def numpy_derivative(name, x, alpha=0.01):
    """calc_nn's local derivative ``<name>_grad`` at ``x``.

    Used in: book/activations.md
    """
    return activations.get(name, alpha)[1](x)


def torch_activation(name, x, alpha=0.01):
    """The PyTorch function at ``x``, in the dtype of ``x`` (float64 for
    ints and lists), as a NumPy array.

    Used in: book/activations.md
    """
    t = _as_tensor(name, x, alpha)
    return _torch_fn(name, alpha)(t).numpy()


def torch_derivative(name, x, alpha=0.01):
    """``f'(x)`` by ``torch.autograd`` (the gradient of ``sum(f(x))``), in
    the dtype of ``x``.

    Used in: book/activations.md
    """
    t = _as_tensor(name, x, alpha).requires_grad_(True)
    _torch_fn(name, alpha)(t).sum().backward()
    return t.grad.numpy()


def sympy_activation(name, x, alpha=0.01):
    """The SymPy expression evaluated exactly, rounded to float64.

    Raises ValueError for NaN or inf in ``x`` (an exact value needs a
    number).

    Used in: book/activations.md
    """
    return _exact(symbolic.activation, name, x, alpha)


def sympy_derivative(name, x, alpha=0.01):
    """The SymPy derivative evaluated exactly, rounded to float64.

    Raises ValueError for NaN or inf in ``x``.

    Used in: book/activations.md
    """
    return _exact(symbolic.derivative, name, x, alpha)


def four_way_derivatives(name, x, alpha=0.01) -> dict[str, np.ndarray]:
    """``f'(x)`` four ways, as float64 arrays keyed by method.

    Central differences are meaningless within one step of a kink (ReLU's
    0); callers comparing them should leave those points out.

    Parameters
    ----------
    name : str, a key of :data:`calc_nn.activations.ACTIVATIONS`
    x : array_like, shape (...), finite
    alpha : float, in [0, 1]

    Returns
    -------
    dict with keys "sympy", "numpy", "torch", "finite_difference", each an
    ndarray of shape (...), float64

    Raises
    ------
    ValueError
        For an unknown name, a bad ``alpha``, or NaN/inf in ``x``.

    Used in: book/activations.md
    """
    x = _check_finite_x(name, x, alpha)
    return {
        "sympy": sympy_derivative(name, x, alpha),
        "numpy": numpy_derivative(name, x, alpha).astype(np.float64),
        "torch": torch_derivative(name, x, alpha),
        "finite_difference": central_difference(
            lambda v: numpy_activation(name, v, alpha), x),
    }


def _torch_fn(name, alpha):
    import torch
    import torch.nn.functional as F

    return {
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "relu": torch.relu,
        "leaky_relu": lambda t: F.leaky_relu(t, negative_slope=alpha),
    }[name]


def _exact(expression_of, name, x, alpha):
    x = _check_finite_x(name, x, alpha)
    expr = expression_of(name)
    if name == "leaky_relu":
        return symbolic.evaluate_exact(expr, (symbolic.x, symbolic.alpha))(
            x, alpha)
    return symbolic.evaluate_exact(expr)(x)


# --- checks

def _as_tensor(name, x, alpha):
    """``x`` as a torch tensor of its own float dtype, after checking
    ``name`` and ``alpha``."""
    import torch

    activations.get(name, alpha)
    return torch.from_numpy(np.array(as_float_array(x, "x")))


def _check_finite_x(name, x, alpha) -> np.ndarray:
    """``x`` as a finite float64 array, after checking ``name`` and
    ``alpha``."""
    activations.get(name, alpha)
    return check_finite(as_float_array(x, "x").astype(np.float64), "x")
