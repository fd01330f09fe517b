"""Every figure of ``calc_nn.plots`` says what it shows and fits a phone.

* Its text alternative (``layout.meta["description"]``) states the numbers
  the figure draws: each is recomputed here independently (PyTorch,
  closed forms, calc_nn's maths) and found in the text.
* The description of every explorer of the chapters changes with each of
  its controls, and a setting that diverges says so in the title and in
  the description.
* Its narrow layout (``layout.meta["narrow"]``, applied as the site does)
  is geometry that holds at :data:`PHONE_PX`: panels that do not overlap
  and are tall enough, room between stacked panels, panel titles on their
  panels, a header whose title, legend and panel titles follow each other,
  lines that fit the width, cell numbers that fit their cells. The wide
  layout is checked the same way at :data:`NARROW_PX`.

``test_figure_layout.py`` draws the same figures in Chromium and measures.
"""

from __future__ import annotations

import collections
import html
import math
import re

import figure_cases as fc
import numpy as np
import pytest
import torch
import torch.nn.functional as tF

from calc_nn.mlp import MLP
from calc_nn.plots import _style
from calc_nn.plots import activation_figures as act_plots
from calc_nn.plots import backprop_figures as bp_plots
from calc_nn.plots import cnn_figures as conv_plots
from calc_nn.plots import digits_figures as digit_plots
from calc_nn.plots import forward_figures as fwd_plots
from calc_nn.plots import loss_figures as loss_plots
from calc_nn.plots import optimizer_figures as opt_plots
from calc_nn.plots._style import NARROW_PX, PHONE_PX, text_px, title_y
from calc_nn.widgets import Choice, Slider, explore

_NUMBER = re.compile(r"[-−]?\d+(?:\.\d+)?(?:e[+-]?\d+)?%?")


def _numbers(text: str) -> list[float]:
    out = []
    for token in _NUMBER.findall(text):
        value = float(token.rstrip("%").replace("−", "-"))
        out.append(value / 100 if token.endswith("%") else value)
    return out


def mentions(text: str, value: float, digits: int = 3) -> bool:
    """Whether ``text`` states ``value`` to ``digits`` significant digits
    (half a unit of the last digit, and a little for the rounding)."""
    if value == 0:
        return any(v == 0 for v in _numbers(text))
    unit = 10.0 ** (math.floor(math.log10(abs(value))) - digits + 1)
    return any(abs(v - value) <= 0.51 * unit for v in _numbers(text))


def _description(fig) -> str:
    return fig.layout.meta["description"]


# ------------------------------------------------------------ coverage

def test_every_figure_function_has_a_case():
    assert set(fc.figure_functions()) <= {f for f, _ in fc.CASES.values()}


def test_every_explorer_of_the_chapters_is_in_the_table():
    explored = fc.explored_in_chapters()
    assert len(explored) >= 15  # the parser finds the chapters' explorers
    assert explored <= {name for _, name, _, _ in fc.EXPLORERS}


@pytest.mark.parametrize("case", fc.CASES)
def test_every_figure_has_a_description_and_a_narrow_layout(case):
    fig = fc.CASES[case][1]()
    text = _description(fig)
    assert isinstance(text, str) and len(text) > 60, text
    assert not re.search(r"\bnan\b|\bNone\b|\binf\b", text), text
    narrow = fig.layout.meta["narrow"]
    assert narrow["layout"]["height"] >= 300
    fc.apply_narrow(fig)  # plotly.py checks every key and value


@pytest.mark.parametrize("case", fc.CASES)
def test_every_title_is_placed_by_the_shared_header(case):
    """Titles start at the container's left edge, below the modebar's row
    (``_style.title_y``), in both layouts: a figure that places its title
    by hand (the calculus figures did, 41 px in on a phone, with a gap
    above their legend) drifts from the others and from the modebar
    rule."""
    fig = fc.CASES[case][1]()
    for layout in (fig.layout, fc.apply_narrow(fig).layout):
        title = layout.title
        assert (title.xref, title.x, title.yref) == ("container", 0,
                                                     "container")
        assert title.y == title_y(title.font.size, layout.height)


# ------------------------------------------------------------ the numbers

@pytest.mark.parametrize("name, alpha", [("sigmoid", 0.1), ("tanh", 0.1),
                                         ("relu", 0.1),
                                         ("leaky_relu", 0.1),
                                         ("leaky_relu", 0.3)])
def test_activation_description_states_its_derivative(name, alpha):
    text = _description(act_plots.function_and_derivative(name, alpha))
    x = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64,
                     requires_grad=True)
    f = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu,
         "leaky_relu": lambda v: tF.leaky_relu(v, alpha)}[name]
    f(x).sum().backward()
    left, at0, right = x.grad.tolist()
    if name in ("relu", "leaky_relu"):
        assert f"jumps from {left:g} to {right:g}" in text, text
        assert ("[0, ∞)" if name == "relu" else "(-∞, ∞)") in text
        if name == "leaky_relu":    # the slope drawn, not the table's 0.01
            assert text.startswith(f"Leaky ReLU (α = {alpha:g}) and its")
    else:
        assert f"peaks at x = 0 with {at0:.3g}" in text, text
        assert ("(0, 1)" if name == "sigmoid" else "(-1, 1)") in text


def _chain_gradient_torch(name, depth, w, x0, alpha=0.1):
    f = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu,
         "leaky_relu": lambda v: tF.leaky_relu(v, alpha)}[name]
    a0 = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    a = a0
    for _ in range(depth):
        a = f(w * a)
    a.backward()
    return abs(a0.grad.item())


@pytest.mark.parametrize("depth, w", [(10, 1.0), (30, 6.0), (5, 0.5)])
def test_depth_description_states_each_gradient(depth, w):
    fig = act_plots.gradient_through_depth(depth, w)
    text = _description(fig)
    for name in ("sigmoid", "tanh", "relu", "leaky_relu"):
        g = _chain_gradient_torch(name, depth, w, 0.5)
        verdict = "vanished" if g < 1e-6 else "exploded" if g > 1e6 else "ok"
        label = act_plots.LABELS[name]
        said = re.search(re.escape(label) + r" (\S+) \((\w+)\)", text)
        assert said, (label, text)
        assert mentions(said.group(1), g, 2), (label, g, said.group(0))
        assert said.group(2) == verdict
        assert said.group(0) in fig.layout.title.text.replace("<br>", " ")


@pytest.mark.parametrize("bias", [-6.0, -1.0, 0.5])
def test_dead_relu_description_counts_the_inputs(bias):
    z = np.random.default_rng(0).standard_normal(2000) + bias
    text = _description(act_plots.dead_relu(bias))
    alive = int(np.count_nonzero(z > 0))
    assert f"{alive} of them" in text and f"{2000 - alive} have" in text
    assert ("neuron is dead" in text) == (alive == 0)


@pytest.mark.parametrize("alpha", [0.0, 0.05, 0.3])
def test_leaky_slope_description_states_the_slope(alpha):
    x = torch.tensor([-2.0, 2.0], dtype=torch.float64, requires_grad=True)
    tF.leaky_relu(x, alpha).sum().backward()
    fig = act_plots.leaky_relu_slope(alpha)
    text, title = _description(fig), fig.layout.title.text
    assert f"{x.grad[1].item():g} for x > 0" in text
    if alpha == 0:   # ReLU itself: nothing "still passes 0 × the gradient"
        assert "Leaky ReLU is ReLU: a negative input passes no gradient" \
            in text and "passes no gradient" in title
        assert "× the gradient" not in text + title
    else:
        assert f"passes {x.grad[0].item():g} × the gradient" in text
        assert f"still passes {x.grad[0].item():g} × the gradient" in title


@pytest.mark.parametrize("temperature", [0.1, 1.0, 4.0])
def test_softmax_description_states_the_probabilities(temperature):
    logits = torch.tensor([2.0, 1.0, 0.1, -1.0], dtype=torch.float64)
    p = torch.softmax(logits / temperature, 0).numpy()
    text = _description(act_plots.softmax_temperature(temperature))
    assert ", ".join(f"{v:.3f}" for v in p) in text
    # classes count from 1, as p_1, ..., p_K in the chapter
    assert f"class {int(np.argmax(p)) + 1} has the largest" in text
    fig = act_plots.softmax_temperature(temperature)
    assert list(fig.data[0].x) == ["class 1", "class 2", "class 3",
                                   "class 4"]


@pytest.mark.parametrize("x1, x2, activation", [(1.0, -0.5, "tanh"),
                                                (-2.0, 2.0, "relu")])
def test_network_description_states_the_forward_pass(x1, x2, activation):
    model = MLP([2, 4, 3, 2], activation, seed=3)
    a = torch.tensor([x1, x2], dtype=torch.float64)
    f = {"tanh": torch.tanh, "relu": torch.relu}[activation]
    for l, (W, b) in enumerate(zip(model.weights, model.biases)):
        z = torch.tensor(W) @ a + torch.tensor(b)
        a = z if l == len(model.weights) - 1 else f(z)
    p = torch.softmax(a, 0).numpy()
    text = _description(fwd_plots.network_activations(x1, x2, activation))
    said = re.search(r"softmax probabilities ([-\d., ]+): predicted class "
                     r"(\d)", text)
    assert said, text
    np.testing.assert_allclose(_numbers(said.group(1)), p, atol=0.0051)
    assert int(said.group(2)) == int(np.argmax(p)) + 1  # counted from 1


def _neuron_grads_torch():
    t = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
         for k, v in dict(x1=2.0, w1=-3.0, x2=0.0, w2=1.0, b=6.88).items()}
    a = torch.tanh(t["x1"] * t["w1"] + t["x2"] * t["w2"] + t["b"])
    a.retain_grad()
    loss = (a - 1.0) ** 2
    loss.backward()
    return {"x₁": t["x1"].grad.item(), "w₁": t["w1"].grad.item(),
            "x₂": t["x2"].grad.item(), "w₂": t["w2"].grad.item(),
            "b": t["b"].grad.item(), "a = tanh": a.grad.item()}


def test_graph_description_states_the_gradients_so_far():
    n = bp_plots.n_backward_steps(fc.neuron_loss)
    first = _description(bp_plots.computational_graph(fc.neuron_loss, 0))
    assert "Gradients so far: L = (·)²: 1." in first
    assert "x₁:" not in first
    last = _description(bp_plots.computational_graph(fc.neuron_loss, n))
    for label, grad in _neuron_grads_torch().items():
        said = re.search(re.escape(label) + r": (\S+?)[,.](?:\s|$)", last)
        assert said and mentions(said.group(1), grad, 3), (label, grad, last)


def test_graph_prints_no_caret_and_names_the_gradient_as_the_text():
    """A power node reads "(·)²", not the "^2" plotly prints as typed, in
    the boxes, the title and the description of every step; step 0 names
    the output's gradient ∂L/∂L, the chapter's ∂L/∂v."""
    n = bp_plots.n_backward_steps(fc.neuron_loss)
    for step in range(n + 1):
        fig = bp_plots.computational_graph(fc.neuron_loss, step)
        words = [fig.layout.title.text, _description(fig),
                 *fig.data[2].text]
        assert not any("^" in w for w in words), words
        assert any(t.startswith("<b>L = (·)²</b>")
                   for t in fig.data[2].text)
    first = bp_plots.computational_graph(fc.neuron_loss, 0)
    assert first.layout.title.text.endswith("∂L/∂L = 1")


def test_cost_description_states_the_ratios():
    n, bp, fd = [10, 100, 1000], [1e-4, 2e-4, 4e-4], [3e-3, 6e-2, 1.2]
    text = _description(bp_plots.cost_of_gradients(n, bp, fd))
    assert "30 to 3000 times longer" in text
    assert "for 3 networks of 10 to 1000 parameters" in text


def _grad_norm_ratio_torch(activation, init, depth, width=64, n=64):
    """‖dC/dW¹‖ / ‖dC/dWᴸ‖ at the weights calc_nn initialises, by
    autograd, on the figure's random data."""
    rng = np.random.default_rng(0)
    X = torch.tensor(rng.standard_normal((n, width)))
    y = torch.tensor(rng.integers(0, 10, n))
    model = MLP([width] * (depth + 1) + [10], activation, seed=0, init=init)
    Ws = [torch.tensor(W, requires_grad=True) for W in model.weights]
    f = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}
    a = X
    for l, (W, b) in enumerate(zip(Ws, model.biases)):
        z = a @ W.T + torch.tensor(b)
        a = z if l == len(Ws) - 1 else f[activation](z)
    tF.cross_entropy(a, y).backward()
    return (Ws[0].grad.norm() / Ws[-1].grad.norm()).item()


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("depth", [5, 10, 20, 30])
def test_gradient_norms_verdicts_follow_the_stated_thresholds(activation,
                                                              depth):
    """The box's word for each first-to-last ratio is the one the chapter
    states: vanishing below 1/100, shrinking below 1/2, level up to 2,
    growing up to 100, exploding beyond (a ratio of 1/376, sigmoid with He
    at 5 layers, was "level"); the number printed is on the word's side of
    the threshold."""
    from chapter_text import read

    stated = ("with a word for it: vanishing below 1/100, shrinking below "
              "1/2, level up to 2, growing up to 100, exploding beyond.")
    assert stated in " ".join(read("backprop").split())
    fig = bp_plots.gradient_norms_by_layer(activation, depth)
    said = re.findall(r"(PyTorch default|Xavier|He): (\S+) \((\w+)\)",
                      fig.layout.annotations[-1].text)
    assert len(said) == 3
    for _, number, word in said:
        ratio = float(number)
        expected = ("vanishing" if ratio < 1e-2 else "shrinking"
                    if ratio < 0.5 else "level" if ratio <= 2 else
                    "growing" if ratio <= 100 else "exploding")
        assert word == expected, (number, word)


@pytest.mark.parametrize("activation, depth", [("relu", 8), ("tanh", 5)])
def test_gradient_norms_description_states_the_ratios(activation, depth):
    text = _description(bp_plots.gradient_norms_by_layer(activation, depth))
    for init, short in (("pytorch", "PyTorch default"),
                        ("xavier", "Xavier"), ("he", "He")):
        ratio = _grad_norm_ratio_torch(activation, init, depth)
        said = re.search(re.escape(short) + r": (\S+) \((\w+)\)", text)
        assert said and mentions(said.group(1), ratio, 1), (init, ratio,
                                                             text)


def test_snapshot_description_states_loss_accuracy_and_norms():
    history, X, y = fc.moons()
    for index in (0, 5, len(history) - 1):
        snap = history[index]
        accuracy = np.mean(snap["model"](X).argmax(1) == y)
        text = _description(bp_plots.training_snapshot(history, X, y,
                                                        index))
        assert f"Epoch {snap['epoch']} of training" in text
        assert f"loss {snap['loss']:.3f}" in text
        assert f"accuracy {accuracy:.0%}" in text
        weights = {"W" + "⁰¹²³⁴⁵⁶⁷⁸⁹"[int(k[1:])]: v   # W1 -> W¹
                   for k, v in snap["grad_norms"].items()
                   if k.startswith("W")}
        assert len(weights) == 3
        for name, v in weights.items():
            said = re.search(rf"{name} (\S+?)[,.](?:\s|$)", text)
            assert said and mentions(said.group(1), v, 3)


@pytest.mark.parametrize("gamma", [0.0, 2.0, 5.0])
def test_focal_description_states_the_losses_at_09(gamma):
    z = torch.tensor([math.log(0.9), math.log(0.1)], dtype=torch.float64,
                     requires_grad=True)
    logp = torch.log_softmax(z, 0)
    focal = -(1 - logp[0].exp()) ** gamma * logp[0]
    focal.backward()
    ce = -logp[0].item()
    text = _description(loss_plots.loss_vs_probability(gamma))
    said = re.search(r"At pₜ = 0.9 the losses are (\S+), (\S+) \((\S+) × "
                     r"the cross-entropy\) and (\S+), the gradients (\S+), "
                     r"(\S+) and (\S+);", text)
    assert said, text
    values = [ce, focal.item(), focal.item() / ce, 0.01, 0.1,
              abs(z.grad[0].item()), 2 * 0.1 * 0.9 * 0.1]
    for got, want, digits in zip(said.groups(), values, (3, 3, 2, 3, 3, 3,
                                                         3)):
        assert mentions(got.rstrip(","), want, digits), (got, want)


@pytest.mark.parametrize("z0", [-6.0, 0.0])
def test_mse_ce_description_states_where_the_runs_end(z0):
    finals = []
    for kind in ("mse", "ce"):
        z = torch.tensor(z0, dtype=torch.float64, requires_grad=True)
        for _ in range(60):
            p = torch.sigmoid(z)
            loss = (p - 1) ** 2 if kind == "mse" else -torch.log(p)
            (g,) = torch.autograd.grad(loss, z)
            z = (z - g).detach().requires_grad_(True)
        finals.append(torch.sigmoid(z).item())
    text = _description(loss_plots.sigmoid_mse_vs_ce(z0))
    # the largest MSE gradient, 8/27 at p = 1/3 (d/dp of 2(p-1)p(1-p))
    assert f"at most {8 / 27:.3f} (at p = 0.33)" in text
    said = re.search(r"MSE reaches p = (\S+), cross-entropy p = (\S+?)\.$",
                     text)
    assert said, text
    assert mentions(said.group(1), finals[0], 3)
    assert mentions(said.group(2), finals[1], 3)
    # the learning rate in the book's letter (notation.md: eta, `lr`)
    assert "gradient descent with η = 1," in text
    fig = loss_plots.sigmoid_mse_vs_ce(z0)
    assert fig.layout.xaxis2.title.text == "step (η = 1)"


@pytest.mark.parametrize("weight, gamma", [(1.0, 0.0), (20.0, 2.0)])
def test_imbalance_description_states_recall_and_precision(weight, gamma):
    W, b = loss_plots.train_linear_classifier(weight, gamma)
    X, y = loss_plots.imbalanced_data(n_majority=20000, seed=1)
    score = X @ (W[1] - W[0]) + (b[1] - b[0])
    pred = score > 0
    recall = np.sum(pred & (y == 1)) / np.sum(y == 1)
    precision = np.sum(pred & (y == 1)) / max(np.sum(pred), 1)
    accuracy = np.mean(pred == (y == 1))
    X0, y0 = loss_plots.imbalanced_data()
    missed = np.sum((X0 @ (W[1] - W[0]) + (b[1] - b[0]) <= 0) & (y0 == 1))
    text = _description(loss_plots.class_imbalance(weight, gamma))
    assert (f"recall {recall:.0%}, precision {precision:.0%}, accuracy "
            f"{accuracy:.1%}") in text
    assert f"misses {missed} of the 20 minority points" in text


def _bowl_torch(lr, momentum, n_steps):
    """L - L* after n_steps of torch.optim on the bowl (kappa = 10), or
    None for GD when it leaves 1e4 times its starting loss."""
    c, s = math.cos(math.pi / 6), math.sin(math.pi / 6)

    def loss_of(t):
        u, v = c * t[0] + s * t[1], -s * t[0] + c * t[1]
        return (u * u + v * v / 10) / 2

    out = {}
    for name, make in (
            ("GD", lambda p: torch.optim.SGD(p, lr=lr)),
            ("momentum", lambda p: torch.optim.SGD(p, lr=lr,
                                                   momentum=momentum)),
            ("RMSprop", lambda p: torch.optim.RMSprop(p, lr=lr)),
            ("Adam", lambda p: torch.optim.Adam(
                p, lr=lr, betas=(momentum, 0.999)))):
        theta = torch.tensor([-2.5, 1.0], dtype=torch.float64,
                             requires_grad=True)
        opt, start = make([theta]), loss_of(theta).item()
        out[name] = None
        for step in range(1, n_steps + 1):
            opt.zero_grad()
            loss_of(theta).backward()
            opt.step()
            if loss_of(theta).item() > 1e4 * max(start, 1):
                out[name] = f"diverged at step {step}"
                break
        else:
            out[name] = loss_of(theta).item()
    return out


@pytest.mark.parametrize("lr, momentum", [(2.1, 0.5), (0.3, 0.9),
                                          (3.0, 0.0)])
def test_explorer_description_states_every_run(lr, momentum):
    fig = opt_plots.optimizer_explorer("quadratic", lr, momentum,
                                       n_steps=80)
    text = _description(fig)
    title = fig.layout.title.text.replace("<br>", " ")
    assert f"η = {lr:.3g}, μ = Adam's β₁ = {momentum:g}" in title
    for label, result in _bowl_torch(lr, momentum, 80).items():
        if isinstance(result, str):  # diverged: on the plot and in words
            assert f"{label} {result}" in text and f"{label} {result}" \
                in title
            continue
        said = re.search(rf"(?:^|· |: ){label} (\S+?)(?: ·|\.$)", text)
        assert said and mentions(said.group(1), result, 2), (label, result,
                                                             text)


def test_explorer_says_which_beta1_adam_uses():
    own = opt_plots.optimizer_explorer("quadratic", 0.3, 0.5, beta1=0.9,
                                       n_steps=80)
    title = own.layout.title.text
    assert "μ = 0.5" in title and "Adam's β₁ = 0.9" in title
    assert "Adam's β₁ = 0.9" in _description(own)
    tied = opt_plots.optimizer_explorer("quadratic", 0.3, 0.5, n_steps=80)
    assert "μ = Adam's β₁ = 0.5" in tied.layout.title.text
    adam = [t for t in tied.data if t.name == "Adam"][0]
    adam_own = [t for t in own.data if t.name == "Adam"][0]
    assert not np.allclose(adam.x, adam_own.x)  # β₁ is really used
    only_sgd = opt_plots.explorer_figure("quadratic", 0.3, 0.5,
                                         lineup="GD vs momentum")
    assert "β₁" not in only_sgd.layout.title.text


@pytest.mark.parametrize("lr", [0.5, 1.0, 2.0, 2.05, 2.5])
def test_gd_rate_description_states_the_factors(lr):
    text = _description(opt_plots.gd_rate(lr))
    fast, slow = abs(1 - lr), abs(1 - lr / 10)
    assert f"multiplied by {fast:.3g}, along λₘᵢₙ = 1/10 by {slow:.3g}" \
        in text
    rate = max(fast, slow)
    verdict = ("converges" if rate < 1 else "does not converge"
               if rate == 1 else "diverges")
    assert f"so GD {verdict}" in text


@pytest.mark.parametrize("beta1", [0.5, 0.9, 0.99])
def test_bias_correction_description_states_the_half_life(beta1):
    g = 1.0 + 0.3 * np.random.default_rng(0).standard_normal(40)
    half = math.ceil(math.log(0.5) / math.log(beta1))
    fig = opt_plots.bias_correction(beta1)
    text = _description(fig)
    plural = "s" if half != 1 else ""
    assert f"reaches half after {half} step{plural}" in text
    assert f"after {half} step{plural}" in fig.layout.title.text
    assert f"starts at {(1 - beta1) * g[0]:.2f}" in text
    assert f"starts at {g[0]:.2f}." in text


@pytest.mark.parametrize("image, kernel, stride, padding", [
    ("ring", "sobel_x", 1, 1), ("square", "blur", 2, 0),
    ("diagonals", "edges", 1, 0)])
def test_conv_forward_description_states_the_output(image, kernel, stride,
                                                    padding):
    x = torch.tensor(fc.IMAGES[image], dtype=torch.float64)[None, None]
    w = torch.tensor(conv_plots.KERNELS[kernel],
                     dtype=torch.float64)[None, None]
    y = tF.conv2d(x, w, stride=stride, padding=padding)[0, 0]
    text = _description(conv_plots.conv_forward(image, kernel, stride,
                                                padding, images=fc.IMAGES))
    h, w_ = y.shape
    assert f"the output is {h}×{w_}" in text
    assert (f"values from {y.min().item():g} to {y.max().item():g}"
            in text)
    assert f"gives Y[0, 0] = {y[0, 0].item():g}." in text


@pytest.mark.parametrize("pattern", list(conv_plots.PATTERNS))
def test_conv_backward_description_states_the_gradients(pattern):
    row, col = 8, 13
    x = torch.tensor(fc.IMAGES["ring"], dtype=torch.float64)[None, None]
    x.requires_grad_(True)
    w = torch.tensor(conv_plots.KERNELS["sobel_x"],
                     dtype=torch.float64)[None, None].requires_grad_(True)
    y = tF.conv2d(x, w, padding=1)
    g = conv_plots.upstream_gradient(pattern, y.shape[2:], row, col)
    (torch.tensor(g) * y[0, 0]).sum().backward()
    text = _description(conv_plots.conv_backward(
        "ring", row, col, images=fc.IMAGES, pattern=pattern))
    dw = w.grad[0, 0].numpy()
    rows = "; ".join(" ".join(f"{v:g}" for v in r) for r in dw)
    assert f"rows {rows}." in text
    assert (f"nonzero at {int(np.count_nonzero(x.grad.numpy()))} pixels"
            in text)
    assert f"{int(np.count_nonzero(dw))} of the 9 weights" in text


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_description_states_the_gradients(kind):
    x = torch.tensor([[1., 3., 2., 0.], [4., 2., 1., 5.], [0., 1., 7., 2.],
                      [3., 6., 1., 1.]], dtype=torch.float64)[None, None]
    x.requires_grad_(True)
    pool = tF.max_pool2d if kind == "max" else tF.avg_pool2d
    y = pool(x, 2)
    (y * torch.tensor([[1., 2.], [3., 4.]], dtype=torch.float64)).sum() \
        .backward()

    def rows(a):
        return "; ".join(" ".join(f"{v:g}" for v in r) for r in a)

    text = _description(conv_plots.pooling_gradients(kind))
    assert f"Y = {rows(y[0, 0].detach().numpy())}." in text
    assert f"∂L/∂X = {rows(x.grad[0, 0].numpy())}" in text


def test_digit_figures_describe_what_they_show():
    images, labels = fc._digits()
    text = _description(digit_plots.digit_grid(images, labels))
    assert "labelled " + ", ".join(map(str, labels)) + "." in text
    maps = np.zeros((4, 5, 5))
    maps[1, 2, 2] = 0.5
    text = _description(digit_plots.image_grid(maps, title="maps"))
    assert "3 of them are blank" in text and "4 images of 5×5" in text
    curves = {"a": dict(epoch=[1, 2], loss=[2.0, 0.25],
                        val_accuracy=[0.5, 0.875])}
    text = _description(digit_plots.learning_curves(curves))
    assert ("a: training loss 2 to 0.25, validation accuracy 50.0% to "
            "87.5%" in text) and "of 1 run:" in text


def test_confusion_description_states_accuracy_and_worst_mistake():
    y, pred = fc._confusion()
    mistakes = collections.Counter((int(t), int(p)) for t, p in zip(y, pred)
                                   if t != p)
    (true, wrong), times = mistakes.most_common(1)[0]
    text = _description(digit_plots.confusion_matrix(y, pred, "val"))
    assert f"accuracy {np.mean(y == pred):.2%}" in text
    assert f"a {true} read as {wrong} ({times} times)" in text


def test_mistake_description_states_the_probabilities():
    probs = np.array([0.02, 0.6, 0.3, 0.01, 0.01, 0.01, 0.01, 0.02, 0.01,
                      0.01])
    text = _description(digit_plots.mistake(np.zeros((28, 28)), 2, probs,
                                            4))
    assert "Mistake #5: a handwritten 2 that the network reads as 1" in text
    assert "probability 60.0%; the true class gets 30.0%" in text


# ------------------------------------------------------------ explorers

@pytest.mark.parametrize("chapter, name, make, controls", fc.EXPLORERS,
                         ids=[f"{e[0]}-{e[1]}-{i}"
                              for i, e in enumerate(fc.EXPLORERS)])
def test_explorer_descriptions_change_with_every_control(chapter, name,
                                                         make, controls):
    defaults = {k: v[0] for k, v in controls.items()}
    for control, values in controls.items():
        texts = [_description(make(**{**defaults, control: v}))
                 for v in values]
        assert len(set(texts)) == len(values), (control, texts)


@pytest.mark.parametrize("chapter, name, make, controls", fc.EXPLORERS,
                         ids=[f"{e[0]}-{e[1]}-{i}"
                              for i, e in enumerate(fc.EXPLORERS)])
def test_every_explorer_works_live(chapter, name, make, controls):
    """In a kernel (``mode="live"``) each control, moved from its first to
    its last value, redraws the FigureWidget in place and rewrites the
    description under it: the live path of every chapter's explorer, not
    only the one JupyterLab runs in tests/test_live.py."""
    box = explore(make, [
        (Slider if all(isinstance(x, (int, float)) for x in v) else Choice)(
            k, v, default=v[0]) for k, v in controls.items()], mode="live")
    for control, values in controls.items():
        before = (box.figure.to_json(), box.description.value)
        box.controls[control].value = values[-1]
        after = (box.figure.to_json(), box.description.value)
        assert after[0] != before[0], f"{control}: the figure did not change"
        assert after[1] != before[1], f"{control}: the same description"
        assert box.figure.layout.meta["description"] in html.unescape(
            after[1])


@pytest.mark.parametrize("fig, said", [
    (lambda: act_plots.gradient_through_depth(30, 6.0), "(exploded)"),
    (lambda: act_plots.dead_relu(-6.0), "the neuron is dead"),
    (lambda: opt_plots.explorer_figure("quadratic", 3.0, 0.9, n_steps=80),
     "GD diverged at step"),
    (lambda: opt_plots.explorer_figure("rosenbrock", 5e-3, 0.9),
     "momentum diverged at step"),
    (lambda: opt_plots.gd_rate(2.5), "GD diverges (×1.5 per step)"),
])
def test_a_diverging_setting_says_so_on_the_plot_and_in_words(fig, said):
    fig = fig()
    assert said in fig.layout.title.text.replace("<br>", " ")
    assert said in _description(fig)


# ------------------------------------------------------------ geometry

def _panels(fig):
    """``{(xaxis, yaxis): (x domain, y domain)}`` of the subplots that
    hold a trace."""
    out = {}
    for trace in fig.data:
        xa = "xaxis" + (trace.xaxis or "x")[1:]
        ya = "yaxis" + (trace.yaxis or "y")[1:]
        out[(xa, ya)] = (tuple(fig.layout[xa].domain or (0, 1)),
                         tuple(fig.layout[ya].domain or (0, 1)))
    return out


def _plot_px(fig, width):
    m = fig.layout.margin
    return width - m.l - m.r, fig.layout.height - m.t - m.b


def _panel_titles(fig):
    """Annotations that title a panel: in paper coordinates, anchored at
    their bottom, without an arrow."""
    return [a for a in fig.layout.annotations
            if a.xref == "paper" and a.yref == "paper"
            and a.yanchor == "bottom" and a.showarrow is False and a.text]


def _geometry_problems(fig, width):
    """What does not fit in ``fig`` drawn ``width`` px wide (estimates of
    text sizes from calc_nn.plots._style, in DejaVu Sans)."""
    bad = []
    plot_w, plot_h = _plot_px(fig, width)
    panels = _panels(fig)
    items = list(panels.items())
    for i, ((ax, _), ((x0, x1), (y0, y1))) in enumerate(items):
        if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
            bad.append(f"{ax}: domain out of [0, 1]")
        # a chart needs room for its y axis; an image or a row of cells
        # (y axis hidden) only to be seen
        tall = 90 if fig.layout[items[i][0][1]].visible is not False else 40
        if (y1 - y0) * plot_h < tall:
            bad.append(f"{ax}: {(y1 - y0) * plot_h:.0f} px tall")
        for (bx, _), ((u0, u1), (v0, v1)) in items[i + 1:]:
            if min(x1, u1) - max(x0, u0) > 1e-6 and \
                    min(y1, v1) - max(y0, v0) > 1e-6:
                bad.append(f"{ax} and {bx} overlap")
    titles = _panel_titles(fig)
    for (xa, ya), ((x0, x1), (y0, y1)) in items:
        # the panel right below, sharing columns: room for this one's
        # tick labels and axis title and the lower one's title
        below = [(b, dom) for b, dom in items
                 if dom[1][1] <= y0 + 1e-9
                 and min(x1, dom[0][1]) - max(x0, dom[0][0]) > 1e-6]
        if not below:
            continue
        (bx, _), ((u0, u1), (v0, v1)) = max(below, key=lambda b: b[1][1][1])
        axis = fig.layout[xa]
        need = 4
        if axis.visible is not False and axis.showticklabels is not False:
            need += 22
        if axis.visible is not False and axis.title.text:
            need += 20
        need += sum(1.3 * (t.font.size or 16) * _style.n_lines(t.text)
                    for t in titles
                    if abs(t.y - v1) < 1e-3 and u0 <= t.x <= u1)
        if (y0 - v1) * plot_h < need:
            bad.append(f"{xa} above {bx}: {(y0 - v1) * plot_h:.0f} px "
                       f"between them, {need:.0f} needed")
    for t in titles:
        home = [p for p, ((x0, x1), (y0, y1)) in items
                if abs(t.y - y1) < 1e-3 and x0 - 1e-6 <= t.x <= x1 + 1e-6]
        if not home:
            bad.append(f"panel title {t.text!r} is on no panel")
            continue
        (x0, x1), _ = panels[home[0]]
        size = t.font.size or 16
        if text_px(t.text, size) > (x1 - x0) * plot_w + 8:
            bad.append(f"panel title {t.text!r} wider than its panel")
    bad += _header_problems(fig, width, titles)
    bad += _cell_problems(fig, plot_w, plot_h)
    return bad


def _header_problems(fig, width, titles):
    """Title, then legend, then the top panel titles, then the plot."""
    bad = []
    height, title = fig.layout.height, fig.layout.title
    size = title.font.size
    if text_px(title.text, size) > width - 24:
        bad.append(f"title wider than {width - 24} px: {title.text!r}")
    top = (1 - title.y) * height - 0.92 * size
    if top < 2:
        bad.append(f"title starts {top:.0f} px from the top")
    bottom = top + _style.title_px(title.text, size)
    entries = _style.legend_entries(fig)
    if entries and fig.layout.legend.yref == "container":
        legend_top = (1 - fig.layout.legend.y) * height
        if legend_top < bottom + 2:
            bad.append("the legend overlaps the title")
        plot_w = width - fig.layout.margin.l - fig.layout.margin.r
        _, rows, _ = _style.legend_grid(entries, plot_w)
        bottom = legend_top + 10 + 19 * rows
    top_titles = [t for t in titles if abs(t.y - 1) < 1e-3]
    above = max((_style.title_px(t.text, t.font.size or 16) + 4
                 for t in top_titles), default=0)
    if fig.layout.margin.t - above < bottom + 2:
        bad.append(f"header: {bottom:.0f} px of title and legend, then "
                   f"{above:.0f} px of panel titles, in a margin of "
                   f"{fig.layout.margin.t} px")
    return bad


def _cell_problems(fig, plot_w, plot_h):
    """Heatmap numbers wider than their cells."""
    bad = []
    for trace in fig.data:
        if trace.type != "heatmap" or not trace.texttemplate or \
                trace.text is None:
            continue
        texts = np.asarray(trace.text, dtype=object)
        if texts.ndim != 2 or not any(str(t) for t in texts.ravel()):
            continue
        xa = "xaxis" + (trace.xaxis or "x")[1:]
        ya = "yaxis" + (trace.yaxis or "y")[1:]
        (x0, x1) = fig.layout[xa].domain or (0, 1)
        (y0, y1) = fig.layout[ya].domain or (0, 1)
        w, h = (x1 - x0) * plot_w, (y1 - y0) * plot_h
        cell = w / texts.shape[1]
        if fig.layout[ya].scaleanchor:
            cell = min(cell, h / texts.shape[0])
        size = trace.textfont.size or 12
        widest = max(text_px(str(t), size) for t in texts.ravel())
        if widest > cell - 2:
            bad.append(f"{trace.name or trace.type}: numbers of "
                       f"{widest:.0f} px in cells of {cell:.0f} px")
    return bad


@pytest.mark.parametrize("case", fc.CASES)
def test_the_narrow_layout_fits_a_phone(case):
    fig = fc.apply_narrow(fc.CASES[case][1]())
    assert not _geometry_problems(fig, PHONE_PX)


@pytest.mark.parametrize("case", fc.CASES)
def test_the_wide_layout_fits_the_narrowest_wide_container(case):
    fig = fc.CASES[case][1]()
    assert not _geometry_problems(fig, NARROW_PX)


def test_the_cnn_explorer_stacks_its_three_panels_on_a_phone():
    """The issue's measurement: at 390 px the three panels were crammed
    into ~300 px and their titles printed over one another."""
    fig = conv_plots.conv_forward("ring", "sobel_x", 1, 1,
                                  images=fc.IMAGES)
    small = fc.apply_narrow(fig)
    domains = [small.layout[f"yaxis{s}"].domain for s in ("", "2", "3")]
    assert [tuple(d) for d in domains] == sorted(
        (tuple(d) for d in domains), reverse=True)  # top to bottom
    for s in ("", "2", "3"):
        assert tuple(small.layout[f"xaxis{s}"].domain) == (0, 1)
    _, plot_h = _plot_px(small, PHONE_PX)
    heights = [(d[1] - d[0]) * plot_h for d in domains]
    assert heights[0] >= 240 and heights[2] >= 240 and heights[1] >= 120
    assert [a.text for a in small.layout.annotations[:3]] == [
        "input, padded 30×30", "kernel (Sobel x)", "output 28×28"]
    # the colour bar lies under the output panel, across the phone
    assert small.data[2].colorbar.orientation == "h"
    assert small.data[2].colorbar.y < domains[2][0]
    assert not _geometry_problems(small, PHONE_PX)


def test_heatmap_numbers_hide_when_cells_are_too_small():
    counts = np.full(1000, 3)
    fig = digit_plots.confusion_matrix(np.r_[counts, np.arange(10)],
                                       np.r_[counts, np.arange(10)])
    # "1001" does not fit a phone's 25 px cells at 9 px: no numbers there
    assert fig.layout.meta["narrow"]["traces"]["0"] == {"texttemplate": ""}
    assert _style.cell_text(25.6, ["1001"]) == {"texttemplate": ""}
    assert _style.cell_text(25.6, ["12"]) == {"textfont.size": 12}
    assert _style.cell_text(25.6, ["123"]) == {"textfont.size": 11}
    small = digit_plots.confusion_matrix(np.arange(10), np.arange(10))
    assert small.layout.meta["narrow"]["traces"]["0"] == {
        "textfont.size": 12}


def test_the_optimizer_legend_keeps_its_four_entries_on_a_phone():
    """The issue: at 390 px the legend lost two of its four entries."""
    fig = fc.apply_narrow(opt_plots.explorer_figure("quadratic", 0.3, 0.5))
    entries = _style.legend_entries(fig)
    assert entries == ["GD", "momentum", "RMSprop", "Adam"]
    plot_w = PHONE_PX - fig.layout.margin.l - fig.layout.margin.r
    cols, rows, column = _style.legend_grid(entries, plot_w)
    assert cols * rows >= 4 and cols * (column + 45) <= plot_w
    assert fig.layout.legend.entrywidth == column


def test_stack_gives_disjoint_domains_and_the_heights_asked():
    height, out = _style.stack([("xaxis", "yaxis", 200, 0),
                                ("xaxis2", "yaxis2", 100, None),
                                ("xaxis3", "yaxis3", 150, 1)],
                               top=80, bottom=40, gaps=[60, 50])
    assert height == 80 + 40 + 200 + 100 + 150 + 60 + 50
    plot = height - 120
    (a0, a1), (b0, b1), (c0, c1) = (out[f"yaxis{s}.domain"]
                                    for s in ("", "2", "3"))
    assert a1 == 1 and c0 == 0
    assert (a1 - a0) * plot == pytest.approx(200, abs=0.1)
    assert (a0 - b1) * plot == pytest.approx(60, abs=0.1)
    assert (b0 - c1) * plot == pytest.approx(50, abs=0.1)
    assert out["annotations[1].y"] == c1 and "annotations[2].y" not in out


def test_describe_checks_its_arguments():
    fig = act_plots.leaky_relu_slope(0.1)
    with pytest.raises(ValueError, match="non-empty description"):
        _style.describe(fig, "  ")
    with pytest.raises(ValueError, match="keys 'layout' and/or 'traces'"):
        _style.describe(fig, "x", narrow={"relayout": {}})
    with pytest.raises(ValueError, match="trace indices as strings below"):
        _style.describe(fig, "x", narrow={"traces": {"3": {}}})
    with pytest.raises(ValueError, match="trace indices as strings below"):
        _style.describe(fig, "x", narrow={"traces": {0: {}}})


def test_text_width_estimates_wrap_as_asked():
    text = "a · b c · " + "w" * 30
    lines = _style.wrap(text, 120, 12).split("<br>")
    assert all(text_px(line, 12) <= 120 for line in lines[:-1])
    assert lines[0] == "a · b c ·"
    # between the items of a list rather than inside one
    assert _style.wrap("aaa bbb · ccc ddd", 90, 12) == "aaa bbb ·<br>ccc ddd"
    assert _style.wrap("short", 100, 12) == "short"
    assert text_px("WWW", 10) > text_px("iii", 10)
    assert _style.n_lines("a<br>b<br/>c") == 3


def _visible_words(fig) -> list[str]:
    """Every word a reader of ``fig`` meets: title, axis titles, trace
    names, annotations and the text alternative."""
    layout = fig.layout
    words = [layout.title.text or "", _description(fig)]
    words += [ax.title.text or "" for name in dir(layout)
              if re.fullmatch(r"[xy]axis\d*", name)
              for ax in [getattr(layout, name)]]
    words += [t.name or "" for t in fig.data]
    words += [a.text or "" for a in layout.annotations]
    return words


@pytest.mark.parametrize("make", [
    lambda: opt_plots.gd_rate(1.0), lambda: opt_plots.gd_rate(2.5),
    lambda: opt_plots.momentum_region(1.0, 0.5),
    lambda: opt_plots.minibatch_sgd(16, 0.1),
    lambda: opt_plots.minibatch_sgd(16, 2.5),
    lambda: opt_plots.gradient_noise_vs_batch(4, [1, 4, 16], [1, .3, .1],
                                              1.0, 64)])
def test_optimizer_figures_print_no_typed_subscript(make):
    """λₘₐₓ, λₘᵢₙ and g_ℬ are drawn as subscripts, not as the "λ_max" or
    "g_B" plotly prints as typed."""
    words = _visible_words(make())
    assert not [w for w in words if "_" in w], words


@pytest.mark.parametrize("lr", [1.0, 2.5])
def test_gd_rate_speaks_the_chapters_letters(lr):
    """The chapter's step is t and its eigen-coordinates u_{t,i} (was "step
    k", "|coordinate along eigenvector|"); the factor in the title is the
    largest, max |1 − ηλᵢ| (it said "slowest", false once it exceeds 1)."""
    fig = opt_plots.gd_rate(lr)
    assert fig.layout.xaxis2.title.text == "step t"
    assert fig.layout.yaxis2.title.text == "eigen-coordinate |uₜ,ᵢ|"
    assert [t.name for t in fig.data if t.name and "chosen" in t.name] == [
        "chosen η"]                  # the slider's and the x axis's letter
    rate = max(abs(1 - lr), abs(1 - lr / 10))
    assert fig.layout.title.text.startswith(
        f"η = {lr:g}: largest factor {rate:.3f}")
    assert "slowest" not in _description(fig)
    from chapter_text import read

    assert "The largest factor $\\max_i |1 - \\eta\\lambda_i|$" in \
        " ".join(read("optimizers").split())


@pytest.mark.parametrize("beta1, half", [(0.5, "1 step"), (0.8, "4 steps")])
def test_bias_correction_counts_its_steps(beta1, half):
    fig = opt_plots.bias_correction(beta1)
    assert fig.layout.title.text.endswith(f"after {half}")
    assert f"reaches half after {half};" in _description(fig)


@pytest.mark.parametrize("noise", [0.25, 1.0])
def test_schedule_title_says_its_numbers_are_losses(noise):
    """The title read "constant η 0.019", a learning rate to the eye; its
    numbers are the mean L − L* over the last 20 steps."""
    title = opt_plots.lr_schedules(noise).layout.title.text
    flat = title.replace("<br>", " ")
    assert flat.startswith(f"noise σ = {noise:g}, mean L − L* over the "
                           "last 20 steps: constant ")
    assert "η" not in flat


@pytest.mark.parametrize("kernel", ["blur", "sobel_x"])
def test_checkerboard_loss_has_a_drawn_exponent(kernel):
    """The checkerboard's loss reads Σ (−1)ⁱ⁺ʲ Y[i, j], not the
    "(−1)^(i+j)" plotly prints as typed, in the title and the text."""
    fig = conv_plots.conv_backward("square", 8, 13, kernel=kernel,
                                   pattern="checker")
    for words in (fig.layout.title.text, _description(fig)):
        assert "L = Σ (−1)ⁱ⁺ʲ Y[i, j] = " in words
        assert "^" not in words


def test_curvature_figure_and_slider_draw_the_subscript():
    """λₘₐₓ, not the "λ_max" plotly prints as typed: in the digits
    chapter's curvature figure and its slider's label."""
    from chapter_text import read

    fig = digit_plots.lr_vs_curvature(fc.curvature_runs(), 4.0, 13.9)
    words = _visible_words(fig)
    assert not [w for w in words if "_" in w], words
    assert "2/λₘₐₓ" in fig.layout.title.text
    assert 'label="η × λₘₐₓ / 2"' in read("digits")
