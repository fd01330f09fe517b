"""calc_nn.train (the from-scratch CNN and the training loops) against
PyTorch, and the digits chapter's figures (calc_nn.plots.digits_figures)."""

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from calc_nn import losses, optim, train
from calc_nn.mlp import MLP, make_moons
from calc_nn.plots import digits_figures as digit_plots


class TorchCNN(nn.Module):
    """The chapter's CNN."""

    def __init__(self, channels=(8, 16)):
        super().__init__()
        c1, c2 = channels
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.fc = nn.Linear(c2 * 49, 10)

    def forward(self, x):
        x = x.view(-1, 1, 28, 28)
        x = F.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = F.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))


class TorchMLP(nn.Module):
    def __init__(self, sizes):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x):
        x = x.view(len(x), -1)
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)


def twins(channels, seed, dtype):
    """A SmallCNN and a TorchCNN with the same weights."""
    ours = train.SmallCNN(channels, seed=seed, dtype=dtype)
    theirs = TorchCNN(channels).to(getattr(torch, np.dtype(dtype).name))
    with torch.no_grad():
        for p, q in zip(ours.params, theirs.parameters()):
            assert p.shape == tuple(q.shape)
            q.copy_(torch.from_numpy(p))
    return ours, theirs


def digits(n, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    X = rng.random((n, 28, 28)).astype(dtype)
    X[X < 0.6] = 0  # sparse ink, like MNIST
    return X, rng.integers(0, 10, n)


# ------------------------------------------------------------- SmallCNN

@settings(max_examples=12, deadline=None)
@given(c1=st.integers(1, 5), c2=st.integers(1, 6), n=st.integers(1, 5),
       seed=st.integers(0, 2**16))
def test_small_cnn_forward_and_backward_equal_autograd(c1, c2, n, seed):
    ours, theirs = twins((c1, c2), seed, np.float64)
    X, y = digits(n, seed, np.float64)
    logits, cache = ours.forward(X)
    tlogits = theirs(torch.from_numpy(X))
    np.testing.assert_allclose(logits, tlogits.detach().numpy(), rtol=1e-10,
                               atol=1e-12)
    grads = ours.backward(losses.cross_entropy_grad(logits, y), cache)
    F.cross_entropy(tlogits, torch.from_numpy(y)).backward()
    assert len(grads) == len(list(theirs.parameters())) == 6
    for g, p in zip(grads, theirs.parameters()):
        assert g.shape == tuple(p.shape)
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-8,
                                   atol=1e-12)


def test_small_cnn_keeps_float32_and_feature_maps():
    ours, _ = twins((4, 6), 3, np.float32)
    X, y = digits(3)
    logits, cache = ours.forward(X[:, None])
    assert isinstance(cache, train.CNNCache)
    assert logits.dtype == np.float32 and logits.shape == (3, 10)
    np.testing.assert_array_equal(ours(X), logits)
    assert {k: v.shape for k, v in cache.maps.items()} == {
        "conv1": (3, 4, 28, 28), "pool1": (3, 4, 14, 14),
        "conv2": (3, 6, 14, 14), "pool2": (3, 6, 7, 7)}
    assert all(v.min() >= 0 for v in cache.maps.values())  # after ReLU
    grads = ours.backward(losses.cross_entropy_grad(logits, y), cache)
    assert {g.dtype for g in grads} == {np.dtype(np.float32)}
    assert ours.param_names == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert repr(ours) == "SmallCNN((4, 6), dtype=float32)"


def test_small_cnn_dtypes():
    """Issue 12, item 13: float64 images into a float32 CNN are a
    TypeError naming both; raw uint8 pixels are converted (unscaled)."""
    cnn = train.SmallCNN((2, 3), seed=0)
    X, _ = digits(2)
    with pytest.raises(TypeError, match="X has dtype float64 but float32"):
        cnn.forward(X.astype(np.float64))
    raw = (X * 255).astype(np.uint8)
    np.testing.assert_array_equal(cnn(raw), cnn(raw.astype(np.float32)))
    logits, cache = cnn.forward(X)
    with pytest.raises(TypeError, match="dlogits has dtype float64"):
        cnn.backward(np.zeros((2, 10)), cache)


def test_small_cnn_cache_does_not_see_a_later_change_of_x():
    """Issue 12, item 7, for the CNN."""
    cnn = train.SmallCNN((2, 3), seed=0)
    X, y = digits(3)
    dlogits = np.ones((3, 10), np.float32)
    expected = cnn.backward(dlogits, cnn.forward(X.copy())[1])
    _, cache = cnn.forward(X)
    X[...] = 7.0
    for g, e in zip(cnn.backward(dlogits, cache), expected):
        np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("shape", [(2, 28), (2, 3, 28, 28), (2, 1, 27, 28),
                                   (28, 28, 1, 1, 1)])
def test_small_cnn_rejects_bad_input(shape):
    with pytest.raises(ValueError, match=r"X must have shape \(N, 28, 28\)"
                       r" or \(N, 1, 28, 28\), got"):
        train.SmallCNN().forward(np.zeros(shape, np.float32))


def test_small_cnn_errors():
    cnn = train.SmallCNN((2, 3))
    for cache in (None, (1, 2)):
        with pytest.raises(TypeError, match="cache must be the CNNCache"):
            cnn.backward(np.zeros((1, 10), np.float32), cache)
    other = train.SmallCNN((2, 4)).forward(np.zeros((1, 28, 28),
                                                    np.float32))[1]
    with pytest.raises(ValueError, match="cache comes from another network"):
        cnn.backward(np.zeros((1, 10), np.float32), other)
    _, cache = cnn.forward(np.zeros((2, 28, 28), np.float32))
    with pytest.raises(ValueError, match=r"dlogits has shape \(1, 10\) but "
                       r"the logits have shape \(2, 10\)"):
        cnn.backward(np.zeros((1, 10), np.float32), cache)
    with pytest.raises(ValueError, match=r"channels\[0\] must be an int "
                       r">= 1, got 0"):
        train.SmallCNN((0, 3))
    with pytest.raises(ValueError, match="channels must be two ints"):
        train.SmallCNN((3,))
    with pytest.raises(TypeError, match=r"channels\[1\] must be an int"):
        train.SmallCNN((3, 2.5))
    with pytest.raises(TypeError, match="dtype must be one of"):
        train.SmallCNN(dtype=np.int32)


def test_params_follow_torch_order_for_both_models():
    """The protocol's params are torch's parameters(), in order."""
    sizes = [784, 32, 16, 10]
    mlp = MLP(sizes, "relu", seed=1, dtype=np.float64)
    net = TorchMLP(sizes).double()
    with torch.no_grad():
        for p, q in zip(mlp.params, net.parameters()):
            assert p.shape == tuple(q.shape)
            q.copy_(torch.from_numpy(p))
    X, y = digits(6, 1, np.float64)
    flat = X.reshape(len(X), -1)
    logits, cache = mlp.forward(flat)
    grads = mlp.backward(losses.cross_entropy_grad(logits, y), cache)
    F.cross_entropy(net(torch.from_numpy(X)), torch.from_numpy(y)).backward()
    for g, q in zip(grads, net.parameters()):
        np.testing.assert_allclose(g, q.grad.numpy(), rtol=1e-9, atol=1e-13)


# ------------------------------------------------------------ the loops

def test_fit_calc_nn_follows_fit_torch_step_for_step():
    """Same weights, same batches, Adam: the two histories agree."""
    X, y = digits(300, 5)
    Xv, yv = digits(50, 6)
    ours, theirs = twins((4, 8), 0, np.float32)
    h_ours = train.fit_calc_nn(ours, X, y, Xv, yv, epochs=2, batch_size=64,
                               lr=2e-3, seed=1, show=False)
    h_torch = train.fit_torch(
        theirs, torch.optim.Adam(theirs.parameters(), lr=2e-3), X, y, Xv,
        yv, epochs=2, batch_size=64, seed=1, show=False)
    assert h_ours.keys() == h_torch.keys() == {
        "epoch", "loss", "train_accuracy", "val_loss", "val_accuracy",
        "seconds", "step_loss"}
    assert h_ours["epoch"] == [1, 2]
    np.testing.assert_allclose(h_ours["loss"], h_torch["loss"], rtol=1e-4)
    np.testing.assert_allclose(h_ours["val_loss"], h_torch["val_loss"],
                               rtol=1e-4)
    # 300 digits in batches of 64: 5 steps an epoch, each one's loss
    assert len(h_ours["step_loss"]) == len(h_torch["step_loss"]) == 10
    np.testing.assert_allclose(h_ours["step_loss"], h_torch["step_loss"],
                               rtol=1e-4)
    np.testing.assert_allclose(h_ours["val_accuracy"],
                               h_torch["val_accuracy"], atol=1 / 50 + 1e-9)
    assert h_ours["loss"][1] < h_ours["loss"][0]  # it learns (memorises)
    for p, q in zip(ours.params, theirs.parameters()):
        assert p.dtype == np.float32
        np.testing.assert_allclose(p, q.detach().numpy(), atol=2e-5)
    assert all(s > 0 for s in h_ours["seconds"])


def test_fit_calc_nn_other_step_functions_and_mlp():
    X, y = digits(128, 2)
    X = X.reshape(len(X), -1)
    model = MLP([784, 16, 10], seed=0, dtype=np.float32)
    before = [p.copy() for p in model.params]
    W1 = model.params[0]
    X_copy = X.copy()
    h = train.fit_calc_nn(model, X, y, X[:20], y[:20], epochs=1,
                          batch_size=32, step=optim.momentum_step, lr=0.05,
                          momentum=0.9, show=False)
    assert len(h["loss"]) == 1 and 0 <= h["val_accuracy"][0] <= 1
    assert all(p.dtype == np.float32 for p in model.params)
    assert all(not np.array_equal(a, b) for a, b in zip(before,
                                                       model.params))
    # the model's own arrays were updated in place; the data untouched
    assert model.params[0] is W1 and model.weights[0] is W1
    np.testing.assert_array_equal(X, X_copy)


def test_full_batch_gradient_descent_separates_the_moons():
    """The backprop chapter's run: one batch, gradient descent, snapshots
    of independent copies of the model."""
    X, y = make_moons(200, noise=0.1, seed=0)
    model = MLP([2, 16, 16, 2], "tanh", seed=0)
    h = train.fit_calc_nn(model, X, y, epochs=300, batch_size=None,
                          step=optim.gd_step, lr=0.5, snapshot_every=50,
                          show=False)
    snaps = h["snapshots"]
    assert "val_accuracy" not in h and len(h["loss"]) == 300
    assert [s["epoch"] for s in snaps] == [0, 50, 100, 150, 200, 250, 300]
    assert snaps[-1]["loss"] < 0.2 * snaps[0]["loss"]
    assert snaps[-1]["accuracy"] > 0.95
    assert list(snaps[0]["grad_norms"]) == model.param_names
    # full batch: epoch e's loss is the loss after e - 1 steps
    assert h["loss"][50] == pytest.approx(snaps[1]["loss"], rel=1e-12)
    np.testing.assert_array_equal(snaps[-1]["model"].get_flat(),
                                  model.get_flat())
    assert snaps[0]["model"] is not model
    assert not np.array_equal(snaps[0]["model"].get_flat(),
                              model.get_flat())
    # by hand: gradient descent with lr 0.5 from the first snapshot
    first = snaps[0]["model"]
    for _ in range(50):
        logits, cache = first.forward(X)
        grads = first.backward(losses.cross_entropy_grad(logits, y), cache)
        for p, g in zip(first.params, grads):
            p -= 0.5 * g
    np.testing.assert_allclose(first.get_flat(),
                               snaps[1]["model"].get_flat(), rtol=1e-9,
                               atol=1e-12)


def test_fit_calc_nn_reports_divergence():
    X, y = digits(256, 3)
    model = MLP([784, 64, 10], seed=0, dtype=np.float32)
    with np.errstate(all="ignore"), pytest.raises(
            FloatingPointError, match=r"diverged at epoch 1, step \d+: the "
            r"logits are no longer finite .*'lr': 1e\+30"):
        train.fit_calc_nn(model, X.reshape(256, -1), y, epochs=2,
                          batch_size=16, step=optim.gd_step, lr=1e30,
                          show=False)


@pytest.mark.parametrize("fit", ["calc_nn", "torch"])
def test_epochs_must_be_positive(fit):
    X, y = digits(4)
    with pytest.raises(ValueError, match="epochs must be an int >= 1, got 0"):
        if fit == "calc_nn":
            train.fit_calc_nn(train.SmallCNN(), X, y, X, y, epochs=0)
        else:
            net = TorchCNN()
            train.fit_torch(net, torch.optim.SGD(net.parameters(), lr=0.1),
                            X, y, X, y, epochs=0)


class Spy(train.SmallCNN):
    """A SmallCNN that counts its backward passes (training steps)."""

    steps = 0

    def backward(self, dlogits, cache):
        Spy.steps += 1
        return super().backward(dlogits, cache)


@pytest.mark.parametrize("change,error,pattern", [
    (dict(X_val=np.zeros((5, 27, 28), np.float32)), ValueError,
     r"X_val: X must have shape \(N, 28, 28\)"),
    (dict(X_val=np.zeros((5, 28, 28))), TypeError,
     r"X_val: X has dtype float64 but float32"),
    (dict(y_val=np.zeros(4, int)), ValueError,
     r"y_val has shape \(4,\) but X_val holds 5 examples"),
    (dict(y_val=np.full(5, 10)), ValueError,
     r"y_val holds class index 10, out of range \[0, 10\)"),
    (dict(y_val=np.zeros(5)), TypeError,
     "y_val must hold integer class indices"),
    (dict(y_val=None), ValueError, "X_val and y_val must be given together"),
    (dict(y=np.full(8, -1)), ValueError, "y holds class index -1"),
    (dict(X=np.full((8, 28, 28), np.nan, np.float32)), ValueError,
     "X must be finite; it contains nan"),
    (dict(X_val=np.full((5, 28, 28), np.inf, np.float32)), ValueError,
     "X_val must be finite"),
    (dict(X=np.zeros((0, 28, 28), np.float32), y=np.zeros(0, int)),
     ValueError, "X holds no example"),
    (dict(batch_size=0), ValueError, "batch_size must be an int >= 1"),
    (dict(seed=-3), ValueError, "seed must be an int >= 0"),
    (dict(epochs=1.5), TypeError, "epochs must be an int"),
    (dict(lr=np.nan), ValueError, "lr must be a finite number"),
    (dict(lr=-1.0), ValueError, "lr must be a finite number > 0"),
    (dict(momentum=0.9), TypeError, "momentum"),
    (dict(step="adam"), TypeError, "step must be a function"),
    (dict(snapshot_every=0), ValueError, "snapshot_every must be an int"),
    (dict(model=object()), TypeError, "model must follow calc_nn's model "
     "protocol"),
])
def test_fit_calc_nn_checks_everything_before_training(change, error,
                                                        pattern):
    """Issue 12, item 9: bad validation data (and every other bad
    argument) fail before the first training step, with a named error."""
    X, y = digits(8)
    Xv, yv = digits(5, 1)
    args = dict(model=Spy((2, 3)), X=X, y=y, X_val=Xv, y_val=yv, epochs=1,
                batch_size=4, lr=1e-3, show=False) | change
    Spy.steps = 0
    with pytest.raises(error, match=pattern):
        train.fit_calc_nn(**args)
    assert Spy.steps == 0


def test_fit_torch_checks_before_training():
    X, y = digits(8)
    net = TorchCNN((2, 3))
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    before = [p.detach().clone() for p in net.parameters()]
    with pytest.raises(ValueError, match=r"y_val holds class index 12"):
        train.fit_torch(net, opt, X, y, X[:3], np.array([0, 12, 1]),
                        epochs=1, show=False)
    with pytest.raises(TypeError, match="X has dtype float64 but float32"):
        train.fit_torch(net, opt, X.astype(np.float64), y, epochs=1,
                        show=False)
    with pytest.raises(TypeError, match="optimizer must be a torch.optim"):
        train.fit_torch(net, "sgd", X, y, epochs=1, show=False)
    with pytest.raises(TypeError, match="X_val must be an array of real "
                       "numbers"):
        train.fit_torch(net, opt, X, y, np.zeros((2, 28, 28), complex),
                        y[:2], epochs=1, show=False)
    with pytest.raises(TypeError, match="net must be a torch.nn.Module"):
        train.fit_torch(lambda x: x, opt, X, y, epochs=1, show=False)
    assert all(torch.equal(p, q) for p, q in zip(before, net.parameters()))
    h = train.fit_torch(net, opt, (X * 255).astype(np.uint8) // 255, y,
                        epochs=1, show=False)  # integers are converted
    assert "val_accuracy" not in h and len(h["loss"]) == 1


def test_fit_torch_reports_divergence():
    """Logits that are not finite stop the loop at once, with the step."""
    X, y = digits(64, 3)
    torch.manual_seed(0)
    net = TorchCNN((2, 3))
    with torch.no_grad():
        net.fc.bias[3] = float("inf")  # what a diverged step leaves
    with pytest.raises(FloatingPointError, match=r"torch: training diverged"
                       r" at epoch 1, step 1: .*'lr': 0.1"):
        train.fit_torch(net, torch.optim.SGD(net.parameters(), lr=0.1),
                        X, y, epochs=1, batch_size=8, show=False)


@pytest.mark.parametrize("n,batch", [(10, 3), (10, 10), (10, 64), (1, 1),
                                     (0, 5)])
def test_minibatches_cover_every_index_once(n, batch):
    batches = list(train.minibatches(n, batch, np.random.default_rng(0)))
    assert all(len(b) == batch for b in batches[:-1])
    np.testing.assert_array_equal(np.sort(np.concatenate(batches or [[]])),
                                  np.arange(n))


@pytest.mark.parametrize("args,error,pattern", [
    ((10, 0, np.random.default_rng(0)), ValueError, "batch_size must be"),
    ((10, True, np.random.default_rng(0)), TypeError, "batch_size must be"),
    ((-1, 2, np.random.default_rng(0)), ValueError, "n must be an int"),
    ((10, 2, 0), TypeError, "rng must be a numpy.random.Generator"),
])
def test_minibatches_check_at_once(args, error, pattern):
    with pytest.raises(error, match=pattern):
        train.minibatches(*args)  # not only when iterated


def test_predict_batches_and_empty_input():
    cnn = train.SmallCNN((2, 3), seed=1)
    X, _ = digits(7)
    np.testing.assert_allclose(train.predict(cnn, X, batch_size=3), cnn(X),
                               rtol=1e-6, atol=1e-7)
    assert train.predict(cnn, X[:0]).shape == (0, 10)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        train.predict(cnn, X, batch_size=0)
    with pytest.raises(TypeError, match="model must follow"):
        train.predict(TorchCNN(), X)
    net = TorchCNN((2, 3))
    assert train.predict_torch(net, X[:0]).shape == (0, 10)
    np.testing.assert_array_equal(
        train.predict_torch(net, np.zeros((2, 28, 28), np.uint8)),
        train.predict_torch(net, np.zeros((2, 28, 28), np.float32)))


def test_progress_prints_once_when_static(monkeypatch, capsys):
    X, y = digits(64, 4)
    X = X.reshape(len(X), -1)
    model = MLP([784, 8, 10], seed=0, dtype=np.float32)
    monkeypatch.setenv("CALC_NN_STATIC", "1")
    train.fit_calc_nn(model, X, y, X, y, epochs=3, batch_size=32,
                      desc="static run", lr=1e-3)
    out = capsys.readouterr().out
    assert out.count("static run") == 1 and "3/3" in out
    assert "\r" not in out
    monkeypatch.delenv("CALC_NN_STATIC")
    train.fit_calc_nn(model, X, y, X, y, epochs=1, batch_size=32,
                      desc="quiet", lr=1e-3, show=False)
    assert "quiet" not in capsys.readouterr().out


@pytest.mark.parametrize("probs,y,k,expected", [
    ([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], [1, 1, 1, 0], 5,
     [0, 3, 2]),
    ([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], [1, 1, 1, 0], 1,
     [0]),
    ([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], [1, 1, 1, 0], 0,
     []),
    ([[0.9, 0.1], [0.2, 0.8]], [0, 1], 3, []),
])
def test_most_confident_mistakes(probs, y, k, expected):
    got = train.most_confident_mistakes(np.array(probs), np.array(y), k)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("probs,y,k,error,pattern", [
    (np.ones((3, 2)), np.ones(2, int), 1, ValueError,
     r"y has shape \(2,\) but probs holds 3 examples"),
    (np.ones(3), np.ones(3, int), 1, ValueError,
     r"probs must have shape \(N, C\)"),
    (np.array([[np.nan, 1.0]]), np.zeros(1, int), 1, ValueError,
     "probs must be finite"),
    (np.ones((2, 2)), np.array([0.0, 1.0]), 1, TypeError,
     "y must hold integer class indices"),
    (np.ones((2, 2)), np.array([0, 2]), 1, ValueError,
     r"y holds class index 2, out of range \[0, 2\)"),
    (np.ones((2, 2)), np.array([0, 1]), -1, ValueError,
     "k must be an int >= 0, got -1"),
])
def test_most_confident_mistakes_bad_input(probs, y, k, error, pattern):
    with pytest.raises(error, match=pattern):
        train.most_confident_mistakes(probs, y, k)


def test_training_snapshot_figure():
    from calc_nn import plots

    X, y = make_moons(40, seed=0)
    h = train.fit_calc_nn(MLP([2, 4, 2], "tanh", seed=0), X, y, epochs=4,
                          batch_size=None, step=optim.gd_step, lr=0.5,
                          snapshot_every=2, show=False)
    snaps = h["snapshots"]
    fig = plots.training_snapshot(snaps, X, y, 1)
    assert list(fig.data[-1].x) == ["W¹", "W²"]   # the chapter's W^l
    np.testing.assert_allclose(fig.data[-1].y, [
        snaps[1]["grad_norms"]["W1"], snaps[1]["grad_norms"]["W2"]])
    pred = snaps[1]["model"](np.c_[fig.data[0].x, fig.data[0].y]).argmax(1)
    np.testing.assert_array_equal(fig.data[0].marker.color, pred)


# ------------------------------------------------------------ figures

def test_figures_have_the_expected_traces():
    X, y = digits(20)
    fig = digit_plots.digit_grid(X, y, n=16)
    assert len(fig.data) == 16
    assert fig.layout.annotations[0].text == f"label {y[0]}"
    h = dict(epoch=[1, 2], loss=[1.0, 0.5], val_accuracy=[0.8, 0.9])
    fig = digit_plots.learning_curves({"a": h, "b": h})
    assert len(fig.data) == 4 and list(fig.data[1].y) == [0.8, 0.9]
    fig = digit_plots.image_grid(np.zeros((3, 5, 5)))  # blank maps
    assert all(t.zmax > t.zmin for t in fig.data)
    fig = digit_plots.mistake(X[0], 3, np.eye(10)[5], rank=0)
    assert "a 3 read as 5 (probability 100.0%)" in fig.layout.title.text
    assert len(fig.data) == 2


def test_confusion_matrix_counts():
    y_true = np.array([0, 0, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 2, 2, 0])
    fig = digit_plots.confusion_matrix(y_true, y_pred)
    counts = np.array(fig.data[0].text)
    assert counts[0, 0] == 1 and counts[0, 1] == 1 and counts[2, 0] == 1
    assert counts.sum() == 6 and np.trace(counts) == 4
    assert "accuracy 66.67% on 6 digits" in fig.layout.title.text
    with pytest.raises(ValueError, match="same shape"):
        digit_plots.confusion_matrix(y_true, y_pred[:3])


def test_figures_reject_bad_input():
    with pytest.raises(ValueError, match=r"images must have shape \(n, H, "
                       r"W\)"):
        digit_plots.image_grid(np.zeros((28, 28)))
    with pytest.raises(ValueError, match="NaN or infinite"):
        digit_plots.image_grid(np.full((1, 2, 2), np.nan))
    with pytest.raises(ValueError, match="diverged"):
        digit_plots.learning_curves({"x": dict(
            epoch=[1], loss=[np.nan], val_accuracy=[0.1])})
    with pytest.raises(ValueError, match="must not be empty"):
        digit_plots.learning_curves({})
    with pytest.raises(ValueError, match=r"probs \(10,\)"):
        digit_plots.mistake(np.zeros((28, 28)), 1, np.ones(3), 0)


# ------------------------------------- validation loss, steps, schedules

def test_history_records_what_it_says():
    """``val_loss`` / ``val_accuracy`` are the scores of the model after
    the epoch; ``step_loss`` the loss of every batch, whose size-weighted
    mean is the epoch's ``loss``."""
    X, y = digits(70, 7, np.float64)
    Xv, yv = digits(30, 8, np.float64)
    X, Xv = X.reshape(len(X), -1), Xv.reshape(len(Xv), -1)
    model = MLP([784, 12, 10], seed=1)
    first = next(train.minibatches(70, 32, np.random.default_rng(0)))
    first_loss = float(losses.cross_entropy(model(X[first]), y[first]))
    h = train.fit_calc_nn(model, X, y, Xv, yv, epochs=2, batch_size=32,
                          lr=1e-2, show=False)
    assert h["step_loss"][0] == pytest.approx(first_loss, rel=1e-12)
    logits = train.predict(model, Xv)
    assert h["val_loss"][-1] == pytest.approx(
        float(losses.cross_entropy(logits, yv)), rel=1e-12)
    assert h["val_accuracy"][-1] == np.mean(logits.argmax(1) == yv)
    sizes = [32, 32, 6] * 2  # 70 digits in batches of 32, twice
    steps = np.array(h["step_loss"])
    assert len(steps) == 6
    for epoch in range(2):
        part = slice(3 * epoch, 3 * epoch + 3)
        assert h["loss"][epoch] == pytest.approx(
            np.dot(steps[part], sizes[part]) / 70, rel=1e-12)
    # full batch: one step an epoch, and the step's loss is the epoch's
    h = train.fit_calc_nn(MLP([784, 12, 10], seed=1), X, y, epochs=3,
                          batch_size=None, step=optim.gd_step, lr=0.1,
                          show=False)
    assert h["step_loss"] == h["loss"]


def test_lr_schedule_equals_a_hand_written_loop():
    """calc_nn: gradient descent with ``lr_schedule(t)`` at step t is the
    loop written out by hand."""
    X, y = make_moons(40, seed=2)
    model = MLP([2, 5, 2], "tanh", seed=3)
    by_hand = MLP([2, 5, 2], "tanh", seed=3)

    def schedule(t):
        return 0.5 / (1 + t)

    train.fit_calc_nn(model, X, y, epochs=2, batch_size=16, seed=4,
                      step=optim.gd_step, lr_schedule=schedule, show=False)
    rng, t = np.random.default_rng(4), 0
    for _ in range(2):
        for idx in train.minibatches(len(X), 16, rng):
            logits, cache = by_hand.forward(X[idx])
            grads = by_hand.backward(
                losses.cross_entropy_grad(logits, y[idx]), cache)
            for p, g in zip(by_hand.params, grads):
                p -= schedule(t) * g
            t += 1
    assert t == 6
    np.testing.assert_allclose(model.get_flat(), by_hand.get_flat(),
                               rtol=1e-12, atol=1e-15)


def test_fit_torch_cosine_schedule_equals_torch_cosine_annealing():
    """fit_torch with calc_nn.optim.cosine_annealing_lr as ``lr_schedule``
    trains exactly as torch's CosineAnnealingLR stepped after every batch,
    on the same batches."""
    from functools import partial

    X, y = digits(90, 9, np.float64)
    ours, theirs = TorchCNN((2, 3)).double(), TorchCNN((2, 3)).double()
    theirs.load_state_dict(ours.state_dict())
    steps = 2 * 3  # 90 digits in batches of 32, two epochs
    h = train.fit_torch(
        ours, torch.optim.SGD(ours.parameters(), lr=0.2, momentum=0.9), X, y,
        epochs=2, batch_size=32, seed=5, show=False,
        lr_schedule=partial(optim.cosine_annealing_lr, lr=0.2,
                            T_max=steps))
    opt = torch.optim.SGD(theirs.parameters(), lr=0.2, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    rng, losses_torch, rates = np.random.default_rng(5), [], []
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(2):
        for idx in train.minibatches(len(X), 32, rng):
            idx = torch.from_numpy(idx)
            rates.append(opt.param_groups[0]["lr"])
            loss = F.cross_entropy(theirs(Xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            scheduler.step()
            losses_torch.append(loss.item())
    assert rates[-1] < rates[0] / 10  # the schedule did decay
    np.testing.assert_allclose(h["step_loss"], losses_torch, rtol=1e-10)
    for p, q in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(),
                                   rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("schedule,error,pattern", [
    (0.1, TypeError, "lr_schedule must be a function"),
    (lambda t: -1.0, ValueError, r"lr_schedule\(0\) must be a finite "
     r"number > 0, got -1.0"),
    (lambda t: float("nan"), ValueError, r"lr_schedule\(0\) must be"),
    (lambda t: "fast", TypeError, r"lr_schedule\(0\) must be a real"),
])
def test_a_bad_lr_schedule_fails_before_training(schedule, error, pattern):
    X, y = digits(8)
    Spy.steps = 0
    with pytest.raises(error, match=pattern):
        train.fit_calc_nn(Spy((2, 3)), X, y, epochs=1, batch_size=4,
                          lr_schedule=schedule, show=False)
    assert Spy.steps == 0
    net = TorchCNN((2, 3))
    before = [p.detach().clone() for p in net.parameters()]
    with pytest.raises(error, match=pattern):
        train.fit_torch(net, torch.optim.SGD(net.parameters(), lr=0.1), X,
                        y, epochs=1, lr_schedule=schedule, show=False)
    assert all(torch.equal(p, q) for p, q in zip(before, net.parameters()))


def test_a_schedule_that_turns_bad_later_is_named_at_its_step():
    X, y = digits(8)
    with pytest.raises(ValueError, match=r"lr_schedule\(2\) must be a "
                       r"finite number > 0, got 0.0"):
        train.fit_calc_nn(train.SmallCNN((2, 3)), X, y, epochs=2,
                          batch_size=4, show=False,
                          lr_schedule=lambda t: 1e-3 if t < 2 else 0.0)


# ----------------------------------------------------------- mean_and_se

@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 400), rate=st.floats(0, 1), seed=st.integers(0, 99))
def test_mean_and_se_of_zeros_and_ones_is_the_binomial_se(n, rate, seed):
    v = np.random.default_rng(seed).random(n) < rate
    mean, se = train.mean_and_se(v)
    p = v.sum() / n
    assert mean == pytest.approx(p, abs=1e-15)
    assert se == pytest.approx(np.sqrt(p * (1 - p) / n), rel=1e-12,
                               abs=1e-15)


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=60))
def test_mean_and_se_equals_torch_population_std_over_root_n(values):
    t = torch.tensor(values, dtype=torch.float64)
    mean, se = train.mean_and_se(values)
    scale = max(1.0, float(t.abs().max()))
    assert mean == pytest.approx(t.mean().item(), abs=1e-12 * scale)
    assert se == pytest.approx(
        t.std(correction=0).item() / np.sqrt(len(values)), rel=1e-9,
        abs=1e-12 * scale)


@pytest.mark.parametrize("values,error,pattern", [
    ([], ValueError, r"values must have shape \(N,\) with N >= 1"),
    (np.zeros((2, 3)), ValueError, r"values must have shape \(N,\)"),
    ([0.5, np.nan], ValueError, "values must be finite"),
    (["a", "b"], TypeError, "values must be an array of real numbers"),
])
def test_mean_and_se_bad_input(values, error, pattern):
    with pytest.raises(error, match=pattern):
        train.mean_and_se(values)


# ---------------------------------------------------- the new figures

def test_learning_curves_mark_the_lowest_validation_loss():
    h = dict(epoch=[1, 2, 3, 4], loss=[1.0, 0.5, 0.3, 0.2],
             val_loss=[0.9, 0.6, 0.7, 0.8], val_accuracy=[0.5, 0.6, 0.6, 0.6])
    fig = digit_plots.learning_curves({"run": h}, title="t")
    # training loss, validation loss, validation accuracy, the diamond
    assert [tr.line.dash for tr in fig.data[:2]] == ["solid", "dash"]
    assert list(fig.data[2].y) == [0.5, 0.6, 0.6, 0.6]
    assert list(fig.data[3].x) == [2] and list(fig.data[3].y) == [0.6]
    assert fig.data[3].marker.symbol == "diamond"
    text = fig.layout.meta["description"]
    assert "lowest (0.6) after epoch 2" in text
    # the validation loss on its own panel: training loss, validation loss
    # and its diamond, no accuracy
    fig = digit_plots.learning_curves({"run": h}, right="val_loss")
    assert [tr.xaxis for tr in fig.data] == ["x", "x2", "x2"]
    assert list(fig.data[1].y) == h["val_loss"]
    assert "validation loss (right, diamonds at the lowest)" in (
        fig.layout.meta["description"])
    with pytest.raises(ValueError, match="right must be"):
        digit_plots.learning_curves({"run": h}, right="accuracy")
    with pytest.raises(ValueError, match="'b' has none"):
        digit_plots.learning_curves(
            {"run": h, "b": dict(epoch=[1], loss=[1.0],
                                 val_accuracy=[0.5])}, right="val_loss")


def test_step_losses_and_lr_vs_curvature():
    fig = digit_plots.step_losses({"a": [2.0, 1.0, 0.5],
                                   "b": [2.0, 1.1, 0.5]}, title="twins")
    assert len(fig.data) == 2 and list(fig.data[1].x) == [1, 2, 3]
    assert "largest difference between the first two runs is 0.1" in (
        fig.layout.meta["description"])
    runs = {0.5: [2.0, 1.5, 1.2, 1.0], 4.0: [2.0, 2.5, 1.0, 1.4]}
    fig = digit_plots.lr_vs_curvature(runs, 4.0, lam=10.0)
    assert "the loss rises at 2 of 3 steps" in fig.layout.title.text
    assert "η = 4 × 2/λₘₐₓ = 0.8" in fig.layout.title.text
    assert list(fig.data[0].y) == runs[0.5] and list(fig.data[1].y) == \
        runs[4.0]
    with pytest.raises(ValueError, match="ratio must be one of"):
        digit_plots.lr_vs_curvature(runs, 2.0, lam=10.0)
    with pytest.raises(ValueError, match="lam > 0"):
        digit_plots.lr_vs_curvature(runs, 4.0, lam=0.0)
    with pytest.raises(ValueError, match="not finite"):
        digit_plots.step_losses({"a": [1.0, np.inf]})
    with pytest.raises(ValueError, match="must not be empty"):
        digit_plots.step_losses({})
