"""calc_nn.layers batch normalisation against PyTorch: training-mode
forward and backward (compact and naive), running statistics, evaluation
mode; (N, D), (N, C, L) and (N, C, H, W); float32 and float64; tiny and
large variances; named errors."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from calc_nn import layers

SETTINGS = settings(max_examples=40, deadline=None)
DTYPES = [np.float32, np.float64]
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}


@st.composite
def batches(draw, dtype=np.float64, min_m=2):
    """``(x, gamma, beta, dout)``: (N, D), (N, C, L) or (N, C, H, W), with
    at least ``min_m`` values per channel, channel scales from 1e-3 (a
    variance far below eps) to 1e3 and offsets up to 10 scales."""
    ndim = draw(st.sampled_from([2, 3, 4]))
    c = draw(st.integers(1, 4))
    spatial = tuple(draw(st.integers(1, 3)) for _ in range(ndim - 2))
    # N = 1 is allowed when H W >= min_m
    n = max(draw(st.integers(1, 6)), -(-min_m // math.prod(spatial)))
    shape = (n, c, *spatial)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = 10.0 ** draw(st.sampled_from([-3, -1, 0, 1, 3]))
    per_channel = (c,) + (1,) * (ndim - 2)
    offset = scale * rng.uniform(-10, 10, per_channel)
    x = offset + scale * rng.standard_normal(shape)
    gamma = rng.uniform(-2, 2, c)
    beta = rng.standard_normal(c)
    dout = rng.standard_normal(shape)
    return tuple(a.astype(dtype) for a in (x, gamma, beta, dout))


def channel_axes(x):
    return (0, *range(2, x.ndim))


def tolerance(x, dtype, eps=1e-5):
    """Absolute tolerance for x_hat-sized results: x - mean loses
    eps_dtype * max|x| per value, divided by the channel's std; sums over
    the M values of a channel add sqrt(M) of that."""
    axes = channel_axes(x)
    m = x.size // x.shape[1]
    std = np.sqrt(x.astype(np.float64).var(axis=axes) + eps)
    spread = np.abs(x).max(axis=axes) / std
    return 16 * np.finfo(dtype).eps * math.sqrt(m) * (1 + spread.max())


def torch_training(x, gamma, beta, dout, eps=1e-5):
    tx, tg, tb = (torch.tensor(a, requires_grad=True)
                  for a in (x, gamma, beta))
    out = F.batch_norm(tx, None, None, tg, tb, training=True, eps=eps)
    out.backward(torch.tensor(dout))
    return (out.detach().numpy(), tx.grad.numpy(), tg.grad.numpy(),
            tb.grad.numpy())


@pytest.mark.parametrize("dtype", DTYPES)
@SETTINGS
@given(data=st.data())
def test_training_forward_and_backward_match_torch(dtype, data):
    """The compact backward against torch.autograd, and against the naive
    reference (the graph node by node)."""
    x, gamma, beta, dout = data.draw(batches(dtype))
    out, cache = layers.batchnorm_forward(x, gamma, beta)
    dx, dgamma, dbeta = layers.batchnorm_backward(dout, cache)
    ref_out, ref_dx, ref_dgamma, ref_dbeta = torch_training(x, gamma, beta,
                                                            dout)
    for mine, ref in ((out, ref_out), (dx, ref_dx), (dgamma, ref_dgamma),
                      (dbeta, ref_dbeta)):
        assert mine.shape == ref.shape and mine.dtype == dtype
    atol = tolerance(x, dtype)
    np.testing.assert_allclose(out, ref_out, rtol=0, atol=2 * atol)
    # dx = gamma / (M std) (M g - sum g - x_hat sum g x_hat): three terms
    # of size M |g| each, times |gamma| / (M std)
    axes = channel_axes(x)
    std = np.sqrt(x.astype(np.float64).var(axis=axes) + 1e-5)
    dx_scale = np.max(np.abs(gamma) / std) * np.abs(dout).max()
    np.testing.assert_allclose(dx, ref_dx, rtol=0, atol=3 * atol * dx_scale)
    m = x.size // x.shape[1]
    np.testing.assert_allclose(dgamma, ref_dgamma, rtol=0,
                               atol=m * atol * np.abs(dout).max())
    np.testing.assert_allclose(dbeta, ref_dbeta, rtol=0,
                               atol=m * atol * np.abs(dout).max())
    naive = layers.batchnorm_backward_naive(dout, cache)
    np.testing.assert_allclose(naive[0], dx, rtol=0,
                               atol=3 * atol * dx_scale)
    for a, b in zip(naive[1:], (dgamma, dbeta)):
        np.testing.assert_array_equal(a, b)


def test_backward_by_hand_on_a_4x3_batch():
    """The chapter's worked example: dx from the compact formula written
    out with explicit sums equals torch's."""
    x = np.array([[1.0, 2.0, -1.0], [3.0, 0.0, 0.0], [-2.0, 1.0, 4.0],
                  [2.0, 5.0, 1.0]])
    gamma, beta = np.array([1.0, 0.5, 2.0]), np.zeros(3)
    dout = np.array([[0.1, -0.2, 0.3], [0.0, 0.4, -0.1], [0.5, 0.1, 0.2],
                     [-0.3, 0.0, 0.1]])
    mu = x.mean(axis=0)
    sigma = np.sqrt(((x - mu) ** 2).mean(axis=0) + 1e-5)
    x_hat = (x - mu) / sigma
    by_hand = gamma / (4 * sigma) * (4 * dout - dout.sum(axis=0)
                                     - x_hat * (dout * x_hat).sum(axis=0))
    _, cache = layers.batchnorm_forward(x, gamma, beta)
    dx = layers.batchnorm_backward(dout, cache)[0]
    np.testing.assert_allclose(dx, by_hand, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dx, torch_training(x, gamma, beta, dout)[1],
                               rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("dtype", DTYPES)
@SETTINGS
@given(data=st.data())
def test_running_stats_match_torch_modules(dtype, data):
    x, _, _, _ = data.draw(batches(dtype))
    momentum = data.draw(st.sampled_from([0.0, 0.1, 0.5, 1.0])
                         | st.floats(0, 1))
    c = x.shape[1]
    rng = np.random.default_rng(0)
    running_mean = rng.standard_normal(c).astype(dtype)
    running_var = rng.uniform(0.1, 3, c).astype(dtype)
    module = (torch.nn.BatchNorm2d if x.ndim == 4 else
              torch.nn.BatchNorm1d)(c, momentum=momentum,
                                    dtype=TORCH_DTYPE[dtype])
    module.running_mean.copy_(torch.tensor(running_mean))
    module.running_var.copy_(torch.tensor(running_var))
    module.train()
    module(torch.tensor(x))
    mean, var = layers.batchnorm_running_stats(x, running_mean,
                                               running_var,
                                               momentum=momentum)
    assert mean.dtype == var.dtype == dtype
    m = x.size // c
    eps = np.finfo(dtype).eps
    scale = np.abs(x).max()
    # torch rounds momentum to dtype before taking 1 - momentum: an
    # absolute error of eps/2 on the weight of the running statistic
    np.testing.assert_allclose(
        mean, module.running_mean.numpy(), rtol=8 * eps,
        atol=8 * math.sqrt(m) * eps * scale + eps * np.abs(running_mean).max())
    np.testing.assert_allclose(
        var, module.running_var.numpy(), rtol=64 * math.sqrt(m) * eps,
        atol=64 * m * eps * scale ** 2 + eps * running_var.max())


def test_running_stats_leave_their_inputs_alone():
    x = np.arange(12.0).reshape(4, 3)
    rm, rv = np.zeros(3), np.ones(3)
    mean, var = layers.batchnorm_running_stats(x, rm, rv)
    np.testing.assert_array_equal(rm, 0)
    np.testing.assert_array_equal(rv, 1)
    assert not np.shares_memory(mean, rm) and not np.shares_memory(var, rv)


@pytest.mark.parametrize("dtype", DTYPES)
@SETTINGS
@given(data=st.data())
def test_eval_mode_matches_torch(dtype, data):
    x, gamma, beta, _ = data.draw(batches(dtype, min_m=1))
    if data.draw(st.booleans()):
        x = x[:1]  # N = 1: fine in evaluation mode
    c = x.shape[1]
    rng = np.random.default_rng(1)
    mean = (x.mean(axis=channel_axes(x)) + rng.standard_normal(c)).astype(
        dtype)
    var = (x.var(axis=channel_axes(x)) * rng.uniform(0.5, 2, c)).astype(
        dtype)
    out = layers.batchnorm_eval(x, mean, var, gamma, beta)
    ref = F.batch_norm(*(torch.tensor(a) for a in (x, mean, var, gamma,
                                                   beta)),
                       training=False, eps=1e-5).numpy()
    assert out.dtype == dtype and out.shape == x.shape
    spread = np.max((np.abs(x).max(axis=channel_axes(x)) + np.abs(mean))
                    / np.sqrt(var + 1e-5))
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(
        out, ref, rtol=0,
        atol=8 * eps * (1 + spread) * np.abs(gamma).max() + 4 * eps
        * np.abs(beta).max())


def test_forward_normalises_every_channel():
    """Each channel of the output has mean beta and (biased) standard
    deviation |gamma| sqrt(var / (var + eps))."""
    rng = np.random.default_rng(3)
    x = 5 + 3 * rng.standard_normal((8, 2, 3, 3))
    gamma, beta = np.array([2.0, -0.5]), np.array([1.0, -1.0])
    out, _ = layers.batchnorm_forward(x, gamma, beta)
    var = x.var(axis=(0, 2, 3))
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), beta, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)),
                               np.abs(gamma) * np.sqrt(var / (var + 1e-5)),
                               rtol=1e-12)


def test_cache_does_not_see_later_in_place_changes():
    x = np.array([[1.0, 2.0], [3.0, 5.0], [0.0, -1.0]])
    gamma, beta = np.array([1.0, 2.0]), np.zeros(2)
    dout = np.arange(6.0).reshape(3, 2)
    _, cache = layers.batchnorm_forward(x, gamma, beta)
    expected = layers.batchnorm_backward(dout, cache)
    _, cache = layers.batchnorm_forward(x, gamma, beta)
    x *= 7
    gamma[:] = -3
    for got, want in zip(layers.batchnorm_backward(dout, cache), expected):
        np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------ bad input

X = np.ones((4, 3))
C3 = np.ones(3)
ERRORS = [
    (lambda: layers.batchnorm_forward(np.ones((1, 3)), C3, C3), ValueError,
     r"Expected more than 1 value per channel when training, got x of "
     r"shape \(1, 3\)"),
    (lambda: layers.batchnorm_forward(np.ones((1, 3, 1, 1)), C3, C3),
     ValueError, r"more than 1 value per channel.*\(1, 3, 1, 1\)"),
    (lambda: layers.batchnorm_running_stats(np.ones((1, 3)), C3, C3),
     ValueError, r"more than 1 value per channel"),
    (lambda: layers.batchnorm_forward(np.ones((0, 3)), C3, C3), ValueError,
     r"more than 1 value per channel"),
    (lambda: layers.batchnorm_forward(X, np.ones(2), C3), ValueError,
     r"gamma has shape \(2,\) but x has shape \(4, 3\).*\(3,\)"),
    (lambda: layers.batchnorm_forward(X, C3, np.ones(4)), ValueError,
     r"beta has shape \(4,\)"),
    (lambda: layers.batchnorm_forward(np.ones(4), C3, C3), ValueError,
     r"x must have shape \(N, D\), \(N, C, L\) or \(N, C, H, W\)"),
    (lambda: layers.batchnorm_forward(X, C3, C3, eps=0), ValueError,
     r"eps must be a finite number > 0"),
    (lambda: layers.batchnorm_forward(X, C3, C3, eps=np.nan), ValueError,
     r"eps must be a finite number"),
    (lambda: layers.batchnorm_eval(X, C3, C3, C3, C3, eps=-1e-5),
     ValueError, r"eps must be a finite number > 0"),
    (lambda: layers.batchnorm_forward(X.astype(np.float32), C3, C3),
     TypeError, r"x is float32, gamma is float64"),
    (lambda: layers.batchnorm_forward(X.astype(np.float16), [1, 1, 1],
                                      [0, 0, 0]), TypeError,
     r"x has dtype float16.*float32 or float64"),
    (lambda: layers.batchnorm_running_stats(X, C3, C3, momentum=1.5),
     ValueError, r"momentum must be a finite number >= 0 and <= 1"),
    (lambda: layers.batchnorm_running_stats(X, C3, -C3), ValueError,
     r"running_var must be >= 0"),
    (lambda: layers.batchnorm_eval(X, C3, -C3, C3, C3), ValueError,
     r"running_var must be >= 0"),
    (lambda: layers.batchnorm_eval(X, np.ones(2), C3, C3, C3), ValueError,
     r"running_mean has shape \(2,\)"),
    (lambda: layers.batchnorm_backward(
        np.ones((4, 2)), layers.batchnorm_forward(X, C3, C3)[1]),
     ValueError, r"dout has shape \(4, 2\) but the layer's output has "
                 r"shape \(4, 3\)"),
]


@pytest.mark.parametrize("call,exc,match", ERRORS)
def test_bad_input_is_named(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_torch_raises_for_one_value_per_channel_too():
    """The N = 1 rule is PyTorch's, not an invention."""
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(torch.ones(1, 3), None, None, training=True)


def test_non_finite_values_propagate_per_channel_as_in_torch():
    x = np.array([[1.0, 2.0, 0.0], [np.inf, 3.0, 1.0], [0.0, 1.0, np.nan]])
    gamma, beta = np.ones(3), np.zeros(3)
    dout = np.ones_like(x)
    with np.errstate(invalid="ignore"):  # NumPy warns, as it should
        out, cache = layers.batchnorm_forward(x, gamma, beta)
        dx = layers.batchnorm_backward(dout, cache)[0]
    ref = torch_training(x, gamma, beta, dout)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ref[0]))
    np.testing.assert_allclose(out, ref[0], rtol=1e-12, equal_nan=True)
    np.testing.assert_array_equal(np.isnan(dx), np.isnan(ref[1]))


# ------------------------------------- the edge cases of issue 16, by name
# (the hypothesis strategies above reach them too, but only by chance)

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 3), (1, 2, 5), (1, 3, 1, 1),
                                   (1, 2, 3, 3)])
def test_eval_mode_with_a_single_example_matches_torch(dtype, shape):
    """N = 1 is what evaluation mode is for: one example at a time."""
    rng = np.random.default_rng(sum(shape))
    c = shape[1]
    x = rng.normal(2, 3, size=shape).astype(dtype)
    mean, var = rng.normal(size=c).astype(dtype), rng.uniform(
        0.1, 4, c).astype(dtype)
    gamma, beta = rng.normal(size=c).astype(dtype), rng.normal(
        size=c).astype(dtype)
    out = layers.batchnorm_eval(x, mean, var, gamma, beta)
    ref = F.batch_norm(*(torch.tensor(a) for a in (x, mean, var, gamma,
                                                   beta)), training=False,
                       eps=1e-5).numpy()
    assert out.shape == shape and out.dtype == dtype
    np.testing.assert_allclose(out, ref, rtol=8 * np.finfo(dtype).eps,
                               atol=64 * np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 1), (7, 1), (3, 1, 4), (2, 1, 3, 2)])
def test_one_feature_matches_torch(dtype, shape):
    """D = 1 (C = 1): a single column or channel."""
    rng = np.random.default_rng(len(shape))
    x = rng.normal(1, 2, size=shape).astype(dtype)
    gamma, beta = np.array([1.5], dtype), np.array([-0.5], dtype)
    dout = rng.normal(size=shape).astype(dtype)
    out, cache = layers.batchnorm_forward(x, gamma, beta)
    dx, dgamma, dbeta = layers.batchnorm_backward(dout, cache)
    ref = torch_training(x, gamma, beta, dout)
    atol = tolerance(x, dtype)
    for mine, theirs in zip((out, dx, dgamma, dbeta), ref):
        assert mine.dtype == dtype and mine.shape == theirs.shape
        np.testing.assert_allclose(mine, theirs, rtol=0,
                                   atol=16 * atol * (1 + np.abs(theirs).max()))


@pytest.mark.parametrize("scale", [0.0, 1e-6, 1e-3, 1e3, 1e5])
def test_tiny_zero_and_large_variances_match_torch(scale):
    """A constant column (variance 0), variances far below eps (the
    output is then about (x - mean) / sqrt(eps), not 1-normalised) and far
    above it, in float64."""
    rng = np.random.default_rng(7)
    x = 4.0 + scale * rng.standard_normal((6, 2))
    gamma, beta = np.array([2.0, -1.0]), np.array([0.5, 0.0])
    dout = rng.standard_normal(x.shape)
    out, cache = layers.batchnorm_forward(x, gamma, beta)
    dx, dgamma, dbeta = layers.batchnorm_backward(dout, cache)
    ref_out, ref_dx, ref_dgamma, ref_dbeta = torch_training(x, gamma, beta,
                                                            dout)
    atol = tolerance(x, np.float64)
    np.testing.assert_allclose(out, ref_out, rtol=0, atol=4 * atol)
    np.testing.assert_allclose(dx, ref_dx, rtol=0, atol=4 * atol * np.abs(
        ref_dx).max() + 1e-300)
    np.testing.assert_allclose(dgamma, ref_dgamma, rtol=0, atol=8 * atol)
    np.testing.assert_allclose(dbeta, ref_dbeta, rtol=1e-14)
    if scale == 0:
        # x_hat = 0: the output is beta, and dx = gamma (g - mean g) / s
        np.testing.assert_array_equal(out, np.broadcast_to(beta, x.shape))
        np.testing.assert_allclose(
            dx, gamma * (dout - dout.mean(axis=0)) / np.sqrt(1e-5),
            rtol=1e-12)


@pytest.mark.parametrize("shape,raises", [
    ((1, 3), True), ((1, 3, 1), True), ((1, 3, 1, 1), True),
    ((1, 3, 2), False), ((1, 3, 1, 2), False), ((2, 3), False)])
def test_training_needs_two_values_per_channel_like_torch(shape, raises):
    """PyTorch raises when N times the spatial size is 1, not when N is 1:
    an image batch of one example still has H W values per channel."""
    x = np.random.default_rng(0).standard_normal(shape)
    c3 = np.ones(3)
    module = (torch.nn.BatchNorm2d if len(shape) == 4
              else torch.nn.BatchNorm1d)(3, dtype=torch.float64)
    if raises:
        with pytest.raises(ValueError, match="more than 1 value per "
                                             "channel"):
            F.batch_norm(torch.tensor(x), None, None, training=True)
        with pytest.raises(ValueError, match="more than 1 value per "
                                             "channel"):
            module(torch.tensor(x))
        with pytest.raises(ValueError, match="Expected more than 1 value "
                                             "per channel when training"):
            layers.batchnorm_forward(x, c3, c3)
        with pytest.raises(ValueError, match="more than 1 value"):
            layers.batchnorm_running_stats(x, c3, c3)
    else:
        ref = F.batch_norm(torch.tensor(x), None, None, training=True)
        out, _ = layers.batchnorm_forward(x, c3, np.zeros(3))
        np.testing.assert_allclose(out, ref.numpy(), rtol=1e-10,
                                   atol=1e-12)
        module(torch.tensor(x))
        mean, var = layers.batchnorm_running_stats(x, np.zeros(3),
                                                   np.ones(3))
        np.testing.assert_allclose(mean, module.running_mean.numpy(),
                                   rtol=1e-12)
        np.testing.assert_allclose(var, module.running_var.numpy(),
                                   rtol=1e-12)
