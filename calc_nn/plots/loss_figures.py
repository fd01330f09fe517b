"""Figures of the chapter "Loss functions"."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from calc_nn import activations, losses
from calc_nn.losses import (
    imbalanced_data,
    minority_scores,
    train_linear_classifier,
)
from calc_nn.plots._style import describe, frame, two_panels

__all__ = [
    "LOSS_COLORS",
    "loss_vs_probability",
    "sigmoid_mse_vs_ce",
    "class_imbalance",
]

LOSS_COLORS = {
    "ce": "#1f77b4",
    "focal": "#d62728",
    "mse": "#2ca02c",
    "majority": "#9ecae1",
    "minority": "#d62728",
}


def _focal_terms(p, gamma):
    """Focal loss and |d FL / d z_t| of a sample whose true class has
    probability ``p`` (via calc_nn.losses on two logits (log p, log(1-p)),
    whose softmax is (p, 1 - p))."""
    logits = np.stack([np.log(p), np.log1p(-p)], axis=1)
    target = np.zeros(len(p), dtype=int)
    value = losses.focal_loss(logits, target, gamma, reduction="none")
    grad = losses.focal_loss_grad(logits, target, gamma, reduction="none")
    return value, np.abs(grad[:, 0])


def _mse_terms(p):
    """Squared error ``(1 - p)^2`` of a sample whose true class has
    probability ``p`` and ``|d/dz_t|`` of it (``dp/dz_t = p (1 - p)``)."""
    return (1 - p) ** 2, 2 * (1 - p) * p * (1 - p)


def loss_vs_probability(gamma: float, n: int = 199) -> go.Figure:
    """Loss (top) and gradient magnitude on the true logit (bottom) against
    the predicted probability ``p_t`` of the true class, for cross-entropy,
    focal loss with focusing parameter ``gamma`` and the squared error
    ``(1 - p_t)^2``.

    Used in: book/losses.md
    """
    p = np.linspace(0.005, 0.995, n)
    ce, ce_grad = _focal_terms(p, 0.0)
    fl, fl_grad = _focal_terms(p, gamma)
    mse, mse_grad = _mse_terms(p)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True,
                        vertical_spacing=0.08)
    for row, (a, b, c) in enumerate([(ce, fl, mse),
                                     (ce_grad, fl_grad, mse_grad)], 1):
        first = row == 1
        fig.add_trace(go.Scatter(x=p, y=a, name="cross-entropy −log pₜ",
                                 legendgroup="ce", showlegend=first,
                                 line=dict(color=LOSS_COLORS["ce"],
                                           width=3)), row, 1)
        fig.add_trace(go.Scatter(x=p, y=b, name="focal loss",
                                 legendgroup="fl", showlegend=first,
                                 line=dict(color=LOSS_COLORS["focal"],
                                           width=3)), row, 1)
        fig.add_trace(go.Scatter(x=p, y=c, name="squared error (1 − pₜ)²",
                                 legendgroup="mse", showlegend=first,
                                 line=dict(color=LOSS_COLORS["mse"],
                                           dash="dash")), row, 1)
    (ce9,), (g_ce9,) = _focal_terms(np.array([0.9]), 0.0)
    (fl9,), (g_fl9,) = _focal_terms(np.array([0.9]), gamma)
    (mse9,), (g_mse9,) = _mse_terms(np.array([0.9]))
    top = int(np.argmax(fl_grad))
    fig.update_yaxes(title_text="loss", range=[0, 4], row=1, col=1)
    # the focal gradient overshoots 1 for small pₜ (1.31 at γ = 5): the
    # axis holds it for every γ of the chapter's slider
    fig.update_yaxes(title_text="|∂L/∂zₜ|", range=[0, 1.4], row=2, col=1)
    fig.update_xaxes(title_text="predicted probability of the true class pₜ",
                     range=[0, 1], row=2, col=1)
    narrow = frame(fig, f"γ = {gamma:g}: at pₜ = 0.9 the focal loss is "
                        f"{fl9 / ce9:.2g} × the cross-entropy", height=560)
    return describe(
        fig, "Loss (top) and its gradient on the true logit (bottom) "
             "against the predicted probability pₜ of the true class, for "
             f"cross-entropy, focal loss with γ = {gamma:g} (αₜ = 1) and "
             f"the squared error. At pₜ = 0.9 the losses are {ce9:.3g}, "
             f"{fl9:.3g} ({fl9 / ce9:.2g} × the cross-entropy) and "
             f"{mse9:.3g}, the gradients {g_ce9:.3g}, {g_fl9:.3g} and "
             f"{g_mse9:.3g}; at pₜ = {p[0]:g} the gradients "
             f"are {ce_grad[0]:.3g}, {fl_grad[0]:.3g} and "
             f"{mse_grad[0]:.3g}. The focal loss's gradient is largest, "
             f"{fl_grad[top]:.3g}, at pₜ = {p[top]:.2g}.",
        narrow={"layout": narrow})


def sigmoid_mse_vs_ce(z0: float, lr: float = 1.0,
                      steps: int = 60) -> go.Figure:
    """Why MSE on a sigmoid output learns slowly when badly wrong.

    Left: the gradient on the logit against the prediction ``p`` for the
    target ``y = 1``: ``2 (p - 1) p (1 - p)`` for MSE, ``p - 1`` for
    cross-entropy. Right: ``p`` during gradient descent on the logit
    alone, from ``z0``.

    Used in: book/losses.md
    """
    p = np.linspace(0.001, 0.999, 199)
    z = np.log(p) - np.log1p(-p)

    def mse_grad(v):  # chain rule: dL/dp * dp/dz, target y = 1
        return losses.mse_grad(activations.sigmoid(v), np.ones_like(v),
                               "sum") * activations.sigmoid_grad(v)

    def ce_grad(v):
        return losses.binary_cross_entropy_with_logits_grad(
            v, np.ones_like(v), "sum")

    g_mse = np.abs(mse_grad(z))
    g_ce = np.abs(ce_grad(z))
    p0 = float(activations.sigmoid(np.array([z0]))[0])
    start = [abs(mse_grad(np.array([z0]))[0]),
             abs(ce_grad(np.array([z0]))[0])]
    path_mse = losses.logit_descent(z0, "mse", lr, steps)
    path_ce = losses.logit_descent(z0, "bce", lr, steps)
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.14,
                        subplot_titles=("gradient on the logit, y = 1",
                                        "p during gradient descent"))
    fig.add_trace(go.Scatter(x=p, y=g_mse, name="MSE",
                             legendgroup="mse",
                             line=dict(color=LOSS_COLORS["mse"], width=3)),
                  1, 1)
    fig.add_trace(go.Scatter(x=p, y=g_ce, name="cross-entropy",
                             legendgroup="ce",
                             line=dict(color=LOSS_COLORS["ce"], width=3)),
                  1, 1)
    fig.add_trace(go.Scatter(
        x=[p0, p0], y=start, mode="markers", name="start", showlegend=False,
        marker=dict(size=11, color=[LOSS_COLORS["mse"], LOSS_COLORS["ce"]],
                    line=dict(color="black", width=1))), 1, 1)
    steps_axis = np.arange(steps + 1)
    fig.add_trace(go.Scatter(x=steps_axis, y=path_mse, showlegend=False,
                             legendgroup="mse",
                             line=dict(color=LOSS_COLORS["mse"], width=3)),
                  1, 2)
    fig.add_trace(go.Scatter(x=steps_axis, y=path_ce, showlegend=False,
                             legendgroup="ce",
                             line=dict(color=LOSS_COLORS["ce"], width=3)),
                  1, 2)
    fig.update_xaxes(title_text="prediction p = σ(z)", range=[0, 1],
                     row=1, col=1)
    fig.update_yaxes(title_text="|∂L/∂z|", range=[0, 1.05], row=1, col=1)
    fig.update_xaxes(title_text=f"step (η = {lr:g})", row=1, col=2)
    fig.update_yaxes(title_text="p", range=[0, 1.02], row=1, col=2)
    narrow = two_panels(fig, f"start z₀ = {z0:g} (p = {p0:.3g}); after "
                             f"{steps} steps MSE reaches p = "
                             f"{path_mse[-1]:.3g}, cross-entropy p = "
                             f"{path_ce[-1]:.3g}", height=430)
    top = int(np.argmax(g_mse))
    return describe(
        fig, "Left: the gradient on the logit against the prediction p for "
             f"the target 1: MSE's is at most {g_mse[top]:.3f} (at p = "
             f"{p[top]:.2f}) and vanishes as p goes to 0, cross-entropy's "
             f"is 1 − p. From z₀ = {z0:g} (p = {p0:.3g}) they are "
             f"{start[0]:.3g} and {start[1]:.3g}. Right: after {steps} "
             f"steps of gradient descent with η = {lr:g}, MSE reaches p = "
             f"{path_mse[-1]:.3g}, cross-entropy p = {path_ce[-1]:.3g}.",
        narrow={"layout": narrow})


# ------------------------------------------------------ class imbalance

def class_imbalance(weight: float, gamma: float) -> go.Figure:
    """The decision boundary of a linear classifier trained with minority
    class weight ``weight`` and focal parameter ``gamma`` on 1:20
    imbalanced data; recall and precision on a fresh test set (1:20 too)
    in the title.

    Used in: book/losses.md
    """
    X, y = imbalanced_data()
    W, b = train_linear_classifier(float(weight), float(gamma))
    pred = minority_scores(W, b, X, y)["predicted"]
    test = minority_scores(W, b, *imbalanced_data(n_majority=20000, seed=1))
    recall, precision, accuracy = (test["recall"], test["precision"],
                                   test["accuracy"])
    line_x, line_y = _boundary(W, b)
    missed = (y == 1) & (pred == 0)
    n_maj, n_min = int(np.sum(y == 0)), int(np.sum(y == 1))
    fig = go.Figure([
        go.Scatter(x=X[y == 0, 0], y=X[y == 0, 1], mode="markers",
                   name=f"majority ({n_maj})",
                   marker=dict(color=LOSS_COLORS["majority"], size=5)),
        go.Scatter(x=X[y == 1, 0], y=X[y == 1, 1], mode="markers",
                   name=f"minority ({n_min})",
                   marker=dict(color=LOSS_COLORS["minority"], size=9,
                               symbol="diamond")),
        go.Scatter(x=X[missed, 0], y=X[missed, 1], mode="markers",
                   name="minority missed",
                   marker=dict(color="rgba(0,0,0,0)", size=16,
                               line=dict(color="black", width=2))),
        go.Scatter(x=line_x, y=line_y, mode="lines",
                   name="decision boundary",
                   line=dict(color="black", width=3)),
    ])
    narrow = frame(fig, f"minority weight {weight:g}, γ = {gamma:g}: "
                        f"test recall {recall:.0%}, precision "
                        f"{precision:.0%}, accuracy {accuracy:.1%}",
                   height=520)
    fig.update_layout(
        xaxis=dict(title="x₁", range=[-3.5, 4.5]),
        yaxis=dict(title="x₂", range=[-3.5, 4.5], scaleanchor="x"))
    return describe(
        fig, f"A linear classifier trained on {n_maj} majority and {n_min} "
             f"minority points (1:{n_maj // n_min}) with minority weight "
             f"{weight:g} and γ = {gamma:g}: its decision boundary misses "
             f"{int(missed.sum())} of the {n_min} minority points. On a "
             f"fresh test set: recall {recall:.0%}, precision "
             f"{precision:.0%}, accuracy {accuracy:.1%}.",
        narrow={"layout": narrow})


def _boundary(W, b):
    """The line ``(w1 - w0) . x + (b1 - b0) = 0`` as two far-apart points
    (None, None when the weights cannot tell the classes apart)."""
    n_vec, c = W[1] - W[0], b[1] - b[0]
    norm = np.linalg.norm(n_vec)
    if norm < 1e-12:
        return [None, None], [None, None]
    base = -c * n_vec / norm ** 2
    along = np.array([-n_vec[1], n_vec[0]]) / norm
    ends = base + np.outer([-50.0, 50.0], along)
    return ends[:, 0], ends[:, 1]
