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


# ------------------------------------------------------- issue 12, item 6

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_relative_error_refuses_nan_and_inf(bad):
    """A NaN error compares False with any threshold: relative_error(a, b)
    > 1e-4 would let a broken gradient through. It raises, naming the
    array."""
    good = np.array([1.0, 2.0, 3.0])
    broken = good.copy()
    broken[1] = bad
    with pytest.raises(ValueError, match=f"a must be finite; it contains "
                                         f"{bad}"):
        relative_error(broken, good)
    with pytest.raises(ValueError, match="b must be finite"):
        relative_error(good, broken)


def test_relative_error_compares_mixed_precisions_in_float64():
    a = np.array([1.0, 2.0], np.float32)
    b = np.array([1.0, 2.0 + 1e-6])
    assert relative_error(a, b) == pytest.approx(1e-6 / 4.000001, rel=1e-9)


@pytest.mark.parametrize("eps", [0.0, -1.0, np.nan, np.inf])
def test_relative_error_needs_a_positive_eps(eps):
    with pytest.raises(ValueError, match="eps must be a finite number > 0"):
        relative_error([1.0], [1.0], eps=eps)


@pytest.mark.parametrize("call,pattern", [
    (lambda: central_difference(np.sin, [0.0, np.nan]),
     "x must be finite; it contains nan"),
    (lambda: numerical_gradient(np.sum, [np.inf]),
     "x must be finite; it contains inf"),
    (lambda: central_difference(np.sin, [1.0], h=0.0),
     "h must be a finite number > 0"),
    (lambda: central_difference(np.sin, [1.0, 2.0], h=[1e-3, -1e-3]),
     "every entry of h must be a finite number > 0"),
    (lambda: central_difference(np.sin, [1.0, 2.0], h=[1e-3]),
     r"h has shape \(1,\) but x has shape \(2,\)"),
    (lambda: central_difference(lambda v: np.sum(v), [1.0, 2.0]),
     r"f must return shape \(2,\), got shape \(\) at x \+ h"),
    (lambda: numerical_gradient(lambda v: v, [1.0, 2.0]),
     r"f must return one number, got shape \(2,\)"),
    (lambda: central_difference(lambda v: 1 / (v - v), [1.0]),
     "the value of f at x \\+ h must be finite"),
])
def test_finite_differences_refuse_what_they_cannot_check(call, pattern):
    with np.errstate(divide="ignore"):
        with pytest.raises(ValueError, match=pattern):
            call()


def test_finite_differences_need_a_function():
    with pytest.raises(TypeError, match="f must be a function, got int"):
        central_difference(3, [1.0])
    with pytest.raises(TypeError, match="x must be an array of real"):
        numerical_gradient(np.sum, ["a"])


def test_degenerate_shapes():
    assert central_difference(np.sin, 0.5) == pytest.approx(np.cos(0.5))
    assert central_difference(np.sin, np.empty((0, 3))).shape == (0, 3)
    assert numerical_gradient(lambda v: float(v ** 2), 3.0) == \
        pytest.approx(6.0)
    assert numerical_gradient(np.sum, np.empty(0)).shape == (0,)
    x = np.array([1.0, 2.0])
    numerical_gradient(np.sum, x)
    central_difference(np.sin, x)
    np.testing.assert_array_equal(x, [1.0, 2.0])  # the input is untouched


def test_numerical_gradient_of_a_coupled_function():
    """Every entry is perturbed on its own, the others left exactly where
    they were (a function that couples the entries would notice)."""
    def f(v):
        return float(v[0] * v[1] ** 2 + np.sin(v[0] + 2 * v[1]))
    x = np.array([0.7, -1.3])
    c = np.cos(x[0] + 2 * x[1])
    exact = [x[1] ** 2 + c, 2 * x[0] * x[1] + 2 * c]
    np.testing.assert_allclose(numerical_gradient(f, x), exact, rtol=1e-9)


def test_module_docstring_numbers():
    """The module docstring: eps^(1/3) is "about 6e-6 in float64" and "5e-3"
    in float32, where "the best attainable error is around 1e-5" (the
    median central-difference errors of the calculus chapter's figure)."""
    from calc_nn import gradcheck
    from calc_nn.symbolic import calculus_formulas as calc

    doc = " ".join(gradcheck.__doc__.split())
    assert "about 6e-6 in float64" in doc and "is 5e-3" in doc
    assert f"{np.cbrt(np.finfo(np.float64).eps):.0e}" == "6e-06"
    assert f"{np.cbrt(np.finfo(np.float32).eps):.0e}" == "5e-03"
    assert "around 1e-5" in doc
    hs = calc.step_grid()
    for name in calc.DIFFERENCES:
        _, best = calc.best_step(
            hs, calc.difference_errors(name, hs, "central", np.float32))
        assert 1e-5 / 3 < best < 1e-5 * 3, name
