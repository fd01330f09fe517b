"""calc_nn.conv against PyTorch (forward and autograd), finite differences,
and the plain-loop references, over hypothesis-generated shapes."""

import numpy as np
import pytest
import torch
import torch.nn.functional as tF
from hypothesis import given, settings
from hypothesis import strategies as st

from calc_nn import conv
from calc_nn.gradcheck import numerical_gradient

# ------------------------------------------------------------ strategies


@st.composite
def conv_cases(draw, max_n=3, max_c=4, max_f=4, max_side=9):
    """(x, w, b, stride, padding) with every kernel fitting its input:
    strides and paddings as ints or pairs, non-square kernels, any
    channel count, bias or none."""
    n = draw(st.integers(1, max_n))
    c = draw(st.integers(1, max_c))
    f = draw(st.integers(1, max_f))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, kh - 2 * ph), max_side))
    w_ = draw(st.integers(max(1, kw - 2 * pw), max_side))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = draw(st.sampled_from([sh, (sh, sw)]))
    padding = draw(st.sampled_from([ph, (ph, pw)]))
    if isinstance(stride, int):
        sw = sh
    if isinstance(padding, int):
        pw = ph
        w_ = max(w_, kw - 2 * pw, 1)
        h = max(h, kh - 2 * ph, 1)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w_))
    w = rng.standard_normal((f, c, kh, kw))
    b = draw(st.sampled_from([None, rng.standard_normal(f)]))
    return x, w, b, stride, padding


@st.composite
def pool_cases(draw, max_side=9):
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    h = draw(st.integers(kh, max_side))
    w = draw(st.integers(kw, max_side))
    kernel = draw(st.sampled_from([kh, (kh, kw)]))
    if isinstance(kernel, int):
        w = max(w, kh)
    stride = draw(st.sampled_from([None, 1, 2, 3, (1, 2), (3, 1)]))
    seed = draw(st.integers(0, 2**32 - 1))
    x = np.random.default_rng(seed).standard_normal((n, c, h, w))
    return x, kernel, stride


def torch_conv(x, w, b, stride, padding, dout):
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = None if b is None else torch.tensor(b, requires_grad=True)
    out = tF.conv2d(xt, wt, bt, stride=stride, padding=padding)
    out.backward(torch.tensor(dout))
    return (out.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(),
            None if b is None else bt.grad.numpy())


def upstream(shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape)


# ------------------------------------------------------------ convolution


@settings(max_examples=150, deadline=None)
@given(conv_cases())
def test_conv_matches_torch_forward_and_backward(case):
    x, w, b, stride, padding = case
    out, cache = conv.conv2d_forward(x, w, b, stride=stride, padding=padding)
    dout = upstream(out.shape)
    dx, dw, db = conv.conv2d_backward(dout, cache)
    t_out, t_dx, t_dw, t_db = torch_conv(x, w, b, stride, padding, dout)
    assert out.shape == t_out.shape
    np.testing.assert_allclose(out, t_out, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dx, t_dx, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dw, t_dw, rtol=1e-10, atol=1e-10)
    if b is None:
        assert db is None
    else:
        np.testing.assert_allclose(db, t_db, rtol=1e-10, atol=1e-10)
    assert dx.shape == x.shape and dw.shape == w.shape


@settings(max_examples=40, deadline=None)
@given(conv_cases(max_n=2, max_c=2, max_f=2, max_side=6))
def test_conv_fast_equals_naive(case):
    x, w, b, stride, padding = case
    out, cache = conv.conv2d_forward(x, w, b, stride, padding)
    out_n, cache_n = conv.conv2d_forward_naive(x, w, b, stride, padding)
    np.testing.assert_allclose(out, out_n, rtol=1e-12, atol=1e-12)
    dout = upstream(out.shape)
    for got, want in zip(conv.conv2d_backward(dout, cache),
                         conv.conv2d_backward_naive(dout, cache_n)):
        if want is None:
            assert got is None
        else:
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stride,padding,kernel", [
    (1, 0, (3, 3)), (2, 1, (3, 2)), ((1, 2), (2, 0), (2, 3)), (3, 2, (1, 4))])
def test_conv_gradients_match_finite_differences(stride, padding, kernel):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, 5, 6))
    w = rng.standard_normal((3, 2, *kernel))
    b = rng.standard_normal(3)
    out, cache = conv.conv2d_forward(x, w, b, stride, padding)
    dout = upstream(out.shape)
    dx, dw, db = conv.conv2d_backward(dout, cache)

    def loss(x_, w_, b_):  # L = sum(dout * Y): dL/dY = dout
        return np.sum(conv.conv2d_forward(x_, w_, b_, stride,
                                          padding)[0] * dout)

    for got, arg in ((dx, 0), (dw, 1), (db, 2)):
        args = [x, w, b]

        def f(v, arg=arg):
            args[arg] = v
            return loss(*args)

        num = numerical_gradient(f, [x, w, b][arg].copy())
        np.testing.assert_allclose(got, num, rtol=1e-6, atol=1e-7)


def test_conv_keeps_float32_and_matches_torch():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3, 10, 10)).astype(np.float32)
    w = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    out, cache = conv.conv2d_forward(x, w, b, stride=2, padding=1)
    dx, dw, db = conv.conv2d_backward(np.ones_like(out), cache)
    assert {a.dtype for a in (out, dx, dw, db)} == {np.dtype(np.float32)}
    t_out, t_dx, t_dw, t_db = torch_conv(x, w, b, 2, 1, np.ones_like(out))
    for got, want in ((out, t_out), (dx, t_dx), (dw, t_dw), (db, t_db)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("size,kernel,stride,padding,expected", [
    (28, 3, 1, 1, 28), (28, 3, 1, 0, 26), (28, 5, 2, 2, 14), (7, 3, 2, 0, 3),
    (32, 5, 1, 0, 28), (5, 5, 1, 0, 1), (6, 3, 3, 1, 2)])
def test_output_size_formula(size, kernel, stride, padding, expected):
    assert conv.conv2d_output_size(size, kernel, stride, padding) == expected
    x = np.zeros((1, 1, size, size))
    out, _ = conv.conv2d_forward(x, np.zeros((1, 1, kernel, kernel)),
                                 stride=stride, padding=padding)
    assert out.shape == (1, 1, expected, expected)


# ------------------------------------------------------------ bad input

X = np.zeros((2, 3, 5, 5))
Wt = np.zeros((4, 3, 3, 3))


@pytest.mark.parametrize("kwargs,message", [
    (dict(w=np.zeros((4, 2, 3, 3))),
     r"channel mismatch: x has C=3 .*w expects 2"),
    (dict(w=np.zeros((4, 3, 6, 3))),
     r"kernel height 6 is larger than the padded input height 5 \+ 2\*0"),
    (dict(w=np.zeros((4, 3, 3, 8)), padding=1),
     r"kernel width 8 is larger than the padded input width 5 \+ 2\*1 = 7"),
    (dict(stride=0), r"stride must be positive, got 0"),
    (dict(stride=(1, -2)), r"stride must be positive"),
    (dict(padding=-1), r"padding must be >= 0, got -1"),
    (dict(b=np.zeros(3)), r"b must have shape \(F,\) = \(4,\).*\(3,\)"),
    (dict(x=np.zeros((3, 5, 5))), r"x must have shape \(N, C, H, W\)"),
    (dict(w=np.zeros((3, 3, 3))), r"w must have shape \(F, C, kH, kW\)"),
])
@pytest.mark.parametrize("forward", [conv.conv2d_forward,
                                     conv.conv2d_forward_naive])
def test_conv_bad_input_names_the_sizes(forward, kwargs, message):
    args = dict(x=X, w=Wt, b=np.zeros(4), stride=1, padding=0) | kwargs
    with pytest.raises(ValueError, match=message):
        forward(**args)


def test_conv_type_errors():
    with pytest.raises(TypeError, match="stride must be an int"):
        conv.conv2d_forward(X, Wt, stride=1.5)
    with pytest.raises(TypeError, match="x must be an array of real"):
        conv.conv2d_forward(np.array([["a"]]), Wt)


def test_conv_backward_checks_dout_shape():
    _, cache = conv.conv2d_forward(X, Wt)
    with pytest.raises(ValueError, match=r"dout must have the output's "
                       r"shape \(N, F, Ho, Wo\) = \(2, 4, 3, 3\)"):
        conv.conv2d_backward(np.zeros((2, 4, 5, 5)), cache)


# ------------------------------------------------------------ pooling

POOLS = {
    "max": (conv.maxpool2d_forward, conv.maxpool2d_backward,
            conv.maxpool2d_forward_naive, conv.maxpool2d_backward_naive,
            tF.max_pool2d),
    "avg": (conv.avgpool2d_forward, conv.avgpool2d_backward,
            conv.avgpool2d_forward_naive, conv.avgpool2d_backward_naive,
            tF.avg_pool2d),
}


@pytest.mark.parametrize("kind", POOLS)
@settings(max_examples=100, deadline=None)
@given(case=pool_cases())
def test_pool_matches_torch(kind, case):
    x, kernel, stride = case
    forward, backward, *_, torch_pool = POOLS[kind]
    out, cache = forward(x, kernel, stride)
    dout = upstream(out.shape)
    dx = backward(dout, cache)
    xt = torch.tensor(x, requires_grad=True)
    t_out = torch_pool(xt, kernel, stride)
    t_out.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", POOLS)
@settings(max_examples=30, deadline=None)
@given(case=pool_cases(max_side=6))
def test_pool_fast_equals_naive(kind, case):
    x, kernel, stride = case
    forward, backward, forward_n, backward_n, _ = POOLS[kind]
    out, cache = forward(x, kernel, stride)
    out_n, cache_n = forward_n(x, kernel, stride)
    np.testing.assert_array_equal(out.shape, out_n.shape)
    np.testing.assert_allclose(out, out_n, rtol=1e-12)
    dout = upstream(out.shape)
    np.testing.assert_allclose(backward(dout, cache),
                               backward_n(dout, cache_n), rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("kind", POOLS)
def test_pool_gradient_matches_finite_differences(kind):
    forward, backward, *_ = POOLS[kind]
    x = np.random.default_rng(2).standard_normal((1, 2, 6, 5))
    out, cache = forward(x, (3, 2), (2, 1))  # overlapping windows
    dout = upstream(out.shape)
    num = numerical_gradient(
        lambda v: np.sum(forward(v, (3, 2), (2, 1))[0] * dout), x.copy())
    np.testing.assert_allclose(backward(dout, cache), num, rtol=1e-6,
                               atol=1e-8)


def test_maxpool_routes_gradient_to_argmax_by_hand():
    x = np.array([[[[1., 3., 2., 0.],
                    [4., 2., 1., 5.],
                    [0., 1., 7., 2.],
                    [3., 6., 1., 1.]]]])
    out, cache = conv.maxpool2d_forward(x, 2)
    np.testing.assert_array_equal(out[0, 0], [[4, 5], [6, 7]])
    dx = conv.maxpool2d_backward(np.array([[[[1., 2.], [3., 4.]]]]), cache)
    np.testing.assert_array_equal(dx[0, 0], [[0, 0, 0, 0], [1, 0, 0, 2],
                                             [0, 0, 4, 0], [0, 3, 0, 0]])
    dx = conv.avgpool2d_backward(np.array([[[[1., 2.], [3., 4.]]]]),
                                 conv.avgpool2d_forward(x, 2)[1])
    np.testing.assert_array_equal(dx[0, 0], np.kron([[1, 2], [3, 4]],
                                                     np.ones((2, 2))) / 4)


@pytest.mark.parametrize("kind", POOLS)
def test_pool_bad_input(kind):
    forward = POOLS[kind][0]
    x = np.zeros((1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"kernel_size \(5, 5\) is larger "
                       r"than the input \(H, W\) = \(4, 4\)"):
        forward(x, 5)
    with pytest.raises(ValueError, match="stride must be positive, got 0"):
        forward(x, 2, 0)
    with pytest.raises(ValueError, match="kernel_size must be positive"):
        forward(x, 0)
    with pytest.raises(ValueError, match=r"x must have shape \(N, C, H, W\)"):
        forward(np.zeros((4, 4)), 2)
    _, cache = forward(x, 2)
    with pytest.raises(ValueError, match=r"dout must have the output's "
                       r"shape \(1, 1, 2, 2\)"):
        POOLS[kind][1](np.zeros((1, 1, 3, 3)), cache)


# ------------------------------------------------------------ explorer


def test_explorer_images_with_and_without_mnist(monkeypatch):
    from calc_nn.plots import cnn_figures as conv_plots

    monkeypatch.setattr(conv_plots, "mnist_dir", lambda: None)
    patterns = conv_plots.explorer_images()
    assert set(patterns) == {"square", "ring", "diagonals"}
    for img in patterns.values():
        assert img.shape == (28, 28) and set(np.unique(img)) <= {0, 255}


def test_explorer_figures_show_the_layer(monkeypatch):
    from calc_nn.plots import cnn_figures as conv_plots

    monkeypatch.setattr(conv_plots, "mnist_dir", lambda: None)
    images = conv_plots.explorer_images()
    x = images["square"].astype(float)
    fig = conv_plots.conv_forward("square", "sobel_x", stride=2, padding=1,
                                  images=images)
    want = tF.conv2d(torch.tensor(x)[None, None],
                     torch.tensor(conv_plots.KERNELS["sobel_x"],
                                  dtype=torch.float64)[None, None],
                     stride=2, padding=1)[0, 0].numpy()
    np.testing.assert_allclose(np.asarray(fig.data[2].z), want)
    assert np.asarray(fig.data[0].z).shape == (30, 30)  # padded input
    fig = conv_plots.conv_backward("square", 8, 13, images=images)
    dw, dx = np.asarray(fig.data[1].z), np.asarray(fig.data[2].z)
    np.testing.assert_array_equal(dw, x[7:10, 12:15])  # the window
    np.testing.assert_array_equal(dx[7:10, 12:15],
                                  conv_plots.KERNELS["sobel_x"])
    assert np.count_nonzero(dx) == np.count_nonzero(
        conv_plots.KERNELS["sobel_x"])
    for kind in ("max", "avg"):
        assert len(conv_plots.pooling_gradients(kind).data) == 4
    with pytest.raises(ValueError, match="kind must be 'max' or 'avg'"):
        conv_plots.pooling_gradients("min")
