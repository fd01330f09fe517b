"""Bad input for the core modules (issue 12): every public function of
``activations``, ``autograd``, ``gradcheck``, ``verify`` and ``symbolic``,
fed non-finite values, wrong kinds, degenerate shapes (0-d, empty), float16,
mixed dtypes and read-only or reversed views, gives the right result
(PyTorch's, where there is one) or a ValueError/TypeError that names the
argument; it never changes its input, never returns a view of it, and never
warns."""

import math

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from strategies import (
    correct_or_named_error,
    degenerate_shapes,
    with_nonfinite,
    wrong_kind,
)

from calc_nn import activations as act
from calc_nn import autograd, gradcheck, symbolic, verify
from calc_nn.symbolic import (
    backprop_formulas,
    cnn_formulas,
    landscape_formulas,
    loss_formulas,
)

FLOATS = [np.float16, np.float32, np.float64]
SETTINGS = settings(max_examples=40, deadline=None)
shapes = hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4)


@st.composite
def float_inputs(draw, dtype, min_dims=0):
    """A float array of ``dtype``: finite or with NaN/inf, maybe a reversed
    or read-only view."""
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=2, min_side=0,
                                  max_side=4))
    x = draw(st.one_of(
        with_nonfinite(shape, dtype),
        hnp.arrays(dtype, shape, elements=st.floats(
            -100, 100, width=np.dtype(dtype).itemsize * 8)))).copy()
    if x.ndim and draw(st.booleans()):
        x = x[..., ::-1]
    if draw(st.booleans()):
        x.flags.writeable = False
    return x


def tolerances(dtype):
    """(rtol, atol) between calc_nn and PyTorch: a few ulps relative (float16
    rounds after each NumPy operation, PyTorch once), plus the subnormal
    range, plus a few eps absolute where PyTorch's derivative comes from
    its output."""
    info = np.finfo(dtype)
    return 8 * float(info.eps), 4 * float(info.eps)


def assert_matches(ours, ref, x, dtype, nan_at_nan=False):
    """Same shape and dtype, NaN where PyTorch has NaN (and, with
    ``nan_at_nan``, where x is NaN), close elsewhere."""
    assert ours.shape == ref.shape and ours.dtype == dtype
    ours64 = np.asarray(ours, np.float64)
    ref64 = np.asarray(ref, np.float64)
    if nan_at_nan:
        assert np.all(np.isnan(ours64[np.isnan(x)]))
        ref64 = np.where(np.isnan(x), np.nan, ref64)
    rtol, atol = tolerances(dtype)
    np.testing.assert_allclose(ours64, ref64, rtol=rtol, atol=atol)


def assert_untouched(x, before, result):
    np.testing.assert_array_equal(x, before)
    assert not np.shares_memory(np.asarray(result), x)


# ------------------------------------------------ elementwise activations

NAMES = list(act.ACTIVATIONS)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", FLOATS)
@SETTINGS
@given(data=st.data())
def test_activations_and_derivatives_match_torch(name, dtype, data):
    """Non-finite values propagate as in PyTorch (a NaN input gives a NaN
    derivative, where PyTorch's ReLU gives 1); float16 and float32 stay."""
    x = data.draw(float_inputs(dtype))
    alpha = data.draw(st.sampled_from([0.0, 0.01, 0.3, 1.0]))
    before = x.copy()
    value = verify.numpy_activation(name, x, alpha)
    assert_untouched(x, before, value)
    ref = verify.torch_activation(name, x, alpha)
    if name == "leaky_relu" and alpha == 0:
        # slope 0 is ReLU, 0 at -inf; PyTorch computes -inf * 0 = NaN
        ref[x == -np.inf] = 0
    assert_matches(value, ref, x, dtype)
    grad = verify.numpy_derivative(name, x, alpha)
    assert_untouched(x, before, grad)
    assert_matches(grad, verify.torch_derivative(name, x, alpha), x, dtype,
                   nan_at_nan=True)


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
@pytest.mark.parametrize("dtype", FLOATS)
@SETTINGS
@given(data=st.data())
def test_derivatives_from_the_output_match_torch(name, dtype, data):
    x = data.draw(float_inputs(dtype))
    f, f_grad = act.ACTIVATIONS[name]
    y = f(x)
    y_before = y.copy()
    grad = f_grad(x, y)
    assert_untouched(y, y_before, grad)
    assert_matches(grad, verify.torch_derivative(name, x), x, dtype,
                   nan_at_nan=True)


ELEMENTWISE = [act.sigmoid, act.sigmoid_grad, act.tanh, act.tanh_grad,
               act.relu, act.relu_grad, act.leaky_relu, act.leaky_relu_grad]


@pytest.mark.parametrize("f", ELEMENTWISE)
@settings(max_examples=20, deadline=None)
@given(shape=degenerate_shapes, data=st.data())
def test_elementwise_degenerate_shapes_and_wrong_kinds(f, shape, data):
    x = np.full(shape, 0.5, np.float32)
    out = f(x)
    assert np.shape(out) == shape and out.dtype == np.float32
    bad = data.draw(wrong_kind(shape))
    with pytest.raises(TypeError, match="x must be an array of real"):
        f(bad)


@pytest.mark.parametrize("f", [act.sigmoid_grad, act.tanh_grad])
def test_the_output_must_match_the_input(f):
    x = np.zeros(3, np.float32)
    with pytest.raises(TypeError, match="x is float32, y is float64"):
        f(x, np.zeros(3))
    with pytest.raises(ValueError, match=r"y has shape \(2,\) but x has "
                                         r"shape \(3,\)"):
        f(x, np.zeros(2, np.float32))
    with pytest.raises(TypeError, match="y must be an array of real"):
        f(x, np.array(["a"] * 3))


bad_hyper = st.sampled_from([np.nan, np.inf, -np.inf, -0.5, 1.5, "0.1",
                             None, True, np.array([0.1]), 1 + 1j])


@pytest.mark.parametrize("f", [act.leaky_relu, act.leaky_relu_grad,
                               lambda x, alpha: act.get("relu", alpha)])
@settings(max_examples=30, deadline=None)
@given(alpha=bad_hyper)
def test_bad_alpha_is_named(f, alpha):
    with pytest.raises((ValueError, TypeError), match="alpha must be"):
        f(np.ones(2), alpha=alpha)


# ------------------------------------------------------- softmax family

@pytest.mark.parametrize("dtype", FLOATS)
@SETTINGS
@given(data=st.data())
def test_softmax_family_matches_torch(dtype, data):
    """A row with +inf or NaN is NaN, a row of -inf is NaN, a -inf logit
    with finite ones gets probability 0: as in PyTorch."""
    z = data.draw(float_inputs(dtype, min_dims=1))
    axis = data.draw(st.integers(-z.ndim, z.ndim - 1))
    t = torch.from_numpy(np.array(z))
    before = z.copy()
    for ours, ref in ((act.softmax(z, axis), torch.softmax(t, axis)),
                      (act.log_softmax(z, axis), torch.log_softmax(t, axis))):
        assert_untouched(z, before, ours)
        assert_matches(ours, ref.numpy(), z, dtype)
    s = torch.softmax(t, -1)
    jac = torch.diag_embed(s) - s[..., :, None] * s[..., None, :]
    assert_matches(act.softmax_jacobian(z), jac.numpy(), None, dtype)


@pytest.mark.parametrize("f", [act.softmax, act.log_softmax,
                               act.softmax_jacobian])
@settings(max_examples=20, deadline=None)
@given(shape=degenerate_shapes, data=st.data())
def test_softmax_family_degenerate_shapes_and_wrong_kinds(f, shape, data):
    z = np.zeros(shape)
    result, error = correct_or_named_error(lambda: f(z), "z must have shape")
    if shape == ():
        assert error is not None
    else:
        expected = shape + shape[-1:] if f is act.softmax_jacobian else shape
        assert result.shape == expected
    with pytest.raises(TypeError, match="z must be an array of real"):
        f(data.draw(wrong_kind(shape)))


@pytest.mark.parametrize("axis,error", [
    (2, ValueError), (-3, ValueError), (1.0, TypeError), (True, TypeError),
    ("0", TypeError), (None, TypeError)])
def test_softmax_axis_is_named(axis, error):
    for f in (act.softmax, act.log_softmax):
        with pytest.raises(error, match="axis"):
            f(np.zeros((2, 3)), axis=axis)


# ------------------------------------------------ registry, chain gradient

@pytest.mark.parametrize("name", ["gelu", "", 3, None, ["relu"], "ReLU"])
def test_unknown_activation_names_are_listed(name):
    for call in (lambda: act.get(name), lambda: act.chain_gradient(name, 2),
                 lambda: verify.numpy_activation(name, [1.0]),
                 lambda: verify.torch_derivative(name, [1.0]),
                 lambda: verify.four_way_derivatives(name, [1.0]),
                 lambda: symbolic.activation(name),
                 lambda: backprop_formulas.symbolic_network([1, 1], name)):
        with pytest.raises(ValueError, match=r"activation must be one of "
                                             r"\['sigmoid', 'tanh'"):
            call()


def _is_real(v, low=-np.inf):
    return (isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(v) and v >= low)


@settings(max_examples=60, deadline=None)
@given(depth=st.one_of(st.integers(-3, 60), st.sampled_from(
           [2.0, True, "3", None])),
       w=st.one_of(st.floats(-1e12, 1e12), st.sampled_from(
           [np.nan, np.inf, "1", None])),
       x0=st.one_of(st.floats(-10, 10), st.sampled_from([np.nan, -np.inf,
                                                          "0.5"])),
       name=st.sampled_from(NAMES))
@example(depth=60, w=1e10, x0=1.0, name="relu")  # explodes past 1e308
def test_chain_gradient_named_errors_or_ieee_results(depth, w, x0, name):
    """Bad arguments are named; an exploding chain gives inf (or NaN where
    0 * inf appears, as PyTorch's backward does), never a warning."""
    result, error = correct_or_named_error(
        lambda: act.chain_gradient(name, depth, w=w, x0=x0), "depth", "w",
        "x0")
    valid = (isinstance(depth, int) and not isinstance(depth, bool)
             and depth >= 0 and _is_real(w) and _is_real(x0))
    assert (error is None) == valid
    if valid:
        a, grad = result
        assert a.shape == grad.shape == (depth + 1,)
        assert a[0] == x0 and grad[-1] == 1.0


# ------------------------------------------------------------- autograd

EDGE = st.one_of(st.sampled_from([0.0, -0.0, 1.0, -2.0, 1e-300, 1e200,
                                  -1e200, 800.0, -800.0, np.inf, -np.inf,
                                  np.nan]),
                 st.floats(-5, 5))

UNARY = {
    "exp": lambda v: v.exp(), "log": lambda v: v.log(),
    "tanh": lambda v: v.tanh(), "relu": lambda v: v.relu(),
    "sigmoid": lambda v: v.sigmoid(), "neg": lambda v: -v,
    "square": lambda v: v ** 2, "cube": lambda v: v ** 3,
    "sqrt": lambda v: v ** 0.5, "inverse": lambda v: v ** -1,
    "power 0": lambda v: v ** 0, "2 ** v": lambda v: 2.0 ** v,
}
BINARY = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b,
    "*": lambda a, b: a * b, "/": lambda a, b: a / b,
}
DOMAIN = ("log needs a positive argument", "integer exponent",
          "negative power", "division of a Value by zero")


def _torch_run(f, values):
    ts = [torch.tensor(v, dtype=torch.float64, requires_grad=True)
          for v in values]
    out = f(*ts)
    out.backward()
    return out.item(), [t.grad.item() for t in ts]


@pytest.mark.parametrize("name", sorted(UNARY) + sorted(BINARY))
@settings(max_examples=60, deadline=None)
@given(a=EDGE, b=EDGE)
def test_value_ops_follow_ieee_and_torch(name, a, b):
    """Overflow gives inf and NaN propagates, value and gradients as in
    PyTorch; a point outside the domain (log 0, 1/0, (-2) ** 0.5) raises a
    ValueError or ZeroDivisionError that says so, and only where PyTorch's
    value is not finite. At a NaN input the ReLU's local gradient is NaN
    (PyTorch's is 1)."""
    f = UNARY.get(name) or BINARY[name]
    values = [a] if name in UNARY else [a, b]
    ref, ref_grads = _torch_run(f, values)
    vs = [autograd.Value(v) for v in values]
    try:
        out = f(*vs)
    except (ValueError, ZeroDivisionError) as error:
        assert any(d in str(error) for d in DOMAIN), error
        assert not math.isfinite(ref)
        return
    out.backward()
    np.testing.assert_allclose(out.data, ref, rtol=1e-15)
    grads = [v.grad for v in vs]
    if name == "relu" and math.isnan(a):
        assert math.isnan(grads[0])
        return
    if name == "sqrt" and a == 0:
        # PyTorch's sqrt gives 1/(2 sqrt(-0.0)) = -inf at -0.0; the
        # derivative of x ** 0.5 at 0 is +inf, IEEE's pow(-0.0, -0.5)
        ref_grads = [math.inf]
    # tanh' = 1 - t^2 and sigmoid' = s (1 - s) are accurate to a few eps
    # absolute (PyTorch computes them from the output)
    np.testing.assert_allclose(grads, ref_grads, rtol=1e-14, atol=1e-15)


@settings(max_examples=40, deadline=None)
@given(bad=st.sampled_from(["1", None, [1.0], np.array([1.0, 2.0]),
                            1 + 2j, True, torch.tensor(1.0)]))
def test_value_kinds_are_named(bad):
    v = autograd.Value(1.0)
    for call, name in ((lambda: autograd.Value(bad), "data"),
                       (lambda: v + bad, "operand"),
                       (lambda: v * bad, "operand"),
                       (lambda: bad - v if not isinstance(
                           bad, (np.ndarray, torch.Tensor)) else v - bad,
                        "operand"),
                       (lambda: v ** bad, "exponent"),
                       (lambda: autograd.topological_order(bad), "root"),
                       (lambda: list(autograd.backward_steps(bad)), "root")):
        with pytest.raises(TypeError, match=f"{name} must be"):
            call()


# ------------------------------------------------------------ gradcheck

@pytest.mark.parametrize("dtype", FLOATS)
@SETTINGS
@given(data=st.data())
def test_gradcheck_accepts_finite_input_and_names_the_rest(dtype, data):
    x = data.draw(float_inputs(dtype))
    before = x.copy()
    finite = bool(np.all(np.isfinite(x)))
    cd, error = correct_or_named_error(
        lambda: gradcheck.central_difference(np.sin, x), "x must be finite")
    assert (error is None) == finite
    ng, error = correct_or_named_error(
        lambda: gradcheck.numerical_gradient(
            lambda v: float(np.sum(np.sin(v))), x), "x must be finite")
    assert (error is None) == finite
    _, error = correct_or_named_error(
        lambda: gradcheck.relative_error(x, np.zeros(x.shape)),
        "a must be finite")
    assert (error is None) == finite
    np.testing.assert_array_equal(x, before)
    if finite:
        exact = np.cos(x.astype(np.float64))
        assert cd.dtype == ng.dtype == np.float64
        assert cd.shape == ng.shape == x.shape
        # truncation h^2 max|sin'''| / 6; rounding eps / h; and x +- h rounded
        # (the step is off by up to eps |x|)
        h = gradcheck.default_step(x)
        eps = np.finfo(np.float64).eps
        allowed = h ** 2 / 6 + eps * (4 + np.abs(x)) / h
        assert np.all(np.abs(cd - exact) <= allowed)
        assert np.all(np.abs(ng - exact) <= allowed)
        assert h.shape == x.shape and np.all(h > 0)


@settings(max_examples=20, deadline=None)
@given(shape=degenerate_shapes, data=st.data())
def test_gradcheck_wrong_kinds_are_named(shape, data):
    bad = data.draw(wrong_kind(shape))
    for call, name in (
            (lambda: gradcheck.default_step(bad), "x"),
            (lambda: gradcheck.central_difference(np.sin, bad), "x"),
            (lambda: gradcheck.numerical_gradient(np.sum, bad), "x"),
            (lambda: gradcheck.relative_error(bad, bad), "a"),
            (lambda: gradcheck.relative_error(np.zeros(shape), bad), "b")):
        with pytest.raises(TypeError, match=f"{name} must be an array"):
            call()


@pytest.mark.parametrize("h", [np.nan, np.inf, -np.inf, -0.5, 0.0, "0.1",
                               True, 1 + 1j, [0.1, 0.2], [np.nan]])
def test_a_bad_step_is_named(h):
    with pytest.raises((ValueError, TypeError), match="h must be|h has "):
        gradcheck.central_difference(np.sin, [1.0], h=h)
    with pytest.raises((ValueError, TypeError), match="h must be|h has "):
        gradcheck.numerical_gradient(np.sum, [1.0], h=h)


@pytest.mark.parametrize("eps", [np.nan, np.inf, -1e-12, 0.0, "1e-12",
                                 None, True, [1e-12]])
def test_a_bad_eps_is_named(eps):
    with pytest.raises((ValueError, TypeError), match="eps must be"):
        gradcheck.relative_error([1.0], [1.0], eps=eps)


# --------------------------------------------------------------- verify

@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_the_oracles_refuse_nan_and_inf_and_keep_shapes(name, data):
    """The exact oracle and the four-way check need numbers: NaN and inf
    are a ValueError naming x; 0-d and empty arrays keep their shape."""
    shape = data.draw(st.sampled_from([(), (0,), (2, 0), (2,)]))
    x = data.draw(st.one_of(
        with_nonfinite(shape),
        hnp.arrays(np.float64, shape, elements=st.floats(-5, 5))))
    finite = bool(np.all(np.isfinite(x)))
    for f in (verify.sympy_activation, verify.sympy_derivative,
              verify.four_way_derivatives):
        result, error = correct_or_named_error(lambda: f(name, x),
                                               "x must be finite")
        assert (error is None) == finite
        if finite:
            values = result.values() if isinstance(result, dict) else [
                result]
            assert all(np.shape(v) == shape for v in values)


@pytest.mark.parametrize("f", [verify.numpy_activation,
                               verify.numpy_derivative,
                               verify.torch_activation,
                               verify.torch_derivative,
                               verify.sympy_activation,
                               verify.sympy_derivative,
                               verify.four_way_derivatives])
@settings(max_examples=15, deadline=None)
@given(shape=degenerate_shapes, data=st.data(), alpha=bad_hyper)
def test_verify_names_wrong_kinds_and_bad_alpha(f, shape, data, alpha):
    with pytest.raises(TypeError, match="x must be an array of real"):
        f("sigmoid", data.draw(wrong_kind(shape)))
    with pytest.raises((ValueError, TypeError), match="alpha must be"):
        f("leaky_relu", np.zeros(shape), alpha)


# ------------------------------------------------------------- symbolic

@st.composite
def bad_counts(draw):
    return draw(st.sampled_from([0, -1, 2.5, True, "3", None, np.nan]))


@settings(max_examples=30, deadline=None)
@given(n=bad_counts())
def test_symbolic_counts_are_named(n):
    for call, name in (
            (lambda: symbolic.softmax(n), "n_classes"),
            (lambda: symbolic.log_softmax(n), "n_classes"),
            (lambda: symbolic.softmax_jacobian(n), "n_classes"),
            (lambda: symbolic.depth_gradient_bound("tanh", n), "depth"),
            (lambda: loss_formulas.mse(n), "n"),
            (lambda: loss_formulas.mse_gradient(n), "n"),
            (lambda: loss_formulas.cross_entropy(n), "n_classes"),
            (lambda: loss_formulas.cross_entropy_gradient(n), "n_classes"),
            (lambda: loss_formulas.softmax_ce_chain(n), "n_classes"),
            (lambda: loss_formulas.weighted_cross_entropy(n), "n_classes"),
            (lambda: loss_formulas.weighted_gradient_pattern(n),
             "n_classes"),
            (lambda: loss_formulas.focal_expression(n), "n_classes"),
            (lambda: loss_formulas.focal_expression(3, n), "target"),
            (lambda: loss_formulas.categorical_nll(n), "n_classes"),
            (lambda: loss_formulas.cross_entropy_decomposition(n),
             "n_classes"),
            (lambda: cnn_formulas.symbols_matrix("x", n, 2), "rows"),
            (lambda: cnn_formulas.conv_layer(n, 1), "n"),
            (lambda: cnn_formulas.gradients(3, n), "k"),
            (lambda: backprop_formulas.layer_symbols([2, n]),
             "every entry of sizes"),
            (lambda: backprop_formulas.delta_equations_hold(points=n),
             "points")):
        if name in ("depth", "target") and n == 0:
            continue  # (1/4)**0 is a bound, class 0 a target
        with pytest.raises((ValueError, TypeError), match=f"{name} must"):
            call()


@pytest.mark.parametrize("call,error,pattern", [
    (lambda: landscape_formulas.landscape("bowl"), ValueError,
     "landscape must be one of"),
    (lambda: landscape_formulas.gradient(["quadratic"]), ValueError,
     "landscape must be one of"),
    (lambda: landscape_formulas.hessian(None), ValueError,
     "landscape must be one of"),
    (lambda: landscape_formulas.lambdified("x"), ValueError,
     "landscape must be one of"),
    (lambda: landscape_formulas.latex_definition(1), ValueError,
     "landscape must be one of"),
    (lambda: cnn_formulas.gradients(2, 3), ValueError, "k must be an int"),
    (lambda: cnn_formulas.correlate([[1]], sp.eye(2)), TypeError,
     "A must be a SymPy Matrix"),
    (lambda: cnn_formulas.correlate(sp.eye(2), sp.ones(3, 3)), ValueError,
     r"K \(3x3\) must fit inside A \(2x2\)"),
    (lambda: cnn_formulas.full_convolve(sp.eye(2), 3), TypeError,
     "K must be a SymPy Matrix"),
    (lambda: cnn_formulas.claimed_gradients({}), TypeError,
     "grads must be the dict gradients"),
    (lambda: backprop_formulas.layer_symbols([3]), ValueError,
     "sizes must list at least two"),
    (lambda: backprop_formulas.symbolic_network(4), TypeError,
     "sizes must be a sequence"),
    (lambda: backprop_formulas.delta_equations({}), TypeError,
     "net must be the dict symbolic_network"),
])
def test_symbolic_arguments_are_named(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


@pytest.mark.parametrize("name", NAMES)
def test_symbolic_activation_functions_accept_every_registry_name(name):
    assert isinstance(symbolic.activation(name), sp.Expr)
    assert isinstance(symbolic.derivative(name), sp.Expr)
    assert symbolic.latex_definition(name).startswith(
        symbolic.activation_formulas._LATEX_NAMES[name])
    assert symbolic.latex_derivative(name)
    assert len(symbolic.value_range(name)) == 2
    assert len(symbolic.max_derivative(name)) == 2
