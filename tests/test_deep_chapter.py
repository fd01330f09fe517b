"""The chapter "Making deep networks trainable": the claims its prose makes.

Every number the chapter glues into a sentence comes from the calls below
(``deep.depth_study`` and the layer pairs, with the chapter's arguments);
each test asserts the claim the sentence makes with it ("to within a small
factor", "grows towards the input", "diverges or stalls", "trains"), over
several random seeds where randomness is involved, so that a change that
makes a sentence false fails here. The deep networks of
``calc_nn.symbolic.deep_formulas`` are checked against PyTorch's autograd,
and the figures for what ``explore`` and readers need.
"""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from chapter_text import bare, glossary_entry

from calc_nn import layers, optim
from calc_nn.plots import deep_figures as figs
from calc_nn.symbolic import deep_formulas as deep

BOOK = Path(__file__).resolve().parents[1] / "book"
SEEDS = (0, 1, 2)
CHANCE = math.log(4)


def delta_ratio(study) -> float:
    return float(study.delta_norms[0] / study.delta_norms[-1])


def trained(study, below=0.6) -> bool:
    return study.diverged_at is None and study.losses[-1] < below


def failed(study) -> bool:
    """Diverged, or ended near the loss of a guess."""
    return study.diverged_at is not None or study.losses[-1] > 1.2


# --------------------------------------------------- the network vs torch

def torch_network(net, X, y):
    """The same network in PyTorch: loss and the parameters (as tensors
    with gradients after backward)."""
    params = [torch.tensor(p, requires_grad=True) for p in net.params]
    n = len(net.W)
    Ws, bs = params[:n], params[n:2 * n]
    gammas, betas = params[2 * n:2 * n + len(net.gamma)], params[
        2 * n + len(net.gamma):]
    z = torch.tensor(X) @ Ws[0].T + bs[0]
    for l in range(1, n):
        u = (F.batch_norm(z, None, None, gammas[l - 1], betas[l - 1],
                          training=True) if net.gamma else z)
        out = torch.relu(u) @ Ws[l].T + bs[l]
        z = z + out if "residual" in net.arch and l < n - 1 else out
    loss = F.cross_entropy(z, torch.tensor(y))
    loss.backward()
    return loss.item(), params


@pytest.mark.parametrize("arch", deep.ARCHS)
@pytest.mark.parametrize("init", deep.INITS)
def test_deep_network_gradients_equal_torch(arch, init):
    from calc_nn import losses

    X, y = deep.teacher_task(6, 9, 4, seed=3)
    net = deep.deep_network(5, arch, init, width=7, n_in=6, seed=3)
    logits, cache = deep.deep_forward(net, X)
    grads, deltas = deep.deep_backward(losses.cross_entropy_grad(logits, y),
                                       cache)
    loss, params = torch_network(net, X, y)
    assert float(losses.cross_entropy(logits, y)) == pytest.approx(
        loss, rel=1e-12)
    assert len(grads.params) == len(params) == len(net.params)
    # the bias in front of a batch norm has gradient 0 in exact arithmetic:
    # rounding leaves a few ulps of the network's gradients
    scale = max(np.abs(p.grad.numpy()).max() for p in params)
    for g, p in zip(grads.params, params):
        assert g.shape == p.shape
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-9,
                                   atol=1e-13 * scale)
    assert deltas.shape == (4,) and len(cache.zs) == 4


def test_plain_network_is_calc_nns_mlp():
    """Without skip and batch norm, the deep network is MLP's delta
    equations: same weights, same gradients."""
    from calc_nn import losses
    from calc_nn.mlp import MLP

    X, y = deep.teacher_task(5, 8, 4, seed=1)
    net = deep.deep_network(4, "plain", "he", width=6, n_in=5, seed=1)
    mlp = MLP([5, 6, 6, 6, 4], "relu")
    for p, q in zip(mlp.params, [v for pair in zip(net.W, net.b)
                                 for v in pair]):
        p[...] = q
    logits, cache = mlp.forward(X)
    dlogits = losses.cross_entropy_grad(logits, y)
    mine, _ = deep.deep_backward(dlogits, deep.deep_forward(net, X)[1])
    for a, b in zip(mlp.backward(dlogits, cache)[0::2], mine.W):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_weights_and_data_come_from_independent_streams():
    """A shared stream once made the first weights equal to the inputs
    (z^1 had twice the predicted variance)."""
    X, _ = deep.teacher_task(128, 64, 4, seed=0)
    net = deep.deep_network(3, "plain", "xavier", width=128, n_in=128,
                            seed=0)
    z1 = X @ net.W[0].T
    assert abs(z1.var() - 1) < 0.1
    assert not np.allclose(net.W[0][0] / net.W[0][0, 0], X[0] / X[0, 0])


def test_study_is_cached_and_read_only():
    a = deep.depth_study(3, "plain", "he", steps=2)
    b = deep.depth_study(3, "plain", "he", steps=2)
    assert a is b
    for arr in (a.grad_norms, a.delta_norms, a.z_std, a.losses,
                a.total_norms):
        assert not arr.flags.writeable
    assert a.grad_norms.shape == (3,) and a.delta_norms.shape == (2,)
    assert a.losses.shape == (3,) and a.z_std.shape == (2,)


@pytest.mark.parametrize("call,exc,match", [
    (lambda: deep.depth_study(1, "plain", "he"), ValueError, "depth"),
    (lambda: deep.depth_study(5, "resnet", "he"), ValueError, "arch"),
    (lambda: deep.depth_study(5, "plain", "kaiming"), ValueError, "init"),
    (lambda: deep.depth_study(5, "plain", "he", lr=0), ValueError, "lr"),
    (lambda: deep.depth_study(5, "plain", "he", max_norm=0.0), ValueError,
     "max_norm"),
    (lambda: deep.depth_study(5.0, "plain", "he"), TypeError, "depth"),
    (lambda: deep.deep_network(5, "plain", "he", seed=-1), ValueError,
     "seed"),
    (lambda: deep.variance_factor("lecun", 10), ValueError, "init"),
])
def test_bad_input_is_named(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# ------------------------------------------------------- initialisation

@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("init", deep.INITS)
def test_fifty_layers_follow_the_variance_formulas(init, seed):
    """'The formulas predict what happens over fifty layers to within a
    small factor' (width 128, D = 50): the error ratio within a factor 10
    of r^24, the first layer's spread within 10 %, the last layer's within
    a factor 3 (PyTorch's default: within 20 % of the bias level)."""
    width, depth = 128, 50
    r = deep.variance_factor(init, width)
    study = deep.depth_study(depth, "plain", init, width=width, steps=0,
                             seed=seed)
    predicted = r ** ((depth - 2) / 2)
    assert abs(math.log10(delta_ratio(study) / predicted)) < 1
    var_z1 = 2 * r + (1 / (3 * width) if init == "pytorch" else 0)
    assert study.z_std[0] == pytest.approx(math.sqrt(var_z1), rel=0.1)
    if init == "pytorch":
        level = math.sqrt(2 / (5 * width))
        assert study.z_std[-1] == pytest.approx(level, rel=0.2)
    else:
        deep_std = math.sqrt(var_z1 * r ** (depth - 2))
        assert 1 / 3 < study.z_std[-1] / deep_std < 3


def test_fluctuations_around_the_formulas_grow_as_layers_narrow():
    """'a finite layer ... scatters around them, more so the narrower it
    is': He's error ratio over 50 layers strays further from its
    predicted 1 at width 32 than at width 128 (mean |log| over 4 seeds)."""
    def stray(width):
        return np.mean([abs(math.log(delta_ratio(deep.depth_study(
            50, "plain", "he", width=width, steps=0, seed=seed))))
            for seed in range(4)])
    assert stray(32) > 2 * stray(128)


def test_the_scatter_around_the_formulas_is_lopsided():
    """'The scatter is lopsided ...: most networks end below the average,
    and a few far above it make up the difference; the spreads of z^49
    with Xavier and He end below it here.' Var(z^49) over its predicted
    value (He, 128 wide, D = 50: the prediction is 2) for 40 networks."""
    ratios = np.array([deep.depth_study(
        50, "plain", "he", width=128, steps=0, seed=seed).z_std[-1] ** 2 / 2
        for seed in range(40)])
    assert np.mean(ratios < 1) >= 0.7          # most end below
    assert np.sum(ratios > 2) >= 2             # a few far above
    assert ratios.max() > 4
    for init in ("xavier", "he"):              # the chapter's table
        r = deep.variance_factor(init, 128)
        study = deep.depth_study(50, "plain", init, width=128, steps=0)
        assert study.z_std[-1] < math.sqrt(2 * r * r ** 48)


@pytest.mark.parametrize("seed", SEEDS)
def test_default_init_deep_activations_forget_the_input(seed):
    """'a level set by the biases alone: the deep activations no longer
    depend on the input'."""
    net = deep.deep_network(50, "plain", "pytorch", width=128, n_in=128,
                            seed=seed)
    rng = np.random.default_rng(seed + 100)
    a = deep.deep_forward(net, rng.standard_normal((16, 128)))[1].zs[-1]
    b = deep.deep_forward(net, rng.standard_normal((16, 128)))[1].zs[-1]
    assert np.abs(a - b).max() < 1e-6 * np.abs(a).max()
    first_a = deep.deep_forward(net, rng.standard_normal((16, 128)))[1].zs[0]
    assert np.abs(first_a - a).max() > 0.1      # layer 1 still sees it


def test_the_sympy_gaussian_is_named_before_it_is_shown():
    """The displayed integral uses s, the standard deviation of z: the
    prose names it before the cell that shows it."""
    text = (BOOK / "deep.md").read_text()
    shown = text.index("moment, half = deep.relu_second_moment()")
    named = text.rfind(r"$z \sim \mathcal N(0, s^2)$", 0, shown)
    assert named != -1 and "(standard deviation $s$)" in text[named:shown]
    # notation.md gives s (a stride, an optimizer's statistic s_t) this
    # meaning too, for this chapter as for the losses chapter
    assert bare(text, "s")
    notation = " ".join((BOOK / "notation.md").read_text().split())
    sentence = notation.split("$s$ is also a standard deviation in ", 1)[1]
    assert "{ref}`chapter-deep`" in sentence.split(")", 1)[0]


def test_variance_factors():
    assert deep.variance_factor("pytorch", 128) == pytest.approx(1 / 6)
    assert deep.variance_factor("xavier", 128) == pytest.approx(1 / 2)
    assert deep.variance_factor("he", 128) == pytest.approx(1.0)
    # the exercise: eight layers of r = 1/6 take the variance below 1e-6
    assert (1 / 6) ** 8 < 1e-6 < (1 / 6) ** 7


# ------------------------------------------------------------ batch norm

def chapter_arrays():
    """X4, gamma4, beta4, G4 as the chapter's worked example defines
    them (read from book/deep.md, so that the test follows the page)."""
    text = (BOOK / "deep.md").read_text()
    start = text.index("X4 = np.array(")
    code = text[start:text.index("Y4, cache4", start)]
    namespace = {"np": np}
    exec(code, namespace)  # noqa: S102 - the chapter's own assignments
    return tuple(namespace[k] for k in ("X4", "gamma4", "beta4", "G4"))


def test_worked_example_by_hand_calc_nn_and_torch():
    X4, gamma4, beta4, G4 = chapter_arrays()
    Y4, cache4 = layers.batchnorm_forward(X4, gamma4, beta4)
    dX4, dgamma4, dbeta4 = layers.batchnorm_backward(G4, cache4)
    # the hand computations of the prose (epsilon ignored: 1e-5 tolerance)
    np.testing.assert_allclose(X4.mean(axis=0), [2, 2, 1])
    np.testing.assert_allclose(X4.var(axis=0), [1, 2, 3])
    s2 = math.sqrt(2)
    np.testing.assert_allclose(cache4.x_hat[:, 0], [-1, -1, 1, 1], atol=1e-5)
    np.testing.assert_allclose(cache4.x_hat[:, 1], [-s2, s2, 0, 0],
                               atol=1e-5)
    np.testing.assert_allclose(dbeta4, [1, 0, 4])
    np.testing.assert_allclose(dgamma4, [-1, s2, 0], atol=1e-5)
    np.testing.assert_allclose(dX4[:, 0], [0.5, -0.5, 0, 0], atol=1e-5)
    np.testing.assert_allclose(dX4[:, 1], np.array([2, 2, 0, -4]) / (2 * s2),
                               atol=1e-5)
    np.testing.assert_array_equal(dX4[:, 2], 0)   # "gets nothing back"
    # every entry of both tables against torch
    tx, tg, tb = (torch.tensor(a, requires_grad=True)
                  for a in (X4, gamma4, beta4))
    out = F.batch_norm(tx, None, None, tg, tb, training=True, eps=1e-5)
    out.backward(torch.tensor(G4))
    np.testing.assert_allclose(Y4, out.detach().numpy(), rtol=1e-12,
                               atol=1e-14)
    np.testing.assert_allclose(dX4, tx.grad.numpy(), rtol=1e-10,
                               atol=1e-14)
    np.testing.assert_allclose(dgamma4, tg.grad.numpy(), rtol=1e-12,
                               atol=1e-14)
    np.testing.assert_allclose(dbeta4, tb.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(cache4.std.ravel(),
                               np.sqrt(X4.var(axis=0) + 1e-5), rtol=1e-14)


def test_worked_example_tables_round_the_values_with_eps():
    """'the tables round to four decimals the values computed with eps,
    which can move a last digit: column 3's x_hat_1 = -1/sqrt 3 =
    -0.57735... shows as -0.5773' (by hand, without eps, -0.5774)."""
    text = (BOOK / "deep.md").read_text()
    start = text.index("def fmt(")
    namespace = {}
    exec(text[start:text.index("\n```", start)], namespace)  # noqa: S102
    fmt = namespace["fmt"]
    X4, gamma4, beta4, _ = chapter_arrays()
    _, cache4 = layers.batchnorm_forward(X4, gamma4, beta4)
    assert fmt(cache4.x_hat[0, 2]) == "-0.5773"
    assert fmt(-1 / math.sqrt(3)) == "-0.5774"
    assert "shows as $-0.5773$" in text
    # everywhere else eps leaves the rounded tables as the hand values
    exact = (X4 - X4.mean(axis=0)) / X4.std(axis=0)
    moved = [(i, j) for i in range(4) for j in range(3)
             if fmt(cache4.x_hat[i, j]) != fmt(exact[i, j])]
    assert moved == [(0, 2), (1, 2), (2, 2)]


def test_output_columns_have_mean_beta_and_spread_gamma():
    """'Each output column then has mean beta and standard deviation about
    |gamma|' (exactly |gamma| sigma / sqrt(sigma^2 + eps)), on the
    chapter's batch and a negative gamma."""
    rng = np.random.default_rng(0)
    x = 5 + 3 * rng.standard_normal((8, 3))
    gamma, beta = np.array([1.0, -2.0, 0.5]), np.array([0.0, -1.0, 3.0])
    out, _ = layers.batchnorm_forward(x, gamma, beta)
    np.testing.assert_allclose(out.mean(axis=0), beta, atol=1e-14)
    var = x.var(axis=0)
    np.testing.assert_allclose(out.std(axis=0),
                               np.abs(gamma) * np.sqrt(var / (var + 1e-5)),
                               rtol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), np.abs(gamma), rtol=1e-5)


@pytest.mark.parametrize("std,close", [(1e-3, False), (0.03, True),
                                       (1.0, True), (1e3, True)])
def test_output_spread_is_gamma_when_the_variance_is_well_above_eps(
        std, close):
    """'standard deviation about |gamma|, whatever the scale of its input,
    as long as its variance is well above eps (exactly |gamma| sigma_B /
    sqrt(sigma_B^2 + eps))': an input of variance 1e-6 leaves about 0.3
    |gamma|."""
    x = std * np.random.default_rng(0).standard_normal((256, 2))
    gamma = np.array([1.0, -2.0])
    out, _ = layers.batchnorm_forward(x, gamma, np.zeros(2))
    sigma = x.std(axis=0)
    spread = out.std(axis=0) / np.abs(gamma)
    np.testing.assert_allclose(spread, sigma / np.sqrt(sigma ** 2 + 1e-5),
                               rtol=1e-12)
    if close:
        np.testing.assert_allclose(spread, 1, rtol=0.01)
    else:
        assert spread.max() < 0.5


def test_running_statistics_are_torchs_defaults_and_unbiased():
    """'updated at every step with PyTorch's momentum rho (default 0.1)
    and the *unbiased* variance'; eps is PyTorch's 1e-5."""
    import inspect

    module = torch.nn.BatchNorm1d(3, dtype=torch.float64)
    assert module.momentum == 0.1 and module.eps == 1e-5
    sig = inspect.signature(layers.batchnorm_running_stats).parameters
    assert sig["momentum"].default == module.momentum
    for fn in (layers.batchnorm_forward, layers.batchnorm_eval):
        assert inspect.signature(fn).parameters["eps"].default == module.eps
    x = np.random.default_rng(0).normal(5, 3, (8, 3))
    module.train()
    module(torch.tensor(x))
    mean, var = layers.batchnorm_running_stats(x, np.zeros(3), np.ones(3))
    np.testing.assert_allclose(var, 0.9 + 0.1 * x.var(axis=0, ddof=1),
                               rtol=1e-14)
    np.testing.assert_allclose(var, module.running_var.numpy(), rtol=1e-12)
    np.testing.assert_allclose(mean, module.running_mean.numpy(),
                               rtol=1e-12)


@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 1, 1), (1, 3, 1)])
def test_one_value_per_channel_raises_as_torch_does(shape):
    """'raises a ValueError, as PyTorch does, and its message begins with
    PyTorch's words'."""
    c = np.ones(3)
    with pytest.raises(ValueError) as theirs:
        F.batch_norm(torch.ones(shape), None, None, training=True)
    with pytest.raises(ValueError) as ours:
        layers.batchnorm_forward(np.ones(shape), c, c)
    words = str(theirs.value).split(", got")[0]
    assert words.startswith("Expected more than 1 value per channel")
    assert str(ours.value).startswith(words + ", got")


@pytest.mark.parametrize("alpha", (0.1, 10.0))
def test_batch_norm_gradient_scales_as_one_over_alpha(alpha):
    """Equation eq-deep-bn-scale with calc_nn's layer pairs: the weight
    gradient at alpha W is the gradient at W divided by alpha (eps tiny,
    as in the chapter's PyTorch check)."""
    rng = np.random.default_rng(0)
    x, W0 = rng.standard_normal((8, 3)), rng.standard_normal((2, 3))
    g = rng.standard_normal((8, 2))

    def weight_gradient(W):
        z, lin = layers.linear_forward(x, W, np.zeros(2))
        y, bn = layers.batchnorm_forward(z, np.ones(2), np.zeros(2),
                                         eps=1e-12)
        h, act = layers.relu_forward(y)
        du = layers.relu_backward(g, act)
        dz = layers.batchnorm_backward(du, bn)[0]
        return layers.linear_backward(dz, lin)[1]

    np.testing.assert_allclose(weight_gradient(alpha * W0),
                               weight_gradient(W0) / alpha, rtol=1e-7)


def test_no_weight_scale_removes_the_batch_norm_explosion():
    """'no choice of the initial weight variance ... removes it': scaling
    every weight matrix in front of a batch norm by alpha leaves the error
    ratio unchanged at D = 10 (up to eps), and at D = 50 (where eps's
    traces are amplified with the error) it stays an explosion."""
    from calc_nn import losses

    X, y = deep.teacher_task(32, 64, 4, seed=0)

    def ratio(depth, alpha):
        net = deep.deep_network(depth, "batchnorm", "he", seed=0)
        for W in net.W[:-1]:
            W *= alpha
        logits, cache = deep.deep_forward(net, X)
        _, deltas = deep.deep_backward(
            losses.cross_entropy_grad(logits, y), cache)
        return deltas[0] / deltas[-1]

    for alpha in (0.1, 0.5, 3.0, 10.0):
        assert ratio(10, alpha) == pytest.approx(ratio(10, 1.0), rel=1e-2)
        big = ratio(50, alpha)
        assert big > 1e3 and 1.1 < big ** (1 / 48) < 1.35


@pytest.mark.parametrize("seed", SEEDS)
def test_batch_norm_keeps_a_ten_layer_error_alive(seed):
    """'at D = 10 ... with batch norm [the ratio is of order 1], against
    [1e-3] without'."""
    # measured at initialisation: training (steps) does not change it
    bn = deep.depth_study(10, "batchnorm", "pytorch", seed=seed, steps=0)
    plain = deep.depth_study(10, "plain", "pytorch", seed=seed, steps=0)
    assert 0.1 < delta_ratio(bn) < 100
    assert delta_ratio(plain) < 1e-2


@pytest.mark.parametrize("seed", SEEDS)
def test_batch_norm_error_grows_towards_the_input_at_depth(seed):
    """'a plain batch-normalised network's error grows towards the input,
    by about [1.2] per layer ... at D = 50 [1e4]' for every init; and
    'the three initialisations give almost the same picture'."""
    ratios = [delta_ratio(deep.depth_study(50, "batchnorm", init, seed=seed,
                                           steps=0)) for init in deep.INITS]
    for ratio in ratios:
        assert ratio > 1e3
        assert 1.1 < ratio ** (1 / 48) < 1.35
    assert max(ratios) / min(ratios) < 10


# -------------------------------------------------------------- residual

@pytest.mark.parametrize("seed", SEEDS)
def test_residual_keeps_the_error_and_grows_the_signal(seed):
    """Default init, D = 50: plain vanishes, residual and residual + batch
    norm do not; the residual signal (128 wide) grows by about
    (7/6)^24."""
    plain, res, res_bn = (deep.depth_study(50, arch, "pytorch", seed=seed,
                                           steps=0)
                          for arch in ("plain", "residual",
                                       "residual_batchnorm"))
    assert delta_ratio(plain) < 1e-15
    assert delta_ratio(res) > 1
    assert 1 < delta_ratio(res_bn) < 100
    wide = deep.depth_study(50, "residual", "pytorch", width=128, steps=0,
                            seed=seed)
    predicted = wide.z_std[0] * (7 / 6) ** 24
    assert 1 / 1.6 < wide.z_std[-1] / predicted < 1.6


@pytest.mark.parametrize("seed", SEEDS)
def test_residual_he_doubles_the_variance_per_block(seed):
    """'with He's r = 1 it doubles at every block, and a 50-layer residual
    network starts with activations near 2^24 and an enormous loss'."""
    study = deep.depth_study(50, "residual", "he", seed=seed, steps=0)
    assert 20 < math.log2(study.z_std[-1] / study.z_std[0]) < 28
    assert study.losses[0] > 1e3


@pytest.mark.parametrize("seed", SEEDS)
def test_residual_with_batch_norm_grows_linearly(seed):
    """The exercise: std of z^49 with He is about sqrt(50)."""
    study = deep.depth_study(50, "residual_batchnorm", "he", steps=0,
                             seed=seed)
    assert study.z_std[-1] == pytest.approx(math.sqrt(50), rel=0.15)
    # 'the variance of the signal grows only linearly with depth':
    # Var(z^l) = 2 + (l - 1), not a power of anything
    for layer in (5, 10, 25, 49):
        assert study.z_std[layer - 1] ** 2 == pytest.approx(layer + 1,
                                                            rel=0.25)


# --------------------------------------------------------------- dropout

@pytest.mark.parametrize("seed", SEEDS)
def test_dropout_keeps_the_mean_and_adds_variance(seed):
    p, x = 0.3, np.full(100_000, 2.0)
    y, _ = layers.dropout_forward(x, p, rng=np.random.default_rng(seed))
    exact_var = p / (1 - p) * 4.0
    # the mean of n values of variance exact_var; the variance's own spread
    assert abs(y.mean() - 2) < 5 * math.sqrt(exact_var / len(y))
    fourth = np.mean((y - 2) ** 4)
    assert abs(y.var() - exact_var) < 5 * math.sqrt(fourth / len(y))


# ------------------------------------------------------------ weight decay

def two_steps(step):
    theta, state, path = np.array([1.0, 1.0]), None, [np.array([1.0, 1.0])]
    for g in (np.array([10.0, 0.0]), np.array([-5.0, 0.0])):
        theta, state = step(theta, g, state)
        path.append(theta)
    return np.array(path)


def test_glossary_weight_decay_is_not_l2_with_adam():
    """The glossary must not define weight decay as the L2 penalty's
    gradient without saying that this holds for SGD only (the chapter's
    section 'Weight decay is not L2 regularisation (with Adam)')."""
    entry = glossary_entry("weight decay")
    assert "for Adam it is not" in entry
    assert "{ref}`deep-weight-decay`" in entry


def test_l2_is_weight_decay_for_plain_gradient_descent_only():
    """'For plain gradient descent the two are the same thing (with
    momentum they already differ: the penalty's gradient also enters the
    momentum buffer)': torch.optim.SGD's weight_decay (the L2 form)
    against the decoupled step (1 - eta lambda) theta - eta b_t."""
    lam, lr = 0.1, 0.1
    grads = ([10.0, 0.0], [-5.0, 0.0], [1.0, 2.0])
    for momentum, same in ((0.0, True), (0.9, False)):
        p = torch.tensor([1.0, 1.0], dtype=torch.float64,
                         requires_grad=True)
        opt = torch.optim.SGD([p], lr=lr, momentum=momentum,
                              weight_decay=lam)
        theta, buf = np.array([1.0, 1.0]), np.zeros(2)
        for g in grads:
            p.grad = torch.tensor(g, dtype=torch.float64)
            opt.step()
            buf = momentum * buf + np.array(g)
            theta = (1 - lr * lam) * theta - lr * buf      # decoupled
        if same:
            np.testing.assert_allclose(p.detach().numpy(), theta,
                                       rtol=1e-14)
            # and calc_nn's gradient descent on g + lambda theta
            ours, state = np.array([1.0, 1.0]), None
            for g in grads:
                ours, state = optim.gd_step(ours, np.array(g) + lam * ours,
                                            state, lr=lr)
            np.testing.assert_allclose(ours, theta, rtol=1e-14)
        else:
            assert np.abs(p.detach().numpy() - theta).max() > 1e-3
    # the goals box, the section and the summary say "plain gradient
    # descent", never "SGD" alone (PyTorch's SGD has momentum)
    prose = re.sub(r"\s+", " ", (BOOK / "deep.md").read_text())
    assert not re.search(r"for SGD\b", prose)
    for claim in ("coincide for plain gradient descent",
                  "For plain gradient descent the two are the same thing",
                  "for plain gradient descent it is weight decay"):
        assert claim in prose, claim


def test_l2_with_adam_is_not_weight_decay():
    """'L2 with Adam has pulled the idle weight by [-0.2] and the busy one
    by only [-0.001]; AdamW by about 1 - 0.99^2 of each'."""
    lam, lr = 0.1, 0.1
    plain = two_steps(lambda th, g, s: optim.adam_step(th, g, s, lr=lr))
    with_l2 = two_steps(lambda th, g, s: optim.adam_step(
        th, g + lam * th, s, lr=lr))
    adamw = two_steps(lambda th, g, s: optim.adamw_step(
        th, g, s, lr=lr, weight_decay=lam))
    effect_l2, effect_w = with_l2[2] - plain[2], adamw[2] - plain[2]
    assert effect_l2[1] == pytest.approx(-0.2, abs=1e-3)
    assert -0.1 * abs(effect_w[0]) < effect_l2[0] < 0   # towards 0, barely
    # 'each step takes eta lambda = 1 % of the weight's current value':
    # 0.01 + 0.01 * 0.99 = 1 - 0.99^2 for the idle weight, 0.01 + 0.01 *
    # theta_1 for the busy one (theta_1 = 0.89, made smaller by its step)
    np.testing.assert_allclose(effect_w, -lam * lr * (1 + adamw[1]),
                               rtol=1e-12)
    assert effect_w[1] == pytest.approx(-(1 - 0.99 ** 2), rel=1e-12)
    assert adamw[1, 0] < adamw[1, 1]
    # step 1 by hand: Adam + L2 moves both weights by -lr
    np.testing.assert_allclose(with_l2[1], [0.9, 0.9], atol=1e-6)
    np.testing.assert_allclose(adamw[1], [0.89, 0.99], atol=1e-6)
    # Adam's weight_decay is the L2 form, step for step as in torch
    same = two_steps(lambda th, g, s: optim.adam_step(
        th, g, s, lr=lr, weight_decay=lam))
    np.testing.assert_allclose(same, with_l2, rtol=1e-12)
    # and torch.optim.Adam with decoupled_weight_decay=True is AdamW
    decoupled = functools.partial(torch.optim.Adam,
                                  decoupled_weight_decay=True)
    for opt, ours in ((torch.optim.Adam, with_l2), (torch.optim.AdamW,
                                                    adamw),
                      (decoupled, adamw)):
        p = torch.tensor([1.0, 1.0], dtype=torch.float64,
                         requires_grad=True)
        o = opt([p], lr=lr, weight_decay=lam)
        for t, g in enumerate(([10.0, 0.0], [-5.0, 0.0]), 1):
            p.grad = torch.tensor(g, dtype=torch.float64)
            o.step()
            np.testing.assert_allclose(ours[t], p.detach().numpy(),
                                       rtol=1e-10)


def test_the_adamw_papers_step_size_alpha_is_our_eta():
    """'The paper writes the step as eta_t (alpha m/(sqrt v + eps) +
    lambda theta), with alpha the step size (our eta) ...: with a constant
    schedule (eta_t = 1), its lambda is our eta lambda.' The paper's step
    with alpha = lr, eta_t = 1 and its lambda = lr * weight_decay is
    torch.optim.AdamW's, over three steps."""
    prose = re.sub(r"\s+", " ", (BOOK / "deep.md").read_text())
    assert (r"with $\alpha$ the step size (our $\eta$) and $\eta_t$ a "
            r"schedule multiplier") in prose
    assert r"its $\lambda$ is our $\eta\lambda$" in prose
    lr, lam, (b1, b2), eps = 0.1, 0.3, (0.9, 0.999), 1e-8
    grads = ([10.0, -1.0], [-5.0, 2.0], [0.5, 0.0])
    p = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.AdamW([p], lr=lr, betas=(b1, b2), eps=eps,
                            weight_decay=lam)
    theta, m, v = np.array([1.0, -2.0]), np.zeros(2), np.zeros(2)
    alpha, eta_t, lam_paper = lr, 1.0, lr * lam
    for t, g in enumerate(grads, 1):
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        g = np.array(g)
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        theta = theta - eta_t * (alpha * m_hat / (np.sqrt(v_hat) + eps)
                                 + lam_paper * theta)
        np.testing.assert_allclose(theta, p.detach().numpy(), rtol=1e-12)


# --------------------------------------------------------------- clipping

@pytest.mark.parametrize("seed", (0, 1, 2, 3))
def test_clipping_rescues_the_exploding_residual_network(seed):
    runs = {c: deep.depth_study(50, "residual", "pytorch", max_norm=c,
                                seed=seed) for c in (None, 1.0)}
    assert runs[None].total_norms[0] > 10          # it does explode
    # '(D = 50, 32 neurons wide, PyTorch's default)': the cached study
    assert runs[None] is deep.depth_study(50, "residual", "pytorch",
                                          width=32, seed=seed)
    assert failed(runs[None])
    clipped = runs[1.0]
    assert trained(clipped, below=0.5)
    assert clipped.losses[-1] < 0.1 * clipped.losses[0]
    assert clipped.total_norms[-1] < clipped.total_norms[0] / 5
    if seed == 0:   # the run the chapter describes: the loss is not finite
        assert runs[None].diverged_at is not None


@pytest.mark.parametrize("norm,scaled", [(1.0, True), (1.0 - 5e-7, True),
                                         (1.0 - 2e-6, False)])
def test_clipping_starts_just_below_max_norm(norm, scaled):
    """'when the norm exceeds max_norm c (to be exact, c - 1e-6)', as
    torch.nn.utils.clip_grad_norm_ does it."""
    g = np.array([0.6, 0.8]) * norm
    (clipped,), total = optim.clip_grad_norm([g], 1.0)
    t = torch.tensor(g, requires_grad=True)
    t.grad = torch.tensor(g)
    torch.nn.utils.clip_grad_norm_([t], 1.0)
    np.testing.assert_allclose(clipped, t.grad.numpy(), rtol=1e-15)
    factor = 1.0 / (norm + 1e-6)
    if scaled:
        assert factor < 1
        np.testing.assert_allclose(clipped, g * factor, rtol=1e-15)
    else:
        np.testing.assert_array_equal(clipped, g)


def test_clipping_keeps_the_direction():
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=(4, 3)) * 50, rng.normal(size=3) * 50]
    clipped, total = optim.clip_grad_norm(grads, 1.0)
    flat = np.concatenate([g.ravel() for g in grads])
    flat_c = np.concatenate([g.ravel() for g in clipped])
    assert math.isclose(np.linalg.norm(flat_c), 1.0, rel_tol=1e-5)
    np.testing.assert_allclose(flat_c / np.linalg.norm(flat_c),
                               flat / total, rtol=1e-12)


# ------------------------------------------------- the explorer's claims

def test_explorer_settings_are_the_ones_the_text_states():
    """'32 neurons per hidden layer ... 30 steps of gradient descent
    (eta = 0.1, full batch of 64 examples, 4 classes; a guess has loss
    log 4)'."""
    import inspect

    defaults = {k: v.default for k, v in
                inspect.signature(deep.depth_study).parameters.items()}
    assert (defaults["width"], defaults["n"], defaults["steps"],
            defaults["lr"], defaults["max_norm"]) == (32, 64, 30, 0.1, None)
    study = deep.depth_study(5, "plain", "he")
    assert study.losses.shape == (31,)
    X, y = deep.teacher_task(32, 64, 4, seed=0)
    assert X.shape == (64, 32) and set(y) <= set(range(4))
    from calc_nn import losses
    guess = np.zeros((64, 4))
    assert float(losses.cross_entropy(guess, y)) == pytest.approx(CHANCE)


@pytest.mark.parametrize("seed", SEEDS)
def test_default_init_error_vanishes_as_six_to_the_minus_24(seed):
    """'PyTorch's default makes the error vanish over 49 layers (about
    6^-24)', in the explorer's 32-wide network: within a factor 100 of
    r^24 on a scale of 1e-19."""
    study = deep.depth_study(50, "plain", "pytorch", seed=seed, steps=0)
    assert abs(math.log10(delta_ratio(study) / 6.0 ** -24)) < 2


@pytest.mark.parametrize("seed", SEEDS)
def test_plain_networks_at_fifty_layers_do_not_train(seed):
    for init in deep.INITS:
        assert failed(deep.depth_study(50, "plain", init, seed=seed))


@pytest.mark.parametrize("seed", SEEDS)
def test_at_five_layers_he_trains_and_the_default_barely_moves(seed):
    """'At D = 5, He trains, Xavier learns more slowly (how far it gets
    ... depends on the random draw), and PyTorch's default barely moves:
    four layers are enough to bring its signal down to the level of its
    biases'."""
    runs = {i: deep.depth_study(5, "plain", i, seed=seed)
            for i in deep.INITS}
    assert trained(runs["he"])
    assert runs["pytorch"].losses[-1] > 1.2
    assert (runs["he"].losses[-1] < runs["xavier"].losses[-1]
            < runs["pytorch"].losses[-1] - 0.1)
    # z^4 of the default network (32 wide) sits at the bias level
    # sqrt(2 / (5 n)), within the scatter of a 32-neuron layer
    level = math.sqrt(2 / (5 * 32))
    assert 1 / 1.3 < runs["pytorch"].z_std[-1] / level < 1.3


@pytest.mark.parametrize("seed", SEEDS)
def test_xavier_weight_gradients_level_but_tiny(seed):
    study = deep.depth_study(50, "plain", "xavier", seed=seed, steps=0)
    assert 0.1 < study.grad_norms[0] / study.grad_norms[-1] < 10
    assert delta_ratio(study) < 1e-6
    assert study.grad_norms.max() < 1e-6    # "the largest of them is ..."
    assert deep.depth_study(50, "plain", "xavier", seed=seed).grad_norms \
        .max() == study.grad_norms.max()    # training does not change it


@pytest.mark.parametrize("seed", SEEDS)
def test_residual_without_norm_fails_with_large_weights(seed):
    """'the error no longer vanishes, with any initialisation. ... with
    Xavier or He the loss starts huge and training diverges or stalls from
    D = 20 on, and at D = 50 even PyTorch's default ...'"""
    for depth in (20, 50):
        for init in deep.INITS:
            study = deep.depth_study(depth, "residual", init, seed=seed)
            assert delta_ratio(study) > 0.5
            if init != "pytorch":
                assert study.losses[0] > 10
                assert failed(study)
    assert failed(deep.depth_study(50, "residual", "pytorch", seed=seed))
    # 'the loss starts huge, the larger the deeper the network ... (at
    # D = 10 He already ends far above the other two)'
    for init in ("xavier", "he"):
        first = [deep.depth_study(d, "residual", init, seed=seed).losses[0]
                 for d in (10, 20, 50)]
        assert first[0] > 5 and first == sorted(first)
    at_10 = {i: deep.depth_study(10, "residual", i, seed=seed).losses[-1]
             for i in deep.INITS}
    assert at_10["he"] > 3 * max(at_10["pytorch"], at_10["xavier"])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("depth", (5, 10, 20, 50))   # the explorer's D
def test_residual_with_batch_norm_trains_everywhere(depth, seed):
    for init in deep.INITS:
        assert trained(deep.depth_study(depth, "residual_batchnorm", init,
                                        seed=seed))


def test_the_explorer_grid_fits_the_static_site():
    states = 4 * len(deep.INITS) * len(deep.ARCHS)
    assert states <= 600


# ---------------------------------------------------------------- figures

@pytest.mark.parametrize("depth,init,arch", [
    (5, "he", "plain"), (50, "pytorch", "plain"), (50, "he", "residual"),
    (20, "xavier", "batchnorm"), (10, "pytorch", "residual_batchnorm")])
def test_depth_explorer_describes_what_it_draws(depth, init, arch):
    fig = figs.depth_explorer(depth, init, arch)
    study = deep.depth_study(depth, arch, init)
    assert len(fig.data) == 5
    text = fig.layout.meta["description"]
    ratio_d = delta_ratio(study)
    ratio_w = study.grad_norms[0] / study.grad_norms[-1]
    assert f"{ratio_d:.1e}" in text and f"{ratio_w:.1e}" in text
    assert figs.verdict(ratio_d) in text
    assert f"{depth} layers" in text and figs.INIT_LABELS[init] in text
    if study.diverged_at is None:
        assert f"{study.losses[-1]:.3g}" in text
        assert "diverged" not in text
    else:
        assert f"diverged at step {study.diverged_at}" in text
        assert f"diverged at step {study.diverged_at}" in \
            fig.layout.title.text
    np.testing.assert_allclose(fig.data[0].y, study.grad_norms)
    # 'The box reads off two ratios': the error's, with its word, and the
    # weight gradient's
    box = [a.text for a in fig.layout.annotations if "÷" in (a.text or "")]
    assert len(box) == 1
    assert f"‖Δ¹‖ ÷ ‖Δᴰ⁻¹‖ = {ratio_d:.1e} ({figs.verdict(ratio_d)})" \
        in box[0]
    assert f"‖∂L/∂W¹‖ ÷ ‖∂L/∂Wᴰ‖ = {ratio_w:.1e}" in box[0]
    assert "narrow" in fig.layout.meta
    # every panel names what its y axis shows: the left one three
    # quantities, named in the legend
    assert fig.layout.yaxis.title.text == "norm or std"
    assert fig.layout.yaxis2.title.text == "loss"


def test_every_explorer_state_has_the_same_traces():
    shapes = {len(figs.depth_explorer(50, i, a).data)
              for i in deep.INITS for a in deep.ARCHS}
    assert shapes == {5}


def test_clipping_figure_describes_the_three_runs():
    fig = figs.clipping_runs()
    text = fig.layout.meta["description"]
    runs = [deep.depth_study(50, "residual", "pytorch", max_norm=c)
            for c in (None, 10.0, 1.0)]
    assert f"diverged at step {runs[0].diverged_at}" in text
    for run in runs[1:]:
        assert f"{run.losses[-1]:.3g}" in text
    assert len(fig.data) == 6
    # the learning rate in the book's letter (notation.md: eta, `lr`)
    assert fig.layout.title.text.endswith("D = 50, η = 0.1")
    assert text.startswith("Gradient descent (η = 0.1) on a")


@pytest.mark.parametrize("make", [
    lambda: figs.depth_explorer(20, "pytorch", "plain"),
    lambda: figs.depth_explorer(50, "he", "residual"),
    lambda: figs.clipping_runs()], ids=["explorer", "diverged", "clipping"])
def test_figures_fit_a_phone_and_a_narrow_column(make):
    """The geometry checks of test_figures.py (panels, header, lines that
    fit), on the narrow patch at a phone's width and the wide layout."""
    import figure_cases as fc
    from test_figures import _geometry_problems

    from calc_nn.plots._style import NARROW_PX, PHONE_PX
    assert not _geometry_problems(fc.apply_narrow(make()), PHONE_PX)
    assert not _geometry_problems(make(), NARROW_PX)


def test_explorer_description_changes_with_every_control():
    defaults = dict(depth=5, init="pytorch", arch="plain")
    for control, values in (("depth", [5, 10]), ("init", deep.INITS),
                            ("arch", deep.ARCHS)):
        texts = {figs.depth_explorer(**{**defaults, control: v}).layout
                 .meta["description"] for v in values}
        assert len(texts) == len(values), control


@pytest.mark.parametrize("ratio,word", [
    (1e-4, "vanishing"), (0.2, "shrinking"), (0.5, "steady"), (2.0,
                                                              "steady"),
    (3.0, "growing"), (100.0, "growing"), (1e4, "exploding"),
    (math.nan, "not finite")])
def test_verdict(ratio, word):
    assert figs.verdict(ratio) == word


# ----------------------------------------------------------- the chapter

def test_chapter_states_its_prerequisites_and_exercises():
    text = (BOOK / "deep.md").read_text()
    box = re.search(r":::\{admonition\} Before you start\n(.*?)\n:::",
                    text, re.S).group(1)
    for ref in ("calc-chain-rule", "calc-vjp", "calc-layout",
                "chapter-backprop", "chapter-optimizers", "chapter-cnn"):
        assert f"{{ref}}`{ref}`" in box
    titles = re.findall(r"```\{exercise\} (★+) ", text)
    assert len(titles) >= 5 and {"★", "★★", "★★★"} <= set(titles)
    assert text.count("{solution-start}") == len(titles)
    first = text.split("\n# ", 1)[1].split("\n\n", 2)[1]
    assert "{ref}`notation`" in first
    # the warning it starts from is backprop's section on vanishing
    # gradients (the backprop chapter ends on training, not on it)
    assert first.startswith("{ref}`bp-vanishing`")
    backprop = (BOOK / "backprop.md").read_text()
    assert "(bp-vanishing)=\n## Vanishing and exploding" in backprop
    last = re.findall(r"\n## (.+)", backprop.split("## Summary")[0])[-1]
    assert "anishing" not in last


def test_letters_follow_the_notation_page():
    """D is the depth in this chapter, so a batch of features is (N, n);
    an error measured on a batch is the matrix Delta^l of the notation
    page (delta^l is one example's), in the prose and the explorer."""
    text = (BOOK / "deep.md").read_text()
    notation = (BOOK / "notation.md").read_text()
    assert "for a batch, $\\Delta^l$ of shape $(N, n_l)$" in notation
    assert "(N, D)" not in text and "`(N, n)`" in text
    assert "‖δ" not in text and "lVert\\delta" not in text
    assert "‖Δ¹‖ / ‖Δ⁴⁹‖, measured" in text
    assert "lVert\\Delta^1\\rVert / \\lVert\\Delta^{D-1}\\rVert" in text
    legend = [tr.name for tr in figs.depth_explorer(5, "he", "plain").data]
    assert "‖Δˡ‖ = ‖∂L/∂Zˡ‖" in legend


def test_a_step_against_the_batch_norm_gradient_moves_spread_at_second_order():
    """Exercise deep-ex-bn-null: 'a step along -dL/dx cannot move the
    batch's mean, and changes its spread only to second order in the step
    (it adds the step's own variance)'."""
    rng = np.random.default_rng(4)
    x = rng.normal(3, 2, size=(16, 4))
    _, cache = layers.batchnorm_forward(x, np.ones(4), np.zeros(4),
                                        eps=1e-12)
    dx = layers.batchnorm_backward(rng.standard_normal(x.shape), cache)[0]
    for step in (1e-3, 0.1, 1.0):
        moved = x - step * dx
        np.testing.assert_allclose(moved.mean(axis=0), x.mean(axis=0),
                                   rtol=1e-13)
        np.testing.assert_allclose(moved.var(axis=0) - x.var(axis=0),
                                   step ** 2 * dx.var(axis=0), rtol=1e-6)
    assert (dx.var(axis=0) > 0).all()               # it does move it


def chapter_function(name):
    """The function ``name`` as an exercise's solution defines it in
    book/deep.md (its code cell, run in a namespace of its own)."""
    text = (BOOK / "deep.md").read_text()
    start = text.index(f"def {name}(")
    code = text[start:text.index("\n\n\n", start)]
    namespace = {"np": np}
    exec(code, namespace)  # noqa: S102 - the chapter's own solution
    return namespace[name], code


def test_exercise_solutions_pass_their_checkers():
    """The printed solutions of the two 'implement it and check' exercises
    pass calc_nn.check, and the variants the exercises ask about fail with
    the report the text describes."""
    from calc_nn import check

    bn, code = chapter_function("my_batchnorm_backward")
    assert check.batchnorm_backward(bn)
    # 'then drop the term x_hat sum g x_hat and read the report'
    assert " - x_hat * dgamma)" in code
    namespace = {"np": np}
    exec(code.replace(" - x_hat * dgamma)", ")"), namespace)  # noqa: S102
    report = check.batchnorm_backward(namespace["my_batchnorm_backward"])
    assert not report
    assert "(dx, dgamma, dbeta)[0]: wrong values" in str(report)

    dropout, _ = chapter_function("my_dropout_backward")
    assert check.dropout_backward(dropout)
    # 'multiplying by mask != 0 ... every entry is 1 - p times the
    # expected one', for every training case (p = 0.5, 0.2, 0.9)
    unscaled = check.dropout_backward(lambda d, c: d * (c.mask != 0))
    problems = [f.problem for f in unscaled.failures]
    assert len(problems) == 3
    for p, problem in zip((0.5, 0.2, 0.9), problems):
        assert f"every entry is {1 - p:.6g} times the expected one" \
            in problem


def test_the_pre_activation_order_is_cited_to_its_paper():
    """The residual + BN network is BN -> ReLU -> W with nothing after the
    sum: the pre-activation unit of He et al., 'Identity mappings in deep
    residual networks' (ECCV 2016), not the order of their first ResNet
    paper (he2016: BN after each weight layer, a ReLU after the sum). The
    chapter cites he2016identity wherever it describes that order and
    keeps he2016 for the residual connection itself, and the network
    computes what the sentence says."""
    text = " ".join((BOOK / "deep.md").read_text().split())
    assert "A **residual connection** {cite:p}`he2016` adds" in text
    assert ("their follow-up, the pre-activation ResNets of "
            "{cite:t}`he2016identity`, put batch norm and the ReLU *first* "
            "in the branch, BN → ReLU → weights, and nothing after the "
            "sum") in text
    assert ("the recipe of {cite:t}`he2016` (residual connections and "
            "batch norm), in the pre-activation order of "
            "{cite:t}`he2016identity`") in text
    assert "(the pre-activation order of {cite:t}`he2016identity`)" in text
    assert "the recipe of {cite:t}`he2016`." not in text
    bib = " ".join((BOOK.parent / "references.bib").read_text().split())
    entry = re.search(r"@inproceedings\{he2016identity,(.*?)\}\s*(@|$)", bib)
    assert entry
    for field in ("title = {Identity mappings in deep residual networks}",
                  "pages = {630--645}", "year = {2016}",
                  "doi = {10.1007/978-3-319-46493-0_38}",
                  "eprint = {1603.05027}"):
        assert field in entry.group(1), field
    assert "title = {Deep residual learning for image recognition}" in bib
    # the network: z^l = z^{l-1} + W^l ReLU(BN(z^{l-1})) + b^l
    X, _ = deep.teacher_task(6, 9, 4, seed=3)
    net = deep.deep_network(4, "residual_batchnorm", "he", width=7, n_in=6,
                            seed=3)
    logits, _ = deep.deep_forward(net, X)
    z = X @ net.W[0].T + net.b[0]
    for l in range(1, len(net.W)):
        bn = (z - z.mean(0)) / np.sqrt(z.var(0) + 1e-5)
        bn = net.gamma[l - 1] * bn + net.beta[l - 1]
        out = np.maximum(bn, 0) @ net.W[l].T + net.b[l]
        z = z + out if l < len(net.W) - 1 else out
    np.testing.assert_allclose(logits, z, rtol=1e-12, atol=1e-12)


def test_m_is_only_the_mean_of_the_inputs_in_the_sympy_check():
    """The forward-variance derivation's double sum runs over k and k'
    (it ran over k and m, while m is the mean in a_k ~ N(m, q) of the
    SymPy check that follows): m stands alone only there."""
    text = (BOOK / "deep.md").read_text()
    assert bare(text, "m") == [r"a_k \sim \mathcal N(m, q)", "m"]
    prose = " ".join(text.split())
    assert (r"$(z^l_j)^2 = \sum_k \sum_{k'} W^l_{jk} W^l_{jk'}\, "
            r"a^{l-1}_k a^{l-1}_{k'}$") in prose
    assert r"For $k \ne k'$" in prose and r"For $k = k'$" in prose
