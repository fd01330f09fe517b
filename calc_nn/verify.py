"""The four-way derivative check every chapter uses.

For a function with a derivative, four independent computations of ``f'(x)``
must agree:

1. ``sympy``: the SymPy derivative from :mod:`calc_nn.symbolic`, evaluated
   with arbitrary precision (``evalf``) and rounded to float64;
2. ``numpy``: the hand-written ``*_grad`` of :mod:`calc_nn.activations`;
3. ``torch``: ``torch.autograd`` on the PyTorch function;
4. ``finite_difference``: central differences of the NumPy function.

The tests run it on generated inputs; chapters show it on a few points.
PyTorch is imported only when a torch oracle is called.
"""

from __future__ import annotations

import numpy as np

from calc_nn import activations, symbolic
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

ACTIVATION_NAMES = ("sigmoid", "tanh", "relu", "leaky_relu")


def _params(name, alpha):
    return {"alpha": alpha} if name == "leaky_relu" else {}


def numpy_activation(name, x, alpha=0.01):
    """``calc_nn.activations.<name>(x)``."""
    return getattr(activations, name)(x, **_params(name, alpha))


def numpy_derivative(name, x, alpha=0.01):
    """``calc_nn.activations.<name>_grad(x)``."""
    return getattr(activations, f"{name}_grad")(x, **_params(name, alpha))


def _torch_fn(name, alpha):
    import torch
    import torch.nn.functional as F

    return {
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "relu": torch.relu,
        "leaky_relu": lambda t: F.leaky_relu(t, negative_slope=alpha),
    }[name]


def torch_activation(name, x, alpha=0.01):
    """The PyTorch function, in float64."""
    import torch

    t = torch.as_tensor(np.asarray(x, dtype=np.float64))
    return _torch_fn(name, alpha)(t).numpy()


def torch_derivative(name, x, alpha=0.01):
    """``f'(x)`` by ``torch.autograd``: the gradient of ``sum(f(x))``."""
    import torch

    t = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    _torch_fn(name, alpha)(t).sum().backward()
    return t.grad.numpy()


def _exact(expr, name, x, alpha):
    if name == "leaky_relu":
        return symbolic.evaluate_exact(expr, (symbolic.x, symbolic.alpha))(
            x, alpha)
    return symbolic.evaluate_exact(expr)(x)


def sympy_activation(name, x, alpha=0.01):
    """The SymPy expression evaluated exactly, rounded to float64."""
    return _exact(symbolic.activation(name), name, x, alpha)


def sympy_derivative(name, x, alpha=0.01):
    """The SymPy derivative evaluated exactly, rounded to float64."""
    return _exact(symbolic.derivative(name), name, x, alpha)


def four_way_derivatives(name, x, alpha=0.01) -> dict[str, np.ndarray]:
    """``f'(x)`` four ways, as float64 arrays keyed by method.

    Central differences are meaningless within one step of a kink (ReLU's
    0); callers comparing them should leave those points out.
    """
    if name not in ACTIVATION_NAMES:
        raise ValueError(f"unknown activation {name!r}; expected one of "
                         f"{list(ACTIVATION_NAMES)}")
    x = np.asarray(x, dtype=np.float64)
    return {
        "sympy": sympy_derivative(name, x, alpha),
        "numpy": numpy_derivative(name, x, alpha).astype(np.float64),
        "torch": torch_derivative(name, x, alpha),
        "finite_difference": central_difference(
            lambda v: numpy_activation(name, v, alpha), x),
    }
