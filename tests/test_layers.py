"""calc_nn.layers: the linear and activation pairs against torch.autograd,
their caches, dtypes and errors. Batch norm: test_batchnorm.py; dropout:
test_dropout.py; bad input of every kind: test_robustness_layers.py."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from calc_nn import layers
from calc_nn.gradcheck import numerical_gradient, relative_error

SETTINGS = settings(max_examples=60, deadline=None)
TORCH_ACT = {"relu": torch.relu, "sigmoid": torch.sigmoid,
             "tanh": torch.tanh,
             "leaky_relu": torch.nn.functional.leaky_relu}
NAMED_PAIRS = ["relu", "sigmoid", "tanh"]  # with *_forward / *_backward
DTYPES = [np.float32, np.float64]
EPS = {np.float32: np.finfo(np.float32).eps,
       np.float64: np.finfo(np.float64).eps}


@st.composite
def linear_case(draw, dtype=np.float64, batched=True):
    n = draw(st.integers(0, 6))
    n_in, n_out = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    lead = (n,) if batched else ()
    return tuple(rng.standard_normal(s).astype(dtype) for s in (
        lead + (n_in,), (n_out, n_in), (n_out,), lead + (n_out,)))


def torch_linear(x, W, b, dout):
    """``F.linear`` and its autograd gradients, as NumPy arrays."""
    tx, tW, tb = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
    out = torch.nn.functional.linear(tx, tW, tb)
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), tx.grad.numpy(), tW.grad.numpy(), \
        tb.grad.numpy()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batched", [True, False])
@SETTINGS
@given(data=st.data())
def test_linear_matches_torch(dtype, batched, data):
    x, W, b, dout = data.draw(linear_case(dtype, batched))
    out, cache = layers.linear_forward(x, W, b)
    grads = layers.linear_backward(dout, cache)
    expected = torch_linear(x, W, b, dout)
    # sums of at most 6 products of standard normals: a few eps of the
    # terms (|x| |W| <= ~25 each)
    atol = 64 * EPS[dtype]
    for mine, ref in zip((out, *grads), expected):
        assert mine.shape == ref.shape and mine.dtype == dtype
        np.testing.assert_allclose(mine, ref, rtol=16 * EPS[dtype],
                                   atol=atol)


def test_linear_single_vector_and_finite_differences():
    rng = np.random.default_rng(1)
    x, W, b = rng.standard_normal(3), rng.standard_normal((2, 3)), \
        rng.standard_normal(2)
    dout = rng.standard_normal(2)
    out, cache = layers.linear_forward(x, W, b)
    assert out.shape == (2,)
    dx, dW, db = layers.linear_backward(dout, cache)

    def loss_of(which):
        def f(v):
            args = {"x": x, "W": W, "b": b, which: v}
            return float(dout @ layers.linear_forward(**args)[0])
        return f
    for name, mine, at in (("x", dx, x), ("W", dW, W), ("b", db, b)):
        assert relative_error(mine, numerical_gradient(loss_of(name), at)) \
            < 1e-8


def test_linear_cache_does_not_see_later_in_place_changes():
    """Issue 12 item 7: PyTorch raises for the analogous in-place change;
    calc_nn keeps copies, so the gradients belong to the forward pass."""
    rng = np.random.default_rng(2)
    x, W, b = rng.standard_normal((4, 3)), rng.standard_normal((2, 3)), \
        rng.standard_normal(2)
    dout = rng.standard_normal((4, 2))
    _, expected_dx, expected_dW, _ = torch_linear(x, W, b, dout)
    _, cache = layers.linear_forward(x, W, b)
    x += 100.0
    W *= -3.0
    dx, dW, _ = layers.linear_backward(dout, cache)
    np.testing.assert_allclose(dW, expected_dW, rtol=1e-12)
    np.testing.assert_allclose(dx, expected_dx, rtol=1e-12)


def test_activation_cache_does_not_see_later_in_place_changes():
    z = np.array([-1.0, 2.0])
    _, cache = layers.relu_forward(z)
    z[:] = [3.0, -4.0]
    np.testing.assert_array_equal(layers.relu_backward(np.ones(2), cache),
                                  [0.0, 1.0])


@pytest.mark.parametrize("args,names", [
    ((np.float32, np.float64, np.float64), ("x is float32", "W is float64")),
    ((np.float64, np.float32, np.float32), ("x is float64", "W is float32")),
    ((np.float32, np.float32, np.float64), ("x is float32", "b is float64")),
])
def test_linear_mixed_precision_is_a_type_error_naming_both(args, names):
    """Issue 12 item 13: PyTorch's rule, no silent promotion."""
    x, W, b = (np.ones(s, d) for s, d in zip([(2, 3), (4, 3), (4,)], args))
    with pytest.raises(TypeError) as info:
        layers.linear_forward(x, W, b)
    assert all(name in str(info.value) for name in names)


def test_linear_ints_and_lists_take_the_floating_dtype():
    out, cache = layers.linear_forward([[1, 2]], np.ones((3, 2), np.float32),
                                       [0, 0, 1])
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in layers.linear_backward(
        [[1, 1, 1]], cache))


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_backward_returns_one_dtype_or_names_the_mismatch(dtype):
    other = np.float64 if dtype == np.float32 else np.float32
    _, cache = layers.linear_forward(np.ones((2, 3), dtype),
                                     np.ones((4, 3), dtype), np.ones(4, dtype))
    assert {g.dtype for g in layers.linear_backward(
        np.ones((2, 4), dtype), cache)} == {np.dtype(dtype)}
    with pytest.raises(TypeError, match=r"dout is float\d\d, x is float"):
        layers.linear_backward(np.ones((2, 4), other), cache)


@pytest.mark.parametrize("x_shape,W_shape,b_shape,pattern", [
    ((4, 3), (2, 5), (2,), r"\(4, 3\).*\(2, 5\)"),
    ((4, 3), (2, 3), (3,), r"\(3,\).*\(2, 3\)"),
    ((3,), (2, 4), (2,), r"\(3,\).*\(2, 4\)"),
    ((4, 3), (3,), (3,), r"W must have shape.*\(3,\)"),
    ((2, 2, 3), (2, 3), (2,), r"x must have shape.*\(2, 2, 3\)"),
])
def test_linear_shape_errors_name_both_shapes(x_shape, W_shape, b_shape,
                                              pattern):
    with pytest.raises(ValueError, match=pattern):
        layers.linear_forward(np.zeros(x_shape), np.zeros(W_shape),
                              np.zeros(b_shape))


def test_linear_backward_checks_dout_shape():
    _, cache = layers.linear_forward(np.zeros((4, 3)), np.zeros((2, 3)),
                                     np.zeros(2))
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(4, 2\)"):
        layers.linear_backward(np.zeros((4, 3)), cache)


# -------------------------------------------------------------- caches

def _caches():
    z = np.zeros((2, 3))
    rng = np.random.default_rng(0)
    return {
        "LinearCache": layers.linear_forward(z, np.zeros((4, 3)),
                                             np.zeros(4))[1],
        "ActivationCache": layers.relu_forward(z)[1],
        "BatchNormCache": layers.batchnorm_forward(z, np.ones(3),
                                                   np.zeros(3))[1],
        "DropoutCache": layers.dropout_forward(z, 0.5, rng=rng)[1],
        "tuple": (z, z),
    }


BACKWARDS = {
    "linear_backward": "LinearCache",
    "activation_backward": "ActivationCache",
    "relu_backward": "ActivationCache",
    "sigmoid_backward": "ActivationCache",
    "tanh_backward": "ActivationCache",
    "batchnorm_backward": "BatchNormCache",
    "batchnorm_backward_naive": "BatchNormCache",
    "dropout_backward": "DropoutCache",
}


@pytest.mark.parametrize("backward", BACKWARDS)
def test_a_wrong_cache_is_rejected_by_name(backward):
    expected = BACKWARDS[backward]
    for given_name, cache in _caches().items():
        if given_name == expected:
            continue
        with pytest.raises(TypeError) as info:
            getattr(layers, backward)(np.zeros((2, 3)), cache)
        message = str(info.value)
        assert expected in message and given_name in message, message


@pytest.mark.parametrize("forward_name", NAMED_PAIRS)
@pytest.mark.parametrize("backward_name", NAMED_PAIRS)
def test_named_backward_rejects_another_activations_cache(forward_name,
                                                           backward_name):
    z = np.array([-1.0, 0.5, 2.0])
    _, cache = getattr(layers, f"{forward_name}_forward")(z)
    backward = getattr(layers, f"{backward_name}_backward")
    if forward_name == backward_name:
        assert backward(np.ones(3), cache).shape == (3,)
    else:
        with pytest.raises(ValueError, match=f"{backward_name}_backward "
                           f"got the cache of a '{forward_name}'"):
            backward(np.ones(3), cache)


# ---------------------------------------------------------- activations

def _torch_activation(name, z, dout):
    tz = torch.tensor(z, requires_grad=True)
    ta = TORCH_ACT[name](tz)
    ta.backward(torch.tensor(dout))
    return ta.detach().numpy(), tz.grad.numpy()


@pytest.mark.parametrize("name", NAMED_PAIRS + ["leaky_relu"])
@pytest.mark.parametrize("dtype", DTYPES)
@SETTINGS
@given(data=st.data())
def test_activation_pairs_match_torch(name, dtype, data):
    """The generic pair and the named pairs, on any shape, with values up
    to 1e4 and the kink at 0, in float32 and float64."""
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0,
                                       max_side=5))
    elements = st.one_of(st.sampled_from([0.0, -0.0, 1e4, -1e4, 30.0,
                                          -30.0]),
                         st.floats(-50, 50, width=32))
    z = data.draw(hnp.arrays(dtype, shape, elements=elements))
    dout = data.draw(hnp.arrays(dtype, shape, elements=st.floats(
        -10, 10, width=32)))
    if name in NAMED_PAIRS:
        a, cache = getattr(layers, f"{name}_forward")(z)
        dz = getattr(layers, f"{name}_backward")(dout, cache)
        a2, cache2 = layers.activation_forward(z, name)
        np.testing.assert_array_equal(a2, a)
        np.testing.assert_array_equal(
            layers.activation_backward(dout, cache2), dz)
    else:
        a, cache = layers.activation_forward(z, name)
        dz = layers.activation_backward(dout, cache)
    ref_a, ref_dz = _torch_activation(name, z, dout)
    assert a.dtype == dz.dtype == dtype and a.shape == z.shape
    eps = EPS[dtype]
    np.testing.assert_allclose(a, ref_a, rtol=4 * eps, atol=1e-300)
    # f'(z) = s(1 - s) or 1 - t^2 cancels where s, |t| ~ 1: both sides
    # are off by a few eps of 1, absolute, times |dout|
    np.testing.assert_allclose(dz, ref_dz, rtol=32 * eps,
                               atol=8 * eps * np.abs(dout).max(initial=0))


@pytest.mark.parametrize("name", NAMED_PAIRS)
def test_activation_layers_propagate_nan_and_inf_as_torch(name):
    """Elementwise maths propagates non-finite values (never a finite
    wrong number): the named layer against torch, value and gradient."""
    z = np.array([np.nan, np.inf, -np.inf, 0.0, 1.0])
    dout = np.array([1.0, 1.0, 1.0, np.nan, np.inf])
    a, cache = getattr(layers, f"{name}_forward")(z)
    dz = getattr(layers, f"{name}_backward")(dout, cache)
    ref_a, ref_dz = _torch_activation(name, z, dout)
    if name == "relu":
        # torch's ReLU backward selects (where(a > 0, dout, 0)); calc_nn
        # multiplies, dout * relu_grad(z), so a NaN upstream gradient
        # stays NaN at z <= 0, and relu_grad(nan) is NaN (a NaN input never
        # gives a finite number; torch passes dout)
        ref_dz = np.where(np.isnan(dout) | np.isnan(z), np.nan, ref_dz)
    np.testing.assert_array_equal(a, ref_a)
    np.testing.assert_array_equal(dz, ref_dz)


def test_activation_errors():
    with pytest.raises(ValueError, match=r"sigmoid.*tanh.*relu.*'softplus'"):
        layers.activation_forward(np.zeros(2), "softplus")
    with pytest.raises(TypeError, match=r"name must be .*str.*list"):
        layers.activation_forward(np.zeros(2), ["relu"])
    _, cache = layers.relu_forward(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(2, 3\)"):
        layers.relu_backward(np.zeros((3, 2)), cache)
    _, cache = layers.relu_forward(np.zeros(2, np.float32))
    with pytest.raises(TypeError, match=r"dout is float64, z is float32"):
        layers.relu_backward(np.zeros(2), cache)
