"""Figures of the chapter "Gradient descent and optimizers".

:func:`optimizer_explorer` is the chapter's explorer: a contour plot of a
landscape with the paths of up to four optimizers, and their losses against
the step. Every call returns the same traces in the same order, so
:func:`calc_nn.widgets.explore` can switch between settings; a run that
diverges says so on the plot ("GD diverged at step 7").
"""

from __future__ import annotations

import functools

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from calc_nn import landscapes, optim
from calc_nn.plots._style import describe, frame, two_panels
from calc_nn.widgets import Choice, Slider

__all__ = [
    "OPTIMIZER_LABELS",
    "OPTIMIZER_COLORS",
    "optimizer_explorer",
    "explorer_runs",
    "LINEUPS",
    "explorer_figure",
    "live_controls",
    "gd_rate",
    "bias_correction",
    "momentum_region",
    "minibatch_sgd",
    "gradient_noise_vs_batch",
    "SCHEDULES",
    "schedule_runs",
    "lr_schedules",
]

OPTIMIZER_LABELS = {
    "gd": "GD",
    "momentum": "momentum",
    "nesterov": "Nesterov",
    "rmsprop": "RMSprop",
    "adagrad": "AdaGrad",
    "adam": "Adam",
    "adamw": "AdamW",
}
OPTIMIZER_COLORS = {
    "gd": "#1f77b4",
    "momentum": "#d62728",
    "nesterov": "#8c564b",
    "rmsprop": "#2ca02c",
    "adagrad": "#17becf",
    "adam": "#9467bd",
    "adamw": "#e377c2",
}
DEFAULT_OPTIMIZERS = ("gd", "momentum", "rmsprop", "adam")
# Divergence in the explorer: a point beyond WINDOW_BOUND times the window
# (RMSprop's legitimate excursions on the bowl reach about 10 times), or a
# loss beyond LOSS_GROWTH times the start's (legitimate runs: < 500 times)
WINDOW_BOUND = 100.0
LOSS_GROWTH = 1e4
# lowest value of each landscape, for "loss above the minimum" on a log axis
_LOSS_MIN = {"quadratic": 0.0, "rosenbrock": 0.0, "himmelblau": 0.0,
             "saddle": -0.25}


def _hyper(name: str, lr: float, momentum: float, beta1: float,
           beta2: float = 0.999) -> dict:
    """One learning rate for every optimizer; ``momentum`` is SGD's,
    ``(beta1, beta2)`` are Adam's betas (RMSprop keeps PyTorch's
    ``alpha=0.99``)."""
    if name in ("momentum", "nesterov"):
        return dict(lr=lr, momentum=momentum)
    if name == "rmsprop":
        return dict(lr=lr, alpha=0.99)
    if name in ("adam", "adamw"):
        return dict(lr=lr, betas=(beta1, beta2))
    return dict(lr=lr)


def _landscape(name, condition=10.0, noise=0.0, seed=0):
    """The landscape ``name`` (the bowl with ``condition``), with gradient
    noise of std ``noise`` if any."""
    land = landscapes.get(name, **({"condition": condition}
                                   if name == "quadratic" else {}))
    return landscapes.noisy(land, noise, seed) if noise else land


def explorer_runs(landscape: str, lr: float, momentum: float = 0.9,
                  optimizers=DEFAULT_OPTIMIZERS, n_steps: int = 100,
                  start=None, condition: float = 10.0, noise: float = 0.0,
                  seed: int = 0, beta2: float = 0.999,
                  beta1: float | None = None) -> dict[str, optim.Run]:
    """The runs the explorer draws: optimizer name -> :class:`optim.Run`
    (``path`` of shape (n_steps + 1, 2)).

    ``beta1=None`` gives Adam the value of ``momentum`` as its β₁ (Adam's
    first moment is a momentum; the figure says so). Momentum 0 with
    Nesterov is drawn as plain momentum 0 (PyTorch refuses it).
    Divergence (see :func:`calc_nn.optim.run`): a non-finite point, a
    point farther than ``WINDOW_BOUND`` times the window's largest
    coordinate from the origin (max norm), or a loss above
    ``LOSS_GROWTH`` times ``max(|L(start)|, 1)``.

    Used in: book/optimizers.md
    """
    beta1 = momentum if beta1 is None else beta1
    specs = []
    for name in optimizers:
        step = optim.get(name)
        if name == "nesterov" and momentum == 0:
            step = optim.momentum_step
        specs.append((step, _hyper(name, lr, momentum, beta1, beta2)))
    land = _landscape(landscape, condition, noise, seed)
    bound = WINDOW_BOUND * max(map(abs, (*land.x_range, *land.y_range)))
    options = dict(bound=bound, dim=land.dim, loss_fn=land.loss,
                   max_growth=LOSS_GROWTH)
    theta0 = land.start if start is None else start
    if not noise:  # all optimizers in one loop, one gradient call per step
        results = optim.run_many(specs, land.grad, theta0, n_steps,
                                 vectorized=True, **options)
        return dict(zip(optimizers, results))
    runs = {}
    for name, (step, hyper) in zip(optimizers, specs):
        # each optimizer sees the same noise sequence
        land = _landscape(landscape, condition, noise, seed)
        runs[name] = optim.run(step, land.grad, theta0, n_steps, **options,
                               **hyper)
    return runs


@functools.cache
def _contour(name, condition, n=61):
    """``log10(L - L* + 0.01)`` of a landscape on an n x n grid, cached:
    ``(landscape, xs, ys, z)``."""
    land = _landscape(name, condition)
    xs, ys, Z = land.grid(n)
    # log scale: the interesting structure spans many orders of magnitude
    z = np.log10(Z - _LOSS_MIN[name] + 1e-2)
    return land, xs, ys, z


def optimizer_explorer(landscape: str = "rosenbrock", lr: float = 1e-3,
                       momentum: float = 0.9,
                       optimizers=DEFAULT_OPTIMIZERS, n_steps: int = 100,
                       start=None, condition: float = 10.0,
                       noise: float = 0.0, seed: int = 0,
                       all_landscapes=None, beta2: float = 0.999,
                       shown=None, beta1: float | None = None) -> go.Figure:
    """Contour plot with optimizer paths (top) and loss against step
    (bottom); a run that diverges says so on the plot.

    Parameters
    ----------
    landscape : str
        A name of :data:`calc_nn.landscapes.NAMES`.
    lr, momentum : float
        Every optimizer's learning rate; SGD's momentum, in [0, 1).
    optimizers : sequence of at most 4 keys of :data:`calc_nn.optim.OPTIMIZERS`
    n_steps : int
    start : (float, float), optional
        Default: the landscape's start point.
    condition, noise, seed : float, float, int
        The bowl's condition number; the gradient noise's std and seed.
    all_landscapes : sequence of str, optional
        One contour each, only ``landscape``'s visible (for a control).
    beta2, beta1 : float
        Adam's betas, in [0, 1); ``beta1=None`` (default) uses ``momentum``,
        and the title says so.
    shown : sequence of str, optional
        The optimizers drawn; the others' traces are hidden. Default: all.

    Returns
    -------
    plotly.graph_objects.Figure
        Traces: the contours, one path per optimizer, the start, the
        minima, one loss curve per optimizer.

    Used in: book/optimizers.md
    """
    optimizers, visible, contours = _check_explorer(
        landscape, optimizers, shown, all_landscapes)
    runs = explorer_runs(landscape, lr, momentum, optimizers, n_steps, start,
                         condition, noise, seed, beta2, beta1)
    land = _landscape(landscape, condition)
    start = land.start if start is None else start
    names = {name: OPTIMIZER_LABELS[name] for name in optimizers}
    fig = make_subplots(rows=2, cols=1, row_heights=[0.68, 0.32],
                        vertical_spacing=0.1)
    _add_contours(fig, contours, landscape, condition)
    notes = _add_paths(fig, runs, land, visible, names)
    _add_start_and_minima(fig, land, start)
    _add_loss_curves(fig, runs, land, visible, names)
    _explorer_axes(fig, land, n_steps)
    return _explorer_text(fig, land, runs, visible, notes, dict(
        lr=lr, momentum=momentum, beta1=beta1, beta2=beta2,
        n_steps=n_steps, start=start, noise=noise))


def _add_contours(fig, contours, landscape, condition) -> None:
    """Log-scaled contours of each landscape (only ``landscape`` visible),
    in the top panel."""
    for name in contours:
        _, xs, ys, z = _contour(name, condition)
        fig.add_trace(go.Contour(
            x0=xs[0], dx=xs[1] - xs[0], y0=ys[0], dy=ys[1] - ys[0], z=z,
            colorscale="Greys", reversescale=True, showscale=False,
            ncontours=18, opacity=0.55, hoverinfo="skip",
            line=dict(width=0.5), visible=name == landscape,
            name=name, showlegend=False), 1, 1)


def _add_paths(fig, runs, land, visible, names) -> list[str]:
    """One path per optimizer in the top panel; returns the note of each
    visible run: its final ``L - L*`` or the step it diverged at, also
    written beside its last point."""
    notes, arrows = [], []
    for name, res in runs.items():
        color = OPTIMIZER_COLORS[name]
        fig.add_trace(go.Scatter(
            x=res.path[:, 0], y=res.path[:, 1], mode="lines+markers",
            name=names[name], legendgroup=name,
            line=dict(color=color, width=2), marker=dict(size=3),
            visible=name in visible), 1, 1)
        if name not in visible:
            continue
        label = OPTIMIZER_LABELS[name]
        ok = res.path[np.all(np.isfinite(res.path), axis=1)]
        if not res.diverged:
            final = land.loss(ok[-1]) - _LOSS_MIN[land.name]
            notes.append(f"{label} {final:.1e}")
            continue
        notes.append(f"{label} diverged at step {res.diverged_at}")
        arrows.append(_divergence_arrow(
            land, ok[-1], notes[-1], color, len(arrows)))
    fig.update_layout(annotations=arrows)
    return notes


def _divergence_arrow(land, last, text, color, k) -> dict:
    """An arrow to the last finite point of a diverged run (clipped to the
    window), its text towards the middle of the plot, the k-th one lower."""
    x = float(np.clip(last[0], *land.x_range))
    y = float(np.clip(last[1], *land.y_range))
    right = x > np.mean(land.x_range)
    high = y > np.mean(land.y_range)
    return dict(x=x, y=y, xref="x", yref="y", text=text, showarrow=True,
                arrowhead=2, arrowcolor=color, ax=-40 if right else 40,
                ay=(30 if high else -30) + (24 if high else -24) * k,
                xanchor="right" if right else "left",
                font=dict(color=color, size=12), bgcolor="white")


def _add_start_and_minima(fig, land, start) -> None:
    """The start (open circle) and the minima (stars), top panel."""
    fig.add_trace(go.Scatter(
        x=[start[0]], y=[start[1]], mode="markers", name="start",
        marker=dict(color="black", size=10, symbol="circle-open",
                    line=dict(width=2)), showlegend=False), 1, 1)
    fig.add_trace(go.Scatter(
        x=land.minima[:, 0], y=land.minima[:, 1], mode="markers",
        name="minimum", marker=dict(color="gold", size=12, symbol="star",
                                    line=dict(color="black", width=1)),
        showlegend=False), 1, 1)


def _add_loss_curves(fig, runs, land, visible, names) -> None:
    """``L - L*`` of each run against the step (log scale), bottom
    panel."""
    for name, res in runs.items():
        loss = land.loss(res.path) - _LOSS_MIN[land.name]
        fig.add_trace(go.Scatter(
            y=np.maximum(loss, 1e-12), x0=0, dx=1, mode="lines",
            name=names[name], legendgroup=name, showlegend=False,
            visible=name in visible,
            line=dict(color=OPTIMIZER_COLORS[name], width=2)), 2, 1)


def _explorer_axes(fig, land, n_steps, decades=(-8, 4), dtick=2) -> None:
    """The window of the landscape on top; steps and log loss (from
    10^decades[0] to 10^decades[1]) below."""
    fig.update_xaxes(range=list(land.x_range), title_text="x",
                     title_standoff=2, row=1, col=1)
    fig.update_yaxes(range=list(land.y_range), title_text="y", row=1, col=1)
    fig.update_xaxes(range=[0, n_steps], title_text="step", row=2, col=1)
    fig.update_yaxes(type="log", range=list(decades), dtick=dtick,
                     exponentformat="power", title_text="L − L*",
                     row=2, col=1)


def _explorer_text(fig, land, runs, visible, notes, s) -> go.Figure:
    """Title, description and narrow layout of the explorer figure."""
    beta1 = s["momentum"] if s["beta1"] is None else s["beta1"]
    adam = any(n in visible for n in ("adam", "adamw"))
    sgd = any(n in visible for n in ("momentum", "nesterov"))
    hyper = [f"η = {s['lr']:.3g}"]  # the book's letters: notation.md
    if sgd and adam and s["beta1"] is None:
        hyper.append(f"μ = Adam's β₁ = {s['momentum']:g}")
    else:
        hyper += [f"μ = {s['momentum']:g}"] if sgd else []
        hyper += [f"Adam's β₁ = {beta1:g}"] if adam else []
    if adam and s["beta2"] != 0.999:
        hyper.append(f"β₂ = {s['beta2']:g}")
    notes = " · ".join(notes)
    title = (f"{land.label}, {', '.join(hyper)}<br>"
             f"L − L* after {s['n_steps']} steps: {notes}")
    narrow = frame(fig, title, height=680, narrow_height=780,
                   margin=dict(l=60, r=20, b=50))
    noise = (f", gradient noise of std {s['noise']:g}" if s["noise"]
             else "")
    return describe(
        fig, f"{land.label}: paths of {len(visible)} optimizers over the "
             f"contours of the loss from ({s['start'][0]:g}, "
             f"{s['start'][1]:g}) with {', '.join(hyper)}{noise}, and "
             f"their loss above the minimum, L − L*, against the step. "
             f"After {s['n_steps']} steps: {notes}.",
        narrow={"layout": narrow})


#: The optimizer line-ups of the explorer's live "optimizers" control:
#: label -> (the four optimizers computed, the ones drawn).
LINEUPS = {
    "all four": (DEFAULT_OPTIMIZERS, DEFAULT_OPTIMIZERS),
    "GD vs momentum": (DEFAULT_OPTIMIZERS, ("gd", "momentum")),
    "RMSprop vs Adam": (DEFAULT_OPTIMIZERS, ("rmsprop", "adam")),
    "variants": (("momentum", "nesterov", "adagrad", "adamw"),
                 ("momentum", "nesterov", "adagrad", "adamw")),
}
_BETA2S = (0.9, 0.99, 0.999, 0.9999)
_N_STEPS = (10, 20, 50, 80, 100, 150, 200, 300)


def explorer_figure(landscape: str, lr: float, momentum: float = 0.9, *,
                    beta2: float = 0.999, n_steps: int = 100,
                    x0: float | None = None, y0: float | None = None,
                    lineup: str = "all four", **kwargs) -> go.Figure:
    """:func:`optimizer_explorer` with the explorer's control names: start
    point ``(x0, y0)`` (default the landscape's start) and ``lineup``, a key
    of :data:`LINEUPS`; other keyword arguments are passed on.

    Used in: book/optimizers.md
    """
    if lineup not in LINEUPS:
        raise ValueError(f"lineup must be one of {list(LINEUPS)}, got "
                         f"{lineup!r}")
    optimizers, shown = LINEUPS[lineup]
    start = None
    if x0 is not None or y0 is not None:
        base = _landscape(landscape).start
        start = (base[0] if x0 is None else x0, base[1] if y0 is None else y0)
    return optimizer_explorer(landscape, lr, momentum, optimizers=optimizers,
                              n_steps=n_steps, start=start, beta2=beta2,
                              shown=shown, **kwargs)


def _grid(lo, hi, default, step=0.5):
    values = np.round(np.arange(lo, hi + step / 2, step), 6).tolist()
    return sorted({float(v) for v in values} | {float(default)})


def live_controls(landscape: str | None = None, n_steps: int = 100,
                  start: bool = True) -> list:
    """The explorer's live-only controls (shown in a kernel, fixed at their
    default on the static site): beta2, number of steps, start point
    ``x0``/``y0`` (when ``start`` and a ``landscape`` are given) and the
    optimizer line-up. Pass them to :func:`calc_nn.widgets.explore` after
    the static controls, with :func:`explorer_figure` as the figure.

    Used in: book/optimizers.md
    """
    if n_steps not in _N_STEPS:
        raise ValueError(f"n_steps must be one of {_N_STEPS}, got "
                         f"{n_steps}")
    controls = [
        Slider("beta2", _BETA2S, default=0.999, label="Adam β₂",
               live_only=True),
        Slider("n_steps", _N_STEPS, default=n_steps, label="steps",
               live_only=True),
    ]
    if start and landscape is not None:
        land = _landscape(landscape)
        controls += [
            Slider("x0", _grid(*land.x_range, land.start[0]),
                   default=land.start[0], label="start x", live_only=True),
            Slider("y0", _grid(*land.y_range, land.start[1]),
                   default=land.start[1], label="start y", live_only=True),
        ]
    controls.append(Choice("lineup", list(LINEUPS), default="all four",
                           label="optimizers", live_only=True))
    return controls


def gd_rate(lr: float, condition: float = 10.0,
            n_steps: int = 40) -> go.Figure:
    """Gradient descent on the quadratic bowl, per eigen-direction.

    Left: the factor ``|1 - lr * lambda|`` by which each direction shrinks
    per step, against ``lr``, for ``lambda = 1`` and ``1 / condition``; the
    critical ``lr = 2 / lambda_max = 2`` is marked. Right: the distance to
    the minimum along each direction for the chosen ``lr``.

    Used in: book/optimizers.md
    """
    lams = {"λₘₐₓ = 1": 1.0, f"λₘᵢₙ = 1/{condition:g}": 1.0 / condition}
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.14)
    colors = ("#d62728", "#1f77b4")
    land = landscapes.quadratic(condition)
    res = optim.run(optim.gd_step, land.grad, land.start, n_steps, lr=lr,
                    bound=1e12)
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    coords = res.path @ np.array([[c, -s], [s, c]])  # eigen-coordinates
    for (label, lam), color, k in zip(lams.items(), colors, range(2)):
        # |1 - eta lam| is piecewise linear: its corners draw it exactly
        etas = np.array(sorted({0.0, 2.6, *([1 / lam] if lam > 1 / 2.6
                                             else [])}))
        fig.add_trace(go.Scatter(x=etas, y=np.abs(1 - etas * lam),
                                 name=label, legendgroup=label,
                                 line=dict(color=color, width=2)), 1, 1)
        fig.add_trace(go.Scatter(
            x0=0, dx=1, y=np.abs(coords[:, k]), mode="lines+markers",
            marker=dict(size=4), showlegend=False, legendgroup=label,
            line=dict(color=color)), 1, 2)
    factors = [abs(1 - lr * lam) for lam in lams.values()]
    rate = max(factors)
    fig.add_trace(go.Scatter(
        x=[lr], y=[rate], mode="markers", name="chosen η",
        marker=dict(color="black", size=10, symbol="x")), 1, 1)
    verdict = (f"diverged at step {res.diverged_at}" if res.diverged else
               "converges" if rate < 1 else "does not converge" if rate == 1
               else f"diverges (×{rate:.3g} per step)")
    fig.update_xaxes(title_text="learning rate η", row=1, col=1)
    fig.update_yaxes(title_text="|1 − ηλ| per step", range=[0, 1.8],
                     row=1, col=1)
    fig.update_xaxes(title_text="step t", row=1, col=2)
    fig.update_yaxes(title_text="eigen-coordinate |uₜ,ᵢ|",
                     type="log", range=[-6, 6], exponentformat="power",
                     row=1, col=2)
    fig.update_layout(
        shapes=[dict(type="line", x0=2, x1=2, y0=0, y1=1.8, xref="x",
                     yref="y", line=dict(color="black", dash="dot")),
                dict(type="line", x0=0, x1=2.6, y0=1, y1=1, xref="x",
                     yref="y", line=dict(color="#7f7f7f", dash="dot"))],
        annotations=[dict(x=2, y=1.7, xref="x", yref="y",
                          text="critical η = 2/λₘₐₓ", showarrow=False,
                          xanchor="right", font=dict(size=12))])
    narrow = two_panels(fig, f"η = {lr:g}: largest factor {rate:.3f}, GD "
                             f"{verdict}", height=420, gap=70, titles=False)
    end = np.abs(coords[-1])
    return describe(
        fig, f"Gradient descent on the quadratic bowl with condition "
             f"number {condition:g} and learning rate η = {lr:g}. Per "
             "step the distance to the minimum along the eigenvector of "
             f"λₘₐₓ = 1 is multiplied by {factors[0]:.3g}, along "
             f"λₘᵢₙ = 1/{condition:g} by {factors[1]:.3g}; the largest "
             f"factor is {rate:.3f}, so GD {verdict}. After {n_steps} "
             f"steps the distances are {end[0]:.2g} and {end[1]:.2g}.",
        narrow={"layout": narrow})


def bias_correction(beta1: float, n_steps: int = 40,
                    seed: int = 0) -> go.Figure:
    """Adam's first moment of gradients ``g_t = 1 + noise``: the raw
    average ``m_t`` starts near 0 (it starts at ``m_0 = 0``), the corrected
    ``m_t / (1 - beta1^t)`` is right from the first step.

    Used in: book/optimizers.md
    """
    g = 1.0 + 0.3 * np.random.default_rng(seed).standard_normal(n_steps)
    theta, state, raw = np.zeros(1), None, []
    for gt in g:  # calc_nn's Adam keeps m_t as state["exp_avg"]
        theta, state = optim.adam_step(theta, [gt], state, lr=1e-3,
                                       betas=(beta1, 0.999))
        raw.append(float(state["exp_avg"][0]))
    steps = np.arange(1, n_steps + 1)
    raw = np.array(raw)
    corrected = raw / (1 - beta1 ** steps)
    fig = go.Figure([
        go.Scatter(x=steps, y=g, mode="markers", name="gradient gₜ",
                   marker=dict(color="#7f7f7f", size=5)),
        go.Scatter(x=steps, y=raw, name="mₜ (no correction)",
                   line=dict(color="#d62728", width=3)),
        go.Scatter(x=steps, y=corrected, name="mₜ / (1 − β₁ᵗ)",
                   line=dict(color="#2ca02c", width=3)),
        go.Scatter(x=steps, y=1 - beta1 ** steps, name="1 − β₁ᵗ",
                   line=dict(color="black", dash="dot")),
    ])
    # E[m_t] = (1 - beta1^t) E[g] (the dotted curve) passes 1/2 at
    # t = log(1/2) / log(beta1), maybe beyond the steps drawn
    half = int(np.ceil(np.log(0.5) / np.log(beta1))) if beta1 > 0 else 1
    later = f" (beyond the {n_steps} drawn)" if half > n_steps else ""
    steps_text = f"{half} step" + ("s" if half != 1 else "")
    title = (f"β₁ = {beta1:g}: the uncorrected average reaches half the "
             f"gradient after {steps_text}{later}" if beta1 > 0 else
             "β₁ = 0: no averaging, nothing to correct")
    fig.update_layout(xaxis_title="step t",
                      yaxis=dict(title="value", range=[-0.1, 1.8]))
    narrow = frame(fig, title, height=420)
    return describe(
        fig, f"Adam's first moment with β₁ = {beta1:g} for {n_steps} "
             f"noisy gradients of mean {g.mean():.2f}: the uncorrected "
             f"average starts at {raw[0]:.2f}, and its expected share of "
             f"the gradient, 1 − β₁ᵗ, reaches half after {steps_text}"
             f"{later}; the "
             "corrected average, divided by 1 − β₁ᵗ, starts at "
             f"{corrected[0]:.2f}.", narrow={"layout": narrow})


# ------------------------------------------------------------- momentum

#: The grid of the stability map (learning rate x momentum).
_REGION_LRS = np.linspace(0.0, 4.2, 85)
_REGION_MOMENTA = np.linspace(0.0, 0.98, 50)
_DIRECTION_COLORS = ("#d62728", "#1f77b4")


def momentum_region(lr: float, momentum: float,
                    condition: float = 10.0) -> go.Figure:
    """Where momentum converges on the quadratic bowl, and why.

    Left: the convergence factor per step, :func:`calc_nn.optim.
    momentum_rate`, over the plane of learning rate and momentum, with the
    boundary ``lr * lambda_max = 2 (1 + momentum)``, the best setting
    (star) and the chosen one (cross). Right: the chosen setting's four
    eigenvalues (two per eigen-direction of the bowl) in the complex
    plane, inside or outside the unit circle.

    Used in: book/optimizers.md
    """
    lams = np.array([1.0, 1.0 / condition])
    rho = _region(condition)
    best_lr = 4 / (1 + lams[1] ** 0.5) ** 2
    best_mu = ((1 - lams[1] ** 0.5) / (1 + lams[1] ** 0.5)) ** 2
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.14,
                        column_widths=[0.55, 0.45])
    # rho >= 1 left blank: the grey rectangle below shows through
    # grids as x0/dx (not arrays): a control that moves the cross patches
    # the x and y of every trace, so no trace keeps long arrays
    fig.add_trace(go.Contour(
        x0=_REGION_LRS[0], dx=_REGION_LRS[1] - _REGION_LRS[0],
        y0=_REGION_MOMENTA[0], dy=_REGION_MOMENTA[1] - _REGION_MOMENTA[0],
        z=np.where(rho < 1, rho, np.nan),
        contours=dict(start=0.6, end=0.9, size=0.1, showlabels=True,
                      labelfont=dict(size=10, color="black")),
        colorscale=[[0, "#74c476"], [1, "#f7fcf5"]], zmin=0.5, zmax=1.0,
        showscale=False, line=dict(width=0.6, color="#525252"),
        hoverinfo="skip", name="factor per step", showlegend=False),
        1, 1)
    fig.add_shape(type="rect", x0=0, x1=4.2, y0=0, y1=0.98, xref="x",
                  yref="y", layer="below", line=dict(width=0),
                  fillcolor="#d9d9d9")
    edge = _REGION_MOMENTA[[0, -1]]  # a straight line
    fig.add_trace(go.Scatter(
        x=2 * (1 + edge) / lams[0], y=edge, mode="lines",
        name="ηλₘₐₓ = 2(1 + μ)", line=dict(color="black", width=2)), 1, 1)
    fig.add_trace(go.Scatter(
        x=[best_lr], y=[best_mu], mode="markers", name="best (η*, μ*)",
        marker=dict(symbol="star", size=14, color="gold",
                    line=dict(color="black", width=1))), 1, 1)
    rate = float(optim.momentum_rate(lr, momentum, lams))
    fig.add_trace(go.Scatter(
        x=[lr], y=[momentum], mode="markers", name="your setting",
        marker=dict(symbol="x", size=12, color="black")), 1, 1)
    fig.add_shape(type="circle", x0=-1, x1=1, y0=-1, y1=1, xref="x2",
                  yref="y2", line=dict(color="#7f7f7f", dash="dot"))
    eig = optim.momentum_eigenvalues(lr, momentum, lams)
    names = ("z for λₘₐₓ = 1", f"z for λₘᵢₙ = 1/{condition:g}")
    for k in range(2):
        fig.add_trace(go.Scatter(
            x=eig[k].real, y=eig[k].imag, mode="markers", name=names[k],
            marker=dict(size=10, color=_DIRECTION_COLORS[k],
                        symbol=("circle", "diamond")[k],
                        line=dict(color="white", width=1))), 1, 2)
    verdict = _rate_verdict(rate)
    fig.update_xaxes(title_text="learning rate η", range=[0, 4.2],
                     row=1, col=1)
    fig.update_yaxes(title_text="momentum μ", range=[0, 0.98], row=1,
                     col=1)
    fig.update_xaxes(title_text="Re z", range=[-1.6, 1.6], dtick=1,
                     row=1, col=2)
    fig.update_yaxes(title_text="Im z", range=[-1.6, 1.6], dtick=1,
                     scaleanchor="x2", constrain="domain", row=1, col=2)
    title = (f"η = {lr:.3g}, μ = {momentum:.3g}: factor {rate:.3f} "
             f"per step, {verdict}")
    narrow = two_panels(fig, title, height=470, heights=(260, 260),
                        gap=70, titles=False)
    moduli = np.abs(eig)
    return describe(
        fig, f"Momentum on the quadratic bowl with condition number "
             f"{condition:g}. Left: the factor by which the distance to "
             "the minimum shrinks per step, over learning rates 0 to 4.2 "
             "and momenta 0 to 0.98; it is 1 or more (grey) to the right "
             "of the line ηλₘₐₓ = 2(1 + μ). The best setting is η* = "
             f"{best_lr:.3g}, μ* = {best_mu:.3g}. Your setting η = "
             f"{lr:.3g}, μ = {momentum:.3g} has the factor {rate:.3f}: "
             f"{verdict}. "
             "Right: its eigenvalues in the complex plane, of moduli "
             f"{moduli[0, 0]:.3f} and {moduli[0, 1]:.3f} along λₘₐₓ and "
             f"{moduli[1, 0]:.3f} and {moduli[1, 1]:.3f} along λₘᵢₙ, "
             "against the unit circle.", narrow={"layout": narrow})


@functools.cache
def _region(condition):
    """The factor per step of momentum on the bowl over the grid of
    :data:`_REGION_LRS` x :data:`_REGION_MOMENTA` (cached: every state of
    the figure draws the same map)."""
    return optim.momentum_rate(np.maximum(_REGION_LRS[None, :], 1e-9),
                               _REGION_MOMENTA[:, None],
                               [1.0, 1.0 / condition])


def _rate_verdict(rate: float) -> str:
    """What a convergence factor per step means, in words."""
    if abs(rate - 1) < 1e-9:
        return "on the boundary: it neither converges nor diverges"
    if rate > 1:
        return f"diverges (×{rate:.3g} per step)"
    if rate == 0:
        return "converges in one step"
    return (f"converges (a factor 10 every "
            f"{np.log(10) / -np.log(rate):.3g} steps)")


# ------------------------------------------------------------- minibatches

def _noisy_sgd(lrs, noise, n_steps, condition=10.0, n_runs=1, seed=0):
    """Gradient descent on the bowl with gradient noise of std ``noise``
    and learning rate ``lrs[t]`` at step ``t``, ``n_runs`` runs at once:
    ``(paths (n_runs, n_steps + 1, 2), losses (n_runs, n_steps + 1))``.
    Every call with the same ``seed`` draws the same standard normal
    noise, scaled by ``noise``."""
    land = landscapes.quadratic(condition)
    rng = np.random.default_rng(seed)
    xi = rng.standard_normal((n_steps, n_runs, 2))
    theta = np.tile(np.array(land.start), (n_runs, 1))
    path = [theta]
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(n_steps):
            grad = land.grad(theta) + noise * xi[t]
            theta, _ = optim.gd_step(theta, grad, lr=float(lrs[t]))
            path.append(theta)
    path = np.stack(path, axis=1)
    return path, land.loss(path)


def minibatch_sgd(batch_size: int, lr: float, noise: float = 1.0,
                  n_steps: int = 120, condition: float = 10.0,
                  seed: int = 0) -> go.Figure:
    """Minibatch SGD on the quadratic bowl: the gradient of a batch of
    ``batch_size`` examples is the true gradient plus noise of standard
    deviation ``noise / sqrt(batch_size)`` per coordinate (the noise of a
    single example is ``noise``). Top: the path over the contours. Bottom:
    the loss against the step, with the predicted noise floor
    :func:`calc_nn.optim.sgd_noise_floor` (dashed).

    Used in: book/optimizers.md
    """
    sigma = noise / batch_size ** 0.5
    path, loss = _noisy_sgd(np.full(n_steps, lr), sigma, n_steps,
                            condition, seed=seed)
    path, loss = path[0], loss[0]
    land = landscapes.quadratic(condition)
    floor = optim.sgd_noise_floor(lr, [1.0, 1 / condition], sigma)
    bound = WINDOW_BOUND * 3.0
    bad = ~(np.isfinite(loss) & (np.abs(path).max(axis=1) <= bound)
            & (loss <= LOSS_GROWTH * max(loss[0], 1.0)))
    diverged = int(np.argmax(bad)) if bad.any() else None
    if diverged is not None:
        path[diverged:], loss[diverged:] = np.nan, np.nan
    fig = make_subplots(rows=2, cols=1, row_heights=[0.6, 0.4],
                        vertical_spacing=0.12)
    _add_contours(fig, ("quadratic",), "quadratic", condition)
    fig.add_trace(go.Scatter(
        x=path[:, 0], y=path[:, 1], mode="lines+markers", name="SGD",
        line=dict(color=OPTIMIZER_COLORS["gd"], width=1.5),
        marker=dict(size=3)), 1, 1)
    _add_start_and_minima(fig, land, land.start)
    fig.add_trace(go.Scatter(
        y=np.maximum(loss, 1e-12), x0=0, dx=1, mode="lines",
        name="L − L*", showlegend=False,
        line=dict(color=OPTIMIZER_COLORS["gd"], width=1.5)), 2, 1)
    shown_floor = floor if np.isfinite(floor) else np.nan
    fig.add_trace(go.Scatter(
        x=[0, n_steps], y=[shown_floor, shown_floor], mode="lines",
        name="noise floor (theory)",
        line=dict(color="black", dash="dash")), 2, 1)
    half = loss[n_steps // 2:]
    # without noise, the loss left from the start at the middle step: the
    # second half sits at the floor only if that remainder is below it
    remainder = _noisy_sgd(np.full(n_steps, lr), 0.0, n_steps,
                           condition)[1][0, n_steps // 2]
    if diverged is not None:
        verdict = f"SGD diverged at step {diverged}"
        said = (f"{verdict} (ηλₘₐₓ = {lr:g} ≥ 2: no batch size makes "
                "this learning rate stable)")
    else:
        verdict = (f"noise floor {floor:.2g} (theory), mean of the last "
                   f"{len(half)} steps {half.mean():.2g}")
        average = (f"{floor:.3g} in theory, {half.mean():.3g} on average "
                   f"over the last {len(half)} steps")
        said = (f"the loss settles at the noise floor: {average}"
                if remainder < floor else
                f"the loss has not settled at the noise floor yet "
                f"({average}): along the flat direction the distance "
                f"shrinks by only 1 − ηλₘᵢₙ = {1 - lr / condition:.3g} "
                f"per step")
    _explorer_axes(fig, land, n_steps, decades=(-5, 1), dtick=1)
    title = f"B = {batch_size}, η = {lr:g}: {verdict}"
    narrow = frame(fig, title, height=640, narrow_height=720,
                   margin=dict(l=60, r=20, b=50))
    return describe(
        fig, f"Minibatch SGD on the {land.label}, with batch size "
             f"{batch_size} and learning rate η = {lr:g}: each gradient "
             f"carries noise of standard deviation {sigma:.3g} per "
             f"coordinate ({noise:g}/√{batch_size}). Top: the path over "
             f"the contours from ({land.start[0]:g}, {land.start[1]:g}). "
             f"Bottom: the loss above the minimum against the step; {said}.",
        narrow={"layout": narrow})


def gradient_noise_vs_batch(batch_size: int, batch_sizes, measured,
                            total_variance: float,
                            n_examples: int) -> go.Figure:
    """The mean squared error of a minibatch gradient against the batch
    size, on log-log axes: measured (``measured[k]`` for
    ``batch_sizes[k]``), the theory ``total_variance / B`` for batches
    drawn with replacement and ``total_variance / B * (N - B) / (N - 1)``
    without; ``batch_size`` is marked.

    Used in: book/optimizers.md
    """
    Bs = np.asarray(batch_sizes, float)
    measured = np.asarray(measured, float)
    grid = np.geomspace(Bs.min(), Bs.max(), 60)
    N = n_examples
    fig = go.Figure([
        go.Scatter(x=grid, y=total_variance / grid, mode="lines",
                   name="tr Σ / B (with replacement)",
                   line=dict(color="#7f7f7f", dash="dot")),
        go.Scatter(x=grid, y=total_variance / grid * (N - grid) / (N - 1),
                   mode="lines", name="tr Σ / B · (N − B)/(N − 1)",
                   line=dict(color="black")),
        go.Scatter(x=Bs, y=measured, mode="markers", name="measured",
                   marker=dict(color="#d62728", size=9)),
    ])
    k = int(np.argmin(np.abs(Bs - batch_size)))
    theory = total_variance / Bs[k] * (N - Bs[k]) / (N - 1)
    fig.add_trace(go.Scatter(
        x=[Bs[k]], y=[measured[k]], mode="markers", showlegend=False,
        name="chosen B", marker=dict(color="rgba(0,0,0,0)", size=18,
                                     line=dict(color="black", width=2))))
    fig.update_xaxes(type="log", title_text="batch size B",
                     exponentformat="power")
    fig.update_yaxes(type="log", title_text="E‖g<sub>ℬ</sub> − ∇L‖²",
                     exponentformat="power")
    title = (f"B = {Bs[k]:g}: measured {measured[k]:.3g}, theory "
             f"{theory:.3g} (ratio {measured[k] / theory:.2f})")
    narrow = frame(fig, title, height=440)
    return describe(
        fig, f"The mean squared error of the minibatch gradient of a "
             f"loss over N = {N} examples against the batch size B, "
             f"from {Bs.min():g} to {Bs.max():g}, on log-log axes: the "
             "measured points follow the line tr Σ / B · (N − B)/(N − 1), "
             f"with tr Σ = {total_variance:.3g}. At B = {Bs[k]:g}: "
             f"measured {measured[k]:.3g}, theory {theory:.3g}.",
        narrow={"layout": narrow})


# ------------------------------------------------------------- schedules

#: The schedules of :func:`lr_schedules`, label -> rate at step t for a
#: peak rate lr and n_steps steps.
SCHEDULES = {
    "constant": lambda t, lr, n: lr,
    "step decay": lambda t, lr, n: optim.step_lr(
        t, lr=lr, step_size=n // 3, gamma=0.1),
    "cosine": lambda t, lr, n: optim.cosine_annealing_lr(t, lr=lr,
                                                         T_max=n),
    "warm-up": lambda t, lr, n: optim.linear_lr(
        t, lr=lr, start_factor=0.1, total_iters=n // 10),
    "warm-up + cosine": lambda t, lr, n: optim.warmup_cosine_lr(
        t, lr=lr, warmup_iters=n // 10, T_max=n - n // 10,
        start_factor=0.1),
}
_SCHEDULE_COLORS = ("#7f7f7f", "#ff7f0e", "#2ca02c", "#9467bd", "#d62728")


@functools.cache
def schedule_runs(lr: float = 0.5, noise: float = 0.5, n_steps: int = 300,
                  n_runs: int = 40, seed: int = 0):
    """``{label: (rates (n_steps,), mean loss (n_steps + 1,))}``: SGD on
    the bowl (condition 10) with gradient noise ``noise``, for each
    schedule of :data:`SCHEDULES`, the loss averaged over ``n_runs`` runs
    (the same noise for every schedule).

    Used in: book/optimizers.md
    """
    out = {}
    for label, schedule in SCHEDULES.items():
        rates = np.array([schedule(t, lr, n_steps) for t in range(n_steps)])
        _, loss = _noisy_sgd(rates, noise, n_steps, n_runs=n_runs,
                             seed=seed)
        out[label] = (rates, loss.mean(axis=0))
    return out


def lr_schedules(noise: float = 0.5, lr: float = 0.5,
                 n_steps: int = 300) -> go.Figure:
    """Learning-rate schedules and what they do to noisy SGD on the bowl.

    Left: the learning rate against the step for every schedule of
    :data:`SCHEDULES`. Right: the loss above the minimum of SGD with each,
    on the bowl with gradient noise of standard deviation ``noise``,
    averaged over 40 runs (:func:`schedule_runs`), with the constant
    rate's noise floor (dashed). Every second step is drawn (the page
    stays light).

    Used in: book/optimizers.md
    """
    runs = schedule_runs(lr, noise, n_steps)
    floor = optim.sgd_noise_floor(lr, [1.0, 0.1], noise)
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.14)
    for (label, (rates, loss)), color in zip(runs.items(),
                                             _SCHEDULE_COLORS):
        # warm-up ends at the constant rate: dashed, the constant shows
        style = dict(color=color, width=2,
                     dash="dash" if label == "warm-up" else "solid")
        fig.add_trace(go.Scatter(
            x0=0, dx=2, y=rates[::2], mode="lines", name=label,
            legendgroup=label, line=style), 1, 1)
        fig.add_trace(go.Scatter(
            x0=0, dx=2, y=loss[::2], mode="lines", name=label,
            legendgroup=label, showlegend=False, line=style), 1, 2)
    fig.add_trace(go.Scatter(
        x=[0, n_steps], y=[floor, floor], mode="lines",
        name="noise floor of the constant rate",
        line=dict(color="black", dash="dash", width=1)), 1, 2)
    fig.update_xaxes(title_text="step t", row=1, col=1)
    fig.update_yaxes(title_text="learning rate ηₜ", row=1, col=1)
    fig.update_xaxes(title_text="step t", row=1, col=2)
    fig.update_yaxes(title_text="mean L − L* (40 runs)", type="log",
                     range=[-3.5, 0.5], exponentformat="power", row=1,
                     col=2, dtick=1)  # decades only: no 2 and 5 to crowd
    end = {label: float(loss[-20:].mean()) for label, (_, loss)
           in runs.items()}
    best = min(end, key=end.get)
    title = (f"noise σ = {noise:g}, mean L − L* over the last 20 steps: "
             f"constant {end['constant']:.2g} (floor {floor:.2g}), {best} "
             f"{end[best]:.2g}")
    narrow = two_panels(fig, title, height=460, gap=70, titles=False)
    ends = ", ".join(f"{label} {value:.3g}" for label, value in end.items())
    return describe(
        fig, f"Five learning-rate schedules with peak η = {lr:g} over "
             f"{n_steps} steps (left: the rate against the step) and the "
             "loss of SGD with each on the quadratic bowl with gradient "
             f"noise of standard deviation {noise:g}, averaged over 40 runs "
             f"(right). Mean loss over the last 20 steps: {ends}; the "
             f"noise floor of the constant rate is {floor:.3g}.",
        narrow={"layout": narrow})


def _check_explorer(landscape, optimizers, shown, all_landscapes):
    """``(optimizers, visible set, landscapes with a contour)``, checked."""
    optimizers = tuple(optimizers)
    if not 1 <= len(optimizers) <= 4:
        raise ValueError(f"optimizers must name 1 to 4 optimizers, got "
                         f"{len(optimizers)}")
    visible = set(optimizers if shown is None else shown)
    if not visible or not visible <= set(optimizers):
        raise ValueError(f"shown must be a non-empty subset of optimizers "
                         f"{optimizers}, got {shown!r}")
    contours = tuple(all_landscapes or (landscape,))
    if landscape not in contours:
        raise ValueError(f"landscape {landscape!r} must be one of "
                         f"all_landscapes {contours}")
    return optimizers, visible, contours
