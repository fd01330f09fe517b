"""Figures of the chapter "The calculus you need".

Each function draws one setting; the chapter passes it to
:func:`calc_nn.widgets.explore`. Every figure carries a text alternative
computed from the numbers it plots (:func:`calc_nn.plots._style.describe`),
and a narrow layout for phones: its title, legend and (for the two-panel
figure, stacked) panels placed by :func:`calc_nn.plots._style.frame`, as
in every other chapter.
"""

from __future__ import annotations

import functools

import numpy as np
import plotly.graph_objects as go
import sympy as sp
from plotly.subplots import make_subplots

from calc_nn.plots._style import COLORS, describe, frame, two_panels
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


def _cubic_axes(fig, y_title):
    """The fixed axes of the two figures of the cubic."""
    fig.update_layout(xaxis=dict(title="x", range=[-2.4, 2.4]),
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
    narrow = frame(
        # no-break spaces: a phone's title breaks between the statements
        fig, f"x = {x0:g}, h = {h:g}: slopes {slope:.4g}\u00a0(tangent), "
             f"{secant:.4g}\u00a0(secant) · r(h) = {r:.3g}, "
             f"r(h)/h\u00a0=\u00a0{r / h:.3g}",
        height=470, narrow_height=500)
    _cubic_axes(fig, "f(x)")
    text = (f"The curve f(x) = x³ − 2x with its tangent line at x = {x0:g} "
            f"(slope {slope:.4g}) and the secant through x and x + h for "
            f"h = {h:g} (slope {secant:.4g}). The tangent misses f(x + h) "
            f"by r(h) = {r:.3g}, and r(h)/h = {r / h:.3g}; since "
            "r(h)/h = 3xh + h², it tends to 0 with h: the gap closes "
            "faster than h.")
    return describe(fig, text, narrow={"layout": narrow})


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
        showlegend=False, hoverinfo="skip"), 1, 1)

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
    # on a phone the bowl above the slopes, each the full width
    narrow = two_panels(
        fig, f"At ({px:g}, {py:g}), u at {angle:g}°: slope {slope:.3g} · "
             f"steepest descent: u at {best:.1f}°, slope {-norm:.3g}",
        height=450, heights=(240, 200), gap=80, titles=False)
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
    return describe(fig, text, narrow={"layout": narrow})


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
    narrow = frame(fig, f"around x = {x0:g}, errors at x + 0.5: "
                        f"{err1:.3g}\u00a0(first\u00a0order), "
                        f"{err2:.3g}\u00a0(second\u00a0order)",
                   height=450, narrow_height=480)
    _cubic_axes(fig, "value")
    text = (f"The curve f(x) = x³ − 2x and its Taylor approximations around "
            f"x = {x0:g}: the tangent line and the parabola that also "
            f"matches the curvature f″({x0:g}) = {float(d2f(x0)):.3g}. Half a "
            f"unit away the tangent is off by {err1:.3g}, the parabola by "
            f"{err2:.3g} (exactly 0.5³).")
    return describe(fig, text, narrow={"layout": narrow})


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
    # five legend entries: two rows on a wide screen, five on a phone
    narrow = frame(fig, f"Relative error, {DIFFERENCE_LABELS[name]}",
                   height=480, narrow_height=560, margin=dict(l=70))
    fig.update_layout(
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
    # a phone: a tick every 10⁴, not every 10², so that they stay level
    return describe(fig, text, narrow={"layout": {**narrow,
                                                  "xaxis.dtick": 4}})


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
