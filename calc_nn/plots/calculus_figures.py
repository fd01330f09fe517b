"""Figures of the chapter "The calculus you need".

Each function draws one setting; the chapter passes it to
:func:`calc_nn.widgets.explore`. Every figure carries a text alternative
computed from the numbers it plots (:func:`calc_nn.plots._style.describe`),
and the two-panel figure a layout that stacks its panels on a narrow screen.
"""

from __future__ import annotations

import functools

import numpy as np
import plotly.graph_objects as go
import sympy as sp
from plotly.subplots import make_subplots

from calc_nn.plots._style import COLORS, describe, title_y
from calc_nn.plots._style import LAYOUT as _LAYOUT
from calc_nn.symbolic import calculus_formulas as calc

__all__ = [
    "tangent_line",
    "directional_derivative",
    "taylor_approximations",
    "difference_errors",
    "DIFFERENCE_LABELS",
]

_BLUE, _RED = COLORS["sigmoid"], COLORS["tanh"]
_GREEN, _ORANGE = COLORS["relu"], COLORS["derivative"]
_GREY = COLORS["muted"]
_PURPLE = COLORS["leaky_relu"]


@functools.cache
def _cubic():
    """f, f', f'' of the chapter's cubic as NumPy functions."""
    f = calc.CUBIC
    return tuple(sp.lambdify(calc.x, sp.diff(f, calc.x, k), "numpy")
                 for k in range(3))


def _two_line_title(first: str, second: str, height: int) -> dict:
    """A title on two short lines at the top of a figure ``height`` px
    high, below the modebar's row, clear of a legend above the plot even
    when a phone's width wraps the legend into two rows."""
    return dict(text=f"{first}<br>{second}", font=dict(size=14),
                y=title_y(14, height), yref="container", yanchor="bottom")


def _cubic_layout(fig, height, top, y_title, title):
    """The fixed axes of the two figures of the cubic, and their title."""
    fig.update_layout(**{**_LAYOUT, "height": height,
                         "margin": dict(l=60, r=20, t=top, b=50)},
                      title=title, xaxis=dict(title="x", range=[-2.4, 2.4]),
                      yaxis=dict(title=y_title, range=[-9, 9]))


def tangent_line(x0: float, h: float) -> go.Figure:
    """The cubic, its tangent at ``x0`` and the secant from ``x0`` to
    ``x0 + h``, with the gap r(h) between the curve and the tangent.

    Used in: book/calculus.md
    """
    f, df, _ = _cubic()
    xs = np.linspace(-2.4, 2.4, 241)
    slope, secant = float(df(x0)), float((f(x0 + h) - f(x0)) / h)
    r = float(f(x0 + h) - f(x0) - slope * h)
    ends = np.array([-2.4, 2.4])
    fig = go.Figure([
        go.Scatter(x=xs, y=f(xs), name="f(x) = x³ − 2x",
                   line=dict(color=_BLUE, width=3)),
        go.Scatter(x=ends, y=f(x0) + slope * (ends - x0), name="tangent",
                   line=dict(color=_ORANGE, width=2)),
        go.Scatter(x=ends, y=f(x0) + secant * (ends - x0), name="secant",
                   line=dict(color=_GREEN, width=2, dash="dash")),
        go.Scatter(x=[x0 + h, x0 + h], y=[f(x0) + slope * h, f(x0 + h)],
                   name="gap r(h)", mode="lines",
                   line=dict(color=_RED, width=4)),
        go.Scatter(x=[x0, x0 + h], y=[f(x0), f(x0 + h)], mode="markers",
                   showlegend=False, marker=dict(color="black", size=8)),
    ])
    slopes = f"slopes {slope:.4g} (tangent), {secant:.4g} (secant)"
    gap = f"r(h) = {r:.3g}, r(h)/h = {r / h:.3g}"
    _cubic_layout(fig, 524, 174, "f(x)", _two_line_title(
        f"x = {x0:g}, h = {h:g}: {slopes}", gap, 524))
    # a phone: the first line in two, and room for the third
    narrow = {"layout": {
        "title.text": f"x = {x0:g}, h = {h:g}:<br>{slopes}<br>{gap}",
        "margin.t": 196, "height": 546}}
    text = (f"The curve f(x) = x³ − 2x with its tangent line at x = {x0:g} "
            f"(slope {slope:.4g}) and the secant through x and x + h for "
            f"h = {h:g} (slope {secant:.4g}). The tangent misses f(x + h) "
            f"by r(h) = {r:.3g}, and r(h)/h = {r / h:.3g}; since "
            "r(h)/h = 3xh + h², it tends to 0 with h: the gap closes "
            "faster than h.")
    return describe(fig, text, narrow=narrow)


def directional_derivative(angle: float) -> go.Figure:
    """Left: the chapter's bowl, the point, the unit direction at ``angle``
    degrees and the steepest-descent direction. Right: the directional
    derivative for every direction.

    Used in: book/calculus.md
    """
    (px, py), (gx, gy), best, contours = _bowl()
    norm = float(np.hypot(gx, gy))
    slope = calc.directional_derivative(calc.BOWL, calc.BOWL_POINT, angle)
    thetas = np.arange(0, 361, 3.0)
    curve = gx * np.cos(np.deg2rad(thetas)) + gy * np.sin(np.deg2rad(thetas))
    u = np.array([np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))])
    d = -np.array([gx, gy]) / norm
    gxs, gys, zs = contours
    fig = make_subplots(rows=1, cols=2, column_widths=[0.55, 0.45],
                        horizontal_spacing=0.14)
    fig.add_trace(go.Contour(
        x=gxs, y=gys, z=zs, showscale=False,
        contours=dict(start=0.5, end=12, size=1, coloring="lines"),
        colorscale=[[0, _GREY], [1, _GREY]], name="f(x, y)",
        hoverinfo="skip"), 1, 1)

    def arrow(vec, name, color, dash=None):
        return go.Scatter(
            x=[px, px + vec[0]], y=[py, py + vec[1]], name=name,
            mode="lines+markers", line=dict(color=color, width=3, dash=dash),
            marker=dict(symbol=["circle", "arrow"], size=[6, 14],
                        angleref="previous", color=color))
    fig.add_trace(arrow(d, "steepest descent", _GREEN, "dash"), 1, 1)
    fig.add_trace(arrow(u, "direction u", _ORANGE), 1, 1)
    fig.add_trace(go.Scatter(
        x=thetas, y=curve, name="∂ᵤf = ∇f·u", showlegend=False,
        line=dict(color=_BLUE, width=2)), 1, 2)
    fig.add_trace(go.Scatter(
        x=[best], y=[-norm], mode="markers", showlegend=False,
        marker=dict(color=_GREEN, size=11, symbol="star"),
        name="steepest descent"), 1, 2)
    fig.add_trace(go.Scatter(
        x=[angle], y=[slope], mode="markers", showlegend=False,
        marker=dict(color=_ORANGE, size=11), name="direction u"), 1, 2)
    fig.update_xaxes(title_text="x", range=[-3, 4], row=1, col=1)
    fig.update_yaxes(title_text="y", range=[-2.5, 2.5], row=1, col=1,
                     scaleanchor="x", scaleratio=1)
    fig.update_xaxes(title_text="angle of u (degrees)", range=[0, 360],
                     dtick=90, row=1, col=2)
    fig.update_yaxes(title_text="slope ∂ᵤf", range=[-5, 5], row=1, col=2)
    fig.update_layout(
        **{**_LAYOUT, "height": 494, "margin": dict(l=60, r=20, t=154,
                                                     b=50)},
        title=_two_line_title(
            f"At ({px:g}, {py:g}), u at {angle:g}°: slope {slope:.3g}",
            f"steepest descent: u at {best:.1f}°, slope {-norm:.3g}", 494))
    text = (f"Contour lines of f(x, y) = x²/2 + 2y² around the point "
            f"({px:g}, {py:g}), where the gradient is ({gx:g}, {gy:g}). "
            f"Two unit arrows start at the point: the direction u at "
            f"{angle:g} degrees from the x axis, pointing to "
            f"({px + u[0]:.2f}, {py + u[1]:.2f}), and, dashed, the "
            f"steepest descent −∇f/|∇f| at {best:.1f} degrees, pointing "
            f"to ({px + d[0]:.2f}, {py + d[1]:.2f}). "
            f"The direction at {angle:g} degrees has slope {slope:.3g}. "
            f"The slope, plotted against the angle of u, is a cosine "
            f"between {-norm:.3g} and {norm:.3g}; it is lowest at "
            f"{best:.1f} degrees, the direction of −∇f.")
    narrow = {"layout": {"xaxis.domain": [0, 1], "yaxis.domain": [0.56, 1],
                         "xaxis2.domain": [0, 1], "yaxis2.domain": [0, 0.38],
                         "height": 784, "title.font.size": 12}}
    return describe(fig, text, narrow=narrow)


@functools.cache
def _bowl():
    """The point, the gradient there, the steepest-descent angle and the
    contour grid of the chapter's bowl (computed once)."""
    f, (px, py) = calc.BOWL, calc.BOWL_POINT
    gx, gy = (float(d.subs({calc.x: px, calc.y: py}))
              for d in calc.gradient(f))
    gxs, gys = np.linspace(-3, 4, 71), np.linspace(-2.5, 2.5, 51)
    zs = sp.lambdify((calc.x, calc.y), f, "numpy")(*np.meshgrid(gxs, gys))
    return ((px, py), (gx, gy), calc.steepest_descent_angle(f, (px, py)),
            (gxs, gys, zs))


def taylor_approximations(x0: float) -> go.Figure:
    """The cubic and its first- and second-order Taylor approximations at
    ``x0``.

    Used in: book/calculus.md
    """
    f, df, d2f = _cubic()
    xs = np.linspace(-2.4, 2.4, 241)
    step = xs - x0
    first = f(x0) + df(x0) * step
    second = first + d2f(x0) * step ** 2 / 2
    at = x0 + 0.5
    err1 = float(abs(f(at) - (f(x0) + df(x0) * 0.5)))
    err2 = float(abs(f(at) - (f(x0) + df(x0) * 0.5 + d2f(x0) * 0.125)))
    fig = go.Figure([
        go.Scatter(x=xs, y=f(xs), name="f(x) = x³ − 2x",
                   line=dict(color=_BLUE, width=3)),
        go.Scatter(x=xs, y=first, name="first order (tangent)",
                   line=dict(color=_ORANGE, width=2)),
        go.Scatter(x=xs, y=second, name="second order",
                   line=dict(color=_PURPLE, width=2, dash="dash")),
        go.Scatter(x=[x0], y=[f(x0)], mode="markers", showlegend=False,
                   marker=dict(color="black", size=9)),
    ])
    _cubic_layout(fig, 464, 154, "value", _two_line_title(
        f"around x = {x0:g}, errors at x + 0.5:",
        f"{err1:.3g} (first order), {err2:.3g} (second order)", 464))
    text = (f"The curve f(x) = x³ − 2x and its Taylor approximations around "
            f"x = {x0:g}: the tangent line and the parabola that also "
            f"matches the curvature f″({x0:g}) = {float(d2f(x0)):.3g}. Half a "
            f"unit away the tangent is off by {err1:.3g}, the parabola by "
            f"{err2:.3g} (exactly 0.5³).")
    return describe(fig, text)


#: Button labels of :func:`difference_errors`.
DIFFERENCE_LABELS = {"sigmoid": "σ near 2", "exp": "exp near 1",
                     "sin": "sin near 1"}
_CASES = [("forward", np.float64, _BLUE, None),
          ("central", np.float64, _RED, None),
          ("forward", np.float32, _BLUE, "dot"),
          ("central", np.float32, _RED, "dot")]


@functools.cache
def _error_curves(name):
    hs = calc.step_grid()
    return hs, [calc.difference_errors(name, hs, kind, dtype)
                for kind, dtype, _, _ in _CASES]


def difference_errors(name: str) -> go.Figure:
    """Relative error of forward and central differences against the step
    h, in float64 and float32, on log-log axes: the V of truncation (right)
    and round-off (left).

    Used in: book/calculus.md
    """
    hs, curves = _error_curves(name)
    fig = go.Figure()
    notes, bests = [], []
    for (kind, dtype, color, dash), errs in zip(_CASES, curves):
        label = f"{kind}, {np.dtype(dtype).name}"
        fig.add_trace(go.Scatter(
            x=hs, y=np.maximum(errs, 1e-17), name=label, mode="lines",
            line=dict(color=color, width=2.5, dash=dash)))
        h_best, e_best = calc.best_step(hs, errs)
        bests.append((h_best, e_best))
        notes.append(f"{label}: smallest error {e_best:.1e} at h = "
                     f"{h_best:.1e}, " + _flat_top(hs, errs))
    fig.add_trace(go.Scatter(
        x=[b[0] for b in bests], y=[b[1] for b in bests], mode="markers",
        name="smallest error", marker=dict(color="black", size=8,
                                           symbol="x")))
    fig.update_layout(
        # the legend below the plot: explore() puts the buttons above it,
        # and a narrow screen wraps the legend into more rows
        **{**_LAYOUT, "height": 620,
           "margin": dict(l=70, r=20, t=80, b=210),
           "legend": dict(orientation="h", x=0, y=-0.33, yanchor="top")},
        title=dict(text=f"Relative error, {DIFFERENCE_LABELS[name]}",
                   font=dict(size=14), yref="container", yanchor="bottom",
                   y=title_y(14, 620)),
        xaxis=dict(title="step h", type="log", range=[-16, 0], dtick=2,
                   exponentformat="power"),
        yaxis=dict(title="relative error", type="log", range=[-13, 1],
                   dtick=2, exponentformat="power"))
    text = (f"Log-log plot of the median relative error of forward and "
            f"central differences of {DIFFERENCE_LABELS[name]} against the "
            f"step h, from 1 down to 1e-16. Each curve falls as h shrinks "
            f"(truncation error), reaches a minimum, then rises as h "
            f"shrinks further (round-off), toward a relative error of 1, "
            f"where the two values of the function round to the same "
            f"number and the difference is 0. " + "; ".join(notes) + ".")
    return describe(fig, text)


def _flat_top(hs, errs) -> str:
    """Where a curve of :func:`difference_errors` sits at 1 for every
    smaller step, or that it stays below 1 down to the smallest step."""
    below = np.flatnonzero(errs != 1)
    if below.size and below[-1] == len(hs) - 1:
        return f"below 1 down to h = {hs[-1]:.0e}"
    start = below[-1] + 1 if below.size else 0
    if start == len(hs) - 1:
        return f"error 1 at h = {hs[-1]:.0e} only"
    return f"error 1 for every h ≤ {hs[start]:.1e}"
