"""Figures of the chapter "Making deep networks trainable".

The numbers come from :func:`calc_nn.symbolic.deep_formulas.depth_study`
(cached, so the explorer and the prose share one computation). Every figure
carries a text alternative computed from the numbers it plots and a layout
that stacks its panels on a narrow screen.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from calc_nn.plots._style import COLORS, describe, two_panels
from calc_nn.symbolic import deep_formulas as deep

__all__ = ["INIT_LABELS", "ARCH_LABELS", "depth_explorer", "clipping_runs",
           "verdict"]

#: Button labels of the initialisations and architectures.
INIT_LABELS = {"pytorch": "PyTorch default", "xavier": "Xavier",
               "he": "He"}
ARCH_LABELS = {"plain": "plain", "batchnorm": "BN",
               "residual": "residual", "residual_batchnorm":
               "residual + BN"}
_NAMES = {"plain": "plain", "batchnorm": "batch-normalised",
          "residual": "residual", "residual_batchnorm":
          "residual, batch-normalised"}
_CHANCE = math.log(4)       # the loss of a uniform guess over 4 classes
_TRACES = {"grad": ("‖∂L/∂Wˡ‖", COLORS["sigmoid"], "solid"),
           "delta": ("‖Δˡ‖ = ‖∂L/∂Zˡ‖", COLORS["tanh"], "dash"),
           "std": ("std of zˡ", COLORS["relu"], "dot")}


def verdict(ratio: float, middle: str = "steady") -> str:
    """The word for a first-to-last ratio of error norms: "vanishing"
    below 1/100, "shrinking" below 1/2, ``middle`` up to 2 ("steady"; the
    backprop chapter says "level" of its gradient norms), "growing" up to
    100, "exploding" beyond.

    Used in: book/deep.md
    """
    if not math.isfinite(ratio):
        return "not finite"
    if ratio < 1e-2:
        return "vanishing"
    if ratio < 0.5:
        return "shrinking"
    if ratio <= 2:
        return middle
    return "growing" if ratio <= 100 else "exploding"


def _ratio_text(study) -> tuple[float, float, str]:
    g, d = study.grad_norms, study.delta_norms
    ratio_w = float(g[0] / g[-1])
    ratio_d = float(d[0] / d[-1]) if len(d) > 1 else 1.0
    return ratio_w, ratio_d, verdict(ratio_d)


def depth_explorer(depth: int, init: str, arch: str) -> go.Figure:
    """Left: per layer, at initialisation, the norm of the weight gradient,
    of the batch's error Δˡ and the spread of zˡ (log scale). Right: the
    loss over 30 steps of gradient descent. For a network of ``depth``
    layers with weights, drawn with ``init``, of architecture ``arch``.

    Used in: book/deep.md
    """
    study = deep.depth_study(depth, arch, init)
    layers_w = np.arange(1, depth + 1)
    layers_h = np.arange(1, depth)
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.14,
                        column_widths=[0.55, 0.45],
                        subplot_titles=("per layer, at initialisation",
                                        "loss during training"))
    for key, x, y in (("grad", layers_w, study.grad_norms),
                      ("delta", layers_h, study.delta_norms),
                      ("std", layers_h, study.z_std)):
        name, color, dash = _TRACES[key]
        fig.add_trace(go.Scatter(
            x=x, y=np.maximum(y, 1e-300), name=name, mode="lines+markers",
            marker=dict(size=4), line=dict(color=color, dash=dash)), 1, 1)
    steps = np.arange(len(study.losses))
    fig.add_trace(go.Scatter(
        x=[0, steps[-1]], y=[_CHANCE, _CHANCE], mode="lines",
        name="chance (log 4)", showlegend=False, hoverinfo="skip",
        line=dict(color=COLORS["muted"], dash="dot", width=1.5)), 1, 2)
    fig.add_trace(go.Scatter(
        x=steps, y=study.losses, name="loss", mode="lines",
        showlegend=False, line=dict(color=COLORS["leaky_relu"], width=2.5)),
        1, 2)
    ratio_w, ratio_d, trend = _ratio_text(study)
    final = study.losses[-1]
    if study.diverged_at is None:
        outcome = f"loss {study.losses[0]:.3g} → {final:.3g}"
    else:
        outcome = f"diverged at step {study.diverged_at}"
    readout = (f"‖Δ¹‖ ÷ ‖Δᴰ⁻¹‖ = {ratio_d:.1e} ({trend})<br>"
               f"‖∂L/∂W¹‖ ÷ ‖∂L/∂Wᴰ‖ = {ratio_w:.1e}")
    fig.add_annotation(
        xref="x domain", yref="y domain", x=0.02, y=0.02, xanchor="left",
        yanchor="bottom", align="left", showarrow=False, text=readout,
        font=dict(size=11), bgcolor="rgba(255,255,255,0.85)")
    fig.update_yaxes(type="log", exponentformat="power", range=[-22, 10],
                     dtick=4, title_text="norm or std", row=1, col=1)
    fig.update_xaxes(title_text="layer l", range=[0.5, depth + 0.5],
                     row=1, col=1)
    # a loss above 100 leaves the panel (the title gives the first one)
    fig.update_yaxes(type="log", exponentformat="power", range=[-2.5, 2],
                     dtick=1, title_text="loss", row=1, col=2)
    fig.update_xaxes(title_text="step", range=[0, steps[-1]], row=1, col=2)
    title = (f"{ARCH_LABELS[arch]}, {INIT_LABELS[init]}, D = {depth}: "
             f"{outcome}")
    narrow = two_panels(fig, title, height=500, heights=(270, 190))
    text = (
        f"A {_NAMES[arch]} ReLU network of {depth} layers with "
        f"weights ({depth - 1} hidden layers of 32 neurons), initialised "
        f"with {INIT_LABELS[init]}. Left, log scale, at initialisation: "
        f"the norm of each layer's weight gradient, from "
        f"{study.grad_norms[0]:.1e} (layer 1) to {study.grad_norms[-1]:.1e}"
        f" (layer {depth}); the norm of the error Δ of each hidden layer, "
        f"from {study.delta_norms[0]:.1e} to {study.delta_norms[-1]:.1e}; "
        f"the standard deviation of z, from {study.z_std[0]:.1e} to "
        f"{study.z_std[-1]:.1e}. First hidden layer's error over the "
        f"last's: {ratio_d:.1e} ({trend}); first layer's weight gradient "
        f"over the last's: {ratio_w:.1e}. Right: the loss during "
        f"{len(steps) - 1} steps of gradient descent, "
        + (f"from {study.losses[0]:.3g} to {final:.3g} (chance: "
           f"{_CHANCE:.3g})." if study.diverged_at is None else
           f"which diverged at step {study.diverged_at}: the loss became "
           f"infinite or NaN."))
    return describe(fig, text, narrow={"layout": narrow})


#: The clipping thresholds :func:`clipping_runs` compares (None: none).
CLIP_CASES = ((None, "no clipping", COLORS["tanh"], "solid"),
              (10.0, "max_norm = 10", COLORS["derivative"], "dash"),
              (1.0, "max_norm = 1", COLORS["relu"], "solid"))


def clipping_runs(depth: int = 50, arch: str = "residual",
                  init: str = "pytorch", seed: int = 0) -> go.Figure:
    """Gradient descent on an exploding network, with and without clipping
    the gradient's global norm: the loss (left) and the norm of the
    gradient before clipping (right), per step, log scale.

    Used in: book/deep.md
    """
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.14,
                        subplot_titles=("loss", "‖g‖ before clipping"))
    notes, marks = [], []
    for max_norm, name, color, dash in CLIP_CASES:
        study = deep.depth_study(depth, arch, init, max_norm=max_norm,
                                 seed=seed)
        steps = np.arange(len(study.losses))
        for col, y in ((1, study.losses), (2, study.total_norms)):
            fig.add_trace(go.Scatter(
                x=steps, y=y, name=name, legendgroup=name, mode="lines",
                showlegend=col == 1, line=dict(color=color, dash=dash,
                                               width=2.5)), 1, col)
        if study.diverged_at is not None:
            marks.append(dict(
                xref="x domain", yref="y domain", x=0.98,
                y=0.98 - 0.1 * len(marks), xanchor="right", yanchor="top",
                showarrow=False, font=dict(size=11, color=color),
                text=f"{name}: diverged at step {study.diverged_at}",
                bgcolor="rgba(255,255,255,0.85)"))
        notes.append(
            f"{name}: diverged at step {study.diverged_at}"
            if study.diverged_at is not None else
            f"{name}: loss {study.losses[0]:.3g} → {study.losses[-1]:.3g}, "
            f"‖g‖ {study.total_norms[0]:.3g} → {study.total_norms[-1]:.3g}")
    for mark in marks:
        fig.add_annotation(mark)
    fig.update_yaxes(type="log", exponentformat="power", dtick=1)
    fig.update_yaxes(range=[-3, 2], row=1, col=1)
    fig.update_yaxes(range=[-1, 4], row=1, col=2)
    fig.update_xaxes(title_text="step")
    narrow = two_panels(fig, f"{ARCH_LABELS[arch]}, {INIT_LABELS[init]}, "
                             f"D = {depth}, η = 0.1", height=440,
                        heights=(220, 220))
    text = (f"Gradient descent (η = 0.1) on a {_NAMES[arch]} network of "
            f"{depth} layers initialised with {INIT_LABELS[init]}, without "
            f"clipping and with the gradient's global norm clipped at 10 "
            f"and at 1; left the loss, right the norm of the gradient "
            f"before clipping, log scales. " + "; ".join(notes) + ".")
    return describe(fig, text, narrow={"layout": narrow})
