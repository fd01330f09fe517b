"""calc_nn.check: a correct student function passes; wrong ones fail with
a report that names the failing input and says what is wrong."""

from __future__ import annotations

import faulthandler
import inspect
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from chapter_text import used_in_pages

from calc_nn import check, conv, layers

ROOT = Path(__file__).resolve().parents[1]

# ------------------------------------------------------------- students


def _stable_sigmoid(x):
    return np.exp(np.minimum(x, 0)) / (1 + np.exp(-np.abs(x)))


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _raises(*_args, **_kwargs):
    raise RuntimeError("not implemented yet")


ELEMENTWISE = {
    "sigmoid_grad": {
        "correct": lambda x: _stable_sigmoid(x) * (1 - _stable_sigmoid(x)),
        "formula": lambda x: _stable_sigmoid(x) * (1 + _stable_sigmoid(x)),
    },
    "tanh_grad": {
        "correct": lambda x: 1 - np.tanh(x) ** 2,
        "formula": lambda x: 1 - np.tanh(x),
    },
    "relu_grad": {
        "correct": lambda x: (x > 0).astype(x.dtype),
        "formula": lambda x: (x >= 0).astype(x.dtype),  # relu'(0) = 1
    },
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_correct_passes(name):
    result = getattr(check, name)(ELEMENTWISE[name]["correct"])
    assert result and result.passed and not result.failures
    assert "PASSED" in str(result) and f"check.{name}" in repr(result)
    assert result.n_cases >= 8


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_wrong_formula_names_input(name):
    result = getattr(check, name)(ELEMENTWISE[name]["formula"])
    assert not result and not result.passed
    text = str(result)
    assert "FAILED" in text and "wrong values" in text
    assert "expected" in text and "got" in text
    # the first failure names its input and the entry that is wrong
    first = result.failures[0]
    assert first.case.startswith("x = ")
    assert first.case in text and "where the input is" in text
    assert first.max_error is not None and first.max_error > 0.1


def test_relu_grad_kink_is_named():
    result = check.relu_grad(ELEMENTWISE["relu_grad"]["formula"])
    assert "kink" in result.failures[0].case
    assert "at index (2,), where the input is 0" in str(result)
    assert "expected 0, got 1" in str(result)


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_float32_promotion_is_reported(name):
    correct = ELEMENTWISE[name]["correct"]
    result = getattr(check, name)(lambda x: correct(x).astype(np.float64))
    assert not result
    # only the float32 inputs fail, each with the dtype named
    assert len(result.failures) == 2
    for failure in result.failures:
        assert "float32" in failure.case
        assert "wrong dtype: expected float32, got float64" in \
            failure.problem
        assert "promotes" in failure.problem


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_wrong_shape_is_reported(name):
    correct = ELEMENTWISE[name]["correct"]
    result = getattr(check, name)(lambda x: np.ravel(correct(x)))
    assert not result
    problem = next(f.problem for f in result.failures
                   if "shape (3, 4)" in f.case)
    assert "wrong shape: expected (3, 4), got (12,)" in problem


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_exception_is_reported_with_its_line(name):
    result = getattr(check, name)(_raises)
    assert not result and len(result.failures) == result.n_cases
    text = str(result)
    assert "raised RuntimeError: not implemented yet" in text
    assert "raise RuntimeError" in text  # the student's line is quoted


def test_boolean_relu_grad_is_a_dtype_error():
    result = check.relu_grad(lambda x: x > 0)
    assert not result
    assert "expected float64, got bool" in str(result)
    assert ".astype(x.dtype)" in str(result)


def test_overflow_warning_fails_unless_allowed():
    def naive(x):
        s = 1 / (1 + np.exp(-x))
        return s * (1 - s)

    result = check.sigmoid_grad(naive)
    assert not result
    assert all("extremes" in case for case in result.failed_inputs)
    assert "overflow encountered in exp" in str(result)
    assert check.sigmoid_grad(naive, allow_warnings=True)


def test_in_place_modification_is_reported():
    def mutating(x):
        x[...] = np.tanh(x)
        return 1 - x ** 2

    result = check.tanh_grad(mutating)
    assert not result and "modified its input in place" in str(result)


def test_not_a_function_is_a_type_error():
    with pytest.raises(TypeError, match="takes your function"):
        check.softmax(np.array([1.0, 2.0]))


# ---------------------------------------------------------------- softmax

def test_softmax_correct_and_naive():
    assert check.softmax(_softmax)
    naive = check.softmax(lambda z: np.exp(z) / np.exp(z).sum(
        axis=-1, keepdims=True))
    assert not naive
    assert "huge logits" in naive.failures[0].case
    assert "z = [ 1000., 0., -1000.]" in str(naive)
    assert "got nan" in str(naive) and "subtract the maximum" in str(naive)


def test_softmax_wrong_axis_and_shape():
    wrong_axis = check.softmax(lambda z: np.exp(z - z.max()) / np.exp(
        z - z.max()).sum(axis=0, keepdims=True))
    assert not wrong_axis
    assert any("batch (4, 5)" in c for c in wrong_axis.failed_inputs)
    summed = check.softmax(lambda z: _softmax(z).sum(axis=-1))
    assert "wrong shape" in str(summed)
    assert "reduced over an axis" in str(summed)


def test_log_softmax():
    assert check.log_softmax(
        lambda z: z - z.max(-1, keepdims=True) - np.log(np.exp(
            z - z.max(-1, keepdims=True)).sum(-1, keepdims=True)))
    result = check.log_softmax(lambda z: np.log(_softmax(z)))
    assert result.failed_inputs == [
        c for c in result.failed_inputs if "huge" in c] and not result
    assert "expected -1000, got -inf" in str(result)
    f64 = check.log_softmax(lambda z: np.log(_softmax(z)).astype(
        np.float64))
    assert "expected float32, got float64" in str(f64)


# ---------------------------------------------------------- cross-entropy

def _ce_grad(z, t):
    p = _softmax(z)
    p[np.arange(len(t)), t] -= 1
    return p / len(t)


def test_cross_entropy_grad():
    assert check.cross_entropy_grad(_ce_grad)
    no_mean = check.cross_entropy_grad(lambda z, t: _ce_grad(z, t) * len(t))
    assert not no_mean and "N=1" not in " ".join(no_mean.failed_inputs)
    assert "logits = " in no_mean.failures[0].case
    assert "target = [0, 2, 1, 2]" in no_mean.failures[0].case
    assert "every entry is 4 times the expected one" in str(no_mean)
    flipped = check.cross_entropy_grad(lambda z, t: -_ce_grad(z, t))
    assert "every entry is -1 times" in str(flipped)
    per_sample = check.cross_entropy_grad(lambda z, t: _ce_grad(z, t).sum(0))
    assert "wrong shape: expected (4, 3), got (3,)" in str(per_sample)
    broken = check.cross_entropy_grad(lambda z, t: z[t])
    assert not broken and "raised IndexError" in str(broken)


# -------------------------------------------------------------- optimizers

def _momentum(theta, grad, state, *, lr, momentum):
    buf = grad.copy() if state is None else momentum * state["buf"] + grad
    return theta - lr * buf, {"buf": buf}


def _adam(theta, grad, state, *, lr, betas, eps, bias_correction=True):
    b1, b2 = betas
    if state is None:
        m, v, t = np.zeros_like(theta), np.zeros_like(theta), 0
    else:
        m, v, t = state["exp_avg"], state["exp_avg_sq"], state["step"]
    t += 1
    m = b1 * m + (1 - b1) * grad
    v = b2 * v + (1 - b2) * grad * grad
    if bias_correction:
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
    else:
        m_hat, v_hat = m, v
    return (theta - lr * m_hat / (np.sqrt(v_hat) + eps),
            {"exp_avg": m, "exp_avg_sq": v, "step": t})


def test_momentum_step():
    assert check.momentum_step(_momentum)
    damped = check.momentum_step(lambda th, g, s, *, lr, momentum: _momentum(
        th, (1 - momentum) * g, s, lr=lr, momentum=momentum))
    assert not damped
    assert "5 steps from theta = [ 1. , -2. , 0.5]" in damped.failures[0].case
    assert "step 1, theta" in str(damped)
    def renamed_fn(theta, grad, state, *, lr, momentum):
        v = grad if state is None else momentum * state["v"] + grad
        return theta - lr * v, {"v": v}

    renamed = check.momentum_step(renamed_fn)
    assert "step 1, state: the dict lacks the key(s) ['buf'] (it has " \
        "['v'])" in str(renamed)
    crash = check.momentum_step(lambda *a, **k: (_momentum(*a, **k)[0], {}))
    assert "raised KeyError: 'buf'" in str(crash)
    assert "at step 2" in str(crash)
    f64 = check.momentum_step(lambda th, g, s, **k: _momentum(
        th.astype(np.float64), g.astype(np.float64), s, **k))
    assert f64.failed_inputs == [c for c in f64.failed_inputs
                                 if "float32" in c] and not f64
    assert "wrong dtype: expected float32, got float64" in str(f64)


def test_adam_step():
    assert check.adam_step(_adam)
    no_bias = check.adam_step(lambda *a, **k: _adam(
        *a, **k, bias_correction=False))
    assert not no_bias and len(no_bias.failures) == 3
    assert "step 1, theta" in str(no_bias)
    assert "expected 1.1, got 1.31623" in str(no_bias)
    single = check.adam_step(lambda *a, **k: _adam(*a, **k)[0])
    assert "must return (theta, state)" in str(single)
    def t_key(theta, grad, state, **k):
        if state is not None:
            state = dict(state, step=state.pop("t"))
        theta, state = _adam(theta, grad, state, **k)
        state["t"] = state.pop("step")
        return theta, state

    no_step = check.adam_step(t_key)
    assert "lacks the key(s) ['step']" in str(no_step)


# ------------------------------------------------------------------ layers

def _linear_backward(dout, cache):
    x, W = cache
    if x.ndim == 1:
        return dout @ W, np.outer(dout, x), dout.copy()
    return dout @ W, dout.T @ x, dout.sum(axis=0)


def test_linear_backward():
    assert check.linear_backward(_linear_backward)
    transposed = check.linear_backward(
        lambda d, c: (lambda dx, dW, db: (dx, dW.T, db))(
            *_linear_backward(d, c)))
    assert not transposed
    assert "(dx, dW, db)[1]: wrong shape: expected (2, 3), got (3, 2) " \
        "(transposed?)" in str(transposed)
    assert transposed.failures[0].case.startswith("dout = ")
    no_sum = check.linear_backward(
        lambda d, c: _linear_backward(d, c)[:2] + (d,))
    assert "(dx, dW, db)[2]: wrong shape" in str(no_sum)
    batch_only = check.linear_backward(lambda d, c: (
        d @ c[1], d.T @ c[0], d.sum(axis=0)))
    assert batch_only.failed_inputs == [
        c for c in batch_only.failed_inputs if "one sample" in c]
    assert "raised ValueError" in str(batch_only)
    two = check.linear_backward(lambda d, c: _linear_backward(d, c)[:2])
    assert "expected 3 values, got 2" in str(two)


# -------------------------------------------------------------------- conv

def test_conv2d_output_size():
    def size(h, k, s=1, p=0):
        if k > h + 2 * p:
            raise ValueError("kernel larger than the padded input")
        return (h + 2 * p - k) // s + 1

    assert check.conv2d_output_size(size)
    true_div = check.conv2d_output_size(lambda h, k, s, p:
                                        (h + 2 * p - k) / s + 1)
    assert "expected the int 24, got float 24.0" in str(true_div)
    assert "use // for the floor division" in str(true_div)
    no_padding = check.conv2d_output_size(lambda h, k, s, p:
                                          (h - k) // s + 1)
    assert "size=32, kernel=3, stride=1, padding=1" in str(no_padding)
    assert "expected 32, got 30" in str(no_padding)
    no_error = check.conv2d_output_size(lambda h, k, s, p:
                                        (h + 2 * p - k) // s + 1)
    assert no_error.failed_inputs == [
        "size=3, kernel=5, stride=1, padding=0: kernel larger than the "
        "input: ValueError"]
    assert "expected ValueError" in str(no_error)
    assert "returned -1" in str(no_error)


def _maxpool_backward(dout, cache, first_only=True):
    x, (k, _), (s, _) = cache.x, cache.kernel, cache.stride
    dx = np.zeros_like(x)
    n_, c_, ho, wo = dout.shape
    for n in range(n_):
        for c in range(c_):
            for i in range(ho):
                for j in range(wo):
                    win = x[n, c, i * s:i * s + k, j * s:j * s + k]
                    if first_only:
                        a, b = np.unravel_index(np.argmax(win), win.shape)
                        dx[n, c, i * s + a, j * s + b] += dout[n, c, i, j]
                    else:
                        dx[n, c, i * s:i * s + k, j * s:j * s + k] += (
                            win == win.max()) * dout[n, c, i, j]
    return dx


def test_maxpool2d_backward():
    assert check.maxpool2d_backward(_maxpool_backward)
    ties = check.maxpool2d_backward(
        lambda d, c: _maxpool_backward(d, c, first_only=False))
    assert ties.failed_inputs == [c for c in ties.failed_inputs
                                  if "ties" in c] and not ties
    assert "x = [[[[1., 1., 0., 2.], [1., 1., 2., 2.]]]]" in str(ties)

    def overwrite(dout, cache):  # "=" instead of "+=": overlaps lost
        x, (k, _), (s, _) = cache.x, cache.kernel, cache.stride
        dx = np.zeros_like(x)
        for i in range(dout.shape[2]):
            for j in range(dout.shape[3]):
                win = x[:, :, i * s:i * s + k, j * s:j * s + k]
                flat = win.reshape(*win.shape[:2], -1)
                mask = (flat == flat.max(-1, keepdims=True)).reshape(
                    win.shape)
                dx[:, :, i * s:i * s + k, j * s:j * s + k] = np.where(
                    mask, dout[:, :, i:i + 1, j:j + 1],
                    dx[:, :, i * s:i * s + k, j * s:j * s + k])
        return dx

    lost = check.maxpool2d_backward(overwrite)
    assert any("overlapping" in c for c in lost.failed_inputs)
    wrong_shape = check.maxpool2d_backward(lambda d, c: d)
    assert "dx: wrong shape" in str(wrong_shape)


def test_layer_checkers_pass_the_packages_cache():
    """Issue 11: a layer's backward is checked with the package's
    signature, backward(dout, cache), the cache from the package's
    forward; the old (dout, x, kernel_size, stride) form is reported."""
    seen = []

    def spy(dout, cache):
        seen.append(cache)
        return _maxpool_backward(dout, cache)

    assert check.maxpool2d_backward(spy)
    given = seen[0]
    _, cache = conv.maxpool2d_forward_naive(given.x, given.kernel,
                                            given.stride)
    assert type(given) is type(cache)
    np.testing.assert_array_equal(given.argmax, cache.argmax)
    old = check.maxpool2d_backward(lambda dout, x, k, s: dout)
    assert not old and "missing 2 required positional arguments" in str(old)

    caches = []
    check.linear_backward(lambda d, c: caches.append(c) or
                          _linear_backward(d, c))
    x, W = caches[0]
    _, cache = layers.linear_forward(x, W, np.zeros(len(W), W.dtype))
    assert type(caches[0]) is type(cache)


def test_modifying_the_cache_is_reported():
    def zeroing(dout, cache):
        dx, dW, db = _linear_backward(dout, cache)
        cache[0][...] = 0  # x, inside the cache
        return dx, dW, db

    result = check.linear_backward(zeroing)
    assert not result and "modified its input in place" in str(result)


def test_report_lists_at_most_five_in_detail():
    result = check.conv2d_output_size(lambda *a: 0.5)
    text = str(result)
    assert text.count("\n1. ") == 1 and "\n6. " not in text
    assert "... and 5 more failing input(s)" in text


def test_every_documented_checker_exists():
    assert check.available() == sorted([
        "sigmoid_grad", "tanh_grad", "relu_grad", "softmax", "log_softmax",
        "cross_entropy_grad", "momentum_step", "adam_step",
        "linear_backward", "conv2d_output_size", "maxpool2d_backward",
        "batchnorm_backward", "dropout_backward"])
    for name in check.available():
        assert f":func:`{name}`" in check.__doc__


# ------------------------------------------------------------- time limit

@pytest.fixture
def watchdog():
    """A test of the time limit must fail, not hang, if the limit breaks:
    the process exits with a traceback after 60 s."""
    faulthandler.dump_traceback_later(60, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def _endless(x):
    while True:
        pass


def _catches_everything(x):
    while True:
        try:
            while True:
                pass
        except Exception:  # a student's broad except must not hide it
            continue


@pytest.mark.parametrize("student", [_endless, _catches_everything])
def test_a_function_that_never_returns_is_the_students_failure(student,
                                                               watchdog):
    """Issue 12: a hanging student function is stopped after time_limit
    and reported; the other inputs are skipped (not each timed out)."""
    start = time.monotonic()
    result = check.tanh_grad(student, time_limit=0.2)
    assert time.monotonic() - start < 30
    assert not result and len(result.failures) == 1
    text = str(result)
    assert "did not return within 0.2 s" in text
    assert f"the remaining {result.n_cases - 1} input(s) were not tried" \
        in text


def test_time_limit_in_another_thread(watchdog):
    """Where signals cannot be used (here: not the main thread), the
    student's call runs in a helper thread stopped by an exception."""
    results = []
    worker = threading.Thread(target=lambda: results.append(
        check.tanh_grad(_endless, time_limit=0.2)), daemon=True)
    worker.start()
    worker.join(30)
    assert not worker.is_alive()
    assert "did not return within 0.2 s" in str(results[0])
    # and a right function passes there too
    results.clear()
    worker = threading.Thread(target=lambda: results.append(
        check.tanh_grad(ELEMENTWISE["tanh_grad"]["correct"])), daemon=True)
    worker.start()
    worker.join(30)
    assert results[0]


def test_time_limit_restores_the_alarm_handler_and_timer(watchdog):
    def mine(signum, frame):
        raise AssertionError("the caller's timer fired during the check")

    before = signal.signal(signal.SIGALRM, mine)
    signal.setitimer(signal.ITIMER_REAL, 100.0)
    try:
        assert not check.tanh_grad(_endless, time_limit=0.1)
        assert check.tanh_grad(ELEMENTWISE["tanh_grad"]["correct"])
        assert signal.getsignal(signal.SIGALRM) is mine
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 90 < left <= 100
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)


def test_slow_but_finite_function_passes_without_limit():
    def slow(x):
        time.sleep(0.05)
        return 1 - np.tanh(x) ** 2

    assert check.tanh_grad(slow, time_limit=None)
    assert check.tanh_grad(slow, time_limit=2.0)


# ------------------------------------------------------------- the options

@pytest.mark.parametrize("options,name,error", [
    (dict(atol=float("nan")), "atol", ValueError),
    (dict(rtol=-1.0), "rtol", ValueError),
    (dict(atol=float("inf")), "atol", ValueError),
    (dict(rtol="1e-3"), "rtol", TypeError),
    (dict(time_limit=0), "time_limit", ValueError),
    (dict(time_limit=-1.0), "time_limit", ValueError),
    (dict(time_limit=float("nan")), "time_limit", ValueError),
    (dict(allow_warnings="yes"), "allow_warnings", ValueError),
])
@pytest.mark.parametrize("name_", ["tanh_grad", "conv2d_output_size",
                                   "adam_step", "maxpool2d_backward"])
def test_options_are_validated(options, name, error, name_):
    """Issue 12: atol=nan made a wrong function pass, rtol=-1 a right one
    fail; every checker now rejects them, naming the option."""
    with pytest.raises(error, match=name):
        getattr(check, name_)(lambda *a, **k: 0, **options)


def test_nan_tolerance_no_longer_lets_a_wrong_function_pass():
    wrong = ELEMENTWISE["tanh_grad"]["formula"]
    assert not check.tanh_grad(wrong, atol=1e-3, rtol=0.0)
    with pytest.raises(ValueError, match="atol"):
        check.tanh_grad(wrong, atol=float("nan"))


def test_every_checker_has_the_same_options_and_a_full_docstring():
    for name in check.available():
        fn = getattr(check, name)
        params = inspect.signature(fn).parameters
        assert list(params) == ["fn", "rtol", "atol", "allow_warnings",
                                "time_limit"], name
        assert params["time_limit"].default == 5.0
        doc = fn.__doc__
        assert ".. math::" in doc and "Returns" in doc, name
        pages = used_in_pages(fn)
        assert pages and pages[0].startswith("book/"), name
        assert all((ROOT / p).is_file() for p in pages), name


# ----------------------------------------------------- expected exceptions

def _size(h, k, s=1, p=0):
    if k > h + 2 * p:
        raise ValueError("kernel larger than the padded input")
    return (h + 2 * p - k) // s + 1


def test_an_expected_error_must_be_the_same_kind_and_name_the_argument():
    """Issue 12: any student ValueError used to count as the expected one.
    Now it must be a ValueError whose message mentions the kernel."""
    assert check.conv2d_output_size(_size)

    def vague(h, k, s, p):
        if k > h + 2 * p:
            raise ValueError("bad input")
        return _size(h, k, s, p)

    result = check.conv2d_output_size(vague)
    assert result.failed_inputs == [
        c for c in result.failed_inputs if "ValueError" in c] and not result
    assert "expected ValueError whose message mentions 'kernel'" in \
        str(result)

    def wrong_kind(h, k, s, p):
        if k > h + 2 * p:
            raise TypeError("kernel too large")
        return _size(h, k, s, p)

    assert not check.conv2d_output_size(wrong_kind)

    def always(h, k, s, p):
        raise ValueError("kernel?")

    everything = check.conv2d_output_size(always)
    assert len(everything.failures) == everything.n_cases - 1
    assert "expected no exception" in str(everything)


# ------------------------------------------- deep networks (book/deep.md)

def _batchnorm_backward(dout, cache, keepdims=False, axes=None):
    x_hat, gamma, std, cache_axes = cache
    axes = cache_axes if axes is None else axes
    m = dout.size // x_hat.shape[1]
    dbeta = dout.sum(axis=axes, keepdims=True)
    dgamma = (dout * x_hat).sum(axis=axes, keepdims=True)
    dx = gamma / (m * std) * (m * dout - dbeta - x_hat * dgamma)
    if keepdims:
        return dx, dgamma, dbeta
    return dx, dgamma.reshape(-1), dbeta.reshape(-1)


def test_batchnorm_backward():
    assert check.batchnorm_backward(_batchnorm_backward)
    assert check.batchnorm_backward(layers.batchnorm_backward_naive)

    def no_x_hat_term(dout, cache):
        x_hat, gamma, std, axes = cache
        m = dout.size // x_hat.shape[1]
        dbeta = dout.sum(axis=axes, keepdims=True)
        dx = gamma / (m * std) * (m * dout - dbeta)
        return (dx, (dout * x_hat).sum(axis=axes),
                dout.sum(axis=axes))

    wrong = check.batchnorm_backward(no_x_hat_term)
    assert not wrong
    assert "(dx, dgamma, dbeta)[0]: wrong values" in str(wrong)
    assert wrong.failures[0].case.startswith("dout = ")
    assert "a batch (N, D) = (4, 3)" in wrong.failures[0].case
    # written for (N, D) only: the image batch fails, and only it
    rows_only = check.batchnorm_backward(lambda d, c: _batchnorm_backward(
        d, c, axes=(0,)) if d.ndim == 2 else _batchnorm_backward(
        d, c._replace(axes=(0,))))
    assert rows_only.failed_inputs == [
        c for c in rows_only.failed_inputs if "(N, C, H, W)" in c]
    assert len(rows_only.failures) == 1
    kept = check.batchnorm_backward(lambda d, c: _batchnorm_backward(
        d, c, keepdims=True))
    assert "(dx, dgamma, dbeta)[1]: wrong shape: expected (3,), got (1, " \
        "3)" in str(kept)

    def gamma_forgotten(dout, cache):
        dx, dgamma, dbeta = _batchnorm_backward(dout, cache)
        return dx / cache.gamma, dgamma, dbeta

    assert not check.batchnorm_backward(gamma_forgotten)
    f64 = check.batchnorm_backward(lambda d, c: tuple(
        a.astype(np.float64) for a in _batchnorm_backward(d, c)))
    assert f64.failed_inputs == [c for c in f64.failed_inputs
                                 if "float32" in c] and not f64
    assert "wrong dtype: expected float32, got float64" in str(f64)


def test_batchnorm_backward_cases_are_the_edge_cases():
    cases = check._batchnorm_cases()
    labels = " ".join(c.label for c in cases)
    for needle in ("(N, D) = (4, 3)", "float32", "(N, C, H, W)", "D = 1",
                   "constant", "1e3"):
        assert needle in labels
    constant = next(c for c in cases if "constant" in c.label)
    assert np.all(constant.args[1].x_hat[:, 0] == 0)
    caches = [c.args[1] for c in cases]
    assert any(c.x_hat.ndim == 4 and c.axes == (0, 2, 3) for c in caches)
    assert any(c.x_hat.ndim == 2 and c.x_hat.shape[1] == 1 for c in caches)
    assert any(c.x_hat.dtype == np.float32 for c in caches)
    assert any(c.std.max() > 100 for c in caches)


def test_dropout_backward():
    assert check.dropout_backward(lambda d, c: d * c.mask)
    unscaled = check.dropout_backward(lambda d, c: d * (c.mask != 0))
    assert not unscaled
    assert "every entry is 0.5 times the expected one" in str(unscaled)
    # the identity cases (evaluation mode, p = 0) pass
    assert len(unscaled.failures) == 3
    assert not any("evaluation" in c or "p = 0:" in c
                   for c in unscaled.failed_inputs)
    ignored = check.dropout_backward(lambda d, c: d.copy())
    assert len(ignored.failures) == 3
    for note in ("p = 0.5: kept entries scaled by 2", "float32, p = 0.2",
                 "p = 0.9: kept entries scaled by 10"):
        assert any(c.endswith(note) for c in ignored.failed_inputs)
    twice = check.dropout_backward(lambda d, c: d * c.mask * c.mask)
    assert "p = 0.9" in " ".join(twice.failed_inputs)
    f64 = check.dropout_backward(lambda d, c: (d * c.mask).astype(
        np.float64))
    assert "wrong dtype: expected float32, got float64" in str(f64)
    in_place = check.dropout_backward(lambda d, c: np.multiply(
        d, c.mask, out=d))
    assert "modified its input in place" in str(in_place)
