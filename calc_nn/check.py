r"""Implement it and check: test your own function against calc_nn's.

Each checker takes *your* function, calls it on many inputs (random ones,
float32 and float64, and the edge cases where a first attempt usually goes
wrong: huge inputs, the kink of ReLU, ties, an empty array, ...) and compares
what it returns with the reference implementation in :mod:`calc_nn`::

    >>> import numpy as np
    >>> from calc_nn import check
    >>> def my_tanh_grad(x):
    ...     return 1 - np.tanh(x) ** 2
    >>> result = check.tanh_grad(my_tanh_grad)
    >>> bool(result)
    True

The result prints a report. When something is wrong it names the input,
what was expected and what came back, the largest error and where it is, a
shape or dtype mismatch, a warning (``overflow encountered in exp``), a
modified input, the exception your function raised and on which line, or a
function that did not return in time.

Every checker takes the same options: ``rtol`` and ``atol`` (a value
passes when ``|got - expected| <= atol + rtol * |expected|``; defaults
depend on the dtype), ``allow_warnings`` (default ``False``: a NumPy
warning such as an overflow counts as a failure, since the reference
functions never warn) and ``time_limit`` (default 5 seconds per input; a
function still running then is stopped and reported, and the remaining
inputs are skipped).

Checkers and the signature your function must have (a layer's backward
pass takes the cache that the package's forward pass returns):

============================  ==============================================
checker                       your function
============================  ==============================================
:func:`sigmoid_grad`          ``f(x) -> ndarray`` (shape and dtype of ``x``)
:func:`tanh_grad`             ``f(x) -> ndarray``
:func:`relu_grad`             ``f(x) -> ndarray`` (``relu'(0) = 0``)
:func:`softmax`               ``f(z) -> ndarray``, over the last axis
:func:`log_softmax`           ``f(z) -> ndarray``, over the last axis
:func:`cross_entropy_grad`    ``f(logits, target) -> ndarray``, mean over N
:func:`momentum_step`         ``f(theta, grad, state, *, lr, momentum)``
:func:`adam_step`             ``f(theta, grad, state, *, lr, betas, eps)``
:func:`linear_backward`       ``f(dout, cache) -> (dx, dW, db)``
:func:`conv2d_output_size`    ``f(size, kernel, stride, padding) -> int``
:func:`maxpool2d_backward`    ``f(dout, cache) -> dx``
:func:`batchnorm_backward`    ``f(dout, cache) -> (dx, dgamma, dbeta)``
:func:`dropout_backward`      ``f(dout, cache) -> dx``
============================  ==============================================

**The time limit.** Python cannot kill a thread, and your function may be
a closure that cannot be sent to another process. So in the main thread
(a notebook's kernel, a script) on Unix, a timer signal (``SIGALRM``)
interrupts your function after ``time_limit`` seconds: it stops any
Python loop; code stuck inside one long C call stops when that call
returns. Elsewhere (Windows, another thread) your function runs in a
helper thread and is stopped by an exception raised in that thread
(CPython's ``PyThreadState_SetAsyncExc``), which also stops Python loops;
a C call that never returns is left running in the background, and the
check reports the time-out all the same.
"""

from __future__ import annotations

import copy
import ctypes
import dataclasses
import linecache
import numbers
import re
import signal
import threading
import time
import traceback
import warnings
from typing import Callable

import numpy as np

from calc_nn import activations, conv, layers, losses, optim
from calc_nn._validation import check_choice, check_real

__all__ = [
    "CheckResult", "Failure",
    "sigmoid_grad", "tanh_grad", "relu_grad", "softmax", "log_softmax",
    "cross_entropy_grad", "momentum_step", "adam_step", "linear_backward",
    "conv2d_output_size", "maxpool2d_backward", "batchnorm_backward",
    "dropout_backward", "available",
]

# default tolerances per dtype: |got - expected| <= atol + rtol * |expected|
_TOL = {np.dtype(np.float64): (1e-6, 1e-10),
        np.dtype(np.float32): (1e-4, 1e-6),
        np.dtype(np.float16): (1e-2, 1e-3)}
_MAX_SHOWN = 5          # failures printed in detail
_SEED = 20260101        # inputs are the same on every run
_TIME_LIMIT = 5.0       # seconds per input


# ------------------------------------------------------------------ results

@dataclasses.dataclass(frozen=True)
class Failure:
    """One failing case.

    Attributes
    ----------
    case : str
        The input, named (``"x = [-1000, 0, 1000] (float64): extremes"``).
    problem : str
        What is wrong, with expected and got values.
    max_error : float or None
        Largest absolute error when both outputs are arrays of one shape.
    """

    case: str
    problem: str
    max_error: float | None = None

    def __str__(self) -> str:
        return f"input: {self.case}\n" + _indent(self.problem)


class CheckResult:
    """What a checker found: truthy only if every case passed.

    Attributes
    ----------
    name : str
        The function checked (``"sigmoid_grad"``).
    n_cases : int
        Number of inputs.
    failures : list of Failure
    max_error : float
        Largest absolute error over every compared array (0.0 if none).
    """

    def __init__(self, name: str, n_cases: int, failures: list[Failure],
                 max_error: float, signature: str):
        self.name = name
        self.n_cases = n_cases
        self.failures = list(failures)
        self.max_error = float(max_error)
        self.signature = signature

    @property
    def passed(self) -> bool:
        return not self.failures

    def __bool__(self) -> bool:
        return self.passed

    @property
    def failed_inputs(self) -> list[str]:
        """The names of the failing inputs, in order."""
        return [f.case for f in self.failures]

    def report(self) -> str:
        """A readable report (also what ``print(result)`` shows)."""
        if self.passed:
            return (f"check.{self.name}: PASSED, {self.n_cases} inputs "
                    f"(largest absolute error {self.max_error:.3g}).")
        lines = [f"check.{self.name}: FAILED on {len(self.failures)} of "
                 f"{self.n_cases} inputs. Expected signature: "
                 f"{self.signature}", ""]
        for i, failure in enumerate(self.failures[:_MAX_SHOWN], 1):
            lines.append(f"{i}. " + str(failure).replace("\n", "\n   "))
            lines.append("")
        more = len(self.failures) - _MAX_SHOWN
        if more > 0:
            lines.append(f"... and {more} more failing input(s): "
                         + "; ".join(f.case for f in
                                     self.failures[_MAX_SHOWN:]))
        return "\n".join(lines).rstrip()

    __str__ = report

    def __repr__(self) -> str:
        return self.report()


# ------------------------------------------------------------------- cases

@dataclasses.dataclass(frozen=True)
class _Raises:
    """A case where the function must raise: an exception of ``kind``
    whose message mentions one of ``names`` (the argument at fault)."""

    kind: type
    names: tuple[str, ...]

    def matches(self, exc: BaseException) -> bool:
        return isinstance(exc, self.kind) and any(
            name in str(exc) for name in self.names)

    def __str__(self) -> str:
        return (f"{self.kind.__name__} whose message mentions "
                + " or ".join(repr(n) for n in self.names))


@dataclasses.dataclass
class _Case:
    label: str
    args: tuple
    # for elementwise functions: the input whose entry is shown beside the
    # worst error ("at index (3,), where x = 0.0")
    pointwise: np.ndarray | None = None
    note: str = ""
    raises: _Raises | None = None


def _fmt(value) -> str:
    if isinstance(value, np.ndarray):
        body = np.array2string(value, precision=6, threshold=12,
                               edgeitems=3, separator=", ")
        body = " ".join(body.split())
        return f"{body} (shape {value.shape}, {value.dtype})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_fmt(v)}"
                               for k, v in value.items()) + "}"
    if isinstance(value, (tuple, list)):
        inner = ", ".join(_fmt(v) for v in value)
        return f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    return repr(value)


def _indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _label(name: str, value, note: str = "") -> str:
    text = f"{name} = {_fmt(value)}"
    return f"{text}: {note}" if note else text


def _elementwise_cases(kink: bool = False) -> list[_Case]:
    rng = np.random.default_rng(_SEED)
    arrays = [
        (np.linspace(-6.0, 6.0, 13), "a grid over [-6, 6], float64"),
        (rng.normal(0, 3, size=(3, 4)), "random, shape (3, 4)"),
        (rng.normal(0, 2, size=(2, 3, 4)).astype(np.float32),
         "random float32, shape (2, 3, 4): the dtype must stay float32"),
        (np.array([-1000.0, -40.0, 40.0, 1000.0]),
         "extremes: exp must not overflow"),
        (np.array([-1e4, 1e4], dtype=np.float32), "float32 extremes"),
        (np.array(0.7), "a 0-d array"),
        (np.zeros(0), "an empty array"),
        (np.array([-1e-12, 1e-12, 1e-300]), "tiny values"),
    ]
    if kink:
        arrays.insert(0, (np.array([-2.0, -0.5, 0.0, 0.5, 2.0]),
                          "contains 0, the kink: relu'(0) = 0 as in "
                          "PyTorch"))
    return [_Case(_label("x", a, note), (a,), pointwise=a)
            for a, note in arrays]


def _relu_cases() -> list[_Case]:
    return _elementwise_cases(kink=True)


def _softmax_cases() -> list[_Case]:
    rng = np.random.default_rng(_SEED + 1)
    arrays = [
        (np.array([1.0, 2.0, 3.0]), "one vector of 3 logits"),
        (rng.normal(size=(4, 5)), "a batch (4, 5): softmax over the last "
         "axis, each row separately"),
        (rng.normal(size=(2, 3, 4)).astype(np.float32),
         "float32, shape (2, 3, 4)"),
        (np.array([1000.0, 0.0, -1000.0]),
         "huge logits: subtract the maximum before exp"),
        (np.array([[-1000.0, -1001.0], [5.0, 5.0]]),
         "very negative logits, and a tie"),
        (np.array([3.0]), "a single class"),
        (np.full((2, 4), 7.0), "equal logits: uniform"),
    ]
    return [_Case(_label("z", a, note), (a,)) for a, note in arrays]


def _cross_entropy_cases() -> list[_Case]:
    rng = np.random.default_rng(_SEED + 2)
    raw = [
        (rng.normal(size=(4, 3)), np.array([0, 2, 1, 2]), "N=4, C=3"),
        (rng.normal(size=(1, 5)), np.array([4]), "a single sample, N=1"),
        (rng.normal(size=(6, 2)).astype(np.float32),
         np.array([0, 1, 1, 0, 1, 0]), "float32 logits, N=6, C=2"),
        (np.array([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0]]),
         np.array([1, 2]), "huge logits: a stable softmax is needed"),
        (np.array([[50.0, 0.0], [0.0, 50.0]]), np.array([0, 1]),
         "confident and right: the gradient is almost 0"),
        (rng.normal(0, 3, size=(8, 10)), rng.integers(0, 10, size=8),
         "N=8, C=10"),
    ]
    return [_Case(f"logits = {_fmt(z)}, target = {_fmt(t)}: {note}", (z, t))
            for z, t, note in raw]


def _step_cases(hyper: dict, keys: tuple, seed: int) -> list[_Case]:
    """Five consecutive steps from ``state=None`` for three start points;
    ``args`` = (theta0, gradients, hyperparameters, state keys
    compared)."""
    rng = np.random.default_rng(seed)
    cases = []
    for theta0, note in [
            (np.array([1.0, -2.0, 0.5]), "theta of shape (3,)"),
            (rng.normal(size=(2, 3)), "theta of shape (2, 3)"),
            (np.array([0.25, -1.0], dtype=np.float32), "float32 theta")]:
        grads = rng.normal(size=(5, *theta0.shape)).astype(theta0.dtype)
        label = (f"5 steps from theta = {_fmt(theta0)}, state=None, "
                 f"{', '.join(f'{k}={v}' for k, v in hyper.items())}: "
                 f"{note}; gradients {_fmt(grads)}")
        cases.append(_Case(label, (theta0, grads, hyper, keys)))
    return cases


def _momentum_cases() -> list[_Case]:
    return _step_cases({"lr": 0.1, "momentum": 0.9}, ("buf",), _SEED + 3)


def _adam_cases() -> list[_Case]:
    return _step_cases({"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8},
                       ("exp_avg", "exp_avg_sq", "step"), _SEED + 3)


def _linear_cases() -> list[_Case]:
    rng = np.random.default_rng(_SEED + 4)
    cases = []
    for n, n_in, n_out, dtype, note in [
            (4, 3, 2, np.float64, "a batch N=4, in=3, out=2"),
            (1, 5, 5, np.float64, "N=1, a square W (5, 5)"),
            (6, 2, 7, np.float32, "float32, N=6, in=2, out=7"),
            (None, 3, 4, np.float64,
             "one sample: x of shape (3,), dout of shape (4,)")]:
        shape = (n_in,) if n is None else (n, n_in)
        x = rng.normal(size=shape).astype(dtype)
        W = rng.normal(size=(n_out, n_in)).astype(dtype)
        b = rng.normal(size=n_out).astype(dtype)
        _, cache = layers.linear_forward(x, W, b)
        dout = rng.normal(size=shape[:-1] + (n_out,)).astype(dtype)
        label = (f"dout = {_fmt(dout)}, cache of linear_forward(x, W, b) "
                 f"with x = {_fmt(x)}, W = {_fmt(W)}: {note}")
        cases.append(_Case(label, (dout, cache)))
    return cases


def _output_size_cases() -> list[_Case]:
    cases = []
    for h, k, s, p, note in [
            (28, 5, 1, 0, "LeNet's first layer"),
            (32, 3, 1, 1, "'same' padding"),
            (7, 3, 2, 0, "stride 2 fits exactly"),
            (8, 3, 2, 0, "stride 2 does not fit: floor"),
            (224, 7, 2, 3, "ResNet's first layer"),
            (5, 5, 1, 0, "kernel as large as the input"),
            (1, 3, 1, 1, "padding makes room"),
            (10, 1, 3, 0, "1x1 kernel, stride 3"),
            (3, 5, 1, 0, "kernel larger than the input: ValueError"),
            (4, 2, 2, 0, "pooling 2x2"),
    ]:
        raises = _Raises(ValueError, ("kernel",)) if k > h + 2 * p else None
        cases.append(_Case(f"size={h}, kernel={k}, stride={s}, "
                           f"padding={p}: {note}", (h, k, s, p),
                           raises=raises))
    return cases


def _maxpool_cases() -> list[_Case]:
    rng = np.random.default_rng(_SEED + 5)
    cases = []
    for shape, k, s, dtype, note in [
            ((1, 1, 4, 4), 2, 2, np.float64, "2x2 windows side by side"),
            ((2, 3, 6, 6), 2, 2, np.float64, "N=2, C=3"),
            ((1, 1, 5, 5), 3, 1, np.float64,
             "overlapping windows (stride 1): gradients add up"),
            ((1, 2, 5, 5), 2, 2, np.float32,
             "float32; H=5 is not a multiple of 2: the last row and "
             "column get no gradient"),
            ("ties", 2, 2, np.float64,
             "ties: the first maximum in row-major order gets it all"),
    ]:
        if shape == "ties":
            x = np.array([[[[1.0, 1.0, 0.0, 2.0],
                            [1.0, 1.0, 2.0, 2.0]]]])
        else:
            x = rng.permutation(np.arange(int(np.prod(shape)))).reshape(
                shape).astype(dtype) / 10
        out, cache = conv.maxpool2d_forward_naive(x, k, s)
        dout = rng.normal(size=out.shape).astype(dtype)
        label = (f"dout = {_fmt(dout)}, cache of maxpool2d_forward_naive(x, "
                 f"kernel_size={k}, stride={s}) with x = {_fmt(x)}: {note}")
        cases.append(_Case(label, (dout, cache)))
    return cases


def _batchnorm_cases() -> list[_Case]:
    rng = np.random.default_rng(_SEED + 6)
    cases = []
    for x, note in [
            (rng.normal(2.0, 3.0, size=(4, 3)), "a batch (N, D) = (4, 3)"),
            (rng.normal(size=(8, 5)).astype(np.float32),
             "float32, (N, D) = (8, 5)"),
            (rng.normal(size=(2, 3, 4, 4)),
             "an image batch (N, C, H, W) = (2, 3, 4, 4): statistics per "
             "channel over N, H and W (the axes are in cache.axes)"),
            (rng.normal(size=(6, 1)), "one feature, D = 1"),
            (np.array([[5.0, 1.0], [5.0, -1.0], [5.0, 3.0]]),
             "a constant first column: its variance 0 is below eps"),
            (rng.normal(0.0, 1e3, size=(5, 2)), "values of size 1e3")]:
        gamma = rng.uniform(0.5, 2.0, x.shape[1]).astype(x.dtype)
        beta = rng.normal(size=x.shape[1]).astype(x.dtype)
        _, cache = layers.batchnorm_forward(x, gamma, beta)
        dout = rng.normal(size=x.shape).astype(x.dtype)
        label = (f"dout = {_fmt(dout)}, cache of batchnorm_forward(x, "
                 f"gamma, beta) with x = {_fmt(x)}, gamma = {_fmt(gamma)}: "
                 f"{note}")
        cases.append(_Case(label, (dout, cache)))
    return cases


def _dropout_cases() -> list[_Case]:
    rng = np.random.default_rng(_SEED + 7)
    cases = []
    for shape, p, dtype, training, note in [
            ((4, 5), 0.5, np.float64, True, "p = 0.5: kept entries scaled "
             "by 2"),
            ((3, 6), 0.2, np.float32, True, "float32, p = 0.2"),
            ((2, 3, 4), 0.9, np.float64, True, "p = 0.9: kept entries "
             "scaled by 10"),
            ((4, 5), 0.5, np.float64, False, "evaluation mode "
             "(training=False): dropout is the identity"),
            ((5,), 0.0, np.float64, True, "p = 0: the identity")]:
        x = rng.normal(size=shape).astype(dtype)
        _, cache = layers.dropout_forward(x, p, rng=rng, training=training)
        dout = rng.normal(size=shape).astype(dtype)
        label = (f"dout = {_fmt(dout)}, cache of dropout_forward(x, p={p}, "
                 f"training={training}), mask {_fmt(cache.mask)}: {note}")
        cases.append(_Case(label, (dout, cache)))
    return cases


# -------------------------------------------------------------- the table

def _call(fn, case: _Case):
    return fn(*case.args)


def _consecutive_steps(fn, case: _Case):
    """Run the step ``fn`` from ``state=None`` over the case's gradients;
    every step's ``(theta, state)``, so that a mismatch names the first
    step that differs. Only the state's keys of the case are kept (the
    reference's state may hold more)."""
    theta, grads, hyper, keys = case.args
    state, out = None, []
    for t, grad in enumerate(grads, 1):
        try:
            result = fn(theta, grad.copy(), state, **hyper)
            if not (isinstance(result, tuple) and len(result) == 2):
                raise TypeError(f"a step must return (theta, state), got "
                                f"{type(result).__name__}")
        except Exception as exc:
            exc.add_note(f"at step {t} of {len(grads)}")
            raise
        theta, state = result
        snapshot = copy.deepcopy(state)
        if isinstance(state, dict) and set(keys) <= set(state):
            snapshot = {k: snapshot[k] for k in keys}
        out.append((copy.deepcopy(theta), snapshot))
    return out


@dataclasses.dataclass(frozen=True)
class _Spec:
    """One checker: the reference, its inputs and what its docstring
    says."""

    reference: Callable          # same signature as the student's function
    cases: Callable[[], list]    # builds the inputs
    signature: str
    summary: str
    math: str
    chapters: str | tuple[str, ...]  # the pages that use it, in book order
    output: str = "output"
    call: Callable = _call       # how one input is run


_SPECS = {
    "sigmoid_grad": _Spec(
        activations.sigmoid_grad, _elementwise_cases,
        "f(x) -> ndarray like x",
        "the derivative of the sigmoid", r"\sigma'(x) = \sigma(x)\,(1 - "
        r"\sigma(x))", "activations"),
    "tanh_grad": _Spec(
        activations.tanh_grad, _elementwise_cases, "f(x) -> ndarray like x",
        "the derivative of tanh", r"\tanh'(x) = 1 - \tanh^2(x)",
        ("activations", "outlook")),
    "relu_grad": _Spec(
        activations.relu_grad, _relu_cases,
        "f(x) -> ndarray like x (float, relu'(0) = 0)",
        "the derivative of ReLU, a float array of the input's dtype (not "
        "booleans)", r"\operatorname{relu}'(x) = [x > 0], \quad "
        r"\operatorname{relu}'(0) = 0 \text{ (PyTorch's choice)}",
        "activations"),
    "softmax": _Spec(
        activations.softmax, _softmax_cases,
        "f(z) -> ndarray like z, softmax over the last axis",
        "softmax over the last axis",
        r"\operatorname{softmax}(z)_i = \frac{e^{z_i}}{\sum_j e^{z_j}}",
        ("forward", "activations")),
    "log_softmax": _Spec(
        activations.log_softmax, _softmax_cases,
        "f(z) -> ndarray like z, over the last axis",
        "log-softmax over the last axis",
        r"\log\operatorname{softmax}(z)_i = z_i - \log\sum_j e^{z_j}",
        ("activations", "digits")),
    "cross_entropy_grad": _Spec(
        losses.cross_entropy_grad, _cross_entropy_cases,
        "f(logits (N, C), target (N,) ints) -> ndarray (N, C), the "
        "gradient of the MEAN loss",
        "the gradient of the mean cross-entropy with respect to the logits",
        r"\frac{\partial L}{\partial z_{nc}} = \frac{\operatorname{softmax}"
        r"(z_n)_c - [c = t_n]}{N}", "losses"),
    "momentum_step": _Spec(
        optim.momentum_step, _momentum_cases,
        "f(theta, grad, state, *, lr, momentum) -> (theta, {'buf': b, "
        "...})",
        "one step of SGD with momentum (PyTorch's convention), over five "
        "consecutive steps; ``state`` is None on the first step, then the "
        "dict your previous step returned, which must hold the velocity "
        "under ``\"buf\"``",
        r"b_t = \mu\, b_{t-1} + g_t,\ b_1 = g_1, \quad \theta_t = "
        r"\theta_{t-1} - \eta\, b_t", "optimizers", "step",
        _consecutive_steps),
    "adam_step": _Spec(
        optim.adam_step, _adam_cases,
        "f(theta, grad, state, *, lr, betas, eps) -> (theta, {'exp_avg': m,"
        " 'exp_avg_sq': v, 'step': t})",
        "one step of Adam, over five consecutive steps; ``state`` is None "
        "on the first step (:math:`m_0 = v_0 = 0`), then your previous "
        "dict, with ``\"exp_avg\"`` (:math:`m_t`), ``\"exp_avg_sq\"`` "
        "(:math:`v_t`) and ``\"step\"`` (:math:`t`)",
        r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\; v_t = \beta_2 v_{t-1}"
        r" + (1-\beta_2) g_t^2,\; \theta_t = \theta_{t-1} - \eta\, "
        r"\frac{m_t/(1-\beta_1^t)}{\sqrt{v_t/(1-\beta_2^t)} + \epsilon}",
        "optimizers", "step", _consecutive_steps),
    "linear_backward": _Spec(
        layers.linear_backward, _linear_cases,
        "f(dout, cache) -> (dx, dW, db), cache from "
        "layers.linear_forward(x, W, b)",
        "the backward pass of the affine layer, with the cache that "
        ":func:`calc_nn.layers.linear_forward` returns (it holds ``x`` and "
        "``W``); also called with a single sample, ``x`` of shape (in,)",
        r"\frac{\partial L}{\partial x} = \delta W, \quad \frac{\partial L}"
        r"{\partial W} = \delta^\top x, \quad \frac{\partial L}{\partial b}"
        r" = \textstyle\sum_n \delta_n", ("calculus", "backprop"),
        "(dx, dW, db)"),
    "conv2d_output_size": _Spec(
        conv.conv2d_output_size, _output_size_cases,
        "f(size, kernel, stride, padding) -> int",
        "the output length of a convolution along one axis; a kernel "
        "larger than the padded input must raise ValueError (its message "
        "mentioning the kernel)",
        r"\left\lfloor \frac{H + 2p - k}{s} \right\rfloor + 1", "cnn"),
    "maxpool2d_backward": _Spec(
        conv.maxpool2d_backward_naive, _maxpool_cases,
        "f(dout, cache) -> dx like x, cache from "
        "conv.maxpool2d_forward_naive(x, kernel_size, stride)",
        "the gradient of max pooling, with the cache that "
        ":func:`calc_nn.conv.maxpool2d_forward_naive` returns, a "
        "``MaxPool2dCache``: ``cache.x`` (the input), ``cache.kernel = "
        "(kH, kW)`` and ``cache.stride = (sH, sW)``, as CS231n's ``(x, "
        "pool_param)`` (its ``argmax`` holds the answer: a loop version "
        "finds each maximum in ``x``); each window's upstream "
        "gradient goes to the position of its maximum (the first one, in "
        "row-major order, on a tie, as in PyTorch); overlapping windows "
        "(stride < kernel size) add up",
        r"\frac{\partial L}{\partial X_{n,c,h,w}} = \sum_{i,j} "
        r"\frac{\partial L}{\partial Y_{n,c,i,j}}\,[(h, w) = "
        r"\operatorname{argmax} \text{ of window } (i, j)]", "cnn", "dx"),
    "batchnorm_backward": _Spec(
        layers.batchnorm_backward, _batchnorm_cases,
        "f(dout, cache) -> (dx, dgamma, dbeta), cache from "
        "layers.batchnorm_forward(x, gamma, beta)",
        "the backward pass of batch normalisation in training mode, with "
        "the cache that :func:`calc_nn.layers.batchnorm_forward` returns: "
        "``(x_hat, gamma, std, axes)``, ``std`` the square root of the "
        "biased batch variance plus ``eps`` (both shaped to broadcast "
        "against ``x``) and ``axes`` the axes of the statistics, ``(0,)`` "
        "for (N, D) and ``(0, 2, 3)`` for (N, C, H, W); ``dgamma`` and "
        "``dbeta`` have one entry per feature or channel",
        r"\frac{\partial L}{\partial x} = \frac{\gamma}{M s}\Bigl(M g - "
        r"\sum g - \hat x \sum g \hat x\Bigr), \quad \frac{\partial L}"
        r"{\partial \gamma} = \sum g \hat x, \quad \frac{\partial L}"
        r"{\partial \beta} = \sum g", "deep", "(dx, dgamma, dbeta)"),
    "dropout_backward": _Spec(
        layers.dropout_backward, _dropout_cases,
        "f(dout, cache) -> dx like dout, cache from "
        "layers.dropout_forward(x, p, rng=rng, training=...)",
        "the backward pass of inverted dropout, with the cache that "
        ":func:`calc_nn.layers.dropout_forward` returns: ``(mask,)``, the "
        "mask already scaled, 0 or :math:`1/(1 - p)` (all ones in "
        "evaluation mode)",
        r"\frac{\partial L}{\partial x} = \frac{\partial L}{\partial y} "
        r"\odot \frac{k}{1 - p}", "deep", "dx"),
}


def _docstring(spec: _Spec) -> str:
    return f"""Check your function ``fn``: {spec.summary}.

    .. math:: {spec.math}

    Parameters
    ----------
    fn : callable
        ``{spec.signature}``.
    rtol, atol : float >= 0, optional
        A value passes when ``|got - expected| <= atol + rtol *
        |expected|``; by default (1e-6, 1e-10) in float64, (1e-4, 1e-6) in
        float32.
    allow_warnings : bool
        Whether a NumPy warning (an overflow, ...) is allowed; by default
        it is a failure.
    time_limit : float > 0 or None
        Seconds each input may take (default 5); a function still running
        then is stopped and reported as failing. None: no limit.

    Returns
    -------
    CheckResult
        Truthy only if every input passed; printing it shows the report.

    Raises
    ------
    TypeError, ValueError
        If ``fn`` is not a function or an option is out of range.

    Used in: {_pages(spec.chapters)}
    """


def _pages(chapters: str | tuple[str, ...]) -> str:
    """``book/a.md, book/b.md`` for ``("a", "b")`` or ``"a"``."""
    names = (chapters,) if isinstance(chapters, str) else chapters
    return ", ".join(f"book/{name}.md" for name in names)


def _checker(name: str) -> Callable[..., CheckResult]:
    """The public checker ``name`` of the table :data:`_SPECS`."""
    spec = _SPECS[name]

    def checker(fn: Callable, *, rtol: float | None = None,
                atol: float | None = None, allow_warnings: bool = False,
                time_limit: float | None = _TIME_LIMIT) -> CheckResult:
        options = _check_options(name, fn, rtol, atol, allow_warnings,
                                 time_limit)
        return _run(name, fn, spec, options)

    checker.__name__ = checker.__qualname__ = name
    checker.__doc__ = _docstring(spec)
    return checker


sigmoid_grad = _checker("sigmoid_grad")
tanh_grad = _checker("tanh_grad")
relu_grad = _checker("relu_grad")
softmax = _checker("softmax")
log_softmax = _checker("log_softmax")
cross_entropy_grad = _checker("cross_entropy_grad")
momentum_step = _checker("momentum_step")
adam_step = _checker("adam_step")
linear_backward = _checker("linear_backward")
conv2d_output_size = _checker("conv2d_output_size")
maxpool2d_backward = _checker("maxpool2d_backward")
batchnorm_backward = _checker("batchnorm_backward")
dropout_backward = _checker("dropout_backward")


def available() -> list[str]:
    """Names of the functions that have a checker.

    Used in: README.md
    """
    return sorted(_SPECS)


# ------------------------------------------------------------------ runner

@dataclasses.dataclass(frozen=True)
class _Options:
    rtol: float | None
    atol: float | None
    allow_warnings: bool
    time_limit: float | None

    def tol(self, dtype) -> tuple[float, float]:
        """(rtol, atol) for arrays of ``dtype``: the given ones, else the
        dtype's defaults."""
        r, a = _TOL.get(np.dtype(dtype), _TOL[np.dtype(np.float64)])
        return (r if self.rtol is None else self.rtol,
                a if self.atol is None else self.atol)


@dataclasses.dataclass
class _Outcome:
    """What the student's function did on one input."""

    value: object = None
    error: BaseException | None = None
    warnings: list = dataclasses.field(default_factory=list)
    args: tuple = ()             # its copy of the arguments, after the call
    timed_out: bool = False


def _run(name: str, student: Callable, spec: _Spec,
         options: _Options) -> CheckResult:
    """Every input of ``spec``: the reference's answer, the student's, and
    what differs; stop after a time-out."""
    cases = spec.cases()
    failures: list[Failure] = []
    errors: list[float] = []
    for done, case in enumerate(cases, 1):
        expected = _expected(spec, case)
        outcome = _call_student(student, spec, case, options.time_limit)
        if outcome.timed_out:
            failures.append(_timed_out(case, options.time_limit,
                                       len(cases) - done))
            break
        failure = _judge(case, expected, outcome, spec, options, errors)
        if failure is not None:
            failures.append(failure)
    return CheckResult(name, len(cases), failures, max(errors, default=0.0),
                       spec.signature)


def _expected(spec: _Spec, case: _Case):
    """The reference's output for ``case``, or the exception it raises
    (which the case must declare)."""
    try:
        with np.errstate(all="ignore"):
            value = spec.call(spec.reference, copy.deepcopy(case))
    except (ValueError, TypeError) as exc:
        if case.raises is None or not case.raises.matches(exc):
            raise RuntimeError(f"calc_nn.check: the reference raised {exc!r}"
                               f" on {case.label}") from exc
        return exc
    if case.raises is not None:
        raise RuntimeError(f"calc_nn.check: the reference did not raise "
                           f"on {case.label}")
    return value


def _call_student(student, spec: _Spec, case: _Case,
                  time_limit) -> _Outcome:
    """Run the student's function on a copy of the input, recording its
    result or exception and its NumPy warnings, within the time limit."""
    mine = copy.deepcopy(case)
    outcome = _Outcome(args=mine.args)

    def call():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with np.errstate(over="warn", invalid="warn",
                                 divide="warn", under="ignore"):
                    outcome.value = spec.call(student, mine)
            except Exception as exc:  # noqa: BLE001 - reported to the user
                outcome.error = exc
            outcome.warnings = [w for w in caught
                                if issubclass(w.category, RuntimeWarning)]
    try:
        _call_with_time_limit(call, time_limit)
    except _TimedOut:
        outcome.timed_out = True
    return outcome


def _judge(case: _Case, expected, outcome: _Outcome, spec: _Spec,
           options: _Options, errors: list) -> Failure | None:
    """The failure of one input, or None if the student's function got it
    right (errors of compared arrays are appended to ``errors``)."""
    note = f"\n  ({case.note})" if case.note else ""
    if isinstance(expected, Exception):
        return _judge_raise(case, expected, outcome, note)
    if outcome.error is not None:
        return Failure(case.label, _raised(outcome.error)
                       + "\n  expected no exception" + note)
    if not _same(case.args, outcome.args):
        return Failure(case.label, (
            "your function modified its input in place (e.g. x[x < 0] = 0 "
            "or x *= ...); work on a copy" + note))
    try:
        _compare(expected, outcome.value, spec.output, case, options,
                 errors)
    except _Mismatch as mismatch:
        return Failure(case.label, _name_steps(str(mismatch)) + note,
                       mismatch.max_error)
    if outcome.warnings and not options.allow_warnings:
        w = outcome.warnings[0]
        return Failure(case.label, (
            f"right values, but your function warned "
            f"{w.category.__name__}: {w.message} (line {w.lineno}); the "
            f"reference never warns. Rewrite it so nothing overflows, or "
            f"pass allow_warnings=True" + note))
    return None


def _judge_raise(case: _Case, expected: Exception, outcome: _Outcome,
                 note: str) -> Failure | None:
    """An input on which the function must raise ``case.raises``: the
    student's exception must be of that kind and name the argument."""
    if outcome.error is None:
        return Failure(case.label, (
            f"expected {type(expected).__name__} ({expected}), but your "
            f"function returned {_fmt(outcome.value)}" + note))
    if case.raises.matches(outcome.error):
        return None
    return Failure(case.label, _raised(outcome.error) + (
        f"\n  expected {case.raises}, as the reference raises "
        f"{type(expected).__name__}: {expected}") + note)


def _raised(exc: BaseException) -> str:
    notes = "".join(f" ({n})" for n in getattr(exc, "__notes__", ()))
    return (f"your function raised {type(exc).__name__}: {exc}{notes}"
            f"{_where_raised(exc)}")


def _timed_out(case: _Case, time_limit: float, skipped: int) -> Failure:
    rest = (f"; the remaining {skipped} input(s) were not tried"
            if skipped else "")
    return Failure(case.label, (
        f"your function did not return within {time_limit:g} s "
        f"(time_limit={time_limit:g}) and was stopped: an endless loop, "
        f"such as a while loop whose condition never becomes false?"
        f"{rest}"))


def _where_raised(exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if f.filename != __file__]
    if not frames:
        return ""
    f = frames[-1]
    line = (f.line or linecache.getline(f.filename, f.lineno)).strip()
    place = f"line {f.lineno} of {f.name}"
    return f"\n  raised at {place}: {line}" if line else f"\n  at {place}"


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return (isinstance(b, np.ndarray) and a.shape == b.shape
                and a.dtype == b.dtype and np.array_equal(a, b,
                                                          equal_nan=True))
    if isinstance(a, (tuple, list)):
        return (type(a) is type(b) and len(a) == len(b)
                and all(_same(x, y) for x, y in zip(a, b)))
    if isinstance(a, dict):
        return (isinstance(b, dict) and a.keys() == b.keys()
                and all(_same(a[k], b[k]) for k in a))
    return True


def _name_steps(text: str) -> str:
    """``step[2][1]['buf']`` (a comparison's path) as ``step 3, state['buf']``
    (what a student reads)."""
    def repl(m):
        what = "theta" if m.group(2) == "0" else "state"
        return f"step {int(m.group(1)) + 1}, {what}"
    return re.sub(r"step\[(\d+)\]\[(\d)\]", repl, text)


# ------------------------------------------------------------- time limit

class _TimedOut(BaseException):  # noqa: N818
    """Raised inside a student's function that ran past its time limit (a
    BaseException, so that ``except Exception`` in it does not catch it)."""


def _call_with_time_limit(call: Callable, seconds: float | None):
    """``call()``, stopped by :class:`_TimedOut` after ``seconds``: with a
    timer signal in the main thread on Unix, else in a helper thread."""
    if seconds is None:
        return call()
    if (hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread()):
        return _with_alarm(call, seconds)
    return _in_thread(call, seconds)


def _with_alarm(call: Callable, seconds: float):
    """SIGALRM interrupts the main thread's Python code after ``seconds``;
    the previous handler and any pending timer are put back."""
    def on_alarm(signum, frame):
        raise _TimedOut

    previous = signal.signal(signal.SIGALRM, on_alarm)
    pending, interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    start = time.monotonic()
    try:
        return call()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if pending:  # another timer was running: re-arm what is left
            left = pending - (time.monotonic() - start)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-6), interval)


def _in_thread(call: Callable, seconds: float):
    """``call()`` in a daemon thread; after ``seconds`` an exception is
    raised in that thread (it stops Python code; a C call that never
    returns keeps running in the background)."""
    result: dict = {}

    def target():
        try:
            result["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - passed on below
            result["error"] = exc

    worker = threading.Thread(target=target, name="calc_nn.check",
                              daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(worker.ident), ctypes.py_object(_TimedOut))
        worker.join(1.0)
        raise _TimedOut
    if "error" in result:
        raise result["error"]
    return result.get("value")


# -------------------------------------------------------------- comparison

class _Mismatch(Exception):  # noqa: N818 (private, caught here)
    def __init__(self, message: str, max_error: float | None = None):
        super().__init__(message)
        self.max_error = max_error


def _compare(expected, got, where: str, case: _Case, options: _Options,
             errors: list):
    """Raise _Mismatch at the first difference; append array errors."""
    if isinstance(expected, dict):
        _compare_dicts(expected, got, where, case, options, errors)
    elif isinstance(expected, (tuple, list)):
        _compare_sequences(expected, got, where, case, options, errors)
    elif isinstance(expected, numbers.Integral) and not isinstance(
            expected, np.ndarray):
        _compare_ints(expected, got, where)
    else:
        _compare_arrays(np.asarray(expected), got, where, case, options,
                        errors)


def _compare_dicts(expected, got, where, case, options, errors):
    if not isinstance(got, dict):
        raise _Mismatch(f"{where}: expected a dict with keys "
                        f"{sorted(expected)}, got {type(got).__name__}")
    missing = sorted(set(expected) - set(got))
    if missing:
        raise _Mismatch(f"{where}: the dict lacks the key(s) {missing} (it "
                        f"has {sorted(got)})")
    for key in expected:
        _compare(expected[key], got[key], f"{where}[{key!r}]", case,
                 options, errors)


def _compare_sequences(expected, got, where, case, options, errors):
    if not isinstance(got, (tuple, list)):
        raise _Mismatch(f"{where}: expected a tuple of {len(expected)} "
                        f"values, got {type(got).__name__} {_fmt(got)}")
    if len(got) != len(expected):
        raise _Mismatch(f"{where}: expected {len(expected)} values, got "
                        f"{len(got)}")
    for i, (e, g) in enumerate(zip(expected, got)):
        _compare(e, g, f"{where}[{i}]", case, options, errors)


def _compare_ints(expected, got, where):
    if isinstance(got, bool) or not isinstance(got, numbers.Integral):
        hint = (" (use // for the floor division)"
                if isinstance(got, (float, np.floating)) else "")
        raise _Mismatch(f"{where}: expected the int {expected}, got "
                        f"{type(got).__name__} {got!r}{hint}")
    if int(got) != int(expected):
        raise _Mismatch(f"{where}: expected {expected}, got {int(got)}")


def _compare_arrays(expected: np.ndarray, got, where, case, options,
                    errors):
    """Shape, then dtype, then values within the tolerances."""
    got = _as_real_array(got, expected, where)
    rtol, atol = options.tol(expected.dtype)
    err, bad = _entry_errors(expected, got, rtol, atol)
    finite = err[np.isfinite(err)]
    if finite.size:
        errors.append(float(finite.max()))
    if bad.any():
        raise _Mismatch(_describe_values(expected, got, err, bad, where,
                                         case), float(err.max()))


def _as_real_array(got, expected: np.ndarray, where) -> np.ndarray:
    """``got`` as an array, after checking its kind, shape and dtype match
    ``expected`` (with a hint at the usual cause)."""
    if not isinstance(got, (np.ndarray, np.generic, numbers.Number)) \
            or isinstance(got, bool):
        raise _Mismatch(f"{where}: expected an ndarray of shape "
                        f"{expected.shape}, got {type(got).__name__} "
                        f"{_fmt(got)}")
    got = np.asarray(got)
    if got.shape != expected.shape:
        raise _Mismatch(f"{where}: wrong shape: expected {expected.shape}, "
                        f"got {got.shape}{_shape_hint(expected, got)}")
    if got.dtype.kind not in "fiub":
        raise _Mismatch(f"{where}: expected real numbers, got dtype "
                        f"{got.dtype}")
    if got.dtype != expected.dtype:
        raise _Mismatch(f"{where}: wrong dtype: expected {expected.dtype}, "
                        f"got {got.dtype}{_dtype_hint(expected, got)}")
    return got


def _shape_hint(expected, got) -> str:
    if got.ndim == expected.ndim == 2 and got.shape == expected.shape[::-1]:
        return " (transposed?)"
    if got.size == expected.size:
        return " (same number of entries: a reshape or a missing axis?)"
    if got.ndim < expected.ndim:
        return " (summed or reduced over an axis too many?)"
    return ""


def _dtype_hint(expected, got) -> str:
    if expected.dtype == np.float32 and got.dtype == np.float64:
        return (" (float32 in, float64 out: a float64 constant such as "
                "np.float64(1) or np.array(1.0) promotes the result; keep "
                "the input's dtype, e.g. x.dtype.type(1))")
    if got.dtype.kind in "iub":
        return " (integers or booleans: convert with .astype(x.dtype))"
    return ""


def _entry_errors(expected, got, rtol, atol):
    """Absolute error of every entry (0 where both are the same NaN or
    infinity, inf where only one is NaN) and which entries fail."""
    e = expected.astype(np.float64)
    g = got.astype(np.float64)
    same = (np.isnan(e) & np.isnan(g)) | (np.isinf(e) & (e == g))
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.where(same, 0.0, np.abs(g - e))
        err = np.where(np.isnan(err), np.inf, err)
        bad = ~(err <= atol + rtol * np.abs(np.where(np.isfinite(e), e, 0)))
    return err, bad


def _describe_values(expected, got, err, bad, where, case) -> str:
    """The report of wrong values: how many, the worst one and its input,
    and a guess at the cause (an overflow, a constant factor)."""
    worst = np.unravel_index(int(np.argmax(np.where(bad, err, -1))),
                             err.shape)
    at = f" at index {tuple(int(i) for i in worst)}" if expected.ndim else ""
    if case.pointwise is not None and case.pointwise.shape == err.shape:
        at += f", where the input is {_fmt(case.pointwise[worst])}"
    msg = [f"{where}: wrong values in {int(bad.sum())} of {bad.size} "
           f"entries; largest error {float(err.max()):.3g}{at}:",
           f"  expected {_fmt(expected[worst])}, got {_fmt(got[worst])}"]
    if not np.isfinite(got[worst]):
        msg.append("  (nan or inf: an overflow in exp? subtract the "
                   "maximum, or use exp(-|x|))")
    scale = _constant_factor(expected.astype(np.float64),
                             got.astype(np.float64))
    if scale is not None:
        msg.append(f"  every entry is {scale:.6g} times the expected one: "
                   "a missing or extra factor (a sign, 1/N, lr?)")
    if expected.size <= 12:
        msg.append(f"  expected: {_fmt(expected)}")
        msg.append(f"  got:      {_fmt(got)}")
    return "\n".join(msg)


def _constant_factor(e: np.ndarray, g: np.ndarray) -> float | None:
    mask = np.isfinite(e) & np.isfinite(g) & (np.abs(e) > 1e-12)
    if mask.sum() < 2 or not np.all(np.isfinite(g)):
        return None
    ratio = g[mask] / e[mask]
    c = float(np.median(ratio))
    if abs(c - 1) > 1e-3 and abs(c) > 1e-9 and np.allclose(
            ratio, c, rtol=1e-6) and np.allclose(g[~mask], 0, atol=1e-9):
        return c
    return None


# ----------------------------------------------------------------- checks

def _check_options(name, fn, rtol, atol, allow_warnings,
                   time_limit) -> _Options:
    if not callable(fn):
        raise TypeError(f"check.{name} takes your function, e.g. "
                        f"check.{name}(my_{name}); got "
                        f"{type(fn).__name__} {fn!r}")
    return _Options(
        None if rtol is None else check_real(rtol, "rtol", low=0),
        None if atol is None else check_real(atol, "atol", low=0),
        check_choice(allow_warnings, "allow_warnings", [False, True]),
        None if time_limit is None else check_real(
            time_limit, "time_limit", low=0, low_open=True))

