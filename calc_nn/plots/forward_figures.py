"""Figures of the chapter "Neural networks and forward propagation"."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from calc_nn import activations
from calc_nn.mlp import MLP
from calc_nn.plots._style import LABELS
from calc_nn.plots._style import LAYOUT as _LAYOUT

__all__ = ["network_activations", "NETWORK_SIZES"]

NETWORK_SIZES = (2, 4, 3, 2)
_POS, _NEG = "#2c7fb8", "#e6550d"


def _node_positions(sizes):
    xs, ys = [], []
    top = max(sizes)
    for l, n in enumerate(sizes):
        xs += [l] * n
        ys += list(np.linspace(0, top - 1, n + 2)[1:-1][::-1]) if n < top \
            else list(np.arange(n)[::-1].astype(float))
    return np.array(xs, float), np.array(ys, float)


def network_activations(x1: float, x2: float, activation: str = "tanh",
                        sizes=NETWORK_SIZES, seed: int = 3) -> go.Figure:
    """A small network drawn as circles and lines, showing every value of a
    forward pass for the input ``(x1, x2)``.

    Circles are coloured and sized by their value (the activation
    ``a = f(z)`` in the hidden layers, the logit ``z`` in the last layer,
    which has no activation); lines by the sign of their weight (blue > 0,
    orange < 0), their width by its size. The output layer's text adds the
    softmax probabilities.
    """
    if sizes[0] != 2:
        raise ValueError(f"the drawing needs 2 inputs, got sizes {sizes}")
    model = MLP(list(sizes), activation, seed=seed)
    logits, cache = model.forward(np.array([x1, x2], float))
    values = np.concatenate([a[0] for a in cache.activations])
    px, py = _node_positions(sizes)
    starts = np.cumsum([0, *sizes])
    traces = []
    # edges, grouped by sign and by size of the weight
    wmax = max(np.abs(W).max() for W in model.weights)
    for sign, color in ((1, _POS), (-1, _NEG)):
        for lo, hi, width in ((0, 1 / 3, 1), (1 / 3, 2 / 3, 2.5),
                              (2 / 3, 1.01, 4.5)):
            ex, ey = [], []
            for l, W in enumerate(model.weights):
                for j in range(W.shape[0]):
                    for k in range(W.shape[1]):
                        r = abs(W[j, k]) / wmax
                        if np.sign(W[j, k]) == sign and lo <= r < hi:
                            a, b = starts[l] + k, starts[l + 1] + j
                            ex += [px[a], px[b], None]
                            ey += [py[a], py[b], None]
            traces.append(go.Scatter(
                x=ex, y=ey, mode="lines", hoverinfo="skip",
                showlegend=bool(width == 2.5),
                name="weight > 0" if sign > 0 else "weight < 0",
                line=dict(color=color, width=width), opacity=0.55))
    probs = activations.softmax(logits)
    text = [f"{v:.2f}" for v in values]
    for j, p in enumerate(probs):
        i = starts[-2] + j
        text[i] = f"z={values[i]:.2f}<br>p={p:.2f}"
    text[0], text[1] = f"x₁={x1:g}", f"x₂={x2:g}"
    traces.append(go.Scatter(
        x=px, y=py, mode="markers+text", text=text,
        textposition=["middle left"] * sizes[0]
        + ["middle right"] * (len(px) - sizes[0]), textfont=dict(size=12),
        hoverinfo="text", showlegend=False,
        marker=dict(size=18 + 12 * np.minimum(np.abs(values), 2.0),
                    color=values, colorscale="RdBu", cmin=-2,
                    cmax=2, line=dict(color="black", width=1),
                    colorbar=dict(title="value", thickness=12, len=0.8))))
    fig = go.Figure(traces)
    names = (["input x"] + [f"hidden {l}: a = {LABELS[activation]}(z)"
                            for l in range(1, len(sizes) - 1)]
             + ["output: logits z"])
    fig.update_layout(
        **{**_LAYOUT, "height": 440, "margin": dict(l=20, r=20, t=70,
                                                      b=30)},
        title=dict(text=f"input ({x1:g}, {x2:g}): predicted class "
                        f"{int(np.argmax(probs))} with p = "
                        f"{probs.max():.2f}"),
        xaxis=dict(range=[-0.55, len(sizes) - 0.4], showgrid=False,
                   zeroline=False, tickvals=list(range(len(sizes))),
                   ticktext=[n.replace(": ", "<br>") for n in names]),
        yaxis=dict(range=[-0.7, max(sizes) - 0.3], visible=False))
    return fig
