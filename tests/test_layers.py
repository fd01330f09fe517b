"""calc_nn.layers: forward/backward pairs against torch.autograd."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from calc_nn import activations as act
from calc_nn import layers
from calc_nn.gradcheck import numerical_gradient, relative_error

SETTINGS = settings(max_examples=60, deadline=None)
TORCH_ACT = {"relu": torch.relu, "sigmoid": torch.sigmoid,
             "tanh": torch.tanh}


@st.composite
def linear_case(draw):
    n = draw(st.integers(1, 6))
    n_in = draw(st.integers(1, 6))
    n_out = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, n_in)), rng.standard_normal(
        (n_out, n_in)), rng.standard_normal(n_out),
        rng.standard_normal((n, n_out)))


@SETTINGS
@given(case=linear_case())
def test_linear_matches_torch(case):
    x, W, b, dout = case
    out, cache = layers.linear_forward(x, W, b)
    dx, dW, db = layers.linear_backward(dout, cache)
    tx, tW, tb = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
    tout = torch.nn.functional.linear(tx, tW, tb)
    tout.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-12,
                               atol=1e-12)
    for mine, ref in ((dx, tx), (dW, tW), (db, tb)):
        assert mine.shape == ref.shape
        np.testing.assert_allclose(mine, ref.grad.numpy(), rtol=1e-10,
                                   atol=1e-12)


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


@pytest.mark.parametrize("x_shape,W_shape,b_shape,pattern", [
    ((4, 3), (2, 5), (2,), r"\(4, 3\).*\(2, 5\)"),
    ((4, 3), (2, 3), (3,), r"\(3,\).*\(2, 3\)"),
    ((3,), (2, 4), (2,), r"\(3,\).*\(2, 4\)"),
    ((4, 3), (3,), (3,), r"\(3,\)"),
    ((2, 2, 3), (2, 3), (2,), r"\(2, 2, 3\)"),
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


@pytest.mark.parametrize("name", layers.ACTIVATIONS)
@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), shape=st.tuples(
    st.integers(1, 5), st.integers(1, 5)))
def test_activation_pairs_match_torch(name, seed, shape):
    rng = np.random.default_rng(seed)
    z, dout = 3 * rng.standard_normal(shape), rng.standard_normal(shape)
    forward = getattr(layers, f"{name}_forward")
    backward = getattr(layers, f"{name}_backward")
    a, cache = forward(z)
    dz = backward(dout, cache)
    tz = torch.tensor(z, requires_grad=True)
    ta = TORCH_ACT[name](tz)
    ta.backward(torch.tensor(dout))
    np.testing.assert_allclose(a, ta.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(dz, tz.grad.numpy(), rtol=1e-10, atol=1e-15)


def test_activation_layers_reuse_calc_nn_activations():
    z = np.linspace(-3, 3, 7)
    a, cache = layers.sigmoid_forward(z)
    np.testing.assert_array_equal(a, act.sigmoid(z))
    np.testing.assert_array_equal(layers.sigmoid_backward(np.ones(7), cache),
                                  act.sigmoid_grad(z))


def test_activation_errors():
    with pytest.raises(ValueError, match=r"'softplus'.*relu.*sigmoid.*tanh"):
        layers.activation_forward(np.zeros(2), "softplus")
    _, cache = layers.relu_forward(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(2, 3\)"):
        layers.relu_backward(np.zeros((3, 2)), cache)
