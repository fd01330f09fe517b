"""Figures of the chapter "Activation functions"."""

from __future__ import annotations

import functools

import numpy as np
import plotly.graph_objects as go

from calc_nn import activations, symbolic
from calc_nn.plots._style import COLORS, LABELS, describe, frame

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


def _value_range(name: str) -> str:
    """The range as an interval, closed where the function reaches the
    end (ReLU's 0), from SymPy."""
    values = symbolic.image(name)
    left = "[" if values.inf in values else "("
    right = "]" if values.sup in values else ")"
    return f"{left}{_pretty(values.inf)}, {_pretty(values.sup)}{right}"


def _derivative_story(x, dy) -> str:
    """Where the derivative jumps (the largest step between two samples
    over 0.25) or else where it peaks, from the plotted values."""
    steps = np.abs(np.diff(dy))
    k = int(np.argmax(steps))
    if steps[k] > 0.25:
        return (f"at x = {x[k]:g} the derivative jumps from {dy[k]:g} to "
                f"{dy[k + 1]:g}")
    top = int(np.argmax(dy))
    return (f"the derivative peaks at x = {x[top]:g} with {dy[top]:.3g} "
            f"and falls to {dy[0]:.2g} at x = {x[0]:g} and {dy[-1]:.2g} at "
            f"x = {x[-1]:g}")


def function_and_derivative(name: str, alpha: float = 0.1,
                            x_range=(-6.0, 6.0), n: int = 241) -> go.Figure:
    """An activation, its derivative, and where the derivative peaks.

    Used in: book/activations.md
    """
    f, f_grad = activations.get(name, alpha)
    x = np.linspace(*x_range, n)
    y, dy = f(x), f_grad(x)
    x_star, peak = symbolic.max_derivative(name)
    # the peak is a point for sigmoid/tanh, a half-line for (Leaky) ReLU
    px = float(x_star) if x_star.is_finite else x_range[1] / 2
    fig = go.Figure([
        go.Scatter(x=x, y=y, name=f"{LABELS[name]}(x)",
                   line=dict(color=COLORS[name], width=3)),
        go.Scatter(x=x, y=dy, name="derivative",
                   line=dict(color=COLORS["derivative"], width=3,
                             dash="dash")),
        go.Scatter(x=[px], y=[float(peak)], mode="markers+text",
                   name="largest derivative",
                   text=[f"max f′ = {float(peak):g}"],
                   textposition="top center",
                   marker=dict(color=COLORS["derivative"], size=10)),
    ])
    values = _value_range(name)
    # the slope drawn left of 0 (the chapter's table takes α = 0.01)
    shown = (f"{LABELS[name]} (α = {alpha:g})" if name == "leaky_relu"
             else LABELS[name])
    narrow = frame(fig, f"{shown}: range {values}, largest "
                        f"derivative {peak}", height=420)
    fig.update_layout(xaxis_title="x", yaxis_title="value",
                      yaxis_range=[-1.6, 2.1])
    return describe(
        fig, f"{shown} and its derivative for x from {x[0]:g} to "
             f"{x[-1]:g}: its values lie in {values}; "
             + _derivative_story(x, dy) + ".", narrow={"layout": narrow})


#: Below, above: a gradient at the input is "vanished", "exploded" (the
#: chapter states these thresholds beside the figure).
VANISHED, EXPLODED = 1e-6, 1e6


def _power(v: float) -> str:
    """A power of ten as 1e-6 or 1e6 (not Python's 1e-06, 1e+06)."""
    return f"1e{round(np.log10(v))}"


def _verdict(g: float) -> str:
    return ("vanished" if g < VANISHED else "exploded" if g > EXPLODED
            else "ok")


def gradient_through_depth(depth: int, w: float = 1.0,
                           x0: float = 0.5, alpha: float = 0.1,
                           max_depth: int = 30) -> go.Figure:
    r"""How much gradient reaches each layer of a chain of ``depth`` layers.

    Top: :math:`|\partial a^D / \partial a^k|` for every layer ``k`` (log
    scale), per activation, with :math:`D` = ``depth``. Bottom: the
    gradient reaching the input, :math:`|\partial a^D / \partial a^0|`,
    for every depth up to ``max_depth``; the chosen depth marked.

    Used in: book/activations.md
    """
    top, bottom, notes = [], [], []
    for name in ("sigmoid", "tanh", "relu", "leaky_relu"):
        _, grad = _chain(name, depth, w, x0, alpha)
        reach = [_chain(name, n, w, x0, alpha)[1][0]
                 for n in range(max_depth + 1)]
        top.append(go.Scatter(
            x=np.arange(depth + 1), y=np.abs(grad), name=LABELS[name],
            legendgroup=name, mode="lines+markers",
            line=dict(color=COLORS[name])))
        bottom.append(go.Scatter(
            x=np.arange(max_depth + 1), y=np.abs(reach), showlegend=False,
            legendgroup=name, line=dict(color=COLORS[name]),
            xaxis="x2", yaxis="y2"))
        g0 = abs(grad[0])
        notes.append(f"{LABELS[name]} {g0:.1e} ({_verdict(g0)})")
    marker = go.Scatter(
        x=[depth, depth], y=[1e-30, 1e30], mode="lines", showlegend=False,
        line=dict(color=COLORS["muted"], dash="dot"), xaxis="x2", yaxis="y2")
    # two stacked panels, laid out directly (make_subplots' layout, built
    # once per figure instead of through its updates: the build draws all
    # 150 states of this figure)
    log_axis = dict(type="log", range=[-20, 20], dtick=10,
                    exponentformat="power")
    layers = dict(range=[-0.5, max_depth + 0.5])
    fig = go.Figure(
        [item for pair in zip(top, bottom) for item in pair] + [marker],
        layout=dict(
            xaxis=dict(layers, anchor="y", domain=[0, 1], title_text=(
                f"layer k of a chain of D = {depth} layers")),
            yaxis=dict(log_axis, anchor="x", domain=[0.58, 1],
                       title_text="|∂aᴰ/∂aᵏ|"),
            xaxis2=dict(layers, anchor="y2", domain=[0, 1],
                        title_text="depth D"),
            yaxis2=dict(log_axis, anchor="x2", domain=[0, 0.42],
                        title_text="|∂aᴰ/∂a⁰|")))
    notes = " · ".join(notes)
    narrow = frame(fig, f"w = {w:g}, a⁰ = {x0:g}. Gradient at the input: "
                        f"{notes}", height=640, narrow_height=720,
                   margin=dict(l=70), narrow_margin=dict(l=64))
    return describe(
        fig, f"Gradient through a chain of {depth} "
             f"layer{'s' if depth != 1 else ''}, each aᵏ = f(w·aᵏ⁻¹) with "
             f"w = {w:g}, from a⁰ = {x0:g}, on a log scale. At the input "
             f"(vanished below {_power(VANISHED)}, exploded above "
             f"{_power(EXPLODED)}): {notes}. Below, the gradient at the "
             f"input for every depth from 0 to {max_depth}.",
        narrow={"layout": narrow})


@functools.lru_cache(maxsize=4096)
def _chain(name, depth, w, x0, alpha):
    """:func:`calc_nn.activations.chain_gradient`, remembered: the figure's
    states share most of their chains (the bottom panel does not depend on
    the depth chosen), and the build computes every state."""
    a, grad = activations.chain_gradient(name, depth, w, x0, alpha)
    a.flags.writeable = grad.flags.writeable = False
    return a, grad


def dead_relu(bias: float, w: float = 1.0, n: int = 2000,
              seed: int = 0) -> go.Figure:
    """Pre-activations ``z = w x + b`` of one ReLU neuron over a dataset.

    Inputs with ``z <= 0`` pass no gradient to ``w`` or ``b``; when all of
    them do, the neuron is dead: gradient descent can never revive it.

    Used in: book/activations.md
    """
    x = np.random.default_rng(seed).standard_normal(n)
    z = w * x + bias
    alive = z > 0
    # every z in a bin (plotly leaves out what falls outside): the book's
    # biases, -6 to 2, need -10 to 6; others widen the axis as needed
    low = float(min(-10.0, np.floor(z.min())))
    high = float(max(6.0, np.ceil(z.max())))
    bins = dict(start=low, end=high, size=0.25)
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
    narrow = frame(fig, f"bias b = {bias:g}: {verdict}", height=420)
    fig.update_layout(
        barmode="overlay", bargap=0.05,
        xaxis=dict(title="pre-activation z = w·x + b", range=[low, high]),
        yaxis=dict(title="number of inputs", range=[0, 240]),
        shapes=[dict(type="line", x0=0, x1=0, y0=0, y1=1, yref="paper",
                     line=dict(color="black", dash="dot"))])
    text = (f"Histogram of the pre-activations z = {w:g}·x + b of {n} "
            f"inputs with bias b = {bias:g}: {int(alive.sum())} of them "
            f"({frac:.1%}) have z > 0 and pass a gradient to w and b, "
            f"{int((~alive).sum())} have z ≤ 0 and pass none")
    text += (": the neuron is dead, gradient descent cannot revive it."
             if frac == 0 else ".")
    return describe(fig, text, narrow={"layout": narrow})


def leaky_relu_slope(alpha: float, x_range=(-4.0, 4.0)) -> go.Figure:
    """Leaky ReLU and its derivative for a negative slope ``alpha``.

    Used in: book/activations.md
    """
    x = np.linspace(*x_range, 161)
    grad = activations.leaky_relu_grad(x, alpha)
    fig = go.Figure([
        go.Scatter(x=x, y=activations.relu(x), name="ReLU",
                   line=dict(color=COLORS["muted"], dash="dot")),
        go.Scatter(x=x, y=activations.leaky_relu(x, alpha),
                   name="Leaky ReLU(x)",
                   line=dict(color=COLORS["leaky_relu"], width=3)),
        go.Scatter(x=x, y=grad, name="derivative",
                   line=dict(color=COLORS["derivative"], width=3,
                             dash="dash")),
    ])
    # α = 0 is ReLU itself: nothing "still" passes
    passes = (f"a negative input still passes {grad[0]:g} × the gradient"
              if grad[0] else "ReLU itself, a negative input passes no "
              "gradient")
    narrow = frame(fig, f"α = {alpha:g}: {passes}", height=420)
    fig.update_layout(xaxis_title="x",
                      yaxis=dict(title="value", range=[-2.2, 4.2]))
    return describe(
        fig, f"Leaky ReLU with α = {alpha:g}, ReLU and the derivative of "
             f"Leaky ReLU: {grad[0]:g} for x < 0 and {grad[-1]:g} for "
             f"x > 0, so " + (f"a negative input passes {grad[0]:g} × the "
                              "gradient, where ReLU passes none." if grad[0]
                              else "Leaky ReLU is ReLU: a negative input "
                              "passes no gradient."),
        narrow={"layout": narrow})


def softmax_temperature(temperature: float, logits=(2.0, 1.0, 0.1, -1.0),
                        ) -> go.Figure:
    """Softmax probabilities of fixed logits divided by a temperature.

    Used in: book/activations.md
    """
    logits = np.asarray(logits, dtype=float)
    p = activations.softmax(logits / temperature)
    # classes count from 1, as p_1, ..., p_K in the text and the notation
    classes = [f"class {i}" for i in range(1, len(logits) + 1)]
    fig = go.Figure([
        go.Bar(x=classes, y=p, name="softmax(z / T)",
               marker_color=COLORS["sigmoid"], text=[f"{v:.3f}" for v in p],
               textposition="outside"),
    ])
    shown = ", ".join(f"{v:g}" for v in logits)
    narrow = frame(fig, f"T = {temperature:g}: logits {shown}", height=420)
    fig.update_layout(yaxis=dict(title="probability", range=[0, 1.1]))
    probs = ", ".join(f"{v:.3f}" for v in p)
    return describe(
        fig, f"Softmax of the logits {shown} divided by T = "
             f"{temperature:g}: probabilities {probs}; class "
             f"{int(np.argmax(p)) + 1} has the largest.",
        narrow={"layout": narrow})
