"""Figures of the chapter "Backpropagation"."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from calc_nn import autograd
from calc_nn.mlp import layer_statistics
from calc_nn.plots._style import (
    COLORS,
    LABELS,
    describe,
    frame,
    superscript,
    two_panels,
)
from calc_nn.plots.deep_figures import verdict

__all__ = [
    "computational_graph",
    "n_backward_steps",
    "cost_of_gradients",
    "gradient_norms_by_layer",
    "training_snapshot",
]

_DONE, _CURRENT, _PARTIAL, _TODO = "#2ca02c", "#ff7f0e", "#9ecae1", "#e0e0e0"


def _layout_graph(order):
    """x = longest path from an input, y spread within each column."""
    depth = {}
    for node in order:
        depth[id(node)] = 1 + max((depth[id(c)] for c in node.children),
                                  default=-1)
    # an input sits one column before its first user, not all in column 0
    users = {}
    for node in order:
        for c in node.children:
            users.setdefault(id(c), []).append(depth[id(node)])
    for node in order:
        if not node.children and id(node) in users:
            depth[id(node)] = min(users[id(node)]) - 1
    columns = {}
    for node in order:
        columns.setdefault(depth[id(node)], []).append(node)
    pos = {}
    for d, nodes in columns.items():
        n = len(nodes)
        for i, node in enumerate(nodes):
            pos[id(node)] = (d, (n - 1) / 2 - i)
    return pos


def n_backward_steps(build) -> int:
    """Number of nodes with inputs in the graph ``build()`` returns: the
    steps of :func:`computational_graph`'s slider are ``0 .. n``.

    Used in: book/backprop.md
    """
    return sum(1 for v in autograd.topological_order(build()) if v.children)


def _backward_until(build, step: int):
    """The graph of ``build()`` after ``step`` steps of the backward pass:
    ``(order, ops, processed ids, current node, ids with a gradient)``."""
    root = build()
    order = autograd.topological_order(root)
    ops = [v for v in reversed(order) if v.children]
    if not 0 <= step <= len(ops):
        raise ValueError(f"step must be in 0..{len(ops)}, got {step}")
    processed, current = set(), None
    # backward_steps yields a node after passing on its gradient; leaves
    # are yielded too (they pass nothing): count operation nodes only
    for node in (autograd.backward_steps(root) if step > 0 else ()):
        if node.children:
            processed.add(id(node))
            current = node
        if len(processed) == step:
            break
    if step == 0:
        for node in order:
            node.grad = 0.0
        root.grad = 1.0
    touched = {id(root)} | {id(c) for v in order if id(v) in processed
                            for c in v.children}
    return order, ops, processed, current, touched




def _op_text(op: str) -> str:
    """An operation as printed: a power "^2" as "(·)²" (plotly would print
    the caret as typed)."""
    return "(·)" + superscript(op[1:]) if op[:1] == "^" else op


def _node_name(v) -> str:
    op = _op_text(v.op)
    name = v.label or (op if v.children else f"{v.data:g}")
    return f"{v.label} = {op}" if v.label and v.children else name


def computational_graph(build, step: int) -> go.Figure:
    """The computational graph of ``build()``, after ``step`` steps of the
    backward pass.

    Parameters
    ----------
    build : callable () -> Value
        Builds the expression afresh (so each call starts from zero).
    step : int
        0 shows the forward values with only the output's gradient (1);
        step ``k`` has passed the gradients of the first ``k`` operation
        nodes, in reverse topological order, to their inputs.

    Each box shows a node, its value and its gradient; an edge its local
    derivative. Green: done; orange: the node of this step, whose thick
    edges carry ``local × grad``; blue: a gradient received; grey: none
    yet. Left to right on a wide screen, top to bottom on a phone.

    Used in: book/backprop.md
    """
    order, ops, processed, current, touched = _backward_until(build, step)
    pos = _layout_graph(order)
    wide = _graph_traces(order, pos, current)
    tall = _graph_traces(order, {k: (y, -x) for k, (x, y) in pos.items()},
                         current)
    xs, ys, text, colors = [], [], [], []
    for v in order:
        xs.append(pos[id(v)][0])
        ys.append(pos[id(v)][1])
        grad = f"{v.grad:.3g}" if id(v) in touched else "?"
        text.append(f"<b>{_node_name(v)}</b><br>{v.data:.3g}<br>"
                    f"grad {grad}")
        colors.append(_CURRENT if v is current else
                      _DONE if id(v) in processed else
                      _PARTIAL if id(v) in touched else _TODO)
    fig = go.Figure([
        go.Scatter(x=wide["ex"], y=wide["ey"], mode="lines",
                   hoverinfo="skip", line=dict(color="#999", width=1.5),
                   showlegend=False),
        go.Scatter(x=wide["ax"], y=wide["ay"], mode="lines",
                   hoverinfo="skip", line=dict(color=_CURRENT, width=5),
                   showlegend=False),
        go.Scatter(x=xs, y=ys, mode="markers+text", text=text,
                   textfont=dict(size=10), hoverinfo="text",
                   showlegend=False, cliponaxis=False,
                   marker=dict(symbol="square", size=58, color=colors,
                               line=dict(color="#444", width=1))),
    ])
    if step == 0:
        title = ("step 0: forward values; the output's gradient is "
                 "∂L/∂L = 1")
    else:
        name = current.label or _op_text(current.op)
        title = (f"step {step} of {len(ops)}: node “{name}” passes grad "
                 f"{current.grad:.3g} × local derivative to its inputs")
    cols = max(p[0] for p in pos.values())
    half = max(abs(p[1]) for p in pos.values())
    narrow = frame(fig, title, height=420, narrow_height=150 + 78 * cols,
                   margin=dict(l=10, r=10, b=10))
    fig.update_layout(
        annotations=wide["notes"],
        xaxis=dict(visible=False, range=[-0.32, cols + 0.32]),
        yaxis=dict(visible=False, range=[-half - 0.7, half + 0.7]))
    narrow.update({"xaxis.range": [-half - 0.7, half + 0.7],
                   "yaxis.range": [-cols - 0.5, 0.5]})
    for i, note in enumerate(tall["notes"]):
        narrow[f"annotations[{i}].x"] = note["x"]
        narrow[f"annotations[{i}].y"] = note["y"]
    grads = ", ".join(f"{_node_name(v)}: {v.grad:.3g}" for v in order
                      if id(v) in touched)
    return describe(
        fig, f"Computational graph of {len(order)} nodes, {title}. "
             f"Gradients so far: {grads}.",
        narrow={"layout": narrow, "traces": {
            "0": {"x": [tall["ex"]], "y": [tall["ey"]]},
            "1": {"x": [tall["ax"]], "y": [tall["ay"]]},
            "2": {"x": [[y for y in ys]], "y": [[-x for x in xs]]}}})


def _graph_traces(order, pos, current) -> dict:
    """Edge coordinates (the current node's apart) and edge labels, for the
    node positions ``pos`` (id -> (x, y))."""
    ex, ey, ax, ay, notes = [], [], [], [], []
    for v in order:
        for c, local in zip(v.children, v.local_grads):
            (x0, y0), (x1, y1) = pos[id(c)], pos[id(v)]
            xs, ys = (ax, ay) if v is current else (ex, ey)
            xs += [x0, x1, None]
            ys += [y0, y1, None]
            notes.append(dict(x=(x0 + x1) / 2, y=(y0 + y1) / 2,
                              text=f"{local:.3g}", showarrow=False,
                              font=dict(size=9, color="#555"),
                              bgcolor="rgba(255,255,255,0.85)"))
    return dict(ex=ex, ey=ey, ax=ax or [None], ay=ay or [None],
                notes=notes)


def cost_of_gradients(n_params, backprop_s, finite_diff_s) -> go.Figure:
    """Measured time of one gradient by backpropagation and by central
    differences against the number of parameters (log-log).

    Parameters
    ----------
    n_params, backprop_s, finite_diff_s : array_like, shape (k,)
        Parameter counts and the seconds each method took.

    Used in: book/backprop.md
    """
    n_params = np.asarray(n_params, float)
    backprop_s = np.asarray(backprop_s, float)
    finite_diff_s = np.asarray(finite_diff_s, float)
    ratio = finite_diff_s / backprop_s
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.14,
                        subplot_titles=("time of one gradient",
                                        "finite differences ÷ backprop"))
    fig.add_trace(go.Scatter(x=n_params, y=backprop_s, name="backprop",
                             mode="lines+markers",
                             line=dict(color=COLORS["relu"])), 1, 1)
    fig.add_trace(go.Scatter(x=n_params, y=finite_diff_s,
                             name="finite differences",
                             mode="lines+markers",
                             line=dict(color=COLORS["tanh"])), 1, 1)
    fig.add_trace(go.Scatter(x=n_params, y=ratio, name="ratio",
                             mode="lines+markers", showlegend=False,
                             line=dict(color=COLORS["muted"])), 1, 2)
    for col, title in ((1, "seconds"), (2, "ratio")):
        # one label per power of ten: minor labels collide on a phone
        fig.update_xaxes(type="log", title_text="number of parameters",
                         dtick=1, row=1, col=col)
        fig.update_yaxes(type="log", title_text=title, row=1, col=col,
                         dtick=1, exponentformat="power")
    narrow = two_panels(fig, "One gradient: backpropagation against "
                             "finite differences", height=420)
    return describe(
        fig, "Time of one gradient against the number of parameters, "
             f"log-log, for {len(n_params)} networks of "
             f"{n_params[0]:.0f} to {n_params[-1]:.0f} parameters: "
             f"backpropagation takes {backprop_s[0]:.2g} to "
             f"{backprop_s[-1]:.2g} s, finite differences "
             f"{finite_diff_s[0]:.2g} to {finite_diff_s[-1]:.2g} s, "
             f"{ratio[0]:.0f} to {ratio[-1]:.0f} times longer.",
        narrow={"layout": narrow})


# short legend names, one legend row above the buttons (the text gives the
# variances)
_INIT_SHORT = {"pytorch": "PyTorch default", "xavier": "Xavier",
               "he": "He"}
_INIT_COLORS = {"pytorch": COLORS["muted"], "xavier": COLORS["sigmoid"],
                "he": COLORS["relu"]}


def gradient_norms_by_layer(activation: str, depth: int,
                            width: int = 64) -> go.Figure:
    r"""Gradient norm of every layer's weights (solid) and of its error
    :math:`\Delta^l` (dotted), and the spread of its activations, for three
    initialisations (log scale), from :func:`calc_nn.mlp.layer_statistics`.

    Used in: book/backprop.md
    """
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.14,
                        subplot_titles=("‖∂L/∂Wˡ‖ (solid), ‖Δˡ‖ (dotted)",
                                        "std of the activations aˡ"))
    notes, spread, errors = [], [], []
    for init in ("pytorch", "xavier", "he"):
        g, e, s = layer_statistics(activation, init, depth, width)
        layer = np.arange(1, depth + 2)
        fig.add_trace(go.Scatter(
            x=layer, y=g, name=_INIT_SHORT[init], legendgroup=init,
            mode="lines+markers", line=dict(color=_INIT_COLORS[init])), 1, 1)
        fig.add_trace(go.Scatter(
            x=layer, y=e, showlegend=False, legendgroup=init, mode="lines",
            line=dict(color=_INIT_COLORS[init], dash="dot")), 1, 1)
        fig.add_trace(go.Scatter(
            x=np.arange(1, depth + 1), y=s, showlegend=False,
            legendgroup=init, mode="lines+markers",
            line=dict(color=_INIT_COLORS[init])), 1, 2)
        ratio = g[0] / g[-1]
        word = verdict(ratio, middle="level")  # the deep chapter's scale
        notes.append(f"{_INIT_SHORT[init]}: {ratio:.3g} ({word})")
        spread.append(f"{_INIT_SHORT[init]} {s[-1]:.1e}")
        errors.append(f"{_INIT_SHORT[init]} from {e[-1]:.1e} to {e[0]:.1e}")
    fig.update_yaxes(type="log", exponentformat="power", range=[-28, 3],
                     dtick=4, row=1, col=1)
    fig.update_yaxes(type="log", exponentformat="power", range=[-6, 1],
                     dtick=1, row=1, col=2)
    fig.update_xaxes(title_text="layer l", range=[0.5, 31.5])
    fig.add_annotation(
        xref="x domain", yref="y domain", x=0.98, y=0.02, xanchor="right",
        yanchor="bottom", align="right", showarrow=False,
        font=dict(size=11), bgcolor="rgba(255,255,255,0.8)",
        text="‖∂L/∂W¹‖ ÷ ‖∂L/∂Wᴰ‖<br>" + "<br>".join(notes))
    narrow = two_panels(fig, f"{LABELS[activation]}, {depth} hidden layers "
                             f"of {width} neurons", height=470,
                        heights=(260, 200))
    return describe(
        fig, f"Gradient norm of each of the {depth + 1} weight matrices of "
             f"a {LABELS[activation]} network with {depth} hidden layers of "
             f"{width} neurons at initialisation, the norm of each layer's "
             "error, and the spread (std) of each hidden layer's "
             "activations, log scale, for three initialisations. First "
             "layer's gradient norm over the last's: " + "; ".join(notes)
             + ". Error norm from the output layer back to layer 1: "
             + "; ".join(errors) + ". Std of the last hidden layer's "
             "activations: " + ", ".join(spread) + ".",
        narrow={"layout": narrow})


def training_snapshot(history, X, y, index: int,
                      resolution: int = 32) -> go.Figure:
    """Decision regions of a snapshot of :func:`calc_nn.train.fit_calc_nn`,
    with the data, and the gradient norm of each layer at that epoch.

    Parameters
    ----------
    history : the ``"snapshots"`` of :func:`calc_nn.train.fit_calc_nn`
    X : ndarray, shape (N, 2); y : ndarray of int, shape (N,)
    index : int
        Which snapshot.

    Used in: book/backprop.md
    """
    snap = history[index]
    grid, pred, (gx, gy) = _decision_grid(snap, X, resolution)
    k = int(y.max()) + 1
    palette = [COLORS["sigmoid"], COLORS["tanh"], COLORS["relu"]][:k]
    pale = ["#c6dbef", "#fcbba1", "#c7e9c0"][:k]
    scale = [[i / max(k - 1, 1), c] for i, c in enumerate(pale)]
    fig = make_subplots(rows=1, cols=2, column_widths=[0.62, 0.38],
                        horizontal_spacing=0.12,
                        subplot_titles=("decision regions",
                                        "‖∂L/∂Wˡ‖ per layer"))
    # a grid of square markers rather than a heatmap, so that every trace
    # changes through the same keys ("y", "marker.color")
    fig.add_trace(go.Scatter(
        x=grid[:, 0], y=grid[:, 1], mode="markers", hoverinfo="skip",
        showlegend=False,
        marker=dict(symbol="square", size=13, color=pred.ravel(),
                    colorscale=scale, cmin=0, cmax=k - 1)), 1, 1)
    for c in range(k):
        fig.add_trace(go.Scatter(
            x=X[y == c, 0], y=X[y == c, 1], mode="markers",
            name=f"class {c}", showlegend=False,
            marker=dict(color=palette[c], size=5,
                        line=dict(width=0.5, color="white"))), 1, 1)
    norms = {"W" + superscript(name[1:]): v  # W1 -> W¹, as W^l
             for name, v in snap["grad_norms"].items() if name[0] == "W"}
    fig.add_trace(go.Bar(x=list(norms), y=list(norms.values()),
                         showlegend=False,
                         marker_color=COLORS["derivative"]), 1, 2)
    top = max(v for h in history for name, v in h["grad_norms"].items()
              if name[0] == "W")
    fig.update_yaxes(type="log", range=[np.log10(top) - 4,
                                        np.log10(top) + 0.3],
                     exponentformat="power", dtick=1, row=1, col=2)
    fig.update_xaxes(range=[gx[0], gx[-1]], row=1, col=1)
    fig.update_yaxes(range=[gy[0], gy[-1]], row=1, col=1)
    narrow = two_panels(fig, f"epoch {snap['epoch']}: loss "
                             f"{snap['loss']:.3f}, accuracy "
                             f"{snap['accuracy']:.0%}", height=430,
                        heights=(300, 180), gap=60,
                        margin=dict(l=50, r=20, b=40))
    shares = np.bincount(pred.ravel(), minlength=k) / pred.size
    return describe(
        fig, f"Epoch {snap['epoch']} of training: loss {snap['loss']:.3f}, "
             f"accuracy {snap['accuracy']:.0%} on the {len(y)} points. "
             "Decision regions over the plane: "
             + ", ".join(f"class {c} {v:.0%}" for c, v in enumerate(shares))
             + ". Gradient norm of each weight matrix: "
             + ", ".join(f"{name} {v:.2e}" for name, v in norms.items())
             + ".",
        narrow={"layout": narrow, "traces": {"0": {"marker.size": 9}}})


def _decision_grid(snap, X, resolution):
    """The predicted class of a snapshot's network on a grid over the data:
    ``(points (R*R, 2), classes (R*R,), (x values, y values))``."""
    lo, hi = X.min(0) - 0.4, X.max(0) + 0.4
    gx = np.linspace(lo[0], hi[0], resolution)
    gy = np.linspace(lo[1], hi[1], resolution)
    grid = np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2)
    return grid, snap["model"](grid).argmax(1), (gx, gy)
