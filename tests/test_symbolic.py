"""calc_nn.symbolic: the SymPy facts the chapter displays hold numerically."""

import numpy as np
import pytest
import sympy as sp

from calc_nn import activations as act
from calc_nn import symbolic
from calc_nn.verify import ACTIVATION_NAMES, numpy_derivative

GRID = np.linspace(-20, 20, 40001)


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_identities_hold(name):
    assert symbolic.identity_holds(name)
    fx, g = symbolic.derivative_identity(name)
    # and numerically: g evaluated at f(x) equals the NumPy derivative
    f_values = act.get(name)[0](GRID)
    g_num = sp.lambdify(sp.Symbol("f"), g.subs(fx, sp.Symbol("f")))(f_values)
    np.testing.assert_allclose(g_num, numpy_derivative(name, GRID),
                               atol=1e-15)


def test_a_wrong_identity_is_caught(monkeypatch):
    fx, _ = symbolic.derivative_identity("sigmoid")
    monkeypatch.setitem(symbolic._IDENTITIES, "sigmoid", (fx, fx * (1 + fx)))
    assert not symbolic.identity_holds("sigmoid")


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_max_derivative_matches_a_fine_grid(name):
    x_star, peak = symbolic.max_derivative(name)
    values = numpy_derivative(name, GRID)
    assert np.max(values) == pytest.approx(float(peak), rel=1e-6)
    if x_star.is_finite:
        assert GRID[np.argmax(values)] == pytest.approx(float(x_star),
                                                        abs=1e-3)


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_value_range_matches_numpy(name):
    lo, hi = symbolic.value_range(name)
    f = act.get(name, alpha=0.01)[0]
    far = np.array([-1e4, 1e4])
    y = f(far)
    for limit, value in ((lo, y[0]), (hi, y[1])):
        if limit.is_infinite:
            assert np.sign(value) == np.sign(float(limit))
            assert abs(value) >= 1e2
        else:
            assert value == pytest.approx(float(limit), abs=1e-12)


def test_latex_comes_from_the_expressions():
    assert symbolic.latex_definition("sigmoid") == (
        r"\sigma(x) = " + sp.latex(symbolic.activation("sigmoid")))
    assert r"\frac{e^{- x}}{\left(1 + e^{- x}\right)^{2}}" in \
        symbolic.latex_derivative("sigmoid")


def test_unknown_name():
    with pytest.raises(ValueError, match="activation must be one of .*, "
                                         "got 'swish'"):
        symbolic.activation("swish")


@pytest.mark.parametrize("n", [1, 2, 4])
def test_softmax_jacobian_pattern(n):
    z, s = symbolic.softmax(n)
    _, J = symbolic.softmax_jacobian(n)
    pattern = sp.Matrix(n, n, lambda i, j: s[i] * (int(i == j) - s[j]))
    assert sp.simplify(J - pattern) == sp.zeros(n, n)
    # numerically against the NumPy Jacobian
    values = np.linspace(-2, 3, n)
    J_num = np.array(J.subs(dict(zip(z, values))).evalf(), dtype=float)
    np.testing.assert_allclose(act.softmax_jacobian(values), J_num,
                               rtol=1e-12, atol=1e-15)


def test_log_softmax_expression_matches_numpy():
    z, ls = symbolic.log_softmax(3)
    values = [1000.0, 0.0, -3.5]
    exact = symbolic.evaluate_exact(ls[0], z)(*values)
    assert act.log_softmax(np.array(values))[0] == pytest.approx(
        float(exact), rel=1e-15)


def test_depth_bound():
    assert symbolic.depth_gradient_bound("sigmoid", 10) == sp.Rational(
        1, 4) ** 10
    # every sigmoid chain with |w| <= 1 stays below the bound
    for w in (-1.0, -0.3, 0.5, 1.0):
        for x0 in (-2.0, 0.0, 0.5, 3.0):
            _, grad = act.chain_gradient("sigmoid", 10, w=w, x0=x0)
            assert abs(grad[0]) <= float(
                symbolic.depth_gradient_bound("sigmoid", 10))


def test_evaluate_exact_handles_cancellation_and_overflow():
    f = symbolic.evaluate_exact(symbolic.activation("tanh"))
    np.testing.assert_array_equal(f(np.array([0.0, 1e-300])),
                                  [0.0, 1e-300])
    g = symbolic.evaluate_exact(symbolic.derivative("sigmoid"))
    assert g(np.array([-1e4]))[0] == 0.0  # e^-1e4 underflows to 0 in float
    assert g(np.array([30.0]))[0] == pytest.approx(9.357622968839e-14,
                                                   rel=1e-12)


# ------------------------------------------------------- issue 12, item 6

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_the_exact_oracle_refuses_nan_and_inf(bad):
    """sympy.Rational(nan) is 0: the oracle would call sigmoid(nan) 0.5.
    It raises instead, naming the symbol."""
    from calc_nn import verify

    assert sp.Rational(float("nan")) == 0  # why the check is needed
    with pytest.raises(ValueError, match=f"x must be finite; it contains "
                                         f"{bad}"):
        verify.sympy_activation("sigmoid", [0.0, bad])
    with pytest.raises(ValueError, match="x must be finite"):
        verify.sympy_derivative("tanh", np.array([bad]))
    f = symbolic.evaluate_exact(symbolic.activation("leaky_relu"),
                                (symbolic.x, symbolic.alpha))
    with pytest.raises(ValueError, match="alpha must be finite"):
        f([1.0], bad)


def test_evaluate_exact_checks_its_arguments():
    with pytest.raises(TypeError, match="expr must be a SymPy expression"):
        symbolic.evaluate_exact(lambda v: v)
    with pytest.raises(TypeError, match="symbols must be a non-empty tuple"):
        symbolic.evaluate_exact(symbolic.x, ("x",))
    f = symbolic.evaluate_exact(symbolic.activation("sigmoid"))
    with pytest.raises(TypeError, match=r"give one array per symbol"):
        f([0.0], [1.0])
    with pytest.raises(TypeError, match="x must be an array of real"):
        f(["a"])
    assert f(0.0).shape == () and f(0.0) == 0.5
    assert f(np.empty((2, 0))).shape == (2, 0)
    assert f(np.float32(30.0)) == pytest.approx(1 / (1 + np.exp(-30.0)),
                                                 rel=1e-15)


@pytest.mark.parametrize("call,error,pattern", [
    (lambda: symbolic.activation(3), ValueError,
     "activation must be one of"),
    (lambda: symbolic.derivative(["sigmoid"]), ValueError,
     "activation must be one of"),
    (lambda: symbolic.max_derivative("gelu"), ValueError,
     "activation must be one of"),
    (lambda: symbolic.derivative_identity("relu"), ValueError,
     "relu has no derivative identity"),
    (lambda: symbolic.softmax(0), ValueError,
     "n_classes must be an int >= 1"),
    (lambda: symbolic.log_softmax(2.5), TypeError,
     "n_classes must be an int"),
    (lambda: symbolic.softmax_jacobian(True), TypeError,
     "n_classes must be an int"),
    (lambda: symbolic.depth_gradient_bound("sigmoid", -1), ValueError,
     "depth must be an int >= 0"),
    (lambda: symbolic.depth_gradient_bound("sigmoid", 2.0), TypeError,
     "depth must be an int"),
])
def test_bad_arguments_are_named(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()
