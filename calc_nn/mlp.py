r"""A multilayer perceptron written from scratch with the delta equations.

Layer ``l = 1, ..., L`` computes, for a batch ``X`` of shape
``(N, in_features)`` (one example per row, as in PyTorch),

.. math:: z^l = a^{l-1} (W^l)^\top + b^l, \qquad a^l = f(z^l),

with :math:`a^0 = X` and no activation after the last layer: the network
returns the logits :math:`z^L`. :meth:`MLP.backward` implements the NN
document's [nn-calculus-doc] §3.2
delta equations, written for a batch (rows are examples):

.. math::
    \delta^L = \frac{\partial C}{\partial z^L}, \quad
    \delta^l = (\delta^{l+1} W^{l+1}) \odot f'(z^l), \quad
    \frac{\partial C}{\partial W^l} = (\delta^l)^\top a^{l-1}, \quad
    \frac{\partial C}{\partial b^l} = \textstyle\sum_n \delta^l_n .

The module also holds the few helpers the chapters train it with: a softmax
cross-entropy loss with its gradient, two generated 2-D data sets and a
plain gradient-descent loop that records snapshots.
"""

from __future__ import annotations

import numbers

import numpy as np

from calc_nn import activations, losses
from calc_nn._validation import as_float_array

__all__ = [
    "MLP",
    "ACTIVATIONS",
    "INITS",
    "softmax_cross_entropy",
    "make_moons",
    "make_spirals",
    "train",
]

ACTIVATIONS = ("relu", "sigmoid", "tanh")
INITS = ("pytorch", "xavier", "he")


def _init_std(init, fan_in, fan_out):
    """Weights are drawn from N(0, std^2) (or U(-bound, bound) for "pytorch").

    * "xavier" (Glorot & Bengio 2010): var = 2 / (fan_in + fan_out), keeps
      the variance of activations and gradients for tanh/sigmoid-like units;
    * "he" (He et al. 2015): var = 2 / fan_in, for ReLU, which zeroes half
      of its inputs;
    * a float: that standard deviation for every layer.
    """
    if init == "xavier":
        return np.sqrt(2.0 / (fan_in + fan_out))
    if init == "he":
        return np.sqrt(2.0 / fan_in)
    return float(init)


class MLP:
    r"""Fully connected network with one activation for its hidden layers.

    Parameters
    ----------
    layer_sizes : sequence of int, length >= 2
        ``[in_features, hidden_1, ..., out_features]``.
    activation : {"relu", "sigmoid", "tanh"}
        Activation of every hidden layer; the last layer has none.
    seed : int
        Seed of the NumPy generator that draws the weights.
    init : {"pytorch", "xavier", "he"} or float
        "pytorch" (default) draws ``W`` and ``b`` from
        :math:`U(-1/\sqrt{n_{in}}, 1/\sqrt{n_{in}})` as ``nn.Linear`` does;
        "xavier" and "he" draw ``W`` from :math:`N(0, 2/(n_{in}+n_{out}))`
        and :math:`N(0, 2/n_{in})` with zero biases; a float is the standard
        deviation of normal weights (zero biases).
    dtype : numpy dtype, default float64

    Attributes
    ----------
    weights : list of ndarray, shapes (layer_sizes[l+1], layer_sizes[l])
        ``weights[l][j, k]`` is the NN document's :math:`w^{l+1}_{jk}`.
    biases : list of ndarray, shapes (layer_sizes[l+1],)
    zs, activations : lists of ndarray, set by :meth:`forward`
        ``zs[l]`` has shape (N, layer_sizes[l+1]); ``activations[0]`` is the
        input and ``activations[l]`` has shape (N, layer_sizes[l]).
    """

    def __init__(self, layer_sizes, activation="relu", seed=0,
                 init="pytorch", dtype=np.float64):
        sizes = list(layer_sizes)
        if len(sizes) < 2 or not all(
                isinstance(n, numbers.Integral) and not isinstance(n, bool)
                and n >= 1 for n in sizes):
            raise ValueError("layer_sizes must be a sequence of at least two "
                             f"positive ints, got {layer_sizes!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; expected "
                             f"one of {list(ACTIVATIONS)}")
        if isinstance(init, str) and init not in INITS:
            raise ValueError(f"unknown init {init!r}; expected one of "
                             f"{list(INITS)} or a float")
        if not isinstance(init, str) and (
                isinstance(init, bool) or not isinstance(init, numbers.Real)
                or not init > 0):
            raise ValueError(f"init must be one of {list(INITS)} or a "
                             f"float > 0, got {init!r}")
        self.layer_sizes = [int(n) for n in sizes]
        self.activation = activation
        self.init = init
        self._f, self._f_grad = activations.get(activation)
        rng = np.random.default_rng(seed)
        self.weights, self.biases = [], []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            if init == "pytorch":
                bound = 1 / np.sqrt(n_in)
                W = rng.uniform(-bound, bound, (n_out, n_in))
                b = rng.uniform(-bound, bound, n_out)
            else:
                W = rng.normal(0.0, _init_std(init, n_in, n_out),
                               (n_out, n_in))
                b = np.zeros(n_out)
            self.weights.append(W.astype(dtype))
            self.biases.append(b.astype(dtype))
        self.zs = None
        self.activations = None

    # ------------------------------------------------------------ forward

    @property
    def n_parameters(self) -> int:
        """Number of weights and biases."""
        return sum(W.size + b.size for W, b in zip(self.weights, self.biases))

    def forward(self, X):
        r"""Logits of a batch; keeps ``zs`` and ``activations`` for backward.

        .. math:: z^l = a^{l-1} (W^l)^\top + b^l,\quad a^l = f(z^l)

        Parameters
        ----------
        X : array_like, shape (N, in_features) or (in_features,)

        Returns
        -------
        logits : ndarray, shape (N, out_features) or (out_features,)

        Raises
        ------
        ValueError
            If ``X``'s last dimension is not ``in_features``.
        """
        X = as_float_array(X, "X")
        n_in = self.layer_sizes[0]
        if X.ndim not in (1, 2) or X.shape[-1] != n_in:
            raise ValueError(
                f"X has shape {X.shape} but the first layer's W has shape "
                f"{self.weights[0].shape}: X must have shape (N, {n_in}) or "
                f"({n_in},)")
        self._single = X.ndim == 1
        a = X[None, :] if self._single else X
        self.activations, self.zs = [a], []
        last = len(self.weights) - 1
        for l, (W, b) in enumerate(zip(self.weights, self.biases)):
            z = a @ W.T + b
            self.zs.append(z)
            a = z if l == last else self._f(z)
            self.activations.append(a)
        return a[0] if self._single else a

    __call__ = forward

    # ----------------------------------------------------------- backward

    def backward(self, dlogits):
        r"""Gradients of the loss for every weight and bias (delta equations).

        .. math::
            \delta^L = \frac{\partial C}{\partial z^L},\quad
            \delta^l = (\delta^{l+1} W^{l+1}) \odot f'(z^l),\quad
            \frac{\partial C}{\partial W^l} = (\delta^l)^\top a^{l-1},\quad
            \frac{\partial C}{\partial b^l} = \textstyle\sum_n \delta^l_n

        Parameters
        ----------
        dlogits : array_like, shape of the logits
            :math:`\partial C / \partial z^L`, the gradient of the loss with
            respect to the output of the last :meth:`forward` call (the
            last layer has no activation, so this is :math:`\delta^L`).

        Returns
        -------
        dWs : list of ndarray, shapes of ``weights``
        dbs : list of ndarray, shapes of ``biases``

        Raises
        ------
        RuntimeError
            If :meth:`forward` has not been called.
        ValueError
            If ``dlogits`` does not have the shape of the logits.
        """
        if self.zs is None:
            raise RuntimeError("backward() called before forward(): call "
                               "forward(X) first, backward needs its "
                               "stored z and a")
        dlogits = as_float_array(dlogits, "dlogits")
        out = self.activations[-1]
        expected = out[0].shape if self._single else out.shape
        if dlogits.shape != expected:
            raise ValueError(f"dlogits has shape {dlogits.shape} but the "
                             f"logits have shape {expected}; they must be "
                             "equal")
        delta = dlogits[None, :] if self._single else dlogits
        L = len(self.weights)
        dWs, dbs = [None] * L, [None] * L
        for l in range(L - 1, -1, -1):
            # dC/dW^l_jk = sum over the batch of delta^l_j a^{l-1}_k
            dWs[l] = delta.T @ self.activations[l]
            dbs[l] = delta.sum(axis=0)
            if l > 0:
                # delta^{l-1} = (delta^l W^l) * f'(z^{l-1}), one row per
                # example: the row form of ((W^l)^T delta^l) * f'(z^{l-1})
                delta = (delta @ self.weights[l]) * self._f_grad(
                    self.zs[l - 1])
        return dWs, dbs

    # ------------------------------------------------------- flat params

    def get_flat(self) -> np.ndarray:
        """All parameters in one vector, shape (n_parameters,):
        W1, b1, W2, b2, ... each flattened in C order."""
        return np.concatenate([p.ravel() for W, b in zip(
            self.weights, self.biases) for p in (W, b)])

    def set_flat(self, theta) -> None:
        """Inverse of :meth:`get_flat`; ``theta`` shape (n_parameters,)."""
        theta = as_float_array(theta, "theta")
        if theta.shape != (self.n_parameters,):
            raise ValueError(f"theta has shape {theta.shape} but the network"
                             f" has {self.n_parameters} parameters")
        i = 0
        for W, b in zip(self.weights, self.biases):
            for p in (W, b):
                p[...] = theta[i:i + p.size].reshape(p.shape)
                i += p.size


def softmax_cross_entropy(logits, y):
    r"""Mean cross-entropy of softmax probabilities, and its gradient.

    .. math:: C = -\frac{1}{N}\sum_n \log \operatorname{softmax}(z_n)_{y_n},
              \qquad \frac{\partial C}{\partial z_n} =
              \frac{\operatorname{softmax}(z_n) - e_{y_n}}{N}

    Parameters
    ----------
    logits : array_like, shape (N, C)
    y : array_like of int, shape (N,), values in ``0 .. C-1``

    Returns
    -------
    loss : float
    dlogits : ndarray, shape (N, C)

    The loss and its gradient of :mod:`calc_nn.losses` (PyTorch's
    ``cross_entropy`` with ``reduction="mean"``), returned together.
    """
    return (float(losses.cross_entropy(logits, y)),
            losses.cross_entropy_grad(logits, y))


def make_moons(n=200, noise=0.15, seed=0):
    """Two interleaving half circles, as scikit-learn's ``make_moons``.

    Returns
    -------
    X : ndarray, shape (n, 2)
    y : ndarray of int, shape (n,), labels 0 and 1
    """
    rng = np.random.default_rng(seed)
    n0 = n // 2
    t0 = np.linspace(0, np.pi, n0)
    t1 = np.linspace(0, np.pi, n - n0)
    X = np.concatenate([np.stack([np.cos(t0), np.sin(t0)], 1),
                        np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], 1)])
    X += noise * rng.standard_normal(X.shape)
    y = np.concatenate([np.zeros(n0, int), np.ones(n - n0, int)])
    return X, y


def make_spirals(n=300, classes=3, noise=0.2, seed=0):
    """``classes`` interleaved spiral arms (the CS231n toy data set).

    Returns
    -------
    X : ndarray, shape (n, 2)
    y : ndarray of int, shape (n,), labels ``0 .. classes-1``
    """
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    r = np.linspace(0.05, 1, n)
    theta = y * 2 * np.pi / classes + 4 * r + noise * rng.standard_normal(n)
    return np.stack([r * np.sin(theta), r * np.cos(theta)], 1), y


def train(model, X, y, lr=0.5, epochs=200, record_every=10):
    """Full-batch gradient descent on the softmax cross-entropy.

    Parameters
    ----------
    model : MLP
    X : array_like, shape (N, in_features)
    y : array_like of int, shape (N,)
    lr : float > 0
    epochs : int
    record_every : int
        A snapshot is kept before the first step and every
        ``record_every`` epochs.

    Returns
    -------
    list of dict with keys ``epoch``, ``loss``, ``accuracy``, ``activation``,
    ``weights``, ``biases`` (copies) and ``grad_norms`` (the Frobenius norm
    of each layer's ``dW``, shape (n_layers,)).
    """
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    history = []
    for epoch in range(epochs + 1):
        logits = model.forward(X)
        loss, dlogits = softmax_cross_entropy(logits, y)
        dWs, dbs = model.backward(dlogits)
        if epoch % record_every == 0:
            history.append(dict(
                epoch=epoch, loss=loss, activation=model.activation,
                accuracy=float(np.mean(logits.argmax(1) == y)),
                weights=[W.copy() for W in model.weights],
                biases=[b.copy() for b in model.biases],
                grad_norms=np.array([np.linalg.norm(dW) for dW in dWs])))
        if epoch == epochs:
            break
        for p, g in zip(model.weights + model.biases, dWs + dbs):
            p -= lr * g
    return history
