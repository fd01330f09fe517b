"""Figures of the digits chapter (book/digits.md).

Images are drawn as small plotly heatmaps with values rounded to two
decimals (page size); every image keeps its aspect ratio and has row 0 at
the top, as the digit was written.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from calc_nn.plots._style import (
    NARROW_PX,
    PHONE_PX,
    cell_text,
    describe,
    frame,
    header,
    panel_fonts,
    two_panels,
    wrap,
)

__all__ = ["digit_grid", "learning_curves", "step_losses",
           "lr_vs_curvature", "confusion_matrix", "mistake", "image_grid",
           "MODEL_COLORS"]

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
                                        constrain="domain",
                                        constraintoward="top")


def image_grid(images, titles=None, cols=8, title="", zmid=None,
               colorscale="gray_r", height_per_row=110):
    """A grid of small heatmaps, each scaled to its own min..max (or
    symmetric around ``zmid``, with a diverging colour scale, for filters).

    Parameters
    ----------
    images : array_like, shape (n, H, W)
    titles : list of str, length n, optional
    cols : int
        Images per row on a wide screen (a phone shows fewer, larger).
    title : str
    zmid : float, optional
    colorscale : str
    height_per_row : int

    Returns
    -------
    plotly.graph_objects.Figure with n heatmaps, one per subplot.

    Raises
    ------
    ValueError
        ``images`` not of shape (n, H, W), or not finite.

    Used in: book/digits.md
    """
    images = _check_images(images)
    n = len(images)
    rows = -(-n // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles,
                        horizontal_spacing=0.01, vertical_spacing=0.06)
    for k, img in enumerate(images):
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
    narrow = _grid_layout(fig, title, n, cols, rows, height_per_row,
                          titles is not None)
    blank = sum(not np.any(img) for img in images)
    H, W = images.shape[1:]
    text = (f"{title + ': ' if title else ''}{n} images of {H}×{W} "
            f"pixels, values from {images.min():.2g} to "
            f"{images.max():.2g}")
    if titles is not None:
        text += " (" + ", ".join(map(str, titles)) + ")"
    if blank:
        text += f"; {blank} of them are blank (all 0)"
    return describe(fig, text + ".", narrow={"layout": narrow})


def _grid_layout(fig, title, n, cols, rows, height_per_row, titled):
    """Panels in a grid of ``cols`` columns, titles wrapped to their
    panels, rows ``height_per_row`` px apart; the narrow layout reflows the
    images into as many columns as a phone holds at 70 px each."""
    size = 11
    texts = [a.text for a in fig.layout.annotations]
    for note in fig.layout.annotations:
        note.font.size = size
    wide_cols, n_cols = cols, max(1, min(cols, (PHONE_PX - 20) // 70))
    grids = {}
    for key, k, width in (("wide", wide_cols, NARROW_PX),
                          ("narrow", n_cols, PHONE_PX)):
        wrapped = [wrap(t, (width - 20) / k - 6, size) for t in texts]
        lines = max((t.count("<br>") + 1 for t in wrapped), default=0)
        title_px = 6 + 15 * lines
        panel = (height_per_row - 16 if key == "wide" else
                 (PHONE_PX - 20) / k)
        grids[key] = (k, wrapped, lines, title_px, panel)
    heights = {key: int(-(-n // k) * (panel + title_px) - title_px)
               for key, (k, _, _, title_px, panel) in grids.items()}
    margin = dict(l=10, r=10, b=10)
    top = {key: header(title, width=key, height=1000, margin=margin,
                       panel_titles=grids[key][2])["margin"]["t"]
           for key in grids}
    narrow = frame(fig, title, height=top["wide"] + heights["wide"] + 10,
                   margin=margin, legend=(), panel_titles=grids["wide"][2],
                   narrow_height=top["narrow"] + heights["narrow"] + 10,
                   narrow_panel_titles=grids["narrow"][2])
    fig.plotly_relayout(_grid_domains(n, rows * cols, *grids["wide"],
                                      heights["wide"]))
    return {**narrow, **_grid_domains(n, rows * cols, *grids["narrow"],
                                      heights["narrow"])}


def _grid_domains(n, n_axes, cols, titles, lines, title_px, panel, plot):
    """Relayout placing image ``k`` at row ``k // cols``, column
    ``k % cols`` of a plot area ``plot`` px tall, its title above it (the
    unused axes of the grid share the last image's place)."""
    out = {}
    for k in range(n_axes):
        r, c = divmod(min(k, n - 1), cols)
        suffix = "" if k == 0 else str(k + 1)
        y1 = 1 - r * (panel + title_px) / plot
        out[f"xaxis{suffix}.domain"] = [round(c / cols, 4),
                                        round((c + 1) / cols - 0.01, 4)]
        out[f"yaxis{suffix}.domain"] = [round(max(y1 - panel / plot, 0), 4),
                                        round(y1, 4)]
        if k < len(titles):
            out[f"annotations[{k}].x"] = round((c + 0.495) / cols, 4)
            out[f"annotations[{k}].y"] = round(y1, 4)
            out[f"annotations[{k}].text"] = titles[k]
    return out


def digit_grid(images, labels, n=16, cols=8):
    """The first ``n`` digits with their labels as titles.

    Used in: book/digits.md
    """
    images = _check_images(images)[:n]
    fig = image_grid(images, [f"label {int(v)}" for v in labels[:n]],
                     cols=cols, title=f"The first {len(images)} training "
                     "digits (pixel values in [0, 1])")
    shown = ", ".join(str(int(v)) for v in labels[:n])
    return describe(fig, f"The first {len(images)} training digits, "
                         f"28×28 grey images, labelled {shown}.",
                    narrow=fig.layout.meta["narrow"])


def learning_curves(histories: dict, title: str | None = None,
                    right: str = "val_accuracy") -> go.Figure:
    """Loss and validation scores per epoch, one colour per run.

    With ``right="val_accuracy"``: left, the training loss (solid; the
    mean over the epoch's batches) and, where the history has one, the
    validation loss after the epoch (dashed); right, the validation
    accuracy. With ``right="val_loss"``: left, the training loss; right,
    the validation loss on its own scale. A diamond marks the lowest
    validation loss of each run.

    Parameters
    ----------
    histories : dict name -> history
        Histories as returned by :func:`calc_nn.train.fit_calc_nn` /
        :func:`calc_nn.train.fit_torch` (lists ``epoch``, ``loss``,
        ``val_accuracy``, and ``val_loss`` for ``right="val_loss"``).
    title : str, optional
    right : {"val_accuracy", "val_loss"}

    Raises
    ------
    ValueError
        No history, an unknown ``right``, a missing ``val_loss``, or a
        loss or accuracy that is not finite (diverged).

    Used in: book/digits.md
    """
    _check_curves(histories, right)
    panels = {"val_accuracy": ("loss: training —, validation - -",
                               "validation accuracy"),
              "val_loss": ("training loss", "validation loss")}[right]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=panels)
    val_col = 2 if right == "val_loss" else 1
    runs = []
    for k, (name, h) in enumerate(histories.items()):
        color = MODEL_COLORS[k % len(MODEL_COLORS)]
        values = {key: _finite(name, key, h[key]) for key in
                  ("loss", "val_loss", "val_accuracy") if key in h}
        lines = [(1, "loss", "solid"), (val_col, "val_loss", "dash"),
                 (2, "val_accuracy", "solid")]
        for col, key, dash in lines:
            if key not in values or (key == "val_accuracy"
                                     and right == "val_loss"):
                continue
            fig.add_trace(go.Scatter(
                x=h["epoch"], y=np.round(values[key], 4),
                mode="lines+markers", name=name, legendgroup=name,
                showlegend=key == "loss", marker=dict(size=5),
                line=dict(color=color, dash=dash)), row=1, col=col)
        text = (f"{name}: training loss {values['loss'][0]:.3g} to "
                f"{values['loss'][-1]:.3g}")
        if "val_loss" in values:
            best = int(np.argmin(values["val_loss"]))
            fig.add_trace(go.Scatter(
                x=[h["epoch"][best]], y=[round(values["val_loss"][best], 4)],
                mode="markers", legendgroup=name, showlegend=False,
                marker=dict(color=color, size=11, symbol="diamond"),
                hovertemplate="lowest validation loss %{y} at epoch "
                              "%{x}<extra></extra>"), row=1, col=val_col)
            text += (f", validation loss {values['val_loss'][0]:.3g} to "
                     f"{values['val_loss'][-1]:.3g}, lowest "
                     f"({values['val_loss'][best]:.3g}) after epoch "
                     f"{h['epoch'][best]}")
        runs.append(text + f", validation accuracy "
                           f"{values['val_accuracy'][0]:.1%} to "
                           f"{values['val_accuracy'][-1]:.1%}")
    fig.update_xaxes(title="epoch")
    fig.update_yaxes(title="cross-entropy", row=1, col=1)
    if right == "val_loss":
        fig.update_yaxes(title="cross-entropy", row=1, col=2)
    else:
        fig.update_yaxes(title="accuracy", tickformat=".0%", row=1, col=2)
    epochs = max(len(h["epoch"]) for h in histories.values())
    narrow = two_panels(fig, title or f"Training of {len(histories)} "
                                      f"models for {epochs} epochs",
                        height=450)
    shown = ("Loss (left: training solid, validation dashed) and "
             "validation accuracy (right)" if right == "val_accuracy" else
             "Training loss (left) and validation loss (right, diamonds at "
             "the lowest)")
    return describe(
        fig, f"{shown} per epoch of {len(histories)} "
             f"run{'s' if len(histories) > 1 else ''}: " + "; ".join(runs)
             + ".",
        narrow={"layout": narrow})


def _check_curves(histories, right):
    if not histories:
        raise ValueError("histories must not be empty")
    if right not in ("val_accuracy", "val_loss"):
        raise ValueError(f"right must be 'val_accuracy' or 'val_loss', got "
                         f"{right!r}")
    missing = [name for name, h in histories.items() if "val_loss" not in h]
    if right == "val_loss" and missing:
        raise ValueError(f"right='val_loss' needs a val_loss in every "
                         f"history; {missing[0]!r} has none")


def step_losses(runs: dict, title: str = "Training loss per step"
                ) -> go.Figure:
    """The training loss of every step (the batch's loss before the step)
    of several runs, on one axis.

    Parameters
    ----------
    runs : dict name -> sequence of float
        Per-step losses, e.g. a history's ``step_loss``.
    title : str

    Raises
    ------
    ValueError
        No run, or a loss that is not finite.

    Used in: book/digits.md
    """
    if not runs:
        raise ValueError("runs must not be empty")
    fig = go.Figure()
    texts = []
    for k, (name, values) in enumerate(runs.items()):
        values = _finite(name, "loss", values)
        fig.add_trace(go.Scatter(
            x=np.arange(1, len(values) + 1), y=np.round(values, 5),
            mode="lines", name=name,
            line=dict(color=MODEL_COLORS[k % len(MODEL_COLORS)],
                      width=3 if k == 0 else 1.5,
                      dash="solid" if k == 0 else "dot")))
        texts.append(f"{name}: {len(values)} steps, from {values[0]:.3g} "
                     f"to {values[-1]:.3g}")
    fig.update_xaxes(title="step")
    fig.update_yaxes(title="cross-entropy of the batch")
    narrow = frame(fig, title, height=380)
    first, second = (list(runs.values()) + [None])[:2]
    text = f"{title}: " + "; ".join(texts)
    if second is not None and len(first) == len(second):
        gap = float(np.max(np.abs(np.subtract(first, second))))
        text += (f". The largest difference between the first two runs is "
                 f"{gap:.2g}")
    return describe(fig, text + ".", narrow={"layout": narrow})


def lr_vs_curvature(losses_by_ratio: dict, ratio: float,
                    lam: float) -> go.Figure:
    r"""Full-batch gradient descent on one minibatch with
    :math:`\eta = r \cdot 2/\lambda_{\max}`: the loss at every step
    for the chosen ratio ``r``, beside the run of the smallest ratio.

    Parameters
    ----------
    losses_by_ratio : dict float -> sequence of float
        The per-step losses of each run, keyed by :math:`r`.
    ratio : float
        A key of ``losses_by_ratio``.
    lam : float, > 0
        :math:`\lambda_{\max}`, the Hessian's largest eigenvalue at the
        start.

    Raises
    ------
    ValueError
        ``ratio`` not a key, a loss that is not finite, ``lam`` <= 0.

    Used in: book/digits.md
    """
    if ratio not in losses_by_ratio or not lam > 0:
        raise ValueError(f"ratio must be one of {sorted(losses_by_ratio)} "
                         f"and lam > 0, got {ratio!r} and {lam!r}")
    low = min(losses_by_ratio)
    fig = go.Figure()
    for r, color, width in ((low, "#7f7f7f", 1.5), (ratio, "#d62728", 3)):
        values = _finite(f"ratio {r:g}", "loss", losses_by_ratio[r])
        fig.add_trace(go.Scatter(
            x=np.arange(len(values)), y=np.round(values, 4),
            mode="lines+markers", marker=dict(size=5),
            name=f"η = {r:g} × 2/λₘₐₓ = {r * 2 / lam:.3g}",
            line=dict(color=color, width=width)))
    values = np.asarray(losses_by_ratio[ratio], dtype=float)
    rises = int(np.sum(np.diff(values) > 0))
    fig.update_xaxes(title="step of gradient descent")
    fig.update_yaxes(title="cross-entropy of the minibatch",
                     rangemode="tozero")
    eta = ratio * 2 / lam
    title = (f"η = {ratio:g} × 2/λₘₐₓ = {eta:.3g}: the loss rises at "
             f"{rises} of {len(values) - 1} steps")
    narrow = frame(fig, title, height=420)
    return describe(
        fig, f"Gradient descent on one minibatch, λₘₐₓ = {lam:.3g} at the "
             f"start, so 2/λₘₐₓ = {2 / lam:.3g}. With η = {ratio:g} × "
             f"2/λₘₐₓ = {eta:.3g} the loss goes from {values[0]:.3g} to "
             f"{values[-1]:.3g} in {len(values) - 1} steps and rises at "
             f"{rises} of them (grey: η = {low:g} × 2/λₘₐₓ, from "
             f"{losses_by_ratio[low][0]:.3g} to "
             f"{losses_by_ratio[low][-1]:.3g}).",
        narrow={"layout": narrow})


def _finite(name, key, values):
    values = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name}: {key} is not finite (diverged)")
    return values


def confusion_matrix(y_true, y_pred, title="Confusion matrix") -> go.Figure:
    """Counts of (true label, predicted label), as a 10 x 10 heatmap.

    Parameters
    ----------
    y_true, y_pred : array_like of int, shape (N,), values 0..9

    Raises
    ------
    ValueError
        ``y_true`` and ``y_pred`` of different shapes, or not 1-D.

    Used in: book/digits.md
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
    margin = dict(l=60, r=20, b=20)
    narrow = frame(fig, f"{title}: accuracy {acc:.2%} on {counts.sum()} "
                        "digits<br>(diagonal = correct, not coloured)",
                   height=560, margin=margin, narrow_margin=dict(l=44),
                   narrow_height=480)
    # the axis titles and tick labels sit above the cells (side="top")
    fig.update_layout(margin_t=fig.layout.margin.t + 50)
    narrow["margin.t"] += 50
    cell = (PHONE_PX - 44 - 20) / 10
    errors = counts - np.diag(np.diag(counts))
    worst = np.unravel_index(np.argmax(errors), errors.shape)
    per_class = np.diag(counts) / np.maximum(counts.sum(axis=1), 1)
    text = (f"{title}: counts of true label (rows) against predicted "
            f"label (columns) for {counts.sum()} digits; accuracy "
            f"{acc:.2%}.")
    if errors.any():
        text += (f" The most frequent mistake is a {worst[0]} read as "
                 f"{worst[1]} ({errors[worst]} times); the lowest accuracy "
                 f"is on {int(np.argmin(per_class))} "
                 f"({per_class.min():.1%}).")
    return describe(fig, text, narrow={
        "layout": narrow,
        "traces": {"0": cell_text(cell, np.ravel(counts))}})


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

    Raises
    ------
    ValueError
        ``image`` not 2-D or ``probs`` not of shape (10,).

    Used in: book/digits.md
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
    shares = [f"{p:.0%}" for p in probs]
    fig.add_trace(go.Heatmap(
        z=np.round(probs, 4)[None, :], x=list(range(10)), text=[shares],
        texttemplate="%{text}", colorscale="Blues", zmin=0, zmax=1,
        showscale=False,
        hovertemplate="class %{x}: %{z:.2%}<extra></extra>"), row=2, col=1)
    fig.layout.xaxis.update(visible=False, constrain="domain")
    fig.layout.yaxis.update(visible=False, autorange="reversed",
                            scaleanchor="x", constrain="domain")
    fig.update_xaxes(dtick=1, row=2, col=1)
    fig.update_yaxes(visible=False, row=2, col=1)
    fonts = panel_fonts(fig, 1)
    narrow = frame(fig, f"Mistake #{rank + 1}: a {int(label)} read as "
                        f"{pred} (probability {probs[pred]:.1%})",
                   height=470, margin=dict(l=20, r=20, b=30))
    return describe(
        fig, f"Mistake #{rank + 1}: a handwritten {int(label)} that the "
             f"network reads as {pred}, with probability "
             f"{probs[pred]:.1%}; the true class gets {probs[int(label)]:.1%}"
             ". Probabilities of the classes 0 to 9: "
             + ", ".join(shares) + ".",
        narrow={"layout": {**narrow, **fonts},
                "traces": {"1": cell_text((PHONE_PX - 40) / 10, shares)}})


def _check_images(images, name="images"):
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"{name} must have shape (n, H, W), got "
                         f"{images.shape}")
    if not np.all(np.isfinite(images)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return images
