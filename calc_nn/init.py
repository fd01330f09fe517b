r"""Weight initialisation, with the distributions of ``torch.nn.init``.

Each function returns a new weight matrix ``W`` of shape
``(fan_out, fan_in)``, PyTorch's ``nn.Linear`` layout, drawn from a
``numpy.random.Generator``. The scale is chosen so that a signal keeps its
variance from layer to layer. With :math:`n` inputs per neuron,

.. math:: \operatorname{Var}(z) = n \operatorname{Var}(w)\,
          \mathbb{E}[a^2],

so the weights need :math:`\operatorname{Var}(w) \propto 1/n`. Xavier
(Glorot) initialisation balances the forward and the backward pass with
:math:`2/(n_{\text{in}} + n_{\text{out}})`; He (Kaiming) initialisation
doubles :math:`1/n_{\text{in}}` for ReLU, since
:math:`\mathbb{E}[\operatorname{ReLU}(z)^2] = \operatorname{Var}(z)/2`. A
uniform distribution on :math:`[-a, a]` has variance :math:`a^2/3`, so its
bound is :math:`a = \sqrt{3}\,\text{std}`.
"""

from __future__ import annotations

import math

import numpy as np

from calc_nn._validation import (
    check_choice,
    check_int,
    check_real,
    check_rng,
)

__all__ = [
    "NONLINEARITIES",
    "calculate_gain",
    "xavier_uniform",
    "xavier_normal",
    "kaiming_uniform",
    "kaiming_normal",
    "torch_default_linear",
]

NONLINEARITIES = ("linear", "conv2d", "sigmoid", "tanh", "relu",
                  "leaky_relu", "selu")


def calculate_gain(nonlinearity: str, param=None) -> float:
    r"""The gain PyTorch recommends for a nonlinearity, as
    ``torch.nn.init.calculate_gain``.

    .. math:: \text{linear, sigmoid: } 1, \quad \tanh: \tfrac53, \quad
              \text{ReLU: } \sqrt{2}, \quad
              \text{leaky ReLU: } \sqrt{2 / (1 + a^2)}, \quad
              \text{SELU: } \tfrac34

    Parameters
    ----------
    nonlinearity : one of :data:`NONLINEARITIES`
    param : float, >= 0, optional
        The negative slope of ``"leaky_relu"`` (default 0.01, PyTorch's).

    Returns
    -------
    float

    Used in: book/deep.md
    """
    nonlinearity, slope = _check_gain(nonlinearity, param)
    return {"linear": 1.0, "conv2d": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3,
            "relu": math.sqrt(2.0),
            "leaky_relu": math.sqrt(2.0 / (1 + slope ** 2)),
            "selu": 3.0 / 4}[nonlinearity]


def xavier_uniform(fan_in, fan_out, *, rng, gain=1.0, dtype=np.float64):
    r"""Xavier (Glorot) uniform initialisation, as
    ``torch.nn.init.xavier_uniform_``.

    .. math:: W_{jk} \sim U(-a, a), \qquad a = \text{gain}\,
              \sqrt{\frac{6}{n_{\text{in}} + n_{\text{out}}}}

    Parameters
    ----------
    fan_in, fan_out : int, >= 1
    rng : numpy.random.Generator
    gain : float, > 0
    dtype : floating dtype of the result

    Returns
    -------
    W : ndarray, shape (fan_out, fan_in)

    Used in: book/deep.md
    """
    shape, rng, gain, dtype = _check_init(fan_in, fan_out, rng, gain, dtype)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    return rng.uniform(-bound, bound, shape).astype(dtype)


def xavier_normal(fan_in, fan_out, *, rng, gain=1.0, dtype=np.float64):
    r"""Xavier (Glorot) normal initialisation, as
    ``torch.nn.init.xavier_normal_``.

    .. math:: W_{jk} \sim \mathcal{N}(0, \sigma^2), \qquad \sigma =
              \text{gain}\,\sqrt{\frac{2}{n_{\text{in}} + n_{\text{out}}}}

    Parameters and returns as :func:`xavier_uniform`.

    Used in: book/deep.md
    """
    shape, rng, gain, dtype = _check_init(fan_in, fan_out, rng, gain, dtype)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return rng.normal(0.0, std, shape).astype(dtype)


def kaiming_uniform(fan_in, fan_out, *, rng, a=0.0, nonlinearity="relu",
                    mode="fan_in", dtype=np.float64):
    r"""Kaiming (He) uniform initialisation, as
    ``torch.nn.init.kaiming_uniform_``.

    .. math:: W_{jk} \sim U(-b, b), \qquad
              b = \text{gain}\,\sqrt{\frac{3}{n}}

    with :math:`n` = ``fan_in`` (keeps the forward variance) or ``fan_out``
    (the backward variance), and the gain of :func:`calculate_gain`.

    Parameters
    ----------
    fan_in, fan_out : int, >= 1
    rng : numpy.random.Generator
    a : float, >= 0
        Negative slope, used only with ``nonlinearity="leaky_relu"``.
    nonlinearity : one of :data:`NONLINEARITIES`
    mode : {"fan_in", "fan_out"}
    dtype : floating dtype of the result

    Returns
    -------
    W : ndarray, shape (fan_out, fan_in)

    Used in: book/deep.md
    """
    shape, rng, fan, gain, dtype = _check_kaiming(
        fan_in, fan_out, rng, a, nonlinearity, mode, dtype)
    std = gain / math.sqrt(fan)
    bound = math.sqrt(3.0) * std
    return rng.uniform(-bound, bound, shape).astype(dtype)


def kaiming_normal(fan_in, fan_out, *, rng, a=0.0, nonlinearity="relu",
                   mode="fan_in", dtype=np.float64):
    r"""Kaiming (He) normal initialisation, as
    ``torch.nn.init.kaiming_normal_``.

    .. math:: W_{jk} \sim \mathcal{N}(0, \sigma^2), \qquad
              \sigma = \frac{\text{gain}}{\sqrt{n}}

    Parameters and returns as :func:`kaiming_uniform`.

    Used in: book/deep.md, book/digits.md
    """
    shape, rng, fan, gain, dtype = _check_kaiming(
        fan_in, fan_out, rng, a, nonlinearity, mode, dtype)
    return rng.normal(0.0, gain / math.sqrt(fan), shape).astype(dtype)


def torch_default_linear(fan_in, fan_out, *, rng, dtype=np.float64):
    r"""The weights and bias of a new ``torch.nn.Linear(fan_in, fan_out)``.

    PyTorch draws ``W`` with :func:`kaiming_uniform` and
    :math:`a = \sqrt 5`: the gain :math:`\sqrt{2/6}` makes the bound

    .. math:: \sqrt{\tfrac{1}{3}}\sqrt{\tfrac{3}{n_{\text{in}}}}
              = \frac{1}{\sqrt{n_{\text{in}}}},

    a variance of :math:`1/(3 n_{\text{in}})`; ``b`` is uniform on the
    same interval.

    Parameters
    ----------
    fan_in, fan_out : int, >= 1
    rng : numpy.random.Generator
    dtype : floating dtype of the result

    Returns
    -------
    W : ndarray, shape (fan_out, fan_in)
    b : ndarray, shape (fan_out,)

    Used in: book/deep.md
    """
    W = kaiming_uniform(fan_in, fan_out, rng=rng, a=math.sqrt(5),
                        nonlinearity="leaky_relu", dtype=dtype)
    bound = 1 / math.sqrt(fan_in)
    return W, rng.uniform(-bound, bound, fan_out).astype(dtype)


# ------------------------------------------------------------ the checks

def _check_gain(nonlinearity, param):
    nonlinearity = check_choice(nonlinearity, "nonlinearity",
                                NONLINEARITIES)
    if param is not None and nonlinearity != "leaky_relu":
        raise ValueError(f"param (the negative slope) is used only with "
                         f"nonlinearity='leaky_relu', not "
                         f"{nonlinearity!r}; leave it out")
    slope = 0.01 if param is None else check_real(param, "param", low=0)
    return nonlinearity, slope


def _check_init(fan_in, fan_out, rng, gain, dtype):
    """``((fan_out, fan_in), rng, gain, dtype)`` after checking them."""
    shape = (check_int(fan_out, "fan_out", low=1),
             check_int(fan_in, "fan_in", low=1))
    return (shape, check_rng(rng),
            check_real(gain, "gain", low=0, low_open=True),
            _check_dtype(dtype))


def _check_kaiming(fan_in, fan_out, rng, a, nonlinearity, mode, dtype):
    """``((fan_out, fan_in), rng, fan, gain, dtype)`` after checks."""
    shape, rng, _, dtype = _check_init(fan_in, fan_out, rng, 1.0, dtype)
    a = check_real(a, "a", low=0)
    nonlinearity = check_choice(nonlinearity, "nonlinearity",
                                NONLINEARITIES)
    if a != 0 and nonlinearity != "leaky_relu":
        raise ValueError(f"a (the negative slope) is used only with "
                         f"nonlinearity='leaky_relu', not "
                         f"{nonlinearity!r}; leave it at 0")
    mode = check_choice(mode, "mode", ["fan_in", "fan_out"])
    fan = shape[1] if mode == "fan_in" else shape[0]
    gain = calculate_gain(nonlinearity,
                          a if nonlinearity == "leaky_relu" else None)
    return shape, rng, fan, gain, dtype


def _check_dtype(dtype):
    named = isinstance(dtype, str) and dtype in ("float16", "float32",
                                                  "float64")
    try:  # np.dtype(np.float64(1)) and np.dtype(None) are float64 too
        dt = np.dtype(dtype) if named or isinstance(dtype, (type, np.dtype)) \
            else None
    except TypeError:
        dt = None
    if dt is None or dt.kind != "f":
        raise TypeError(f"dtype must be a floating dtype (np.float16, "
                        f"np.float32 or np.float64), got {dtype!r}")
    return dt
