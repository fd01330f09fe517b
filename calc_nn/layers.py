r"""Layers as forward/backward pairs, in the style of CS231n's ``layers.py``.

Every layer is two functions:

* ``*_forward(inputs...) -> (out, cache)`` computes the output and keeps in
  ``cache`` what the backward pass will need;
* ``*_backward(dout, cache) -> grads`` takes the upstream gradient
  ``dout = dL/dout`` (same shape as ``out``) and returns the gradient of the
  loss with respect to each input, in the order of the inputs.

Weights follow PyTorch's ``nn.Linear``: ``W`` has shape
``(out_features, in_features)``, so ``W[j, k]`` is the NN document's
[nn-calculus-doc] §3.2 :math:`w_{jk}`,
the weight from input ``k`` to neuron ``j``. A batch is a matrix ``x`` of
shape ``(N, in_features)``, one example per row, and the layer computes
``x @ W.T + b``.

The activation layers reuse :mod:`calc_nn.activations` (function and local
derivative); their backward pass is the chain rule
:math:`\partial L/\partial z = \partial L/\partial a \odot f'(z)`.
"""

from __future__ import annotations

import numpy as np

from calc_nn import activations
from calc_nn._validation import as_float_array

__all__ = [
    "linear_forward",
    "linear_backward",
    "activation_forward",
    "activation_backward",
    "sigmoid_forward",
    "sigmoid_backward",
    "tanh_forward",
    "tanh_backward",
    "relu_forward",
    "relu_backward",
    "ACTIVATIONS",
]

ACTIVATIONS = ("relu", "sigmoid", "tanh")


def _check_same_shape(a, b, name_a, name_b):
    if a.shape != b.shape:
        raise ValueError(f"{name_a} has shape {a.shape} but {name_b} has "
                         f"shape {b.shape}; they must be equal")


def linear_forward(x, W, b):
    r"""Affine layer: every row of ``x`` times ``W`` transposed, plus ``b``.

    .. math:: z = x W^\top + b, \qquad z_{nj} = \sum_k x_{nk} W_{jk} + b_j

    Parameters
    ----------
    x : array_like, shape (N, in_features) or (in_features,)
        A batch of ``N`` inputs, or a single input vector.
    W : array_like, shape (out_features, in_features)
    b : array_like, shape (out_features,)

    Returns
    -------
    out : ndarray, shape (N, out_features) or (out_features,)
    cache : tuple ``(x, W)`` for :func:`linear_backward`

    Raises
    ------
    ValueError
        If the shapes do not fit; the message names both shapes.
    """
    x = as_float_array(x, "x")
    W = as_float_array(W, "W")
    b = as_float_array(b, "b")
    if W.ndim != 2:
        raise ValueError(f"W must have shape (out_features, in_features), "
                         f"got shape {W.shape}")
    if x.ndim not in (1, 2):
        raise ValueError(f"x must have shape (N, in_features) or "
                         f"(in_features,), got shape {x.shape}")
    if x.shape[-1] != W.shape[1]:
        raise ValueError(
            f"x has shape {x.shape} but W has shape {W.shape}: the last "
            f"dimension of x ({x.shape[-1]}) must equal W's in_features "
            f"({W.shape[1]})")
    if b.shape != (W.shape[0],):
        raise ValueError(f"b has shape {b.shape} but W has shape {W.shape}:"
                         f" b must have shape ({W.shape[0]},)")
    out = x @ W.T + b
    return out, (x, W)


def linear_backward(dout, cache):
    r"""Gradients of the affine layer.

    .. math:: \frac{\partial L}{\partial x} = \delta W, \quad
              \frac{\partial L}{\partial W} = \delta^\top x, \quad
              \frac{\partial L}{\partial b} = \textstyle\sum_n \delta_{n}

    with :math:`\delta = \partial L / \partial z` the upstream gradient.
    Entrywise, :math:`\partial L/\partial W_{jk} = \sum_n \delta_{nj}
    x_{nk}`: the NN document's [nn-calculus-doc] §3.2
    :math:`a^{l-1}_k \delta^l_j`, summed over the batch.

    Parameters
    ----------
    dout : array_like, shape (N, out_features) or (out_features,)
        Upstream gradient, the shape of the forward output.
    cache : tuple from :func:`linear_forward`

    Returns
    -------
    dx : ndarray, shape of ``x``
    dW : ndarray, shape (out_features, in_features)
    db : ndarray, shape (out_features,)
    """
    x, W = cache
    dout = as_float_array(dout, "dout")
    expected = x.shape[:-1] + (W.shape[0],)
    if dout.shape != expected:
        raise ValueError(f"dout has shape {dout.shape} but the layer's "
                         f"output has shape {expected}; they must be equal")
    dx = dout @ W
    if x.ndim == 1:
        dW = np.outer(dout, x)
        db = dout.copy()
    else:
        dW = dout.T @ x
        db = dout.sum(axis=0)
    return dx, dW, db


def activation_forward(z, name: str):
    r"""Elementwise activation ``a = f(z)`` by name.

    .. math:: a = f(z)

    Parameters
    ----------
    z : array_like, shape (...)
    name : {"relu", "sigmoid", "tanh"}

    Returns
    -------
    a : ndarray, shape (...)
    cache : tuple ``(z, name)`` for :func:`activation_backward`

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid ones.
    """
    f, _ = _get(name)
    z = as_float_array(z, "z")
    return f(z), (z, name)


def activation_backward(dout, cache):
    r"""Chain rule through an elementwise activation.

    .. math:: \frac{\partial L}{\partial z} =
              \frac{\partial L}{\partial a} \odot f'(z)

    Parameters
    ----------
    dout : array_like, shape (...)
        Upstream gradient :math:`\partial L/\partial a`.
    cache : tuple from :func:`activation_forward`

    Returns
    -------
    dz : ndarray, shape (...)
    """
    z, name = cache
    _, f_grad = _get(name)
    dout = as_float_array(dout, "dout")
    _check_same_shape(dout, z, "dout", "z")
    return dout * f_grad(z)


def _get(name):
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; expected one of "
                         f"{list(ACTIVATIONS)}")
    return activations.get(name)


def sigmoid_forward(z):
    """``activation_forward(z, "sigmoid")``: returns ``(a, cache)``."""
    return activation_forward(z, "sigmoid")


def sigmoid_backward(dout, cache):
    """``dout * sigmoid_grad(z)``: returns ``dz``, shape of ``z``."""
    return activation_backward(dout, cache)


def tanh_forward(z):
    """``activation_forward(z, "tanh")``: returns ``(a, cache)``."""
    return activation_forward(z, "tanh")


def tanh_backward(dout, cache):
    """``dout * tanh_grad(z)``: returns ``dz``, shape of ``z``."""
    return activation_backward(dout, cache)


def relu_forward(z):
    """``activation_forward(z, "relu")``: returns ``(a, cache)``."""
    return activation_forward(z, "relu")


def relu_backward(dout, cache):
    """``dout * relu_grad(z)`` (0 at the kink): returns ``dz``."""
    return activation_backward(dout, cache)
