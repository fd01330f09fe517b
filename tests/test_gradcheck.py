"""calc_nn.gradcheck: finite differences and the relative error."""

import numpy as np
import pytest

from calc_nn import activations as act
from calc_nn.gradcheck import (
    central_difference,
    numerical_gradient,
    relative_error,
)


def test_central_difference_of_smooth_functions():
    x = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(central_difference(np.sin, x), np.cos(x),
                               rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(central_difference(act.sigmoid, x),
                               act.sigmoid_grad(x), rtol=1e-8)


def test_numerical_gradient_of_a_scalar_function():
    W = np.array([[1.0, -2.0], [0.5, 3.0]])
    grad = numerical_gradient(lambda w: np.sum(np.tanh(w) ** 2), W)
    np.testing.assert_allclose(grad, 2 * np.tanh(W) * act.tanh_grad(W),
                               rtol=1e-8)


def test_relative_error_detects_a_wrong_gradient():
    x = np.linspace(-3, 3, 7)
    right = central_difference(act.sigmoid, x)
    assert relative_error(act.sigmoid_grad(x), right) < 1e-8
    wrong = act.sigmoid(x) * (1 + act.sigmoid(x))  # a typical slip
    assert relative_error(wrong, right) > 0.1


def test_relative_error_shapes():
    assert relative_error(np.empty(0), np.empty(0)) == 0.0
    with pytest.raises(ValueError, match=r"a has shape \(2,\) but b has "
                                         r"shape \(3,\)"):
        relative_error(np.zeros(2), np.zeros(3))
