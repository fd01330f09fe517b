"""calc_nn.mlp: the model protocol, forward and backward (the delta
equations) against torch.autograd on random shapes, and the errors of a
careful library."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from calc_nn import init as init_
from calc_nn import layers, losses
from calc_nn.gradcheck import numerical_gradient, relative_error
from calc_nn.mlp import MLP, MLPCache, layer_gradient_norms, make_moons
from calc_nn.symbolic import backprop_formulas as sym_backprop

SETTINGS = settings(max_examples=40, deadline=None)
TORCH_ACT = {"relu": torch.relu, "sigmoid": torch.sigmoid,
             "tanh": torch.tanh,
             "leaky_relu": torch.nn.functional.leaky_relu}


@st.composite
def network_case(draw):
    sizes = draw(st.lists(st.integers(1, 7), min_size=2, max_size=5))
    n = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    init = draw(st.sampled_from(["pytorch", "xavier", "he", 1.5]))
    return sizes, n, seed, init


def torch_forward(model, X):
    """The model's network in PyTorch, from leaf copies of its params."""
    params = [torch.tensor(p, requires_grad=True) for p in model.params]
    a = torch.tensor(X)
    for l in range(model.n_layers):
        a = torch.nn.functional.linear(a, params[2 * l], params[2 * l + 1])
        if l < model.n_layers - 1:
            a = TORCH_ACT[model.activation](a)
    return a, params


def loss_and_grad(model, X, y):
    logits, cache = model.forward(X)
    grads = model.backward(losses.cross_entropy_grad(logits, y), cache)
    return float(losses.cross_entropy(logits, y)), grads


@pytest.mark.parametrize("activation", sorted(TORCH_ACT))
@SETTINGS
@given(case=network_case())
def test_forward_and_backward_equal_torch(activation, case):
    sizes, n, seed, init = case
    model = MLP(sizes, activation, seed=seed, init=init)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, sizes[0]))
    dlogits = rng.standard_normal((n, sizes[-1]))
    logits, cache = model.forward(X)
    grads = model.backward(dlogits, cache)
    out, params = torch_forward(model, X)
    out.backward(torch.tensor(dlogits))
    assert logits.shape == (n, sizes[-1])
    np.testing.assert_allclose(logits, out.detach().numpy(), rtol=1e-9,
                               atol=1e-9)
    assert len(grads) == len(params) == 2 * (len(sizes) - 1)
    for mine, ref in zip(grads, params):
        assert mine.shape == ref.shape
        np.testing.assert_allclose(mine, ref.grad.numpy(), rtol=1e-9,
                                   atol=1e-9)


def test_the_protocol():
    model = MLP([3, 5, 2], "tanh", seed=1)
    assert model.param_names == ["W1", "b1", "W2", "b2"]
    assert [p.shape for p in model.params] == [(5, 3), (5,), (2, 5), (2,)]
    assert model.weights == tuple(model.params[0::2])
    assert all(w is p for w, p in zip(model.biases, model.params[1::2]))
    X = np.random.default_rng(0).standard_normal((4, 3))
    logits, cache = model.forward(X)
    assert isinstance(cache, MLPCache)
    np.testing.assert_array_equal(model(X), logits)
    assert [z.shape for z in cache.zs] == [(4, 5), (4, 2)]
    assert [a.shape for a in cache.activations] == [(4, 3), (4, 5), (4, 2)]
    assert model.n_parameters == 5 * 3 + 5 + 2 * 5 + 2
    assert repr(model) == ("MLP([3, 5, 2], activation='tanh', "
                           "init='pytorch', dtype=float64)")


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_backward_equals_the_chain_of_layers(activation):
    """The delta equations are the layer pairs of calc_nn.layers chained."""
    model = MLP([3, 5, 4, 2], activation, seed=1)
    rng = np.random.default_rng(2)
    X, dlogits = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    grads = model.backward(dlogits, model.forward(X)[1])
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
        np.testing.assert_allclose(grads[2 * l], dW, rtol=1e-12)
        np.testing.assert_allclose(grads[2 * l + 1], db, rtol=1e-12)


def test_single_input_vector():
    model = MLP([3, 4, 2], "tanh")
    x = np.array([0.5, -1.0, 2.0])
    logits, cache = model.forward(x)
    assert logits.shape == (2,)
    np.testing.assert_allclose(logits, model(x[None])[0])
    grads = model.backward(np.array([1.0, -1.0]), cache)
    batched = model.backward(np.array([[1.0, -1.0]]),
                             model.forward(x[None])[1])
    assert [g.shape for g in grads] == [(4, 3), (4,), (2, 4), (2,)]
    for g, h in zip(grads, batched):
        np.testing.assert_array_equal(g, h)
    with pytest.raises(ValueError, match=r"dlogits has shape \(1, 2\) but "
                       r"the logits have shape \(2,\)"):
        model.backward(np.array([[1.0, -1.0]]), cache)


def test_gradient_check_against_finite_differences():
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((30, 2)), rng.integers(0, 3, 30)
    model = MLP([2, 6, 5, 3], "tanh", seed=4)
    _, grads = loss_and_grad(model, X, y)
    analytic = np.concatenate([g.ravel() for g in grads])
    theta = model.get_flat()

    def loss(t):
        model.set_flat(t)
        return loss_and_grad(model, X, y)[0]
    numeric = numerical_gradient(loss, theta)
    assert relative_error(analytic, numeric) < 1e-6


def test_gradient_check_catches_a_wrong_delta():
    """Leave out f'(z) in the delta recursion: the check must fail."""
    X, y = make_moons(20, seed=2)
    model = MLP([2, 5, 2], "sigmoid", seed=0)
    logits, cache = model.forward(X)
    dlogits = losses.cross_entropy_grad(logits, y)
    wrong_dW0 = (dlogits @ model.weights[1]).T @ X  # forgot * f'(z^1)

    def loss(W0):
        saved = model.weights[0].copy()
        model.weights[0][...] = W0
        value = loss_and_grad(model, X, y)[0]
        model.weights[0][...] = saved
        return value
    numeric = numerical_gradient(loss, model.weights[0].copy())
    assert relative_error(wrong_dW0, numeric) > 0.1
    assert relative_error(model.backward(dlogits, cache)[0], numeric) < 1e-6


# ------------------------------------------------------- named errors

@pytest.mark.parametrize("kwargs,error,pattern", [
    (dict(layer_sizes=[2, 3], activation="softplus"), ValueError,
     r"sigmoid.*tanh.*relu.*'softplus'"),
    (dict(layer_sizes=[2, 3], activation=3), TypeError, r"activation"),
    (dict(layer_sizes=[2]), ValueError, r"at least two"),
    (dict(layer_sizes=[2, 0, 1]), ValueError, r"positive ints"),
    (dict(layer_sizes=[2, 2.5]), TypeError, r"layer_sizes\[1\]"),
    (dict(layer_sizes="23"), TypeError, r"layer_sizes must be a list"),
    (dict(layer_sizes=[2, 3], init="glorot"), ValueError,
     r"'glorot'.*xavier"),
    (dict(layer_sizes=[2, 3], init=-1.0), ValueError, r"init must be.*> 0"),
    (dict(layer_sizes=[2, 3], init=np.inf), ValueError,
     r"init must be a finite number > 0 .*, got inf"),
    (dict(layer_sizes=[2, 3], init=np.nan), ValueError, r"init .* nan"),
    (dict(layer_sizes=[2, 3], init=True), TypeError, r"init"),
    (dict(layer_sizes=[2, 3], dtype=int), TypeError,
     r"dtype must be one of np.float16, np.float32, np.float64.*int64"),
    (dict(layer_sizes=[2, 3], dtype="nonsense"), TypeError, r"dtype"),
    (dict(layer_sizes=[2, 3], dtype=np.complex128), TypeError, r"dtype"),
    (dict(layer_sizes=[2, 3], seed=-1), ValueError, r"seed"),
    (dict(layer_sizes=[2, 3], seed=1.5), TypeError, r"seed"),
])
def test_bad_arguments(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        MLP(**kwargs)


def test_shape_errors_name_both_shapes():
    model = MLP([3, 4, 2])
    with pytest.raises(ValueError, match=r"\(5, 2\).*\(4, 3\)"):
        model.forward(np.zeros((5, 2)))
    _, cache = model.forward(np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"\(5, 3\).*\(5, 2\)"):
        model.backward(np.zeros((5, 3)), cache)
    with pytest.raises(ValueError, match=r"\(7,\).*26"):
        model.set_flat(np.zeros(7))


def test_a_wrong_cache_is_named():
    model = MLP([3, 4, 2])
    dlogits = np.zeros((5, 2))
    for cache in (None, (1, 2), model.forward(np.zeros((5, 3)))[1][:2]):
        with pytest.raises(TypeError, match="cache must be the MLPCache "
                           "returned by this model's forward"):
            model.backward(dlogits, cache)
    other = MLP([3, 6, 2]).forward(np.zeros((5, 3)))[1]
    with pytest.raises(ValueError, match=r"cache comes from another network"
                       r" \(layer outputs \[6, 2\]"):
        model.backward(dlogits, other)
    other32 = MLP([3, 4, 2], dtype=np.float32).forward(
        np.zeros((5, 3), np.float32))[1]
    with pytest.raises(ValueError, match="float32.*float64"):
        model.backward(dlogits, other32)


def test_a_replaced_parameter_is_named():
    model = MLP([3, 4, 2], dtype=np.float32)
    model.params[2] = model.params[2].astype(np.float64)
    with pytest.raises(TypeError, match=r"parameter W2 must be an ndarray "
                       r"of dtype float32, got ndarray float64"):
        model.forward(np.zeros((1, 3), np.float32))
    model.params[2] = np.zeros((4, 2), np.float32)
    with pytest.raises(ValueError, match=r"parameter W2 must have shape "
                       r"\(2, 4\), got \(4, 2\)"):
        model.forward(np.zeros((1, 3), np.float32))


# ----------------------------------------------------------- dtype

def test_float32_stays_float32_and_mixes_are_named():
    """Issue 12, item 13: PyTorch's rule for floats; raw integer pixels
    are converted to the model's dtype; one dtype out of backward."""
    model = MLP([4, 3, 2], dtype=np.float32)
    with pytest.raises(TypeError, match="X has dtype float64 but float32"):
        model.forward(np.zeros((2, 4)))
    X8 = np.array([[0, 255, 3, 7]], np.uint8)
    logits, cache = model.forward(X8)
    assert logits.dtype == np.float32
    np.testing.assert_array_equal(cache.activations[0], X8)
    with pytest.raises(TypeError, match="dlogits has dtype float64 but "
                       "float32"):
        model.backward(np.ones((1, 2)), cache)
    grads = model.backward(np.ones((1, 2), np.int64), cache)
    assert {g.dtype for g in grads} == {np.dtype(np.float32)}
    # bool input is numbers too (0, 1)
    assert model(np.ones((1, 4), bool)).dtype == np.float32


@pytest.mark.parametrize("bad", [np.zeros((2, 3), complex),
                                 np.full((2, 3), "a"),
                                 np.full((2, 3), None, dtype=object)])
def test_inputs_that_are_not_numbers(bad):
    with pytest.raises(TypeError, match="X must be an array of real numbers"):
        MLP([3, 2]).forward(bad)


# ---------------------------------------------------------- aliasing

def test_the_cache_does_not_see_a_later_change_of_x():
    """Issue 12, item 7: change X in place between forward and backward;
    the gradients stay those of the X that went forward."""
    model = MLP([3, 4, 2], "tanh", seed=0)
    rng = np.random.default_rng(0)
    X, dlogits = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    expected = model.backward(dlogits, model.forward(X.copy())[1])
    _, cache = model.forward(X)
    X[...] = 100.0
    for g, e in zip(model.backward(dlogits, cache), expected):
        np.testing.assert_array_equal(g, e)
    assert not np.shares_memory(cache.activations[0], X)


def test_flat_parameters_are_copies():
    model = MLP([2, 3, 2], seed=0)
    theta = model.get_flat()
    theta[:] = 0.0
    assert model.params[0].any()  # get_flat gave a copy
    new = np.arange(model.n_parameters, dtype=float)
    model.set_flat(new)
    np.testing.assert_array_equal(model.get_flat(), new)
    new[:] = -1.0
    assert model.get_flat()[1] == 1.0  # set_flat copied
    with pytest.raises(ValueError, match="theta must be finite; it "
                       "contains nan"):
        model.set_flat(np.full(model.n_parameters, np.nan))
    with pytest.raises(TypeError, match="theta has dtype float32"):
        model.set_flat(np.zeros(model.n_parameters, np.float32))


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


def test_make_moons():
    X, y = make_moons(201, noise=0.0, seed=0)
    assert X.shape == (201, 2) and y.dtype == np.int64
    assert list(np.bincount(y)) == [100, 101]
    # noise 0: the two half circles exactly
    np.testing.assert_allclose(np.hypot(*X[y == 0].T), 1.0)
    np.testing.assert_allclose(np.hypot(X[y == 1, 0] - 1,
                                        X[y == 1, 1] - 0.5), 1.0)
    assert make_moons(0)[0].shape == (0, 2)
    with pytest.raises(ValueError, match="noise must be a finite number "
                       ">= 0 .*, got nan"):
        make_moons(10, noise=np.nan)
    with pytest.raises(ValueError, match="n must be an int >= 0"):
        make_moons(-1)


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


def test_layer_gradient_norms():
    """He keeps ReLU gradients steady through depth, sigmoid vanishes;
    the numbers are those of a network built by hand."""
    he, he_std = layer_gradient_norms("relu", "he", 20)
    sig, _ = layer_gradient_norms("sigmoid", "xavier", 20)
    assert he.shape == (21,) and he_std.shape == (20,)
    assert 1e-2 < he[0] / he[-1] < 1e2
    assert sig[0] / sig[-1] < 1e-6
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((5, 4)), rng.integers(0, 10, 5)
    model = MLP([4, 4, 4, 10], "tanh", seed=3, init="xavier")
    _, grads = loss_and_grad(model, X, y)
    _, cache = model.forward(X)
    norms, std = layer_gradient_norms("tanh", "xavier", 2, width=4, n=5,
                                      seed=3)
    np.testing.assert_allclose(norms, [np.linalg.norm(g)
                                       for g in grads[0::2]])
    np.testing.assert_allclose(std, [a.std()
                                     for a in cache.activations[1:-1]])
    with pytest.raises(ValueError, match="width must be an int >= 1"):
        layer_gradient_norms("relu", "he", 3, width=0)


def test_figures_show_the_forward_pass():
    from calc_nn import plots

    fig = plots.network_activations(1.0, -0.5, "relu")
    model = MLP([2, 4, 3, 2], "relu", seed=3)
    _, cache = model.forward(np.array([1.0, -0.5]))
    np.testing.assert_allclose(
        fig.data[-1].marker.color,
        np.concatenate([a[0] for a in cache.activations]))
    assert not np.array_equal(
        plots.network_activations(0.0, 2.0, "relu").data[-1].marker.color,
        fig.data[-1].marker.color)


@pytest.mark.parametrize("kind,draw", [
    ("he", lambda n_in, n_out, rng: (
        init_.kaiming_normal(n_in, n_out, rng=rng), np.zeros(n_out))),
    ("xavier", lambda n_in, n_out, rng: (
        init_.xavier_normal(n_in, n_out, rng=rng), np.zeros(n_out))),
    ("pytorch", lambda n_in, n_out, rng: init_.torch_default_linear(
        n_in, n_out, rng=rng)),
])
def test_initialisations_are_those_of_calc_nn_init(kind, draw):
    """One source of truth: MLP draws its layers with calc_nn.init, in
    order, from one generator seeded with ``seed``."""
    sizes = [7, 5, 3]
    model = MLP(sizes, seed=11, init=kind)
    rng = np.random.default_rng(11)
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        W, b = draw(n_in, n_out, rng)
        np.testing.assert_array_equal(model.weights[l], W)
        np.testing.assert_array_equal(model.biases[l], b)
