r"""SymPy derivations of the chapter "Loss functions".

Every gradient the chapter states is derived here by ``sympy.diff`` and
checked by ``sympy.simplify``; the chapter displays these expressions, and
the tests evaluate them exactly (:func:`calc_nn.symbolic.evaluate_exact`)
against :mod:`calc_nn.losses` and PyTorch.

Naming, as in the book's notation page: ``z`` logits, ``p`` probabilities
(softmax of ``z``), ``y`` targets (one-hot or probabilities), ``alpha``
class weights (PyTorch's ``weight``), ``y_hat`` predictions.
"""

from __future__ import annotations

import sympy as sp

from calc_nn._validation import check_int
from calc_nn.symbolic.activation_formulas import log_softmax, softmax

__all__ = [
    "gamma", "alpha_t", "p_t", "z", "y", "sigma_of",
    "mse", "mse_gradient",
    "bce", "bce_log_form", "bce_gradient",
    "cross_entropy", "cross_entropy_gradient", "softmax_ce_chain",
    "weighted_cross_entropy", "weighted_gradient_pattern",
    "focal", "focal_gradient_p", "focal_gradient_logit_factor",
    "focal_expression", "sigmoid_mse_gradient",
    "gaussian_nll", "categorical_nll", "expected_squared_error",
    "cross_entropy_decomposition",
]

gamma = sp.Symbol("gamma", nonnegative=True)
alpha_t = sp.Symbol("alpha_t", positive=True)
p_t = sp.Symbol("p_t", positive=True)
z = sp.Symbol("z", real=True)
y = sp.Symbol("y", real=True)


def sigma_of(arg):
    """The sigmoid as an expression, ``1 / (1 + exp(-arg))``.

    Used in: book/losses.md
    """
    return 1 / (1 + sp.exp(-arg))


def _vec(name, n, arg="n"):
    n = check_int(n, arg, low=1)
    return list(sp.symbols(f"{name}_1:{n + 1}", real=True))


# ------------------------------------------------------------------ MSE

def mse(n: int):
    r"""``(y_hat, y, L)``, :math:`L = \frac1n \sum_i (\hat y_i - y_i)^2`.

    Used in: book/losses.md
    """
    y_hat, yy = _vec(r"\hat{y}", n), _vec("y", n)
    loss = sp.Rational(1, n) * sum((a - b) ** 2 for a, b in zip(y_hat, yy))
    return y_hat, yy, loss


def mse_gradient(n: int) -> sp.Matrix:
    """``d L / d y_hat`` of :func:`mse`, by ``sympy.diff``.

    Used in: book/losses.md
    """
    y_hat, _, loss = mse(n)
    return sp.Matrix([sp.factor(sp.diff(loss, v)) for v in y_hat])


# ------------------------------------------------------------------ BCE

def bce():
    r"""Binary cross-entropy of :math:`\sigma(z)` against ``y``.

    Used in: book/losses.md
    """
    s = sigma_of(z)
    return -(y * sp.log(s) + (1 - y) * sp.log(1 - s))


def bce_log_form() -> sp.Expr:
    r"""BCE as :math:`y\log(1 + e^{-z}) + (1 - y)\log(1 + e^{z})`, equal to
    :func:`bce` (:math:`\log\sigma(z) = -\log(1 + e^{-z})`,
    :math:`\log(1 - \sigma(z)) = -\log(1 + e^{z})`) but free of the
    cancellation in :math:`1 - \sigma(z)`: the exact oracle ``evalf`` can
    evaluate at :math:`z = 10^4`.

    Used in: book/losses.md
    """
    return y * sp.log(1 + sp.exp(-z)) + (1 - y) * sp.log(1 + sp.exp(z))


def bce_gradient() -> sp.Expr:
    r""":math:`\partial \ell / \partial z`, simplified to the form
    :math:`\sigma(z) - y` (returned as it is proved equal).

    Used in: book/losses.md
    """
    grad = sp.diff(bce(), z)
    target = sigma_of(z) - y
    if sp.simplify(grad - target) != 0:  # pragma: no cover - a SymPy bug
        raise AssertionError("d BCE / dz != sigma(z) - y")
    return target


def sigmoid_mse_gradient():
    r"""``(d/dz (sigma(z) - y)^2, d/dz BCE)``: the two gradients of a
    sigmoid output, for the "MSE learns slowly" comparison.

    Used in: book/losses.md
    """
    s = sigma_of(z)
    mse_grad = sp.diff((s - y) ** 2, z)
    return mse_grad, bce_gradient()


# -------------------------------------------------------- cross-entropy

def cross_entropy(n_classes: int, weighted: bool = False):
    r"""``(z, y, alpha, L)``: :math:`L = -\sum_k \alpha_k y_k \log
    \operatorname{softmax}(z)_k` (``alpha`` all 1 unless ``weighted``;
    the symbols ``alpha_1, ..., alpha_K`` otherwise).

    Built from the log-softmax :math:`z_j - \log\sum_k e^{z_k}`, which
    ``evalf`` evaluates accurately even for logits of size 1e4.

    Used in: book/losses.md
    """
    zs, log_p = log_softmax(n_classes)
    yy = _vec("y", n_classes, "n_classes")
    w = (_vec("alpha", n_classes, "n_classes") if weighted
         else [sp.Integer(1)] * len(yy))
    loss = -sum(wj * yj * lj for wj, yj, lj in zip(w, yy, log_p))
    return zs, yy, w, loss


def cross_entropy_gradient(n_classes: int, weighted: bool = False):
    """``(z, y, alpha, grad)``: the gradient of :func:`cross_entropy` w.r.t.
    ``z``, by ``sympy.diff``.

    Used in: book/losses.md
    """
    zs, yy, w, loss = cross_entropy(n_classes, weighted)
    return zs, yy, w, sp.Matrix([sp.diff(loss, v) for v in zs])


def softmax_ce_chain(n_classes: int = 3) -> dict:
    r"""The chain rule for softmax + cross-entropy, step by step.

    In terms of the probability symbols :math:`p_j`:

    * ``dL_dp``: :math:`\partial L / \partial p_j = -y_j / p_j`;
    * ``jacobian``: :math:`\partial p_j / \partial z_k = p_j([j = k] -
      p_k)` (``diag(p) - p p^T``);
    * ``product``: :math:`J^\top \partial L / \partial p`, expanded:
      :math:`p_k \sum_j y_j - y_k`;
    * ``collapsed``: the same with :math:`\sum_j y_j = 1`: :math:`p - y`;
    * ``proved``: True if SymPy confirms, from the logits themselves, that
      :math:`\partial L/\partial z = \operatorname{softmax}(z) - y` once
      :math:`\sum_j y_j = 1`.

    Used in: book/losses.md
    """
    p = sp.Matrix(_vec("p", n_classes, "n_classes"))
    yy = sp.Matrix(_vec("y", n_classes, "n_classes"))
    dL_dp = sp.Matrix([-yj / pj for yj, pj in zip(yy, p)])
    jacobian = sp.diag(*p) - p * p.T
    product = (jacobian.T * dL_dp).applyfunc(sp.expand)
    total = sp.Add(*yy)
    # p_k (y_1 + ... + y_C) - y_k, kept unevaluated for display
    grouped = sp.Matrix([sp.Add(sp.Mul(pk, total, evaluate=False), -yk,
                                evaluate=False) for pk, yk in zip(p, yy)])
    assert all(sp.expand(g - e) == 0 for g, e in zip(grouped, product))
    collapsed = p - yy
    # the proof, from the logits: substitute y_C = 1 - (the others)
    zs, ys, _, grad = cross_entropy_gradient(n_classes)
    s = softmax(n_classes)[1]
    last = {ys[-1]: 1 - sum(ys[:-1])}
    diff = (grad - (s - sp.Matrix(ys))).subs(last)
    proved = all(sp.simplify(e) == 0 for e in diff)
    return dict(p=p, y=yy, dL_dp=dL_dp, jacobian=jacobian, product=product,
                grouped=grouped, collapsed=collapsed,
                proved=proved)


def weighted_cross_entropy(n_classes: int = 3):
    """``(z, y, alpha, L)`` of the weighted cross-entropy (one sample).

    Used in: book/losses.md
    """
    return cross_entropy(n_classes, weighted=True)


def weighted_gradient_pattern(n_classes: int = 3) -> dict:
    r"""The weighted gradient, derived and put in its two forms.

    Returns ``raw`` (the SymPy derivative in terms of the logits),
    ``general`` (:math:`p_k \sum_j \alpha_j y_j - \alpha_k y_k`) and
    ``one_hot`` (:math:`\alpha_t (p_k - [k = t])` for target class ``t`` =
    1), and
    ``proved``: True if SymPy shows they agree.

    Used in: book/losses.md
    """
    zs, yy, w, grad = cross_entropy_gradient(n_classes, weighted=True)
    s = softmax(n_classes)[1]
    general = sp.Matrix([s[k] * sum(wj * yj for wj, yj in zip(w, yy))
                         - w[k] * yy[k] for k in range(n_classes)])
    one_hot = {yy[0]: 1, **{v: 0 for v in yy[1:]}}
    e_t = sp.Matrix([1] + [0] * (n_classes - 1))
    hot = w[0] * (s - e_t)
    proved = (all(sp.simplify(e) == 0 for e in grad - general) and all(
        sp.simplify(e) == 0 for e in grad.subs(one_hot) - hot))
    return dict(z=zs, y=yy, w=w, raw=grad, general=general, one_hot=hot,
                proved=proved)


# ------------------------------------------------------------- focal loss

def focal() -> sp.Expr:
    r""":math:`\mathrm{FL}(p_t) = -\alpha_t (1 - p_t)^\gamma \log p_t`.

    Used in: book/losses.md
    """
    return -alpha_t * (1 - p_t) ** gamma * sp.log(p_t)


def focal_gradient_p() -> sp.Expr:
    r""":math:`d\operatorname{FL}/dp_t`, by ``sympy.diff``.

    Used in: book/losses.md
    """
    return sp.diff(focal(), p_t)


def focal_gradient_logit_factor() -> tuple[sp.Expr, bool]:
    r"""The factor :math:`g` in :math:`\partial\operatorname{FL}/\partial
    z_k = g\,([k = t] - p_k)`.

    Since :math:`\partial p_t / \partial z_k = p_t([k = t] - p_k)`
    (a row of the softmax Jacobian), :math:`g = p_t\,
    d\operatorname{FL}/dp_t`. Returns ``(g, proved)``, ``g`` in the form
    :math:`-\alpha_t (1-p_t)^\gamma [1 - \gamma p_t \log p_t / (1 - p_t)]`
    that :func:`calc_nn.losses.focal_loss_grad` evaluates; ``proved`` is
    True if SymPy shows it equals :math:`p_t\,d\operatorname{FL}/dp_t`.

    Used in: book/losses.md
    """
    g = -alpha_t * (1 - p_t) ** gamma * (
        1 - gamma * p_t * sp.log(p_t) / (1 - p_t))
    proved = sp.simplify(p_t * focal_gradient_p() - g) == 0
    return g, proved


def focal_expression(n_classes: int, target: int = 0):
    r"""``(z, FL)``: the focal loss as an expression in the logits, for
    ``target`` class (0-based). ``alpha_t`` and ``gamma`` stay symbols.

    :math:`1 - p_t` is written :math:`1 - e^{\log p_t}` with the
    log-softmax, so ``evalf`` handles logits of size 1e4.

    Used in: book/losses.md
    """
    zs, log_p = log_softmax(n_classes)
    lq = log_p[check_int(target, "target", low=0, high=len(zs) - 1)]
    return zs, -alpha_t * (1 - sp.exp(lq)) ** gamma * lq


# ------------------------------------------------------- why these losses

def gaussian_nll():
    r"""``(nll, form)``: :math:`-\log \mathcal N(y; \hat y, s^2)` and the
    form :math:`(y - \hat y)^2 / (2 s^2) + \log(2\pi s^2)/2`, proved
    equal.

    Used in: book/losses.md
    """
    y_hat = sp.Symbol(r"\hat{y}", real=True)
    s = sp.Symbol("s", positive=True)
    density = sp.exp(-(y - y_hat) ** 2 / (2 * s ** 2)) / sp.sqrt(
        2 * sp.pi * s ** 2)
    nll = -sp.log(density)
    form = (y - y_hat) ** 2 / (2 * s ** 2) + sp.log(2 * sp.pi * s ** 2) / 2
    if sp.simplify(sp.expand_log(nll - form, force=True)) != 0:
        raise AssertionError("Gaussian NLL form")  # pragma: no cover
    return nll, form


def categorical_nll(n_classes: int = 3):
    r"""``(likelihood, nll)``: :math:`\prod_j p_j^{y_j}` and its
    negative log, :math:`-\sum_j y_j \log p_j`.

    Used in: book/losses.md
    """
    p = _vec("p", n_classes, "n_classes")
    yy = _vec("y", n_classes, "n_classes")
    pos = {v: sp.Symbol(v.name, positive=True) for v in p}
    likelihood = sp.Mul(*[pj ** yj for pj, yj in zip(p, yy)]).subs(pos)
    nll = sp.expand_log(-sp.log(likelihood), force=True)
    return likelihood, nll


def expected_squared_error():
    r"""``(integral, value, minimiser)``: the expected squared error of a
    constant prediction ``c`` for :math:`Y \sim \mathcal N(\mu, s^2)`.

    :math:`\int (y - c)^2\,\mathcal N(y; \mu, s^2)\,dy = s^2 + (c-\mu)^2`,
    smallest at :math:`c = \mu`: MSE makes the model predict the mean.

    Used in: book/losses.md
    """
    c, mu = sp.symbols("c mu", real=True)
    s = sp.Symbol("s", positive=True)
    density = sp.exp(-(y - mu) ** 2 / (2 * s ** 2)) / sp.sqrt(
        2 * sp.pi * s ** 2)
    integral = sp.Integral((y - c) ** 2 * density, (y, -sp.oo, sp.oo))
    value = s ** 2 + (c - mu) ** 2
    if sp.simplify(integral.doit() - value) != 0:
        raise AssertionError("expected squared error")  # pragma: no cover
    minimiser = sp.solve(sp.diff(value, c), c)
    return integral, value, minimiser


def cross_entropy_decomposition(n_classes: int = 3) -> dict:
    r"""Cross-entropy = entropy + KL divergence, for distributions ``q``
    (data) and ``p`` (model) on ``n_classes`` classes.

    :math:`H(q, p) = -\sum_j q_j \log p_j`, :math:`H(q) = -\sum_j q_j
    \log q_j`, :math:`D_{KL}(q\,\|\,p) = \sum_j q_j \log(q_j / p_j)`;
    ``proved`` is True if SymPy shows :math:`H(q,p) = H(q) + D_{KL}`.

    Used in: book/losses.md
    """
    n_classes = check_int(n_classes, "n_classes", low=1)
    q = list(sp.symbols(f"q_1:{n_classes + 1}", positive=True))
    p = list(sp.symbols(f"p_1:{n_classes + 1}", positive=True))
    cross = -sum(qj * sp.log(pj) for qj, pj in zip(q, p))
    entropy = -sum(qj * sp.log(qj) for qj in q)
    kl = sum(qj * sp.log(qj / pj) for qj, pj in zip(q, p))
    proved = sp.simplify(sp.expand_log(cross - entropy - kl,
                                       force=True)) == 0
    return dict(q=q, p=p, cross=cross, entropy=entropy, kl=kl,
                proved=proved)
