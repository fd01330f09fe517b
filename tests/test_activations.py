"""calc_nn.activations: values and derivatives, checked four ways.

For every activation, the derivative is computed by SymPy (exactly, with
mpmath), by the hand-written ``*_grad``, by torch.autograd and by central
differences, on generated inputs up to |x| = 1e4.
"""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from strategies import EXTREMES, arrays, logits

from calc_nn import activations as act
from calc_nn import symbolic, verify
from calc_nn.gradcheck import default_step

NAMES = tuple(act.ACTIVATIONS)
# Leaky ReLU's slope: 0 (ReLU) to 1 (the identity)
alphas = st.one_of(st.sampled_from([0.0, 0.01, 0.1, 1.0]), st.floats(0, 1))
SETTINGS = settings(max_examples=200, deadline=None)


def params(name, alpha):
    return {"alpha": alpha} if name == "leaky_relu" else {}


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(x=arrays(max_dims=2), alpha=alphas)
def test_value_matches_sympy_and_torch(name, x, alpha):
    y = verify.numpy_activation(name, x, alpha)
    assert y.shape == x.shape
    exact = verify.sympy_activation(name, x, alpha)
    np.testing.assert_allclose(y, exact, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(y, verify.torch_activation(name, x, alpha),
                               rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(x=arrays(max_dims=2), alpha=alphas)
def test_derivative_four_ways(name, x, alpha):
    ways = verify.four_way_derivatives(name, x, alpha)
    exact = ways["sympy"]
    # The hand-written derivative is as accurate as float64 allows.
    np.testing.assert_allclose(ways["numpy"], exact, rtol=1e-12,
                               atol=1e-300)
    # torch computes s*(1 - s) from its output: accurate in absolute terms
    # only once 1 - s cancels (|x| > ~20), hence the atol.
    np.testing.assert_allclose(ways["torch"], exact, rtol=1e-9, atol=1e-15)
    # Central differences: skip points within one step of the kink at 0.
    smooth = (np.abs(x) > 2 * default_step(x)) | (name in ("sigmoid",
                                                           "tanh"))
    np.testing.assert_allclose(ways["finite_difference"][smooth],
                               exact[smooth], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_dtype_is_kept(name, dtype):
    x = np.array([-3.0, 0.0, 2.5], dtype=dtype)
    assert verify.numpy_activation(name, x).dtype == dtype
    assert verify.numpy_derivative(name, x).dtype == dtype


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("values", [[1, -2, 0], [True, False]])
def test_int_and_bool_become_float64(name, values):
    x = np.array(values)
    y = verify.numpy_activation(name, x)
    assert y.dtype == np.float64
    np.testing.assert_allclose(
        y, verify.numpy_activation(name, x.astype(float)))


@pytest.mark.parametrize("func", [act.sigmoid, act.sigmoid_grad, act.tanh,
                                  act.tanh_grad, act.relu, act.relu_grad,
                                  act.leaky_relu, act.leaky_relu_grad,
                                  act.softmax, act.log_softmax])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_no_overflow_or_warning_at_extremes(func, dtype):
    info = np.finfo(dtype)
    x = np.array(EXTREMES + [-1e4, 1e4, 5e3, info.max, -info.max,
                             info.smallest_subnormal], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            y = func(x)
    if func is act.log_softmax:
        # log softmax(-max) is about -2 max, beyond the range: -inf
        assert np.all(np.isfinite(np.delete(y, -2))) and y[-2] == -np.inf, y
    else:
        assert np.all(np.isfinite(y)), y


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(0,), (2, 0), (0, 3)])
def test_empty_arrays(name, shape):
    x = np.empty(shape)
    assert verify.numpy_activation(name, x).shape == shape
    assert verify.numpy_derivative(name, x).shape == shape


@pytest.mark.parametrize("shape", [(0,), (2, 0), (0, 3)])
def test_softmax_of_empty_arrays(shape):
    assert act.softmax(np.empty(shape)).shape == shape
    assert act.log_softmax(np.empty(shape)).shape == shape


@pytest.mark.parametrize("func,argname", [
    (act.sigmoid, "x"), (act.sigmoid_grad, "x"), (act.tanh, "x"),
    (act.tanh_grad, "x"), (act.relu, "x"), (act.relu_grad, "x"),
    (act.leaky_relu, "x"), (act.leaky_relu_grad, "x"),
    (act.softmax, "z"), (act.log_softmax, "z"), (act.softmax_jacobian, "z"),
])
@pytest.mark.parametrize("bad", [
    np.array(["1.0", "2.0"]), np.array([1.0, None], dtype=object),
    ["a", "b"], np.array([1 + 2j]),
])
def test_non_numeric_input_raises_type_error_naming_argument(func, argname,
                                                             bad):
    with pytest.raises(TypeError, match=rf"^{argname} must be an array of "
                                        r"real numbers.*got dtype"):
        func(bad)


@pytest.mark.parametrize("func", [act.leaky_relu, act.leaky_relu_grad])
@pytest.mark.parametrize("alpha", [-0.01, -1.0, 1.5, float("nan"),
                                   float("inf")])
def test_bad_alpha_raises_value_error(func, alpha):
    with pytest.raises(ValueError, match="alpha must be a finite number >= 0 "
                                         "and <= 1"):
        func(np.ones(3), alpha=alpha)


@pytest.mark.parametrize("func", [act.leaky_relu, act.leaky_relu_grad])
@pytest.mark.parametrize("alpha", ["0.1", None, np.array([0.1, 0.2]), True])
def test_non_number_alpha_raises_type_error(func, alpha):
    with pytest.raises(TypeError, match="alpha must be a real number"):
        func(np.ones(3), alpha=alpha)


def test_derivatives_at_the_kink_follow_pytorch():
    zeros = np.array([0.0, -0.0])
    assert np.all(act.relu_grad(zeros) == 0)
    assert np.all(act.leaky_relu_grad(zeros, alpha=0.2) == 0.2)
    for alpha in (0.0, 0.2):
        t = torch.zeros(2, dtype=torch.float64, requires_grad=True)
        torch.nn.functional.leaky_relu(t, alpha).sum().backward()
        np.testing.assert_array_equal(act.leaky_relu_grad(zeros, alpha),
                                      t.grad.numpy())


@settings(max_examples=80, deadline=None)
@given(z=logits, axis=st.integers(-1, 0))
def test_softmax_and_log_softmax_match_torch(z, axis):
    t = torch.as_tensor(z)
    s = act.softmax(z, axis=axis)
    np.testing.assert_allclose(s, torch.softmax(t, dim=axis).numpy(),
                               rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(s.sum(axis=axis), 1.0, rtol=1e-12)
    np.testing.assert_allclose(act.log_softmax(z, axis=axis),
                               torch.log_softmax(t, dim=axis).numpy(),
                               rtol=1e-12, atol=1e-12)
    assert np.all(np.isfinite(act.log_softmax(z, axis=axis)))


@settings(max_examples=40, deadline=None)
@given(z=logits, shift=st.floats(-1e3, 1e3))
def test_softmax_is_shift_invariant(z, shift):
    np.testing.assert_allclose(act.softmax(z + shift), act.softmax(z),
                               rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("axis", [2, -3])
def test_softmax_axis_out_of_range(axis):
    with pytest.raises(ValueError, match=rf"axis={axis} is out of range"):
        act.softmax(np.zeros((2, 3)), axis=axis)


def test_softmax_needs_a_class_axis():
    with pytest.raises(ValueError, match=r"z must have shape \(\.\.\., C, "
                                         r"\.\.\.\) with at least one axis"):
        act.softmax(np.float64(1.0))


def test_get_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match=r"activation must be one of "
                                         r"\['sigmoid', 'tanh', 'relu', "
                                         r"'leaky_relu'\], got 'gelu'"):
        act.get("gelu")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("w", [0.5, 1.0, 2.5, -1.5])
@pytest.mark.parametrize("x0", [0.5, -0.7])
def test_chain_gradient_matches_autograd(name, w, x0):
    depth = 12
    a, grad = act.chain_gradient(name, depth, w=w, x0=x0, alpha=0.1)
    f = verify._torch_fn(name, 0.1)
    inputs = [torch.tensor(x0, dtype=torch.float64, requires_grad=True)]
    for _ in range(depth):
        nxt = f(w * inputs[-1])
        nxt.retain_grad()
        inputs.append(nxt)
    inputs[-1].backward()
    torch_grad = [t.grad.item() if k < depth else 1.0
                  for k, t in enumerate(inputs)]
    np.testing.assert_allclose(a, [t.item() for t in inputs], rtol=1e-12)
    np.testing.assert_allclose(grad, torch_grad, rtol=1e-10, atol=1e-300)


def test_chain_gradient_bad_depth():
    with pytest.raises(ValueError, match="depth must be an int >= 0, got -1"):
        act.chain_gradient("relu", -1)
    with pytest.raises(TypeError, match="depth must be an int, got float"):
        act.chain_gradient("relu", 2.5)


# ------------------------------------------------------- the one registry

def test_every_table_of_activations_has_the_registry_names():
    names = list(act.ACTIVATIONS)
    assert names == ["sigmoid", "tanh", "relu", "leaky_relu"]
    assert list(verify.ACTIVATION_NAMES) == names
    assert list(symbolic.ACTIVATIONS) == names
    assert list(symbolic.activation_formulas._LATEX_NAMES) == names
    for name in names:  # the torch oracle knows each one
        assert callable(verify._torch_fn(name, 0.1))


@pytest.mark.parametrize("name", NAMES)
def test_registry_pairs_each_function_with_its_derivative(name):
    f, f_grad = act.ACTIVATIONS[name]
    assert (f.__name__, f_grad.__name__) == (name, f"{name}_grad")
    g, g_grad = act.get(name, alpha=0.2)
    x = np.linspace(-3, 3, 13)
    kwargs = {"alpha": 0.2} if name == "leaky_relu" else {}
    np.testing.assert_array_equal(g(x), f(x, **kwargs))
    np.testing.assert_array_equal(g_grad(x), f_grad(x, **kwargs))


# ------------------------------------- precision of the fast formulations

EPS32 = float(np.finfo(np.float32).eps)
TINY32 = float(np.finfo(np.float32).tiny)
floats32 = st.floats(-1e4, 1e4, allow_nan=False, width=32)


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
@settings(max_examples=40, deadline=None)
@given(x=arrays(np.float32, max_dims=1, max_side=8, elements=st.one_of(
    st.sampled_from([-88.0, -30.0, -17.0, 17.0, 30.0, 88.0]), floats32)))
def test_float32_keeps_relative_precision_in_the_tails(name, x):
    """float32 in, a few float32 ulps of the exact value out, however far
    in the tails (sigmoid(-30) = 9.4e-14, sigmoid'(30) alike), down to
    float32's subnormal range."""
    for value, exact in ((verify.numpy_activation(name, x),
                          verify.sympy_activation(name, x)),
                         (verify.numpy_derivative(name, x),
                          verify.sympy_derivative(name, x))):
        assert value.dtype == np.float32
        np.testing.assert_allclose(value, exact, rtol=8 * EPS32,
                                   atol=TINY32)


@pytest.mark.parametrize("name,f", [("sigmoid", act.sigmoid),
                                    ("tanh", act.tanh)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_derivative_from_the_output_has_the_documented_precision(
        name, f, dtype, data):
    """f_grad(x, y=f(x)) is PyTorch's formula: error <= a few eps
    absolute; for the sigmoid on x <= 0 (where 1 - y does not cancel) a
    few eps relative."""
    x = data.draw(arrays(dtype, max_dims=1, max_side=8))
    eps = float(np.finfo(dtype).eps)
    grad = act.ACTIVATIONS[name][1]
    from_y = grad(x, f(x))
    assert from_y.dtype == dtype and from_y.shape == x.shape
    exact = verify.sympy_derivative(name, x)
    np.testing.assert_allclose(from_y, exact, rtol=8 * eps, atol=4 * eps)
    if name == "sigmoid":
        left = x <= 0
        np.testing.assert_allclose(from_y[left], exact[left], rtol=8 * eps,
                                   atol=np.finfo(dtype).tiny)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@settings(max_examples=100, deadline=None)
@given(alpha=st.one_of(st.sampled_from([0.0, 0.01, 0.1, 0.3, 0.5, 1.0,
                                        2.0 ** -12, 1 - 2.0 ** -12]),
                       st.floats(0, 1)))
def test_leaky_relu_grad_is_exactly_1_or_alpha(dtype, alpha):
    x = np.array([-2.0, -0.0, 0.0, 1e-3, 5.0, -1e4], dtype=dtype)
    g = act.leaky_relu_grad(x, alpha)
    slope = dtype(alpha)
    assert g.dtype == dtype
    np.testing.assert_array_equal(g, [slope, slope, slope, 1, 1, slope])


def test_leaky_relu_with_slope_0_is_relu_also_at_infinity():
    x = np.array([-np.inf, -1.0, 0.0, 2.0, np.inf, np.nan])
    np.testing.assert_array_equal(act.leaky_relu(x, 0.0), act.relu(x))
    np.testing.assert_array_equal(act.relu(x), [0, 0, 0, 2, np.inf, np.nan])


def test_a_nan_input_never_gives_a_finite_derivative():
    """PyTorch's ReLU backward gives 1 at NaN and Leaky ReLU's alpha;
    calc_nn's local derivatives give NaN, like every other elementwise
    function here."""
    x = np.array([np.nan, -1.0, 2.0])
    for name in NAMES:
        g = verify.numpy_derivative(name, x, alpha=0.1)
        assert np.isnan(g[0]) and np.all(np.isfinite(g[1:])), (name, g)


def test_softmax_of_float16_sums_in_float32():
    """70,000 classes: the float16 sum of the exponentials would be inf
    (65504 is float16's largest number); PyTorch accumulates in float32."""
    z = np.zeros(70_000, np.float16)
    s = act.softmax(z)
    assert s.dtype == np.float16
    np.testing.assert_allclose(s, torch.softmax(torch.from_numpy(z), -1),
                               rtol=1e-3)
    np.testing.assert_allclose(act.log_softmax(z), -np.log(70_000),
                               rtol=1e-3)


# ---------------------------------- softmax: e^z as is where it is in range

def _exact_softmax(z, axis):
    """The float32 logits' softmax in float64 (its own rounding ~1e-16)."""
    t = torch.from_numpy(np.asarray(z, np.float64))
    return torch.softmax(t, dim=axis).numpy()


@settings(max_examples=60, deadline=None)
@given(z=hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3,
                                                 max_side=6),
                    elements=st.floats(-80, 80, width=32)),
       axis=st.integers(-1, 0), data=st.data())
def test_float32_softmax_in_range_rounds_no_shift(z, axis, data):
    """Where e^z and its sums stay in [1, 1/tiny] (here: logits in
    [-80, 80], one >= 0 in each slice), softmax is e^z / sum e^z as is:
    a few eps of the exact value, without the up to |z - max z| eps / 2
    that rounding z - max z would add (up to 80 eps here)."""
    top = np.moveaxis(z, axis, -1)
    top[..., data.draw(st.integers(0, top.shape[-1] - 1))] = 0.5
    C = z.shape[axis]
    p = act.softmax(z, axis=axis)
    assert p.dtype == np.float32
    np.testing.assert_allclose(p, _exact_softmax(z, axis),
                               rtol=(6 + np.sqrt(C)) * EPS32, atol=TINY32)


def test_softmax_redoes_only_the_slices_out_of_range():
    """Slices where e^z overflows (1e4), is NaN, or whose sum is below 1
    (all logits near -95: e^z is subnormal, the softmax is not) are
    computed with the shift by max z; the others as they are. Each row is
    the softmax of that row alone, and matches PyTorch, along either
    axis."""
    rng = np.random.default_rng(3)
    z = (rng.standard_normal((6, 7)) * 4).astype(np.float32)
    z[1, 2] = 1e4
    z[3, 0] = np.nan
    z[4] = np.float32(-95) - np.arange(7, dtype=np.float32)
    for axis, zz in ((-1, z), (0, z.T.copy())):
        p = act.softmax(zz, axis=axis)
        rows = [act.softmax(r) for r in np.moveaxis(zz, axis, -1)]
        np.testing.assert_array_equal(np.moveaxis(p, axis, -1), rows)
        ref = torch.softmax(torch.from_numpy(zz), dim=axis).numpy()
        np.testing.assert_allclose(p, ref, rtol=32 * EPS32, atol=0)
        exact = _exact_softmax(zz, axis)
        assert np.isnan(p).sum() == 7 and np.isnan(exact).sum() == 7
        near = np.moveaxis(p, axis, -1)[4]
        np.testing.assert_allclose(near, np.moveaxis(exact, axis, -1)[4],
                                   rtol=8 * EPS32, atol=0)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_softmax_at_the_edges_of_the_range(dtype):
    """Sums just below 1 and e^z just inside and outside the range (the
    sum of five e^{big - 0.3} overflows, each term does not), without a
    floating-point warning."""
    info = np.finfo(dtype)
    big = np.log(float(info.max))  # e^big is the largest float
    for z in ([big - 0.5, 0.0], [big + 0.5, big + 0.5], [big - 2, big - 2],
              [big - 0.3] * 5, [-1.0, -1.0], [np.log(0.499)] * 2,
              [np.log(float(info.tiny)) - 2, np.log(float(info.tiny)) - 3]):
        z = np.array(z, dtype)
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            p = act.softmax(z)
        np.testing.assert_allclose(p, _exact_softmax(z, -1),
                                   rtol=8 * float(info.eps), atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_tails_below_the_normal_range_are_not_flushed(dtype):
    """sigma(x) and sigma'(+-x) for x between log(smallest subnormal) and
    log(tiny) (-103 to -87 in float32, -744 to -708 in float64) are
    subnormal numbers: calc_nn returns them within two subnormal units,
    where 1/(1 + e^{-x}) (PyTorch's forward) gives 0 once e^{-x}
    overflows, below -88.7 (float32) or -709.8 (float64)."""
    info = np.finfo(dtype)
    unit = float(info.smallest_subnormal)
    x = np.linspace(np.log(unit) + 0.5, np.log(float(info.tiny)) - 0.5,
                    41).astype(dtype)
    for value, exact in (
            (act.sigmoid(x), verify.sympy_activation("sigmoid", x)),
            (act.sigmoid_grad(x), verify.sympy_derivative("sigmoid", x)),
            (act.sigmoid_grad(-x), verify.sympy_derivative("sigmoid", -x))):
        assert value.dtype == dtype and np.all(value > 0)
        np.testing.assert_allclose(value, exact, rtol=0, atol=2 * unit)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_sigmoid_fixes_only_the_entries_whose_fast_form_overflowed(dtype):
    """sigmoid computes 1/(1 + e^{-x}) and sigmoid_grad 1/(2 + 2 cosh x);
    the entries where e^{-x} or cosh x overflowed (just past log(max),
    and log(max) + log 2 for cosh) get e^x and e^{-|x|}. In one array with
    entries on both sides, every entry is as the stable forms with
    e^{-|x|} give it."""
    info = np.finfo(dtype)
    eps, tiny = float(info.eps), float(info.tiny)
    edge = float(np.log(float(info.max)))  # e^{edge} is the largest float
    inside = [-edge + 0.01, -3.0, -0.0, 0.0, 2.5, edge + 0.6]
    beyond = [-edge - 0.05, -edge - 3.0, edge + 0.8, -edge - 0.8]
    x = np.array(inside + beyond + [np.inf, -np.inf, np.nan], dtype)
    s, g = act.sigmoid(x), act.sigmoid_grad(x)
    e = act._exp_minus_abs(x)
    stable_s = np.where(x >= 0, 1, e) / (1 + e)
    stable_g = act._bell(act._exp_minus_abs(x))
    for ours, stable in ((s, stable_s), (g, stable_g)):
        assert ours.dtype == dtype
        np.testing.assert_allclose(ours, stable, rtol=4 * eps, atol=0)
    # the overflowed entries are subnormal numbers, not flushed to 0
    assert np.all(s[[6, 7, 9]] > 0) and np.all(s[[6, 7, 9]] < tiny)
    assert np.all(g[[8, 9]] > 0) and np.all(g[[8, 9]] < tiny)


@pytest.mark.parametrize("func", [act.sigmoid, act.sigmoid_grad,
                                  act.tanh_grad])
def test_sigmoid_raises_nothing_when_the_caller_raises_on_everything(func):
    """The overflow the fast form may meet, and the underflow of e^{-|x|},
    are part of the computation: a caller's np.errstate(all="raise") does
    not turn them into errors, and its settings and error callback are
    its own again after the call."""
    x = np.array([-1e4, -100.0, -1.0, 0.0, 1.0, 100.0, 1e4], np.float32)
    name = func.__name__
    exact = (verify.sympy_activation(name.removesuffix("_grad"), x)
             if name == "sigmoid" else
             verify.sympy_derivative(name.removesuffix("_grad"), x))

    def callback(kind, flag):
        raise AssertionError(f"the caller's callback was called: {kind}")

    with np.errstate(all="raise", call=callback):
        y = func(x)
        assert np.geterr() == dict(divide="raise", over="raise",
                                   under="raise", invalid="raise")
        assert np.geterrcall() is callback
    np.testing.assert_allclose(y, exact, rtol=8 * EPS32, atol=TINY32)


@pytest.mark.parametrize("f", [act.sigmoid, act.sigmoid_grad, act.tanh_grad])
@pytest.mark.parametrize("dtype", ["<f2", ">f2", ">f4", ">f8"])
def test_exponentials_of_minus_abs_x_in_any_byte_order(f, dtype):
    """-|x| is made by setting the sign bit of x: in float16 and in
    big-endian arrays too, the same values as in native float32/64."""
    x = np.array([-1e4, -88.5, -3.0, -0.0, 0.0, 1e-3, 2.5, 30.0, np.inf,
                  -np.inf, np.nan])
    dtype = np.dtype(dtype)
    ours = f(x.astype(dtype))
    assert ours.dtype == dtype
    native = f(x.astype(dtype.newbyteorder("=")))
    np.testing.assert_array_equal(ours, native)
    info = np.finfo(dtype)
    np.testing.assert_allclose(ours, f(x), rtol=8 * float(info.eps),
                               atol=float(info.tiny))
