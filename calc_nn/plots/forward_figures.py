"""Figures of the chapter "Neural networks and forward propagation"."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from calc_nn import activations
from calc_nn.mlp import MLP
from calc_nn.plots._style import LABELS, describe, frame, superscript

__all__ = ["network_activations", "NETWORK_SIZES"]

NETWORK_SIZES = (2, 4, 3, 2)
_POS, _NEG = "#2c7fb8", "#e6550d"
# the activation as the chapter writes it in a formula, a = σ(z)
_SYMBOLS = {"sigmoid": "σ", "tanh": "tanh", "relu": "ReLU",
            "leaky_relu": "Leaky ReLU"}


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

    Used in: book/forward.md
    """
    if sizes[0] != 2:
        raise ValueError(f"the drawing needs 2 inputs, got sizes {sizes}")
    model = MLP(list(sizes), activation, seed=seed)
    logits, cache = model.forward(np.array([x1, x2], float))
    values = np.concatenate([a[0] for a in cache.activations])
    probs = activations.softmax(logits)
    traces = _edges(model, sizes) + [_nodes(values, probs, sizes, x1, x2)]
    fig = go.Figure(traces)
    # the layers' letters of the chapter: a¹ = f(z¹), ..., logits zᴰ
    sup = [superscript(l) for l in range(len(sizes))]
    names = (["input x"] + [
        f"hidden {l}: a{sup[l]} = {_SYMBOLS[activation]}(z{sup[l]})"
        for l in range(1, len(sizes) - 1)]
        + [f"output: logits z{sup[-1]}"])
    pred = int(np.argmax(probs)) + 1  # classes count from 1, as in the text
    narrow = frame(fig, f"input ({x1:g}, {x2:g}): predicted class {pred} "
                        f"with p = {probs.max():.2f}", height=440,
                   margin=dict(l=20, r=20, b=30),
                   legend=["weight > 0", "weight < 0"])
    fig.update_layout(
        xaxis=dict(range=[-0.55, len(sizes) - 0.4], showgrid=False,
                   zeroline=False, tickvals=list(range(len(sizes))),
                   ticktext=[n.replace(": ", "<br>") for n in names]),
        yaxis=dict(range=[-0.7, max(sizes) - 0.3], visible=False))
    # a phone: short layer names, room for the labels, no colour bar (the
    # values are written beside the circles)
    narrow.update({"xaxis.range": [-1.2, len(sizes) + 0.25],
                   "xaxis.ticktext": ["input"] + [
                       f"layer {l}" for l in range(1, len(sizes) - 1)]
                   + ["output"], "xaxis.tickangle": 0})
    starts = np.cumsum([0, *sizes])
    layers = "; ".join(
        f"hidden layer {l}: " + ", ".join(
            f"{v:.2f}" for v in values[starts[l]:starts[l + 1]])
        for l in range(1, len(sizes) - 1))
    return describe(
        fig, f"A network with layers of {', '.join(map(str, sizes))} "
             f"neurons ({LABELS[activation]}) for the input ({x1:g}, "
             f"{x2:g}): {layers}; logits "
             + ", ".join(f"{v:.2f}" for v in logits)
             + ", softmax probabilities "
             + ", ".join(f"{p:.2f}" for p in probs)
             + f": predicted class {pred}. Blue lines are positive weights,"
             " orange negative, thicker for larger ones.",
        narrow={"layout": narrow,
                "traces": {str(len(traces) - 1): {
                    "marker.showscale": False, "textfont.size": 11}}})


def _edges(model, sizes) -> list:
    """Six line traces: weights by sign and by size (a third of the largest
    each)."""
    px, py = _node_positions(sizes)
    starts = np.cumsum([0, *sizes])
    wmax = max(np.abs(W).max() for W in model.weights)
    traces = []
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
    return traces


def _nodes(values, probs, sizes, x1, x2) -> go.Scatter:
    """The neurons: circles coloured and sized by value, with their text."""
    px, py = _node_positions(sizes)
    starts = np.cumsum([0, *sizes])
    text = [f"{v:.2f}" for v in values]
    for j, p in enumerate(probs):
        i = starts[-2] + j
        text[i] = f"z={values[i]:.2f}<br>p={p:.2f}"
    text[0], text[1] = f"x₁={x1:g}", f"x₂={x2:g}"
    return go.Scatter(
        x=px, y=py, mode="markers+text", text=text,
        textposition=["middle left"] * sizes[0]
        + ["middle right"] * (len(px) - sizes[0]), textfont=dict(size=12),
        hoverinfo="text", showlegend=False, cliponaxis=False,
        marker=dict(size=18 + 12 * np.minimum(np.abs(values), 2.0),
                    color=values, colorscale="RdBu", cmin=-2,
                    cmax=2, line=dict(color="black", width=1),
                    colorbar=dict(title=dict(text="value", side="right"),
                                  thickness=12, len=0.7, y=0.4)))
