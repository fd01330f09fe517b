r"""Training loops, and a small CNN from scratch, for the digits chapter.

* :class:`SmallCNN`: two convolution-ReLU-max-pool blocks and one fully
  connected layer, chained from the layer pairs of :mod:`calc_nn.conv` and
  :mod:`calc_nn.layers`, with the layout and initialisation of its PyTorch
  twin. Like :class:`calc_nn.mlp.MLP` it follows the model protocol of
  :mod:`calc_nn.mlp`: ``params``, ``forward(X) -> (logits, cache)``,
  ``backward(dlogits, cache) -> grads`` in the order of ``params``.
* :func:`fit_calc_nn`: mini-batch training of any such model with
  :func:`calc_nn.losses.cross_entropy` and a step function of
  :mod:`calc_nn.optim` (default :func:`calc_nn.optim.adam_step`).
* :func:`fit_torch`: the same loop for a ``torch.nn.Module`` and a
  ``torch.optim`` optimizer.

Both loops check their data and settings before the first step, shuffle
with the same seeded generator (the two libraries see the same
mini-batches in the same order), stop with an error naming the step when
the logits stop being finite, and share their bookkeeping
(:func:`_run_epochs`): one history format. torch is imported only inside
:func:`fit_torch` and :func:`predict_torch`, tqdm only to draw a progress
bar.
"""

from __future__ import annotations

import contextlib
import copy
import io
import numbers
import os
import sys
import time
from typing import NamedTuple

import numpy as np

from calc_nn import conv, layers, losses, optim
from calc_nn._validation import (
    as_float_array,
    check_callable,
    check_finite,
    check_int,
    check_real,
    check_rng,
)
from calc_nn.mlp import Model, _check_dtype, _check_input

__all__ = ["SmallCNN", "CNNCache", "minibatches", "fit_calc_nn",
           "fit_torch", "predict", "predict_torch",
           "most_confident_mistakes", "mean_and_se"]


# ------------------------------------------------------------ the model

class CNNCache(NamedTuple):
    """What :meth:`SmallCNN.forward` keeps for :meth:`SmallCNN.backward`.

    ``maps``: the feature maps ``"conv1"`` (N, c1, 28, 28) and ``"conv2"``
    (N, c2, 14, 14) after ReLU, ``"pool1"`` (N, c1, 14, 14) and
    ``"pool2"`` (N, c2, 7, 7) after pooling; ``layers``: the caches of the
    layer pairs, in the order of the forward pass.

    Used in: book/digits.md
    """

    maps: dict
    layers: tuple


class SmallCNN(Model):
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
    channels : (int, int), each >= 1
        Filters of the two convolutions.
    seed : int >= 0
        Seed of the generator that draws the weights (PyTorch's rule:
        uniform in :math:`\pm 1/\sqrt{\text{fan\_in}}`).
    dtype : {np.float32, np.float64, np.float16}

    Attributes
    ----------
    params : list of ndarray
        ``[W1 (c1,1,3,3), b1 (c1,), W2 (c2,c1,3,3), b2 (c2,),
        W3 (10, c2*49), b3 (10,)]``, the order of
        ``torch.nn.Module.parameters()`` for the twin network.

    Used in: book/digits.md
    """

    def __init__(self, channels=(8, 16), seed=0, dtype=np.float32):
        (c1, c2), seed, self.dtype = _check_cnn(channels, seed, dtype)
        self.channels = (c1, c2)
        rng = np.random.default_rng(seed)
        self.params = []
        for shape, fan_in in [((c1, 1, 3, 3), 9), ((c1,), 9),
                              ((c2, c1, 3, 3), 9 * c1), ((c2,), 9 * c1),
                              ((10, c2 * 49), c2 * 49), ((10,), c2 * 49)]:
            bound = 1 / np.sqrt(fan_in)
            self.params.append(
                rng.uniform(-bound, bound, shape).astype(self.dtype))
        self.param_names = ["W1", "b1", "W2", "b2", "W3", "b3"]
        self._shapes = tuple(p.shape for p in self.params)

    def __repr__(self):
        return f"SmallCNN({self.channels}, dtype={self.dtype.name})"

    def forward(self, X):
        """Logits of a batch of images, and the cache :meth:`backward` needs.

        Parameters
        ----------
        X : array_like, shape (N, 28, 28) or (N, 1, 28, 28)
            Floats of the model's dtype; integers (raw pixels) are converted
            to it, unscaled.

        Returns
        -------
        logits : ndarray, shape (N, 10)
        cache : CNNCache
            Its ``maps`` are the feature maps, for display.

        Raises
        ------
        TypeError
            ``X`` of another float dtype (PyTorch's rule) or not numbers.
        ValueError
            ``X`` of another shape.

        Used in: book/digits.md
        """
        X = _check_images(self, X)  # (N, 1, 28, 28), a copy
        W1, b1, W2, b2, W3, b3 = self.params
        z1, conv1 = conv.conv2d_forward(X, W1, b1, padding=1)
        a1, relu1 = layers.relu_forward(z1)
        p1, pool1 = conv.maxpool2d_forward(a1, 2)
        z2, conv2 = conv.conv2d_forward(p1, W2, b2, padding=1)
        a2, relu2 = layers.relu_forward(z2)
        p2, pool2 = conv.maxpool2d_forward(a2, 2)
        flat = p2.reshape(len(X), W3.shape[1])  # (N, c2 * 7 * 7)
        logits, fc = layers.linear_forward(flat, W3, b3)
        maps = dict(conv1=a1, pool1=p1, conv2=a2, pool2=p2)
        return logits, CNNCache(
            maps, (conv1, relu1, pool1, conv2, relu2, pool2, fc))

    def backward(self, dlogits, cache):
        """Gradients of the loss for every parameter: the backward passes
        of the layers, in reverse order.

        Parameters
        ----------
        dlogits : array_like, shape (N, 10)
            The gradient of the loss with respect to the logits.
        cache : CNNCache
            From the :meth:`forward` call that made the logits.

        Returns
        -------
        grads : list of ndarray
            ``[dW1, db1, dW2, db2, dW3, db3]``, the shapes of ``params``.

        Raises
        ------
        TypeError
            ``cache`` is not a CNNCache; ``dlogits`` of another float dtype.
        ValueError
            ``cache`` from another network; ``dlogits`` of another shape.

        Used in: book/digits.md
        """
        dlogits = _check_cnn_backward(self, dlogits, cache)
        conv1, relu1, pool1, conv2, relu2, pool2, fc = cache.layers
        dflat, dW3, db3 = layers.linear_backward(dlogits, fc)
        da2 = conv.maxpool2d_backward(
            dflat.reshape(cache.maps["pool2"].shape), pool2)
        dp1, dW2, db2 = conv.conv2d_backward(
            layers.relu_backward(da2, relu2), conv2)
        da1 = conv.maxpool2d_backward(dp1, pool1)
        _, dW1, db1 = conv.conv2d_backward(
            layers.relu_backward(da1, relu1), conv1)
        return [dW1, db1, dW2, db2, dW3, db3]


# ----------------------------------------------------------- the loops

def minibatches(n, batch_size, rng):
    """Index arrays of one shuffled pass over ``range(n)``.

    Parameters
    ----------
    n : int >= 0
    batch_size : int >= 1
    rng : numpy.random.Generator

    Returns
    -------
    iterator of ndarray of int, shape (batch_size,)
        The last one may be shorter; every index appears once.

    Used in: book/digits.md
    """
    n, batch_size, rng = _check_minibatches(n, batch_size, rng)
    order = rng.permutation(n)
    return (order[i:i + batch_size] for i in range(0, n, batch_size))


def predict(model, X, batch_size=1000):
    """Logits of a calc_nn model, ``batch_size`` examples at a time.

    Parameters
    ----------
    model : a calc_nn model (:class:`calc_nn.mlp.MLP`, :class:`SmallCNN`)
    X : array_like, shape (N, ...) as ``model`` takes it
    batch_size : int >= 1

    Returns
    -------
    logits : ndarray, shape (N, C)

    Used in: book/digits.md
    """
    model, X, batch_size = _check_predict(model, X, batch_size)
    return _in_batches(model, X, batch_size)


def fit_calc_nn(model, X, y, X_val=None, y_val=None, *, epochs,
                batch_size=128, step=optim.adam_step, seed=0,
                lr_schedule=None, snapshot_every=None, desc="calc_nn",
                show=True, **hyper):
    r"""Train a calc_nn model with mini-batches; returns its history.

    Each step: ``logits, cache = model.forward(X_b)``; :math:`L` =
    ``cross_entropy(logits, y_b)`` (mean over the batch);
    :math:`\partial L/\partial z` = ``cross_entropy_grad``; the gradients
    by ``model.backward``; every parameter updated by ``step`` (``theta,
    state = step(theta, grad, state, **hyper)``), with ``lr =
    lr_schedule(t)`` before step :math:`t` if a schedule is given.

    Parameters
    ----------
    model : a calc_nn model (:class:`calc_nn.mlp.MLP`, :class:`SmallCNN`)
    X : array_like, shape (N, ...) as ``model`` takes it, finite
    y : array_like of int, shape (N,), class indices
    X_val, y_val : optional validation examples and labels, the same
        layout; both or neither
    epochs : int >= 1
    batch_size : int >= 1, or None for the whole set in one batch
    step : a step function of :mod:`calc_nn.optim`
    seed : int >= 0
        Seed of the shuffling (the same batches as :func:`fit_torch`).
    lr_schedule : callable, optional
        ``t -> lr``, the learning rate of step ``t`` (0, 1, ... counted
        over all epochs), e.g. a ``functools.partial`` of
        :func:`calc_nn.optim.cosine_annealing_lr`; it replaces ``lr``.
    snapshot_every : int >= 1, optional
        Also keep a snapshot of the model before training and after every
        ``snapshot_every`` epochs.
    desc, show : the progress bar's label, and whether to draw it
    **hyper : the step's hyperparameters (``lr``, ``betas``, ...)

    Returns
    -------
    history : dict of lists
        One entry per epoch: ``epoch``, ``loss`` (mean training loss of
        the epoch's batches), ``train_accuracy`` (on the batches, as they
        were seen), ``val_loss`` and ``val_accuracy`` (mean cross-entropy
        and accuracy on the validation set after the epoch; only with
        one), ``seconds`` (training time of the epoch). ``step_loss``: the
        batch loss of every step (before the step), over all epochs. With
        ``snapshot_every`` also ``snapshots``, a list of dicts with
        ``epoch``, ``loss`` and ``accuracy`` on the whole of ``X``,
        ``grad_norms`` (parameter name -> norm of its gradient) and
        ``model`` (a copy).

    Raises
    ------
    TypeError, ValueError
        Before the first step, for a bad argument (named): data that do not
        fit the model, labels out of range, an unknown hyperparameter.
    FloatingPointError
        If the logits stop being finite (training diverged); the message
        names the epoch, the step and the hyperparameters.

    Used in: book/calculus.md, book/backprop.md, book/digits.md
    """
    X, y, X_val, y_val = _check_fit_data(model, X, y, X_val, y_val)
    epochs, batch_size, seed = _check_loop(epochs, batch_size, seed, len(X))
    lr_at = _check_schedule(lr_schedule)
    if lr_at is not None:
        hyper["lr"] = lr_at(0)  # the step's dry run below needs a rate
    snapshot_every = _check_step(model, step, snapshot_every, hyper)
    rng = np.random.default_rng(seed)
    states = [None] * len(model.params)
    snapshots, step_loss = [], []
    t = 0  # steps taken

    def train_epoch(epoch):
        nonlocal t
        total, correct = 0.0, 0
        for k, idx in enumerate(minibatches(len(X), batch_size, rng), 1):
            if lr_at is not None:
                hyper["lr"] = lr_at(t)
            logits, cache = model.forward(X[idx])
            _stop_if_diverged(np.all(np.isfinite(logits)), desc, epoch, k,
                              hyper)
            step_loss.append(float(losses.cross_entropy(logits, y[idx])))
            total += step_loss[-1] * len(idx)
            correct += int(np.sum(logits.argmax(1) == y[idx]))
            grads = model.backward(
                losses.cross_entropy_grad(logits, y[idx]), cache)
            for i, (p, g) in enumerate(zip(model.params, grads)):
                p[...], states[i] = step(p, g, states[i], **hyper)
            t += 1
        return total / len(X), correct / len(X)

    def snapshot(epoch):
        if snapshot_every and epoch % snapshot_every == 0:
            snapshots.append(_snapshot(model, X, y, epoch))

    validate = None if X_val is None else (
        lambda: _scores(predict(model, X_val), y_val))
    snapshot(0)
    history = _run_epochs(train_epoch, validate, epochs, desc, show,
                          after_epoch=snapshot)
    history["step_loss"] = step_loss
    if snapshot_every:
        history["snapshots"] = snapshots
    return history


def predict_torch(net, X, batch_size=1000):
    """:func:`predict` for a ``torch.nn.Module`` ``net``, in evaluation
    mode: its logits (N, C) as a NumPy array. ``X`` holds floats of the
    net's dtype; integers are converted to it.

    Used in: book/digits.md
    """
    import torch

    net, X, batch_size = _check_predict_torch(net, X, batch_size)
    net.eval()
    with torch.no_grad(), _named_torch_errors(X):
        return _in_batches(lambda Xb: net(torch.from_numpy(Xb)).numpy(), X,
                           batch_size)


def fit_torch(net, optimizer, X, y, X_val=None, y_val=None, *, epochs,
              batch_size=128, seed=0, lr_schedule=None, desc="torch",
              show=True):
    """The loop of :func:`fit_calc_nn` in PyTorch: the same checks, the
    same batches, the same history (without snapshots).
    ``F.cross_entropy`` takes the logits and the class indices; the net is
    in training mode during the epoch (dropout, batch statistics) and in
    evaluation mode for the validation.

    Parameters
    ----------
    net : torch.nn.Module
    optimizer : torch.optim.Optimizer over ``net``'s parameters
    X, y, X_val, y_val, epochs, batch_size, seed, lr_schedule, desc, show
        As :func:`fit_calc_nn`; ``lr_schedule(t)`` is set as the ``lr`` of
        every parameter group before step ``t``.

    Returns
    -------
    history : dict of lists, as :func:`fit_calc_nn`

    Used in: book/digits.md
    """
    import torch
    import torch.nn.functional as F

    X, y, X_val, y_val = _check_fit_torch(net, optimizer, X, y, X_val,
                                          y_val)
    epochs, batch_size, seed = _check_loop(epochs, batch_size, seed, len(X))
    lr_at = _check_schedule(lr_schedule)
    rng = np.random.default_rng(seed)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    step_loss = []
    t = 0  # steps taken

    def train_epoch(epoch):
        nonlocal t
        net.train()
        total, correct = 0.0, 0
        for k, idx in enumerate(minibatches(len(X), batch_size, rng), 1):
            if lr_at is not None:
                for group in optimizer.param_groups:
                    group["lr"] = lr_at(t)
            idx = torch.from_numpy(idx)
            logits = net(Xt[idx])
            _stop_if_diverged(bool(torch.isfinite(logits).all()), desc,
                              epoch, k, optimizer.defaults)
            loss = F.cross_entropy(logits, yt[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            t += 1
            step_loss.append(loss.item())
            total += step_loss[-1] * len(idx)
            correct += int((logits.argmax(1) == yt[idx]).sum())
        return total / len(X), correct / len(X)

    validate = None if X_val is None else (
        lambda: _scores(predict_torch(net, X_val), y_val))
    history = _run_epochs(train_epoch, validate, epochs, desc, show)
    history["step_loss"] = step_loss
    return history


def most_confident_mistakes(probs, y, k=12):
    """Indices of the ``k`` misclassified examples predicted with the
    highest probability, most confident first.

    Parameters
    ----------
    probs : array_like, shape (N, C), finite
        Predicted class probabilities (softmax of the logits).
    y : array_like of int, shape (N,)
        True labels, in ``0 .. C-1``.
    k : int >= 0

    Returns
    -------
    ndarray of int, shape (min(k, number of mistakes),)

    Used in: book/digits.md
    """
    probs, y, k = _check_mistakes(probs, y, k)
    pred = probs.argmax(1)
    wrong = np.flatnonzero(pred != y)
    confidence = probs[wrong, pred[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")[:k]]


def mean_and_se(values):
    r"""The mean of per-example values and its standard error.

    .. math:: \bar v = \frac{1}{N} \sum_{i=1}^{N} v_i, \qquad
              \operatorname{SE}(\bar v) = \frac{1}{N}
              \sqrt{\sum_{i=1}^{N} (v_i - \bar v)^2}

    For 0/1 values (correct or not) :math:`\bar v = \hat p` is an
    accuracy and the SE is the binomial :math:`\sqrt{\hat p (1 - \hat
    p) / N}`; for the differences :math:`v_i = a_i - b_i` of two models
    on the same examples it is the SE of the paired difference.

    Parameters
    ----------
    values : array_like, shape (N,), finite, N >= 1
        Booleans, integers or floats.

    Returns
    -------
    mean, se : float

    Used in: book/digits.md
    """
    v = _check_values(values)
    mean = float(v.mean())
    return mean, float(np.sqrt(np.sum((v - mean) ** 2)) / len(v))


# ------------------------------------------------- shared bookkeeping

def _run_epochs(train_epoch, validate, epochs, desc, show,
                after_epoch=None):
    """The epochs of both loops: time ``train_epoch(epoch) -> (mean loss,
    accuracy)``, then record it with ``validate() -> (loss, accuracy)``
    on the validation set (None without one) and call ``after_epoch``."""
    history = dict(epoch=[], loss=[], train_accuracy=[], val_loss=[],
                   val_accuracy=[], seconds=[])
    if validate is None:
        del history["val_loss"], history["val_accuracy"]
    bar = _progress(range(1, epochs + 1), desc, enabled=show)
    for epoch in bar:
        start = time.perf_counter()
        loss, accuracy = train_epoch(epoch)
        record = dict(epoch=epoch, loss=loss, train_accuracy=accuracy,
                      seconds=time.perf_counter() - start)
        if validate is not None:
            record["val_loss"], record["val_accuracy"] = validate()
        for key in history:
            history[key].append(record[key])
        bar.set_postfix_str(f"loss {loss:.3f}" + (
            f", val {record['val_accuracy']:.3f}" if validate else ""))
        if after_epoch is not None:
            after_epoch(epoch)
    _finish(bar)
    return history


def _in_batches(logits_of, X, batch_size):
    """``logits_of`` applied to ``X`` ``batch_size`` rows at a time (once
    to an empty ``X``, for the shape of its logits), concatenated."""
    return np.concatenate([logits_of(X[i:i + batch_size])
                           for i in range(0, max(len(X), 1), batch_size)])


def _accuracy(logits, y) -> float:
    return float(np.mean(logits.argmax(1) == y))


def _scores(logits, y) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``logits`` for labels ``y``."""
    return float(losses.cross_entropy(logits, y)), _accuracy(logits, y)


def _stop_if_diverged(finite: bool, desc, epoch, step, hyper) -> None:
    if not finite:
        raise FloatingPointError(
            f"{desc}: training diverged at epoch {epoch}, step {step}: the "
            f"logits are no longer finite (too large a learning rate? "
            f"{hyper})")


def _snapshot(model, X, y, epoch) -> dict:
    """Loss, accuracy and gradient norms on all of ``X``, and a copy of
    the model."""
    logits, cache = model.forward(X)
    grads = model.backward(losses.cross_entropy_grad(logits, y), cache)
    return dict(epoch=epoch, loss=float(losses.cross_entropy(logits, y)),
                accuracy=_accuracy(logits, y),
                grad_norms={name: float(np.linalg.norm(g)) for name, g in
                            zip(model.param_names, grads)},
                model=copy.deepcopy(model))


def _progress(iterable, desc: str, enabled: bool = True):
    """A one-line tqdm progress bar on stdout (ASCII, 76 columns).

    When the book is built (``CALC_NN_STATIC=1``) the bar is drawn into a
    buffer instead, and :func:`_finish` prints its final state once: a
    static page cannot animate, and every intermediate state would be a
    line of output.
    """
    from tqdm import tqdm

    static = os.environ.get("CALC_NN_STATIC") == "1"
    bar = tqdm(iterable, desc=desc,
               file=io.StringIO() if static else sys.stdout, ascii=True,
               ncols=76, disable=not enabled, mininterval=0.5)
    bar.calc_nn_print_at_end = static and enabled
    return bar


def _finish(bar):
    bar.close()
    if getattr(bar, "calc_nn_print_at_end", False):
        print(bar)


# ------------------------------------------------------------------ checks

def _check_cnn(channels, seed, dtype):
    if isinstance(channels, (str, bytes)) or not hasattr(
            channels, "__len__") or len(channels) != 2:
        raise ValueError(f"channels must be two ints >= 1, got "
                         f"{channels!r}")
    c1, c2 = (check_int(c, f"channels[{i}]", low=1)
              for i, c in enumerate(channels))
    return (c1, c2), check_int(seed, "seed", low=0), _check_dtype(dtype)


def _check_images(model: SmallCNN, X):
    X = _check_input(model, X)
    if X.ndim == 3:
        X = X[:, None]
    if X.ndim != 4 or X.shape[1:] != (1, 28, 28):
        raise ValueError(f"X must have shape (N, 28, 28) or "
                         f"(N, 1, 28, 28), got {np.shape(X)}")
    return np.array(X)


def _check_cnn_backward(model: SmallCNN, dlogits, cache):
    if not isinstance(cache, CNNCache):
        raise TypeError(f"cache must be the CNNCache returned by this "
                        f"model's forward, got {type(cache).__name__}")
    pool2 = cache.maps["pool2"]
    if pool2.shape[1] != model.channels[1] or pool2.dtype != model.dtype:
        raise ValueError(
            f"cache comes from another network (pool2 maps {pool2.shape}, "
            f"{pool2.dtype}); this one has {model.channels[1]} channels, "
            f"{model.dtype.name}")
    dlogits = as_float_array(dlogits, "dlogits", dtype=model.dtype)
    if dlogits.shape != (len(pool2), 10):
        raise ValueError(f"dlogits has shape {dlogits.shape} but the "
                         f"logits have shape {(len(pool2), 10)}; they must "
                         f"be equal")
    return dlogits


def _check_minibatches(n, batch_size, rng):
    return (check_int(n, "n", low=0),
            check_int(batch_size, "batch_size", low=1), check_rng(rng))


def _check_model(model):
    if not (isinstance(getattr(model, "params", None), list)
            and callable(getattr(model, "forward", None))
            and callable(getattr(model, "backward", None))):
        raise TypeError(
            f"model must follow calc_nn's model protocol (params, "
            f"forward(X) -> (logits, cache), backward(dlogits, cache) -> "
            f"grads), as calc_nn.mlp.MLP and calc_nn.train.SmallCNN do; "
            f"got {type(model).__name__}")
    return model


def _check_examples(X, name):
    X = np.asarray(X)
    if X.ndim == 0:
        raise ValueError(f"{name} must be an array of examples (N, ...), "
                         f"got a scalar")
    return X


def _check_predict(model, X, batch_size):
    return (_check_model(model), _check_examples(X, "X"),
            check_int(batch_size, "batch_size", low=1))


def _check_predict_torch(net, X, batch_size, name="X"):
    import torch

    if not isinstance(net, torch.nn.Module):
        raise TypeError(f"net must be a torch.nn.Module, got "
                        f"{type(net).__name__}")
    dtype = next(net.parameters(), torch.empty(0)).dtype
    X = as_float_array(_check_examples(X, name), name,
                       dtype=torch.empty(0, dtype=dtype).numpy().dtype)
    return net, np.ascontiguousarray(X), check_int(batch_size,
                                                   "batch_size", low=1)


@contextlib.contextmanager
def _named_torch_errors(X):
    """A module's RuntimeError on its input (a shape that does not fit) as
    a ValueError naming ``X``."""
    try:
        yield
    except RuntimeError as exc:
        raise ValueError(f"X of shape {X.shape} does not fit the net: "
                         f"{exc}") from exc


def _check_labels(y, n: int, n_classes: int, name: str, name_X: str):
    y = np.asarray(y)
    if y.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer class indices (as "
                        f"F.cross_entropy takes them), got dtype {y.dtype}")
    if y.shape != (n,):
        raise ValueError(f"{name} has shape {y.shape} but {name_X} holds "
                         f"{n} examples: expected shape ({n},)")
    bad = y[(y < 0) | (y >= n_classes)]
    if bad.size:
        raise ValueError(f"{name} holds class index {bad[0]}, out of range "
                         f"[0, {n_classes}) for the model's {n_classes} "
                         f"logits")
    return y.astype(np.int64)


def _check_split(probe, X, y, name_X, name_y):
    """``X`` and ``y`` after the model's own checks on their first example
    (shape, dtype), a finiteness check and the label checks."""
    X = _check_examples(X, name_X)
    if len(X) == 0:
        raise ValueError(f"{name_X} holds no example")
    if X.dtype.kind == "f":
        check_finite(X, name_X)
    try:
        n_classes = probe(X[:1]).shape[-1]
    except (TypeError, ValueError) as exc:
        if name_X == "X":
            raise
        raise type(exc)(f"{name_X}: {exc}") from exc
    return X, _check_labels(y, len(X), n_classes, name_y, name_X)


def _check_validation(probe, X_val, y_val):
    if (X_val is None) != (y_val is None):
        raise ValueError("X_val and y_val must be given together (or both "
                         "left out)")
    if X_val is None:
        return None, None
    return _check_split(probe, X_val, y_val, "X_val", "y_val")


def _check_fit_data(model, X, y, X_val, y_val):
    _check_model(model)

    def probe(X1):
        return model.forward(X1)[0]

    return (*_check_split(probe, X, y, "X", "y"),
            *_check_validation(probe, X_val, y_val))


def _check_fit_torch(net, optimizer, X, y, X_val, y_val):
    if not (callable(getattr(optimizer, "step", None))
            and callable(getattr(optimizer, "zero_grad", None))):
        raise TypeError(f"optimizer must be a torch.optim optimizer, got "
                        f"{type(optimizer).__name__}")
    _, X, _ = _check_predict_torch(net, X, 1)

    def probe(X1):
        return predict_torch(net, X1)

    X, y = _check_split(probe, X, y, "X", "y")
    if X_val is not None:
        _, X_val, _ = _check_predict_torch(net, X_val, 1, "X_val")
    return (X, y, *_check_validation(probe, X_val, y_val))


def _check_loop(epochs, batch_size, seed, n):
    epochs = check_int(epochs, "epochs", low=1)
    batch_size = n if batch_size is None else check_int(
        batch_size, "batch_size", low=1)
    return epochs, batch_size, check_int(seed, "seed", low=0)


def _check_step(model, step, snapshot_every, hyper):
    """Hyperparameters finite, and accepted by ``step`` on a dry run (an
    unknown name or a value out of range fails before training)."""
    check_callable(step, "step")
    for name, value in hyper.items():
        values = value if isinstance(value, (tuple, list)) else [value]
        for v in values:
            if isinstance(v, numbers.Real) and not isinstance(v, bool):
                check_real(v, name)
    p = model.params[0]
    step(p.copy(), np.zeros_like(p), None, **hyper)
    return None if snapshot_every is None else check_int(
        snapshot_every, "snapshot_every", low=1)


def _check_schedule(lr_schedule):
    """None without a schedule; else ``lr_at(t)``: ``lr_schedule(t)``,
    checked to be a finite number > 0 at every step (and at step 0
    now)."""
    if lr_schedule is None:
        return None
    check_callable(lr_schedule, "lr_schedule")

    def lr_at(t):
        return check_real(lr_schedule(t), f"lr_schedule({t})", low=0,
                          low_open=True)

    lr_at(0)
    return lr_at


def _check_values(values):
    v = check_finite(as_float_array(values, "values"), "values")
    if v.ndim != 1 or len(v) == 0:
        raise ValueError(f"values must have shape (N,) with N >= 1, got "
                         f"shape {v.shape}")
    return v.astype(np.float64)


def _check_mistakes(probs, y, k):
    probs = check_finite(as_float_array(probs, "probs"), "probs")
    if probs.ndim != 2:
        raise ValueError(f"probs must have shape (N, C), got shape "
                         f"{probs.shape}")
    y = _check_labels(y, len(probs), probs.shape[1], "y", "probs")
    return probs, y, check_int(k, "k", low=0)
