"""calc_nn.losses: values and gradients against PyTorch, SymPy and finite
differences, on hypothesis-generated inputs, for every reduction.

One table (``CASES``) lists each loss with its gradient and its PyTorch
counterpart; the property tests run over it. PyTorch is the judge of the
semantics (what "mean" divides by), SymPy the exact oracle of the values.
"""

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from strategies import LIMIT, reals

from calc_nn import losses as L
from calc_nn import symbolic
from calc_nn.activations import softmax
from calc_nn.gradcheck import numerical_gradient
from calc_nn.symbolic import loss_formulas as S

REDUCTIONS = L.REDUCTIONS
SETTINGS = settings(max_examples=100, deadline=None)
SYMPY_SETTINGS = settings(max_examples=20, deadline=None)


# --------------------------------------------------------------- oracle

def evaluate_exact(expr, symbols):
    """:func:`calc_nn.symbolic.evaluate_exact`, with 0 where 2000 bits cannot
    tell the value from 0: with logits 1e4 apart, ``-log p_t`` is about
    ``e^{-2e4}`` = 1e-8686, which is 0 in float64 anyway."""
    return symbolic.evaluate_exact(expr, symbols, zero_if_tiny=True)


# --------------------------------------------------------------- inputs

moderate = st.floats(-30, 30, allow_nan=False)


@st.composite
def classification(draw, elements=reals, max_n=5, max_c=5, probs=None,
                   weighted=None):
    """(logits (N, C), target, weight or None)."""
    n = draw(st.integers(1, max_n))
    c = draw(st.integers(1, max_c))
    logits = draw(hnp.arrays(np.float64, (n, c), elements=elements))
    if probs is None:
        probs = draw(st.booleans())
    if probs:
        raw = draw(hnp.arrays(np.float64, (n, c),
                              elements=st.floats(0, 1, allow_nan=False)))
        one_hot = draw(st.booleans())
        if one_hot:
            labels = draw(hnp.arrays(np.int64, n,
                                     elements=st.integers(0, c - 1)))
            target = np.eye(c)[labels]
        else:
            raw[:, 0] += 1e-3  # no all-zero row
            target = raw / raw.sum(axis=1, keepdims=True)
    else:
        target = draw(hnp.arrays(np.int64, n, elements=st.integers(0, c - 1)))
    if weighted is None:
        weighted = draw(st.booleans())
    weight = None
    if weighted:
        weight = draw(hnp.arrays(
            np.float64, c, elements=st.one_of(
                st.just(0.0), st.floats(0.01, 10, allow_nan=False))))
        if not probs:  # a weighted mean needs some weight on the targets
            assume(weight[target].sum() > 0)
    return logits, target, weight


gammas = st.one_of(st.sampled_from([0.0, 0.5, 1.0, 2.0, 5.0]),
                   st.floats(0, 5, allow_nan=False))


# ------------------------------------------------------ torch references

def torch_value_and_grad(fn, x, *args):
    """``fn(x_tensor, *args)`` and the gradient of its sum (for "none")
    or of itself, by torch.autograd, as NumPy arrays."""
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    out = fn(t, *args)
    out.backward(torch.ones_like(out))
    return out.detach().numpy(), t.grad.numpy()


def torch_cross_entropy(t, target, weight, reduction):
    target = torch.tensor(target)
    weight = None if weight is None else torch.tensor(weight)
    return F.cross_entropy(t, target, weight=weight, reduction=reduction)


def torch_focal(t, target, gamma, alpha, reduction):
    """The focal loss written in torch, the textbook formula."""
    target = torch.tensor(target)
    log_pt = F.log_softmax(t, dim=-1).gather(-1, target[:, None])[:, 0]
    a_t = (torch.ones_like(log_pt) if alpha is None
           else torch.tensor(alpha)[target])
    losses = -a_t * (1 - log_pt.exp()) ** gamma * log_pt
    return {"mean": losses.mean, "sum": losses.sum,
            "none": lambda: losses}[reduction]()


# ------------------------------------------------ MSE and BCE

def _bce_atol(z):
    """torch's formula loses ~eps * |z| in absolute terms (z = -1e4,
    target = 1e-12: exact 1e-8, torch 0.9999e-8)."""
    return 1e-15 * max(1.0, np.abs(z).max(initial=0)) * z.size


EPS = np.finfo(np.float64).eps


def _mse_grad_atol(z, target):
    """2(z - y): the rounding of z - y, doubled, a few eps of the larger."""
    return 4 * EPS * np.maximum(np.abs(z), np.abs(target)).max(initial=0)


def _bce_grad_atol(z, target):
    """sigma(z) - y with both in [0, 1]: each rounded to within an ulp of
    1, so the difference is off by a few eps when they nearly cancel
    (z = -2.2e-16, y = 0.5: 0.5 - 5.6e-17 - 0.5 here, 0 in torch)."""
    return 4 * EPS


ELEMENTWISE = {  # name: (loss, gradient, torch loss, targets, atol,
    #                     gradient atol before the reduction's 1/n)
    "mse": (L.mse, L.mse_grad, F.mse_loss, reals, lambda z: 0.0,
            _mse_grad_atol),
    "bce": (L.binary_cross_entropy_with_logits,
            L.binary_cross_entropy_with_logits_grad,
            F.binary_cross_entropy_with_logits,
            st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0, 1)),
            _bce_atol, _bce_grad_atol),
}


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@SETTINGS
@given(data=st.data())
def test_elementwise_losses_match_torch(name, reduction, data):
    loss, grad_fn, torch_loss, targets, atol, grad_atol = ELEMENTWISE[name]
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=5))
    z = data.draw(hnp.arrays(np.float64, shape, elements=reals))
    target = data.draw(hnp.arrays(np.float64, shape, elements=targets))
    value, grad = torch_value_and_grad(
        lambda t: torch_loss(t, torch.tensor(target), reduction=reduction), z)
    np.testing.assert_allclose(loss(z, target, reduction), value,
                               rtol=1e-12, atol=atol(z))
    scale = 1 / z.size if reduction == "mean" else 1
    np.testing.assert_allclose(grad_fn(z, target, reduction), grad,
                               rtol=1e-12, atol=grad_atol(z, target) * scale)


def test_bce_gradient_near_cancellation():
    """sigma(z) - y at z = -2.2e-16, y = 0.5 (found by hypothesis): off by
    a few eps from torch's 0, not by more (a sign or scale error in the
    gradient is far outside)."""
    z, y = np.array([-2.0 ** -52]), np.array([0.5])
    _, grad = torch_value_and_grad(
        lambda t: F.binary_cross_entropy_with_logits(
            t, torch.tensor(y), reduction="sum"), z)
    ours = L.binary_cross_entropy_with_logits_grad(z, y, "sum")
    np.testing.assert_allclose(ours, grad, rtol=0, atol=_bce_grad_atol(z, y))
    assert abs(ours[0] - z[0] / 4) <= 4 * EPS  # sigma'(0) = 1/4


@pytest.mark.parametrize("n", [1, 2, 4])
def test_mse_gradient_is_sympys(n):
    y_hat, yy, loss = S.mse(n)
    rng = np.random.default_rng(n)
    a, b = rng.standard_normal(n), rng.standard_normal(n)
    subs = {**dict(zip(y_hat, a)), **dict(zip(yy, b))}
    assert float(loss.subs(subs)) == pytest.approx(L.mse(a, b), rel=1e-12)
    exact = np.array([float(g.subs(subs)) for g in S.mse_gradient(n)])
    np.testing.assert_allclose(L.mse_grad(a, b), exact, rtol=1e-12)


def test_bce_log_form_is_bce():
    assert sp.simplify(S.bce_log_form() - S.bce()) == 0


@SYMPY_SETTINGS
@given(z=hnp.arrays(np.float64, 4, elements=reals),
       y=hnp.arrays(np.float64, 4, elements=st.floats(0, 1)))
def test_bce_matches_sympy(z, y):
    exact = evaluate_exact(S.bce_log_form(), (S.z, S.y))(z, y)
    np.testing.assert_allclose(
        L.binary_cross_entropy_with_logits(z, y, "none"), exact,
        rtol=1e-9, atol=1e-12)
    exact_grad = evaluate_exact(S.bce_gradient(), (S.z, S.y))(z, y)
    np.testing.assert_allclose(
        L.binary_cross_entropy_with_logits_grad(z, y, "none"), exact_grad,
        rtol=1e-12, atol=1e-16)  # sigma(z) - y cancels: eps absolute


# -------------------------------------------------------- cross-entropy

@pytest.mark.parametrize("reduction", REDUCTIONS)
@SETTINGS
@given(case=classification())
def test_cross_entropy_matches_torch(reduction, case):
    logits, target, weight = case
    value, grad = torch_value_and_grad(torch_cross_entropy, logits, target,
                                       weight, reduction)
    ours = L.cross_entropy(logits, target, weight, reduction)
    ours_grad = L.cross_entropy_grad(logits, target, weight, reduction)
    np.testing.assert_allclose(ours, value, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours_grad, grad, rtol=1e-10, atol=1e-14)
    if weight is not None:
        np.testing.assert_array_equal(
            L.weighted_cross_entropy(logits, target, weight, reduction),
            ours)
        np.testing.assert_array_equal(
            L.weighted_cross_entropy_grad(logits, target, weight,
                                          reduction), ours_grad)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@SYMPY_SETTINGS
@given(data=st.data())
def test_cross_entropy_matches_sympy(reduction, weighted, data):
    """Probability targets through the general weighted expression; index
    targets as one-hot rows of it."""
    logits, target, weight = data.draw(classification(
        max_n=3, max_c=3, weighted=weighted))
    n, c = logits.shape
    y = np.eye(c)[target] if target.ndim == 1 else target
    w = np.ones(c) if weight is None else weight
    zs, ys, ws, grad = S.cross_entropy_gradient(c, weighted=True)
    _, _, _, loss = S.cross_entropy(c, weighted=True)
    symbols = (*zs, *ys, *ws)
    args = (*logits.T, *y.T, *np.broadcast_to(w, (n, c)).T)
    per_sample = evaluate_exact(loss, symbols)(*args)
    per_grad = np.stack([evaluate_exact(g, symbols)(*args) for g in grad],
                        axis=1)
    if reduction == "none":
        exact, exact_grad = per_sample, per_grad
    else:
        denom = 1.0
        if reduction == "mean":
            denom = (w[target].sum() if target.ndim == 1
                     and weight is not None else n)
        exact, exact_grad = per_sample.sum() / denom, per_grad / denom
    np.testing.assert_allclose(
        L.cross_entropy(logits, target, weight, reduction), exact,
        rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        L.cross_entropy_grad(logits, target, weight, reduction), exact_grad,
        rtol=1e-9, atol=1e-14)


@SETTINGS
@given(case=classification(probs=False, weighted=False))
def test_cross_entropy_grad_is_softmax_minus_one_hot_over_n(case):
    logits, target, _ = case
    n, c = logits.shape
    expected = (softmax(logits) - np.eye(c)[target]) / n
    # atol: the naive p - 1 of `expected` cancels where p ~ 1 and is off
    # by up to one ulp of 1 (calc_nn sums the others instead), over n
    eps = np.finfo(np.float64).eps
    np.testing.assert_allclose(L.cross_entropy_grad(logits, target),
                               expected, rtol=1e-12, atol=2 * eps / n)
    # index targets and their one-hot rows are the same loss
    np.testing.assert_allclose(L.cross_entropy(logits, target),
                               L.cross_entropy(logits, np.eye(c)[target]),
                               rtol=1e-12)


@SETTINGS
@given(case=classification(probs=False, weighted=True),
       scale=st.floats(0.01, 100))
def test_weighted_mean_ignores_the_scale_of_the_weights(case, scale):
    logits, target, weight = case
    np.testing.assert_allclose(
        L.weighted_cross_entropy(logits, target, scale * weight),
        L.weighted_cross_entropy(logits, target, weight), rtol=1e-10)


@pytest.mark.parametrize("target", [2, np.array([0.2, 0.3, 0.5])])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_one_sample_without_batch_dimension(target, reduction):
    z = np.array([1.0, -2.0, 0.5])
    value, grad = torch_value_and_grad(
        lambda t: F.cross_entropy(t, torch.tensor(target),
                                  reduction=reduction), z)
    np.testing.assert_allclose(L.cross_entropy(z, target,
                                               reduction=reduction), value)
    np.testing.assert_allclose(
        L.cross_entropy_grad(z, target, reduction=reduction), grad)


# ------------------------------------------------------------- focal loss

def _focal_case(data, elements):
    logits, target, _ = data.draw(classification(
        elements=elements, probs=False, weighted=False))
    alpha = data.draw(st.one_of(st.none(), hnp.arrays(
        np.float64, logits.shape[1], elements=st.floats(0, 4))))
    return logits, target, data.draw(gammas), alpha


@pytest.mark.parametrize("reduction", REDUCTIONS)
@SETTINGS
@given(data=st.data())
def test_focal_loss_matches_torch(reduction, data):
    logits, target, gamma, alpha = _focal_case(data, reals)
    value, grad = torch_value_and_grad(torch_focal, logits, target, gamma,
                                       alpha, reduction)
    ours = L.focal_loss(logits, target, gamma, alpha, reduction)
    ours_grad = L.focal_loss_grad(logits, target, gamma, alpha, reduction)
    assert np.all(np.isfinite(ours)) and np.all(np.isfinite(ours_grad))
    np.testing.assert_allclose(ours, value, rtol=1e-9, atol=1e-12)
    # The textbook formula's autograd divides 0 by 0 where 1 - p_t rounds
    # to 0 and gamma < 1 (d/dx x**gamma at 0); those rows only may differ.
    finite = np.all(np.isfinite(grad), axis=-1)
    one_minus_pt = -np.expm1(
        F.log_softmax(torch.tensor(logits), -1).numpy()[
            np.arange(len(target)), target])
    assert np.all(finite | (one_minus_pt == 0))
    np.testing.assert_allclose(ours_grad[finite], grad[finite], rtol=1e-8,
                               atol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@SETTINGS
@given(case=classification(probs=False, weighted=False))
def test_focal_with_gamma_0_is_cross_entropy(reduction, case):
    logits, target, _ = case
    # atol: for p_t near 1 the focal loss is the more accurate of the two
    # (log1p(-(1 - p_t)), where the log-softmax keeps ~1e-16 absolute)
    np.testing.assert_allclose(
        L.focal_loss(logits, target, 0.0, reduction=reduction),
        L.cross_entropy(logits, target, reduction=reduction), rtol=1e-12,
        atol=1e-15)
    np.testing.assert_allclose(
        L.focal_loss_grad(logits, target, 0.0, reduction=reduction),
        L.cross_entropy_grad(logits, target, reduction=reduction),
        rtol=1e-12, atol=1e-300)


@SETTINGS
@given(case=classification(probs=False, weighted=True))
def test_focal_with_gamma_0_and_alpha_sums_like_weighted_ce(case):
    """Same sum; the means differ (N against the sum of the weights)."""
    logits, target, weight = case
    np.testing.assert_allclose(
        L.focal_loss(logits, target, 0.0, weight, "sum"),
        L.weighted_cross_entropy(logits, target, weight, "sum"), rtol=1e-12,
        atol=1e-14)
    np.testing.assert_allclose(
        L.focal_loss(logits, target, 0.0, weight) * len(target)
        / weight[target].sum(),
        L.weighted_cross_entropy(logits, target, weight), rtol=1e-10,
        atol=1e-13)


@pytest.mark.parametrize("reduction", ["sum", "none"])
@SYMPY_SETTINGS
@given(data=st.data())
def test_focal_loss_matches_sympy(reduction, data):
    logits, target, _ = data.draw(classification(
        max_n=3, max_c=3, probs=False, weighted=False))
    gamma = data.draw(st.sampled_from([0.0, 0.5, 2.0, 3.7]))
    alpha = data.draw(hnp.arrays(np.float64, logits.shape[1],
                                 elements=st.floats(0.1, 4)))
    n, c = logits.shape
    values, grads = np.empty(n), np.empty((n, c))
    for i, t in enumerate(target):
        zs, fl = S.focal_expression(c, int(t))
        fl = fl.subs({S.gamma: sp.Rational(gamma),
                      S.alpha_t: sp.Rational(alpha[t])})
        values[i] = evaluate_exact(fl, zs)(*logits[i])
        grads[i] = [evaluate_exact(sp.diff(fl, v), zs)(*logits[i])
                    for v in zs]
    ours = L.focal_loss(logits, target, gamma, alpha, reduction)
    ours_grad = L.focal_loss_grad(logits, target, gamma, alpha, reduction)
    exact = values if reduction == "none" else values.sum()
    np.testing.assert_allclose(ours, exact, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours_grad, grads, rtol=1e-7, atol=1e-12)


# ---------------------------------------------------- finite differences

@pytest.mark.parametrize("name", ["mse", "bce", "ce", "ce_probs",
                                  "weighted_ce", "focal"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gradient_matches_finite_differences(name, reduction):
    rng = np.random.default_rng(7)
    z = rng.standard_normal((4, 3)) * 2
    t = np.array([0, 2, 1, 2])
    probs = rng.dirichlet(np.ones(3), 4)
    w = np.array([0.5, 2.0, 1.0])
    loss, grad = {
        "mse": (lambda v: L.mse(v, probs, reduction),
                L.mse_grad(z, probs, reduction)),
        "bce": (lambda v: L.binary_cross_entropy_with_logits(
            v, probs, reduction),
            L.binary_cross_entropy_with_logits_grad(z, probs, reduction)),
        "ce": (lambda v: L.cross_entropy(v, t, reduction=reduction),
               L.cross_entropy_grad(z, t, reduction=reduction)),
        "ce_probs": (lambda v: L.cross_entropy(v, probs, w, reduction),
                     L.cross_entropy_grad(z, probs, w, reduction)),
        "weighted_ce": (
            lambda v: L.weighted_cross_entropy(v, t, w, reduction),
            L.weighted_cross_entropy_grad(z, t, w, reduction)),
        "focal": (lambda v: L.focal_loss(v, t, 2.0, w, reduction),
                  L.focal_loss_grad(z, t, 2.0, w, reduction)),
    }[name]
    np.testing.assert_allclose(grad, numerical_gradient(loss, z),
                               rtol=1e-7, atol=1e-10)


# ----------------------------------------------------------- stability

BIG = np.array([[LIMIT, -LIMIT, 0.0], [-LIMIT, LIMIT, 0.0],
                [LIMIT, LIMIT, -LIMIT], [0.0, 0.0, 0.0]])
BIG_T = np.array([1, 1, 2, 0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_extreme_logits_give_finite_losses_and_gradients(dtype, reduction):
    z = BIG.astype(dtype)
    probs = np.eye(3, dtype=dtype)[BIG_T]
    w = np.array([1.0, 2.0, 0.5], dtype)
    outputs = [
        L.cross_entropy(z, BIG_T, reduction=reduction),
        L.cross_entropy_grad(z, BIG_T, reduction=reduction),
        L.cross_entropy(z, probs, w, reduction=reduction),
        L.cross_entropy_grad(z, probs, w, reduction=reduction),
        L.weighted_cross_entropy(z, BIG_T, w, reduction),
        L.weighted_cross_entropy_grad(z, BIG_T, w, reduction),
        L.binary_cross_entropy_with_logits(z, probs, reduction),
        L.binary_cross_entropy_with_logits_grad(z, probs, reduction),
        L.mse(z, probs, reduction), L.mse_grad(z, probs, reduction),
    ]
    for gamma in (0.0, 0.3, 1.0, 2.0, 5.0):
        outputs += [L.focal_loss(z, BIG_T, gamma, w, reduction),
                    L.focal_loss_grad(z, BIG_T, gamma, w, reduction)]
    for out in outputs:
        assert np.asarray(out).dtype == dtype
        assert np.all(np.isfinite(out))
    # the wrong class at 2e4 below the right one costs 2e4 (per weight 2)
    assert L.cross_entropy(z, BIG_T, reduction="none")[0] == \
        pytest.approx(2 * LIMIT)


@pytest.mark.parametrize("gamma", [0.0, 0.2, 0.5, 1.0, 2.0, 5.0])
@pytest.mark.parametrize("margin", [5.0, 20.0, 40.0, 100.0, 800.0, LIMIT])
def test_focal_finite_and_right_as_pt_goes_to_0_and_1(gamma, margin):
    """p_t -> 1 (target logit ahead by ``margin``) and p_t -> 0 (behind)."""
    z = np.array([[margin, 0.0], [-margin, 0.0]])
    t = np.array([0, 0])
    values = L.focal_loss(z, t, gamma, reduction="none")
    grad = L.focal_loss_grad(z, t, gamma, reduction="none")
    assert np.all(np.isfinite(values)) and np.all(np.isfinite(grad))
    # Two classes, target logit ahead by m (row 0) or behind (row 1):
    # 1 - p_t = e^{-m}/(1 + e^{-m}) and -log p_t = log(1 + e^{-m}) for
    # row 0; p_t = e^{-m}/(1 + e^{-m}) and -log p_t = m + log(1 + e^{-m})
    # for row 1. The gradient on the target logit is
    # -(1 - p_t)^gamma [1 + gamma p_t (-log p_t)/(1 - p_t)] (1 - p_t).
    e = np.exp(-margin)
    small = e / (1 + e)
    rows = [(1 - small, small, np.log1p(e)),        # p_t -> 1
            (small, 1 - small, margin + np.log1p(e))]  # p_t -> 0
    for i, (pt, one_minus, nll) in enumerate(rows):
        assert values[i] == pytest.approx(one_minus ** gamma * nll,
                                          rel=1e-9, abs=1e-300)
        ratio = nll / one_minus if one_minus > 0 else 1.0
        expected = -one_minus ** gamma * (1 + gamma * pt * ratio) * one_minus
        assert grad[i, 0] == pytest.approx(expected, rel=1e-9, abs=1e-300)
        assert grad[i, 1] == pytest.approx(-grad[i, 0], rel=1e-12)
    assert grad[1, 0] <= -0.99  # badly wrong: full-size gradient


# ------------------------------------------------------------- dtypes

@pytest.mark.parametrize("fn", [
    lambda z: L.cross_entropy_grad(z, [0, 1]),
    lambda z: L.focal_loss_grad(z, [0, 1]),
    lambda z: L.mse_grad(z, np.zeros((2, 2), np.float32)),
    lambda z: L.binary_cross_entropy_with_logits_grad(z, [[1, 0], [0, 1]]),
])
def test_float32_gradients_stay_float32(fn):
    assert fn(np.ones((2, 2), np.float32)).dtype == np.float32


MIXED = [  # (call, the names the TypeError must give)
    (lambda a, b: L.mse(a, b), ("y_hat is", "target is")),
    (lambda a, b: L.mse_grad(a, b), ("y_hat is", "target is")),
    (lambda a, b: L.binary_cross_entropy_with_logits(a, b),
     ("logits is", "target is")),
    (lambda a, b: L.binary_cross_entropy_with_logits_grad(a, b),
     ("logits is", "target is")),
    (lambda a, b: L.cross_entropy(a, b * 0 + 0.5), ("logits is",
                                                    "target is")),
    (lambda a, b: L.cross_entropy_grad(a, [0, 1], b[0]),
     ("logits is", "weight is")),
    (lambda a, b: L.weighted_cross_entropy(a, [0, 1], b[0]),
     ("logits is", "weight is")),
    (lambda a, b: L.focal_loss(a, [0, 1], alpha=b[0]),
     ("logits is", "alpha is")),
    (lambda a, b: L.focal_loss_grad(a, [0, 1], alpha=b[0]),
     ("logits is", "alpha is")),
]


@pytest.mark.parametrize("call,names", MIXED)
@pytest.mark.parametrize("first,second", [(np.float32, np.float64),
                                          (np.float64, np.float32),
                                          (np.float16, np.float32)])
def test_mixed_precision_is_a_type_error_naming_both(call, names, first,
                                                     second):
    """The house rule (PyTorch's for x @ W and for class weights): one
    dtype per call, no silent promotion."""
    with pytest.raises(TypeError) as info:
        call(np.zeros((2, 2), first), np.full((2, 2), 0.5, second))
    message = str(info.value)
    assert all(name in message for name in names), message


def test_float16_mean_accumulates_in_float32():
    """Issue 12 item 5. 40,000 losses of log 10 sum to 92,103, past
    float16's 65,504: the sum must not be taken in float16. torch's own
    F.cross_entropy (2.13, CPU) overflows here; its per-sample losses
    averaged by torch.mean (which accumulates in float32) are the
    reference."""
    z = np.zeros((40_000, 10), np.float16)
    t = np.zeros(40_000, np.int64)
    per_sample = F.cross_entropy(torch.tensor(z), torch.tensor(t),
                                 reduction="none")
    ours = L.cross_entropy(z, t)
    assert ours.dtype == np.float16 and np.isfinite(ours)
    assert ours == per_sample.mean().item() == np.float16(np.log(10))
    # probability targets and the weighted mean too
    uniform = np.full((40_000, 10), 0.1, np.float16)
    assert L.cross_entropy(z, uniform) == np.float16(np.log(10))
    assert L.cross_entropy(z, t, np.ones(10, np.float16)) == \
        np.float16(np.log(10))
    # 100,000 squared errors of 1: the count itself is past float16
    ones = np.ones(100_000, np.float16)
    assert L.mse(ones, np.zeros_like(ones)) == 1.0
    assert L.mse(ones, ones) == 0.0
    reference = F.mse_loss(torch.tensor(ones), torch.zeros(
        100_000, dtype=torch.float16))
    assert L.mse(ones, np.zeros_like(ones)) == reference.item()
    # a sum that does not fit float16 is inf, as torch's (NumPy warns)
    with pytest.warns(RuntimeWarning, match="overflow"):
        assert L.mse(ones, np.zeros_like(ones), "sum") == np.inf


@pytest.mark.parametrize("n", [1, 3, 1000, 100_000])
def test_float16_gradients_are_computed_in_float32(n):
    """A float16 gradient is the exact value rounded once (within one
    float16 ulp: float32, then float16). torch rounds 2 (y_hat - y) and
    1/n to float16 first (1/n is a subnormal for n = 100,000), so it is
    off by more; calc_nn is at least as close to the exact value."""
    rng = np.random.default_rng(n)
    y_hat = rng.uniform(-4, 4, n).astype(np.float16)
    target = rng.uniform(-4, 4, n).astype(np.float16)
    exact = 2 / n * (y_hat.astype(np.float64) - target)
    ours = L.mse_grad(y_hat, target)
    assert ours.dtype == np.float16
    ulp = np.spacing(np.abs(exact).astype(np.float16)).astype(np.float64)
    assert np.all(np.abs(ours - exact) <= ulp)
    _, theirs = torch_value_and_grad_in(
        lambda t: F.mse_loss(t, torch.tensor(target)), y_hat)
    assert np.abs(ours - exact).max() <= np.abs(theirs - exact).max()
    z = rng.uniform(-4, 4, (n, 3)).astype(np.float16)
    labels = rng.integers(0, 3, n)
    exact = L.cross_entropy_grad(z.astype(np.float64), labels)
    ours = L.cross_entropy_grad(z, labels)
    assert ours.dtype == np.float16
    ulp = np.spacing(np.abs(exact).astype(np.float16)).astype(np.float64)
    assert np.all(np.abs(ours - exact) <= ulp)
    if n <= 65504:  # torch divides by n in float16: inf past 65,504,
        # and its gradient is 0 (2.13, CPU)
        _, theirs = torch_value_and_grad_in(
            lambda t: F.cross_entropy(t, torch.tensor(labels)), z)
        # torch: softmax rounded to float16, (p - y) / n rounded again
        np.testing.assert_allclose(ours, theirs, rtol=4e-3,
                                   atol=8 * ulp.max())


def torch_value_and_grad_in(fn, x):
    """As :func:`torch_value_and_grad`, keeping the dtype of ``x``."""
    t = torch.tensor(x, requires_grad=True)
    out = fn(t)
    out.backward(torch.ones_like(out))
    return out.detach().numpy(), t.grad.numpy()


# ------------------------------------------------------ what a target is

def test_class_indices_are_never_read_as_probabilities():
    """Issue 12 item 8: an int target holds class indices, a float target
    probabilities; a shape that does not fit the dtype is an error."""
    with pytest.raises(ValueError, match=r"int target holds class indices "
                       r"and must have shape \(\) .* got shape \(3,\)"):
        L.cross_entropy(np.zeros(3), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"int target holds class indices "
                       r"and must have shape \(N,\) = \(2,\); got shape "
                       r"\(2, 3\)"):
        L.cross_entropy(np.zeros((2, 3)), np.eye(3, dtype=int)[[0, 2]])
    with pytest.raises(TypeError, match=r"shape of class indices .* "
                       r"class indices must be ints"):
        L.cross_entropy_grad(np.zeros((2, 3)), np.array([0.0, 2.0]))
    with pytest.raises(TypeError, match=r"bool"):
        L.cross_entropy(np.zeros((2, 3)), np.eye(3, dtype=bool)[[0, 2]])
    # the same labels as ints and as one-hot floats: the same loss
    z = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]])
    assert L.cross_entropy(z, [2, 0]) == pytest.approx(
        L.cross_entropy(z, np.eye(3)[[2, 0]]), rel=1e-15)


@pytest.mark.parametrize("target,message", [
    (np.zeros((2, 3)), r"row 0 sums to 0\b"),
    (np.array([[0.5, 0.5, 0.5], [1.0, 0.0, 0.0]]), r"row 0 sums to 1.5"),
    (np.array([[1.0, 0.0, 0.0], [0.2, 0.2, 0.2]]), r"row 1 sums to 0.6"),
    (np.array([[1.5, -0.5, 0.0], [1.0, 0.0, 0.0]]), r"must be >= 0"),
    (np.array([[1.0, 0.0, 0.0], [np.nan, 0.0, 1.0]]),
     r"target must be finite"),
])
@pytest.mark.parametrize("fn", [L.cross_entropy, L.cross_entropy_grad])
def test_probability_targets_must_be_distributions(fn, target, message):
    with pytest.raises(ValueError, match=message):
        fn(np.zeros((2, 3)), target)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("c", [1, 2, 10, 1000])
def test_rounded_distributions_are_accepted_and_one_ulp_more_is_not(
        dtype, c):
    """Rows normalised in float64 and rounded to ``dtype`` pass (their sum
    is within C eps of 1); a row off by more than that does not."""
    rng = np.random.default_rng(c)
    raw = rng.uniform(0, 1, (50, c))
    target = (raw / raw.sum(axis=1, keepdims=True)).astype(dtype)
    z = np.zeros((50, c), dtype)
    assert np.isfinite(L.cross_entropy(z, target))
    target[0] *= dtype(1 + 2 * c * np.finfo(dtype).eps)
    with pytest.raises(ValueError, match="row 0 sums to"):
        L.cross_entropy(z, target)


def test_mse_rejects_nan_and_inf_like_the_other_losses():
    with pytest.raises(ValueError, match=r"y_hat must be finite; it "
                                         r"contains nan"):
        L.mse([1.0, np.nan], [0.0, 0.0])
    with pytest.raises(ValueError, match=r"target must be finite; it "
                                         r"contains -inf"):
        L.mse_grad([1.0, 0.0], [0.0, -np.inf])


# ------------------------------------------------------------ bad input

Z = np.zeros((3, 4))
ERRORS = [
    (lambda: L.cross_entropy(Z, [0, 1]), ValueError,
     r"target has batch size 2 but logits has batch size 3"),
    (lambda: L.cross_entropy(Z, np.full((2, 4), 0.25)), ValueError,
     r"target has batch size 2 but logits has batch size 3"),
    (lambda: L.cross_entropy(Z, np.full((3, 5), 0.2)), ValueError,
     r"target has 5 classes but logits has C = 4"),
    (lambda: L.focal_loss(Z, [0, 1, 3, 2]), ValueError,
     r"batch size 4 but logits has batch size 3"),
    (lambda: L.cross_entropy(Z, [0, 4, 1]), ValueError,
     r"class index 4, out of range \[0, 4\)"),
    (lambda: L.cross_entropy_grad(Z, [0, -1, 1]), ValueError,
     r"class index -1, out of range \[0, 4\)"),
    (lambda: L.focal_loss_grad(Z, [0, 9, 1]), ValueError,
     r"class index 9, out of range \[0, 4\)"),
    (lambda: L.weighted_cross_entropy(Z, [0, 1, 2], [1, -1, 1, 1]),
     ValueError, r"weight must be >= 0; negative entries for classes \[1\]"),
    (lambda: L.cross_entropy_grad(Z, [0, 1, 2], [1, 1, 1]), ValueError,
     r"weight must have shape \(C,\) = \(4,\)"),
    (lambda: L.cross_entropy(Z, [0, 1, 2], [1, np.inf, 1, 1]), ValueError,
     r"weight must be finite"),
    (lambda: L.focal_loss(Z, [0, 1, 2], alpha=[1, 1, -2, 1]), ValueError,
     r"alpha must be >= 0"),
    (lambda: L.focal_loss(Z, [0, 1, 2], gamma=-0.5), ValueError,
     r"gamma must be a finite number >= 0, got -0.5"),
    (lambda: L.focal_loss_grad(Z, [0, 1, 2], gamma=-1), ValueError,
     r"gamma must be a finite number >= 0"),
    (lambda: L.focal_loss(Z, [0, 1, 2], gamma=np.nan), ValueError,
     r"gamma must be a finite number"),
    (lambda: L.cross_entropy(Z, [0, 1, 2], reduction="avg"), ValueError,
     r"reduction must be one of \['mean', 'sum', 'none'\], got 'avg'"),
    (lambda: L.mse_grad([1.0], [1.0], reduction="Mean"), ValueError,
     r"reduction must be one of .*, got 'Mean'"),
    (lambda: L.focal_loss(Z, [0, 1, 2], reduction=None), ValueError,
     r"reduction must be one of .*, got None"),
    (lambda: L.mse(np.zeros(3), np.zeros((3, 1))), ValueError,
     r"y_hat has shape \(3,\) but target has shape \(3, 1\)"),
    (lambda: L.binary_cross_entropy_with_logits([0.0], [1.5]), ValueError,
     r"target must hold probabilities in \[0, 1\]; it contains 1.5"),
    (lambda: L.cross_entropy(Z, ["a", "b", "c"]), TypeError,
     r"target must hold class indices \(an int array\) or probabilities"),
    (lambda: L.mse(["a"], [1.0]), TypeError,
     r"y_hat must be an array of real numbers"),
    (lambda: L.cross_entropy([[np.nan, 0.0]], [0]), ValueError,
     r"logits must be finite; it contains nan"),
    (lambda: L.cross_entropy(np.zeros((2, 3, 4)), [0, 1]), ValueError,
     r"logits must have shape \(N, C\) or \(C,\)"),
    (lambda: L.cross_entropy(np.zeros((3, 0)), [0, 1, 2]), ValueError,
     r"logits must have at least one class"),
    (lambda: L.cross_entropy(Z, [0, 1, 2], [0.0, 0.0, 0.0, 1.0]),
     ValueError, r"weights sum to 0"),
    (lambda: L.cross_entropy(np.zeros((0, 4)), np.zeros(0, int)),
     ValueError, r"reduction='mean' of an empty batch is undefined"),
    (lambda: L.mse_grad(np.zeros(0), np.zeros(0)),
     ValueError, r"reduction='mean' of an empty batch is undefined"),
    (lambda: L.focal_loss(Z, np.full((3, 4), 0.25)), TypeError,
     r"target must hold class indices \(an int array\); got dtype float64"),
    (lambda: L.weighted_cross_entropy(Z, [0, 1, 2], None), ValueError,
     r"weight is required"),
]


@pytest.mark.parametrize("call,exc,match", ERRORS)
def test_bad_input_is_named(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_sum_of_empty_batch_is_zero():
    assert L.cross_entropy(np.zeros((0, 4)), np.zeros(0, int),
                           reduction="sum") == 0


# ------------------------------------------- the class-imbalance example

def test_imbalanced_data_has_the_promised_shape_and_is_read_only():
    X, y = L.imbalanced_data()
    assert X.shape == (420, 2) and y.shape == (420,)
    assert np.count_nonzero(y == 1) == 20
    np.testing.assert_array_equal(X, np.round(X, 2))
    assert not X.flags.writeable and not y.flags.writeable
    assert L.imbalanced_data(n_majority=100, ratio=4, seed=3)[0].shape == \
        (125, 2)


@pytest.mark.parametrize("weight,gamma", [(1.0, 0.0), (20.0, 0.0),
                                          (5.0, 2.0)])
def test_train_linear_classifier_is_gradient_descent_on_the_weighted_mean(
        weight, gamma):
    """The same descent written in torch: the focal loss with
    alpha = (1, weight), divided by the sum of the targets' alphas."""
    X, y = L.imbalanced_data()
    W, b = L.train_linear_classifier(weight, gamma, steps=50)
    tW = torch.zeros((2, 2), dtype=torch.float64, requires_grad=True)
    tb = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    tX, ty = torch.tensor(X), torch.tensor(y)
    alpha = torch.tensor([1.0, weight], dtype=torch.float64)[ty]
    for _ in range(50):
        log_pt = F.log_softmax(tX @ tW.T + tb, dim=1)[torch.arange(len(y)),
                                                        ty]
        loss = (-alpha * (1 - log_pt.exp()) ** gamma * log_pt).sum() \
            / alpha.sum()
        tW.grad = tb.grad = None
        loss.backward()
        with torch.no_grad():
            tW -= tW.grad
            tb -= tb.grad
    np.testing.assert_allclose(W, tW.detach().numpy(), rtol=1e-9,
                               atol=1e-12)
    np.testing.assert_allclose(b, tb.detach().numpy(), rtol=1e-9,
                               atol=1e-12)
    assert not W.flags.writeable  # the cached result cannot be changed


@pytest.mark.parametrize("call,exc,match", [
    (lambda: L.imbalanced_data(ratio=0), ValueError, r"ratio must be an "
                                                      r"int >= 1"),
    (lambda: L.imbalanced_data(n_majority=10, ratio=20), ValueError,
     r"n_majority must be an int >= 20"),
    (lambda: L.imbalanced_data(seed=[1]), TypeError, r"seed must be an int"),
    (lambda: L.train_linear_classifier(np.nan, 0.0), ValueError,
     r"weight must be a finite number"),
    (lambda: L.train_linear_classifier(1.0, -1.0), ValueError,
     r"gamma must be a finite number >= 0"),
    (lambda: L.train_linear_classifier(1.0, 0.0, steps=2.5), TypeError,
     r"steps must be an int"),
    (lambda: L.train_linear_classifier(1.0, 0.0, lr=0), ValueError,
     r"lr must be a finite number > 0"),
    (lambda: L.train_linear_classifier([1.0], 0.0), TypeError,
     r"weight must be a real number"),
])
def test_imbalance_example_bad_input_is_named(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# -------------------------------------------------------- the derivations

def test_softmax_cross_entropy_chain_collapses():
    chain = S.softmax_ce_chain(3)
    assert chain["proved"]
    p, y = chain["p"], chain["y"]
    # the chain-rule product is p_k * sum(y) - y_k ...
    for k in range(3):
        assert sp.expand(chain["product"][k] - (p[k] * sum(y) - y[k])) == 0
    # ... and p - y once the targets sum to 1
    last = {y[2]: 1 - y[0] - y[1]}
    assert sp.expand((chain["product"] - chain["collapsed"]).subs(last)) \
        == sp.zeros(3, 1)


def test_cnn_document_gradient_is_not_the_derivative():
    """The CNN document [cnn-calculus-doc] §3.1: -(y - y_hat) d y_hat /
    d theta is not the gradient of -y log y_hat (no 1/y_hat factor)."""
    theta = sp.Symbol("theta", real=True)
    p = S.sigma_of(theta)  # one probability, a function of theta
    yy = sp.Symbol("y", positive=True)
    true = sp.diff(-yy * sp.log(p), theta)
    stated = -(yy - p) * sp.diff(p, theta)
    assert sp.simplify(true - stated) != 0


@pytest.mark.parametrize("check", [
    lambda: S.weighted_gradient_pattern(3)["proved"],
    lambda: S.focal_gradient_logit_factor()[1],
    lambda: S.cross_entropy_decomposition(3)["proved"],
    lambda: S.expected_squared_error()[2] == [sp.Symbol("mu", real=True)],
    lambda: sp.simplify(S.sigmoid_mse_gradient()[0] - 2 * (
        S.sigma_of(S.z) - S.y) * S.sigma_of(S.z) * (1 - S.sigma_of(S.z)))
    == 0,
    lambda: sp.simplify(S.gaussian_nll()[1] - S.gaussian_nll()[0]
                        .expand(log=True, force=True)) == 0,
], ids=["weighted", "focal", "entropy_kl", "mse_mean", "sigmoid_mse",
        "gaussian"])
def test_derivations_hold(check):
    assert check()
