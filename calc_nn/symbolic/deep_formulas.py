r"""The results of the chapter "Making deep networks trainable", in SymPy,
and the deep networks its prose and its explorer measure.

The chapter derives every result by hand; the SymPy functions let SymPy
confirm them (``tests/formula_checks/deep.py``): the variance of a layer's
output, :math:`\mathbb E[\operatorname{ReLU}(z)^2] = \operatorname{Var}(z)/2`
(He's factor 2), the variances of Xavier's and PyTorch's default
initialisation, the backward pass of batch normalisation, the Jacobian of
a residual block, dropout's expectation and the gradient of an L2 penalty.

The experiments are deep ReLU networks built from the layer pairs of
:mod:`calc_nn.layers` and the initialisations of :mod:`calc_nn.init`, in
four architectures (:data:`ARCHS`): :math:`D` layers with weights (the
book's depth), :math:`D - 1` hidden layers of ``width`` neurons, the
pre-activations :math:`z^1 = W^1 x + b^1` and, for
:math:`l = 2, \dots, D - 1`,

.. math:: z^l = s\, z^{l-1} + W^l \operatorname{ReLU}(N(z^{l-1})) + b^l,

with :math:`s = 1` for a residual connection (0 otherwise) and :math:`N`
batch normalisation (or nothing); the logits are
:math:`z^D = W^D \operatorname{ReLU}(N(z^{D-1})) + b^D`. With
:math:`s = 0` and no :math:`N` this is the plain MLP of
:mod:`calc_nn.mlp`.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np
import sympy as sp
from sympy import stats

from calc_nn import init as initialisers
from calc_nn import layers, losses, optim
from calc_nn._validation import (
    check_choice,
    check_int,
    check_real,
)

__all__ = [
    "z", "s", "n", "relu_second_moment", "relu_slope_second_moment",
    "uniform_variance", "torch_default_variance", "xavier_variance",
    "second_moment_of_layer", "batchnorm_backward_by_diff",
    "batchnorm_backward_compact", "residual_jacobians",
    "dropout_moments", "l2_penalty_gradient",
    "INITS", "ARCHS", "variance_factor", "teacher_task", "DeepNet",
    "DeepCache", "deep_network", "deep_forward", "deep_backward",
    "DepthStudy", "depth_study",
]

z = sp.Symbol("z", real=True)
s = sp.Symbol("s", positive=True)
n = sp.Symbol("n", positive=True, integer=True)


# ----------------------------------------------------------- initialisation

def _normal_density(var=z, std=s):
    return sp.exp(-var ** 2 / (2 * std ** 2)) / (std * sp.sqrt(2 * sp.pi))


def relu_second_moment() -> tuple[sp.Expr, sp.Expr]:
    r""":math:`\mathbb E[\operatorname{ReLU}(z)^2]` for
    :math:`z \sim \mathcal N(0, s^2)`, integrated by SymPy, and
    :math:`\operatorname{Var}(z)/2 = s^2/2`.

    .. math:: \mathbb E[\operatorname{ReLU}(z)^2]
              = \int_0^\infty z^2 p(z)\,dz = \frac{s^2}{2}

    Returns
    -------
    (integral, s**2 / 2) : two SymPy expressions, equal

    Used in: book/deep.md
    """
    return (sp.integrate(z ** 2 * _normal_density(), (z, 0, sp.oo)),
            s ** 2 / 2)


def relu_slope_second_moment() -> tuple[sp.Expr, sp.Expr]:
    r""":math:`\mathbb E[\operatorname{ReLU}'(z)^2] = P(z > 0)` for
    :math:`z \sim \mathcal N(0, s^2)`, integrated, and :math:`1/2`.

    Used in: book/deep.md
    """
    return sp.integrate(_normal_density(), (z, 0, sp.oo)), sp.Rational(1, 2)


def uniform_variance(bound=None) -> sp.Expr:
    r"""The variance of :math:`U(-a, a)`, integrated: :math:`a^2/3`.

    Used in: book/deep.md
    """
    a = sp.Symbol("a", positive=True) if bound is None else bound
    w = sp.Symbol("w", real=True)
    return sp.simplify(sp.integrate(w ** 2 / (2 * a), (w, -a, a)))


def torch_default_variance() -> sp.Expr:
    r"""The variance of ``nn.Linear``'s default weights, from
    ``kaiming_uniform_(W, a=sqrt(5))``: gain :math:`\sqrt{2/(1 + a^2)}`,
    bound :math:`\text{gain}\sqrt{3/n}`, variance bound² / 3.

    .. math:: \operatorname{Var}(W) = \frac{1}{3 n}

    Used in: book/deep.md
    """
    a = sp.sqrt(5)
    gain = sp.sqrt(2 / (1 + a ** 2))
    return sp.simplify(uniform_variance(gain * sp.sqrt(3 / n)))


def xavier_variance() -> tuple[sp.Expr, sp.Expr]:
    r"""The harmonic mean of the forward (:math:`1/n_{in}`) and backward
    (:math:`1/n_{out}`) choices, and Xavier's :math:`2/(n_{in}+n_{out})`.

    Used in: book/deep.md
    """
    n_in, n_out = sp.symbols("n_in n_out", positive=True)
    forward, backward = 1 / n_in, 1 / n_out
    return (sp.simplify(2 / (1 / forward + 1 / backward)),
            2 / (n_in + n_out))


def second_moment_of_layer(n_terms: int = 3):
    r""":math:`\mathbb E[z^2]` of :math:`z = \sum_{k=1}^{n} W_k a_k` with
    independent :math:`W_k \sim \mathcal N(0, v)` and inputs
    :math:`a_k \sim \mathcal N(m, q)` (a mean that is not 0, as after a
    ReLU), computed by :mod:`sympy.stats`, and
    :math:`n\,v\,\mathbb E[a^2] = n v (m^2 + q)`.

    Used in: book/deep.md
    """
    n_terms = check_int(n_terms, "n_terms", low=1, high=4)
    v, q = sp.symbols("v q", positive=True)
    m = sp.Symbol("m", real=True)
    ws = [stats.Normal(f"W_{k}", 0, sp.sqrt(v)) for k in range(n_terms)]
    xs = [stats.Normal(f"a_{k}", m, sp.sqrt(q)) for k in range(n_terms)]
    total = sum(w * a for w, a in zip(ws, xs))
    return (sp.simplify(stats.E(sp.expand(total ** 2))),
            n_terms * v * (m ** 2 + q))


# ------------------------------------------------------------- batch norm

def _batchnorm_column(n_rows: int):
    xs = sp.symbols(f"x_1:{n_rows + 1}", real=True)
    gs = sp.symbols(f"g_1:{n_rows + 1}", real=True)
    gamma, beta = sp.symbols("gamma beta", real=True)
    eps = sp.Symbol("epsilon", positive=True)
    mu = sum(xs) / n_rows
    sigma = sp.sqrt(sum((x - mu) ** 2 for x in xs) / n_rows + eps)
    x_hat = [(x - mu) / sigma for x in xs]
    return xs, gs, gamma, beta, eps, sigma, x_hat


def batchnorm_backward_by_diff(n_rows: int = 3):
    r""":math:`\partial L / \partial x_k` of one column of batch norm,
    :math:`L = \sum_i g_i (\gamma \hat x_i + \beta)`, by ``sympy.diff``.

    Returns
    -------
    grads : list of SymPy expressions, one per row
    symbols : dict with ``"x"``, ``"g"`` (tuples), ``"gamma"``,
        ``"beta"``, ``"epsilon"``

    Used in: book/deep.md
    """
    n_rows = check_int(n_rows, "n_rows", low=2, high=6)
    xs, gs, gamma, beta, eps, _, x_hat = _batchnorm_column(n_rows)
    loss = sum(g * (gamma * xh + beta) for g, xh in zip(gs, x_hat))
    return ([sp.diff(loss, x) for x in xs],
            {"x": xs, "g": gs, "gamma": gamma, "beta": beta,
             "epsilon": eps})


def batchnorm_backward_compact(n_rows: int = 3):
    r"""The compact form of the same gradients, in the same symbols.

    .. math:: \frac{\partial L}{\partial x_k} = \frac{\gamma}{N\sigma}
              \Bigl(N g_k - \sum_i g_i - \hat x_k \sum_i g_i \hat x_i\Bigr)

    Used in: book/deep.md
    """
    n_rows = check_int(n_rows, "n_rows", low=2, high=6)
    xs, gs, gamma, _, _, sigma, x_hat = _batchnorm_column(n_rows)
    sum_g = sum(gs)
    sum_gx = sum(g * xh for g, xh in zip(gs, x_hat))
    return [gamma / (n_rows * sigma) * (n_rows * g - sum_g - xh * sum_gx)
            for g, xh in zip(gs, x_hat)]


# --------------------------------------------------------------- residual

def residual_jacobians():
    r"""A residual block :math:`y = x + F(x)`, :math:`F(x) = W\tanh(x) +
    b`, in two dimensions: the Jacobian of :math:`y` by SymPy and
    :math:`I + J_F`.

    Returns
    -------
    (J_y, I + J_F) : two 2 x 2 SymPy matrices, equal

    Used in: book/deep.md
    """
    x = sp.Matrix(sp.symbols("x_1 x_2", real=True))
    W = sp.Matrix(2, 2, sp.symbols("W_11 W_12 W_21 W_22", real=True))
    b = sp.Matrix(sp.symbols("b_1 b_2", real=True))
    F = W * x.applyfunc(sp.tanh) + b
    return (x + F).jacobian(x), sp.eye(2) + F.jacobian(x)


# ---------------------------------------------------------------- dropout

def dropout_moments():
    r"""Mean and variance of inverted dropout's output :math:`x k/(1-p)`,
    :math:`k \sim \operatorname{Bernoulli}(1 - p)`, by :mod:`sympy.stats`.

    .. math:: \mathbb E[y] = x, \qquad
              \operatorname{Var}(y) = \frac{p}{1 - p}\, x^2

    Returns
    -------
    (mean, variance, x, p) : SymPy expressions and the symbols

    Used in: book/deep.md
    """
    x = sp.Symbol("x", real=True)
    p = sp.Symbol("p", positive=True)
    k = stats.Bernoulli("k", 1 - p)
    y = x * k / (1 - p)
    return (sp.simplify(stats.E(y)), sp.simplify(stats.variance(y)), x, p)


# ------------------------------------------------------------ weight decay

def l2_penalty_gradient(n_params: int = 3):
    r"""The gradient of :math:`\frac{\lambda}{2}\lVert\theta\rVert^2` by
    ``sympy.diff``, and :math:`\lambda\theta`.

    Returns
    -------
    (gradient, lambda * theta) : two SymPy column matrices

    Used in: book/deep.md
    """
    n_params = check_int(n_params, "n_params", low=1, high=10)
    theta = sp.Matrix(sp.symbols(f"theta_1:{n_params + 1}", real=True))
    lam = sp.Symbol("lambda", positive=True)
    penalty = lam / 2 * sum(t ** 2 for t in theta)
    return theta.applyfunc(lambda t: sp.diff(penalty, t)), lam * theta


# ============================================================ experiments

#: The initialisations the chapter compares (as :mod:`calc_nn.init`
#: draws them): ``nn.Linear``'s default, Xavier normal, He (Kaiming)
#: normal for ReLU.
INITS = ("pytorch", "xavier", "he")
#: The architectures: what :math:`s` and :math:`N` are in every block.
ARCHS = ("plain", "batchnorm", "residual", "residual_batchnorm")


def variance_factor(init: str, n_in: int, n_out: int | None = None) -> float:
    r"""What one ReLU layer multiplies the variance of the pre-activations
    by, :math:`r = n_{in} \operatorname{Var}(W) / 2`: 1/6 for PyTorch's
    default, :math:`n_{in}/(n_{in} + n_{out})` for Xavier, 1 for He.

    Parameters
    ----------
    init : one of :data:`INITS`
    n_in : int, >= 1
    n_out : int, >= 1 (default ``n_in``)

    Returns
    -------
    float

    Used in: book/deep.md
    """
    init = check_choice(init, "init", INITS)
    n_in = check_int(n_in, "n_in", low=1)
    n_out = n_in if n_out is None else check_int(n_out, "n_out", low=1)
    var_w = {"pytorch": 1 / (3 * n_in), "xavier": 2 / (n_in + n_out),
             "he": 2 / n_in}[init]
    return n_in * var_w / 2


def teacher_task(n_features: int = 32, n: int = 64, n_classes: int = 4,
                 seed: int = 0):
    r"""Standard normal inputs labelled by a random linear "teacher",
    :math:`y = \arg\max_k (x^\top T)_k`: a task any network that trains
    learns.

    Returns
    -------
    X : ndarray, shape (n, n_features), read-only
    y : ndarray of int, shape (n,), read-only

    Used in: book/deep.md
    """
    return _teacher_task(check_int(n_features, "n_features", low=1),
                         check_int(n, "n", low=2),
                         check_int(n_classes, "n_classes", low=2),
                         check_int(seed, "seed", low=0))


@functools.lru_cache(maxsize=16)
def _teacher_task(n_features, n, n_classes, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_features))
    teacher = rng.standard_normal((n_features, n_classes))
    return _read_only(X), _read_only(np.argmax(X @ teacher, axis=1))


class DeepNet(NamedTuple):
    """The parameters of a deep network (lists of arrays, updated in place
    by training) and its architecture.

    ``W[l - 1]``, ``b[l - 1]`` are layer :math:`l`'s weights (out, in) and
    bias; ``gamma[l - 1]``, ``beta[l - 1]`` the batch norm applied to
    :math:`z^l` (empty lists without batch norm).
    """
    W: list
    b: list
    gamma: list
    beta: list
    arch: str

    @property
    def params(self) -> list:
        """Every parameter array, in a fixed order."""
        return [*self.W, *self.b, *self.gamma, *self.beta]


class DeepCache(NamedTuple):
    """What :func:`deep_backward` needs: the first layer's cache, each
    later layer's ``(batchnorm cache or None, relu cache, linear cache,
    skip)``, the pre-activations :math:`z^1, \\dots, z^{D-1}` and the
    architecture."""
    first: layers.LinearCache
    blocks: tuple
    zs: tuple
    arch: str


def _draw(init, n_in, n_out, rng):
    if init == "pytorch":
        return initialisers.torch_default_linear(n_in, n_out, rng=rng)
    if init == "xavier":
        return (initialisers.xavier_normal(n_in, n_out, rng=rng),
                np.zeros(n_out))
    return (initialisers.kaiming_normal(n_in, n_out, rng=rng),
            np.zeros(n_out))


def deep_network(depth: int, arch: str, init: str, *, width: int = 32,
                 n_in: int = 32, n_classes: int = 4, seed: int = 0):
    r"""A network of ``depth`` layers with weights (``depth - 1`` hidden
    layers of ``width`` ReLU neurons), every weight layer drawn with
    ``init``; batch norm starts at :math:`\gamma = 1, \beta = 0`, as in
    PyTorch.

    Parameters
    ----------
    depth : int, >= 2, the book's :math:`D`
    arch : one of :data:`ARCHS`
    init : one of :data:`INITS`
    width, n_in : int, >= 1
    n_classes : int, >= 2
    seed : int, >= 0, the random seed (the weights are drawn from
        ``np.random.default_rng([seed, 1])``, a stream independent of
        ``default_rng(seed)``, which draws the data)

    Returns
    -------
    DeepNet

    Used in: book/deep.md
    """
    depth, arch, init, width, n_in, n_classes, seed = _check_network(
        depth, arch, init, width, n_in, n_classes, seed)
    # a stream of its own: with the stream of teacher_task(seed) the
    # first weights would be the inputs again (and z^1 would not be random)
    rng = np.random.default_rng([seed, 1])
    sizes = [n_in] + [width] * (depth - 1) + [n_classes]
    Ws, bs = zip(*(_draw(init, a, b, rng)
                   for a, b in zip(sizes[:-1], sizes[1:])))
    norm = "batchnorm" in arch
    hidden = depth - 1
    return DeepNet(list(Ws), list(bs),
                   [np.ones(width) for _ in range(hidden)] if norm else [],
                   [np.zeros(width) for _ in range(hidden)] if norm else [],
                   arch)


def deep_forward(net: DeepNet, X):
    r"""The logits of the network ``net`` for the batch ``X``, built from
    the layer pairs of :mod:`calc_nn.layers`.

    .. math:: z^l = s\, z^{l-1} + W^l \operatorname{ReLU}(N(z^{l-1}))
              + b^l

    Parameters
    ----------
    net : DeepNet
    X : ndarray, shape (N, n_in)

    Returns
    -------
    logits : ndarray, shape (N, n_classes)
    cache : DeepCache

    Used in: book/deep.md
    """
    skip, norm = "residual" in net.arch, "batchnorm" in net.arch
    z, first = layers.linear_forward(X, net.W[0], net.b[0])
    zs, blocks = [z], []
    for l in range(1, len(net.W)):
        bn = None
        if norm:
            u, bn = layers.batchnorm_forward(z, net.gamma[l - 1],
                                             net.beta[l - 1])
        else:
            u = z
        h, act = layers.relu_forward(u)
        out, lin = layers.linear_forward(h, net.W[l], net.b[l])
        residual = skip and l < len(net.W) - 1    # not the output layer
        z = z + out if residual else out
        blocks.append((bn, act, lin, residual))
        zs.append(z)
    return z, DeepCache(first, tuple(blocks), tuple(zs[:-1]), net.arch)


def deep_backward(dlogits, cache: DeepCache):
    r"""Gradients of the loss for every parameter of the network, and the
    norm of the error :math:`\Delta^l = \partial L / \partial Z^l` of
    every hidden layer (the batch's errors, one row per example).

    A residual block passes its upstream gradient on unchanged and adds
    the branch's: :math:`\delta^{l-1} = \delta^l + J_F^\top \delta^l`.

    Parameters
    ----------
    dlogits : ndarray, shape (N, n_classes), :math:`\partial L/\partial
        z^D`
    cache : DeepCache from :func:`deep_forward`

    Returns
    -------
    grads : DeepNet of the gradients, shapes of the parameters
    delta_norms : ndarray, shape (D - 1,), :math:`\lVert\Delta^l\rVert`
        for :math:`l = 1, \dots, D - 1`

    Used in: book/deep.md
    """
    dz = dlogits
    dW, db, dgamma, dbeta, deltas = [], [], [], [], []
    for bn, act, lin, residual in reversed(cache.blocks):
        dh, dW_l, db_l = layers.linear_backward(dz, lin)
        du = layers.relu_backward(dh, act)
        if bn is not None:
            du, dg, dbe = layers.batchnorm_backward(du, bn)
            dgamma.append(dg)
            dbeta.append(dbe)
        dz = dz + du if residual else du              # delta^{l-1}
        dW.append(dW_l)
        db.append(db_l)
        deltas.append(np.linalg.norm(dz))
    _, dW_1, db_1 = layers.linear_backward(dz, cache.first)
    grads = DeepNet([dW_1, *dW[::-1]], [db_1, *db[::-1]], dgamma[::-1],
                    dbeta[::-1], cache.arch)
    return grads, np.array(deltas[::-1])


class DepthStudy(NamedTuple):
    """What :func:`depth_study` measures (read-only arrays).

    Attributes
    ----------
    grad_norms : (D,) :math:`\\lVert\\partial L/\\partial W^l\\rVert` at
        initialisation, :math:`l = 1, \\dots, D`
    delta_norms : (D - 1,) :math:`\\lVert\\Delta^l\\rVert` of the hidden
        layers at initialisation (the batch's errors)
    z_std : (D - 1,) standard deviation of the entries of :math:`z^l` at
        initialisation
    losses : (steps + 1,) the loss before each step and after the last;
        NaN from the first step whose loss is not finite on
    total_norms : (steps + 1,) the global norm of the gradient (before
        clipping) at the same points
    diverged_at : int or None, the first step whose loss is not finite
    """
    grad_norms: np.ndarray
    delta_norms: np.ndarray
    z_std: np.ndarray
    losses: np.ndarray
    total_norms: np.ndarray
    diverged_at: int | None


def depth_study(depth: int, arch: str, init: str, *, width: int = 32,
                n: int = 64, steps: int = 30, lr: float = 0.1,
                max_norm: float | None = None, seed: int = 0):
    r"""Gradient norms per layer at initialisation, then a short run of
    full-batch gradient descent, of :func:`deep_network` on
    :func:`teacher_task` (``n`` examples, ``width`` features, 4 classes),
    with the mean cross-entropy.

    .. math:: \theta \leftarrow \theta - \eta\, g\, \min\Bigl(1,
              \frac{\text{max\_norm}}{\lVert g\rVert + 10^{-6}}\Bigr)

    (clipped by :func:`calc_nn.optim.clip_grad_norm` when ``max_norm`` is
    given). Results are cached; the arrays are read-only.

    Parameters
    ----------
    depth : int, >= 2, the number of layers with weights
    arch : one of :data:`ARCHS`
    init : one of :data:`INITS`
    width : int, >= 1
    n : int, >= 2
    steps : int, >= 0
    lr : float, > 0
    max_norm : float > 0 or None
    seed : int, >= 0, the random seed of the data and the weights

    Returns
    -------
    DepthStudy

    Used in: book/deep.md
    """
    return _depth_study(*_check_study(depth, arch, init, width, n, steps,
                                      lr, max_norm, seed))


def _loss_and_grads(net, X, y):
    logits, cache = deep_forward(net, X)
    if not np.all(np.isfinite(logits)):
        return math.nan, None, None, cache
    grads, deltas = deep_backward(losses.cross_entropy_grad(logits, y),
                                  cache)
    return float(losses.cross_entropy(logits, y)), grads, deltas, cache


@functools.lru_cache(maxsize=128)
@np.errstate(over="ignore", invalid="ignore", divide="ignore")  # reported
def _depth_study(depth, arch, init, width, n, steps, lr, max_norm, seed):
    X, y = teacher_task(width, n, 4, seed)
    net = deep_network(depth, arch, init, width=width, n_in=width, seed=seed)
    loss, grads, deltas, cache = _loss_and_grads(net, X, y)
    grad_norms = np.array([np.linalg.norm(g) for g in grads.W])
    z_std = np.array([z.std() for z in cache.zs])
    history, totals, diverged_at = [], [], None
    for t in range(steps + 1):
        if not math.isfinite(loss):
            diverged_at = t
            break
        flat, total = (optim.clip_grad_norm(grads.params, max_norm)
                       if max_norm else (grads.params,
                                         _global_norm(grads.params)))
        history.append(loss)
        totals.append(total)
        if t == steps:
            break
        for p, g in zip(net.params, flat):
            p -= lr * g
        loss, grads, _, _ = _loss_and_grads(net, X, y)
    pad = [math.nan] * (steps + 1 - len(history))
    return DepthStudy(*(_read_only(np.asarray(a, dtype=float)) for a in (
        grad_norms, deltas, z_std, history + pad, totals + pad)),
        diverged_at)


def _global_norm(arrays) -> float:
    return math.sqrt(sum(float(np.sum(a * a)) for a in arrays))


def _read_only(a):
    a.flags.writeable = False
    return a


# ------------------------------------------------------------ the checks

def _check_network(depth, arch, init, width, n_in, n_classes, seed):
    return (check_int(depth, "depth", low=2),
            check_choice(arch, "arch", ARCHS),
            check_choice(init, "init", INITS),
            check_int(width, "width", low=1),
            check_int(n_in, "n_in", low=1),
            check_int(n_classes, "n_classes", low=2),
            check_int(seed, "seed", low=0))


def _check_study(depth, arch, init, width, n, steps, lr, max_norm, seed):
    depth, arch, init, width, _, _, seed = _check_network(
        depth, arch, init, width, width, 4, seed)
    max_norm = None if max_norm is None else check_real(
        max_norm, "max_norm", low=0, low_open=True)
    return (depth, arch, init, width, check_int(n, "n", low=2),
            check_int(steps, "steps", low=0),
            check_real(lr, "lr", low=0, low_open=True), max_norm, seed)
