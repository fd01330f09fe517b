"""optim.clip_grad_norm (issue 16) against torch.nn.utils.clip_grad_norm_,
on generated lists of gradients (shapes, dtypes, scales, norms)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from calc_nn import optim


def torch_clip(grads, max_norm, norm_type):
    params = []
    for g in grads:
        p = torch.zeros(g.shape, dtype=torch.from_numpy(g).dtype,
                        requires_grad=True)
        p.grad = torch.from_numpy(g.copy())
        params.append(p)
    total = torch.nn.utils.clip_grad_norm_(params, max_norm,
                                           norm_type=norm_type)
    return [p.grad.numpy() for p in params], float(total)


@st.composite
def gradient_lists(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    scale = draw(st.sampled_from([1e-4, 1.0, 1e3]))
    shapes = draw(st.lists(hnp.array_shapes(min_dims=0, max_dims=3,
                                            min_side=1, max_side=4),
                           min_size=1, max_size=4))
    return [np.asarray(draw(hnp.arrays(dtype, shape, elements=st.floats(
        -10, 10, width=np.dtype(dtype).itemsize * 8))) * dtype(scale))
        for shape in shapes]


@settings(max_examples=150, deadline=None)
@given(grads=gradient_lists(),
       max_norm=st.sampled_from([0.0, 1e-3, 0.5, 1.0, 100.0, 1e6]),
       norm_type=st.sampled_from([1.0, 2.0, 3.5, math.inf]))
def test_clip_grad_norm_equals_torch(grads, max_norm, norm_type):
    before = [g.copy() for g in grads]
    clipped, total = optim.clip_grad_norm(grads, max_norm,
                                          norm_type=norm_type)
    expected, expected_total = torch_clip(grads, max_norm, norm_type)
    for g, b in zip(grads, before):  # arguments left alone
        np.testing.assert_array_equal(g, b)
    eps = float(np.finfo(grads[0].dtype).eps)
    n = sum(g.size for g in grads)
    # a sum of n terms in another order, then a root: sqrt(n) eps relative
    rel = 8 * eps * (np.sqrt(n) + 2)
    assert total == pytest.approx(expected_total, rel=rel, abs=1e-30)
    assert len(clipped) == len(grads)
    for c, e, g in zip(clipped, expected, grads):
        assert isinstance(c, np.ndarray) and c is not g
        assert c.shape == g.shape and c.dtype == g.dtype
        np.testing.assert_allclose(c, e, rtol=rel,
                                   atol=rel * float(np.abs(e).max(
                                       initial=0)) + 1e-40)
    clipped_total = optim.clip_grad_norm(clipped, max_norm,
                                         norm_type=norm_type)[1]
    assert clipped_total <= max_norm * (1 + rel) + 1e-6 * rel


def test_the_formula_on_numbers_a_reader_can_check():
    """|(3, 4)| = 5 and |(12,)| = 12: global norm 13; clipped to 1 every
    entry is divided by 13 + 1e-6."""
    clipped, total = optim.clip_grad_norm([np.array([3.0, 4.0]),
                                           np.array([12.0])], 1.0)
    assert total == 13.0
    np.testing.assert_allclose(clipped[0], [3 / (13 + 1e-6),
                                            4 / (13 + 1e-6)], rtol=1e-15)
    small, total = optim.clip_grad_norm([np.array([0.3, 0.4])], 1.0)
    assert total == pytest.approx(0.5, rel=1e-15)
    np.testing.assert_array_equal(small[0], [0.3, 0.4])  # coef 1: as is
    inf_norm = optim.clip_grad_norm([np.array([3.0, -4.0]),
                                     np.array([[2.0]])], 2.0,
                                    norm_type=math.inf)
    assert inf_norm[1] == 4.0


def test_empty_lists_and_arrays():
    assert optim.clip_grad_norm([], 1.0) == ([], 0.0)
    assert float(torch.nn.utils.clip_grad_norm_([], 1.0)) == 0.0
    clipped, total = optim.clip_grad_norm([np.zeros(0), np.zeros((2, 0))],
                                          1.0)
    assert total == 0.0 and [c.shape for c in clipped] == [(0,), (2, 0)]
    # the infinity norm of nothing is 0 (PyTorch refuses to compute it)
    assert optim.clip_grad_norm([np.zeros(0), np.ones(2)], 1.0,
                                norm_type=math.inf)[1] == 1.0


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_gradients_propagate_like_torch(bad):
    grads = [np.array([1.0, bad]), np.array([2.0])]
    with np.errstate(invalid="ignore"):
        clipped, total = optim.clip_grad_norm(grads, 1.0)
    expected, expected_total = torch_clip(grads, 1.0, 2.0)
    assert np.isnan(total) == np.isnan(expected_total)
    assert total == expected_total or np.isnan(total)
    for c, e in zip(clipped, expected):
        np.testing.assert_array_equal(c, e)


def test_float32_overflow_of_the_squares_is_as_in_torch():
    """Squares of float32 entries above ~1.8e19 overflow: the norm is inf
    and the gradients become 0, in PyTorch and here."""
    grads = [np.array([1e20, 1e20], np.float32)]
    with np.errstate(over="ignore"):
        clipped, total = optim.clip_grad_norm(grads, 1.0)
    expected, expected_total = torch_clip(grads, 1.0, 2.0)
    assert total == expected_total == math.inf
    np.testing.assert_array_equal(clipped[0], expected[0])


@pytest.mark.parametrize("values", [[7.38e-24], [1e20], [7.38e-24] * 2,
                                    [3e-23, 4e-23], [1e-23] * 5])
@pytest.mark.parametrize("norm_type", [2.0, 3.5])
def test_float32_underflow_is_as_in_torch(values, norm_type):
    """One entry is its own norm (no square to underflow, found by
    hypothesis: 7.38e-24 gave 0 here, 7.38e-24 in PyTorch); several tiny
    entries underflow in float32, in PyTorch and here."""
    grads = [np.array(values, np.float32)]
    with np.errstate(over="ignore", under="ignore"):
        _, total = optim.clip_grad_norm(grads, 0.0, norm_type=norm_type)
    _, expected_total = torch_clip(grads, 0.0, norm_type)
    assert total == pytest.approx(expected_total, rel=1e-6, abs=0)


@pytest.mark.parametrize("kwargs,error,name", [
    (dict(grads=np.ones(3)), TypeError, "grads must be a list"),
    (dict(grads=[np.ones(2, np.float32), np.ones(2)]), TypeError,
     r"grads\[0\] is float32, grads\[1\] is float64"),
    (dict(grads=[np.array(["a"])]), TypeError, r"grads\[0\]"),
    (dict(grads=[np.ones(2, complex)]), TypeError, r"grads\[0\]"),
    (dict(max_norm=-1.0), ValueError, "max_norm"),
    (dict(max_norm=math.nan), ValueError, "max_norm"),
    (dict(max_norm=math.inf), ValueError, "max_norm"),
    (dict(max_norm="1"), TypeError, "max_norm"),
    (dict(norm_type=0.0), ValueError, "norm_type"),
    (dict(norm_type=-2.0), ValueError, "norm_type"),
    (dict(norm_type=math.nan), ValueError, "norm_type"),
    (dict(norm_type="inf"), TypeError, "norm_type"),
    (dict(norm_type=-math.inf), ValueError, "norm_type"),
])
def test_bad_input_is_a_named_error(kwargs, error, name):
    args = dict(grads=[np.ones(2)], max_norm=1.0, norm_type=2.0)
    args.update(kwargs)
    with pytest.raises(error, match=name):
        optim.clip_grad_norm(args.pop("grads"), args.pop("max_norm"),
                             **args)


def test_lists_and_ints_become_float64():
    clipped, total = optim.clip_grad_norm([[3, 4]], 10.0)
    assert clipped[0].dtype == np.float64 and total == 5.0
