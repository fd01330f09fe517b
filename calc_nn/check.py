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
modified input, or the exception your function raised and on which line.
It is truthy only when every case passes, so ``assert check.relu_grad(f)``
works in a test.

Every checker accepts ``rtol`` and ``atol`` (a value passes when
``|got - expected| <= atol + rtol * |expected|``; defaults depend on the
dtype) and ``allow_warnings`` (default ``False``: a NumPy warning such as an
overflow counts as a failure, since the reference functions never warn).

Checkers and the signature your function must have:

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
:func:`maxpool2d_backward`    ``f(dout, x, kernel_size, stride) -> dx``
============================  ==============================================
"""

from __future__ import annotations

import copy
import dataclasses
import linecache
import numbers
import traceback
import warnings
from typing import Callable

import numpy as np

from calc_nn import activations, conv, layers, losses, optim

__all__ = [
    "CheckResult", "Failure",
    "sigmoid_grad", "tanh_grad", "relu_grad", "softmax", "log_softmax",
    "cross_entropy_grad", "momentum_step", "adam_step", "linear_backward",
    "conv2d_output_size", "maxpool2d_backward",
]

# default tolerances per dtype: |got - expected| <= atol + rtol * |expected|
_TOL = {np.dtype(np.float64): (1e-6, 1e-10),
        np.dtype(np.float32): (1e-4, 1e-6),
        np.dtype(np.float16): (1e-2, 1e-3)}
_MAX_SHOWN = 5          # failures printed in detail
_SEED = 20260101        # inputs are the same on every run


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
        Number of inputs tried.
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

@dataclasses.dataclass
class _Case:
    label: str
    args: tuple
    kwargs: dict = dataclasses.field(default_factory=dict)
    # for elementwise functions: the input whose entry is shown beside the
    # worst error ("at index (3,), where x = 0.0")
    pointwise: np.ndarray | None = None
    note: str = ""


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


# -------------------------------------------------------------- comparison

class _Mismatch(Exception):  # noqa: N818 (private, caught here)
    def __init__(self, message: str, max_error: float | None = None):
        super().__init__(message)
        self.max_error = max_error


def _is_array_like(value) -> bool:
    return isinstance(value, (np.ndarray, np.generic, numbers.Number)) \
        and not isinstance(value, bool)


def _compare(expected, got, where: str, case: _Case, tol, errors: list):
    """Raise _Mismatch at the first difference; append array errors."""
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            raise _Mismatch(f"{where}: expected a dict with keys "
                            f"{sorted(expected)}, got {type(got).__name__}")
        missing = sorted(set(expected) - set(got))
        if missing:
            raise _Mismatch(f"{where}: the dict lacks the key(s) {missing}"
                            f" (it has {sorted(got)})")
        for key in expected:
            _compare(expected[key], got[key], f"{where}[{key!r}]", case,
                     tol, errors)
        return
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)):
            raise _Mismatch(f"{where}: expected a tuple of {len(expected)} "
                            f"values, got {type(got).__name__} "
                            f"{_fmt(got)}")
        if len(got) != len(expected):
            raise _Mismatch(f"{where}: expected {len(expected)} values, got "
                            f"{len(got)}")
        for i, (e, g) in enumerate(zip(expected, got)):
            _compare(e, g, f"{where}[{i}]", case, tol, errors)
        return
    if isinstance(expected, numbers.Integral) and not isinstance(
            expected, np.ndarray):
        if isinstance(got, bool) or not isinstance(got, numbers.Integral):
            hint = (" (use // for the floor division)"
                    if isinstance(got, (float, np.floating)) else "")
            raise _Mismatch(f"{where}: expected the int {expected}, got "
                            f"{type(got).__name__} {got!r}{hint}")
        if int(got) != int(expected):
            raise _Mismatch(f"{where}: expected {expected}, got {int(got)}")
        return
    _compare_arrays(np.asarray(expected), got, where, case, tol, errors)


def _compare_arrays(expected: np.ndarray, got, where, case, tol, errors):
    if not _is_array_like(got):
        raise _Mismatch(f"{where}: expected an ndarray of shape "
                        f"{expected.shape}, got {type(got).__name__} "
                        f"{_fmt(got)}")
    got = np.asarray(got)
    if got.shape != expected.shape:
        hint = ""
        if got.ndim == expected.ndim == 2 and got.shape == expected.shape[
                ::-1]:
            hint = " (transposed?)"
        elif got.size == expected.size:
            hint = " (same number of entries: a reshape or a missing axis?)"
        elif got.ndim < expected.ndim:
            hint = " (summed or reduced over an axis too many?)"
        raise _Mismatch(f"{where}: wrong shape: expected {expected.shape}, "
                        f"got {got.shape}{hint}")
    if got.dtype.kind not in "fiub":
        raise _Mismatch(f"{where}: expected real numbers, got dtype "
                        f"{got.dtype}")
    if got.dtype != expected.dtype:
        hint = ""
        if expected.dtype == np.float32 and got.dtype == np.float64:
            hint = (" (float32 in, float64 out: a float64 constant such as "
                    "np.float64(1) or np.array(1.0) promotes the result; "
                    "keep the input's dtype, e.g. x.dtype.type(1))")
        elif got.dtype.kind in "iub":
            hint = " (integers or booleans: convert with .astype(x.dtype))"
        raise _Mismatch(f"{where}: wrong dtype: expected {expected.dtype}, "
                        f"got {got.dtype}{hint}")
    rtol, atol = tol(expected.dtype)
    e = expected.astype(np.float64)
    g = got.astype(np.float64)
    same_nan = np.isnan(e) & np.isnan(g)
    same_inf = np.isinf(e) & (e == g)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.where(same_nan | same_inf, 0.0, np.abs(g - e))
        err = np.where(np.isnan(err), np.inf, err)
        bad = err > atol + rtol * np.abs(np.where(np.isfinite(e), e, 0))
    finite = err[np.isfinite(err)]
    if finite.size:
        errors.append(float(finite.max()))
    if not bad.any():
        return
    max_error = float(err.max())
    worst = np.unravel_index(int(np.argmax(np.where(bad, err, -1))),
                             err.shape)
    idx = tuple(int(i) for i in worst)
    at = f" at index {idx}" if expected.ndim else ""
    if case.pointwise is not None and case.pointwise.shape == e.shape:
        at += f", where the input is {_fmt(case.pointwise[worst])}"
    msg = [f"{where}: wrong values in {int(bad.sum())} of {bad.size} "
           f"entries; largest error {max_error:.3g}{at}:",
           f"  expected {_fmt(expected[worst])}, got {_fmt(got[worst])}"]
    if np.isnan(g[worst]) or np.isinf(g[worst]):
        msg.append("  (nan or inf: an overflow in exp? subtract the "
                   "maximum, or use exp(-|x|))")
    scale = _constant_factor(e, g)
    if scale is not None:
        msg.append(f"  every entry is {scale:.6g} times the expected one: "
                   "a missing or extra factor (a sign, 1/N, lr?)")
    if expected.size <= 12:
        msg.append(f"  expected: {_fmt(expected)}")
        msg.append(f"  got:      {_fmt(got)}")
    raise _Mismatch("\n".join(msg), max_error)


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


# ------------------------------------------------------------------ runner

def _where_raised(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    mine = __file__
    frames = [f for f in frames if f.filename != mine]
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


def _default_call(fn, case: _Case):
    return fn(*case.args, **case.kwargs)


def _run(name: str, student: Callable, reference: Callable,
         cases: list[_Case], *, signature: str, rtol=None, atol=None,
         allow_warnings=False, call=_default_call,
         output="output") -> CheckResult:
    if not callable(student):
        raise TypeError(f"check.{name} takes your function, e.g. "
                        f"check.{name}(my_{name}); got "
                        f"{type(student).__name__} {student!r}")

    def tol(dtype):
        r, a = _TOL.get(np.dtype(dtype), _TOL[np.dtype(np.float64)])
        return (r if rtol is None else rtol, a if atol is None else atol)

    failures: list[Failure] = []
    errors: list[float] = []
    for case in cases:
        note = f"\n  ({case.note})" if case.note else ""
        try:
            with np.errstate(all="ignore"):
                expected = call(reference, copy.deepcopy(case))
            expected_exc = None
        except (ValueError, TypeError) as exc:
            expected, expected_exc = None, exc
        mine = copy.deepcopy(case)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with np.errstate(over="warn", invalid="warn",
                                 divide="warn", under="ignore"):
                    got = call(student, mine)
            except Exception as exc:  # noqa: BLE001 - reported to the user
                if expected_exc is not None and isinstance(
                        exc, type(expected_exc)):
                    continue
                want = ("the reference raises "
                        f"{type(expected_exc).__name__}: {expected_exc}"
                        if expected_exc is not None else "no exception")
                notes = "".join(f" ({n})" for n in getattr(
                    exc, "__notes__", ()))
                failures.append(Failure(case.label, (
                    f"your function raised {type(exc).__name__}: {exc}"
                    f"{notes}{_where_raised(exc)}\n  expected {want}"
                    + note)))
                continue
        if expected_exc is not None:
            failures.append(Failure(case.label, (
                f"expected {type(expected_exc).__name__} "
                f"({expected_exc}), but your function returned "
                f"{_fmt(got)}" + note)))
            continue
        if not _same(case.args, mine.args):
            failures.append(Failure(case.label, (
                "your function modified its input in place (e.g. x[x < 0]"
                " = 0 or x *= ...); work on a copy" + note)))
            continue
        try:
            _compare(expected, got, output, case, tol, errors)
        except _Mismatch as mismatch:
            failures.append(Failure(case.label, str(mismatch) + note,
                                    mismatch.max_error))
            continue
        numpy_warnings = [w for w in caught
                          if issubclass(w.category, RuntimeWarning)]
        if numpy_warnings and not allow_warnings:
            w = numpy_warnings[0]
            failures.append(Failure(case.label, (
                "right values, but your function warned "
                f"{w.category.__name__}: {w.message} (line {w.lineno}); "
                "the reference never warns. Rewrite it so nothing "
                "overflows, or pass allow_warnings=True" + note)))
    return CheckResult(name, len(cases), failures,
                       max(errors) if errors else 0.0, signature)


# --------------------------------------------------------------- inputs

def _elementwise_cases(kink: bool = False) -> list[_Case]:
    rng = np.random.default_rng(_SEED)
    arrays = [
        ("x", np.linspace(-6.0, 6.0, 13), "a grid over [-6, 6], float64"),
        ("x", rng.normal(0, 3, size=(3, 4)), "random, shape (3, 4)"),
        ("x", rng.normal(0, 2, size=(2, 3, 4)).astype(np.float32),
         "random float32, shape (2, 3, 4): the dtype must stay float32"),
        ("x", np.array([-1000.0, -40.0, 40.0, 1000.0]),
         "extremes: exp must not overflow"),
        ("x", np.array([-1e4, 1e4], dtype=np.float32),
         "float32 extremes"),
        ("x", np.array(0.7), "a 0-d array"),
        ("x", np.zeros(0), "an empty array"),
        ("x", np.array([-1e-12, 1e-12, 1e-300]), "tiny values"),
    ]
    if kink:
        arrays.insert(0, ("x", np.array([-2.0, -0.5, 0.0, 0.5, 2.0]),
                          "contains 0, the kink: relu'(0) = 0 as in "
                          "PyTorch"))
    return [_Case(_label(n, a, note), (a,), pointwise=a)
            for n, a, note in arrays]


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


# ----------------------------------------------------------- activations

def sigmoid_grad(fn: Callable, *, rtol=None, atol=None,
                 allow_warnings=False) -> CheckResult:
    r"""Check ``fn(x)``, the derivative of the sigmoid, against
    :func:`calc_nn.activations.sigmoid_grad`.

    .. math:: \sigma'(x) = \sigma(x)\,(1 - \sigma(x))

    Parameters
    ----------
    fn : callable, ``fn(x: ndarray of shape (...)) -> ndarray (...)``
        Same shape and dtype as ``x``.
    rtol, atol : float, optional
    allow_warnings : bool

    Returns
    -------
    CheckResult
    """
    return _run("sigmoid_grad", fn, activations.sigmoid_grad,
                _elementwise_cases(), signature="f(x) -> ndarray like x",
                rtol=rtol, atol=atol, allow_warnings=allow_warnings)


def tanh_grad(fn: Callable, *, rtol=None, atol=None,
              allow_warnings=False) -> CheckResult:
    r"""Check ``fn(x)`` against :func:`calc_nn.activations.tanh_grad`.

    .. math:: \tanh'(x) = 1 - \tanh^2(x)

    Parameters and return as :func:`sigmoid_grad`.
    """
    return _run("tanh_grad", fn, activations.tanh_grad,
                _elementwise_cases(), signature="f(x) -> ndarray like x",
                rtol=rtol, atol=atol, allow_warnings=allow_warnings)


def relu_grad(fn: Callable, *, rtol=None, atol=None,
              allow_warnings=False) -> CheckResult:
    r"""Check ``fn(x)`` against :func:`calc_nn.activations.relu_grad`.

    .. math:: \operatorname{relu}'(x) = [x > 0], \quad
              \operatorname{relu}'(0) = 0 \text{ (PyTorch's choice)}

    The result must be a float array of the input's dtype (not booleans).
    Parameters and return as :func:`sigmoid_grad`.
    """
    return _run("relu_grad", fn, activations.relu_grad,
                _elementwise_cases(kink=True),
                signature="f(x) -> ndarray like x (float, relu'(0) = 0)",
                rtol=rtol, atol=atol, allow_warnings=allow_warnings)


def softmax(fn: Callable, *, rtol=None, atol=None,
            allow_warnings=False) -> CheckResult:
    r"""Check ``fn(z)`` against :func:`calc_nn.activations.softmax`
    (over the last axis).

    .. math:: \operatorname{softmax}(z)_i = \frac{e^{z_i}}{\sum_j e^{z_j}}

    Parameters
    ----------
    fn : callable, ``fn(z: ndarray (..., C)) -> ndarray (..., C)``
    rtol, atol, allow_warnings
        As :func:`sigmoid_grad`.

    Returns
    -------
    CheckResult
    """
    return _run("softmax", fn, activations.softmax, _softmax_cases(),
                signature="f(z) -> ndarray like z, softmax over the last "
                "axis", rtol=rtol, atol=atol,
                allow_warnings=allow_warnings)


def log_softmax(fn: Callable, *, rtol=None, atol=None,
                allow_warnings=False) -> CheckResult:
    r"""Check ``fn(z)`` against :func:`calc_nn.activations.log_softmax`.

    .. math:: \log\operatorname{softmax}(z)_i = z_i - \log\sum_j e^{z_j}

    Parameters and return as :func:`softmax`.
    """
    return _run("log_softmax", fn, activations.log_softmax,
                _softmax_cases(),
                signature="f(z) -> ndarray like z, over the last axis",
                rtol=rtol, atol=atol, allow_warnings=allow_warnings)


# ----------------------------------------------------------------- losses

def cross_entropy_grad(fn: Callable, *, rtol=None, atol=None,
                       allow_warnings=False) -> CheckResult:
    r"""Check ``fn(logits, target)``, the gradient of the mean
    cross-entropy with respect to the logits, against
    :func:`calc_nn.losses.cross_entropy_grad`.

    .. math:: \frac{\partial L}{\partial z_{nc}}
              = \frac{\operatorname{softmax}(z_n)_c - [c = t_n]}{N}

    Parameters
    ----------
    fn : callable, ``fn(logits: ndarray (N, C), target: int ndarray (N,))
        -> ndarray (N, C)``
    rtol, atol, allow_warnings
        As :func:`sigmoid_grad`.

    Returns
    -------
    CheckResult
    """
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
    cases = [_Case(f"logits = {_fmt(z)}, target = {_fmt(t)}: {note}",
                   (z, t)) for z, t, note in raw]
    return _run("cross_entropy_grad", fn,
                lambda z, t: losses.cross_entropy_grad(z, t), cases,
                signature="f(logits (N, C), target (N,) ints) -> ndarray "
                "(N, C), the gradient of the MEAN loss", rtol=rtol,
                atol=atol, allow_warnings=allow_warnings)


# --------------------------------------------------------------- optimizers

def _steps_call(n_steps: int, grads: np.ndarray, hyper: dict, keys):
    """Run ``n_steps`` steps from ``state=None``; return every step's
    ``(theta, state)`` so a mismatch names the first step that differs.
    Only the state's ``keys`` are compared (the reference's state may hold
    more)."""

    def call(fn, case: _Case):
        (theta,) = case.args
        state, out = None, []
        for t in range(n_steps):
            try:
                theta, state = fn(theta, grads[t].copy(), state, **hyper)
            except Exception as exc:
                exc.add_note(f"at step {t + 1} of {n_steps}")
                raise
            snapshot = copy.deepcopy(state)
            if isinstance(state, dict) and set(keys) <= set(state):
                snapshot = {k: snapshot[k] for k in keys}
            out.append((copy.deepcopy(theta), snapshot))
        return out
    return call


def _optimizer_check(name, fn, reference, keys, hyper, signature, rtol,
                     atol, allow_warnings):
    rng = np.random.default_rng(_SEED + 3)
    n_steps = 5
    cases = []
    for theta0, note in [
            (np.array([1.0, -2.0, 0.5]), "theta of shape (3,)"),
            (rng.normal(size=(2, 3)), "theta of shape (2, 3)"),
            (np.array([0.25, -1.0], dtype=np.float32), "float32 theta")]:
        grads = rng.normal(size=(n_steps, *theta0.shape)).astype(
            theta0.dtype)
        call = _steps_call(n_steps, grads, hyper, keys)
        label = (f"{n_steps} steps from theta = {_fmt(theta0)}, state=None, "
                 f"{', '.join(f'{k}={v}' for k, v in hyper.items())}: "
                 f"{note}; gradients {_fmt(grads)}")
        cases.append((_Case(label, (theta0,)), call))

    def student_fn(theta, grad, state, **kw):
        out = fn(theta, grad, state, **kw)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError(f"{name} must return (theta, state), got "
                            f"{type(out).__name__}")
        return out

    results = []
    for case, call in cases:
        results.append(_run(
            name, student_fn, reference, [case], signature=signature,
            rtol=rtol, atol=atol, allow_warnings=allow_warnings, call=call,
            output="step"))
    failures = [f for r in results for f in r.failures]
    # a mismatch at "step[2][1]['buf']" reads better as step 3, buf
    failures = [dataclasses.replace(f, problem=_name_steps(f.problem))
                for f in failures]
    return CheckResult(name, len(cases), failures,
                       max(r.max_error for r in results), signature)


def _name_steps(text: str) -> str:
    import re

    def repl(m):
        step = int(m.group(1)) + 1
        what = "theta" if m.group(2) == "0" else "state"
        return f"step {step}, {what}"
    return re.sub(r"step\[(\d+)\]\[(\d)\]", repl, text)


def momentum_step(fn: Callable, *, rtol=None, atol=None,
                  allow_warnings=False) -> CheckResult:
    r"""Check ``fn(theta, grad, state, *, lr, momentum)``, one step of SGD
    with momentum, against :func:`calc_nn.optim.momentum_step` over five
    consecutive steps.

    .. math:: b_t = \mu\, b_{t-1} + g_t,\ b_1 = g_1, \quad
              \theta_t = \theta_{t-1} - \eta\, b_t

    Parameters
    ----------
    fn : callable
        ``fn(theta, grad, state, *, lr, momentum) -> (theta, state)``;
        ``state`` is ``None`` on the first step, then the dict your previous
        step returned, which must hold the velocity under ``"buf"``.
    rtol, atol, allow_warnings
        As :func:`sigmoid_grad`.

    Returns
    -------
    CheckResult
    """
    return _optimizer_check(
        "momentum_step", fn, optim.momentum_step, ("buf",),
        {"lr": 0.1, "momentum": 0.9},
        "f(theta, grad, state, *, lr, momentum) -> (theta, {'buf': b, "
        "...})", rtol, atol, allow_warnings)


def adam_step(fn: Callable, *, rtol=None, atol=None,
              allow_warnings=False) -> CheckResult:
    r"""Check ``fn(theta, grad, state, *, lr, betas, eps)``, one step of
    Adam, against :func:`calc_nn.optim.adam_step` over five steps.

    .. math:: m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\;
              v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\;
              \theta_t = \theta_{t-1} - \eta\,
              \frac{m_t/(1-\beta_1^t)}{\sqrt{v_t/(1-\beta_2^t)} + \epsilon}

    Parameters
    ----------
    fn : callable
        ``fn(theta, grad, state, *, lr, betas, eps) -> (theta, state)``;
        ``state`` is ``None`` on the first step (:math:`m_0 = v_0 = 0`),
        then your previous dict, with ``"exp_avg"`` (:math:`m_t`),
        ``"exp_avg_sq"`` (:math:`v_t`) and ``"step"`` (:math:`t`).
    rtol, atol, allow_warnings
        As :func:`sigmoid_grad`.

    Returns
    -------
    CheckResult
    """
    return _optimizer_check(
        "adam_step", fn, optim.adam_step, ("exp_avg", "exp_avg_sq", "step"),
        {"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8},
        "f(theta, grad, state, *, lr, betas, eps) -> (theta, {'exp_avg': m,"
        " 'exp_avg_sq': v, 'step': t})", rtol, atol, allow_warnings)


# ------------------------------------------------------------------ layers

def linear_backward(fn: Callable, *, rtol=None, atol=None,
                    allow_warnings=False) -> CheckResult:
    r"""Check ``fn(dout, cache)`` with ``cache = (x, W)`` against
    :func:`calc_nn.layers.linear_backward`.

    .. math:: \frac{\partial L}{\partial x} = \delta W, \quad
              \frac{\partial L}{\partial W} = \delta^\top x, \quad
              \frac{\partial L}{\partial b} = \textstyle\sum_n \delta_n

    Parameters
    ----------
    fn : callable
        ``fn(dout: (N, out), cache: (x (N, in), W (out, in)))
        -> (dx (N, in), dW (out, in), db (out,))``; also called with a
        single sample, ``x`` of shape (in,) and ``dout`` of shape (out,).
    rtol, atol, allow_warnings
        As :func:`sigmoid_grad`.

    Returns
    -------
    CheckResult
    """
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
        dout = rng.normal(size=shape[:-1] + (n_out,)).astype(dtype)
        label = (f"dout = {_fmt(dout)}, x = {_fmt(x)}, W = {_fmt(W)}: "
                 f"{note}")
        cases.append(_Case(label, (dout, layers.LinearCache(x, W))))
    return _run("linear_backward", fn, layers.linear_backward, cases,
                signature="f(dout, (x, W)) -> (dx, dW, db)", rtol=rtol,
                atol=atol, allow_warnings=allow_warnings,
                output="(dx, dW, db)")


# -------------------------------------------------------------------- conv

def conv2d_output_size(fn: Callable, **_ignored) -> CheckResult:
    r"""Check ``fn(size, kernel, stride, padding)``, the output length of a
    convolution, against :func:`calc_nn.conv.conv2d_output_size`.

    .. math:: \left\lfloor \frac{H + 2p - k}{s} \right\rfloor + 1

    A kernel larger than the padded input must raise ``ValueError``.

    Parameters
    ----------
    fn : callable, ``fn(size, kernel, stride, padding) -> int``

    Returns
    -------
    CheckResult
    """
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
        label = f"size={h}, kernel={k}, stride={s}, padding={p}: {note}"
        cases.append(_Case(label, (h, k, s, p)))
    return _run("conv2d_output_size", fn, conv.conv2d_output_size, cases,
                signature="f(size, kernel, stride, padding) -> int")


def maxpool2d_backward(fn: Callable, *, rtol=None, atol=None,
                       allow_warnings=False) -> CheckResult:
    r"""Check ``fn(dout, x, kernel_size, stride)``, the gradient of max
    pooling, against :func:`calc_nn.conv.maxpool2d_backward`.

    Each window's upstream gradient goes to the position of its maximum
    (the first one, in row-major order, when there is a tie, as in PyTorch);
    overlapping windows (``stride < kernel_size``) add up.

    Parameters
    ----------
    fn : callable
        ``fn(dout: (N, C, Ho, Wo), x: (N, C, H, W), kernel_size: int,
        stride: int) -> dx (N, C, H, W)``.
    rtol, atol, allow_warnings
        As :func:`sigmoid_grad`.

    Returns
    -------
    CheckResult
    """
    rng = np.random.default_rng(_SEED + 5)

    def reference(dout, x, kernel_size, stride):
        _, cache = conv.maxpool2d_forward(x, kernel_size, stride)
        return conv.maxpool2d_backward(dout, cache)

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
        ho = conv.conv2d_output_size(x.shape[2], k, s)
        wo = conv.conv2d_output_size(x.shape[3], k, s)
        dout = rng.normal(size=x.shape[:2] + (ho, wo)).astype(dtype)
        label = (f"x = {_fmt(x)}, dout = {_fmt(dout)}, kernel_size={k}, "
                 f"stride={s}: {note}")
        cases.append(_Case(label, (dout, x, k, s)))
    return _run("maxpool2d_backward", fn, reference, cases,
                signature="f(dout, x, kernel_size, stride) -> dx like x",
                rtol=rtol, atol=atol, allow_warnings=allow_warnings,
                output="dx")


_CHECKERS: dict[str, Callable[..., CheckResult]] = {
    "sigmoid_grad": sigmoid_grad, "tanh_grad": tanh_grad,
    "relu_grad": relu_grad, "softmax": softmax, "log_softmax": log_softmax,
    "cross_entropy_grad": cross_entropy_grad,
    "momentum_step": momentum_step, "adam_step": adam_step,
    "linear_backward": linear_backward,
    "conv2d_output_size": conv2d_output_size,
    "maxpool2d_backward": maxpool2d_backward,
}


def available() -> list[str]:
    """Names of the functions that have a checker."""
    return sorted(_CHECKERS)

