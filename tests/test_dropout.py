"""calc_nn.layers dropout: inverted dropout against torch's
``F.dropout`` (scale, evaluation mode, p = 0), the statistics of the mask,
the backward pass, and named errors."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from calc_nn import layers

SETTINGS = settings(max_examples=60, deadline=None)
DTYPES = [np.float16, np.float32, np.float64]
TORCH_DTYPE = {np.float16: torch.float16, np.float32: torch.float32,
               np.float64: torch.float64}
ps = st.sampled_from([0.1, 0.3, 0.5, 0.7, 0.9]) | st.floats(0.001, 0.999)


def rng(seed=0):
    return np.random.default_rng(seed)


def torch_scale(p, dtype):
    """The value torch's dropout gives a kept 1: its 1/(1 - p), rounded as
    torch rounds it in ``dtype`` (65,536 entries: some are kept, but for
    a chance of e^-65, even with p = 0.999)."""
    torch.manual_seed(0)
    out = F.dropout(torch.ones(65536, dtype=TORCH_DTYPE[dtype]), p)
    kept = out[out != 0]
    assert len(kept) > 0
    return kept[0].item()


@pytest.mark.parametrize("dtype", DTYPES)
@SETTINGS
@given(p=ps, seed=st.integers(0, 2**32 - 1))
def test_kept_entries_are_scaled_exactly_as_torch(dtype, p, seed):
    out, cache = layers.dropout_forward(np.ones(65536, dtype), p,
                                        rng=rng(seed))
    assert out.dtype == dtype and cache.mask.dtype == dtype
    kept = out[out != 0]
    assert len(kept) > 0
    assert set(kept.tolist()) == {torch_scale(p, dtype)}


@pytest.mark.parametrize("dtype", DTYPES)
@SETTINGS
@given(data=st.data())
def test_output_is_x_times_the_mask(dtype, data):
    x = data.draw(hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=3,
                                                     min_side=0),
                             elements=st.floats(-10, 10, width=16)))
    p = data.draw(ps)
    out, cache = layers.dropout_forward(x, p, rng=rng(data.draw(
        st.integers(0, 2**32 - 1))))
    assert out.shape == x.shape
    np.testing.assert_array_equal(np.isin(cache.mask, [0, torch_scale(
        p, dtype)]), True)
    # as torch: input * (mask / (1 - p)), one rounding
    ref = (torch.tensor(x) * torch.tensor(cache.mask)).numpy()
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_keeps_each_entry_with_probability_1_minus_p(p):
    """Binomial: the number kept is within 5 standard deviations of
    n (1 - p), and so is every column of a batch; the mean is kept."""
    n = 200_000
    x = np.random.default_rng(1).uniform(1, 2, n)
    out, cache = layers.dropout_forward(x, p, rng=rng(2))
    kept = np.count_nonzero(cache.mask)
    assert abs(kept - n * (1 - p)) < 5 * math.sqrt(n * p * (1 - p))
    # E[out] = x: the mean of out is within 5 standard errors of x's
    se = math.sqrt(np.mean(x ** 2) * p / (1 - p) / n)
    assert abs(out.mean() - x.mean()) < 5 * se


def test_draws_from_the_generator_it_is_given():
    x = np.ones((50, 40))
    a, _ = layers.dropout_forward(x, 0.5, rng=rng(7))
    b, _ = layers.dropout_forward(x, 0.5, rng=rng(7))
    generator = rng(7)
    c, _ = layers.dropout_forward(x, 0.5, rng=generator)
    d, _ = layers.dropout_forward(x, 0.5, rng=generator)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(c, d)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p,training", [(0.5, False), (0.0, True),
                                        (0.0, False), (0.99, False)])
def test_identity_in_evaluation_mode_and_for_p_0(dtype, p, training):
    x = np.array([[1.5, -2.0, np.inf], [np.nan, 0.0, 3.0]], dtype)
    generator = rng(3)
    state = generator.bit_generator.state
    out, cache = layers.dropout_forward(x, p, rng=generator,
                                        training=training)
    ref = F.dropout(torch.tensor(x), p, training=training).numpy()
    np.testing.assert_array_equal(out, ref)
    assert out is not x and not np.shares_memory(out, x)
    assert generator.bit_generator.state == state  # nothing drawn
    dout = np.arange(6, dtype=dtype).reshape(2, 3)
    np.testing.assert_array_equal(layers.dropout_backward(dout, cache), dout)


@pytest.mark.parametrize("dtype", DTYPES)
@SETTINGS
@given(p=ps, seed=st.integers(0, 2**32 - 1))
def test_backward_matches_torch_autograd_through_the_same_mask(dtype, p,
                                                               seed):
    """torch's dropout backward is dout times its mask (0 or its scale):
    calc_nn's must use the forward's mask, the same scale."""
    x = np.random.default_rng(seed).uniform(0.5, 2, (6, 7)).astype(dtype)
    dout = np.random.default_rng(seed + 1).standard_normal((6, 7)).astype(
        dtype)
    out, cache = layers.dropout_forward(x, p, rng=rng(seed))
    dx = layers.dropout_backward(dout, cache)
    tx = torch.tensor(x, requires_grad=True)
    torch_mask = torch.tensor((out != 0) * torch_scale(p, dtype),
                              dtype=tx.dtype)
    (tx * torch_mask).backward(torch.tensor(dout))
    assert dx.dtype == dtype
    np.testing.assert_array_equal(dx, tx.grad.numpy())


def test_cache_is_the_forwards_own_mask():
    x = np.ones(10)
    out, cache = layers.dropout_forward(x, 0.5, rng=rng(0))
    x[:] = 5.0
    out[:] = 9.0
    assert set(cache.mask.tolist()) <= {0.0, 2.0}


ERRORS = [
    (dict(p=1.0), ValueError, r"p must be a finite number >= 0 and < 1, "
                              r"got 1.0"),
    (dict(p=-0.1), ValueError, r"p must be .* >= 0"),
    (dict(p=np.nan), ValueError, r"p must be a finite number"),
    (dict(p=True), TypeError, r"p must be a real number"),
    (dict(p="0.5"), TypeError, r"p must be a real number"),
    (dict(rng=0), TypeError, r"rng must be a numpy.random.Generator"),
    (dict(rng=np.random.RandomState(0)), TypeError,
     r"rng must be a numpy.random.Generator"),
    (dict(training="yes"), ValueError, r"training must be one of "
                                       r"\[True, False\]"),
    (dict(x=np.array(["a"])), TypeError, r"x must be an array of real"),
]


@pytest.mark.parametrize("kwargs,exc,match", ERRORS)
def test_bad_input_is_named(kwargs, exc, match):
    args = dict(x=np.ones(3), p=0.5, rng=rng(), training=True) | kwargs
    with pytest.raises(exc, match=match):
        layers.dropout_forward(args.pop("x"), args.pop("p"), **args)


def test_backward_checks_dout():
    _, cache = layers.dropout_forward(np.ones((2, 3), np.float32), 0.5,
                                      rng=rng())
    with pytest.raises(ValueError, match=r"dout has shape \(3, 2\)"):
        layers.dropout_backward(np.ones((3, 2), np.float32), cache)
    with pytest.raises(TypeError, match=r"dout is float64, x is float32"):
        layers.dropout_backward(np.ones((2, 3)), cache)
