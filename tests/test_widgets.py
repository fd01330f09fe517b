"""calc_nn.widgets.explore: one description, two modes that agree."""

import json

import numpy as np
import plotly.graph_objects as go
import pytest

from calc_nn import plots
from calc_nn.widgets import MAX_STATES, Choice, Slider, explore, is_static

X = np.linspace(-2, 2, 9)


def make_figure(a, kind="sin"):
    f = {"sin": np.sin, "cos": np.cos}[kind]
    return go.Figure(
        [go.Scatter(x=X, y=f(a * X), name="curve"),
         go.Scatter(x=[0], y=[a], name="marker")],
        layout=dict(title=dict(text=f"a = {a}, {kind}")))


A_VALUES = [0.5, 1.0, 2.0]


def test_single_slider_steps_hold_every_state():
    fig = explore(make_figure, [Slider("a", A_VALUES, default=1.0)],
                  mode="static")
    (slider,) = fig.layout.sliders
    assert slider.active == 1
    assert [s.label for s in slider.steps] == ["0.5", "1", "2"]
    for a, step in zip(A_VALUES, slider.steps):
        assert step.method == "update"
        data, layout = step.args
        np.testing.assert_allclose(data["y"][0], np.sin(a * X), rtol=1e-3,
                                   atol=1e-4)
        assert data["y"][1] == [a]
        assert layout["title.text"] == f"a = {a}, sin"
    # the initial figure is the default state
    np.testing.assert_allclose(fig.data[0].y, np.sin(1.0 * X))
    json.loads(fig.to_json())  # serialisable


def test_several_controls_store_every_combination():
    fig = explore(make_figure, [Slider("a", A_VALUES), Choice(
        "kind", ["sin", "cos"], default="cos")], mode="static")
    meta = fig.layout.meta["calc_nn"]
    assert meta["controls"] == [["sliders", 0], ["updatemenus", 0]]
    assert len(meta["states"]) == 6
    for i, a in enumerate(A_VALUES):
        for j, kind in enumerate(["sin", "cos"]):
            data, layout = meta["states"][f"{i},{j}"]
            f = np.sin if kind == "sin" else np.cos
            np.testing.assert_allclose(data["y"][0], f(a * X), atol=1e-4)
            assert layout["title.text"] == f"a = {a}, {kind}"
    assert all(s.method == "skip" for s in fig.layout.sliders[0].steps)
    assert all(b.method == "skip" for b in fig.layout.updatemenus[0].buttons)
    assert fig.layout.updatemenus[0].active == 1
    # buttons sit above the plot area, the title above them
    assert fig.layout.updatemenus[0].y > 1


def test_nan_becomes_a_gap_not_invalid_json():
    def with_nan(a):
        return go.Figure([go.Scatter(x=[0, 1, 2], y=[a, np.nan, np.inf])])
    fig = explore(with_nan, [Slider("a", [1.0, 2.0])], mode="static")
    text = fig.layout.sliders[0].steps[1].args[0]["y"]
    assert text == [[2.0, None, None]]
    json.dumps(json.loads(fig.to_json()), allow_nan=False)


def test_rounding_keeps_significant_digits():
    def tiny(a):
        return go.Figure([go.Scatter(x=[0, 1], y=[a * 1.23456789e-20, a])])
    fig = explore(tiny, [Slider("a", [1.0, 3.0])], mode="static", digits=4)
    assert fig.layout.sliders[0].steps[0].args[0]["y"] == [[1.235e-20, 1.0]]


def test_live_mode_updates_the_figure_in_place():
    box = explore(make_figure, [Slider("a", A_VALUES, default=1.0),
                                Choice("kind", ["sin", "cos"])], mode="live")
    fw = box.figure
    assert isinstance(fw, go.FigureWidget)
    np.testing.assert_allclose(fw.data[0].y, np.sin(X))
    box.controls["a"].value = 2.0
    np.testing.assert_allclose(fw.data[0].y, np.sin(2.0 * X))
    assert fw.layout.title.text == "a = 2.0, sin"
    box.controls["kind"].value = "cos"
    np.testing.assert_allclose(fw.data[0].y, np.cos(2.0 * X))
    assert box.values() == {"a": 2.0, "kind": "cos"}


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


def test_changing_trace_count_is_an_error():
    def bad(a):
        return go.Figure([go.Scatter(y=[a])] * (1 if a < 1 else 2))
    with pytest.raises(ValueError, match="every state must have the same "
                                         "traces"):
        explore(bad, [Slider("a", [0.5, 2.0])], mode="static")


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
    big = [Slider("a", range(MAX_STATES)), Slider("kind", ["sin", "cos"])]
    with pytest.raises(ValueError, match="exceed MAX_STATES"):
        explore(make_figure, big, mode="static")
    with pytest.raises(TypeError, match="must return a plotly"):
        explore(lambda a: None, [Slider("a", [1])], mode="static")


@pytest.mark.parametrize("factory,kwargs", [
    (plots.function_and_derivative, {"name": "tanh"}),
    (plots.gradient_through_depth, {"depth": 7, "w": 2.0}),
    (plots.dead_relu, {"bias": -2.0}),
    (plots.leaky_relu_slope, {"alpha": 0.2}),
    (plots.softmax_temperature, {"temperature": 0.5}),
])
def test_chapter_figures_draw_the_maths(factory, kwargs):
    fig = factory(**kwargs)
    assert isinstance(fig, go.Figure) and len(fig.data) > 0
    for trace in fig.data:
        y = np.asarray(trace.y if trace.y is not None else trace.x,
                       dtype=object)
        assert y.size > 0


def test_depth_figure_values_are_the_chain_gradients():
    from calc_nn.activations import chain_gradient
    fig = plots.gradient_through_depth(6, w=2.0)
    _, grad = chain_gradient("relu", 6, w=2.0, x0=0.5)
    relu_trace = [t for t in fig.data if t.name == plots.LABELS["relu"]][0]
    np.testing.assert_allclose(relu_trace.y, np.abs(grad))
    assert "exploded" not in fig.layout.title.text or grad[0] > 1e6


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
    (slider,) = fig.layout.sliders
    assert not fig.layout.updatemenus
    for a, step in zip(A_VALUES, slider.steps):
        np.testing.assert_allclose(step.args[0]["y"][0], np.cos(a * X),
                                   atol=1e-4)
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
    data, layout = fig.layout.updatemenus[0].buttons[1].args
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
