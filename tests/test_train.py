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
from calc_nn.mlp import MLP
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
def test_small_cnn_forward_and_gradients_equal_autograd(c1, c2, n, seed):
    ours, theirs = twins((c1, c2), seed, np.float64)
    X, y = digits(n, seed, np.float64)
    logits = ours.forward(X)
    tlogits = theirs(torch.from_numpy(X))
    np.testing.assert_allclose(logits, tlogits.detach().numpy(), rtol=1e-10,
                               atol=1e-12)
    grads = ours.gradients(losses.cross_entropy_grad(logits, y))
    F.cross_entropy(tlogits, torch.from_numpy(y)).backward()
    for g, p in zip(grads, theirs.parameters()):
        assert g.shape == tuple(p.shape)
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-8,
                                   atol=1e-12)


def test_small_cnn_keeps_float32_and_feature_maps():
    ours, theirs = twins((4, 6), 3, np.float32)
    X, y = digits(3)
    logits, maps = ours.forward(X[:, None], keep=True)
    assert logits.dtype == np.float32 and logits.shape == (3, 10)
    assert {k: v.shape for k, v in maps.items()} == {
        "conv1": (3, 4, 28, 28), "pool1": (3, 4, 14, 14),
        "conv2": (3, 6, 14, 14), "pool2": (3, 6, 7, 7)}
    assert all(v.min() >= 0 for v in maps.values())  # after ReLU
    grads = ours.gradients(losses.cross_entropy_grad(logits, y))
    assert all(g.dtype == np.float32 for g in grads)


@pytest.mark.parametrize("shape", [(2, 28), (2, 3, 28, 28), (2, 1, 27, 28),
                                   (28, 28, 1, 1, 1)])
def test_small_cnn_rejects_bad_input(shape):
    with pytest.raises(ValueError, match=r"X must have shape \(N, 28, 28\)"
                       r" or \(N, 1, 28, 28\), got"):
        train.SmallCNN().forward(np.zeros(shape, np.float32))


def test_small_cnn_errors():
    with pytest.raises(RuntimeError, match="before forward"):
        train.SmallCNN().gradients(np.zeros((1, 10), np.float32))
    with pytest.raises(ValueError, match="channels must be two ints >= 1"):
        train.SmallCNN((0, 3))


# ------------------------------------------------------------ MLPModel

def test_mlp_model_gradients_equal_autograd():
    sizes = [784, 32, 16, 10]
    mlp = MLP(sizes, "relu", seed=1, dtype=np.float64)
    model = train.MLPModel(mlp)
    net = TorchMLP(sizes).double()
    with torch.no_grad():
        for layer, W, b in zip(net.layers, mlp.weights, mlp.biases):
            layer.weight.copy_(torch.from_numpy(W))
            layer.bias.copy_(torch.from_numpy(b))
    X, y = digits(6, 1, np.float64)
    grads = model.gradients(losses.cross_entropy_grad(model.forward(X), y))
    F.cross_entropy(net(torch.from_numpy(X)), torch.from_numpy(y)).backward()
    expected = [l.weight.grad for l in net.layers] + [
        l.bias.grad for l in net.layers]
    for g, e in zip(grads, expected):
        np.testing.assert_allclose(g, e.numpy(), rtol=1e-9, atol=1e-13)


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
    assert h_ours.keys() == h_torch.keys()
    assert h_ours["epoch"] == [1, 2]
    np.testing.assert_allclose(h_ours["loss"], h_torch["loss"], rtol=1e-4)
    assert h_ours["loss"][1] < h_ours["loss"][0]  # it learns (memorises)
    for p, q in zip(ours.params, theirs.parameters()):
        assert p.dtype == np.float32
        np.testing.assert_allclose(p, q.detach().numpy(), atol=2e-5)
    assert all(s > 0 for s in h_ours["seconds"])


def test_fit_calc_nn_other_step_functions_and_mlp():
    X, y = digits(128, 2)
    model = train.MLPModel(MLP([784, 16, 10], seed=0, dtype=np.float32))
    before = [p.copy() for p in model.params]
    h = train.fit_calc_nn(model, X, y, X[:20], y[:20], epochs=1,
                          batch_size=32, step=optim.momentum_step, lr=0.05,
                          momentum=0.9, show=False)
    assert len(h["loss"]) == 1 and 0 <= h["val_accuracy"][0] <= 1
    assert all(p.dtype == np.float32 for p in model.params)
    assert any(not np.array_equal(a, b) for a, b in zip(before,
                                                       model.params))
    # the model's own arrays were updated in place
    assert model.params[0] is model.mlp.weights[0]


def test_fit_calc_nn_reports_divergence():
    X, y = digits(256, 3)
    model = train.MLPModel(MLP([784, 64, 10], seed=0, dtype=np.float32))
    with np.errstate(all="ignore"), pytest.raises(
            FloatingPointError, match=r"diverged at epoch 1, step \d+: the "
            r"logits are no longer finite .*'lr': 1e\+30"):
        train.fit_calc_nn(model, X, y, X, y, epochs=2, batch_size=16,
                          step=optim.gd_step, lr=1e30, show=False)


@pytest.mark.parametrize("fit", ["calc_nn", "torch"])
def test_epochs_must_be_positive(fit):
    X, y = digits(4)
    with pytest.raises(ValueError, match="epochs must be >= 1, got 0"):
        if fit == "calc_nn":
            train.fit_calc_nn(train.SmallCNN(), X, y, X, y, epochs=0)
        else:
            net = TorchCNN()
            train.fit_torch(net, torch.optim.SGD(net.parameters(), lr=0.1),
                            X, y, X, y, epochs=0)


@pytest.mark.parametrize("n,batch", [(10, 3), (10, 10), (10, 64), (1, 1)])
def test_minibatches_cover_every_index_once(n, batch):
    batches = list(train.minibatches(n, batch, np.random.default_rng(0)))
    assert all(len(b) == batch for b in batches[:-1])
    np.testing.assert_array_equal(np.sort(np.concatenate(batches)),
                                  np.arange(n))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        list(train.minibatches(n, 0, np.random.default_rng(0)))


def test_progress_prints_once_when_static(monkeypatch, capsys):
    X, y = digits(64, 4)
    model = train.MLPModel(MLP([784, 8, 10], seed=0, dtype=np.float32))
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
    ([[0.9, 0.1], [0.2, 0.8]], [0, 1], 3, []),
])
def test_most_confident_mistakes(probs, y, k, expected):
    got = train.most_confident_mistakes(np.array(probs), np.array(y), k)
    np.testing.assert_array_equal(got, expected)


def test_most_confident_mistakes_shapes():
    with pytest.raises(ValueError, match=r"probs must be \(N, C\) and y "
                       r"\(N,\)"):
        train.most_confident_mistakes(np.ones((3, 2)), np.ones(2, int))


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
