r"""Training loops for the digits chapter, and a small CNN from scratch.

* :class:`SmallCNN`: two convolution-ReLU-max-pool blocks and one fully
  connected layer, built from :mod:`calc_nn.conv` and :mod:`calc_nn.layers`,
  with the same layout and initialisation rule as its PyTorch twin
  (``nn.Conv2d`` / ``nn.Linear``: weights (out, in, ...), uniform in
  :math:`\pm 1/\sqrt{\text{fan\_in}}`).
* :func:`fit_calc_nn`: mini-batch training of any model with ``params``,
  ``forward(X)`` and ``gradients(dlogits)`` (a :class:`SmallCNN`, or a
  :class:`calc_nn.mlp.MLP` through :class:`MLPModel`) with
  :func:`calc_nn.losses.cross_entropy` and a step function of
  :mod:`calc_nn.optim` (default :func:`calc_nn.optim.adam_step`).
* :func:`fit_torch`: the same loop for a ``torch.nn.Module`` and a
  ``torch.optim`` optimizer.

Both loops shuffle with the same seeded generator, so the two libraries see
the same mini-batches in the same order, and both return a history with
the same keys (loss and accuracy per epoch, seconds per epoch). Everything
stays float32. This module imports no plotting library; torch is imported
only inside :func:`fit_torch` and :func:`predict_torch`.
"""

from __future__ import annotations

import io
import os
import sys
import time

import numpy as np

from calc_nn import conv, layers, losses, optim
from calc_nn.mlp import MLP

__all__ = ["SmallCNN", "MLPModel", "minibatches", "fit_calc_nn",
           "fit_torch", "predict", "predict_torch", "progress",
           "most_confident_mistakes"]


def progress(iterable, desc: str, total=None, enabled: bool = True):
    """A one-line tqdm progress bar on stdout (ASCII, 76 columns).

    When the book is built (``CALC_NN_STATIC=1``) the bar is drawn into a
    buffer instead, and :func:`_finish` prints its final state once: a
    static page cannot animate, and every intermediate state would be a
    line of output.
    """
    from tqdm import tqdm

    static = os.environ.get("CALC_NN_STATIC") == "1"
    bar = tqdm(iterable, desc=desc, total=total,
               file=io.StringIO() if static else sys.stdout, ascii=True,
               ncols=76, disable=not enabled, mininterval=0.5)
    bar.calc_nn_print_at_end = static and enabled
    return bar


def _finish(bar):
    bar.close()
    if getattr(bar, "calc_nn_print_at_end", False):
        print(bar)


def minibatches(n: int, batch_size: int, rng: np.random.Generator):
    """Index arrays of a shuffled pass over ``range(n)``.

    Yields arrays of shape (batch_size,) (the last one may be shorter).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = rng.permutation(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


# ------------------------------------------------------------ the models

class MLPModel:
    """Adapter giving :class:`calc_nn.mlp.MLP` the ``params`` /
    ``gradients`` interface of :func:`fit_calc_nn`.

    Parameters
    ----------
    mlp : MLP
        Its inputs are images flattened to (N, 784).
    """

    def __init__(self, mlp: MLP):
        self.mlp = mlp
        self.params = [*mlp.weights, *mlp.biases]

    def forward(self, X):
        """Logits (N, 10) of images (N, 28, 28) or (N, 784)."""
        X = np.asarray(X)
        return self.mlp.forward(X.reshape(len(X), -1))

    def gradients(self, dlogits):
        """Gradients in the order of ``params``."""
        dWs, dbs = self.mlp.backward(dlogits)
        return [*dWs, *dbs]


class SmallCNN:
    r"""Two conv-ReLU-max-pool blocks and a linear layer, in NumPy.

    For input images (N, 1, 28, 28) and ``channels=(c1, c2)``, 3x3 kernels
    with padding 1, and 2x2 max pooling:

    .. math::
        (N,1,28,28) \xrightarrow{\text{conv, ReLU}} (N,c_1,28,28)
        \xrightarrow{\text{pool}} (N,c_1,14,14)
        \xrightarrow{\text{conv, ReLU}} (N,c_2,14,14)
        \xrightarrow{\text{pool}} (N,c_2,7,7)
        \xrightarrow{\text{flatten, linear}} (N,10)

    Parameters
    ----------
    channels : (int, int)
        Filters of the two convolutions.
    seed : int
        Seed of the generator that draws the weights (PyTorch's rule:
        uniform in :math:`\pm 1/\sqrt{\text{fan\_in}}`).
    dtype : numpy dtype, default float32

    Attributes
    ----------
    params : list of ndarray
        ``[w1 (c1,1,3,3), b1 (c1,), w2 (c2,c1,3,3), b2 (c2,),
        W3 (10, c2*49), b3 (10,)]``, the order of
        ``torch.nn.Module.parameters()`` for the twin network.
    """

    def __init__(self, channels=(8, 16), seed: int = 0, dtype=np.float32):
        c1, c2 = (int(c) for c in channels)
        if c1 < 1 or c2 < 1:
            raise ValueError(f"channels must be two ints >= 1, got "
                             f"{channels!r}")
        self.channels = (c1, c2)
        rng = np.random.default_rng(seed)

        def uniform(shape, fan_in):
            bound = 1 / np.sqrt(fan_in)
            return rng.uniform(-bound, bound, shape).astype(dtype)

        self.params = [
            uniform((c1, 1, 3, 3), 9), uniform((c1,), 9),
            uniform((c2, c1, 3, 3), 9 * c1), uniform((c2,), 9 * c1),
            uniform((10, c2 * 49), c2 * 49), uniform((10,), c2 * 49),
        ]
        self._caches = None

    def forward(self, X, keep: bool = False):
        """Logits (N, 10) of images (N, 28, 28) or (N, 1, 28, 28).

        With ``keep=True`` also returns the dict of intermediate maps
        ``conv1, pool1, conv2, pool2`` (after ReLU / pooling).
        """
        X = np.asarray(X)
        if X.ndim == 3:
            X = X[:, None]
        if X.ndim != 4 or X.shape[1:] != (1, 28, 28):
            raise ValueError(f"X must have shape (N, 28, 28) or "
                             f"(N, 1, 28, 28), got {X.shape}")
        w1, b1, w2, b2, W3, b3 = self.params
        z1, c1 = conv.conv2d_forward(X, w1, b1, padding=1)
        a1 = np.maximum(z1, 0)
        p1, cp1 = conv.maxpool2d_forward(a1, 2)
        z2, c2 = conv.conv2d_forward(p1, w2, b2, padding=1)
        a2 = np.maximum(z2, 0)
        p2, cp2 = conv.maxpool2d_forward(a2, 2)
        logits, c3 = layers.linear_forward(p2.reshape(len(X), -1), W3, b3)
        self._caches = (c1, z1, cp1, c2, z2, cp2, c3, p2.shape)
        if keep:
            return logits, dict(conv1=a1, pool1=p1, conv2=a2, pool2=p2)
        return logits

    def gradients(self, dlogits):
        """Gradients of the loss for ``params`` (same order and shapes),
        from ``dlogits`` (N, 10) = dL/dlogits of the last forward call."""
        if self._caches is None:
            raise RuntimeError("gradients() called before forward()")
        c1, z1, cp1, c2, z2, cp2, c3, p2_shape = self._caches
        dflat, dW3, db3 = layers.linear_backward(dlogits, c3)
        da2 = conv.maxpool2d_backward(dflat.reshape(p2_shape), cp2)
        dz2 = da2 * (z2 > 0)
        dp1, dw2, db2 = conv.conv2d_backward(dz2, c2)
        da1 = conv.maxpool2d_backward(dp1, cp1)
        dz1 = da1 * (z1 > 0)
        _, dw1, db1 = conv.conv2d_backward(dz1, c1)
        return [dw1, db1, dw2, db2, dW3, db3]


# ----------------------------------------------------------- the loops

def predict(model, X, batch_size: int = 1000):
    """Logits (N, 10) of a calc_nn model, computed in batches."""
    return np.concatenate([model.forward(X[i:i + batch_size])
                           for i in range(0, len(X), batch_size)])


def _history():
    return dict(epoch=[], loss=[], train_accuracy=[], val_accuracy=[],
                seconds=[])


def fit_calc_nn(model, X, y, X_val, y_val, *, epochs: int,
                batch_size: int = 128, step=optim.adam_step,
                seed: int = 0, desc: str = "calc_nn", show: bool = True,
                **hyper):
    r"""Train a calc_nn model with mini-batches; returns its history.

    Each step: logits = forward(X_b); :math:`L` = cross_entropy(logits,
    y_b) (mean over the batch); :math:`\partial L/\partial z` =
    cross_entropy_grad; gradients by backpropagation; every parameter
    updated by ``step`` (``theta, state = step(theta, grad, state,
    **hyper)``).

    Parameters
    ----------
    model : object with ``params`` (list of ndarray), ``forward(X)`` and
        ``gradients(dlogits)``
    X : ndarray, shape (N, 28, 28), float32
    y : ndarray of int, shape (N,)
    X_val, y_val : validation images and labels, same layout
    epochs : int >= 1
    batch_size : int
    step : a step function of :mod:`calc_nn.optim`
    seed : int
        Seed of the shuffling (same as :func:`fit_torch`).
    desc, show : progress bar label, and whether to show it
    **hyper : the step's hyperparameters (``lr``, ``betas``, ...)

    Returns
    -------
    dict of lists, one entry per epoch: ``epoch``, ``loss`` (mean training
    loss over the epoch's batches), ``train_accuracy`` (on the batches, as
    they were seen), ``val_accuracy``, ``seconds`` (training time of the
    epoch, evaluation excluded)

    Raises
    ------
    FloatingPointError
        If the logits stop being finite (training diverged); the message
        names the epoch, the step and the hyperparameters.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    rng = np.random.default_rng(seed)
    states = [None] * len(model.params)
    history = _history()
    bar = progress(range(1, epochs + 1), desc, enabled=show)
    for epoch in bar:
        t0, total, correct = time.perf_counter(), 0.0, 0
        for k, idx in enumerate(minibatches(len(X), batch_size, rng)):
            logits = model.forward(X[idx])
            if not np.all(np.isfinite(logits)):
                raise FloatingPointError(
                    f"{desc}: training diverged at epoch {epoch}, step "
                    f"{k + 1}: the logits are no longer finite (too large "
                    f"a learning rate? {hyper})")
            total += float(losses.cross_entropy(logits, y[idx])) * len(idx)
            correct += int(np.sum(logits.argmax(1) == y[idx]))
            grads = model.gradients(losses.cross_entropy_grad(logits,
                                                              y[idx]))
            for k, (p, g) in enumerate(zip(model.params, grads)):
                p[...], states[k] = step(p, g, states[k], **hyper)
        seconds = time.perf_counter() - t0
        val = float(np.mean(predict(model, X_val).argmax(1) == y_val))
        _record(history, epoch, total / len(X), correct / len(X), val,
                seconds)
        bar.set_postfix_str(f"loss {total / len(X):.3f}, val {val:.3f}")
    _finish(bar)
    return history


def _record(history, epoch, loss, train_acc, val_acc, seconds):
    for key, value in zip(history, (epoch, loss, train_acc, val_acc,
                                    seconds)):
        history[key].append(value)


def predict_torch(net, X, batch_size: int = 1000):
    """Logits (N, 10) of a torch module, as a NumPy array."""
    import torch

    net.eval()
    with torch.no_grad():
        out = [net(torch.from_numpy(np.ascontiguousarray(
            X[i:i + batch_size]))).numpy()
            for i in range(0, len(X), batch_size)]
    return np.concatenate(out)


def fit_torch(net, optimizer, X, y, X_val, y_val, *, epochs: int,
              batch_size: int = 128, seed: int = 0, desc: str = "torch",
              show: bool = True):
    """The loop of :func:`fit_calc_nn` in PyTorch (same batches, same
    history). ``F.cross_entropy`` takes the logits and the class indices.
    """
    import torch
    import torch.nn.functional as F

    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    rng = np.random.default_rng(seed)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    history = _history()
    bar = progress(range(1, epochs + 1), desc, enabled=show)
    for epoch in bar:
        net.train()
        t0, total, correct = time.perf_counter(), 0.0, 0
        for idx in minibatches(len(X), batch_size, rng):
            idx = torch.from_numpy(idx)
            logits = net(Xt[idx])
            loss = F.cross_entropy(logits, yt[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
            correct += int((logits.argmax(1) == yt[idx]).sum())
        seconds = time.perf_counter() - t0
        val = float(np.mean(predict_torch(net, X_val).argmax(1) == y_val))
        _record(history, epoch, total / len(X), correct / len(X), val,
                seconds)
        bar.set_postfix_str(f"loss {total / len(X):.3f}, val {val:.3f}")
    _finish(bar)
    return history


def most_confident_mistakes(probs, y, k: int = 12):
    """Indices of the ``k`` misclassified examples predicted with the
    highest probability, most confident first.

    Parameters
    ----------
    probs : array_like, shape (N, C)
        Predicted class probabilities (softmax of the logits).
    y : array_like of int, shape (N,)
        True labels.
    k : int

    Returns
    -------
    ndarray of int, shape (min(k, number of mistakes),)
    """
    probs, y = np.asarray(probs), np.asarray(y)
    if probs.ndim != 2 or y.shape != probs.shape[:1]:
        raise ValueError(f"probs must be (N, C) and y (N,), got "
                         f"{probs.shape} and {y.shape}")
    pred = probs.argmax(1)
    wrong = np.flatnonzero(pred != y)
    confidence = probs[wrong, pred[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")[:k]]
