"""calc_nn.mlp: forward and backward (the delta equations) against
torch.autograd in float64, on random shapes."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from calc_nn import layers
from calc_nn.gradcheck import numerical_gradient, relative_error
from calc_nn.mlp import (
    ACTIVATIONS,
    MLP,
    make_moons,
    make_spirals,
    softmax_cross_entropy,
    train,
)
from calc_nn.symbolic import backprop_formulas as sym_backprop

SETTINGS = settings(max_examples=40, deadline=None)
TORCH_ACT = {"relu": torch.relu, "sigmoid": torch.sigmoid,
             "tanh": torch.tanh}


@st.composite
def network_case(draw):
    sizes = draw(st.lists(st.integers(1, 7), min_size=2, max_size=5))
    n = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    init = draw(st.sampled_from(["pytorch", "xavier", "he", 1.5]))
    return sizes, n, seed, init


def torch_forward(model, X):
    Ws = [torch.tensor(W, requires_grad=True) for W in model.weights]
    bs = [torch.tensor(b, requires_grad=True) for b in model.biases]
    a = torch.tensor(X)
    for l, (W, b) in enumerate(zip(Ws, bs)):
        a = torch.nn.functional.linear(a, W, b)
        if l < len(Ws) - 1:
            a = TORCH_ACT[model.activation](a)
    return a, Ws, bs


@pytest.mark.parametrize("activation", ACTIVATIONS)
@SETTINGS
@given(case=network_case())
def test_forward_and_backward_equal_torch(activation, case):
    sizes, n, seed, init = case
    model = MLP(sizes, activation, seed=seed, init=init)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, sizes[0]))
    dlogits = rng.standard_normal((n, sizes[-1]))
    logits = model.forward(X)
    dWs, dbs = model.backward(dlogits)
    out, Ws, bs = torch_forward(model, X)
    out.backward(torch.tensor(dlogits))
    assert logits.shape == (n, sizes[-1])
    np.testing.assert_allclose(logits, out.detach().numpy(), rtol=1e-9,
                               atol=1e-9)
    for mine, ref in zip(dWs + dbs, Ws + bs):
        assert mine.shape == ref.shape
        np.testing.assert_allclose(mine, ref.grad.numpy(), rtol=1e-9,
                                   atol=1e-9)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_backward_equals_the_chain_of_layers(activation):
    """The delta equations are the layer pairs of calc_nn.layers chained."""
    model = MLP([3, 5, 4, 2], activation, seed=1)
    rng = np.random.default_rng(2)
    X, dlogits = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    model.forward(X)
    dWs, dbs = model.backward(dlogits)
    caches, a = [], X
    for l, (W, b) in enumerate(zip(model.weights, model.biases)):
        a, lin = layers.linear_forward(a, W, b)
        act_cache = None
        if l < 2:
            a, act_cache = layers.activation_forward(a, activation)
        caches.append((lin, act_cache))
    d = dlogits
    for l in range(2, -1, -1):
        lin, act_cache = caches[l]
        if act_cache is not None:
            d = layers.activation_backward(d, act_cache)
        d, dW, db = layers.linear_backward(d, lin)
        np.testing.assert_allclose(dWs[l], dW, rtol=1e-12)
        np.testing.assert_allclose(dbs[l], db, rtol=1e-12)


def test_single_input_vector():
    model = MLP([3, 4, 2], "tanh")
    x = np.array([0.5, -1.0, 2.0])
    logits = model.forward(x)
    assert logits.shape == (2,)
    np.testing.assert_allclose(logits, model.forward(x[None])[0])
    model.forward(x)
    dWs, dbs = model.backward(np.array([1.0, -1.0]))
    assert [d.shape for d in dWs] == [(4, 3), (2, 4)]


def test_gradient_check_against_finite_differences():
    X, y = make_spirals(30, seed=1)
    model = MLP([2, 6, 5, 3], "tanh", seed=4)
    _, dlogits = softmax_cross_entropy(model.forward(X), y)
    dWs, dbs = model.backward(dlogits)
    analytic = np.concatenate([g.ravel() for W, b in zip(dWs, dbs)
                               for g in (W, b)])
    theta = model.get_flat()

    def loss(t):
        model.set_flat(t)
        return softmax_cross_entropy(model.forward(X), y)[0]
    numeric = numerical_gradient(loss, theta)
    assert relative_error(analytic, numeric) < 1e-6


def test_gradient_check_catches_a_wrong_delta():
    """Leave out f'(z) in the delta recursion: the check must fail."""
    X, y = make_moons(20, seed=2)
    model = MLP([2, 5, 2], "sigmoid", seed=0)
    logits = model.forward(X)
    _, dlogits = softmax_cross_entropy(logits, y)
    wrong_dW0 = (dlogits @ model.weights[1]).T @ X  # forgot * f'(z^1)

    def loss(W0):
        saved = model.weights[0].copy()
        model.weights[0][...] = W0
        value = softmax_cross_entropy(model.forward(X), y)[0]
        model.weights[0][...] = saved
        return value
    numeric = numerical_gradient(loss, model.weights[0].copy())
    assert relative_error(wrong_dW0, numeric) > 0.1
    model.forward(X)
    assert relative_error(model.backward(dlogits)[0][0], numeric) < 1e-6


def test_backward_before_forward_raises():
    with pytest.raises(RuntimeError, match=r"before forward"):
        MLP([2, 3, 1]).backward(np.zeros((1, 1)))


@pytest.mark.parametrize("kwargs,pattern", [
    (dict(layer_sizes=[2, 3], activation="softplus"),
     r"'softplus'.*relu.*sigmoid.*tanh"),
    (dict(layer_sizes=[2]), r"at least two"),
    (dict(layer_sizes=[2, 0, 1]), r"positive ints"),
    (dict(layer_sizes=[2, 3], init="glorot"), r"'glorot'.*xavier"),
    (dict(layer_sizes=[2, 3], init=-1.0), r"float > 0"),
])
def test_bad_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        MLP(**kwargs)


def test_shape_errors_name_both_shapes():
    model = MLP([3, 4, 2])
    with pytest.raises(ValueError, match=r"\(5, 2\).*\(4, 3\)"):
        model.forward(np.zeros((5, 2)))
    model.forward(np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"\(5, 3\).*\(5, 2\)"):
        model.backward(np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"\(7,\).*26"):
        model.set_flat(np.zeros(7))


@pytest.mark.parametrize("init,expected_var", [
    ("xavier", lambda n_in, n_out: 2 / (n_in + n_out)),
    ("he", lambda n_in, n_out: 2 / n_in),
    ("pytorch", lambda n_in, n_out: 1 / (3 * n_in)),
])
def test_initialisation_variances(init, expected_var):
    model = MLP([400, 300, 200], seed=0, init=init)
    for W in model.weights:
        n_out, n_in = W.shape
        assert W.var() == pytest.approx(expected_var(n_in, n_out), rel=0.05)


def test_softmax_cross_entropy_matches_torch():
    rng = np.random.default_rng(0)
    logits, y = rng.standard_normal((7, 4)) * 5, rng.integers(0, 4, 7)
    loss, grad = softmax_cross_entropy(logits, y)
    t = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(t, torch.tensor(y))
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-10, atol=1e-15)
    with pytest.raises(ValueError,
                       match=r"class index 7, out of range \[0, 4\)"):
        softmax_cross_entropy(logits, y + 4)


def test_training_separates_the_moons():
    X, y = make_moons(200, noise=0.1, seed=0)
    assert X.shape == (200, 2) and set(y) == {0, 1}
    history = train(MLP([2, 16, 16, 2], "tanh", seed=0), X, y, lr=0.5,
                    epochs=300, record_every=50)
    assert [h["epoch"] for h in history] == [0, 50, 100, 150, 200, 250, 300]
    assert history[-1]["loss"] < 0.2 * history[0]["loss"]
    assert history[-1]["accuracy"] > 0.95
    assert history[0]["grad_norms"].shape == (3,)


def test_a_wrong_delta_fails_its_check(monkeypatch):
    """Drop f'(z) from the recursion: check_bp3_bp4 must fail."""
    def wrong(net):
        Ws, zs, as_, fp = net["Ws"], net["zs"], net["as_"], net["fp"]
        delta = (as_[-1] - net["y"]).multiply_elementwise(
            zs[-1].applyfunc(fp))
        dWs, dbs = [None] * len(Ws), [None] * len(Ws)
        for l in range(len(Ws) - 1, -1, -1):
            dWs[l], dbs[l] = delta * as_[l].T, delta
            delta = Ws[l].T * delta  # forgot * f'(z^{l-1})
        return dWs, dbs
    from formula_checks.backprop import check_bp3_bp4

    monkeypatch.setattr(sym_backprop, "delta_equations", wrong)
    with pytest.raises(AssertionError):
        check_bp3_bp4()


def test_figures_show_the_forward_pass_and_the_gradient_norms():
    from calc_nn import plots
    from calc_nn.plots.backprop_figures import layer_gradient_norms

    fig = plots.network_activations(1.0, -0.5, "relu")
    model = MLP([2, 4, 3, 2], "relu", seed=3)
    model.forward(np.array([1.0, -0.5]))
    np.testing.assert_allclose(
        fig.data[-1].marker.color,
        np.concatenate([a[0] for a in model.activations]))
    assert not np.array_equal(
        plots.network_activations(0.0, 2.0, "relu").data[-1].marker.color,
        fig.data[-1].marker.color)
    # He keeps ReLU gradients steady through depth, sigmoid vanishes
    he, _ = layer_gradient_norms("relu", "he", 20)
    sig, _ = layer_gradient_norms("sigmoid", "xavier", 20)
    assert 1e-2 < he[0] / he[-1] < 1e2
    assert sig[0] / sig[-1] < 1e-6
