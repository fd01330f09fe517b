"""Every figure function of ``calc_nn.plots`` in a few settings, and every
explorer of the chapters with its controls' values: the table that
``test_figures.py`` (descriptions, narrow geometry) and
``test_figure_layout.py`` (the drawing, in Chromium) run over."""

from __future__ import annotations

import functools
import inspect
import re
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from calc_nn import optim
from calc_nn.autograd import Value
from calc_nn.mlp import MLP, make_moons
from calc_nn.plots import activation_figures as act_plots
from calc_nn.plots import backprop_figures as bp_plots
from calc_nn.plots import calculus_figures as calc_plots
from calc_nn.plots import cnn_figures as conv_plots
from calc_nn.plots import deep_figures as deep_plots
from calc_nn.plots import digits_figures as digit_plots
from calc_nn.plots import forward_figures as fwd_plots
from calc_nn.plots import loss_figures as loss_plots
from calc_nn.plots import optimizer_figures as opt_plots
from calc_nn.train import fit_calc_nn

REPO = Path(__file__).resolve().parents[1]
MODULES = (act_plots, bp_plots, calc_plots, conv_plots, deep_plots,
           digit_plots, fwd_plots, loss_plots, opt_plots)


def figure_functions() -> dict[str, object]:
    """Public functions of the plot modules that return a figure."""
    out = {}
    for module in MODULES:
        for name in module.__all__:
            fn = getattr(module, name)
            if inspect.isfunction(fn) and "Figure" in str(
                    inspect.signature(fn).return_annotation):
                out[name] = fn
    # image_grid and friends are annotated loosely
    for name in ("image_grid", "digit_grid"):
        out[name] = getattr(digit_plots, name)
    return out


def neuron_loss():
    """The chapter's neuron (book/backprop.md)."""
    x1, w1 = Value(2.0, label="x₁"), Value(-3.0, label="w₁")
    x2, w2 = Value(0.0, label="x₂"), Value(1.0, label="w₂")
    b = Value(6.88, label="b")
    a = (x1 * w1 + x2 * w2 + b).tanh()
    a.label = "a"
    loss = (a - Value(1.0, label="y")) ** 2
    loss.label = "L"
    return loss


@functools.cache
def moons():
    """The chapter's training run (book/backprop.md): history, X, y."""
    X, y = make_moons(200, noise=0.15, seed=0)
    history = fit_calc_nn(
        MLP([2, 16, 16, 2], "tanh", seed=0), X, y, epochs=300,
        batch_size=None, step=optim.gd_step, lr=0.5, snapshot_every=20,
        show=False)["snapshots"]
    return history, X, y


IMAGES = conv_plots._patterns()


def history(n=5, seed=0):
    rng = np.random.default_rng(seed)
    return dict(epoch=list(range(1, n + 1)),
                loss=list(np.sort(rng.random(n))[::-1] + 0.1),
                val_loss=list(0.5 + 0.05 * (np.arange(n) - 2.0) ** 2),
                val_accuracy=list(0.9 + 0.01 * np.arange(n)))


def curvature_runs():
    """Per-step losses of gradient descent at four multiples of 2/λ_max
    (book/digits.md)."""
    steps = np.arange(20)
    return {r: list(2.3 * np.exp(-0.1 * r * steps)
                    * (1 + 0.2 * (r > 1) * np.cos(np.pi * steps)))
            for r in (0.5, 1.0, 2.0, 4.0)}


def _digits():
    rng = np.random.default_rng(0)
    return rng.random((16, 28, 28)), rng.integers(0, 10, 16)


def _confusion():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 10, 2000)
    wrong = rng.random(2000) < 0.05
    return y, np.where(wrong, (y + 1 + rng.integers(0, 9, 2000)) % 10, y)


def _gradient_noise():
    """Batch sizes, mean squared errors near tr(Sigma)/B (N-B)/(N-1) with
    tr(Sigma) = 13 and N = 10000, tr(Sigma) and N."""
    sizes = np.array([1, 4, 16, 64, 256, 1024, 4096])
    noise = 1 + 0.05 * np.random.default_rng(0).standard_normal(7)
    return sizes, noise * 13 / sizes * (10000 - sizes) / 9999, 13.0, 10000


#: name -> (figure function name, a call drawing it)
CASES = {
    "tangent": ("tangent_line", lambda: calc_plots.tangent_line(1.0, 0.4)),
    "tangent_far": ("tangent_line",
                    lambda: calc_plots.tangent_line(-1.5, 0.05)),
    "directional": ("directional_derivative",
                    lambda: calc_plots.directional_derivative(90)),
    "taylor": ("taylor_approximations",
               lambda: calc_plots.taylor_approximations(-1.5)),
    "differences": ("difference_errors",
                    lambda: calc_plots.difference_errors("sigmoid")),
    "deep": ("depth_explorer",
             lambda: deep_plots.depth_explorer(50, "pytorch", "plain")),
    "deep_residual": ("depth_explorer", lambda: deep_plots.depth_explorer(
        20, "he", "residual_batchnorm")),
    "clipping": ("clipping_runs", lambda: deep_plots.clipping_runs()),
    "sigmoid": ("function_and_derivative",
                lambda: act_plots.function_and_derivative("sigmoid")),
    "relu": ("function_and_derivative",
             lambda: act_plots.function_and_derivative("relu")),
    "leaky": ("function_and_derivative",
              lambda: act_plots.function_and_derivative("leaky_relu")),
    "depth": ("gradient_through_depth",
              lambda: act_plots.gradient_through_depth(30, 6.0)),
    "dead": ("dead_relu", lambda: act_plots.dead_relu(-1.0)),
    "slope": ("leaky_relu_slope", lambda: act_plots.leaky_relu_slope(0.2)),
    "softmax": ("softmax_temperature",
                lambda: act_plots.softmax_temperature(0.5)),
    "network": ("network_activations",
                lambda: fwd_plots.network_activations(1.0, -0.5, "relu")),
    "graph": ("computational_graph",
              lambda: bp_plots.computational_graph(neuron_loss, 3)),
    "cost": ("cost_of_gradients", lambda: bp_plots.cost_of_gradients(
        [20, 50, 150, 450, 1500], [1e-4, 1.1e-4, 1.2e-4, 1.5e-4, 2e-4],
        [2e-3, 5e-3, 1.5e-2, 5e-2, 0.2])),
    "norms": ("gradient_norms_by_layer",
              lambda: bp_plots.gradient_norms_by_layer("relu", 10)),
    "snapshot": ("training_snapshot",
                 lambda: bp_plots.training_snapshot(*moons(), 5)),
    "focal": ("loss_vs_probability",
              lambda: loss_plots.loss_vs_probability(2.0)),
    "mse_ce": ("sigmoid_mse_vs_ce",
               lambda: loss_plots.sigmoid_mse_vs_ce(-6.0)),
    "imbalance": ("class_imbalance",
                  lambda: loss_plots.class_imbalance(20.0, 0.0)),
    "bowl": ("optimizer_explorer", lambda: opt_plots.optimizer_explorer(
        "quadratic", 2.1, 0.5, n_steps=80)),
    "rosenbrock": ("explorer_figure", lambda: opt_plots.explorer_figure(
        "rosenbrock", 5e-3, 0.9)),
    "saddle": ("explorer_figure", lambda: opt_plots.explorer_figure(
        "saddle", 0.01, 0.9, n_steps=80, noise=0.3,
        all_landscapes=("himmelblau", "saddle"))),
    "gd_rate": ("gd_rate", lambda: opt_plots.gd_rate(2.05)),
    "bias": ("bias_correction", lambda: opt_plots.bias_correction(0.9)),
    "momentum_region": ("momentum_region",
                        lambda: opt_plots.momentum_region(3.0, 0.5)),
    "minibatch": ("minibatch_sgd", lambda: opt_plots.minibatch_sgd(16, 0.5)),
    "minibatch_diverged": ("minibatch_sgd",
                           lambda: opt_plots.minibatch_sgd(4, 2.1)),
    "gradient_noise": ("gradient_noise_vs_batch",
                       lambda: opt_plots.gradient_noise_vs_batch(
                           64, *_gradient_noise())),
    "schedules": ("lr_schedules", lambda: opt_plots.lr_schedules(1.0)),
    "conv": ("conv_forward", lambda: conv_plots.conv_forward(
        "ring", "sobel_x", 1, 1, images=IMAGES)),
    "conv_blur": ("conv_forward", lambda: conv_plots.conv_forward(
        "square", "blur", 2, 0, images=IMAGES)),
    "conv_back": ("conv_backward", lambda: conv_plots.conv_backward(
        "ring", 8, 13, images=IMAGES)),
    "conv_back_ones": ("conv_backward", lambda: conv_plots.conv_backward(
        "ring", 8, 13, kernel="blur", images=IMAGES, pattern="ones")),
    "pooling": ("pooling_gradients",
                lambda: conv_plots.pooling_gradients("max")),
    "equivariance": ("translation_equivariance",
                     lambda: conv_plots.translation_equivariance(
                         "ring", 4, -2, images=IMAGES)),
    "receptive_field": ("receptive_field_map",
                        lambda: conv_plots.receptive_field_map(3, 5, 2)),
    "digits": ("digit_grid", lambda: digit_plots.digit_grid(*_digits())),
    "maps": ("image_grid", lambda: digit_plots.image_grid(
        np.random.default_rng(0).random((9, 28, 28)),
        ["input"] + [f"conv1 map {f}" for f in range(8)], cols=9,
        height_per_row=120, title="A 7 and its first-layer feature maps")),
    "filters": ("image_grid", lambda: digit_plots.image_grid(
        np.random.default_rng(0).standard_normal((16, 3, 3)),
        [f"torch {f}" for f in range(8)]
        + [f"calc_nn {f}" for f in range(8)], cols=8, zmid=0.0,
        title="First-layer filters after training (3×3, red > 0 > blue)")),
    "curves": ("learning_curves", lambda: digit_plots.learning_curves({
        "PyTorch, SGD": history(), "PyTorch, Adam": history(seed=1),
        "calc_nn, Adam": history(seed=2)})),
    "ablation": ("learning_curves", lambda: digit_plots.learning_curves({
        name: history(15, seed) for seed, name in enumerate(
            ("none", "weight decay", "dropout", "cosine schedule",
             "batch norm"))}, title="500 training digits, 15 epochs: one "
        "regulariser at a time", right="val_loss")),
    "steps": ("step_losses", lambda: digit_plots.step_losses(
        {"calc_nn, Adam": history(20)["loss"],
         "PyTorch, Adam": history(20)["loss"],
         "PyTorch, SGD": history(20, seed=3)["loss"]},
        title="The MLP: training loss of every mini-batch")),
    "curvature": ("lr_vs_curvature", lambda: digit_plots.lr_vs_curvature(
        curvature_runs(), 4.0, 13.9)),
    "confusion": ("confusion_matrix", lambda: digit_plots.confusion_matrix(
        *_confusion(), "calc_nn MLP, validation")),
    "mistake": ("mistake", lambda: digit_plots.mistake(
        _digits()[0][0], 7, np.eye(10)[2] * 0.6 + 0.04, 0)),
}


#: Every explorer of the chapters: chapter, the figure function it draws,
#: a figure of the controls' values, and those values (from book/*.md).
EXPLORERS = [
    ("calculus", "tangent_line", calc_plots.tangent_line,
     {"x0": [-1.5, 0.0, 1.0, 1.5], "h": [0.8, 0.1, 0.05]}),
    ("calculus", "directional_derivative", calc_plots.directional_derivative,
     {"angle": [0, 90, 240, 345]}),
    ("calculus", "taylor_approximations", calc_plots.taylor_approximations,
     {"x0": [-1.5, -0.5, 0.0, 1.5]}),
    ("calculus", "difference_errors", calc_plots.difference_errors,
     {"name": list(calc_plots.DIFFERENCE_LABELS)}),
    ("deep", "depth_explorer", deep_plots.depth_explorer,
     {"depth": [5, 50], "init": ["pytorch", "xavier", "he"],
      "arch": ["plain", "batchnorm", "residual", "residual_batchnorm"]}),
    ("activations", "function_and_derivative",
     act_plots.function_and_derivative,
     {"name": ["sigmoid", "tanh", "relu", "leaky_relu"]}),
    ("activations", "gradient_through_depth",
     act_plots.gradient_through_depth,
     {"depth": [1, 10, 30], "w": [0.5, 1.0, 2.0, 4.0, 6.0]}),
    ("activations", "dead_relu", act_plots.dead_relu,
     {"bias": [-6.0, -1.0, 0.0, 2.0]}),
    ("activations", "leaky_relu_slope", act_plots.leaky_relu_slope,
     {"alpha": [0.0, 0.01, 0.1, 1.0]}),
    ("activations", "softmax_temperature", act_plots.softmax_temperature,
     {"temperature": [0.1, 1.0, 10.0]}),
    ("forward", "network_activations", fwd_plots.network_activations,
     {"x1": [-2.0, 1.0], "x2": [-0.5, 2.0],
      "activation": ["tanh", "relu", "sigmoid"]}),
    ("backprop", "computational_graph",
     lambda step: bp_plots.computational_graph(neuron_loss, step),
     {"step": list(range(bp_plots.n_backward_steps(neuron_loss) + 1))}),
    ("backprop", "gradient_norms_by_layer",
     bp_plots.gradient_norms_by_layer,
     {"activation": ["sigmoid", "tanh", "relu"], "depth": [5, 10]}),
    ("backprop", "training_snapshot",
     lambda epoch: bp_plots.training_snapshot(*moons(), epoch // 20),
     {"epoch": [0, 100, 300]}),
    ("losses", "sigmoid_mse_vs_ce", loss_plots.sigmoid_mse_vs_ce,
     {"z0": [-8.0, -6.0, 0.0, 2.0]}),
    ("losses", "loss_vs_probability", loss_plots.loss_vs_probability,
     {"gamma": [0.0, 2.0, 5.0]}),
    ("losses", "class_imbalance", loss_plots.class_imbalance,
     {"weight": [1.0, 20.0], "gamma": [0.0, 2.0]}),
    ("optimizers", "gd_rate", opt_plots.gd_rate,
     {"lr": [0.1, 1.0, 2.0, 2.05, 2.5]}),
    ("optimizers", "bias_correction", opt_plots.bias_correction,
     {"beta1": [0.0, 0.5, 0.9, 0.99]}),
    ("optimizers", "momentum_region", opt_plots.momentum_region,
     {"lr": [0.1, 1.0, 2.31, 3.0, 3.5], "momentum": [0.0, 0.27, 0.5, 0.9]}),
    ("optimizers", "minibatch_sgd", opt_plots.minibatch_sgd,
     {"batch_size": [1, 4, 16, 64, 256], "lr": [0.05, 0.5, 1.5, 2.1]}),
    ("optimizers", "gradient_noise_vs_batch",
     lambda batch_size: opt_plots.gradient_noise_vs_batch(
         batch_size, *_gradient_noise()),
     {"batch_size": [1, 16, 256, 4096]}),
    ("optimizers", "lr_schedules", opt_plots.lr_schedules,
     {"noise": [0.25, 0.5, 1.0]}),
    ("optimizers", "explorer_figure",
     lambda lr, momentum: opt_plots.explorer_figure(
         "quadratic", lr, momentum, n_steps=80),
     {"lr": [0.3, 1.9, 2.1, 3.0], "momentum": [0.0, 0.5, 0.9]}),
    ("optimizers", "explorer_figure",
     lambda landscape, lr: opt_plots.explorer_figure(
         landscape.split("+")[0], lr, 0.9, n_steps=80,
         noise=0.3 if landscape.endswith("+noise") else 0.0,
         all_landscapes=("himmelblau", "saddle")),
     {"landscape": ["himmelblau", "saddle", "saddle+noise"],
      "lr": [0.001, 0.3]}),
    ("cnn", "conv_forward",
     lambda image, kernel, stride, padding: conv_plots.conv_forward(
         image, kernel, stride, padding, images=IMAGES),
     {"image": list(IMAGES), "kernel": list(conv_plots.KERNELS),
      "stride": [1, 2], "padding": [0, 1]}),
    ("cnn", "conv_backward",
     lambda image, row, col, pattern="one": conv_plots.conv_backward(
         image, row, col, images=IMAGES, pattern=pattern),
     {"image": list(IMAGES), "row": [3, 13], "col": [8, 13],
      "pattern": list(conv_plots.PATTERNS)}),
    ("cnn", "pooling_gradients", conv_plots.pooling_gradients,
     {"kind": ["max", "avg"]}),
    ("cnn", "translation_equivariance",
     lambda down, right: conv_plots.translation_equivariance(
         "square", down, right, images=IMAGES),
     {"down": [-4, 0, 2, 4], "right": [-4, -2, 0, 4]}),
    ("cnn", "receptive_field_map", conv_plots.receptive_field_map,
     {"layers": [1, 2, 3], "kernel": [2, 3, 5], "stride": [1, 2]}),
    ("digits", "lr_vs_curvature",
     lambda ratio: digit_plots.lr_vs_curvature(curvature_runs(), ratio,
                                               13.9),
     {"ratio": [0.5, 1.0, 2.0, 4.0]}),
    ("digits", "mistake",
     lambda rank: digit_plots.mistake(
         _digits()[0][rank], rank, np.roll(np.eye(10)[0] * 0.7 + 0.03,
                                           rank + 1), rank),
     {"rank": [0, 1, 2]}),
]


def explored_in_chapters() -> set[str]:
    """Names of the figure functions the chapters pass to ``explore``."""
    figures = set(figure_functions())
    names = set()
    for page in sorted((REPO / "book").glob("*.md")):
        text = page.read_text()
        for match in re.finditer(r"\bexplore\(", text):
            call = text[match.end():match.end() + 400]
            # any module alias (plots., figs., conv_plots., ...)
            names |= set(re.findall(r"\b[a-z_]+\.([a-z_]+)", call))
    return names & figures


def apply_narrow(fig: go.Figure) -> go.Figure:
    """A copy of ``fig`` with its narrow patch applied as the site does:
    ``Plotly.restyle`` of each trace, then ``Plotly.relayout``."""
    small = go.Figure(fig)
    patch = fig.layout.meta["narrow"]
    for index, update in patch.get("traces", {}).items():
        small.plotly_restyle(update, trace_indexes=[int(index)])
    small.plotly_relayout(patch.get("layout", {}))
    return small
