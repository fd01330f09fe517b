r"""Activation functions and their local derivatives.

Each function sits beside its derivative (``sigmoid`` / ``sigmoid_grad``), in
the spirit of micrograd. All of them take and return NumPy arrays of any
shape, applied elementwise (softmax along one axis):

* float16/32/64 input keeps its dtype; bool and int input becomes float64;
* they are numerically stable for inputs up to ``|x| = 1e4`` and beyond:
  no overflow, no warnings, no NaN;
* ``relu_grad(0) == 0`` and ``leaky_relu_grad(0) == alpha``, the values
  PyTorch's autograd uses at the kink.

The ``*_grad`` functions are the *local* derivatives :math:`f'(x)`; the chain
rule multiplies them by the upstream gradient (chapter "Backpropagation").
"""

from __future__ import annotations

import numpy as np

from calc_nn._validation import as_float_array, check_axis, check_nonnegative

__all__ = [
    "sigmoid",
    "sigmoid_grad",
    "tanh",
    "tanh_grad",
    "relu",
    "relu_grad",
    "leaky_relu",
    "leaky_relu_grad",
    "softmax",
    "log_softmax",
    "softmax_jacobian",
    "get",
    "chain_gradient",
]


def sigmoid(x):
    r"""Logistic sigmoid, elementwise.

    .. math:: \sigma(x) = \frac{1}{1 + e^{-x}}

    Parameters
    ----------
    x : array_like, shape (...)

    Returns
    -------
    ndarray, shape (...), values in [0, 1]
    """
    x = as_float_array(x, "x")
    # sigma(x) = e^min(x, 0) / (1 + e^-|x|): for x >= 0 this is the
    # definition, for x < 0 the definition times e^x / e^x. Both exponents
    # are <= 0, so nothing overflows. Two exps without branches run about
    # four times faster than np.where over a random sign pattern.
    return np.exp(np.minimum(x, 0)) / (1 + np.exp(-np.abs(x)))


def sigmoid_grad(x):
    r"""Derivative of the sigmoid, elementwise.

    .. math:: \sigma'(x) = \sigma(x)\,(1 - \sigma(x))
              = \frac{e^{-|x|}}{(1 + e^{-|x|})^2}

    The second form is the same number (the derivative is even) but keeps
    full relative precision for large ``|x|``, where ``1 - sigma(x)`` would
    cancel to zero.

    Parameters
    ----------
    x : array_like, shape (...)

    Returns
    -------
    ndarray, shape (...), values in [0, 1/4]
    """
    x = as_float_array(x, "x")
    e = np.exp(-np.abs(x))
    return e / (1 + e) ** 2


def tanh(x):
    r"""Hyperbolic tangent, elementwise.

    .. math:: \tanh(x) = \frac{e^{x} - e^{-x}}{e^{x} + e^{-x}}

    Parameters
    ----------
    x : array_like, shape (...)

    Returns
    -------
    ndarray, shape (...), values in [-1, 1]
    """
    x = as_float_array(x, "x")
    return np.tanh(x)


def tanh_grad(x):
    r"""Derivative of tanh, elementwise.

    .. math:: \tanh'(x) = 1 - \tanh^2(x)
              = \frac{4 e^{-2|x|}}{(1 + e^{-2|x|})^2}

    The second form equals the first and avoids the cancellation in
    ``1 - tanh(x)**2`` for large ``|x|``.

    Parameters
    ----------
    x : array_like, shape (...)

    Returns
    -------
    ndarray, shape (...), values in [0, 1]
    """
    x = as_float_array(x, "x")
    e = np.exp(-2 * np.abs(x))
    return 4 * e / (1 + e) ** 2


def relu(x):
    r"""Rectified linear unit, elementwise.

    .. math:: \operatorname{ReLU}(x) = \max(0, x)

    Parameters
    ----------
    x : array_like, shape (...)

    Returns
    -------
    ndarray, shape (...), values >= 0
    """
    x = as_float_array(x, "x")
    return np.maximum(x, 0)


def relu_grad(x):
    r"""Derivative of ReLU, elementwise, with ``relu_grad(0) = 0``.

    .. math:: \operatorname{ReLU}'(x) = \begin{cases} 1 & x > 0 \\
              0 & x \le 0 \end{cases}

    ReLU has no derivative at 0; 0 is the subgradient PyTorch uses.

    Parameters
    ----------
    x : array_like, shape (...)

    Returns
    -------
    ndarray, shape (...), values in {0, 1}
    """
    x = as_float_array(x, "x")
    return (x > 0).astype(x.dtype)


def leaky_relu(x, alpha=0.01):
    r"""Leaky ReLU, elementwise.

    .. math:: \operatorname{LeakyReLU}_\alpha(x) = \begin{cases} x & x > 0 \\
              \alpha x & x \le 0 \end{cases}

    Parameters
    ----------
    x : array_like, shape (...)
    alpha : float, >= 0
        Slope for negative inputs (PyTorch's ``negative_slope``).

    Returns
    -------
    ndarray, shape (...)
    """
    x = as_float_array(x, "x")
    alpha = check_nonnegative(alpha, "alpha")
    # for x > 0, x is the larger of x and alpha*x when alpha <= 1 (the
    # smaller when alpha > 1), and the other way round for x < 0
    pick = np.maximum if alpha <= 1 else np.minimum
    return pick(x, alpha * x)


def leaky_relu_grad(x, alpha=0.01):
    r"""Derivative of Leaky ReLU, elementwise, with the value ``alpha`` at 0.

    .. math:: \operatorname{LeakyReLU}_\alpha'(x) = \begin{cases} 1 & x > 0 \\
              \alpha & x \le 0 \end{cases}

    Parameters
    ----------
    x : array_like, shape (...)
    alpha : float, >= 0

    Returns
    -------
    ndarray, shape (...), values in {alpha, 1}
    """
    x = as_float_array(x, "x")
    alpha = check_nonnegative(alpha, "alpha")
    positive = (x > 0).astype(x.dtype)
    # exactly 1 where x > 0 and exactly alpha elsewhere, without np.where
    return positive + alpha * (1 - positive)


def _shift(z, axis):
    """``z - max(z)`` along ``axis``: same softmax, no overflow in exp."""
    z = as_float_array(z, "z")
    if z.ndim == 0:
        raise ValueError("z must have at least one dimension (the classes)")
    axis = check_axis(axis, z.ndim)
    if z.size == 0:  # nothing to normalise (no classes, or no samples)
        return z, axis
    return z - np.max(z, axis=axis, keepdims=True), axis


def softmax(z, axis=-1):
    r"""Softmax along ``axis``: turns scores (logits) into probabilities.

    .. math:: \operatorname{softmax}(z)_i = \frac{e^{z_i}}{\sum_j e^{z_j}}

    Subtracting ``max(z)`` first leaves the result unchanged (numerator and
    denominator both gain the factor ``e^{-max z}``) and keeps ``exp`` from
    overflowing.

    Parameters
    ----------
    z : array_like, shape (..., C, ...)
        Logits; ``C`` classes along ``axis``.
    axis : int, default -1

    Returns
    -------
    ndarray, same shape as ``z``; entries in [0, 1], summing to 1 along
    ``axis``.
    """
    shifted, axis = _shift(z, axis)
    if shifted.size == 0:
        return shifted.copy()
    e = np.exp(shifted, out=shifted)  # shifted is a fresh array
    e /= np.sum(e, axis=axis, keepdims=True)
    return e


def log_softmax(z, axis=-1):
    r"""Logarithm of the softmax along ``axis``, computed without ``log(0)``.

    .. math:: \log\operatorname{softmax}(z)_i = z_i - \log\sum_j e^{z_j}

    Parameters
    ----------
    z : array_like, shape (..., C, ...)
    axis : int, default -1

    Returns
    -------
    ndarray, same shape as ``z``; entries <= 0.
    """
    shifted, axis = _shift(z, axis)
    if shifted.size == 0:
        return shifted.copy()
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def softmax_jacobian(z):
    r"""Jacobian of the softmax over the last axis.

    .. math:: \frac{\partial s_i}{\partial z_j} = s_i (\delta_{ij} - s_j),
              \qquad J = \operatorname{diag}(s) - s s^\top

    Parameters
    ----------
    z : array_like, shape (..., C)

    Returns
    -------
    ndarray, shape (..., C, C); ``J[..., i, j] = d s_i / d z_j``.
    """
    s = softmax(z, axis=-1)
    return s[..., :, None] * np.eye(s.shape[-1], dtype=s.dtype) - (
        s[..., :, None] * s[..., None, :]
    )


_FUNCTIONS = {
    "sigmoid": (sigmoid, sigmoid_grad),
    "tanh": (tanh, tanh_grad),
    "relu": (relu, relu_grad),
    "leaky_relu": (leaky_relu, leaky_relu_grad),
}


def get(name: str, alpha: float = 0.01):
    """``(f, f_grad)`` for an activation name, ``alpha`` bound for Leaky ReLU.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid ones.
    """
    if name not in _FUNCTIONS:
        raise ValueError(f"unknown activation {name!r}; expected one of "
                         f"{sorted(_FUNCTIONS)}")
    f, f_grad = _FUNCTIONS[name]
    if name == "leaky_relu":
        check_nonnegative(alpha, "alpha")
        return (lambda x: leaky_relu(x, alpha),
                lambda x: leaky_relu_grad(x, alpha))
    return f, f_grad


def chain_gradient(name: str, depth: int, w: float = 1.0, x0: float = 0.5,
                   alpha: float = 0.01):
    r"""Gradients through a chain of one-neuron layers.

    Layer ``k`` computes :math:`a_k = f(w\,a_{k-1})` from :math:`a_0 = x_0`.
    By the chain rule

    .. math:: \frac{\partial a_n}{\partial a_k}
              = \prod_{j=k+1}^{n} w\,f'(w\,a_{j-1}),

    a product of ``n - k`` local factors: it vanishes when the factors are
    below 1 and explodes when they are above 1.

    Parameters
    ----------
    name : {"sigmoid", "tanh", "relu", "leaky_relu"}
    depth : int, >= 0
        Number of layers ``n``.
    w : float
        The weight of every layer.
    x0 : float
        The input ``a_0``.

    Returns
    -------
    a : ndarray, shape (depth + 1,)
        Activations ``a_0, ..., a_n``.
    grad : ndarray, shape (depth + 1,)
        ``grad[k]`` is :math:`\partial a_n / \partial a_k`; ``grad[n] = 1``.
    """
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)):
        raise TypeError(f"depth must be an int, got {type(depth).__name__}")
    if depth < 0:
        raise ValueError(f"depth must be >= 0, got {depth}")
    f, f_grad = get(name, alpha)
    a = np.empty(depth + 1)
    factors = np.empty(depth)
    a[0] = x0
    for k in range(depth):
        z = w * a[k]
        a[k + 1] = f(z)
        factors[k] = w * f_grad(z)
    # grad[k] = factors[k] * ... * factors[n-1]: a reversed cumulative product
    grad = np.ones(depth + 1)
    grad[:-1] = np.cumprod(factors[::-1])[::-1]
    return a, grad
