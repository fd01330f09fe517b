"""Figures of the chapter "Activation functions"."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from calc_nn import activations, symbolic
from calc_nn.plots._style import COLORS, LABELS
from calc_nn.plots._style import LAYOUT as _LAYOUT

__all__ = [
    "function_and_derivative",
    "gradient_through_depth",
    "dead_relu",
    "leaky_relu_slope",
    "softmax_temperature",
]


def _pretty(value) -> str:
    """A SymPy number as a reader writes it: ∞ rather than SymPy's ``oo``."""
    return str(value).replace("oo", "∞")


def function_and_derivative(name: str, alpha: float = 0.1,
                            x_range=(-6.0, 6.0), n: int = 241) -> go.Figure:
    """An activation, its derivative, and where the derivative peaks."""
    f, f_grad = activations.get(name, alpha)
    x = np.linspace(*x_range, n)
    x_star, peak = symbolic.max_derivative(name)
    # the peak is a point for sigmoid/tanh, a half-line for (Leaky) ReLU
    px = float(x_star) if x_star.is_finite else x_range[1] / 2
    fig = go.Figure([
        go.Scatter(x=x, y=f(x), name=f"{LABELS[name]}(x)",
                   line=dict(color=COLORS[name], width=3)),
        go.Scatter(x=x, y=f_grad(x), name="derivative",
                   line=dict(color=COLORS["derivative"], width=3,
                             dash="dash")),
        go.Scatter(x=[px], y=[float(peak)], mode="markers+text",
                   name="largest derivative",
                   text=[f"max f′ = {float(peak):g}"],
                   textposition="top right",
                   marker=dict(color=COLORS["derivative"], size=10)),
    ])
    lo, hi = (_pretty(v) for v in symbolic.value_range(name))
    fig.update_layout(
        **_LAYOUT,
        title=dict(text=f"{LABELS[name]}: range ({lo}, {hi}), "
                        f"largest derivative {peak}"),
        xaxis_title="x", yaxis_title="value",
        yaxis_range=[-1.6, 2.1])
    return fig


def gradient_through_depth(depth: int, w: float = 1.0,
                           x0: float = 0.5, alpha: float = 0.1,
                           max_depth: int = 30) -> go.Figure:
    """How much gradient reaches each layer of a chain of ``depth`` layers.

    Top: ``|d a_n / d a_k|`` for every layer ``k`` of a chain of ``depth``
    layers (log scale), per activation. Bottom: the gradient reaching the
    input, ``|d a_n / d a_0|``, for every depth up to ``max_depth``, with
    the chosen depth marked.
    """
    fig = make_subplots(rows=2, cols=1, vertical_spacing=0.16)
    notes = []
    for name in ("sigmoid", "tanh", "relu", "leaky_relu"):
        _, grad = activations.chain_gradient(name, depth, w, x0, alpha)
        reach = [activations.chain_gradient(name, n, w, x0, alpha)[1][0]
                 for n in range(max_depth + 1)]
        fig.add_trace(go.Scatter(
            x=np.arange(depth + 1), y=np.abs(grad), name=LABELS[name],
            legendgroup=name, mode="lines+markers",
            line=dict(color=COLORS[name])), 1, 1)
        fig.add_trace(go.Scatter(
            x=np.arange(max_depth + 1), y=np.abs(reach), showlegend=False,
            legendgroup=name, line=dict(color=COLORS[name])), 2, 1)
        g0 = abs(grad[0])
        verdict = ("vanished" if g0 < 1e-6 else
                   "exploded" if g0 > 1e6 else "ok")
        notes.append(f"{LABELS[name]} {g0:.1e} ({verdict})")
    fig.add_trace(go.Scatter(
        x=[depth, depth], y=[1e-30, 1e30], mode="lines", showlegend=False,
        line=dict(color=COLORS["muted"], dash="dot")), 2, 1)
    for row, title in ((1, "|∂aₙ/∂aₖ|"), (2, "|∂aₙ/∂a₀|")):
        fig.update_yaxes(type="log", range=[-20, 20], dtick=10,
                         exponentformat="power", title_text=title,
                         row=row, col=1)
    fig.update_xaxes(title_text=f"layer k of a chain of n = {depth} layers",
                     range=[-0.5, max_depth + 0.5], row=1, col=1)
    fig.update_xaxes(title_text="depth n", range=[-0.5, max_depth + 0.5],
                     row=2, col=1)
    fig.update_layout(**{**_LAYOUT, "height": 640,
                         "margin": dict(l=70, r=20, t=110, b=50)})
    fig.update_layout(
        legend=dict(y=1.03),
        title=dict(text=f"w = {w:g}, a₀ = {x0:g}. Gradient at the input: "
                        + "<br>" + " · ".join(notes),
                   font=dict(size=13)))
    return fig


def dead_relu(bias: float, w: float = 1.0, n: int = 2000,
              seed: int = 0) -> go.Figure:
    """Pre-activations ``z = w x + b`` of one ReLU neuron over a dataset.

    Inputs with ``z <= 0`` pass no gradient to ``w`` or ``b``; when all of
    them do, the neuron is dead: gradient descent can never revive it.
    """
    x = np.random.default_rng(seed).standard_normal(n)
    z = w * x + bias
    alive = z > 0
    bins = dict(start=-8, end=6, size=0.25)
    fig = go.Figure([
        go.Histogram(x=z[alive], xbins=bins, name="z > 0: gradient flows",
                     marker_color=COLORS["relu"]),
        go.Histogram(x=z[~alive], xbins=bins,
                     name="z ≤ 0: ReLU′(z) = 0, no gradient",
                     marker_color=COLORS["muted"]),
    ])
    frac = alive.mean()
    verdict = "the neuron is dead" if frac == 0 else (
        f"{frac:.1%} of inputs update w and b")
    fig.update_layout(
        **_LAYOUT, barmode="overlay", bargap=0.05,
        title=dict(text=f"bias b = {bias:g}: {verdict}"),
        xaxis=dict(title="pre-activation z = w·x + b", range=[-8, 6]),
        yaxis=dict(title="number of inputs", range=[0, 240]),
        shapes=[dict(type="line", x0=0, x1=0, y0=0, y1=1, yref="paper",
                     line=dict(color="black", dash="dot"))])
    return fig


def leaky_relu_slope(alpha: float, x_range=(-4.0, 4.0)) -> go.Figure:
    """Leaky ReLU and its derivative for a negative slope ``alpha``."""
    x = np.linspace(*x_range, 161)
    fig = go.Figure([
        go.Scatter(x=x, y=activations.relu(x), name="ReLU",
                   line=dict(color=COLORS["muted"], dash="dot")),
        go.Scatter(x=x, y=activations.leaky_relu(x, alpha),
                   name="Leaky ReLU(x)",
                   line=dict(color=COLORS["leaky_relu"], width=3)),
        go.Scatter(x=x, y=activations.leaky_relu_grad(x, alpha),
                   name="derivative", line=dict(color=COLORS["derivative"],
                                                width=3, dash="dash")),
    ])
    fig.update_layout(
        **_LAYOUT, title=dict(text=f"α = {alpha:g}: a negative input still "
                                   f"passes {alpha:g} × the gradient"),
        xaxis_title="x", yaxis=dict(title="value", range=[-2.2, 4.2]))
    return fig


def softmax_temperature(temperature: float, logits=(2.0, 1.0, 0.1, -1.0),
                        ) -> go.Figure:
    """Softmax probabilities of fixed logits divided by a temperature."""
    logits = np.asarray(logits, dtype=float)
    p = activations.softmax(logits / temperature)
    classes = [f"class {i}" for i in range(len(logits))]
    fig = go.Figure([
        go.Bar(x=classes, y=p, name="softmax(z / T)",
               marker_color=COLORS["sigmoid"], text=[f"{v:.3f}" for v in p],
               textposition="outside"),
    ])
    fig.update_layout(
        **_LAYOUT, title=dict(text=f"T = {temperature:g}: logits "
                              f"{', '.join(f'{v:g}' for v in logits)}"),
        yaxis=dict(title="probability", range=[0, 1.1]))
    return fig
