"""calc_nn.conv against PyTorch (forward and autograd), finite differences,
and the plain-loop references, over hypothesis-generated shapes.

Tolerances come from the arithmetic: an entry that sums K products may
differ from PyTorch's by about sqrt(K)*eps times the sum of the products'
magnitudes (another summation order), which a run of PyTorch on the
absolute values of the same inputs gives entry by entry."""

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
def conv_cases(draw, max_n=3, max_c=4, max_f=4, max_side=9,
               dtype=np.float64):
    """(x, W, b, stride, padding) with every kernel fitting its input:
    strides and paddings as ints or pairs, non-square kernels, any
    channel count, bias or none."""
    n = draw(st.integers(1, max_n))
    c = draw(st.integers(1, max_c))
    f = draw(st.integers(1, max_f))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    square = draw(st.booleans())
    ph = draw(st.integers(0, 2))
    pw = ph if square else draw(st.integers(0, 2))
    sh = draw(st.integers(1, 3))
    sw = sh if square else draw(st.integers(1, 3))
    h = draw(st.integers(max(1, kh - 2 * ph), max_side))
    w = draw(st.integers(max(1, kw - 2 * pw), max_side))
    stride, padding = (sh, ph) if square else ((sh, sw), (ph, pw))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    W = rng.standard_normal((f, c, kh, kw)).astype(dtype)
    b = draw(st.sampled_from([None, rng.standard_normal(f).astype(dtype)]))
    return x, W, b, stride, padding


@st.composite
def pool_cases(draw, max_side=9):
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    square = draw(st.booleans())
    kw = kh if square else kw
    h = draw(st.integers(kh, max_side))
    w = draw(st.integers(kw, max_side))
    kernel = kh if square else (kh, kw)
    stride = draw(st.sampled_from([None, 1, 2, 3, (1, 2), (3, 1)]))
    seed = draw(st.integers(0, 2**32 - 1))
    x = np.random.default_rng(seed).standard_normal((n, c, h, w))
    return x, kernel, stride


def upstream(shape, seed=1, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


def torch_conv(x, W, b, stride, padding, dout, transposed=False,
               output_padding=0):
    """PyTorch's output and gradients (float64), and the same for the
    absolute values of the inputs: the sums of the products' magnitudes,
    entry by entry."""
    def run(x, W, b, dout):
        t = [None if a is None else torch.tensor(a, dtype=torch.float64,
                                                 requires_grad=True)
             for a in (x, W, b)]
        if transposed:
            out = tF.conv_transpose2d(*t, stride=stride, padding=padding,
                                      output_padding=output_padding)
        else:
            out = tF.conv2d(*t, stride=stride, padding=padding)
        out.backward(torch.tensor(dout, dtype=torch.float64))
        return [out.detach().numpy()] + [
            None if a is None else a.grad.numpy() for a in t]

    absolute = [None if a is None else np.abs(a) for a in (x, W, b, dout)]
    return run(x, W, b, dout), run(*absolute)


def n_terms(x, W, stride, out_shape, transposed=False):
    """How many products each entry of (out, dx, dW, db) sums, at most."""
    (sh, sw), (N, _, H, Wd), (kH, kW) = _pair(stride), x.shape, W.shape[2:]
    overlap = -(-kH // sh) * -(-kW // sw)  # windows covering one pixel
    db = N * out_shape[2] * out_shape[3]
    if transposed:  # the adjoint: forward and dx exchange their sums
        return (W.shape[0] * overlap + 1, W.shape[1] * kH * kW,
                N * H * Wd, db)
    return W.shape[1] * kH * kW + 1, W.shape[0] * overlap, db, db


def assert_sum_close(got, want, scale, terms, dtype):
    """|got - want| <= 4 sqrt(K) eps * scale, entry by entry (scale: the
    sum of the magnitudes of the K products); NaN only where ``want`` is
    NaN (a comparison with NaN is False: ``> tol`` let any NaN pass)."""
    assert got.shape == want.shape and got.dtype == np.dtype(dtype)
    tol = 4 * np.sqrt(terms) * np.finfo(dtype).eps * scale + 1e-300
    # equal (infinities of one sign too) or both NaN agree
    agree = (got == want) | (np.isnan(got) & np.isnan(want))
    error = np.abs(got.astype(np.float64) - want)
    bad = ~(error <= tol) & ~agree
    assert not bad.any(), (f"{bad.sum()} entries off; worst "
                           f"{np.max(error[bad]):.3g}, tol "
                           f"{tol.min():.3g}..{tol.max():.3g}")


def check_against_torch(ours, x, W, b, stride, padding, dout, dtype,
                        **transpose):
    want, scale = torch_conv(x, W, b, stride, padding, dout,
                             transposed=bool(transpose), **transpose)
    terms = n_terms(x, W, stride, dout.shape, transposed=bool(transpose))
    for got, w, s, k in zip(ours, want, scale, terms):
        if w is None:
            assert got is None
        else:
            assert_sum_close(got, w, s, k, dtype)


# ------------------------------------------------------------ convolution


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_conv_matches_torch_forward_and_backward(dtype, data):
    x, W, b, stride, padding = data.draw(conv_cases(dtype=dtype))
    out, cache = conv.conv2d_forward(x, W, b, stride=stride,
                                     padding=padding)
    dout = upstream(out.shape, dtype=dtype)
    grads = conv.conv2d_backward(dout, cache)
    check_against_torch((out, *grads), x, W, b, stride, padding, dout,
                        dtype)


@settings(max_examples=40, deadline=None)
@given(conv_cases(max_n=2, max_c=2, max_f=2, max_side=6))
def test_conv_fast_equals_naive_and_caches_are_interchangeable(case):
    x, W, b, stride, padding = case
    out, cache = conv.conv2d_forward(x, W, b, stride, padding)
    out_n, cache_n = conv.conv2d_forward_naive(x, W, b, stride, padding)
    np.testing.assert_allclose(out, out_n, rtol=1e-12, atol=1e-12)
    assert type(cache) is type(cache_n) is conv.Conv2dCache
    dout = upstream(out.shape)
    want = conv.conv2d_backward_naive(dout, cache_n)
    for grads in (conv.conv2d_backward(dout, cache),
                  conv.conv2d_backward(dout, cache_n),
                  conv.conv2d_backward_naive(dout, cache)):
        for got, w in zip(grads, want):
            if w is None:
                assert got is None
            else:
                np.testing.assert_allclose(got, w, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("C, F, stride, padding", [
    (16, 4, 2, 1),  # strided: the scatter-add input gradient
    # stride 1, C k k > F: the input gradient in long rows, whose last
    # columns (zeros) reach into the next row of the (padded) image
    (16, 4, 1, 0),
    (16, 4, 1, 1),
    (2, 20, 1, 1)])  # stride 1, C k k <= F: the scatter-add again
def test_large_batches_are_split_and_still_exact(C, F, stride, padding,
                                                 monkeypatch):
    """Enough images for several im2col batches of about 4 MB, the last
    one smaller: every batch reuses the first one's scratch matrices.
    They are filled with NaN here, so that a batch that read a stale or
    uninitialised entry (a view too long, a row of zeros assumed) would
    give NaN, not the zeros fresh memory happens to hold."""
    scratch, batches = conv._scratch, conv._batches
    made = []

    def nan_scratch(*args):
        out = scratch(*args)
        out[:] = np.nan
        return out

    def spied_batches(N, per_image):
        result = batches(N, per_image)
        made.append([len(range(N)[n]) for n in result])
        return result

    monkeypatch.setattr(conv, "_scratch", nan_scratch)
    monkeypatch.setattr(conv, "_batches", spied_batches)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((310, C, 12, 12))
    W = rng.standard_normal((F, C, 3, 3))
    out, cache = conv.conv2d_forward(x, W, None, stride, padding)
    dout = upstream(out.shape)
    check_against_torch((out, *conv.conv2d_backward(dout, cache)), x, W,
                        None, stride, padding, dout, np.float64)
    # forward, dx, dW: each in several batches, the last one smaller
    assert len(made) == 3
    for sizes in made:
        assert len(sizes) > 1 and sizes[-1] < sizes[0] and sum(sizes) == 310


@pytest.mark.parametrize("stride,padding,kernel", [
    (1, 0, (3, 3)), (2, 1, (3, 2)), ((1, 2), (2, 0), (2, 3)), (3, 2, (1, 4))])
def test_conv_gradients_match_finite_differences(stride, padding, kernel):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, 5, 6))
    W = rng.standard_normal((3, 2, *kernel))
    b = rng.standard_normal(3)
    out, cache = conv.conv2d_forward(x, W, b, stride, padding)
    dout = upstream(out.shape)
    dx, dW, db = conv.conv2d_backward(dout, cache)

    def loss(x_, W_, b_):  # L = sum(dout * Y): dL/dY = dout
        return np.sum(conv.conv2d_forward(x_, W_, b_, stride,
                                          padding)[0] * dout)

    for got, arg in ((dx, 0), (dW, 1), (db, 2)):
        args = [x, W, b]

        def f(v, arg=arg):
            args[arg] = v
            return loss(*args)

        num = numerical_gradient(f, [x, W, b][arg].copy())
        np.testing.assert_allclose(got, num, rtol=1e-6, atol=1e-7)


def test_conv_keeps_float32():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3, 10, 10)).astype(np.float32)
    W = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    for forward, backward in ((conv.conv2d_forward, conv.conv2d_backward),
                              (conv.conv2d_forward_naive,
                               conv.conv2d_backward_naive)):
        out, cache = forward(x, W, b, stride=2, padding=1)
        grads = backward(np.ones_like(out), cache)
        assert {a.dtype for a in (out, *grads)} == {np.dtype(np.float32)}
    # ints and lists take the floating argument's dtype
    out, _ = conv.conv2d_forward(np.ones((1, 3, 4, 4), int), W)
    assert out.dtype == np.float32


@pytest.mark.parametrize("size,kernel,stride,padding,expected", [
    (28, 3, 1, 1, 28), (28, 3, 1, 0, 26), (28, 5, 2, 2, 14), (7, 3, 2, 0, 3),
    (32, 5, 1, 0, 28), (5, 5, 1, 0, 1), (6, 3, 3, 1, 2)])
def test_output_size_formula(size, kernel, stride, padding, expected):
    assert conv.conv2d_output_size(size, kernel, stride, padding) == expected
    x = np.zeros((1, 1, size, size))
    out, _ = conv.conv2d_forward(x, np.zeros((1, 1, kernel, kernel)),
                                 stride=stride, padding=padding)
    assert out.shape == (1, 1, expected, expected)


def test_caches_do_not_see_later_changes_of_the_inputs():
    """The caller may change x or W in place between the passes (an
    optimizer step does): the backward pass uses the forward's values."""
    rng = np.random.default_rng(4)
    passes = [(conv.conv2d_forward, conv.conv2d_backward),
              (conv.conv2d_forward_naive, conv.conv2d_backward_naive),
              (conv.conv_transpose2d_forward, conv.conv_transpose2d_backward)]
    for forward, backward in passes:
        x = rng.standard_normal((2, 3, 5, 5))
        W = rng.standard_normal((3, 3, 3, 3))
        b = rng.standard_normal(3)
        out, cache = forward(x, W, b, 1, 1)
        dout = upstream(out.shape)
        want = backward(dout, cache)
        x += 1.0
        W *= -2.0
        b[:] = 0
        for got, w in zip(backward(dout, cache), want):
            np.testing.assert_array_equal(got, w)


# ------------------------------------------------------------ bad input

X = np.zeros((2, 3, 5, 5))
Wt = np.zeros((4, 3, 3, 3))


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(W=np.zeros((4, 2, 3, 3))), ValueError,
     r"channel mismatch: x has C=3 .*W expects 2"),
    (dict(W=np.zeros((4, 3, 6, 3))), ValueError,
     r"kernel height 6 is larger than the padded input height 5 \+ 2\*0"),
    (dict(W=np.zeros((4, 3, 3, 8)), padding=1), ValueError,
     r"kernel width 8 is larger than the padded input width 5 \+ 2\*1 = 7"),
    (dict(W=np.zeros((4, 3, 0, 3))), ValueError, r"W must have a kernel"),
    (dict(W=np.zeros((0, 3, 3, 3)), b=None), ValueError,
     r"W must have at least one output channel"),
    (dict(x=np.zeros((2, 0, 5, 5)), W=np.zeros((4, 0, 3, 3))), ValueError,
     r"x must have at least one channel"),
    (dict(stride=0), ValueError, r"stride must be an int >= 1, got 0"),
    (dict(stride=(1, -2)), ValueError, r"stride must be an int >= 1"),
    (dict(stride=(1, 2, 3)), ValueError, r"stride must be an int or a pair"),
    (dict(stride=1.5), TypeError, r"stride must be an int, got float"),
    (dict(stride=True), TypeError, r"stride must be an int, got bool"),
    (dict(padding=-1), ValueError, r"padding must be an int >= 0, got -1"),
    (dict(b=np.zeros(3)), ValueError, r"b must have shape \(4,\).*\(3,\)"),
    (dict(x=np.zeros((3, 5, 5))), ValueError,
     r"x must have shape \(N, C, H, W\)"),
    (dict(W=np.zeros((3, 3, 3))), ValueError,
     r"W must have shape \(F, C, kH, kW\)"),
    (dict(x=X.astype(np.float32)), TypeError,
     r"x is float32, W is float64"),
    (dict(x=np.full(X.shape, "a")), TypeError,
     r"x must be an array of real numbers"),
])
@pytest.mark.parametrize("forward", [conv.conv2d_forward,
                                     conv.conv2d_forward_naive])
def test_conv_bad_input_is_named(forward, kwargs, error, message):
    args = dict(x=X, W=Wt, b=np.zeros(4), stride=1, padding=0) | kwargs
    with pytest.raises(error, match=message):
        forward(**args)


@pytest.mark.parametrize("backward", [conv.conv2d_backward,
                                      conv.conv2d_backward_naive])
def test_conv_backward_checks_dout_and_cache(backward):
    _, cache = conv.conv2d_forward(X, Wt)
    with pytest.raises(ValueError, match=r"dout must have the output's "
                       r"shape \(2, 4, 3, 3\), got \(2, 4, 5, 5\)"):
        backward(np.zeros((2, 4, 5, 5)), cache)
    with pytest.raises(TypeError, match=r"dout has dtype float32"):
        backward(np.zeros((2, 4, 3, 3), np.float32), cache)
    _, pool_cache = conv.maxpool2d_forward(X, 2)
    with pytest.raises(TypeError, match=r"cache must be a Conv2dCache .*"
                       r"got MaxPool2dCache"):
        backward(np.zeros((2, 4, 3, 3)), pool_cache)
    with pytest.raises(TypeError, match=r"cache must be a Conv2dCache .*"
                       r"got tuple"):
        backward(np.zeros((2, 4, 3, 3)), tuple(cache)[:3])


@pytest.mark.parametrize("call,message", [
    (lambda: conv.conv2d_output_size(3, 5), r"kernel size 5 is larger"),
    (lambda: conv.conv2d_output_size(3, 0), r"kernel must be an int >= 1"),
    (lambda: conv.conv2d_output_size(-1, 1), r"size must be an int >= 1"),
    (lambda: conv.conv2d_output_size(3, 1, 0), r"stride must be an int >="),
    (lambda: conv.conv2d_output_size(3, 1, 1, -1), r"padding must be an"),
    (lambda: conv.conv_transpose2d_output_size(3, 3, 2, 0, 2),
     r"output_padding must be an int >= 0 and <= 1, got 2"),
    (lambda: conv.conv_transpose2d_output_size(1, 1, 1, 1),
     r"padding=1 is too large: the output length .* = -1 is < 1"),
])
def test_output_size_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ------------------------------------------------- convolution as a matrix


@settings(max_examples=60, deadline=None)
@given(conv_cases(max_n=1, max_c=3, max_f=3, max_side=7))
def test_conv2d_matrix_is_the_convolution_and_its_transpose_the_gradient(
        case):
    x, W, _, stride, padding = case
    T = conv.conv2d_matrix(W, x.shape[1:], stride, padding)
    out, cache = conv.conv2d_forward(x, W, None, stride, padding)
    assert T.shape == (out.size, x.size)
    np.testing.assert_allclose(T @ x.ravel(), out.ravel(), rtol=1e-12,
                               atol=1e-12)
    dout = upstream(out.shape)
    dx = conv.conv2d_backward(dout, cache)[0]
    np.testing.assert_allclose(T.T @ dout.ravel(), dx.ravel(), rtol=1e-12,
                               atol=1e-12)


def test_conv2d_matrix_by_hand():
    # one channel, 3x3 image, 2x2 kernel, stride 1: the Toeplitz pattern
    W = np.array([[[[1., 2.], [3., 4.]]]])
    T = conv.conv2d_matrix(W, (1, 3, 3))
    np.testing.assert_array_equal(T, [[1, 2, 0, 3, 4, 0, 0, 0, 0],
                                      [0, 1, 2, 0, 3, 4, 0, 0, 0],
                                      [0, 0, 0, 1, 2, 0, 3, 4, 0],
                                      [0, 0, 0, 0, 1, 2, 0, 3, 4]])


@pytest.mark.parametrize("args,error,message", [
    (((1, 3, 3),), None, None),
    (((3, 3),), ValueError, r"input_shape must be \(C, H, W\)"),
    (((1, 0, 3),), ValueError, r"input_shape must be an int >= 1"),
    (((1, 3.0, 3),), TypeError, r"input_shape must be an int"),
    (((2, 3, 3),), ValueError, r"channel mismatch: input_shape has C=2"),
    (((1, 1, 3),), ValueError, r"kernel height 2 is larger"),
    (((1, 3, 3), 0), ValueError, r"stride must be an int >= 1"),
    (((1, 300, 300), 1, 0), ValueError, r"conv2d_matrix is for teaching"),
])
def test_conv2d_matrix_bad_input(args, error, message):
    W = np.ones((1, 1, 2, 2))
    if error is None:
        assert conv.conv2d_matrix(W, *args).shape == (4, 9)
    else:
        with pytest.raises(error, match=message):
            conv.conv2d_matrix(W, *args)


# ------------------------------------------------- transposed convolution


@st.composite
def transpose_cases(draw, dtype=np.float64):
    """(x, W, b, stride, padding, output_padding) that PyTorch accepts:
    output_padding < stride and an output of at least one pixel."""
    x, W, b, stride, padding = draw(conv_cases(dtype=dtype, max_side=6))
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    W = np.ascontiguousarray(W.transpose(1, 0, 2, 3))  # (C_in, C_out, ...)
    b = None if b is None else np.resize(b, W.shape[1])
    oh, ow = draw(st.integers(0, sh - 1)), draw(st.integers(0, sw - 1))
    output_padding = draw(st.sampled_from([(oh, ow)] + (
        [oh] if sh == sw else [])))
    kh, kw = W.shape[2:]
    H, Wd = x.shape[2:]
    if ((H - 1) * sh - 2 * ph + kh + oh < 1
            or (Wd - 1) * sw - 2 * pw + kw + _pair(output_padding)[1] < 1):
        padding = 0
    return x, W, b, stride, padding, output_padding


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_conv_transpose_matches_torch(dtype, data):
    x, W, b, stride, padding, output_padding = data.draw(
        transpose_cases(dtype=dtype))
    out, cache = conv.conv_transpose2d_forward(x, W, b, stride, padding,
                                               output_padding)
    assert out.shape[2:] == tuple(
        conv.conv_transpose2d_output_size(n, k, s, p, o)
        for n, k, s, p, o in zip(x.shape[2:], W.shape[2:], _pair(stride),
                                 _pair(padding), _pair(output_padding)))
    dout = upstream(out.shape, dtype=dtype)
    grads = conv.conv_transpose2d_backward(dout, cache)
    check_against_torch((out, *grads), x, W, b, stride, padding, dout,
                        dtype, output_padding=output_padding)


@settings(max_examples=60, deadline=None)
@given(conv_cases())
def test_conv_backward_dx_is_the_transposed_convolution_of_dout(case):
    x, W, _, stride, padding = case
    out, cache = conv.conv2d_forward(x, W, None, stride, padding)
    dout = upstream(out.shape)
    dx = conv.conv2d_backward(dout, cache)[0]
    # the output_padding that gives back x's height and width
    op = tuple((n + 2 * p - k) % s for n, p, k, s in zip(
        x.shape[2:], _pair(padding), W.shape[2:], _pair(stride)))
    y, _ = conv.conv_transpose2d_forward(dout, W, None, stride, padding, op)
    np.testing.assert_allclose(y, dx, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(output_padding=2), ValueError,
     r"output_padding must be an int >= 0 and <= 1, got 2"),
    (dict(output_padding=(0, -1)), ValueError, r"output_padding must be"),
    (dict(padding=4), ValueError, r"padding=4 is too large"),
    (dict(W=np.zeros((3, 4, 3, 3))), ValueError,
     r"channel mismatch: x has C=2 .*W expects 3 .*\(C_in, C_out, kH, kW\)"),
    (dict(W=np.zeros((2, 0, 3, 3)), b=None), ValueError,
     r"W must have at least one output channel"),
    (dict(b=np.zeros(2)), ValueError, r"b must have shape \(4,\)"),
    (dict(stride=0), ValueError, r"stride must be an int >= 1"),
    (dict(W=np.zeros((2, 4, 3, 3), np.float32)), TypeError,
     r"x is float64, W is float32"),
])
def test_conv_transpose_bad_input(kwargs, error, message):
    args = dict(x=np.zeros((1, 2, 3, 3)), W=np.zeros((2, 4, 3, 3)),
                b=np.zeros(4), stride=2, padding=1, output_padding=1)
    with pytest.raises(error, match=message):
        conv.conv_transpose2d_forward(**(args | kwargs))


def test_conv_transpose_backward_checks_dout_and_cache():
    out, cache = conv.conv_transpose2d_forward(np.zeros((1, 2, 3, 3)),
                                               np.zeros((2, 4, 3, 3)), None,
                                               2, 1, 1)
    assert out.shape == (1, 4, 6, 6)
    with pytest.raises(ValueError, match=r"dout must have the output's "
                       r"shape \(1, 4, 6, 6\)"):
        conv.conv_transpose2d_backward(np.zeros((1, 4, 5, 5)), cache)
    _, conv_cache = conv.conv2d_forward(X, Wt)
    with pytest.raises(TypeError, match=r"cache must be a "
                       r"ConvTranspose2dCache .*got Conv2dCache"):
        conv.conv_transpose2d_backward(np.zeros((1, 4, 6, 6)), conv_cache)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("stride,padding", [(1, 1), (1, 0), (2, 1)])
def test_conv_input_gradient_with_a_nonfinite_weight_is_torchs(
        bad, stride, padding):
    """A NaN or inf weight reaches only the input pixels its windows read
    (stride 1 computes dx in rows of the padded width: the padding
    columns must not multiply the weight by 0)."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 2, 5, 6))
    W = rng.standard_normal((3, 2, 3, 3))
    W[1, 0, 2, 2] = bad
    with np.errstate(invalid="ignore"):  # inf times a padding zero: NaN
        out, cache = conv.conv2d_forward(x, W, None, stride, padding)
        dout = upstream(out.shape)
        dx = conv.conv2d_backward(dout, cache)[0]
    t_dx = torch_conv(x, W, None, stride, padding, dout)[0][1]
    assert np.array_equal(np.isnan(dx), np.isnan(t_dx))
    np.testing.assert_allclose(dx, t_dx, rtol=1e-12, atol=1e-12,
                               equal_nan=True)


# ------------------------------------------------------------ pooling

POOLS = {
    "max": (conv.maxpool2d_forward, conv.maxpool2d_backward,
            conv.maxpool2d_forward_naive, conv.maxpool2d_backward_naive,
            tF.max_pool2d),
    "avg": (conv.avgpool2d_forward, conv.avgpool2d_backward,
            conv.avgpool2d_forward_naive, conv.avgpool2d_backward_naive,
            tF.avg_pool2d),
}


def torch_pool(kind, x, kernel, stride, dout):
    xt = torch.tensor(x, requires_grad=True)
    out = POOLS[kind][-1](xt, kernel, stride)
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), xt.grad.numpy()


@pytest.mark.parametrize("kind", POOLS)
@settings(max_examples=100, deadline=None)
@given(case=pool_cases())
def test_pool_matches_torch(kind, case):
    x, kernel, stride = case
    forward, backward, *_ = POOLS[kind]
    out, cache = forward(x, kernel, stride)
    dout = upstream(out.shape)
    dx = backward(dout, cache)
    t_out, t_dx = torch_pool(kind, x, kernel, stride, dout)
    np.testing.assert_allclose(out, t_out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, t_dx, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", POOLS)
@settings(max_examples=30, deadline=None)
@given(case=pool_cases(max_side=6))
def test_pool_fast_equals_naive_and_caches_are_interchangeable(kind, case):
    x, kernel, stride = case
    forward, backward, forward_n, backward_n, _ = POOLS[kind]
    out, cache = forward(x, kernel, stride)
    out_n, cache_n = forward_n(x, kernel, stride)
    assert type(cache) is type(cache_n)
    np.testing.assert_allclose(out, out_n, rtol=1e-12, atol=0)
    dout = upstream(out.shape)
    want = backward_n(dout, cache_n)
    for got in (backward(dout, cache), backward(dout, cache_n),
                backward_n(dout, cache)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("forward", [conv.maxpool2d_forward,
                                     conv.maxpool2d_forward_naive])
@pytest.mark.parametrize("row,first_max", [
    ([3., 1., 3., 2.], 0),                      # a tie: the first wins
    ([1., np.nan, 2., np.nan], 3),              # NaNs: the last NaN wins
    ([np.nan, 5., 1., 2.], 0),
    ([-np.inf] * 4, 0),
    ([-np.inf, np.inf, np.inf, 1.], 1),
])
def test_maxpool_picks_the_maximum_as_torch_does(forward, row, first_max):
    x = np.array(row)[None, None, None]
    out, cache = forward(x, (1, 4))
    dx = conv.maxpool2d_backward(np.ones((1, 1, 1, 1)), cache)
    xt = torch.tensor(x, requires_grad=True)
    t_out = tF.max_pool2d(xt, (1, 4))
    t_out.backward(torch.ones(1, 1, 1, 1, dtype=torch.float64))
    np.testing.assert_array_equal(out, t_out.detach().numpy())
    np.testing.assert_array_equal(dx, xt.grad.numpy())
    assert dx.ravel()[first_max] == 1


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


@pytest.mark.parametrize("kind", POOLS)
def test_pool_keeps_float32(kind):
    forward, backward, forward_n, backward_n, _ = POOLS[kind]
    x = np.random.default_rng(2).standard_normal((2, 2, 6, 6)).astype(
        np.float32)
    for fw, bw in ((forward, backward), (forward_n, backward_n)):
        out, cache = fw(x, 2)
        dx = bw(np.ones_like(out), cache)
        assert out.dtype == dx.dtype == np.float32


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


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("stride", [2, 1])  # side by side, overlapping
def test_maxpool_backward_sends_a_nonfinite_gradient_to_the_max_only(
        bad, stride):
    """A NaN or inf in dout reaches the window's maximum and no other
    entry, as in PyTorch (a product with the argmax mask would spread
    0 * inf = NaN over the whole window)."""
    x = np.random.default_rng(7).standard_normal((2, 3, 6, 6))
    out, cache = conv.maxpool2d_forward(x, 2, stride)
    dout = upstream(out.shape)
    dout[0, 1, 1, 2] = bad
    _, t_dx = torch_pool("max", x, 2, stride, dout)
    for backward in (conv.maxpool2d_backward, conv.maxpool2d_backward_naive):
        np.testing.assert_allclose(backward(dout, cache), t_dx, rtol=1e-12,
                                   atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("stride", [2, 1])  # side by side, overlapping
def test_maxpool_backward_zeros_are_positive_as_in_torch(dtype, stride):
    """The entries that are no maximum get +0.0, as in PyTorch and the
    loop reference, not -0.0 from a negative gradient times 0 (the
    chapter's max-pooling exercise printed "-0." before)."""
    x = np.random.default_rng(3).standard_normal((2, 3, 6, 6)).astype(dtype)
    out, cache = conv.maxpool2d_forward(x, 2, stride)
    dout = -np.abs(upstream(out.shape, dtype=dtype))
    _, t_dx = torch_pool("max", x, 2, stride, dout)
    assert not np.signbit(t_dx[t_dx == 0]).any()
    for backward in (conv.maxpool2d_backward, conv.maxpool2d_backward_naive):
        dx = backward(dout, cache)
        # overlapping windows add up to 4 gradients, in torch's order or not
        np.testing.assert_allclose(dx, t_dx, rtol=4 * np.finfo(dtype).eps)
        assert dx.dtype == dtype and not np.signbit(dx[dx == 0]).any()


@pytest.mark.parametrize("kind", POOLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("stride", [2, 1])  # side by side, overlapping
def test_pool_backward_gives_torch_signs_for_a_zero_gradient(kind, dtype,
                                                             stride):
    """-0.0 in dout (ReLU's backward gives it, for one) comes back as +0.0
    wherever PyTorch gives +0.0: PyTorch adds the gradients into zeros,
    and 0 + (-0.0) = +0.0. Compared bit by bit: == cannot tell the two
    zeros apart."""
    x = np.random.default_rng(4).standard_normal((2, 3, 6, 6)).astype(dtype)
    fast, naive = POOLS[kind][:2], POOLS[kind][2:4]
    for forward, backward in (fast, naive):
        out, cache = forward(x, 2, stride)
        dout = upstream(out.shape, dtype=dtype)
        dout[:, :, ::2] = -0.0
        _, t_dx = torch_pool(kind, x, 2, stride, dout)
        dx = backward(dout, cache)
        np.testing.assert_allclose(dx, t_dx, rtol=4 * np.finfo(dtype).eps)
        np.testing.assert_array_equal(np.signbit(dx), np.signbit(t_dx),
                                      err_msg=backward.__name__)


def test_maxpool_cache_does_not_see_later_changes():
    for forward in (conv.maxpool2d_forward, conv.maxpool2d_forward_naive):
        x = np.random.default_rng(6).standard_normal((1, 1, 4, 4))
        out, cache = forward(x, 2)
        dout = upstream(out.shape)
        want = conv.maxpool2d_backward(dout, forward(x.copy(), 2)[1])
        x[:] = -x  # the maxima move
        np.testing.assert_array_equal(conv.maxpool2d_backward(dout, cache),
                                      want)


@pytest.mark.parametrize("kind", POOLS)
@pytest.mark.parametrize("naive", [False, True])
def test_pool_bad_input(kind, naive):
    forward = POOLS[kind][2 if naive else 0]
    backward = POOLS[kind][3 if naive else 1]
    x = np.zeros((1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"kernel_size \(5, 5\) is larger "
                       r"than the input \(H, W\) = \(4, 4\)"):
        forward(x, 5)
    with pytest.raises(ValueError, match="stride must be an int >= 1, got 0"):
        forward(x, 2, 0)
    with pytest.raises(ValueError, match="kernel_size must be an int >= 1"):
        forward(x, 0)
    with pytest.raises(TypeError, match="kernel_size must be an int, got "
                       "float"):
        forward(x, 2.0)
    with pytest.raises(ValueError, match=r"x must have shape \(N, C, H, W\)"):
        forward(np.zeros((4, 4)), 2)
    _, cache = forward(x, 2)
    with pytest.raises(ValueError, match=r"dout must have the output's "
                       r"shape \(1, 1, 2, 2\)"):
        backward(np.zeros((1, 1, 3, 3)), cache)
    with pytest.raises(TypeError, match="dout has dtype float32"):
        backward(np.zeros((1, 1, 2, 2), np.float32), cache)
    other = POOLS["avg" if kind == "max" else "max"][0](x, 2)[1]
    with pytest.raises(TypeError, match=f"cache must be a "
                       f"{type(cache).__name__}"):
        backward(np.zeros((1, 1, 2, 2)), other)


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
