"""calc_nn.conv under bad input: every public function, fed non-finite
values, wrong kinds, degenerate shapes, mixed dtypes and out-of-range
settings, gives PyTorch's result (NaN and inf where PyTorch has them) or a
ValueError/TypeError that names the argument; never another exception or
a finite wrong number."""

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as tF
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import (
    correct_or_named_error,
    degenerate_shapes,
    with_nonfinite,
    wrong_kind,
)

from calc_nn import conv

# NaN and inf propagate as in PyTorch; NumPy's elementwise products (the
# naive references, pooling) may also warn about 0 * inf or inf - inf,
# IEEE's invalid operation, whose result is the same NaN. Results, not
# warnings, are checked here.
pytestmark = pytest.mark.filterwarnings(
    "ignore:invalid value encountered:RuntimeWarning")
# ----------------------------------------------------------------- faults

BAD_INTS = [0, -1, 1.5, np.nan, np.inf, True, "2", None, (1,), (1, 2, 3),
            (1, 0), (2, -1), (1.0, 2)]
BAD_PADDINGS = [-1, -3, 1.5, np.nan, True, "1", None, (0,), (0, -1),
                (0, 0, 0)]
BAD_OUTPUT_PADDINGS = [-1, 99, 3, (3, 0), (0, 99), 1.5, np.nan, True, "0",
                       None, (0,), (0, 0, 0), (0, -1)]  # stride <= 3


def faulty(draw, fault, array):
    """``array`` with a NaN or inf, as a wrong kind (complex, str,
    object), or as zeros of a degenerate shape."""
    return draw({"nonfinite": with_nonfinite(array.shape),
                 "wrong_kind": wrong_kind(array.shape),
                 "degenerate": degenerate_shapes.map(np.zeros)}[fault])


@st.composite
def conv_inputs(draw, transposed=False):
    """Small valid arguments of conv2d_forward (or of the transposed
    convolution): (x, W, b, settings)."""
    n, c, f = (draw(st.integers(0 if not transposed else 1, 2)),
               draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    k = draw(st.integers(1, 3))
    h, w = draw(st.integers(k, 6)), draw(st.integers(k, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, c, h, w))
    W = rng.standard_normal((c, f, k, k) if transposed else (f, c, k, k))
    b = draw(st.sampled_from([None, rng.standard_normal(f)]))
    stride, padding = draw(st.integers(1, 3)), draw(st.integers(0, k - 1))
    settings_ = dict(stride=stride, padding=padding)
    if transposed:
        settings_["output_padding"] = draw(st.integers(0, stride - 1))
    return x, W, b, settings_


@st.composite
def faulty_call(draw, transposed=False):
    """Arguments with at most one fault, and the name that an error must
    mention (None: the call must succeed and agree with PyTorch)."""
    x, W, b, kw = draw(conv_inputs(transposed))
    args = dict(x=x, W=W, b=b, **kw)
    fault = draw(st.sampled_from(
        ["none", "nonfinite", "nonfinite", "wrong_kind", "degenerate",
         "dtype", "stride", "padding", "big settings"]
        + (["output_padding"] if transposed else [])))
    name = None
    if fault in ("nonfinite", "wrong_kind", "degenerate"):
        name = draw(st.sampled_from(["x", "W"] + (["b"] if b is not None
                                                  else [])))
        shape = args[name].shape
        args[name] = faulty(draw, fault, args[name])
        if fault == "nonfinite" or (fault == "degenerate"
                                    and args[name].shape == shape):
            name = None  # NaN and inf propagate, as in PyTorch; a
            # "degenerate" shape (1,) is a valid bias for one channel
    elif fault == "dtype":
        name = draw(st.sampled_from(["x", "W"]))
        args[name] = args[name].astype(np.float32)
    elif fault in ("stride", "output_padding"):
        name = fault
        args[name] = draw(st.sampled_from(
            BAD_INTS if fault == "stride" else BAD_OUTPUT_PADDINGS))
    elif fault == "padding":
        name = "padding"
        args[name] = draw(st.sampled_from(BAD_PADDINGS))
    elif fault == "big settings":  # legal: one output pixel, or a wide
        args["stride"] = draw(st.sampled_from([7, (7, 1)]))  # zero frame
        args["padding"] = draw(st.sampled_from([0, 4]))
        if transposed:
            args["padding"] = args["output_padding"] = 0
    return args, name


def names(error, name):
    """True if the error's message has ``name`` as a word (not as a letter
    of another word: "b" in "must be" does not count)."""
    return re.search(rf"(?<![\w]){re.escape(name)}(?![\w])",
                     str(error)) is not None


def torch_or_none(fn):
    try:
        return fn()
    except RuntimeError:
        return None


def assert_like_torch(got, want):
    """Same shape, NaN and inf where PyTorch has them, close elsewhere."""
    assert got.shape == want.shape
    scale = np.nanmax(np.abs(np.where(np.isfinite(want), want, 0)),
                      initial=1.0)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9 * scale,
                               equal_nan=True)


def torch_conv_all(args, dout_fn, transposed=False):
    """PyTorch's output and gradients (float64), or None if it refuses."""
    t = {k: torch.tensor(v, requires_grad=True) for k, v in args.items()
         if k in ("x", "W", "b") and v is not None}
    kw = {k: v for k, v in args.items() if k not in ("x", "W", "b")}
    fn = tF.conv_transpose2d if transposed else tF.conv2d
    out = torch_or_none(lambda: fn(t["x"], t["W"], t.get("b"), **kw))
    if out is None:
        return None
    dout = dout_fn(tuple(out.shape))
    out.backward(torch.tensor(dout))
    return (out.detach().numpy(), dout,
            *[None if k not in t else t[k].grad.numpy()
              for k in ("x", "W", "b")])


def fault_is_dtype(args):
    return args["x"].dtype == np.float32 or args["W"].dtype == np.float32


def run_conv(args, name, forward, backward, transposed=False):
    result, error = correct_or_named_error(
        lambda: forward(**args), *([name] if name else ["<no error>"]))
    if error is not None:
        assert names(error, name), error
        if fault_is_dtype(args):  # both arrays named
            assert names(error, "x") and names(error, "W"), error
        return
    assert name is None, f"no error for a bad {name}"
    out, cache = result
    rng = np.random.default_rng(0)
    want = torch_conv_all(args, lambda s: rng.standard_normal(s),
                          transposed)
    assert want is not None, "PyTorch refuses what calc_nn accepts"
    t_out, dout, t_dx, t_dW, t_db = want
    dx, dW, db = backward(dout, cache)
    for got, w in ((out, t_out), (dx, t_dx), (dW, t_dW)):
        assert_like_torch(got, w)
    assert (db is None) == (t_db is None)
    if db is not None:
        assert_like_torch(db, t_db)


@pytest.mark.parametrize("forward,backward", [
    (conv.conv2d_forward, conv.conv2d_backward),
    (conv.conv2d_forward_naive, conv.conv2d_backward_naive)])
@settings(max_examples=150, deadline=None)
@given(call=faulty_call())
def test_conv_forward_bad_input(forward, backward, call):
    run_conv(*call, forward, backward)


@settings(max_examples=150, deadline=None)
@given(call=faulty_call(transposed=True))
def test_conv_transpose_forward_bad_input(call):
    run_conv(*call, conv.conv_transpose2d_forward,
             conv.conv_transpose2d_backward, transposed=True)


# ------------------------------------------------------- backward passes

def _layer(kind):
    """A forward pass of ``kind``: (out, cache, torch_grads) where
    torch_grads(dout) is PyTorch's list of gradients for that dout."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 2, 5, 5))
    W = rng.standard_normal((3, 2, 3, 3) if kind == "conv" else (2, 3, 3, 3))
    b = rng.standard_normal(3)
    if kind == "conv":
        out, cache = conv.conv2d_forward(x, W, b, 1, 1)
        fn, inputs = (lambda x, W, b: tF.conv2d(x, W, b, 1, 1)), (x, W, b)
    elif kind == "transpose":
        out, cache = conv.conv_transpose2d_forward(x, W, b, 2, 1, 1)
        fn, inputs = (lambda x, W, b: tF.conv_transpose2d(
            x, W, b, 2, 1, 1)), (x, W, b)
    else:
        pool = tF.max_pool2d if kind == "max" else tF.avg_pool2d
        forward = (conv.maxpool2d_forward if kind == "max"
                   else conv.avgpool2d_forward)
        out, cache = forward(x, 2)
        fn, inputs = (lambda x: pool(x, 2)), (x,)

    def torch_grads(dout):
        t = [torch.tensor(a, requires_grad=True) for a in inputs]
        fn(*t).backward(torch.tensor(dout))
        return [a.grad.numpy() for a in t]

    return out, cache, torch_grads


BACKWARDS = {
    "conv": [conv.conv2d_backward, conv.conv2d_backward_naive],
    "transpose": [conv.conv_transpose2d_backward],
    "max": [conv.maxpool2d_backward, conv.maxpool2d_backward_naive],
    "avg": [conv.avgpool2d_backward, conv.avgpool2d_backward_naive],
}


@pytest.mark.parametrize("kind,backward", [
    (kind, fn) for kind, fns in BACKWARDS.items() for fn in fns])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_backward_bad_dout_or_cache(kind, backward, data):
    out, cache, torch_grads = _layer(kind)
    fault = data.draw(st.sampled_from(["nonfinite", "wrong_kind",
                                       "degenerate", "dtype", "shape",
                                       "cache"]))
    dout = {
        "dtype": lambda: np.ones(out.shape, np.float32),
        "shape": lambda: np.ones(out.shape[:-1] + (out.shape[-1] + 1,)),
        "cache": lambda: np.ones(out.shape)}.get(
            fault, lambda: faulty(data.draw, fault, out))()
    if fault == "cache":
        cache = _layer("avg" if kind == "max" else "max")[1]
    name = "cache" if fault == "cache" else "dout"
    result, error = correct_or_named_error(lambda: backward(dout, cache),
                                           name)
    if fault != "nonfinite":
        assert error is not None and names(error, name), error
        return
    grads = result if isinstance(result, tuple) else (result,)
    for got, want in zip(grads, torch_grads(dout)):
        assert_like_torch(got, want)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("naive", [False, True])
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_pool_bad_input(kind, naive, data):
    forward = {("max", False): conv.maxpool2d_forward,
               ("max", True): conv.maxpool2d_forward_naive,
               ("avg", False): conv.avgpool2d_forward,
               ("avg", True): conv.avgpool2d_forward_naive}[kind, naive]
    backward = {("max", False): conv.maxpool2d_backward,
                ("max", True): conv.maxpool2d_backward_naive,
                ("avg", False): conv.avgpool2d_backward,
                ("avg", True): conv.avgpool2d_backward_naive}[kind, naive]
    fault = data.draw(st.sampled_from(["none", "nonfinite", "nonfinite",
                                       "wrong_kind", "degenerate",
                                       "kernel_size", "stride"]))
    n = data.draw(st.integers(0 if fault != "nonfinite" else 1, 2))
    c = data.draw(st.integers(1, 2))
    h, w = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 6))
    x = np.random.default_rng(data.draw(st.integers(0, 99))).standard_normal(
        (n, c, h, w))
    args = dict(x=x, kernel_size=data.draw(st.integers(1, min(h, w))),
                stride=data.draw(st.sampled_from([None, 1, 2, (1, 3)])))
    name = fault if fault in ("kernel_size", "stride") else "x"
    if fault in ("nonfinite", "wrong_kind", "degenerate"):
        args["x"] = faulty(data.draw, fault, x)
    elif fault in ("kernel_size", "stride"):
        args[fault] = data.draw(st.sampled_from(BAD_INTS + [99, (1, 99)]))
    result, error = correct_or_named_error(lambda: forward(**args), name)
    if error is not None:
        assert fault not in ("none", "nonfinite") and names(error, name)
        return
    out, cache = result
    dout = np.random.default_rng(2).standard_normal(out.shape)
    xt = torch.tensor(args["x"], requires_grad=True)
    pool = tF.max_pool2d if kind == "max" else tF.avg_pool2d
    t_out = pool(xt, args["kernel_size"], args["stride"])
    t_out.backward(torch.tensor(dout))
    assert_like_torch(out, t_out.detach().numpy())
    assert_like_torch(backward(dout, cache), xt.grad.numpy())


# ------------------------------------------------ sizes and the matrix


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_output_sizes_bad_input(data):
    values = st.one_of(st.integers(-2, 12), st.sampled_from(
        [1.5, np.nan, np.inf, True, "3", None, (1, 1)]))
    names = ["size", "kernel", "stride", "padding"]
    args = [data.draw(values, label=n) for n in names]
    result, error = correct_or_named_error(
        lambda: conv.conv2d_output_size(*args), *names)
    if error is None:
        size, k, s, p = args
        want = tF.conv2d(torch.zeros(1, 1, size, 1), torch.zeros(1, 1, k, 1),
                         stride=(s, 1), padding=(p, 0)).shape[2]
        assert result == want
    op = data.draw(values, label="output_padding")
    result, error = correct_or_named_error(
        lambda: conv.conv_transpose2d_output_size(*args, op),
        *names, "output_padding")
    if error is None:
        size, k, s, p = args
        want = tF.conv_transpose2d(
            torch.zeros(1, 1, size, 1), torch.zeros(1, 1, k, 1),
            stride=(s, 1), padding=(p, 0), output_padding=(op, 0)).shape[2]
        assert result == want


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_conv2d_matrix_bad_input(data):
    c, k = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3))
    W = np.random.default_rng(0).standard_normal((2, c, k, k))
    args = dict(W=W, input_shape=(c, 4, 5), stride=1, padding=0)
    fault = data.draw(st.sampled_from(["none", "nonfinite", "wrong_kind",
                                       "degenerate", "input_shape",
                                       "stride", "padding"]))
    name = {"nonfinite": None, "none": None, "wrong_kind": "W",
            "degenerate": "W"}.get(fault, fault)
    if fault in ("nonfinite", "wrong_kind", "degenerate"):
        args["W"] = faulty(data.draw, fault, W)
    elif fault == "input_shape":
        args["input_shape"] = data.draw(st.sampled_from(
            [(c, 4), (c, 0, 5), (c + 1, 4, 5), (c, 4.0, 5), None, 5,
             (c, -4, 5)]))
    elif fault in ("stride", "padding"):
        args[fault] = data.draw(st.sampled_from(
            BAD_INTS if fault == "stride" else BAD_PADDINGS))
    result, error = correct_or_named_error(
        lambda: conv.conv2d_matrix(**args), name or "<no error>")
    if error is not None:
        assert names(error, name), error
        return
    # each filter entry lands where the definition puts it: the matrix of
    # an index-numbered kernel, looked up in W (NaN and inf included)
    ids = np.arange(1, W.size + 1, dtype=float).reshape(W.shape)
    where = conv.conv2d_matrix(ids, args["input_shape"], args["stride"],
                               args["padding"]).astype(int)
    want = np.where(where > 0, args["W"].ravel()[where - 1], 0.0)
    np.testing.assert_array_equal(result, want)


def test_every_public_function_is_fuzzed():
    covered = {
        "conv2d_output_size", "conv_transpose2d_output_size",
        "conv2d_forward", "conv2d_backward", "conv2d_forward_naive",
        "conv2d_backward_naive", "conv2d_matrix", "conv_transpose2d_forward",
        "conv_transpose2d_backward", "maxpool2d_forward",
        "maxpool2d_backward", "maxpool2d_forward_naive",
        "maxpool2d_backward_naive", "avgpool2d_forward", "avgpool2d_backward",
        "avgpool2d_forward_naive", "avgpool2d_backward_naive"}
    functions = {n for n in conv.__all__ if not n.endswith("Cache")}
    assert functions == covered
