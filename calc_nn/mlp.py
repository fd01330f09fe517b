r"""A multilayer perceptron written from scratch with the delta equations.

Layer ``l = 1, ..., D`` computes, for a batch ``X`` of shape
``(N, in_features)`` (one example per row, as in PyTorch),

.. math:: z^l = a^{l-1} (W^l)^\top + b^l, \qquad a^l = f(z^l),

with :math:`a^0 = X` and no activation after the last layer: the network
returns the logits :math:`z^D`. The forward pass is the affine layer of
:mod:`calc_nn.layers` (:func:`~calc_nn.layers.linear_forward`) and an
activation of the registry :func:`calc_nn.activations.get`.
:meth:`MLP.backward` is the NN document's [nn-calculus-doc] §3.2 delta
equations, written for a batch (rows are examples):

.. math::
    \Delta^D = \frac{\partial L}{\partial Z^D}, \quad
    \Delta^l = (\Delta^{l+1} W^{l+1}) \odot f'(Z^l), \quad
    \frac{\partial L}{\partial W^l} = (\Delta^l)^\top A^{l-1}, \quad
    \frac{\partial L}{\partial b^l} = \textstyle\sum_n \Delta^l_n .

They are the backward passes of the layer pairs chained (the tests check
it), except that nothing computes :math:`\partial L/\partial X`, which no
parameter needs: PyTorch skips it too, and for the digits chapter's
784-512-256-10 network it would be a third more arithmetic.

**The model protocol.** Every model of the book (:class:`MLP`,
:class:`calc_nn.train.SmallCNN`) is a :class:`Model`, a layer pair at the
scale of a network, and :func:`calc_nn.train.fit_calc_nn` trains any of
them:

* ``params``: the list of parameter arrays, in the order of PyTorch's
  ``parameters()`` for the twin network (``W1, b1, W2, b2, ...``), updated
  in place by training; ``param_names`` names them;
* ``forward(X) -> (logits, cache)``: logits of shape (N, K), and what the
  backward pass needs (a named tuple of the model's own type, never a
  reference to ``X``);
* ``backward(dlogits, cache) -> grads``: given
  :math:`\partial L/\partial \text{logits}`, the gradients of the loss for
  every parameter, a list in the order of ``params``, each of its
  parameter's shape and dtype;
* ``model(X)``: the logits alone.

dtype (PyTorch's rule): a model's parameters share one float dtype; input
of another float dtype is a TypeError naming both, and integer input (raw
uint8 pixels, say) is converted to the model's dtype.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from calc_nn import activations, layers, losses
from calc_nn import init as init_
from calc_nn._validation import (
    as_float_array,
    check_finite,
    check_int,
    check_real,
)

__all__ = ["Model", "MLP", "MLPCache", "INITS", "make_moons",
           "worked_example", "LayerStatistics", "layer_statistics",
           "layer_gradient_norms"]

INITS = ("pytorch", "xavier", "he")
FLOAT_DTYPES = (np.dtype(np.float16), np.dtype(np.float32),
                np.dtype(np.float64))


class Model:
    """The protocol shared by :class:`MLP` and :class:`calc_nn.train.SmallCNN`
    (see the module docstring), and what every model gets for free.

    A subclass sets ``params``, ``param_names``, ``dtype`` and ``_shapes``
    (the parameters' shapes, checked at every forward pass) and defines
    ``forward(X) -> (logits, cache)`` and ``backward(dlogits, cache) ->
    grads``.

    Used in: book/forward.md, book/backprop.md, book/digits.md
    """

    params: list
    param_names: list
    dtype: np.dtype

    def forward(self, X):
        """``(logits, cache)``; defined by each model."""
        raise NotImplementedError

    def backward(self, dlogits, cache):
        """Gradients in the order of ``params``; defined by each model."""
        raise NotImplementedError

    def __call__(self, X):
        """The logits alone, ``forward(X)[0]``.

        Used in: book/backprop.md, book/digits.md
        """
        return self.forward(X)[0]

    @property
    def n_parameters(self) -> int:
        """Number of weights and biases.

        Used in: book/forward.md, book/backprop.md
        """
        return sum(p.size for p in self.params)

    def get_flat(self) -> np.ndarray:
        """All parameters in one new vector, shape (n_parameters,), in the
        order of ``params``, each flattened in C order.

        Used in: book/backprop.md
        """
        return np.concatenate([p.ravel() for p in self.params])

    def set_flat(self, theta) -> None:
        """Inverse of :meth:`get_flat`: copy ``theta``, shape
        (n_parameters,), finite, of the model's dtype, into the parameters.

        Used in: book/backprop.md
        """
        theta = _check_flat(self, theta)
        i = 0
        for p in self.params:
            p[...] = theta[i:i + p.size].reshape(p.shape)
            i += p.size


class MLPCache(NamedTuple):
    """What :meth:`MLP.forward` keeps for :meth:`MLP.backward`.

    ``zs[l - 1]`` is :math:`z^l`, shape (N, layer_sizes[l]);
    ``activations[l]`` is :math:`a^l` (``activations[0]`` a copy of ``X``,
    ``activations[-1]`` the logits); ``unbatched`` is True for a single
    input vector.

    Used in: book/forward.md, book/backprop.md
    """

    zs: tuple
    activations: tuple
    unbatched: bool


class MLP(Model):
    r"""Fully connected network with one activation for its hidden layers.

    Parameters
    ----------
    layer_sizes : sequence of int >= 1, length >= 2
        ``[in_features, hidden_1, ..., out_features]``.
    activation : str
        A name of :func:`calc_nn.activations.get` ("relu", "sigmoid",
        "tanh", ...) for every hidden layer; the last layer has none.
    seed : int >= 0
        Seed of the NumPy generator that draws the weights.
    init : {"pytorch", "xavier", "he"} or float in (0, 1e6]
        "pytorch" (default) draws ``W`` and ``b`` from
        :math:`U(-1/\sqrt{n_{in}}, 1/\sqrt{n_{in}})` as ``nn.Linear`` does;
        "xavier" and "he" draw ``W`` from :math:`N(0, 2/(n_{in}+n_{out}))`
        and :math:`N(0, 2/n_{in})` with zero biases; a float is the standard
        deviation of normal weights (zero biases).
    dtype : {np.float64, np.float32, np.float16}

    Attributes
    ----------
    params : list of ndarray
        ``[W1, b1, ..., WL, bL]``; ``W_l`` has shape (layer_sizes[l],
        layer_sizes[l-1]) and ``W_l[j, k]`` is the NN document's
        [nn-calculus-doc] :math:`w^l_{jk}`; ``b_l`` has shape
        (layer_sizes[l],).
    weights, biases : tuples of the same arrays (``params[0::2]``,
        ``params[1::2]``)

    Raises
    ------
    TypeError, ValueError
        For a bad argument, named in the message.

    Used in: book/calculus.md, book/forward.md, book/optimizers.md,
    book/backprop.md, book/digits.md
    """

    def __init__(self, layer_sizes, activation="relu", seed=0,
                 init="pytorch", dtype=np.float64):
        sizes, seed, self.dtype = _check_mlp(layer_sizes, activation, seed,
                                             init, dtype)
        self.layer_sizes, self.activation, self.init = sizes, activation, init
        self._f, self._f_grad = activations.get(activation)
        rng = np.random.default_rng(seed)
        self.params, self.param_names = [], []
        for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), 1):
            W, b = _draw_layer(rng, init, n_in, n_out)
            self.params += [W.astype(self.dtype), b.astype(self.dtype)]
            self.param_names += [f"W{l}", f"b{l}"]
        self._shapes = tuple(p.shape for p in self.params)

    def __repr__(self):
        return (f"MLP({self.layer_sizes}, activation={self.activation!r}, "
                f"init={self.init!r}, dtype={self.dtype.name})")

    @property
    def weights(self) -> tuple:
        """``(W1, ..., WL)``, the arrays of ``params`` (not copies).

        Used in: book/forward.md, book/backprop.md, book/digits.md
        """
        return tuple(self.params[0::2])

    @property
    def biases(self) -> tuple:
        """``(b1, ..., bL)``, the arrays of ``params`` (not copies).

        Used in: book/forward.md, book/backprop.md
        """
        return tuple(self.params[1::2])

    @property
    def n_layers(self) -> int:
        """Number of layers with weights, ``D``."""
        return len(self.layer_sizes) - 1

    def forward(self, X):
        r"""Logits of a batch, and the cache :meth:`backward` needs.

        .. math:: a^0 = X,\quad z^l = a^{l-1} (W^l)^\top + b^l,\quad
                  a^l = f(z^l)\ (l < D),\quad \text{logits} = z^D

        Parameters
        ----------
        X : array_like, shape (N, in_features) or (in_features,)
            Floats of the model's dtype; integers are converted to it.

        Returns
        -------
        logits : ndarray, shape (N, out_features) or (out_features,)
        cache : MLPCache

        Raises
        ------
        TypeError
            ``X`` of another float dtype (PyTorch's rule) or not numbers.
        ValueError
            ``X``'s last dimension is not ``in_features``.

        Used in: book/forward.md, book/backprop.md, book/digits.md
        """
        a, unbatched = _check_mlp_input(self, X)  # a^0: a copy of X
        zs, activations_ = [], [a]
        for l, (W, b) in enumerate(zip(self.weights, self.biases), 1):
            z, _ = layers.linear_forward(a, W, b)
            a = z if l == self.n_layers else self._f(z)
            zs.append(z)
            activations_.append(a)
        logits = a[0] if unbatched else a
        return logits, MLPCache(tuple(zs), tuple(activations_), unbatched)

    def backward(self, dlogits, cache):
        r"""Gradients of the loss for every parameter: the delta equations.

        .. math::
            \Delta^D = \frac{\partial L}{\partial Z^D},\quad
            \frac{\partial L}{\partial W^l} = (\Delta^l)^\top A^{l-1},\quad
            \frac{\partial L}{\partial b^l} = \textstyle\sum_n \Delta^l_n,
            \quad \Delta^{l-1} = (\Delta^l W^l) \odot f'(Z^{l-1})

        Parameters
        ----------
        dlogits : array_like, shape of the logits
            :math:`\partial L / \partial Z^D`, the gradient of the loss with
            respect to the logits (the last layer has no activation, so
            this is :math:`\Delta^D`).
        cache : MLPCache
            From the :meth:`forward` call that made the logits.

        Returns
        -------
        grads : list of ndarray
            ``[dW1, db1, ..., dWD, dbD]``, the shapes of ``params``.

        Raises
        ------
        TypeError
            ``cache`` is not an MLPCache; ``dlogits`` of another float dtype.
        ValueError
            ``cache`` from another network; ``dlogits`` not of the logits'
            shape.

        Used in: book/backprop.md, book/digits.md
        """
        delta = _check_mlp_backward(self, dlogits, cache)  # Delta^D
        grads = [None] * len(self.params)
        for l in range(self.n_layers, 0, -1):
            grads[2 * l - 2] = delta.T @ cache.activations[l - 1]
            grads[2 * l - 1] = delta.sum(axis=0)
            if l > 1:
                # one row per example: the row form of
                # ((W^l)^T delta^l) * f'(z^{l-1})
                delta = (delta @ self.params[2 * l - 2]) * self._f_grad(
                    cache.zs[l - 2])
        return grads


def _draw_layer(rng, init, n_in: int, n_out: int):
    """``W`` (n_out, n_in) and ``b`` (n_out,) in float64, by ``init``,
    with the distributions of :mod:`calc_nn.init`:

    * "pytorch": ``U(-1/sqrt(n_in), 1/sqrt(n_in))`` for both, as a new
      ``nn.Linear`` (:func:`~calc_nn.init.torch_default_linear`);
    * "xavier" (Glorot & Bengio 2010): ``N(0, 2 / (n_in + n_out))`` keeps
      the variance of activations and gradients for tanh-like units
      (:func:`~calc_nn.init.xavier_normal`);
    * "he" (He et al. 2015): ``N(0, 2 / n_in)``, for ReLU, which zeroes
      half of its inputs (:func:`~calc_nn.init.kaiming_normal`);
    * a float: that standard deviation for every layer.

    Biases are 0 except for "pytorch".
    """
    if init == "pytorch":
        return init_.torch_default_linear(n_in, n_out, rng=rng)
    if init == "xavier":
        W = init_.xavier_normal(n_in, n_out, rng=rng)
    elif init == "he":
        W = init_.kaiming_normal(n_in, n_out, rng=rng)
    else:
        W = rng.normal(0.0, init, (n_out, n_in))
    return W, np.zeros(n_out)


# ------------------------------------------------------------- data, study

def make_moons(n=200, noise=0.15, seed=0):
    """Two interleaving half circles, as scikit-learn's ``make_moons``.

    Parameters
    ----------
    n : int >= 0
        Number of points (half of them, rounded down, in class 0).
    noise : float in [0, 1e6]
        Standard deviation of the Gaussian noise added to each coordinate.
    seed : int >= 0

    Returns
    -------
    X : ndarray, shape (n, 2)
    y : ndarray of int64, shape (n,), labels 0 and 1

    Used in: book/calculus.md, book/backprop.md
    """
    n, noise, seed = _check_moons(n, noise, seed)
    rng = np.random.default_rng(seed)
    n0 = n // 2
    t0 = np.linspace(0, np.pi, n0)
    t1 = np.linspace(0, np.pi, n - n0)
    X = np.concatenate([np.stack([np.cos(t0), np.sin(t0)], 1),
                        np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], 1)])
    X += noise * rng.standard_normal(X.shape)
    y = np.concatenate([np.zeros(n0, np.int64), np.ones(n - n0, np.int64)])
    return X, y


def worked_example():
    r"""The 2-2-2 network that the forward and backpropagation chapters
    push through by hand: ``(model, x, y)``.

    A sigmoid hidden layer and logits out,

    .. math:: W^1 = \begin{pmatrix} 0.5 & -1 \\ 1 & 0.5 \end{pmatrix},\
              b^1 = (0, -0.5),\
              W^2 = \begin{pmatrix} 1 & -1 \\ 0.5 & 2 \end{pmatrix},\
              b^2 = (0.5, -1),

    the input ``x = (1, 0.5)`` and its class ``y = 0``.

    Returns
    -------
    model : MLP, layer sizes [2, 2, 2], activation "sigmoid", float64
    x : ndarray, shape (2,)
    y : int

    Used in: book/forward.md, book/backprop.md
    """
    model = MLP([2, 2, 2], "sigmoid")
    for param, value in zip(model.params, (
            [[0.5, -1.0], [1.0, 0.5]], [0.0, -0.5],
            [[1.0, -1.0], [0.5, 2.0]], [0.5, -1.0])):
        param[...] = value
    return model, np.array([1.0, 0.5]), 0


class LayerStatistics(NamedTuple):
    r"""What :func:`layer_statistics` measures, layer by layer.

    ``grad_norms[l - 1]`` is :math:`\lVert \partial L/\partial W^l
    \rVert` and ``error_norms[l - 1]`` is :math:`\lVert \Delta^l \rVert`
    for ``l = 1, ..., depth + 1`` (the output layer last); ``act_std[l - 1]``
    is the standard deviation of the activations of hidden layer ``l``.

    Used in: book/backprop.md
    """

    grad_norms: np.ndarray
    error_norms: np.ndarray
    act_std: np.ndarray


def layer_statistics(activation, init, depth, width=64, n=64, seed=0):
    r"""Per-layer gradient norms, error norms and activation spreads of a
    deep MLP at initialisation.

    The MLP has ``depth`` hidden layers of ``width`` neurons and 10 outputs;
    the data are ``n`` standard normal inputs with random labels, and the
    loss the mean cross-entropy. The errors follow the recursion
    :math:`\Delta^l = (\Delta^{l+1} W^{l+1}) \odot f'(Z^l)`. The result
    is computed once per argument list and kept (its arrays are
    read-only): a figure and the chapter's text read the same numbers.

    Parameters
    ----------
    activation : str
        A name of :func:`calc_nn.activations.get`.
    init : {"pytorch", "xavier", "he"} or float in (0, 1e6]
    depth : int >= 0
    width, n : int >= 1
    seed : int >= 0
        Seed of the data and of the weights.

    Returns
    -------
    LayerStatistics
        ``grad_norms`` and ``error_norms`` of shape (depth + 1,),
        ``act_std`` of shape (depth,).

    Used in: book/backprop.md
    """
    depth, width, n, seed = _check_study(depth, width, n, seed)
    _check_mlp([width, 10], activation, seed, init, np.float64)
    return _layer_statistics(activation, init, depth, width, n, seed)


@functools.lru_cache(maxsize=128)
def _layer_statistics(activation, init, depth, width, n, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, width))
    y = rng.integers(0, 10, n)
    model = MLP([width] * (depth + 1) + [10], activation, seed=seed,
                init=init)
    logits, cache = model.forward(X)
    errors = [losses.cross_entropy_grad(logits, y)]            # Delta^D
    for l in range(model.n_layers - 1, 0, -1):                 # Delta^l
        errors.insert(0, (errors[0] @ model.weights[l])
                      * model._f_grad(cache.zs[l - 1]))
    # dL/dW^l = (Delta^l)^T A^{l-1}, as MLP.backward computes it
    stats = LayerStatistics(
        np.array([np.linalg.norm(delta.T @ a)
                  for delta, a in zip(errors, cache.activations)]),
        np.array([np.linalg.norm(delta) for delta in errors]),
        np.array([a.std() for a in cache.activations[1:-1]]))
    for array in stats:
        array.flags.writeable = False
    return stats


def layer_gradient_norms(activation, init, depth, width=64, n=64, seed=0):
    r"""Per-layer gradient norms and activation spreads of a deep MLP at
    initialisation: :func:`layer_statistics` without the errors.

    Returns
    -------
    grad_norms : ndarray, shape (depth + 1,)
        :math:`\lVert \partial L/\partial W^l \rVert` for every layer.
    act_std : ndarray, shape (depth,)
        The standard deviation of each hidden layer's activations.

    Used in: book/backprop.md
    """
    stats = layer_statistics(activation, init, depth, width, n, seed)
    return stats.grad_norms.copy(), stats.act_std.copy()


# ------------------------------------------------------------------ checks

def _check_dtype(dtype) -> np.dtype:
    """The model's dtype: float16, float32 or float64 (TypeError)."""
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        dtype = None
    if dtype is None or dtype not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be one of np.float16, np.float32, "
                        f"np.float64 (a model's weights are floats), got "
                        f"{dtype!r}")
    return dtype


def _check_mlp(layer_sizes, activation, seed, init, dtype):
    if isinstance(layer_sizes, (str, bytes)) or not hasattr(
            layer_sizes, "__len__"):
        raise TypeError(f"layer_sizes must be a list of ints, got "
                        f"{type(layer_sizes).__name__}")
    sizes = [check_int(n, f"layer_sizes[{i}]")
             for i, n in enumerate(layer_sizes)]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError("layer_sizes must be a sequence of at least two "
                         f"positive ints, got {list(layer_sizes)!r}")
    if not isinstance(activation, str):
        raise TypeError(f"activation must be a name (str), got "
                        f"{type(activation).__name__}")
    activations.get(activation)  # ValueError listing the names
    if isinstance(init, str):
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; expected one of "
                             f"{list(INITS)} or a float > 0")
    else:
        # a standard deviation beyond 1e6 overflows float32 weights
        check_real(init, "init", low=0, low_open=True, high=1e6)
    return sizes, check_int(seed, "seed", low=0), _check_dtype(dtype)


def _check_input(model: Model, X, name: str = "X") -> np.ndarray:
    """``X`` in the model's dtype, after checking that its parameters still
    have their shapes and dtype (a replaced array is named)."""
    for p, pname, shape in zip(model.params, model.param_names,
                               model._shapes):
        if not isinstance(p, np.ndarray) or p.dtype != model.dtype:
            raise TypeError(
                f"parameter {pname} must be an ndarray of dtype "
                f"{model.dtype.name}, got {type(p).__name__} "
                f"{getattr(p, 'dtype', '')}; update parameters in place "
                f"({pname}[...] = new)")
        if p.shape != shape:
            raise ValueError(f"parameter {pname} must have shape {shape}, "
                             f"got {p.shape}")
    return as_float_array(X, name, dtype=model.dtype)


def _check_mlp_input(model: MLP, X):
    X = _check_input(model, X)
    n_in = model.layer_sizes[0]
    if X.ndim not in (1, 2) or X.shape[-1] != n_in:
        raise ValueError(
            f"X has shape {X.shape} but the first layer's W has shape "
            f"{model.weights[0].shape}: X must have shape (N, {n_in}) or "
            f"({n_in},)")
    unbatched = X.ndim == 1
    return np.array(X[None] if unbatched else X), unbatched


def _check_mlp_backward(model: MLP, dlogits, cache):
    if not isinstance(cache, MLPCache):
        raise TypeError(f"cache must be the MLPCache returned by this "
                        f"model's forward, got {type(cache).__name__}")
    sizes = [z.shape[-1] for z in cache.zs]
    if sizes != model.layer_sizes[1:] or \
            cache.zs[0].dtype != model.dtype:
        raise ValueError(
            f"cache comes from another network (layer outputs {sizes}, "
            f"{cache.zs[0].dtype}); this one has {model.layer_sizes[1:]}, "
            f"{model.dtype.name}")
    logits = cache.zs[-1]
    shape = logits.shape[1:] if cache.unbatched else logits.shape
    dlogits = as_float_array(dlogits, "dlogits", dtype=model.dtype)
    if dlogits.shape != shape:
        raise ValueError(f"dlogits has shape {dlogits.shape} but the "
                         f"logits have shape {shape}; they must be equal")
    return dlogits[None] if cache.unbatched else dlogits


def _check_flat(model: Model, theta):
    theta = check_finite(as_float_array(theta, "theta", dtype=model.dtype),
                         "theta")
    if theta.shape != (model.n_parameters,):
        raise ValueError(f"theta has shape {theta.shape} but the network"
                         f" has {model.n_parameters} parameters")
    return theta


def _check_moons(n, noise, seed):
    # noise beyond 1e6 drowns the moons and overflows near the float limit
    return (check_int(n, "n", low=0),
            check_real(noise, "noise", low=0, high=1e6),
            check_int(seed, "seed", low=0))


def _check_study(depth, width, n, seed):
    return (check_int(depth, "depth", low=0),
            check_int(width, "width", low=1), check_int(n, "n", low=1),
            check_int(seed, "seed", low=0))
