"""The chapter "Neural networks and forward propagation": the claims its
prose makes.

The worked example's table is parsed from the chapter and recomputed with
calc_nn and PyTorch (a typo fails); every glued number comes from the
calls below, and each test asserts the sentence it supports. The chapter's
order is checked too: a "Before you start" box whose links resolve,
softmax defined before it is used, graded exercises.
"""

import inspect
import re

import numpy as np
import pytest
import torch
from worked_tables import (
    before_you_start,
    chapter,
    exercises,
    labels,
    mismatches,
    references,
    table,
    typo_is_caught,
)

from calc_nn import activations
from calc_nn.mlp import MLP, worked_example
from calc_nn.plots import forward_figures

TEXT = chapter("forward")


# ------------------------------------------------------------ worked example

def forward_by_torch(model, x):
    """z1, a1, z2 of ``model`` (one sigmoid hidden layer) in PyTorch."""
    W1, b1, W2, b2 = (torch.tensor(p) for p in model.params)
    z1 = W1 @ torch.tensor(x) + b1
    a1 = torch.sigmoid(z1)
    return z1.numpy(), a1.numpy(), (W2 @ a1 + b2).numpy()


def by_calc_nn():
    model, x, _ = worked_example()
    logits, cache = model.forward(x)
    return {"$z^1$": cache.zs[0][0], "$a^1$": cache.activations[1][0],
            "$z^2$ (logits)": logits, "$p$": activations.softmax(logits)}


def by_torch():
    z1, a1, z2 = forward_by_torch(*worked_example()[:2])
    return {"$z^1$": z1, "$a^1$": a1, "$z^2$ (logits)": z2,
            "$p$": torch.softmax(torch.tensor(z2), 0).numpy()}


def test_the_worked_table_is_what_calc_nn_and_torch_compute():
    rows = table(TEXT, "quantity")
    assert not mismatches(rows, by_calc_nn()), mismatches(rows, by_calc_nn())
    assert not mismatches(rows, by_torch()), mismatches(rows, by_torch())


@pytest.mark.parametrize("right,typo", [
    ("(0.3208, 0.6084)", "(0.3208, 0.6048)"),
    ("(0.5, 0.6792)", "(0.5, 0.6793)"),
    ("(0.4286, 0.5714)", "(0.4286, 0.5714, 0)")])
def test_a_typo_in_the_table_is_caught(right, typo):
    assert typo_is_caught(TEXT, right, typo, by_calc_nn())


def test_the_worked_network_gives_class_2_the_larger_probability():
    model, x, _ = worked_example()
    p = activations.softmax(model(x))
    assert p[1] > p[0]                       # "class 2" (1-based)
    assert model.forward(x)[1].zs[0][0][0] == 0   # sigma(0) = 1/2 exactly


# ---------------------------------------------------------------- erratum

def test_the_forward_pass_only_reads_the_weights():
    model = MLP([2, 4, 3, 2], activation="tanh", seed=3)
    X = np.array([[1.0, -0.5], [0.0, 2.0], [-1.5, 0.3]])
    before = model.get_flat()
    first, _ = model.forward(X)
    second, _ = model.forward(X)
    np.testing.assert_array_equal(model.get_flat(), before)
    np.testing.assert_array_equal(first, second)
    # "another draw is another network": a real change, for several draws
    for seed in (4, 5, 6):
        redrawn = MLP([2, 4, 3, 2], activation="tanh", seed=seed)
        assert np.abs(redrawn(X) - first).max() > 0.1


def test_the_glued_change_is_said_to_be_one_draws():
    """The glued change comes from one new draw (a bound over draws would
    be false: other seeds move a logit by more than twice as much); the
    prose names the seed the code uses."""
    code_seed = re.search(r"redrawn = MLP\(.*seed=(\d+)\)", TEXT).group(1)
    sentence = " ".join(TEXT[TEXT.index("fwd-redrawn-change:") - 120:
                             TEXT.index("fwd-redrawn-change:")].split())
    assert f"(`seed={code_seed}`)" in sentence, sentence
    assert "up to" not in sentence, sentence


# -------------------------------------------------------- numbers, figures

def test_the_digit_network_has_535818_parameters():
    sizes = [784, 512, 256, 10]
    by_hand = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    by_torch = sum(p.numel() for p in torch.nn.Sequential(
        torch.nn.Linear(784, 512), torch.nn.Linear(512, 256),
        torch.nn.Linear(256, 10)).parameters())
    assert by_hand == MLP(sizes).n_parameters == by_torch == 535818


def test_pytorch_init_gives_a_third_of_the_mean_square():
    n_in = 200
    layer = MLP([n_in, 500, 1], init="pytorch", seed=1)
    X = np.random.default_rng(2).standard_normal((4000, n_in))
    measured = layer.forward(X)[1].zs[0].var()
    assert measured == pytest.approx(1 / 3 + 1 / (3 * n_in), rel=0.05)


def test_the_variances_add_for_dependent_inputs_too():
    """The solution's step "two different terms are uncorrelated even
    when the inputs depend on each other": with every input equal to the
    same standard normal number the terms W_jk x_k are dependent, and
    Var(z_j) is still (1/(3n)) (sum_k E[x_k^2] + 1) = 1/3 + 1/(3n)."""
    n, rng = 50, np.random.default_rng(0)
    g = rng.standard_normal((200, 1))
    g /= np.sqrt((g ** 2).mean())                  # E[x_k^2] = 1 exactly
    X = np.repeat(g, n, axis=1)                    # x_1 = ... = x_n
    predicted = 1 / 3 + 1 / (3 * n)
    for seed in range(3):
        # the mean over 20000 neurons: relative spread sqrt(2/20000) = 1%
        layer = MLP([n, 20000, 1], init="pytorch", seed=seed)
        z = layer.forward(X)[1].zs[0]
        assert (z ** 2).mean() == pytest.approx(predicted, rel=0.05)
    solution = " ".join(TEXT[TEXT.index("solution-start} fwd-ex-init"):
                             TEXT.index("n_in = 200")].split())
    assert "uncorrelated even when the inputs depend on each other" in \
        solution
    assert "the terms are independent" not in solution


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("activation,level", [
    ("tanh", r"at $v = \frac{1}{2n}$"), ("relu", r"$v = \frac{2}{5n}$")])
def test_pytorch_init_activations_stop_shrinking(activation, level, seed):
    """Deep in a network with PyTorch's init the mean square of the
    pre-activations settles at 1/(2n) (tanh) or 2/(5n) (ReLU): the biases
    hold it up (a factor 30 above, for n = 64, the first layer's is ~1/3)."""
    n = 64
    X = np.random.default_rng(seed).standard_normal((500, n))
    model = MLP([n] * 31 + [10], activation, init="pytorch", seed=seed)
    zs = model.forward(X)[1].zs
    predicted = 1 / (2 * n) if activation == "tanh" else 2 / (5 * n)
    deep = np.mean([(z ** 2).mean() for z in zs[10:-1]])
    assert deep == pytest.approx(predicted, rel=0.2)
    assert (zs[0] ** 2).mean() > 30 * predicted
    text = " ".join(TEXT.split())
    assert level in text


GRID = np.round(np.arange(-2.0, 2.01, 0.5), 2)


def hidden_values(x1, x2, activation):
    model = MLP(list(forward_figures.NETWORK_SIZES), activation, seed=3)
    cache = model.forward(np.array([x1, x2]))[1]
    return np.concatenate([a[0] for a in cache.activations[1:-1]])


def test_what_the_figure_shows():
    """ReLU zeroes some hidden neurons, which ones depends on the input;
    the sigmoid's are all positive (over the figure's slider grid)."""
    zero_sets = {tuple(hidden_values(x1, x2, "relu") == 0)
                 for x1 in GRID for x2 in GRID}
    assert any(any(s) for s in zero_sets) and len(zero_sets) > 1
    assert all((hidden_values(x1, x2, "sigmoid") > 0).all()
               for x1 in GRID for x2 in GRID)


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
def test_the_figure_predicts_class_1_over_the_whole_square(activation):
    """"class 1 at every setting of the sliders, with each of the three
    activations ... over the whole square the sliders cover, the logit of
    class 1 stays the larger": on the slider grid (the figure's title) and
    on a fine grid of the square, with a margin."""
    seed = inspect.signature(forward_figures.network_activations).parameters[
        "seed"].default
    model = MLP(list(forward_figures.NETWORK_SIZES), activation, seed=seed)
    fine = np.linspace(GRID[0], GRID[-1], 161)
    X = np.array([(a, b) for a in fine for b in fine])
    logits = model(X)
    assert (logits[:, 0] - logits[:, 1]).min() > 0.5
    for x1, x2 in ((GRID[0], GRID[-1]), (0.0, 0.0), (1.0, -0.5)):
        title = forward_figures.network_activations(
            x1, x2, activation).layout.title.text
        assert "predicted class 1 " in title, title
    text = " ".join(TEXT.split())
    assert ("class 1 at every setting of the sliders, with each of the "
            "three activations") in text
    assert "this network has none in the square" in text
    # a comma ends the clause "the sliders cover" (without it the sentence
    # reads "the sliders cover the logit of class 1")
    assert ("over the whole square the sliders cover, the logit of class 1 "
            "stays the larger") in text


def test_colour_and_size_stop_changing_beyond_2():
    """"larger for a larger absolute value, up to 2 (beyond ±2 colour and
    size stop changing)": a value above 2 occurs on the slider grid (ReLU)
    and is drawn like 2."""
    worst = max(((x1, x2) for x1 in GRID for x2 in GRID),
                key=lambda x: np.abs(hidden_values(*x, "relu")).max())
    assert np.abs(hidden_values(*worst, "relu")).max() > 2
    marker = forward_figures.network_activations(
        *worst, "relu").data[-1].marker
    values = np.asarray(marker.color)
    sizes = np.asarray(marker.size)
    assert (marker.cmin, marker.cmax) == (-2, 2)
    big = np.abs(values) >= 2
    assert big.any() and np.all(sizes[big] == sizes[big][0])
    small = ~big
    order = np.argsort(np.abs(values[small]))
    assert np.all(np.diff(sizes[small][order]) >= 0)
    text = " ".join(TEXT.split())
    assert r"up to 2 (beyond $\pm 2$ colour and size stop changing)" in text


# ------------------------------------------------------ order, exercises

def test_a_layers_jacobian_with_respect_to_its_input_is_the_weights():
    """The "Before you start" box: the Jacobian of z = Wx + b with
    respect to x is W (autograd, on a random layer)."""
    rng = np.random.default_rng(0)
    W, b, x = (torch.tensor(rng.standard_normal(s)) for s in
               ((3, 4), (3,), (4,)))
    J = torch.autograd.functional.jacobian(lambda v: W @ v + b, x)
    torch.testing.assert_close(J, W, rtol=0, atol=0)
    box = " ".join(before_you_start(TEXT).split())
    assert ("the Jacobian of a layer $z = Wx + b$ with respect to its input "
            "$x$ is $W$") in box


def test_before_you_start_links_resolve():
    box = before_you_start(TEXT)
    targets = references(box)
    assert targets and set(targets) <= labels(), set(targets) - labels()
    assert "notation-conventions" in targets and "calc-jacobian" in targets


@pytest.mark.parametrize("label", ["fwd-layers", "fwd-neuron", "fwd-batch",
                                   "fwd-network", "fwd-worked-example"])
def test_the_glossary_labels_exist(label):
    assert f"({label})=" in TEXT


def test_softmax_is_defined_before_it_is_used():
    definition = TEXT.index("$$ (eq-fwd-softmax)")
    for use in ("activations.softmax(", "plots.network_activations",
                ":label: fwd-ex-implement-softmax"):
        assert TEXT.index(use) > definition, use


def test_the_activations_are_defined_before_code_uses_them():
    first_tanh = TEXT.index("np.tanh")
    assert TEXT.index(r"\tanh z = (e^{z} - e^{-z})") < first_tanh
    assert TEXT.index(r"\sigma(z) = 1 / (1 + e^{-z})") < first_tanh


def test_exercises_are_graded_with_derivations():
    found = exercises(TEXT)
    marks = [re.match(r"(★+) ", title) for title, _ in found]
    assert all(marks), [t for t, _ in found]
    assert sum(len(m.group(1)) >= 2 for m in marks) >= 2


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
def test_only_the_output_layer_skips_the_activation(activation):
    """"Except perhaps in the last layer, passes the result through an
    activation function ... (in calc_nn.mlp.MLP it has no activation
    function)": every hidden layer of MLP applies f, the last does not."""
    model = MLP([3, 5, 4, 2], activation, seed=0)
    X = np.random.default_rng(1).standard_normal((6, 3))
    logits, cache = model.forward(X)
    f = activations.get(activation)[0]
    for z, a in zip(cache.zs[:-1], cache.activations[1:-1]):
        np.testing.assert_array_equal(a, f(z))
    np.testing.assert_array_equal(logits, cache.zs[-1])
    layers_section = " ".join(
        TEXT[TEXT.index("(fwd-layers)="):TEXT.index("(fwd-neuron)=")].split())
    assert ("except perhaps in the last layer, passes the result through an "
            "activation function") in layers_section
    assert "(in `calc_nn.mlp.MLP` it has no activation function" in \
        layers_section


def test_the_glossary_says_which_fully_connected_layer_is_meant():
    """This chapter's fully connected layer includes the activation that
    follows the affine map; the CNN chapter's (y = W x + b) and PyTorch's
    nn.Linear are the affine map alone. The glossary entry gives both, and
    nn.Linear is indeed affine: W x + b, no activation."""
    from chapter_text import glossary_entry, read

    entry = " ".join(glossary_entry("fully connected layer").split())
    assert "the affine map $z = W x + b$ (PyTorch's `nn.Linear`" in entry
    assert ("counts together with the activation function that follows it"
            in entry)
    assert "computes $y = W x + b$" in " ".join(read("cnn").split())
    torch.manual_seed(0)
    linear = torch.nn.Linear(3, 2).double()
    x = torch.randn(3, dtype=torch.float64)
    torch.testing.assert_close(linear(x),
                               linear.weight @ x + linear.bias)


@pytest.mark.parametrize("activation, f", [("tanh", "tanh"),
                                           ("relu", "ReLU"),
                                           ("sigmoid", "σ")])
def test_the_figures_layer_labels_use_the_chapters_letters(activation, f):
    """"the input x on the left, the activations a^1, a^2 of the hidden
    layers, and on the right the logits z^3": the axis labels write the
    same letters, a¹ = f(z¹), and the sigmoid as σ (they read "a = sigmoid
    σ(z)", a name and a symbol, and "logits z" without its layer)."""
    text = " ".join(TEXT.split())
    assert ("the input $x$ on the left, the activations $a^1, a^2$ of the "
            "hidden layers, and on the right the logits $z^3$") in text
    ticks = forward_figures.network_activations(
        1.0, -0.5, activation).layout.xaxis.ticktext
    assert ticks == ("input x", f"hidden 1<br>a¹ = {f}(z¹)",
                     f"hidden 2<br>a² = {f}(z²)", "output<br>logits z³")
