"""Bad input for every public function of calc_nn.mlp, calc_nn.train and
calc_nn.data (issue 12): non-finite values, wrong dtypes and kinds,
degenerate shapes, out-of-range hyperparameters. Each call must give the
right result (PyTorch's, for the models) or a ValueError/TypeError that
names the argument; never another exception, a hang, or a wrong number."""

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from strategies import (
    correct_or_named_error,
    degenerate_shapes,
    with_nonfinite,
    wrong_kind,
)
from test_train import twins

from calc_nn import data, losses, optim, train
from calc_nn.mlp import MLP, layer_gradient_norms, make_moons

FAST = settings(max_examples=30, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
FLOATS = [np.float16, np.float32, np.float64]
BAD_REALS = st.one_of(
    st.sampled_from([np.nan, np.inf, -np.inf, -1.0, 0.0, 1e300, True,
                     "1", None, [1.0], 2 + 0j]),
    st.floats(allow_nan=True, allow_infinity=True))
BAD_INTS = st.one_of(
    st.sampled_from([-1, 0, 1, 2, 1.5, np.nan, True, "3", None, 10**6,
                     np.int64(3)]),
    st.integers(-5, 50))


def torch_logits(model, X):
    """The MLP's logits in PyTorch (float64), the oracle."""
    a = torch.tensor(np.asarray(X, np.float64))
    acts = {"relu": torch.relu, "tanh": torch.tanh,
            "sigmoid": torch.sigmoid}
    for l in range(model.n_layers):
        a = F.linear(a, torch.tensor(model.params[2 * l],
                                     dtype=torch.float64),
                     torch.tensor(model.params[2 * l + 1],
                                  dtype=torch.float64))
        if l < model.n_layers - 1:
            a = acts[model.activation](a)
    return a.numpy()


def same_ieee(ours, ref, strict=True):
    """Equal where finite, and non-finite where ``ref`` is. Not ``strict``:
    ours may also be NaN where ``ref`` is finite, for one case: PyTorch's
    ReLU backward *selects* (a NaN upstream gradient becomes 0 where the
    unit is off), where the delta equations multiply by f'(z) = 0 and IEEE
    gives NaN. Never a finite number where PyTorch has none, never another
    finite number."""
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    assert ours.shape == ref.shape
    finite = np.isfinite(ours)
    assert not np.any(finite & ~np.isfinite(ref))
    if strict:
        np.testing.assert_array_equal(finite, np.isfinite(ref))
    np.testing.assert_allclose(ours[finite], ref[finite], rtol=1e-9,
                               atol=1e-12)


# ------------------------------------------------------------ calc_nn.mlp

@FAST
@given(sizes=st.lists(BAD_INTS, min_size=0, max_size=4),
       activation=st.sampled_from(["relu", "tanh", "softplus", "", None,
                                   3]),
       init=st.one_of(st.sampled_from(["he", "xavier", "pytorch", "kaiming"]),
                      BAD_REALS),
       dtype=st.sampled_from([np.float32, np.float64, np.float16, int, bool,
                              np.complex64, "float32", "nonsense", object]),
       seed=BAD_INTS)
def test_mlp_constructor(sizes, activation, init, dtype, seed):
    model, error = correct_or_named_error(
        lambda: MLP(sizes, activation, seed=seed, init=init, dtype=dtype),
        "layer_sizes", "activation", "init", "dtype", "seed")
    if model is not None:
        assert all(np.isfinite(p).all() for p in model.params)
        assert {p.dtype for p in model.params} == {np.dtype(dtype)}


@FAST
@given(data=st.data(), activation=st.sampled_from(["relu", "tanh",
                                                   "sigmoid"]))
def test_mlp_forward_propagates_nonfinite_like_torch(data, activation):
    model = MLP([3, 4, 2], activation, seed=1)
    n = data.draw(st.integers(0, 4))
    X = data.draw(with_nonfinite((n, 3)))
    with np.errstate(invalid="ignore"):  # NumPy's warning for inf * 0
        logits, cache = model.forward(X)
    same_ieee(logits, torch_logits(model, X))
    dlogits = data.draw(with_nonfinite((n, 2)))
    with np.errstate(invalid="ignore"):
        grads = model.backward(dlogits, cache)
    params = [torch.tensor(p, requires_grad=True) for p in model.params]
    a = torch.tensor(X)
    act = {"relu": torch.relu, "tanh": torch.tanh,
           "sigmoid": torch.sigmoid}[activation]
    a = F.linear(act(F.linear(a, *params[:2])), *params[2:])
    a.backward(torch.tensor(dlogits))
    for g, p in zip(grads, params):
        same_ieee(g, p.grad.numpy(), strict=activation != "relu")


@FAST
@given(shape=degenerate_shapes, dtype=st.sampled_from(FLOATS),
       model_dtype=st.sampled_from(FLOATS))
def test_mlp_forward_degenerate_shapes_and_dtypes(shape, dtype,
                                                  model_dtype):
    model = MLP([3, 2], seed=0, dtype=model_dtype)
    X = np.ones(shape, dtype)
    out, error = correct_or_named_error(lambda: model.forward(X), "X")
    if error is None:
        logits, cache = out
        assert dtype == model_dtype and logits.dtype == model_dtype
        assert logits.shape == shape[:-1] + (2,)
        grads = model.backward(np.ones(logits.shape, model_dtype), cache)
        assert {g.dtype for g in grads} == {np.dtype(model_dtype)}
        if shape[0] == 0:  # an empty batch: zero gradients, as torch
            assert not any(g.any() for g in grads)
    elif dtype != model_dtype and X.ndim:
        assert isinstance(error, TypeError)
        assert np.dtype(dtype).name in str(error)
        assert np.dtype(model_dtype).name in str(error)


@FAST
@given(bad=wrong_kind((2, 3)), which=st.sampled_from(["X", "dlogits",
                                                      "theta", "cache"]))
def test_mlp_wrong_kinds(bad, which):
    model = MLP([3, 2], seed=0)
    _, cache = model.forward(np.ones((2, 3)))
    call = {"X": lambda: model.forward(bad),
            "dlogits": lambda: model.backward(bad, cache),
            "theta": lambda: model.set_flat(bad),
            "cache": lambda: model.backward(np.ones((2, 2)), bad)}[which]
    _, error = correct_or_named_error(call, which)
    assert isinstance(error, TypeError)


@FAST
@given(data=st.data())
def test_mlp_flat_parameters(data):
    model = MLP([2, 3, 2], seed=0)
    theta = data.draw(st.one_of(
        with_nonfinite((model.n_parameters,)),
        hnp.arrays(np.float64, data.draw(degenerate_shapes))))
    before = model.get_flat()
    _, error = correct_or_named_error(lambda: model.set_flat(theta),
                                      "theta")
    assert error is not None  # non-finite or the wrong shape
    np.testing.assert_array_equal(model.get_flat(), before)  # untouched


@FAST
@given(n=BAD_INTS, noise=BAD_REALS, seed=BAD_INTS)
def test_make_moons(n, noise, seed):
    out, _ = correct_or_named_error(lambda: make_moons(n, noise, seed),
                                    "n", "noise", "seed")
    if out is not None:
        X, y = out
        assert X.shape == (n, 2) and np.isfinite(X).all()
        assert set(np.unique(y)) <= {0, 1}


@FAST
@given(activation=st.sampled_from(["relu", "tanh", "nope", 1]),
       init=st.one_of(st.sampled_from(["he", "bad"]), BAD_REALS),
       depth=st.sampled_from([0, 1, 3, -1, 2.5]),
       width=st.sampled_from([1, 4, 0, np.nan]),
       n=st.sampled_from([1, 5, 0, "5"]), seed=st.sampled_from([0, -1]))
def test_layer_gradient_norms(activation, init, depth, width, n, seed):
    out, _ = correct_or_named_error(
        lambda: layer_gradient_norms(activation, init, depth, width, n,
                                     seed),
        "activation", "init", "depth", "width", "n", "seed")
    if out is not None:
        norms, std = out
        assert norms.shape == (depth + 1,) and std.shape == (depth,)


# ---------------------------------------------------------- calc_nn.train

SMALL_BAD_INTS = st.sampled_from([-1, 0, 1, 3, 1.5, np.nan, True, "3",
                                  None, np.int64(2)])


@FAST
@given(channels=st.one_of(st.tuples(SMALL_BAD_INTS, SMALL_BAD_INTS),
                          st.sampled_from([(), (2,), (1, 2, 3), "ab", 3,
                                           None])),
       seed=BAD_INTS, dtype=st.sampled_from([np.float32, int, "x"]))
def test_small_cnn_constructor(channels, seed, dtype):
    cnn, _ = correct_or_named_error(
        lambda: train.SmallCNN(channels, seed, dtype), "channels", "seed",
        "dtype")
    if cnn is not None:
        assert cnn.channels == tuple(int(c) for c in channels)


@FAST
@given(shape=st.sampled_from([(), (0,), (0, 28, 28), (1, 28, 28),
                              (0, 1, 28, 28), (2, 1, 28, 28), (28, 28),
                              (1, 2, 28, 28), (1, 28, 29)]),
       dtype=st.sampled_from([np.float32, np.float64, np.uint8, bool]))
def test_small_cnn_degenerate_shapes_and_dtypes(shape, dtype):
    cnn = train.SmallCNN((2, 3), seed=0)
    X = np.ones(shape, dtype)
    out, error = correct_or_named_error(lambda: cnn.forward(X), "X")
    if error is None:
        logits, cache = out
        assert logits.shape == (shape[0], 10)
        assert logits.dtype == np.float32
        grads = cnn.backward(np.ones((shape[0], 10), np.float32), cache)
        assert [g.shape for g in grads] == [p.shape for p in cnn.params]
        assert {g.dtype for g in grads} == {np.dtype(np.float32)}
    elif dtype == np.float64 and len(shape) >= 3:
        assert isinstance(error, TypeError) and "float64" in str(error)


@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_small_cnn_nonfinite_input_is_propagated(data):
    """NaN and inf flow through as in PyTorch's twin network."""
    ours, theirs = twins((2, 3), 0, np.float32)
    X = data.draw(with_nonfinite((1, 28, 28), np.float32))
    with np.errstate(invalid="ignore"):  # NumPy's warning for inf * 0
        logits = ours(X)
    with torch.no_grad():
        same_ieee(logits, theirs(torch.from_numpy(X)).numpy())
    if np.isnan(X).any():  # every logit depends on every pixel
        assert np.isnan(logits).all()


@FAST
@given(n=BAD_INTS, batch_size=BAD_INTS,
       rng=st.sampled_from([np.random.default_rng(0), 0, None]))
def test_minibatches(n, batch_size, rng):
    out, _ = correct_or_named_error(
        lambda: list(train.minibatches(n, batch_size, rng)), "n",
        "batch_size", "rng")
    if out is not None:
        np.testing.assert_array_equal(
            np.sort(np.concatenate(out or [np.zeros(0, int)])),
            np.arange(n))


@FAST
@given(X=st.one_of(wrong_kind((2, 3)), hnp.arrays(np.float64,
                                                   degenerate_shapes)),
       batch_size=BAD_INTS)
def test_predict(X, batch_size):
    model = MLP([3, 2], seed=0)
    out, _ = correct_or_named_error(
        lambda: train.predict(model, X, batch_size), "X", "batch_size")
    if out is not None:
        np.testing.assert_array_equal(out, model(X))


@FAST
@given(X=st.one_of(wrong_kind((2, 3)), hnp.arrays(np.float32,
                                                   degenerate_shapes)),
       batch_size=BAD_INTS)
def test_predict_torch(X, batch_size):
    net = torch.nn.Linear(3, 2)
    out, _ = correct_or_named_error(
        lambda: train.predict_torch(net, X, batch_size), "X", "batch_size")
    if out is not None:
        with torch.no_grad():
            np.testing.assert_allclose(out, net(torch.tensor(X)).numpy())


def _fit_args(draw):
    """A small, mostly valid fit_calc_nn call with one argument broken."""
    X = np.random.default_rng(0).standard_normal((6, 3))
    y = np.array([0, 1, 0, 1, 1, 0])
    args = dict(X=X, y=y, X_val=X[:2], y_val=y[:2], epochs=1,
                batch_size=4, lr=0.1, step=optim.gd_step, show=False)
    which = draw(st.sampled_from(["X", "y", "X_val", "y_val", "epochs",
                                  "batch_size", "lr", "seed"]))
    if which in ("X", "X_val"):
        shape = args[which].shape
        args[which] = draw(st.one_of(
            with_nonfinite(shape), wrong_kind(shape),
            hnp.arrays(np.float64, degenerate_shapes),
            st.just(args[which].astype(np.float32))))
    elif which in ("y", "y_val"):
        n = len(args[which])
        args[which] = draw(st.one_of(
            wrong_kind((n,)), st.just(np.arange(n) - 1),
            st.just(np.full(n, 2)), st.just(np.zeros(n)),
            st.just(np.zeros(n, bool)),
            hnp.arrays(np.int64, degenerate_shapes)))
    elif which == "lr":
        args[which] = draw(BAD_REALS)
    else:
        args[which] = draw(BAD_INTS)
    return which, args


@FAST
@given(data=st.data())
def test_fit_calc_nn(data):
    which, args = _fit_args(data.draw)
    model = MLP([3, 2], seed=0)
    before = model.get_flat()
    out, error = correct_or_named_error(
        lambda: train.fit_calc_nn(model, **args), which)
    if error is not None:
        np.testing.assert_array_equal(model.get_flat(), before)
    else:
        assert all(np.isfinite(v).all() for k, v in out.items())


@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_fit_torch(data):
    which, args = _fit_args(data.draw)
    del args["lr"], args["step"]
    if which == "lr":
        which = "epochs"
    net = torch.nn.Linear(3, 2).double()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    before = [p.detach().clone() for p in net.parameters()]
    out, error = correct_or_named_error(
        lambda: train.fit_torch(net, opt, **args), which)
    if error is not None:
        assert all(torch.equal(p, q) for p, q in zip(before,
                                                     net.parameters()))


@FAST
@given(probs=st.one_of(with_nonfinite((3, 2)), wrong_kind((3, 2)),
                       hnp.arrays(np.float64, degenerate_shapes)),
       y=st.one_of(st.just(np.array([0, 1, 1])), wrong_kind((3,)),
                   st.just(np.array([0.0, 1.0, 1.0])),
                   st.just(np.array([0, 2, 1]))),
       k=BAD_INTS)
def test_most_confident_mistakes(probs, y, k):
    out, _ = correct_or_named_error(
        lambda: train.most_confident_mistakes(probs, y, k), "probs", "y",
        "k")
    if out is not None:
        wrong = np.flatnonzero(probs.argmax(1) != y)
        assert set(out) <= set(wrong) and len(out) == min(k, len(wrong))


def test_losses_of_the_loop_are_the_library_losses():
    """fit_calc_nn's epoch loss on one full batch is losses.cross_entropy
    at the starting weights (no private copy of the loss)."""
    X, y = make_moons(20, seed=1)
    model = MLP([2, 3, 2], "tanh", seed=0)
    expected = float(losses.cross_entropy(model(X), y))
    h = train.fit_calc_nn(model, X, y, epochs=1, batch_size=None,
                          step=optim.gd_step, lr=0.1, show=False)
    assert h["loss"][0] == pytest.approx(expected, rel=1e-12)


# ----------------------------------------------------------- calc_nn.data

@FAST
@given(raw=st.one_of(st.binary(max_size=40), st.builds(
    lambda ndim, dims, body: bytes([0, 0, 8, ndim]) + struct.pack(
        f">{len(dims)}I", *dims) + body,
    st.integers(0, 4), st.lists(st.integers(0, 4), max_size=4),
    st.binary(max_size=40))))
def test_parse_idx_never_misreads(raw):
    out, _ = correct_or_named_error(lambda: data.parse_idx(raw, "f.idx"),
                                    "f.idx")
    if out is not None:  # then the header says exactly this
        assert raw[:2] == b"\0\0" and out.ndim == raw[3]
        assert out.nbytes + 4 + 4 * out.ndim == len(raw)


@FAST
@given(raw=st.binary(max_size=60), compress=st.booleans())
def test_read_idx_names_the_file(tmp_path_factory, raw, compress):
    path = tmp_path_factory.mktemp("idx") / "x.idx"
    path.write_bytes(gzip.compress(raw) if compress else raw)
    correct_or_named_error(lambda: data.read_idx(path), str(path))


@FAST
@given(split=st.sampled_from(["train", "test", "", "TEST", None, 1]),
       timeout=BAD_REALS,
       download=st.sampled_from([False, "yes", None, 0]),
       root=st.sampled_from([None, 3, b"x"]))
def test_load_mnist_arguments(monkeypatch, tmp_path, split, timeout,
                              download, root):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("CALC_NN_MNIST_DIRS", "")
    try:
        correct_or_named_error(
            lambda: data.load_mnist(split, root, download,
                                    timeout=timeout, mirrors=[]),
            "split", "timeout", "download", "root")
    except FileNotFoundError as exc:  # every argument was fine
        assert "not found" in str(exc)


@FAST
@given(listed=st.text(max_size=30), name=st.sampled_from(
    [*data.MNIST_MD5, "x", "", None, 3]))
def test_lookup_with_any_variable(monkeypatch, tmp_path, listed, name):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    if "\0" in listed:
        listed = listed.replace("\0", "")
    monkeypatch.setenv("CALC_NN_MNIST_DIRS", listed)
    assert all(isinstance(d, type(tmp_path))
               for d in data.mnist_local_dirs())
    correct_or_named_error(lambda: data.find_mnist_file(name), "name")


@pytest.mark.parametrize("listed", ["~0", "~no-such-user-calc-nn/mnist"])
def test_an_unknown_user_in_the_variable_stays_as_written(monkeypatch,
                                                           listed):
    """``~0`` (found by hypothesis) names no user: ``Path.expanduser``
    raises RuntimeError; the lookup keeps the path as a shell would."""
    monkeypatch.setenv("CALC_NN_MNIST_DIRS", listed)
    assert data.mnist_local_dirs() == [Path(listed)]
    assert data.find_mnist_file("t10k-labels-idx1-ubyte",
                                root=listed) is None
