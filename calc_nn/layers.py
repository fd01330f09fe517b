r"""Layers as forward/backward pairs, in the style of CS231n's ``layers.py``.

Every layer is two functions:

* ``*_forward(inputs...) -> (out, cache)`` computes the output and keeps in
  ``cache`` what the backward pass will need;
* ``*_backward(dout, cache) -> grads`` takes the upstream gradient
  ``dout = dL/dout`` (same shape as ``out``) and returns the gradient of the
  loss with respect to each input, in the order of the inputs.

A cache is a small named tuple of its own type (``LinearCache``,
``ActivationCache``, ...): a backward pass given another layer's cache says
so. It holds copies or arrays the forward pass made, never the caller's
arrays, so changing ``x`` in place after the forward pass does not change
the gradients.

Weights follow PyTorch's ``nn.Linear``: ``W`` has shape
``(out_features, in_features)``, so ``W[j, k]`` is the weight
:math:`w_{jk}` from input ``k`` to neuron ``j`` of the NN document
[nn-calculus-doc] §3.2. A batch is a matrix ``x`` of shape
``(N, in_features)``, one example per row, and the layer computes
``x @ W.T + b``. The floating arrays of one call share one dtype (float32
stays float32); a float32 ``x`` with a float64 ``W`` is a TypeError, as in
PyTorch.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from calc_nn import activations
from calc_nn._validation import (
    as_float_arrays,
    check_choice,
    check_ndim,
    check_real,
    check_rng,
)

__all__ = [
    "LinearCache",
    "ActivationCache",
    "BatchNormCache",
    "DropoutCache",
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
    "batchnorm_forward",
    "batchnorm_backward",
    "batchnorm_backward_naive",
    "batchnorm_running_stats",
    "batchnorm_eval",
    "dropout_forward",
    "dropout_backward",
]


class LinearCache(NamedTuple):
    """What :func:`linear_backward` needs: copies of ``x`` and ``W``."""
    x: np.ndarray
    W: np.ndarray


class ActivationCache(NamedTuple):
    """What :func:`activation_backward` needs: a copy of ``z``, the name."""
    z: np.ndarray
    name: str


class BatchNormCache(NamedTuple):
    """What :func:`batchnorm_backward` needs, all made by the forward pass:
    ``x_hat``, ``gamma`` and ``std`` shaped to broadcast against ``x``, and
    the axes the statistics were taken over."""
    x_hat: np.ndarray
    gamma: np.ndarray
    std: np.ndarray
    axes: tuple


class DropoutCache(NamedTuple):
    """What :func:`dropout_backward` needs: the scaled mask, 0 or
    1/(1 - p)."""
    mask: np.ndarray


# ------------------------------------------------------------------ linear

def linear_forward(x, W, b):
    r"""Affine layer: every row of ``x`` times ``W`` transposed, plus ``b``.

    .. math:: z = x W^\top + b, \qquad z_{nj} = \sum_k x_{nk} W_{jk} + b_j

    Parameters
    ----------
    x : array_like, shape (N, in_features) or (in_features,)
    W : array_like, shape (out_features, in_features)
    b : array_like, shape (out_features,)

    Returns
    -------
    out : ndarray, shape (N, out_features) or (out_features,)
    cache : LinearCache, for :func:`linear_backward`

    Raises
    ------
    ValueError
        If the shapes do not fit (the message names both).
    TypeError
        For floating arrays of different precision (PyTorch's rule).

    Used in: book/forward.md, book/backprop.md, book/deep.md
    """
    x, W, b = _check_linear(x, W, b)
    out = x @ W.T + b
    return out, LinearCache(x.copy(), W.copy())


def linear_backward(dout, cache):
    r"""Gradients of the affine layer, with :math:`\delta = \partial L /
    \partial z` the upstream gradient.

    .. math:: \frac{\partial L}{\partial x} = \delta W, \quad
              \frac{\partial L}{\partial W} = \delta^\top x, \quad
              \frac{\partial L}{\partial b} = \textstyle\sum_n \delta_{n}

    Entrywise :math:`\partial L/\partial W_{jk} = \sum_n \delta_{nj}
    x_{nk}`: the NN document's [nn-calculus-doc] §3.2
    :math:`a^{l-1}_k \delta^l_j`, summed over the batch.

    Parameters
    ----------
    dout : array_like, shape (N, out_features) or (out_features,)
    cache : LinearCache from :func:`linear_forward`

    Returns
    -------
    dx : ndarray, shape of ``x``
    dW : ndarray, shape (out_features, in_features)
    db : ndarray, shape (out_features,)

    All three in the dtype of ``x``.

    Used in: book/backprop.md, book/deep.md
    """
    x, W = _check_cache(cache, LinearCache, "linear_backward")
    dout = _check_dout(dout, x.shape[:-1] + W.shape[:1], x)
    X, D = np.atleast_2d(x), np.atleast_2d(dout)  # one sample: a batch of 1
    return dout @ W, D.T @ X, D.sum(axis=0)


# ------------------------------------------------------------- activations

def activation_forward(z, name: str):
    r"""Elementwise activation ``a = f(z)``, ``f`` named in
    :func:`calc_nn.activations.get`.

    .. math:: a = f(z)

    Parameters
    ----------
    z : array_like, shape (...)
    name : {"sigmoid", "tanh", "relu", "leaky_relu"}

    Returns
    -------
    a : ndarray, shape (...)
    cache : ActivationCache, for :func:`activation_backward`

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid ones).

    Used in: book/backprop.md
    """
    z, (f, _) = _check_activation(z, name)
    return f(z), ActivationCache(z.copy(), name)


def activation_backward(dout, cache):
    r"""Chain rule through an elementwise activation.

    .. math:: \frac{\partial L}{\partial z} =
              \frac{\partial L}{\partial a} \odot f'(z)

    Parameters
    ----------
    dout : array_like, shape (...), :math:`\partial L/\partial a`
    cache : ActivationCache from :func:`activation_forward`

    Returns
    -------
    dz : ndarray, shape (...)

    Used in: book/backprop.md
    """
    z, name = _check_cache(cache, ActivationCache, "activation_backward")
    dout = _check_dout(dout, z.shape, z, "z")
    _, f_grad = activations.get(name)
    return dout * f_grad(z)


def sigmoid_forward(z):
    """:func:`activation_forward` with ``"sigmoid"``: ``(a, cache)``.

    Used in: book/backprop.md
    """
    return activation_forward(z, "sigmoid")


def sigmoid_backward(dout, cache):
    """``dout * sigmoid_grad(z)``, shape of ``z``; ``cache`` from
    :func:`sigmoid_forward`.

    Used in: book/backprop.md
    """
    return activation_backward(dout, _check_name(cache, "sigmoid"))


def tanh_forward(z):
    """:func:`activation_forward` with ``"tanh"``: ``(a, cache)``.

    Used in: book/backprop.md
    """
    return activation_forward(z, "tanh")


def tanh_backward(dout, cache):
    """``dout * tanh_grad(z)``, shape of ``z``; ``cache`` from
    :func:`tanh_forward`.

    Used in: book/backprop.md
    """
    return activation_backward(dout, _check_name(cache, "tanh"))


def relu_forward(z):
    """:func:`activation_forward` with ``"relu"``: ``(a, cache)``.

    Used in: book/backprop.md, book/deep.md
    """
    return activation_forward(z, "relu")


def relu_backward(dout, cache):
    """``dout * relu_grad(z)`` (0 at the kink), shape of ``z``; ``cache``
    from :func:`relu_forward`.

    Used in: book/backprop.md, book/deep.md
    """
    return activation_backward(dout, _check_name(cache, "relu"))


# ------------------------------------------------------------- batch norm

def batchnorm_forward(x, gamma, beta, *, eps=1e-5):
    r"""Batch normalisation in training mode, with the batch's statistics.

    .. math:: \hat x = \frac{x - \mu}{\sqrt{\sigma^2 + \varepsilon}},
              \qquad y = \gamma \hat x + \beta

    :math:`\mu` and the biased variance :math:`\sigma^2` (divided by
    :math:`M`) are taken per column of an (N, D) batch, or per channel over
    the :math:`M = N H W` values of an (N, C, H, W) batch, as
    ``torch.nn.functional.batch_norm(x, None, None, gamma, beta,
    training=True, eps=eps)``.

    Parameters
    ----------
    x : array_like, shape (N, D) or (N, C, H, W) (or (N, C, L)), float32
        or float64
    gamma, beta : array_like, shape (D,) or (C,)
    eps : float, > 0

    Returns
    -------
    out : ndarray, shape of ``x``
    cache : BatchNormCache, for :func:`batchnorm_backward`

    Raises
    ------
    ValueError
        With one value per channel (M = 1: its variance is 0), as
        PyTorch; for shapes that do not fit.
    TypeError
        For float16 or mixed precision.

    Used in: book/deep.md
    """
    x, gamma, beta, eps = _check_batchnorm(x, gamma, beta, eps)
    axes = (0, *range(2, x.ndim))  # every axis but the channel axis 1
    mean = x.mean(axis=axes, keepdims=True)
    std = np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    x_hat = (x - mean) / std
    return gamma * x_hat + beta, BatchNormCache(x_hat, gamma, std, axes)


def batchnorm_backward(dout, cache):
    r"""Gradients of :func:`batchnorm_forward`, in the compact form.

    With :math:`g = \partial L/\partial y` and sums over the :math:`M`
    values of each channel:

    .. math:: \frac{\partial L}{\partial x} = \frac{\gamma}{M\sigma}
              \Bigl(M g - \sum g - \hat x \sum g \hat x\Bigr), \quad
              \frac{\partial L}{\partial \gamma} = \sum g \hat x, \quad
              \frac{\partial L}{\partial \beta} = \sum g

    (:math:`\sigma = \sqrt{\sigma^2 + \varepsilon}`). The two sums are
    :math:`\partial L/\partial\beta` and :math:`\partial L/\partial\gamma`;
    :func:`batchnorm_backward_naive` follows the graph step by step.

    Parameters
    ----------
    dout : array_like, shape of ``x``
    cache : BatchNormCache from :func:`batchnorm_forward`

    Returns
    -------
    dx : ndarray, shape of ``x``
    dgamma, dbeta : ndarray, shape (D,) or (C,)

    Used in: book/deep.md
    """
    x_hat, gamma, std, axes = _check_cache(cache, BatchNormCache,
                                           "batchnorm_backward")
    dout = _check_dout(dout, x_hat.shape, x_hat, "x")
    m = math.prod(x_hat.shape[a] for a in axes)
    dbeta = dout.sum(axis=axes, keepdims=True)
    dgamma = (dout * x_hat).sum(axis=axes, keepdims=True)
    dx = gamma / (m * std) * (m * dout - dbeta - x_hat * dgamma)
    return dx, dgamma.reshape(-1), dbeta.reshape(-1)


def batchnorm_backward_naive(dout, cache):
    r"""Gradients of :func:`batchnorm_forward`, one node of the graph at a
    time: the slow, obviously correct reference of
    :func:`batchnorm_backward`.

    The forward graph is :math:`x \to x_c = x - \mu \to \sigma^2 =
    \overline{x_c^2} \to s = \sqrt{\sigma^2 + \varepsilon} \to \hat x =
    x_c / s \to y = \gamma\hat x + \beta`; the chain rule walks it back.

    Parameters and returns as :func:`batchnorm_backward`.

    Used in: book/deep.md
    """
    x_hat, gamma, std, axes = _check_cache(cache, BatchNormCache,
                                           "batchnorm_backward_naive")
    dout = _check_dout(dout, x_hat.shape, x_hat, "x")
    m = math.prod(x_hat.shape[a] for a in axes)
    xc = x_hat * std                                  # x - mu
    dx_hat = dout * gamma                             # y = gamma x_hat + b
    dxc = dx_hat / std                                # x_hat = xc / s ...
    dstd = -(dx_hat * xc / std ** 2).sum(axis=axes, keepdims=True)
    dvar = dstd / (2 * std)                           # s = sqrt(var + eps)
    dxc = dxc + dvar * 2 * xc / m                     # var = mean(xc ** 2)
    dmean = -dxc.sum(axis=axes, keepdims=True)        # xc = x - mu
    dx = dxc + dmean / m                              # mu = mean(x)
    return (dx, (dout * x_hat).sum(axis=axes), dout.sum(axis=axes))


def batchnorm_running_stats(x, running_mean, running_var, *, momentum=0.1):
    r"""The running statistics after one training step, as
    ``torch.nn.BatchNorm1d/2d`` updates them.

    .. math:: \mu_{\text{run}} \leftarrow (1 - m)\,\mu_{\text{run}}
              + m\,\mu_B, \qquad
              \sigma^2_{\text{run}} \leftarrow (1 - m)\,\sigma^2_{\text{run}}
              + m\,\frac{M}{M - 1}\sigma^2_B

    with the unbiased batch variance (divided by :math:`M - 1`).

    Parameters
    ----------
    x : array_like, shape (N, D) or (N, C, H, W)
    running_mean, running_var : array_like, shape (D,) or (C,);
        ``running_var`` >= 0
    momentum : float in [0, 1]

    Returns
    -------
    mean, var : ndarray, shape (D,) or (C,), new arrays

    Used in: book/deep.md
    """
    x, running_mean, running_var, momentum = _check_running_stats(
        x, running_mean, running_var, momentum)
    axes = (0, *range(2, x.ndim))
    mean = x.mean(axis=axes)
    var = x.var(axis=axes, ddof=1)
    return ((1 - momentum) * running_mean + momentum * mean,
            (1 - momentum) * running_var + momentum * var)


def batchnorm_eval(x, running_mean, running_var, gamma, beta, *, eps=1e-5):
    r"""Batch normalisation in evaluation mode, with the running statistics.

    .. math:: y = \gamma\,\frac{x - \mu_{\text{run}}}
              {\sqrt{\sigma^2_{\text{run}} + \varepsilon}} + \beta

    As ``torch.nn.functional.batch_norm(x, running_mean, running_var,
    gamma, beta, training=False, eps=eps)``; any N, including 1.

    Parameters
    ----------
    x : array_like, shape (N, D) or (N, C, H, W)
    running_mean, running_var, gamma, beta : array_like, shape (D,) or (C,)
    eps : float, > 0

    Returns
    -------
    out : ndarray, shape of ``x``

    Used in: book/deep.md
    """
    x, mean, var, gamma, beta, eps = _check_batchnorm_eval(
        x, running_mean, running_var, gamma, beta, eps)
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


# ---------------------------------------------------------------- dropout

def dropout_forward(x, p, *, rng, training=True):
    r"""Inverted dropout: zero each entry with probability ``p`` and scale
    the others by :math:`1/(1 - p)`, so that the expectation is ``x``.

    .. math:: y = x \odot \frac{k}{1 - p}, \qquad
              k_i \sim \operatorname{Bernoulli}(1 - p)

    The identity (a copy of ``x``) when ``training`` is False or
    ``p == 0``, as ``torch.nn.functional.dropout``.

    Parameters
    ----------
    x : array_like, shape (...)
    p : float in [0, 1)
    rng : numpy.random.Generator
    training : bool

    Returns
    -------
    out : ndarray, shape of ``x``
    cache : DropoutCache, for :func:`dropout_backward`

    Used in: book/deep.md
    """
    x, p, rng, training = _check_dropout(x, p, rng, training)
    if not training or p == 0:
        return x.copy(), DropoutCache(np.ones_like(x))
    keep = rng.random(x.shape) >= p
    mask = (keep / _opmath(x.dtype).type(1 - p)).astype(x.dtype)
    return x * mask, DropoutCache(mask)


def dropout_backward(dout, cache):
    r"""Gradient of :func:`dropout_forward`: the same mask.

    .. math:: \frac{\partial L}{\partial x} = \frac{\partial L}{\partial y}
              \odot \frac{k}{1 - p}

    Parameters
    ----------
    dout : array_like, shape of ``x``
    cache : DropoutCache from :func:`dropout_forward`

    Returns
    -------
    dx : ndarray, shape of ``x``

    Used in: book/deep.md
    """
    (mask,) = _check_cache(cache, DropoutCache, "dropout_backward")
    return _check_dout(dout, mask.shape, mask, "x") * mask


# ------------------------------------------------------------ the checks

def _check_linear(x, W, b):
    x, W, b = as_float_arrays(x=x, W=W, b=b)
    check_ndim(W, "W", [2], "(out_features, in_features)")
    check_ndim(x, "x", [1, 2], "(N, in_features) or (in_features,)")
    if x.shape[-1] != W.shape[1]:
        raise ValueError(
            f"x has shape {x.shape} but W has shape {W.shape}: the last "
            f"dimension of x ({x.shape[-1]}) must equal W's in_features "
            f"({W.shape[1]})")
    if b.shape != (W.shape[0],):
        raise ValueError(f"b has shape {b.shape} but W has shape {W.shape}:"
                         f" b must have shape ({W.shape[0]},)")
    return x, W, b


def _check_cache(cache, cache_type, caller: str):
    if not isinstance(cache, cache_type):
        forward = caller.replace("_backward", "_forward").replace(
            "_naive", "")
        raise TypeError(f"{caller} needs the {cache_type.__name__} that "
                        f"{forward} returns; got {type(cache).__name__}")
    return cache


def _check_dout(dout, shape, like, like_name="x"):
    """``dout`` in the dtype of ``like`` (TypeError for another precision)
    and of the layer's output ``shape``."""
    dout, _ = as_float_arrays(dout=dout, **{like_name: like})
    if dout.shape != tuple(shape):
        raise ValueError(f"dout has shape {dout.shape} but the layer's "
                         f"output has shape {tuple(shape)}; they must be "
                         f"equal")
    return dout


def _check_activation(z, name):
    (z,) = as_float_arrays(z=z)
    if not isinstance(name, str):
        raise TypeError(f"name must be the name of an activation (a str), "
                        f"got {type(name).__name__} {name!r}")
    return z, activations.get(name)


def _check_name(cache, name):
    cache = _check_cache(cache, ActivationCache, f"{name}_backward")
    if cache.name != name:
        raise ValueError(f"{name}_backward got the cache of a "
                         f"{cache.name!r} activation; use "
                         f"activation_backward, or {cache.name}_backward")
    return cache


def _opmath(dtype):
    """The dtype PyTorch computes in: float32 for float16 arrays."""
    return np.promote_types(dtype, np.float32)


def _per_channel(x, **params):
    """``params`` (each of shape (C,)) as arrays that broadcast against
    ``x`` (N, C, ...) along its channel axis, after checking shapes."""
    check_ndim(x, "x", [2, 3, 4], "(N, D), (N, C, L) or (N, C, H, W)")
    c = x.shape[1]
    for name, v in params.items():
        if v.shape != (c,):
            raise ValueError(f"{name} has shape {v.shape} but x has shape "
                             f"{x.shape}: {name} must have shape ({c},), "
                             f"one entry per channel")
    if x.dtype == np.float16:
        raise TypeError("x has dtype float16; batch normalisation needs "
                        "float32 or float64 (convert with "
                        "x.astype(np.float32))")
    return [v.reshape((c,) + (1,) * (x.ndim - 2)) for v in params.values()]


def _check_eps(eps):
    return check_real(eps, "eps", low=0, low_open=True)


def _check_more_than_one_value(x):
    if math.prod(x.shape[:1] + x.shape[2:]) < 2:
        raise ValueError(f"Expected more than 1 value per channel when "
                         f"training, got x of shape {x.shape} (as "
                         f"PyTorch): the batch variance of one value is 0")


def _check_batchnorm(x, gamma, beta, eps):
    x, gamma, beta = as_float_arrays(x=x, gamma=gamma, beta=beta)
    gamma, beta = _per_channel(x, gamma=gamma, beta=beta)
    _check_more_than_one_value(x)
    return x, gamma.copy(), beta, _check_eps(eps)


def _check_running_stats(x, running_mean, running_var, momentum):
    x, mean, var = as_float_arrays(x=x, running_mean=running_mean,
                                   running_var=running_var)
    _per_channel(x, running_mean=mean, running_var=var)
    _check_more_than_one_value(x)
    _check_variance(var)
    return x, mean, var, check_real(momentum, "momentum", low=0, high=1)


def _check_batchnorm_eval(x, running_mean, running_var, gamma, beta, eps):
    x, mean, var, gamma, beta = as_float_arrays(
        x=x, running_mean=running_mean, running_var=running_var,
        gamma=gamma, beta=beta)
    _check_variance(var)
    return (x, *_per_channel(x, running_mean=mean, running_var=var,
                             gamma=gamma, beta=beta), _check_eps(eps))


def _check_variance(var):
    if np.any(var < 0):
        raise ValueError(f"running_var must be >= 0; it contains "
                         f"{var[var < 0].ravel()[0]}")


def _check_dropout(x, p, rng, training):
    (x,) = as_float_arrays(x=x)
    p = check_real(p, "p", low=0, high=1, high_open=True)
    return x, p, check_rng(rng), check_choice(training, "training",
                                              [True, False])
