"""calc_nn.widgets.explore: one description, two modes that agree."""

import json
import math

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from strategies import correct_or_named_error

from calc_nn import plots
from calc_nn.plots._style import describe
from calc_nn.widgets import (
    MAX_STATES,
    Choice,
    LiveExplorer,
    Slider,
    _round_list,
    explore,
    is_static,
    state,
)

X = np.linspace(-2, 2, 9)


def make_figure(a, kind="sin"):
    f = {"sin": np.sin, "cos": np.cos}[kind]
    fig = go.Figure(
        [go.Scatter(x=X, y=f(a * X), name="curve"),
         go.Scatter(x=[0], y=[a], name="marker")],
        layout=dict(title=dict(text=f"a = {a}, {kind}")))
    return describe(fig, f"{kind}(a x) for a = {a}: peak {max(f(a * X)):.3f}")


A_VALUES = [0.5, 1.0, 2.0]


def states(fig):
    """Every precomputed state, by key, as [restyle, relayout]."""
    return {key: state(fig, key) for key in fig.layout.meta["calc_nn"][
        "states"]}


def test_single_slider_states_hold_every_setting():
    fig = explore(make_figure, [Slider("a", A_VALUES, default=1.0)],
                  mode="static")
    (control,) = fig.layout.meta["calc_nn"]["controls"]
    assert control == {"name": "a", "label": "a", "kind": "slider",
                       "labels": ["0.5", "1", "2"], "active": 1}
    for i, a in enumerate(A_VALUES):
        data, layout = states(fig)[str(i)]
        np.testing.assert_allclose(data["y"][0], np.sin(a * X), rtol=1e-3,
                                   atol=1e-4)
        assert data["y"][1] == [a]
        assert layout["title.text"] == f"a = {a}, sin"
        assert layout["meta.description"] == make_figure(a).layout.meta[
            "description"]
    # the initial figure is the default state, with its description; no
    # plotly sliders: the site draws HTML controls from the meta
    np.testing.assert_allclose(fig.data[0].y, np.sin(1.0 * X))
    assert fig.layout.meta["description"].startswith("sin(a x) for a = 1")
    assert not fig.layout.sliders and not fig.layout.updatemenus
    json.loads(fig.to_json())  # serialisable


def test_several_controls_store_every_combination():
    fig = explore(make_figure, [Slider("a", A_VALUES), Choice(
        "kind", ["sin", "cos"], default="cos", label="function")],
        mode="static")
    meta = fig.layout.meta["calc_nn"]
    assert [(c["name"], c["kind"], c["label"], c["active"])
            for c in meta["controls"]] == [("a", "slider", "a", 0),
                                          ("kind", "choice", "function", 1)]
    assert len(meta["states"]) == 6
    for i, a in enumerate(A_VALUES):
        for j, kind in enumerate(["sin", "cos"]):
            data, layout = state(fig, f"{i},{j}")
            f = np.sin if kind == "sin" else np.cos
            np.testing.assert_allclose(data["y"][0], f(a * X), atol=1e-4)
            assert layout["title.text"] == f"a = {a}, {kind}"
            assert layout["meta.description"].startswith(
                f"{kind}(a x) for a = {a}:")


def test_narrow_patches_that_change_are_patched_per_state():
    def narrowing(a):
        fig = make_figure(a)
        return describe(fig, f"a = {a}", narrow={
            "layout": {"height": 300 + 100 * a},
            "traces": {"0": {"line.width": 1}}})
    fig = explore(narrowing, [Slider("a", A_VALUES)], mode="static")
    for i, a in enumerate(A_VALUES):
        _, layout = states(fig)[str(i)]
        assert layout["meta.narrow"]["layout"] == {"height": 300 + 100 * a}
    # NumPy numbers in a narrow patch are fine
    fig = explore(lambda a: describe(make_figure(a), "x", narrow={
        "layout": {"height": np.int64(300 + a)}}), [Slider("a", [1, 2])],
        mode="static")
    assert states(fig)["1"][1]["meta.narrow"]["layout"]["height"] == 302
    # constant meta is not repeated in every state
    fig = explore(lambda kind: describe(make_figure(1.0, kind), kind,
                                        narrow={"layout": {"height": 300}}),
                  [Choice("kind", ["sin", "cos"])], mode="static")
    assert "meta.narrow" not in states(fig)["0"][1]
    assert states(fig)["1"][1]["meta.description"] == "cos"


def test_a_value_many_states_share_is_stored_once():
    """The curve depends on kind only, the marker on a only: three values
    of a times two kinds are 6 states but 2 curves and 3 markers."""
    def split(a, kind):
        f = {"sin": np.sin, "cos": np.cos}[kind]
        return go.Figure([go.Scatter(x=X, y=f(X)),
                          go.Scatter(x=[0], y=[a])])
    fig = explore(split, [Slider("a", A_VALUES), Choice("kind", ["sin",
                                                                 "cos"])],
                  mode="static")
    meta = fig.layout.meta["calc_nn"]
    curves = [v for v in meta["values"] if len(v) == len(X)]
    assert len(curves) == 2 and len(meta["values"]) == 2 + 3
    for i, a in enumerate(A_VALUES):
        for j, f in enumerate([np.sin, np.cos]):
            data, _ = state(fig, f"{i},{j}")
            np.testing.assert_allclose(data["y"][0], f(X), atol=1e-4)
            assert data["y"][1] == [a]


def test_nan_becomes_a_gap_not_invalid_json():
    def with_nan(a):
        return go.Figure([go.Scatter(x=[0, 1, 2], y=[a, np.nan, np.inf])])
    fig = explore(with_nan, [Slider("a", [1.0, 2.0])], mode="static")
    assert states(fig)["1"][0]["y"] == [[2.0, None, None]]
    json.dumps(json.loads(fig.to_json()), allow_nan=False)


# Numbers that multiplying by 10**k, rounding and dividing again gets wrong
# on every processor (the scale 10**k is not a double): 8.937e+18 came out
# as 8.936999999999999e+18, 3.462e-20 as 3.4620000000000003e-20.
NOT_EXACT_BY_SCALING = [(8.93744222e18, 8.937e18), (3.46208109e-20,
                                                    3.462e-20),
                        (9.80975434e-30, 9.81e-30), (1.23456789e-20,
                                                     1.235e-20)]


@pytest.mark.parametrize("value,rounded", NOT_EXACT_BY_SCALING)
def test_rounding_is_exact(value, rounded):
    def tiny(a):
        return go.Figure([go.Scatter(x=[0, 1], y=[a * value, a])])
    fig = explore(tiny, [Slider("a", [1.0, 3.0])], mode="static", digits=4)
    got = states(fig)["0"][0]["y"][0][0]
    assert got == rounded and repr(got) == repr(rounded)


@given(st.floats(allow_nan=False, allow_infinity=False, width=64),
       st.integers(1, 17))
def test_rounding_is_the_nearest_double_to_the_decimal(value, digits):
    (got,) = _round_list(np.array([value]), digits)
    want = float(f"{value:.{digits - 1}e}")
    if math.isinf(want):  # 1.5e308 to 1 digit: stays, JSON has no inf
        assert got == value
        return
    assert got == want
    # printed (as JSON prints it), it has at most `digits` digits
    mantissa = repr(got).lstrip("-").split("e")[0].replace(".", "")
    assert len(mantissa.strip("0")) <= digits


def test_rounding_keeps_shape_ints_and_gaps():
    assert _round_list(np.array([[1.23456, np.nan], [-np.inf, 2.0]]),
                       2) == [[1.2, None], [None, 2.0]]
    assert _round_list(np.array([1, 2], dtype=np.int64), 2) == [1, 2]
    assert _round_list(np.float32(0.1), 3) == 0.1
    assert _round_list(np.array([1.7e308, -1.7e308]), 1) == [1.7e308,
                                                              -1.7e308]


def test_live_mode_updates_the_figure_in_place():
    box = explore(make_figure, [Slider("a", A_VALUES, default=1.0),
                                Choice("kind", ["sin", "cos"])], mode="live")
    assert isinstance(box, LiveExplorer)
    fw = box.figure
    assert isinstance(fw, go.FigureWidget)
    np.testing.assert_allclose(fw.data[0].y, np.sin(X))
    box.controls["a"].value = 2.0
    np.testing.assert_allclose(fw.data[0].y, np.sin(2.0 * X))
    assert fw.layout.title.text == "a = 2.0, sin"
    box.controls["kind"].value = "cos"
    np.testing.assert_allclose(fw.data[0].y, np.cos(2.0 * X))
    assert box.values() == {"a": 2.0, "kind": "cos"}


def test_live_description_is_under_the_figure_and_follows_the_state():
    box = explore(make_figure, [Slider("a", A_VALUES, default=1.0)],
                  mode="live")
    assert box.children[-1] is box.description
    assert box.children[-2] is box.figure
    want = make_figure(1.0).layout.meta["description"]
    assert f">{want}</p>" in box.description.value
    assert 'aria-live="polite"' in box.description.value
    box.controls["a"].value = 2.0
    want = make_figure(2.0).layout.meta["description"]
    assert f">{want}</p>" in box.description.value
    assert box.figure.layout.meta["description"] == want


def test_live_description_is_escaped():
    def shouting(a):
        return describe(make_figure(a), f"<b>{a}</b> & more")
    box = explore(shouting, [Slider("a", A_VALUES)], mode="live")
    assert "&lt;b&gt;0.5&lt;/b&gt; &amp; more" in box.description.value


@pytest.mark.parametrize("mode", ["static", "live"])
def test_both_modes_start_from_the_same_figure(mode):
    out = explore(make_figure, [Slider("a", A_VALUES, default=2.0)],
                  mode=mode)
    fig = out if mode == "static" else out.figure
    np.testing.assert_allclose(fig.data[0].y, np.sin(2.0 * X))


def test_is_static_follows_the_environment(monkeypatch):
    monkeypatch.setenv("CALC_NN_STATIC", "1")
    assert is_static()
    monkeypatch.delenv("CALC_NN_STATIC")
    assert is_static()  # no kernel in a test run


def _two_traces_above_one(a):
    return go.Figure([go.Scatter(y=[a])] * (1 if a < 1 else 2))


def test_changing_trace_count_is_an_error_static():
    with pytest.raises(ValueError, match="every state must have the same "
                                         "traces"):
        explore(_two_traces_above_one, [Slider("a", [0.5, 2.0])],
                mode="static")


def test_changing_trace_count_is_an_error_live_and_says_so():
    box = explore(_two_traces_above_one, [Slider("a", [0.5, 2.0])],
                  mode="live")
    with pytest.raises(ValueError, match="returned 2 traces for {'a': 2.0} "
                       "but 1 for the defaults: every state must have"):
        box.controls["a"].value = 2.0
    assert "Error: make_figure returned 2 traces" in box.description.value


def test_live_figure_function_must_return_a_figure():
    calls = []

    def sometimes(a):
        calls.append(a)
        return make_figure(a) if a < 1 else None
    box = explore(sometimes, [Slider("a", A_VALUES)], mode="live")
    with pytest.raises(TypeError, match="must return a plotly"):
        box.controls["a"].value = 2.0


def test_bad_descriptions():
    with pytest.raises(ValueError, match="default 3 is not one of"):
        Slider("a", [1, 2], default=3)
    with pytest.raises(ValueError, match="values must not be empty"):
        Slider("a", [])
    with pytest.raises(ValueError, match="controls must not be empty"):
        explore(make_figure, [], mode="static")
    with pytest.raises(ValueError, match="distinct"):
        explore(make_figure, [Slider("a", [1]), Slider("a", [2])])
    with pytest.raises(ValueError, match="mode must be"):
        explore(make_figure, [Slider("a", [1])], mode="web")
    big = [Slider("a", range(MAX_STATES)), Choice("kind", ["sin", "cos"])]
    with pytest.raises(ValueError, match="1200 precomputed states "
                                         r"\(600 x 2\) exceed MAX_STATES"):
        explore(make_figure, big, mode="static")
    with pytest.raises(TypeError, match="must return a plotly"):
        explore(lambda a: None, [Slider("a", [1])], mode="static")


def test_too_many_states_fail_before_drawing_any():
    calls = []

    def counted(a, kind):
        calls.append(a)
        return make_figure(a, kind)
    big = [Slider("a", range(MAX_STATES)), Choice("kind", ["sin", "cos"])]
    with pytest.raises(ValueError, match="exceed MAX_STATES"):
        explore(counted, big, mode="static")
    assert calls == []


@pytest.mark.parametrize("digits", [0, -1, 18])
def test_digits_out_of_range_is_a_named_error(digits):
    # digits=0 used to turn 1.234 into 0.0 and 5.678 into 10.0
    with pytest.raises(ValueError, match=f"digits must be an int >= 1 and "
                       f"<= 17, got {digits}"):
        explore(make_figure, [Slider("a", A_VALUES)], mode="static",
                digits=digits)


@pytest.mark.parametrize("digits", [1.5, "4", True, None])
def test_digits_of_the_wrong_kind_is_a_type_error(digits):
    with pytest.raises(TypeError, match="digits must be an int"):
        explore(make_figure, [Slider("a", A_VALUES)], mode="static",
                digits=digits)


def test_one_significant_digit_means_one():
    fig = explore(lambda a: go.Figure([go.Scatter(y=[a * 1.234,
                                                     a * 5.678])]),
                  [Slider("a", [1.0, 2.0])], mode="static", digits=1)
    assert states(fig)["0"][0]["y"] == [[1.0, 6.0]]
    assert states(fig)["1"][0]["y"] == [[2.0, 10.0]]


def test_choice_needs_one_label_per_option():
    # fewer labels used to drop the buttons without a word
    with pytest.raises(ValueError, match="option_labels must be one "
                       "non-empty str per value \\(3\\)"):
        Choice("kind", ["a", "b", "c"], option_labels=["A", "B"])
    with pytest.raises(ValueError, match="option_labels"):
        Choice("kind", ["a", "b"], option_labels=["A", "B", "C"])
    with pytest.raises(ValueError, match="option_labels"):
        Choice("kind", ["a", "b"], option_labels=["A", ""])
    assert Choice("kind", ["a", "b"], option_labels=["A", "B"]).labels() \
        == ["A", "B"]


BAD_CONTROLS = [
    (lambda: Slider("a b", [1]), ValueError, "identifier"),
    (lambda: Slider(3, [1]), TypeError, "identifier"),
    (lambda: Slider("a", 3), TypeError, "values must be a list"),
    (lambda: Slider("a", "abc"), TypeError, "values must be a list"),
    (lambda: Slider("a", [1.0, np.nan]), ValueError, "finite, got nan"),
    (lambda: Slider("a", [1.0, np.inf]), ValueError, "finite, got inf"),
    (lambda: Slider("a", [1, 2, 1]), ValueError, "distinct, 1 is there"),
    (lambda: Slider("a", [0.01, 0.02], fmt="{:.1f}"), ValueError,
     "two values are shown as '0.0'"),
    (lambda: Slider("a", [1, 2], fmt="{:q}"), ValueError,
     "fmt '{:q}' cannot format"),
    (lambda: Slider("a", [1, 2], fmt=None), TypeError, "fmt must be"),
    (lambda: Slider("a", [1, 2], label=""), TypeError, "label must be"),
    (lambda: Slider("a", [1, 2], label=3), TypeError, "label must be"),
    (lambda: Slider("a", [1, 2], live_only="yes"), TypeError, "live_only"),
    (lambda: Slider("a", [1.0, 2.0], default=np.nan), ValueError,
     "default nan is not one of"),
    (lambda: Choice("k", ["x", "y"], option_labels=["same", "same"]),
     ValueError, "two values are shown as 'same'"),
]


@pytest.mark.parametrize("build,error,message", BAD_CONTROLS)
def test_bad_controls_are_named_errors(build, error, message):
    with pytest.raises(error, match=message):
        build()


@pytest.mark.parametrize("controls,error,message", [
    (Slider("a", [1]), TypeError, "controls must be a list"),
    ([Slider("a", [1]), "b"], TypeError, r"controls\[1\] must be a Slider"),
    (None, TypeError, "controls must be a list"),
])
def test_bad_control_lists_are_named_errors(controls, error, message):
    with pytest.raises(error, match=message):
        explore(make_figure, controls, mode="static")


def test_make_figure_must_be_callable():
    with pytest.raises(TypeError, match="make_figure must be a function"):
        explore(make_figure(1.0), [Slider("a", [1])], mode="static")


# grids with NaN, inf, repeats and neighbours that one decimal cannot tell
# apart, and any floats
GRID_VALUES = st.one_of(st.sampled_from([0.0, 0.01, 0.02, 1.0, 1.04, -0.0,
                                         math.nan, math.inf]),
                        st.floats(width=32))


@given(st.data(), st.lists(GRID_VALUES, min_size=0, max_size=4),
       st.sampled_from(["{:g}", "{:.1f}", "{:.3e}"]))
def test_any_slider_grid_is_built_or_named(data, values, fmt):
    """Any grid of floats (NaN, inf, repeats, empty) and any default: a
    Slider whose default is one of its distinct, finite values, with one
    distinct label each, or an error naming the slider."""
    default = data.draw(st.one_of(st.none(), GRID_VALUES, *(
        [st.sampled_from(values)] if values else [])), label="default")
    slider, error = correct_or_named_error(
        lambda: Slider("a", values, default=default, fmt=fmt), "Slider 'a'")
    if error is None:
        assert all(math.isfinite(v) for v in slider.values)
        assert len(set(slider.labels())) == len(slider.values) > 0
        assert slider.default in slider.values


def test_numpy_values_become_python_values():
    s = Slider("a", np.array([0.5, 1.0]), default=np.float64(1.0))
    assert s.values == (0.5, 1.0) and type(s.values[0]) is float
    assert s.default == 1.0 and type(s.default) is float


# ------------------------------------------- the chapter figures' maths

def _trace(fig, name):
    (trace,) = [t for t in fig.data if t.name == name]
    return trace


def test_function_and_derivative_draws_tanh_and_its_derivative():
    fig = plots.function_and_derivative("tanh")
    curve = _trace(fig, "tanh(x)")
    x = torch.tensor(np.asarray(curve.x), requires_grad=True)
    y = torch.tanh(x)
    (dy,) = torch.autograd.grad(y.sum(), x)
    np.testing.assert_allclose(curve.y, y.detach().numpy(), rtol=1e-12,
                               atol=1e-15)
    np.testing.assert_allclose(_trace(fig, "derivative").y, dy.numpy(),
                               rtol=1e-12, atol=1e-15)
    peak = _trace(fig, "largest derivative")
    assert (list(peak.x), list(peak.y)) == ([0.0], [1.0])  # tanh'(0) = 1


@pytest.mark.parametrize("alpha", [0.2, 0.01])
def test_leaky_relu_slope_draws_the_function_and_pytorchs_derivative(alpha):
    fig = plots.leaky_relu_slope(alpha=alpha)
    curve = _trace(fig, "Leaky ReLU(x)")
    x = torch.tensor(np.asarray(curve.x), requires_grad=True)
    y = torch.nn.functional.leaky_relu(x, alpha)
    (dy,) = torch.autograd.grad(y.sum(), x)
    np.testing.assert_array_equal(curve.y, y.detach().numpy())
    np.testing.assert_array_equal(_trace(fig, "derivative").y, dy.numpy())
    assert 0.0 in list(curve.x)  # the kink is drawn, with PyTorch's value


def test_softmax_temperature_draws_pytorchs_softmax():
    logits = torch.tensor([2.0, 1.0, 0.1, -1.0], dtype=torch.float64)
    for t in (0.5, 1.0, 5.0):
        fig = plots.softmax_temperature(temperature=t)
        np.testing.assert_allclose(fig.data[0].y,
                                   torch.softmax(logits / t, 0).numpy(),
                                   rtol=1e-12)


def test_dead_relu_splits_the_pre_activations_at_zero():
    for bias in (-2.0, 0.5, -30.0):
        fig = plots.dead_relu(bias=bias)
        flows, blocked = (np.asarray(t.x) for t in fig.data)
        z = np.random.default_rng(0).standard_normal(2000) + bias
        assert np.all(flows > 0) and np.all(blocked <= 0)
        np.testing.assert_array_equal(np.sort(np.r_[flows, blocked]),
                                      np.sort(z))
    assert flows.size == 0  # b = -30: no input reaches the ReLU's slope


def test_depth_figure_values_are_the_chain_gradients():
    """With w = 2 and a positive input, every ReLU layer multiplies the
    gradient by w * ReLU'(z) = 2: |da_6/da_k| = 2**(6 - k), and the
    gradient at the input, 64, neither vanished nor exploded."""
    fig = plots.gradient_through_depth(6, w=2.0)
    relu_trace = [t for t in fig.data if t.name == plots.LABELS["relu"]][0]
    np.testing.assert_array_equal(relu_trace.y, 2.0 ** np.arange(6, -1, -1))
    assert "ReLU 6.4e+01 (ok)" in fig.layout.title.text


def test_depth_figure_sigmoid_chain_is_pytorchs():
    depth, w, x0 = 7, 2.0, 0.5
    fig = plots.gradient_through_depth(depth, w=w, x0=x0)
    a = [torch.tensor(x0, dtype=torch.float64, requires_grad=True)]
    for _ in range(depth):
        a.append(torch.sigmoid(w * a[-1]))
    grads = torch.autograd.grad(a[-1], a[:-1])
    want = [abs(g.item()) for g in grads] + [1.0]
    sig = [t for t in fig.data if t.name == plots.LABELS["sigmoid"]][0]
    np.testing.assert_allclose(sig.y, want, rtol=1e-12)


def test_diverging_settings_are_named_on_the_plot():
    fig = plots.gradient_through_depth(30, w=6.0)
    assert "ReLU 2.2e+23 (exploded)" in fig.layout.title.text
    assert "sigmoid σ 4.8e-54 (vanished)" in fig.layout.title.text
    fig = plots.dead_relu(bias=-30.0)
    assert "the neuron is dead" in fig.layout.title.text


def test_live_only_controls_are_fixed_on_the_static_site():
    controls = [Slider("a", A_VALUES, default=1.0),
                Choice("kind", ["sin", "cos"], default="cos",
                       live_only=True)]
    fig = explore(make_figure, controls, mode="static")
    assert [c["name"] for c in fig.layout.meta["calc_nn"]["controls"]] == [
        "a"]
    for i, a in enumerate(A_VALUES):
        np.testing.assert_allclose(states(fig)[str(i)][0]["y"][0],
                                   np.cos(a * X), atol=1e-4)
    box = explore(make_figure, controls, mode="live")
    assert set(box.controls) == {"a", "kind"}
    box.controls["kind"].value = "sin"
    np.testing.assert_allclose(box.figure.data[0].y, np.sin(X))
    with pytest.raises(ValueError, match="every control is live_only"):
        explore(make_figure, [Slider("a", A_VALUES, live_only=True)],
                mode="static")


def styled(kind):
    color = {"sin": "#1f77b4", "cos": "#d62728"}[kind]
    fig = make_figure(1.0, kind)
    fig.data[0].update(name=f"{kind}(x)", line_color=color)
    fig.update_layout(xaxis_title=f"x for {kind}")
    return fig


def test_every_property_that_changes_is_patched():
    fig = explore(styled, [Choice("kind", ["sin", "cos"])], mode="static")
    data, layout = states(fig)["1"]
    assert data["name"] == ["cos(x)", "marker"]
    assert data["line.color"] == ["#d62728", None]
    assert layout["xaxis.title.text"] == "x for cos"
    # what never changes is not repeated in every state
    assert "x" not in data and "type" not in data
    assert "yaxis.title.text" not in layout


def test_live_figure_takes_every_changed_property():
    box = explore(styled, [Choice("kind", ["sin", "cos"])], mode="live")
    box.controls["kind"].value = "cos"
    fw = box.figure
    assert fw.data[0].name == "cos(x)"
    assert fw.data[0].line.color == "#d62728"
    assert fw.layout.xaxis.title.text == "x for cos"
    np.testing.assert_allclose(fw.data[0].y, np.cos(X))
    box.controls["kind"].value = "sin"
    assert fw.data[0].name == "sin(x)"
    assert fw.layout.title.text == "a = 1.0, sin"
