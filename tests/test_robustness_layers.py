"""Bad input to every public function of calc_nn.layers, calc_nn.losses and
calc_nn.init (issue 12): non-finite values, wrong kinds, mixed precision,
degenerate shapes, float16, and out-of-range hyperparameters. The only
acceptable outcomes are the right result (PyTorch's) or a ValueError /
TypeError whose message names the argument; never another exception, a
hang, or a finite wrong number.

One table (``CASES``) describes each array function: how to call it, a
valid set of arguments, PyTorch's answer, and which arguments are floating
arrays. The property test draws one way to spoil the arguments."""

import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import NONFINITE, degenerate_shapes, with_nonfinite, wrong_kind
from test_losses import torch_focal

from calc_nn import init, layers
from calc_nn import losses as L

SETTINGS = settings(max_examples=30, deadline=None)
RTOL = {np.dtype(np.float16): 4e-3, np.dtype(np.float32): 1e-4,
        np.dtype(np.float64): 1e-9}


def t(a):
    return torch.tensor(np.asarray(a))


def grads(fn, args, names, dout=None):
    """torch.autograd of ``fn(*tensors)`` w.r.t. the arguments ``names``
    (``dout``: the upstream gradient, default ones)."""
    tensors = {k: t(v).requires_grad_(k in names) for k, v in args.items()}
    out = fn(**tensors)
    out.backward(torch.ones_like(out) if dout is None else t(dout))
    return tuple(tensors[k].grad for k in names)


@dataclass(frozen=True)
class Case:
    call: Callable           # call(**args) -> result (array or tuple)
    make: Callable           # make(rng) -> valid args (float64 arrays)
    ref: Callable            # ref(args, result) -> PyTorch's result
    floats: tuple            # the floating-array arguments
    ints: tuple = ()         # the integer-array arguments
    nonfinite: str = "reject"  # or "propagate" (layers: IEEE, as torch)
    fill: dict = field(default_factory=dict)  # valid value per argument
    tol: float = 1.0         # extra factor on the tolerance


def _linear(rng):
    return dict(x=rng.uniform(-2, 2, (3, 4)), W=rng.uniform(-2, 2, (2, 4)),
                b=rng.uniform(-2, 2, 2))


def _with_dout(make, shape):
    def made(rng):
        return dict(dout=rng.uniform(-2, 2, shape), **make(rng))
    return made


def _z(rng):
    return dict(z=rng.uniform(-5, 5, (2, 3)))


def _bn(rng):
    return dict(x=rng.uniform(-2, 2, (4, 3)), gamma=rng.uniform(-2, 2, 3),
                beta=rng.uniform(-2, 2, 3))


def _bn_eval(rng):
    return dict(x=rng.uniform(-2, 2, (4, 3)),
                running_mean=rng.uniform(-1, 1, 3),
                running_var=rng.uniform(0.5, 2, 3),
                gamma=rng.uniform(-2, 2, 3), beta=rng.uniform(-2, 2, 3))


def _bn_running(rng):
    args = _bn_eval(rng)
    del args["gamma"], args["beta"]
    return args


def _torch_running(x, running_mean, running_var):
    x, rm, rv = (np.asarray(a) for a in (x, running_mean, running_var))
    module = (torch.nn.BatchNorm2d if x.ndim == 4 else
              torch.nn.BatchNorm1d)(x.shape[1], dtype=t(x).dtype)
    module.running_mean.copy_(t(rm))
    module.running_var.copy_(t(rv))
    module.train()
    module(t(x))
    return module.running_mean, module.running_var


def _pair(rng, low=-3.0, high=3.0):
    return dict(y_hat=rng.uniform(-3, 3, (2, 3)),
                target=rng.uniform(low, high, (2, 3)))


def _bce(rng):
    return dict(logits=rng.uniform(-3, 3, (2, 3)),
                target=rng.uniform(0, 1, (2, 3)))


def _ce(rng):
    return dict(logits=rng.uniform(-3, 3, (3, 4)),
                target=rng.integers(0, 4, 3), weight=rng.uniform(0.5, 2, 4))


def _ce_probs(rng):
    p = rng.uniform(0.1, 1, (3, 4))
    return dict(logits=rng.uniform(-3, 3, (3, 4)),
                target=p / p.sum(axis=1, keepdims=True))


def _torch_ce(a, _):
    return F.cross_entropy(t(a["logits"]), t(a["target"]),
                           weight=t(a["weight"]))


def _torch_ce_grad(a, _):
    return grads(lambda logits, target, weight: F.cross_entropy(
        logits, target, weight=weight), a, ("logits",))[0]


def _focal(rng):
    args = _ce(rng)
    args["alpha"] = args.pop("weight")
    return args


def _dropout(x, seed=0):
    return layers.dropout_forward(x, 0.5, rng=np.random.default_rng(seed))


def _act_backward(name):
    return lambda dout, z: getattr(layers, f"{name}_backward")(
        dout, getattr(layers, f"{name}_forward")(z)[1])


def _torch_act_backward(name, dout, z):
    z, dout = t(z), t(dout)
    if name == "relu":  # calc_nn multiplies (IEEE), torch selects; and
        # relu_grad(nan) is NaN in calc_nn (a NaN input never gives a number)
        slope = torch.where(z > 0, 1.0, 0.0).to(z.dtype)
        return torch.where(z.isnan(), torch.nan, slope) * dout
    tz = z.clone().requires_grad_(True)
    {"sigmoid": torch.sigmoid, "tanh": torch.tanh}[name](tz).backward(dout)
    return tz.grad


CASES = {
    # ------------------------------------------------------------- layers
    "linear_forward": Case(
        lambda x, W, b: layers.linear_forward(x, W, b)[0], _linear,
        lambda a, _: F.linear(t(a["x"]), t(a["W"]), t(a["b"])),
        ("x", "W", "b"), nonfinite="propagate"),
    "linear_backward": Case(
        lambda dout, x, W, b: layers.linear_backward(
            dout, layers.linear_forward(x, W, b)[1]),
        _with_dout(_linear, (3, 2)),
        lambda a, _: grads(lambda x, W, b: F.linear(x, W, b),
                           {k: a[k] for k in "xWb"},
                           ("x", "W", "b"), a["dout"]),
        ("dout", "x", "W", "b"), nonfinite="propagate"),
    **{f"{name}_forward": Case(
        lambda z, name=name: getattr(layers, f"{name}_forward")(z)[0], _z,
        lambda a, _, name=name: getattr(torch, name)(t(a["z"])), ("z",),
        nonfinite="propagate") for name in ("sigmoid", "tanh", "relu")},
    **{f"{name}_backward": Case(
        _act_backward(name), _with_dout(_z, (2, 3)),
        lambda a, _, name=name: _torch_act_backward(name, a["dout"],
                                                    a["z"]),
        ("dout", "z"), nonfinite="propagate") for name in
       ("sigmoid", "tanh", "relu")},
    "activation_forward": Case(
        lambda z: layers.activation_forward(z, "leaky_relu")[0], _z,
        lambda a, _: F.leaky_relu(t(a["z"])), ("z",),
        nonfinite="propagate"),
    "activation_backward": Case(
        lambda dout, z: layers.activation_backward(
            dout, layers.activation_forward(z, "tanh")[1]),
        _with_dout(_z, (2, 3)),
        lambda a, _: _torch_act_backward("tanh", a["dout"], a["z"]),
        ("dout", "z"), nonfinite="propagate"),
    "batchnorm_forward": Case(
        lambda x, gamma, beta: layers.batchnorm_forward(x, gamma, beta)[0],
        _bn, lambda a, _: F.batch_norm(
            t(a["x"]), None, None, t(a["gamma"]), t(a["beta"]),
            training=True), ("x", "gamma", "beta"), nonfinite="propagate",
        tol=100),
    **{name: Case(
        lambda dout, x, gamma, beta, name=name: getattr(layers, name)(
            dout, layers.batchnorm_forward(x, gamma, beta)[1]),
        _with_dout(_bn, (4, 3)),
        lambda a, _: grads(
            lambda x, gamma, beta: F.batch_norm(x, None, None, gamma, beta,
                                                training=True),
            {k: a[k] for k in ("x", "gamma", "beta")},
            ("x", "gamma", "beta"), a["dout"]),
        ("dout", "x", "gamma", "beta"), nonfinite="propagate", tol=100)
       for name in ("batchnorm_backward", "batchnorm_backward_naive")},
    "batchnorm_running_stats": Case(
        lambda x, running_mean, running_var: layers.batchnorm_running_stats(
            x, running_mean, running_var), _bn_running,
        lambda a, _: _torch_running(**a),
        ("x", "running_mean", "running_var"), nonfinite="propagate",
        fill={"running_var": 1.0}),
    "batchnorm_eval": Case(
        lambda x, running_mean, running_var, gamma, beta:
        layers.batchnorm_eval(x, running_mean, running_var, gamma, beta),
        _bn_eval, lambda a, _: F.batch_norm(
            *(t(a[k]) for k in ("x", "running_mean", "running_var", "gamma",
                                "beta")), training=False),
        ("x", "running_mean", "running_var", "gamma", "beta"),
        nonfinite="propagate", fill={"running_var": 1.0}),
    "dropout_forward": Case(
        lambda x: (lambda out, cache: (out, cache.mask))(*_dropout(x)),
        lambda rng: dict(x=rng.uniform(-2, 2, (3, 4))),
        lambda a, ours: (t(a["x"]) * t(ours[1]), t(ours[1])), ("x",),
        nonfinite="propagate"),
    "dropout_backward": Case(
        lambda dout, x: layers.dropout_backward(dout, _dropout(x)[1]),
        lambda rng: dict(dout=rng.uniform(-2, 2, (3, 4)),
                         x=rng.uniform(-2, 2, (3, 4))),
        lambda a, _: t(a["dout"]) * t(_dropout(
            np.asarray(a["x"]))[1].mask), ("dout", "x"),
        nonfinite="propagate"),
    # ------------------------------------------------------------- losses
    "mse": Case(L.mse, _pair, lambda a, _: F.mse_loss(t(a["y_hat"]),
                                                      t(a["target"])),
                ("y_hat", "target")),
    "mse_grad": Case(L.mse_grad, _pair, lambda a, _: grads(
        lambda y_hat, target: F.mse_loss(y_hat, target), a, ("y_hat",))[0],
        ("y_hat", "target")),
    "binary_cross_entropy_with_logits": Case(
        L.binary_cross_entropy_with_logits, _bce,
        lambda a, _: F.binary_cross_entropy_with_logits(
            t(a["logits"]), t(a["target"])), ("logits", "target"),
        fill={"target": 0.5}),
    "binary_cross_entropy_with_logits_grad": Case(
        L.binary_cross_entropy_with_logits_grad, _bce,
        lambda a, _: grads(lambda logits, target:
                           F.binary_cross_entropy_with_logits(
                               logits, target), a, ("logits",))[0],
        ("logits", "target"), fill={"target": 0.5}),
    "cross_entropy": Case(L.cross_entropy, _ce, _torch_ce,
                          ("logits", "weight"), ints=("target",)),
    "cross_entropy[probabilities]": Case(
        L.cross_entropy, _ce_probs, lambda a, _: F.cross_entropy(
            t(a["logits"]), t(a["target"])), ("logits", "target"),
        fill={"target": 0.25}),
    "cross_entropy_grad": Case(L.cross_entropy_grad, _ce, _torch_ce_grad,
                               ("logits", "weight"), ints=("target",)),
    "cross_entropy_grad[probabilities]": Case(
        L.cross_entropy_grad, _ce_probs, lambda a, _: grads(
            F.cross_entropy, {"input": a["logits"], "target": a["target"]},
            ("input",))[0], ("logits", "target"), fill={"target": 0.25}),
    "weighted_cross_entropy": Case(
        L.weighted_cross_entropy, _ce, _torch_ce, ("logits", "weight"),
        ints=("target",)),
    "weighted_cross_entropy_grad": Case(
        L.weighted_cross_entropy_grad, _ce, _torch_ce_grad,
        ("logits", "weight"), ints=("target",)),
    "focal_loss": Case(
        L.focal_loss, _focal, lambda a, _: torch_focal(
            t(a["logits"]), a["target"], 2.0, a["alpha"], "mean"),
        ("logits", "alpha"), ints=("target",)),
    "focal_loss_grad": Case(
        L.focal_loss_grad, _focal, lambda a, _: grads(
            lambda logits, target, alpha: torch_focal(
                logits, target.numpy(), 2.0, alpha.numpy(), "mean"),
            a, ("logits",))[0], ("logits", "alpha"), ints=("target",)),
}

SPOILERS = ["none", "nonfinite", "wrong_kind", "mixed", "degenerate",
            "float16"]


def named(error, name):
    """Does the message name ``name`` as a word (``x``, not the x of
    'expected')?"""
    return re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)",
                     str(error)) is not None


def spoil(draw, case, args):
    """Spoil ``args`` one way; return ``(how, the argument spoiled)``."""
    how = draw(st.sampled_from(SPOILERS))
    arrays = case.floats + case.ints
    if how == "nonfinite":
        name = draw(st.sampled_from(case.floats))
        args[name] = draw(with_nonfinite(np.shape(args[name])))
    elif how == "wrong_kind":
        name = draw(st.sampled_from(arrays))
        args[name] = draw(wrong_kind(np.shape(args[name])))
    elif how == "mixed" and len(case.floats) > 1:
        name = draw(st.sampled_from(case.floats))
        args[name] = args[name].astype(np.float32)
    elif how == "degenerate":
        name = draw(st.sampled_from(arrays))
        shape = draw(degenerate_shapes)
        value = case.fill.get(name, 0 if name in case.ints else 0.5)
        args[name] = np.full(shape, value,
                             int if name in case.ints else float)
    elif how == "float16":
        name = None
        for k in case.floats:
            args[k] = args[k].astype(np.float16)
    else:
        how, name = "none", None
    return how, name


def as_tuple(result):
    return result if isinstance(result, tuple) else (result,)


def assert_matches(ours, theirs, dtype, tol):
    """Same shapes, ``dtype``, and values; non-finite exactly where torch's
    are (NaN or infinity: the formulas differ, e.g. inf - inf against
    inf * 0, but never a finite number where torch has none)."""
    ours, theirs = as_tuple(ours), as_tuple(theirs)
    assert len(ours) == len(theirs)
    for mine, ref in zip(ours, theirs):
        ref = ref.detach().numpy() if isinstance(ref, torch.Tensor) else \
            np.asarray(ref)
        mine = np.asarray(mine)
        assert mine.shape == ref.shape, (mine.shape, ref.shape)
        assert mine.dtype == dtype, (mine.dtype, dtype)
        finite = np.isfinite(ref)
        np.testing.assert_array_equal(np.isfinite(mine), finite)
        scale = max(1.0, np.abs(ref[finite]).max(initial=0))
        np.testing.assert_allclose(
            mine[finite].astype(np.float64), ref[finite].astype(np.float64),
            rtol=tol * RTOL[dtype], atol=tol * RTOL[dtype] * scale)


@pytest.mark.parametrize("name", CASES)
@SETTINGS
@given(data=st.data())
def test_bad_arrays_give_the_right_result_or_a_named_error(name, data):
    case = CASES[name]
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    args = case.make(rng)
    how, spoiled = spoil(data.draw, case, args)
    try:
        with np.errstate(all="ignore"):  # NaN in, NaN out: NumPy may warn
            result = case.call(**args)
    except (ValueError, TypeError) as error:
        assert how != "none", f"valid input rejected: {error}"
        expected = [spoiled] if spoiled else list(args)
        if how == "degenerate":  # a shape is judged against the others'
            expected = list(args)
        assert any(named(error, n) for n in expected), (
            f"{how} {spoiled}: {type(error).__name__} names none of "
            f"{expected}: {error}")
        if how == "nonfinite" and case.nonfinite == "reject":
            assert isinstance(error, ValueError) and "finite" in str(error)
        if how in ("wrong_kind", "mixed"):
            assert isinstance(error, TypeError), error
        return
    assert how not in ("wrong_kind", "mixed") or spoiled is None, (
        f"{how} {spoiled} accepted")
    assert not (how == "nonfinite" and case.nonfinite == "reject"), (
        f"non-finite {spoiled} accepted: {result}")
    dtype = np.dtype(np.float16 if how == "float16" else np.float64)
    # PyTorch's answer, computed in float32 for float16 input
    reference = {k: v.astype(np.float32) if np.asarray(v).dtype ==
                 np.float16 else v for k, v in args.items()}
    with np.errstate(all="ignore"):
        expected = case.ref(reference, result)
    assert_matches(result, expected, dtype, case.tol)


# ---------------------------------------------------- hyperparameters

def _ce_call(**kwargs):
    return L.cross_entropy(np.zeros((2, 3)), [0, 1], **kwargs)


X = np.ones((4, 3))
C3 = np.ones(3)
RNG = np.random.default_rng(0)
HYPER = {  # name: (call with the hyperparameter, names it may be given)
    "reduction": (lambda v: _ce_call(reduction=v), ("reduction",)),
    "mse reduction": (lambda v: L.mse_grad([1.0], [0.0], v),
                      ("reduction",)),
    "focal gamma": (lambda v: L.focal_loss(np.zeros((2, 3)), [0, 1], v),
                    ("gamma",)),
    "activation name": (lambda v: layers.activation_forward(C3, v),
                        ("name", "activation")),
    "batchnorm eps": (lambda v: layers.batchnorm_forward(X, C3, C3, eps=v),
                      ("eps",)),
    "batchnorm_eval eps": (lambda v: layers.batchnorm_eval(
        X, C3, C3, C3, C3, eps=v), ("eps",)),
    "momentum": (lambda v: layers.batchnorm_running_stats(
        X, C3, C3, momentum=v), ("momentum",)),
    "dropout p": (lambda v: layers.dropout_forward(X, v, rng=RNG), ("p",)),
    "dropout rng": (lambda v: layers.dropout_forward(X, 0.5, rng=v),
                    ("rng",)),
    "dropout training": (lambda v: layers.dropout_forward(
        X, 0.5, rng=RNG, training=v), ("training",)),
    "imbalanced n_majority": (lambda v: L.imbalanced_data(n_majority=v),
                              ("n_majority",)),
    "imbalanced ratio": (lambda v: L.imbalanced_data(ratio=v), ("ratio",)),
    "imbalanced seed": (lambda v: L.imbalanced_data(seed=v), ("seed",)),
    "classifier weight": (lambda v: L.train_linear_classifier(v, 0.0),
                          ("weight",)),
    "classifier gamma": (lambda v: L.train_linear_classifier(1.0, v),
                         ("gamma",)),
    "classifier steps": (lambda v: L.train_linear_classifier(
        1.0, 0.0, steps=v), ("steps",)),
    "classifier lr": (lambda v: L.train_linear_classifier(1.0, 0.0, lr=v),
                      ("lr",)),
    "classifier seed": (lambda v: L.train_linear_classifier(
        1.0, 0.0, seed=v), ("seed",)),
    "gain nonlinearity": (lambda v: init.calculate_gain(v),
                          ("nonlinearity",)),
    "gain param": (lambda v: init.calculate_gain("leaky_relu", v),
                   ("param",)),
    **{f"{fn.__name__} {arg}": (
        lambda v, fn=fn, arg=arg: fn(**(dict(fan_in=3, fan_out=2, rng=RNG)
                                      | {arg: v})), (arg,))
       for fn in (init.xavier_uniform, init.xavier_normal,
                  init.kaiming_uniform, init.kaiming_normal,
                  init.torch_default_linear)
       for arg in ("fan_in", "fan_out", "rng", "dtype")},
    **{f"{fn.__name__} gain": (lambda v, fn=fn: fn(3, 2, rng=RNG, gain=v),
                               ("gain",))
       for fn in (init.xavier_uniform, init.xavier_normal)},
    **{f"{fn.__name__} {arg}": (
        lambda v, fn=fn, arg=arg: fn(3, 2, rng=RNG, **{arg: v}), (arg,))
       for fn in (init.kaiming_uniform, init.kaiming_normal)
       for arg in ("a", "nonlinearity", "mode")},
}
# invalid for every hyperparameter above (negative numbers included);
# None is valid only for calculate_gain's param, True only for training
BAD = st.one_of(
    st.sampled_from(NONFINITE + ["a", [1.0], 1j, np.array([1.0, 2.0]),
                                 np.float64(np.nan), -1]),
    st.floats(max_value=-1e-9, allow_nan=False),
    st.integers(max_value=-1))


@pytest.mark.parametrize("name", HYPER)
@settings(max_examples=15, deadline=None)
@given(value=st.one_of(BAD, st.sampled_from([None, True])))
def test_bad_hyperparameters_are_named_errors(name, value):
    call, names = HYPER[name]
    if (value is None and name == "gain param") or (
            value is True and name == "dropout training"):
        return  # the valid defaults
    with pytest.raises((ValueError, TypeError)) as info:
        call(value)
    assert any(named(info.value, n) for n in names), str(info.value)


def test_every_public_function_is_covered():
    """A new public function must join the tables above."""
    covered = {n.split("[")[0] for n in CASES} | {
        "imbalanced_data", "train_linear_classifier", "calculate_gain",
        "xavier_uniform", "xavier_normal", "kaiming_uniform",
        "kaiming_normal", "torch_default_linear"}
    public = {n for module in (layers, L, init) for n in module.__all__
              if callable(getattr(module, n))
              and not isinstance(getattr(module, n), type)}
    assert public <= covered, sorted(public - covered)
