"""One widget pattern for the whole book ("dual mode").

A chapter describes its controls and a function that draws the figure for
one setting of them, and calls :func:`explore` once:

.. code-block:: python

    explore(plots.gradient_through_depth,
            [Slider("depth", range(1, 31), default=10, label="depth n")])

* In a live kernel (JupyterLab, Binder) this returns ipywidgets controls over
  a plotly ``FigureWidget`` that is updated in place when a control moves,
  with the figure's text description under it.
* On the static website (the book build sets ``CALC_NN_STATIC=1``, see
  :mod:`calc_nn.sphinxext`) it returns a plotly figure with every state
  precomputed in ``layout.meta["calc_nn"]``; the site draws real HTML
  controls for it (a range input per :class:`Slider`, a radio group per
  :class:`Choice`), so a reader without a kernel, with a mouse, a keyboard
  or a screen reader, still moves a control and sees (or hears) the change.

Both are built from the same description, so they cannot drift apart. A
figure's text alternative is ``layout.meta["description"]`` (see
:func:`calc_nn.plots._style.describe`); it is a property like any other, so
it changes with the state on the site and live alike.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import itertools
import json
import math
import numbers
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go

from calc_nn._validation import check_callable, check_choice, check_int

__all__ = ["Slider", "Choice", "explore", "is_static", "LiveExplorer",
           "MAX_STATES", "state"]

# Past this many precomputed states a page gets heavy (every state holds the
# data of every trace that changes); split the figure or thin the grid.
MAX_STATES = 600
# A double has at most 17 significant decimal digits.
MAX_DIGITS = 17


@dataclasses.dataclass(frozen=True)
class Slider:
    """A numeric control over a fixed grid of values.

    Parameters
    ----------
    name : str
        Keyword argument of the figure function it sets.
    values : sequence
        The grid, distinct finite values; the static site precomputes one
        state per value.
    default : optional
        Initial value (one of ``values``); default the first value.
    label : str, optional
        Shown beside the control; default ``name``.
    fmt : str
        Format of the displayed value, e.g. ``"{:.2f}"``; two values may not
        look the same.
    live_only : bool
        Shown only in a live kernel; the static site keeps the default. For
        controls whose every combination would make the page too heavy
        (``explore`` precomputes the product of all static grids).

    Raises
    ------
    TypeError, ValueError
        A bad name, values, default, label or format, named in the message.

    Used in: book/calculus.md, book/forward.md, book/activations.md,
    book/losses.md, book/optimizers.md, book/backprop.md, book/cnn.md,
    book/deep.md, book/digits.md
    """

    name: str
    values: Sequence[Any]
    default: Any = None
    label: str | None = None
    fmt: str = "{:g}"
    live_only: bool = False

    def __post_init__(self):
        values, default = _check_control(self)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "default", default)

    def labels(self) -> list[str]:
        """The displayed value of each of ``values``."""
        return [self.fmt.format(v) for v in self.values]

    @property
    def title(self) -> str:
        """The control's visible label: ``label``, else ``name``."""
        return self.label or self.name


@dataclasses.dataclass(frozen=True)
class Choice(Slider):
    """A control with a few named options, shown as buttons.

    ``values`` are the options passed to the figure function;
    ``option_labels`` (optional, one per value) are the button texts,
    default ``fmt.format(value)``.

    Used in: book/calculus.md, book/forward.md, book/activations.md,
    book/optimizers.md, book/backprop.md, book/cnn.md, book/deep.md
    """

    fmt: str = "{}"
    option_labels: Sequence[str] | None = None

    def labels(self) -> list[str]:
        """The button text of each of ``values``."""
        if self.option_labels is not None:
            return list(self.option_labels)
        return [self.fmt.format(v) for v in self.values]


def _same(a, b) -> bool:
    if _is_number(a) and _is_number(b):
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0)
    return a == b


def _is_number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, (bool,
                                                              np.bool_))


def _index(control: Slider, value) -> int:
    return next(i for i, v in enumerate(control.values) if _same(v, value))


def is_static() -> bool:
    """True when building the static site (``CALC_NN_STATIC=1``) or when no
    IPython kernel is running (a script, a test).

    Used in: book/activations.md (through :func:`explore`)
    """
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
    """Nested lists of ``value`` with ``digits`` significant digits.

    Exact on every processor: each number is formatted to ``digits``
    significant digits and parsed back, so it is the double nearest to that
    decimal (``1.23456789e-20`` -> ``1.235e-20``) and prints as it. NaN and
    inf are not JSON: they become None, which plotly draws as a gap.
    """
    arr = np.asarray(value)
    if arr.dtype.kind == "f":
        flat = [_round(v, digits) for v in arr.ravel().tolist()]
        return np.array(flat, dtype=object).reshape(arr.shape).tolist()
    if arr.dtype.kind in "biu":
        return arr.tolist()
    return value.tolist() if isinstance(value, np.ndarray) else value


def _round(v: float, digits: int) -> float | None:
    """``v`` to ``digits`` significant digits; None for NaN and inf; a
    number next to the largest double that would round to inf stays."""
    if not math.isfinite(v):
        return None
    rounded = float(f"{v:.{digits - 1}e}")
    return rounded if math.isfinite(rounded) else v


# Layout entries that are controls or too big to patch. The figure's own
# ``meta`` is compared through its two entries below only.
_LAYOUT_SKIP = ("template", "sliders", "updatemenus", "meta")
# layout.meta entries of a figure (calc_nn.plots._style.describe): its text
# alternative and its narrow-screen patch, compared and patched whole.
_META_KEYS = ("description", "narrow")


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
    props = _flatten({k: v for k, v in layout.items()
                      if k not in _LAYOUT_SKIP})
    meta = layout.get("meta")
    if isinstance(meta, dict):
        props.update({f"meta.{k}": meta[k] for k in _META_KEYS if k in meta})
    return props


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


def _changing_keys(props):
    """Trace and layout paths whose value differs between any two of the
    states ``props`` (a list of ``(trace props, layout props)``):
    everything a control changes, and nothing else."""
    first_traces, first_layout = props[0]
    trace_keys, layout_keys = set(), set()
    for traces, layout in props[1:]:
        for now, ref in zip(traces, first_traces):
            trace_keys |= {key for key in now.keys() | ref.keys()
                           if not _same_value(now.get(key), ref.get(key))}
        layout_keys |= {key for key in layout.keys() | first_layout.keys()
                        if not _same_value(layout.get(key),
                                           first_layout.get(key))}
    return sorted(trace_keys), sorted(layout_keys)


def _patch(traces, layout, trace_keys, layout_keys, digits):
    """``[restyle, relayout]`` arguments of ``Plotly.update`` for a state."""
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


def _draw(make_figure, values: dict) -> go.Figure:
    """``make_figure(**values)``, checked to be a plotly figure."""
    fig = make_figure(**values)
    if not isinstance(fig, go.Figure):
        raise TypeError("make_figure must return a plotly.graph_objects."
                        f"Figure, got {type(fig).__name__}")
    return fig


def _check_same_traces(fig, n_traces: int, values: dict) -> None:
    """Every state has the traces of the default one (the patches and the
    live update address traces by index)."""
    if len(fig.data) != n_traces:
        raise ValueError(
            f"make_figure returned {len(fig.data)} traces for {values} "
            f"but {n_traces} for the defaults: every state must have the "
            "same traces (hide one with visible=False instead)")


def _description(fig: go.Figure) -> str:
    """The figure's text alternative, ``layout.meta["description"]``, or
    "" when it has none."""
    meta = fig.layout.meta
    text = meta.get("description") if isinstance(meta, dict) else None
    return text if isinstance(text, str) else ""


# ----------------------------------------------------------------- static

def _static_figure(make_figure, controls, digits):
    """The default figure, with the controls and every state of their grids
    precomputed in ``layout.meta["calc_nn"]`` (read by
    ``calc_nn/static/calc_nn_plotly.js`` and :mod:`calc_nn.sphinxext`)."""
    combos = _combinations(controls)
    base, props = _draw_states(make_figure, controls, combos)
    values, patches = _pooled(_state_patches(props, digits))
    states = {",".join(map(str, c)): p for c, p in zip(combos, patches)}
    return _attach_controls(base, controls, values, states)


def _combinations(controls) -> list[tuple[int, ...]]:
    """Every combination of the controls' positions, at most MAX_STATES."""
    sizes = [len(c.values) for c in controls]
    if math.prod(sizes) > MAX_STATES:
        raise ValueError(
            f"{math.prod(sizes)} precomputed states "
            f"({' x '.join(map(str, sizes))}) exceed MAX_STATES="
            f"{MAX_STATES}: use fewer slider values or mark a control "
            "live_only=True")
    return list(itertools.product(*(range(n) for n in sizes)))


def _draw_states(make_figure, controls, combos):
    """The default figure, and the flattened trace and layout properties of
    the figure of every combination (the default one drawn once)."""
    defaults = {c.name: c.default for c in controls}
    base = _draw(make_figure, defaults)
    props = []
    for combo in combos:
        values = {c.name: c.values[i] for c, i in zip(controls, combo)}
        fig = base if values == defaults else _draw(make_figure, values)
        _check_same_traces(fig, len(base.data), values)
        props.append((_trace_props(fig), _layout_props(fig)))
    return base, props


def _state_patches(props, digits):
    """One ``[restyle, relayout]`` per state, holding only the properties
    that differ between states, numbers rounded to ``digits`` digits."""
    trace_keys, layout_keys = _changing_keys(props)
    return [_patch(traces, layout, trace_keys, layout_keys, digits)
            for traces, layout in props]


def _pooled(patches):
    """The values of the patches, each distinct one stored once: ``(values,
    patches)`` where a patch holds indices into ``values`` (per trace for
    its restyle part). An image that only some controls change, or a
    narrow layout that many states share, is written once, not per state.
    """
    values, index = [], {}

    def ref(value) -> int:
        key = json.dumps(value, sort_keys=True, separators=(",", ":"),
                         default=_plain)
        if key not in index:
            index[key] = len(values)
            values.append(value)
        return index[key]

    pooled = [[{key: [ref(v) for v in per_trace]
                for key, per_trace in data.items()},
               {key: ref(v) for key, v in layout.items()}]
              for data, layout in patches]
    return values, pooled


def _plain(value):
    """NumPy values inside a property (a dict of the narrow patch, a list
    of annotations) as plain JSON values."""
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def state(fig: go.Figure, key: str) -> list[dict]:
    """The ``[restyle, relayout]`` arguments of state ``key`` ("i,j",
    positions of the controls) of a static :func:`explore` figure.

    Used in: book/activations.md (what the site shows for each setting)
    """
    meta = fig.layout.meta["calc_nn"]
    values = meta["values"]
    data, layout = meta["states"][key]
    return [{k: [values[i] for i in refs] for k, refs in data.items()},
            {k: values[i] for k, i in layout.items()}]


def _attach_controls(base, controls, values, states):
    """``base`` with ``layout.meta["calc_nn"]``: the controls (label,
    kind, displayed values, position), the pool of values and the states
    (by position key) that point into it."""
    spec = [{"name": c.name, "label": c.title,
             "kind": "choice" if isinstance(c, Choice) else "slider",
             "labels": c.labels(), "active": _index(c, c.default)}
            for c in controls]
    meta = dict(base.layout.meta or {})
    meta["calc_nn"] = {"controls": spec, "values": values, "states": states}
    base.update_layout(meta=meta)
    return base


# ----------------------------------------------------------------- live

def _description_html(text: str) -> str:
    """The description under a live figure (a polite live region)."""
    return ('<p class="calc-nn-description" role="status" '
            f'aria-live="polite">{html.escape(text)}</p>')


class LiveExplorer(widgets.VBox):
    """ipywidgets controls over a plotly FigureWidget updated in place, and
    the figure's text description under it.

    Attributes
    ----------
    figure : plotly.graph_objects.FigureWidget
    controls : dict of str -> ipywidgets widget, one per control
    description : ipywidgets.HTML
        The figure's ``layout.meta["description"]`` for the current values.

    Used in: book/activations.md (what :func:`explore` returns in a kernel)
    """

    def __init__(self, make_figure, controls):
        self._make_figure = make_figure
        first = _draw(make_figure, {c.name: c.default for c in controls})
        self.figure = go.FigureWidget(first)
        self.controls = {c.name: _live_control(c) for c in controls}
        self.description = widgets.HTML(_description_html(_description(
            first)))
        super().__init__([*self.controls.values(), self.figure,
                          self.description])
        for w in self.controls.values():
            w.observe(self._update, names="value")

    def values(self) -> dict[str, Any]:
        """The controls' current values, as passed to ``make_figure``."""
        return {name: w.value for name, w in self.controls.items()}

    def _update(self, change=None):
        """Redraw for the current values: every property that changed."""
        values = self.values()
        fig = _draw(self._make_figure, values)
        try:
            _check_same_traces(fig, len(self.figure.data), values)
        except ValueError as exc:  # say it under the figure too
            self.description.value = _description_html(f"Error: {exc}")
            raise
        new_traces, new_layout = _trace_props(fig), _layout_props(fig)
        old_layout = _layout_props(self.figure)
        with self.figure.batch_update():
            for trace, new in zip(self.figure.data, new_traces):
                old = _flatten(trace.to_plotly_json())
                for key in (new.keys() | old.keys()) - {"type", "uid"}:
                    if not _same_value(new.get(key), old.get(key)):
                        trace[key] = new.get(key)
            changed = {key for key in new_layout.keys() | old_layout.keys()
                       if not _same_value(new_layout.get(key),
                                          old_layout.get(key))}
            for key in changed:
                if not key.startswith("meta."):
                    self.figure.layout[key] = new_layout.get(key)
            if any(key.startswith("meta.") for key in changed):
                self.figure.layout.meta = fig.layout.meta
        self.description.value = _description_html(_description(fig))


def _live_control(c: Slider):
    """The ipywidgets control of ``c``: toggle buttons or a slider."""
    options = list(zip(c.labels(), c.values))
    if isinstance(c, Choice):
        return widgets.ToggleButtons(options=options, value=c.default,
                                     description=c.title)
    return widgets.SelectionSlider(
        options=options, value=c.values[_index(c, c.default)],
        description=c.title, continuous_update=True,
        layout=widgets.Layout(width="min(100%, 520px)"),
        style={"description_width": "initial"})


# ----------------------------------------------------------------- entry

def explore(make_figure: Callable[..., go.Figure],
            controls: Sequence[Slider], *, mode: str = "auto",
            digits: int = 4):
    """Show ``make_figure(**values)`` with controls for ``values``.

    Every trace and layout property whose value differs between two
    settings (``x``, ``y``, ``name``, ``line.color``, ``title.text``, the
    figure's description, ...) is found by comparing them and is updated,
    on the static site and live alike: there is no list of keys to keep.

    Parameters
    ----------
    make_figure : callable
        Keyword arguments named after the controls -> ``go.Figure``. Every
        call returns the same number of traces in the same order.
    controls : sequence of Slider or Choice
        Distinct names; on the static site at most :data:`MAX_STATES`
        combinations of the controls that are not ``live_only``.
    mode : {"auto", "static", "live"}
        "auto" is static when building the book or outside a kernel.
    digits : int, 1 to 17
        Significant digits of the numbers of the precomputed states (page
        size); exact decimals, the same on every processor.

    Returns
    -------
    plotly.graph_objects.Figure (static): the default figure, its controls
    and states in ``layout.meta["calc_nn"]``; or a :class:`LiveExplorer`
    (live).

    Raises
    ------
    TypeError
        ``make_figure`` is not callable or returns no plotly figure; a
        control is not a Slider or Choice; ``digits`` is not an int.
    ValueError
        No control, two with one name, a bad ``mode``, ``digits`` out of
        range, too many states, every control ``live_only`` (static), or a
        state with another number of traces than the default one (static:
        when built; live: when the control moves, also shown under the
        figure).

    Used in: book/calculus.md, book/forward.md, book/activations.md,
    book/losses.md, book/optimizers.md, book/backprop.md, book/cnn.md,
    book/deep.md, book/digits.md
    """
    controls, mode, digits = _check_explore(make_figure, controls, mode,
                                            digits)
    if not (is_static() if mode == "auto" else mode == "static"):
        return LiveExplorer(make_figure, controls)
    fixed = {c.name: c.default for c in controls if c.live_only}
    shown = [c for c in controls if not c.live_only]
    if not shown:
        raise ValueError("every control is live_only: the static site "
                         "would have nothing to move")
    return _static_figure(functools.partial(make_figure, **fixed), shown,
                          digits)


# ----------------------------------------------------------------- checks

def _check_explore(make_figure, controls, mode, digits):
    """explore's arguments, checked: (controls as a list, mode, digits)."""
    check_callable(make_figure, "make_figure")
    if isinstance(controls, (Slider, str)) or not isinstance(controls,
                                                             Iterable):
        raise TypeError("controls must be a list of Slider or Choice, got "
                        f"{type(controls).__name__}")
    controls = list(controls)
    for i, c in enumerate(controls):
        if not isinstance(c, Slider):
            raise TypeError(f"controls[{i}] must be a Slider or Choice, "
                            f"got {type(c).__name__} {c!r}")
    if not controls:
        raise ValueError("controls must not be empty")
    names = [c.name for c in controls]
    if len(set(names)) != len(names):
        raise ValueError(f"control names must be distinct, got {names}")
    check_choice(mode, "mode", ["auto", "static", "live"])
    digits = check_int(digits, "digits", low=1, high=MAX_DIGITS)
    return controls, mode, digits


def _check_control(c: Slider):
    """A Slider's or Choice's fields, checked: (values as a tuple,
    default)."""
    kind = type(c).__name__
    if not isinstance(c.name, str) or not c.name.isidentifier():
        raise (ValueError if isinstance(c.name, str) else TypeError)(
            f"{kind} name must be a Python identifier (the keyword of the "
            f"figure function), got {c.name!r}")
    where = f"{kind} {c.name!r}"
    if isinstance(c.values, (str, bytes)) or not isinstance(
            c.values, (Sequence, range, np.ndarray)):
        raise TypeError(f"{where}: values must be a list of values, got "
                        f"{type(c.values).__name__}")
    values = tuple(v.item() if isinstance(v, np.generic) else v
                   for v in c.values)
    if not values:
        raise ValueError(f"{where}: values must not be empty")
    bad = [v for v in values if _is_number(v) and not math.isfinite(v)]
    if bad:
        raise ValueError(f"{where}: values must be finite, got {bad[0]}")
    twice = [v for i, v in enumerate(values)
             if any(_same(v, w) for w in values[:i])]
    if twice:
        raise ValueError(f"{where}: values must be distinct, {twice[0]!r} "
                         "is there twice")
    if c.default is None:
        default = values[0]
    elif any(_same(c.default, v) for v in values):
        default = next(v for v in values if _same(c.default, v))
    else:
        raise ValueError(f"{where}: default {c.default!r} is not one of its "
                         f"values {list(values)}")
    if c.label is not None and (not isinstance(c.label, str)
                                or not c.label.strip()):
        raise TypeError(f"{where}: label must be a non-empty str, got "
                        f"{c.label!r}")
    if not isinstance(c.live_only, bool):
        raise TypeError(f"{where}: live_only must be True or False, got "
                        f"{c.live_only!r}")
    _check_labels(c, where, values)
    return values, default


def _check_labels(c: Slider, where: str, values: tuple) -> None:
    """One displayed label per value, all distinct: a reader must tell the
    positions of a control apart."""
    option_labels = getattr(c, "option_labels", None)
    if option_labels is not None:
        labels = list(option_labels) if not isinstance(
            option_labels, str) else [option_labels]
        if len(labels) != len(values) or not all(
                isinstance(s, str) and s.strip() for s in labels):
            raise ValueError(f"{where}: option_labels must be one non-empty "
                             f"str per value ({len(values)}), got "
                             f"{option_labels!r}")
    else:
        if not isinstance(c.fmt, str):
            raise TypeError(f"{where}: fmt must be a format string such as "
                            f"'{{:g}}', got {c.fmt!r}")
        try:
            labels = [c.fmt.format(v) for v in values]
        except (ValueError, TypeError, IndexError, KeyError) as exc:
            raise ValueError(f"{where}: fmt {c.fmt!r} cannot format its "
                             f"values ({exc})") from None
    if len(set(labels)) != len(labels):
        same = next(s for i, s in enumerate(labels) if s in labels[:i])
        raise ValueError(f"{where}: two values are shown as {same!r}; use "
                         "a finer fmt or option_labels")
