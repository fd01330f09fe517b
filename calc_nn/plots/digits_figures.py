"""Figures of the digits chapter (book/digits.md).

Images are drawn as small plotly heatmaps with values rounded to two
decimals (page size); every image keeps its aspect ratio and has row 0 at
the top, as the digit was written.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from calc_nn.plots._style import LAYOUT

__all__ = ["digit_grid", "learning_curves", "confusion_matrix", "mistake",
           "image_grid", "MODEL_COLORS"]

MODEL_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                "#8c564b"]


def _image_axes(fig, n):
    """Hide ticks, put row 0 on top and keep square pixels in subplots
    1..n."""
    for i in range(1, n + 1):
        sx = "" if i == 1 else str(i)
        fig.layout[f"xaxis{sx}"].update(visible=False, constrain="domain")
        fig.layout[f"yaxis{sx}"].update(visible=False, autorange="reversed",
                                        scaleanchor=f"x{sx}",
                                        constrain="domain")


def _check_images(images, name="images"):
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"{name} must have shape (n, H, W), got "
                         f"{images.shape}")
    if not np.all(np.isfinite(images)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return images


def image_grid(images, titles=None, cols=8, title="", zmid=None,
               colorscale="gray_r", height_per_row=110):
    """A grid of small heatmaps.

    Parameters
    ----------
    images : array_like, shape (n, H, W)
    titles : list of str, length n, optional
    cols : int
    title : str
    zmid : float, optional
        If given, a diverging colour scale centred there (for filters).
    colorscale : str
    height_per_row : int

    Returns
    -------
    plotly.graph_objects.Figure with n heatmaps (one per subplot), each
    scaled to its own min..max (or symmetric around ``zmid``).
    """
    images = _check_images(images)
    n = len(images)
    rows = -(-n // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles,
                        horizontal_spacing=0.01, vertical_spacing=0.06)
    for k, img in enumerate(images):
        extra = {}
        if zmid is not None:
            m = float(np.max(np.abs(img))) or 1.0
            extra = dict(zmin=zmid - m, zmax=zmid + m, colorscale="RdBu_r")
        else:
            lo = min(float(img.min()), 0.0)
            hi = max(float(img.max()), lo + 1e-6)  # an all-zero map: blank
            extra = dict(colorscale=colorscale, zmin=lo, zmax=hi)
        fig.add_trace(go.Heatmap(z=np.round(img, 2), showscale=False,
                                 hovertemplate="row %{y}, col %{x}: "
                                 "%{z}<extra></extra>", **extra),
                      row=k // cols + 1, col=k % cols + 1)
    _image_axes(fig, rows * cols)
    fig.update_layout(**{**LAYOUT, "height": 70 + height_per_row * rows,
                         "margin": dict(l=10, r=10, t=70, b=10)},
                      title=title)
    fig.update_annotations(font_size=11)
    return fig


def digit_grid(images, labels, n=16, cols=8):
    """The first ``n`` digits with their labels as titles."""
    images = _check_images(images)[:n]
    return image_grid(images, [f"label {int(v)}" for v in labels[:n]],
                      cols=cols, title=f"The first {len(images)} training "
                      "digits (pixel values in [0, 1])")


def learning_curves(histories: dict) -> go.Figure:
    """Training loss and validation accuracy per epoch, one colour per run.

    Parameters
    ----------
    histories : dict name -> history
        Histories as returned by :func:`calc_nn.train.fit_calc_nn` /
        :func:`calc_nn.train.fit_torch` (lists ``epoch``, ``loss``,
        ``val_accuracy``).
    """
    if not histories:
        raise ValueError("histories must not be empty")
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=("training loss (cross-entropy)",
                                        "validation accuracy"))
    for k, (name, h) in enumerate(histories.items()):
        color = MODEL_COLORS[k % len(MODEL_COLORS)]
        for col, key in ((1, "loss"), (2, "val_accuracy")):
            values = np.asarray(h[key], dtype=float)
            if not np.all(np.isfinite(values)):
                raise ValueError(f"{name}: {key} is not finite (diverged)")
            fig.add_trace(go.Scatter(
                x=h["epoch"], y=np.round(values, 4), mode="lines+markers",
                name=name, legendgroup=name, showlegend=col == 1,
                line=dict(color=color)), row=1, col=col)
    fig.update_xaxes(title="epoch", dtick=1)
    fig.update_yaxes(title="loss", row=1, col=1)
    fig.update_yaxes(title="accuracy", tickformat=".0%", row=1, col=2)
    fig.update_layout(**{**LAYOUT, "height": 450,
                         "margin": dict(l=60, r=20, t=110, b=50),
                         "legend": dict(orientation="h", y=1.18,
                                        yanchor="bottom", x=0)})
    return fig


def confusion_matrix(y_true, y_pred, title="Confusion matrix") -> go.Figure:
    """Counts of (true label, predicted label), as a 10 x 10 heatmap.

    Parameters
    ----------
    y_true, y_pred : array_like of int, shape (N,), values 0..9
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and y_pred must have the same shape (N,),"
                         f" got {y_true.shape} and {y_pred.shape}")
    counts = np.zeros((10, 10), dtype=int)
    np.add.at(counts, (y_true, y_pred), 1)
    # colour the mistakes only: the diagonal would swamp the scale
    shown = counts.astype(float)
    shown[np.diag_indices(10)] = np.nan
    fig = go.Figure(go.Heatmap(
        z=shown, x=list(range(10)), y=list(range(10)), text=counts,
        texttemplate="%{text}", colorscale="Reds", showscale=False,
        hovertemplate="true %{y}, predicted %{x}: %{text}<extra></extra>"))
    fig.update_xaxes(title="predicted label", dtick=1, side="top",
                     range=[-0.5, 9.5], constrain="domain")
    fig.update_yaxes(title="true label", dtick=1, range=[9.5, -0.5],
                     scaleanchor="x", constrain="domain")
    acc = np.trace(counts) / max(counts.sum(), 1)
    fig.update_layout(**{**LAYOUT, "height": 560, "width": 560,
                         "margin": dict(l=60, r=20, t=150, b=20)},
                      title=f"{title}: accuracy {acc:.2%} on "
                      f"{counts.sum()} digits<br>(diagonal = correct, "
                      "not coloured)")
    return fig


def mistake(image, label: int, probs, rank: int) -> go.Figure:
    """One misclassified digit and the network's ten probabilities.

    Parameters
    ----------
    image : array_like, shape (28, 28)
    label : int
        The true label.
    probs : array_like, shape (10,)
        softmax of the logits.
    rank : int
        Position in the list of mistakes (0 = most confident), for the
        title.
    """
    image, probs = np.asarray(image), np.asarray(probs, dtype=float)
    if image.ndim != 2 or probs.shape != (10,):
        raise ValueError(f"image must be (H, W) and probs (10,), got "
                         f"{image.shape} and {probs.shape}")
    pred = int(np.argmax(probs))
    fig = make_subplots(rows=2, cols=1, row_heights=[0.8, 0.2],
                        vertical_spacing=0.12,
                        subplot_titles=("", "softmax probabilities of the "
                                        "classes 0-9"))
    fig.add_trace(go.Heatmap(z=np.round(image, 2), colorscale="gray_r",
                             zmin=0, zmax=1, showscale=False,
                             text=np.full(image.shape, ""),
                             hovertemplate="%{z}<extra></extra>"),
                  row=1, col=1)
    # a one-row heatmap (same trace type as the digit, so one explore call
    # can update both with the keys "z" and "text")
    fig.add_trace(go.Heatmap(
        z=np.round(probs, 4)[None, :], x=list(range(10)),
        text=[[f"{p:.0%}" for p in probs]], texttemplate="%{text}",
        colorscale="Blues", zmin=0, zmax=1, showscale=False,
        hovertemplate="class %{x}: %{z:.2%}<extra></extra>"), row=2, col=1)
    fig.layout.xaxis.update(visible=False, constrain="domain")
    fig.layout.yaxis.update(visible=False, autorange="reversed",
                            scaleanchor="x", constrain="domain")
    fig.update_xaxes(dtick=1, row=2, col=1)
    fig.update_yaxes(visible=False, row=2, col=1)
    fig.update_layout(**{**LAYOUT, "height": 470, "width": 520,
                         "margin": dict(l=20, r=20, t=70, b=30)},
                      title=f"Mistake #{rank + 1}: a {int(label)} read as "
                      f"{pred} (probability {probs[pred]:.1%})")
    return fig
