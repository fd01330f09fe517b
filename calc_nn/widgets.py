"""One widget pattern for the whole book ("dual mode").

A chapter describes its controls and a function that draws the figure for
one setting of them, and calls :func:`explore` once:

.. code-block:: python

    explore(
        lambda depth: gradient_through_depth_figure(depth),
        [Slider("depth", range(1, 31), default=5, label="layers")],
    )

* In a live kernel (JupyterLab, Binder) this returns ipywidgets controls over
  a plotly ``FigureWidget`` that is updated in place when a control moves.
* On the static website (the book build sets ``CALC_NN_STATIC=1``, see
  :mod:`calc_nn.sphinxext`) it returns a plotly figure with the same controls
  as plotly sliders and buttons, every state precomputed, so a reader without
  a kernel still moves a slider and sees the plot change.

Both are built from the same description, so they cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go

__all__ = ["Slider", "Choice", "explore", "is_static", "LiveExplorer"]

# Pixels: a row of buttons, and the room left for a legend above the plot.
_BUTTON_ROW = 40
_LEGEND_PX = 34

# Past this many precomputed states a page gets heavy (every state holds the
# data of every trace); split the figure or thin the grid instead.
MAX_STATES = 600


@dataclasses.dataclass(frozen=True)
class Slider:
    """A numeric control over a fixed grid of values.

    Parameters
    ----------
    name : str
        Keyword argument of the figure function it sets.
    values : sequence of numbers
        The grid; the static site precomputes one state per value.
    default : number, optional
        Initial value (must be in ``values``); default the first value.
    label : str, optional
        Shown beside the control; default ``name``.
    fmt : str
        Format of the displayed value, e.g. ``"{:.2f}"``.
    live_only : bool
        Shown only in a live kernel; the static site keeps the default. For
        controls whose every combination would make the page too heavy
        (``explore`` precomputes the product of all static grids).
    """

    name: str
    values: Sequence[Any]
    default: Any = None
    label: str | None = None
    fmt: str = "{:g}"
    live_only: bool = False

    def __post_init__(self):
        values = tuple(self.values)
        if not values:
            raise ValueError(f"Slider {self.name!r}: values must not be empty")
        object.__setattr__(self, "values", values)
        if self.default is None:
            object.__setattr__(self, "default", values[0])
        elif not any(_same(self.default, v) for v in values):
            raise ValueError(
                f"Slider {self.name!r}: default {self.default!r} is not one "
                f"of its values {list(values)}")

    def labels(self) -> list[str]:
        return [self.fmt.format(v) for v in self.values]


@dataclasses.dataclass(frozen=True)
class Choice(Slider):
    """A control with a few named options, shown as buttons.

    ``values`` are the options passed to the figure function; ``labels``
    (optional) are the button texts, default ``str(value)``.
    """

    fmt: str = "{}"
    option_labels: Sequence[str] | None = None

    def labels(self) -> list[str]:
        if self.option_labels is not None:
            return list(self.option_labels)
        return [self.fmt.format(v) for v in self.values]


def _same(a, b) -> bool:
    if isinstance(a, (int, float, np.number)) and isinstance(
            b, (int, float, np.number)):
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0)
    return a == b


def _index(control: Slider, value) -> int:
    return next(i for i, v in enumerate(control.values) if _same(v, value))


def is_static() -> bool:
    """True when building the static site (``CALC_NN_STATIC=1``) or when no
    IPython kernel is running (a script, a test)."""
    if os.environ.get("CALC_NN_STATIC") == "1":
        return True
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with Jupyter
        return True
    shell = get_ipython()
    return shell is None or not hasattr(shell, "kernel")


# ----------------------------------------------------------------- patches

def _round_list(value, digits: int):
    """Plain lists with ``digits`` significant digits: small, JSON-safe."""
    arr = np.asarray(value)
    if arr.dtype.kind in "fc":
        arr = arr.astype(float)
        finite = np.isfinite(arr)
        out = np.where(finite, arr, 0.0)
        with np.errstate(divide="ignore"):
            mag = np.where(out != 0, np.floor(np.log10(np.abs(out))), 0)
        scale = 10.0 ** (digits - 1 - mag)
        out = np.round(out * scale) / scale
        # NaN/inf are not JSON; plotly draws None as a gap, as it does NaN
        return np.where(finite, out, None).tolist()
    if arr.dtype.kind in "biu":
        return arr.tolist()
    return value.tolist() if isinstance(value, np.ndarray) else value


# Layout entries that are the controls themselves or too big to patch.
_LAYOUT_SKIP = ("template", "sliders", "updatemenus", "meta")


def _flatten(obj: dict, prefix: str = "") -> dict[str, Any]:
    """Dotted paths of a plotly property dict: ``{"line.color": "red"}``.

    Lists (``annotations``, ``shapes``, colour scales) and arrays are
    leaves: they are compared and patched whole.
    """
    out = {}
    for key, value in obj.items():
        path = prefix + key
        if isinstance(value, dict):
            out.update(_flatten(value, path + "."))
        else:
            out[path] = value
    return out


def _trace_props(fig: go.Figure) -> list[dict[str, Any]]:
    # trace.to_plotly_json() keeps NumPy arrays (the figure's version
    # base64-encodes them, which plotly.js does not decode in restyle args)
    return [_flatten(trace.to_plotly_json()) for trace in fig.data]


def _layout_props(fig: go.Figure) -> dict[str, Any]:
    layout = fig.layout.to_plotly_json()
    return _flatten({k: v for k, v in layout.items() if k not in _LAYOUT_SKIP})


def _same_value(a, b) -> bool:
    if isinstance(a, (np.ndarray, list, tuple)) or isinstance(
            b, (np.ndarray, list, tuple)):
        try:
            a_arr, b_arr = np.asarray(a), np.asarray(b)
            if a_arr.dtype.kind in "fiub" and b_arr.dtype.kind in "fiub":
                return a_arr.shape == b_arr.shape and bool(
                    np.array_equal(a_arr, b_arr, equal_nan=True))
        except (ValueError, TypeError):
            pass
    try:
        return bool(a == b)
    except (ValueError, TypeError):
        return False


def _changing_keys(states, extra_trace_keys, extra_layout_keys):
    """Trace and layout paths whose value differs between any two states,
    plus the ones the caller names: everything a control changes."""
    first_traces, first_layout = states[0]
    trace_keys = set(extra_trace_keys)
    layout_keys = set(extra_layout_keys)
    for traces, layout in states[1:]:
        for props, ref in zip(traces, first_traces):
            for key in props.keys() | ref.keys():
                if not _same_value(props.get(key), ref.get(key)):
                    trace_keys.add(key)
        for key in layout.keys() | first_layout.keys():
            if not _same_value(layout.get(key), first_layout.get(key)):
                layout_keys.add(key)
    return sorted(trace_keys), sorted(layout_keys)


def _patch(traces, layout, trace_keys, layout_keys, digits):
    """``[restyle, relayout]`` arguments of plotly's "update" for a state."""
    data = {key: [_jsonable(props.get(key), digits) for props in traces]
            for key in trace_keys}
    lay = {}
    for key in layout_keys:
        value = layout.get(key)
        if value is None and key in ("annotations", "shapes"):
            value = []
        lay[key] = _jsonable(value, digits)
    return [data, lay]


def _numbers(value) -> bool:
    return isinstance(value, np.ndarray) or (
        isinstance(value, (list, tuple)) and len(value) > 0 and all(
            isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
            for v in value))


def _jsonable(value, digits):
    if _numbers(value):
        arr = np.asarray(value)
        if arr.dtype.kind in "fbiu":
            return _round_list(arr, digits)
    if isinstance(value, np.generic):
        return value.item()
    return value


# ----------------------------------------------------------------- static

def _static_figure(make_figure, controls, trace_keys, layout_keys, digits):
    defaults = {c.name: c.default for c in controls}
    base = make_figure(**defaults)
    if not isinstance(base, go.Figure):
        raise TypeError("make_figure must return a plotly.graph_objects."
                        f"Figure, got {type(base).__name__}")
    n_traces = len(base.data)
    grids = [range(len(c.values)) for c in controls]
    n_states = math.prod(len(g) for g in grids)
    if n_states > MAX_STATES:
        raise ValueError(
            f"{n_states} precomputed states exceed MAX_STATES={MAX_STATES}: "
            "use fewer slider values")
    combos = list(itertools.product(*grids))
    props = []
    for idx in combos:
        values = {c.name: c.values[i] for c, i in zip(controls, idx)}
        fig = base if values == defaults else make_figure(**values)
        if len(fig.data) != n_traces:
            raise ValueError(
                f"make_figure returned {len(fig.data)} traces for {values} "
                f"but {n_traces} for the defaults: every state must have the "
                "same traces (hide one with visible=False instead)")
        props.append((_trace_props(fig), _layout_props(fig)))
    trace_keys, layout_keys = _changing_keys(props, trace_keys, layout_keys)
    states = {idx: _patch(traces, layout, trace_keys, layout_keys, digits)
              for idx, (traces, layout) in zip(combos, props)}

    sliders = [c for c in controls if not isinstance(c, Choice)]
    choices = [c for c in controls if isinstance(c, Choice)]
    # One control: each step carries its own update, plain plotly that works
    # anywhere. Several: steps do nothing ("skip") and calc_nn_plotly.js
    # looks up the state of the combination in layout.meta.calc_nn.
    single = len(controls) == 1
    method = "update" if single else "skip"

    def steps(c):
        return [dict(label=lab, method=method,
                     args=states[(i,)] if single else [])
                for i, lab in enumerate(c.labels())]

    slider_specs, menu_specs, refs = [], [], []
    for c in controls:
        if isinstance(c, Choice):
            refs.append(["updatemenus", len(menu_specs)])
            menu_specs.append(dict(
                type="buttons", direction="right", showactive=True,
                active=_index(c, c.default), x=0, xanchor="left",
                yanchor="bottom", pad={"r": 4, "t": 0}, buttons=steps(c)))
        else:
            refs.append(["sliders", len(slider_specs)])
            slider_specs.append(dict(
                active=_index(c, c.default),
                currentvalue={"prefix": f"{c.label or c.name} = "},
                pad={"t": 50 + 80 * len(slider_specs), "b": 10}, len=1.0,
                x=0, steps=steps(c)))
    base.update_layout(sliders=slider_specs, updatemenus=menu_specs)
    if sliders:
        bottom = (base.layout.margin.b or 40) + 100 * len(sliders)
        base.update_layout(
            margin={"b": bottom},
            height=(base.layout.height or 450) + 80 * len(sliders))
    if choices:
        # button rows above the plot area, clear of a legend placed there
        top = base.layout.margin.t if base.layout.margin.t is not None else 60
        height = base.layout.height or 450
        bottom = base.layout.margin.b if base.layout.margin.b is not None \
            else 80
        base.update_layout(margin={"t": top + _BUTTON_ROW * len(choices)},
                           height=height + _BUTTON_ROW * len(choices),
                           title=dict(y=0.99, yref="container",
                                      yanchor="top"))
        plot_h = base.layout.height - base.layout.margin.t - bottom
        for i, menu in enumerate(base.layout.updatemenus):
            menu.y = 1 + (_LEGEND_PX + _BUTTON_ROW * i) / plot_h
    if not single:
        meta = {"controls": refs,
                "states": {",".join(map(str, k)): v
                           for k, v in states.items()}}
        base.update_layout(meta={"calc_nn": meta})
    return base


# ----------------------------------------------------------------- live

def _live(make_figure, controls):
    fw = go.FigureWidget(make_figure(**{c.name: c.default for c in controls}))
    inputs = {}
    for c in controls:
        options = list(zip(c.labels(), c.values))
        if isinstance(c, Choice):
            w = widgets.ToggleButtons(options=options, value=c.default,
                                      description=c.label or c.name)
        else:
            w = widgets.SelectionSlider(
                options=options, value=c.values[_index(c, c.default)],
                description=c.label or c.name, continuous_update=True,
                layout=widgets.Layout(width="min(100%, 520px)"),
                style={"description_width": "initial"})
        inputs[c.name] = w
    return LiveExplorer(fw, inputs, make_figure)


class LiveExplorer(widgets.VBox):
    """ipywidgets controls over a plotly FigureWidget updated in place.

    Attributes
    ----------
    figure : plotly.graph_objects.FigureWidget
    controls : dict of str -> ipywidgets widget, one per control
    """

    def __init__(self, figure, controls, make_figure):
        super().__init__([*controls.values(), figure])
        self.figure = figure
        self.controls = controls
        self._make_figure = make_figure
        for w in controls.values():
            w.observe(self._update, names="value")

    def values(self) -> dict[str, Any]:
        """The controls' current values, as passed to ``make_figure``."""
        return {name: w.value for name, w in self.controls.items()}

    def _update(self, change=None):
        fig = self._make_figure(**self.values())
        new_traces, new_layout = _trace_props(fig), _layout_props(fig)
        old_layout = _layout_props(self.figure)
        with self.figure.batch_update():
            for trace, new in zip(self.figure.data, new_traces):
                old = _flatten(trace.to_plotly_json())
                for key in (new.keys() | old.keys()) - {"type", "uid"}:
                    if not _same_value(new.get(key), old.get(key)):
                        trace[key] = new.get(key)
            for key in new_layout.keys() | old_layout.keys():
                if not _same_value(new_layout.get(key), old_layout.get(key)):
                    self.figure.layout[key] = new_layout.get(key)


# ----------------------------------------------------------------- entry

def explore(
    make_figure: Callable[..., go.Figure],
    controls: Sequence[Slider],
    *,
    trace_keys: Sequence[str] = (),
    layout_keys: Sequence[str] = (),
    mode: str = "auto",
    digits: int = 4,
):
    """Show ``make_figure(**values)`` with controls for ``values``.

    Parameters
    ----------
    make_figure : callable
        Keyword arguments named after the controls -> ``go.Figure``. Every
        call must return the same number of traces in the same order.
    controls : sequence of Slider or Choice
    trace_keys, layout_keys : sequence of str, optional
        Not needed: every trace and layout property whose value differs
        between two states (``x``, ``y``, ``name``, ``line.color``,
        ``title.text``, ``xaxis.title.text``, ...) is found by comparing
        the states and patched, on the static site and live alike. Names
        given here (dotted paths) are patched in every state as well.
    mode : {"auto", "static", "live"}
        "auto" is static when building the book or outside a kernel.
    digits : int
        Significant digits kept in the precomputed states (page size).

    Returns
    -------
    plotly.graph_objects.Figure (static) or an ipywidgets.VBox whose
    ``.figure`` is the FigureWidget and ``.controls`` the input widgets
    (live).
    """
    controls = list(controls)
    if not controls:
        raise ValueError("controls must not be empty")
    names = [c.name for c in controls]
    if len(set(names)) != len(names):
        raise ValueError(f"control names must be distinct, got {names}")
    if mode not in ("auto", "static", "live"):
        raise ValueError(f"mode must be 'auto', 'static' or 'live', got "
                         f"{mode!r}")
    static = is_static() if mode == "auto" else mode == "static"
    if static:
        fixed = {c.name: c.default for c in controls if c.live_only}
        shown = [c for c in controls if not c.live_only]
        if not shown:
            raise ValueError("every control is live_only: the static site "
                             "would have nothing to move")
        return _static_figure(functools.partial(make_figure, **fixed), shown,
                              tuple(trace_keys), tuple(layout_keys), digits)
    return _live(make_figure, controls)
