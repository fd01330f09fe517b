"""Issue 12 for calc_nn.optim, calc_nn.landscapes and calc_nn.check: every
public function, fed non-finite values, wrong dtypes and degenerate
shapes, gives the right result or a ValueError/TypeError naming the
argument; never another exception, a hang, or a finite wrong number.

Also: every public function of these modules says which chapter uses it.
"""

import inspect
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from chapter_text import used_in, used_in_pages
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from calc_nn import check, landscapes, optim
from tests.strategies import (
    correct_or_named_error,
    degenerate_shapes,
    with_nonfinite,
    wrong_kind,
)

ROOT = Path(__file__).resolve().parents[1]

STEPS = {
    "gd": (optim.gd_step, dict(lr=0.1)),
    "momentum": (optim.momentum_step, dict(lr=0.1, momentum=0.9,
                                           weight_decay=0.01)),
    "nesterov": (optim.nesterov_step, dict(lr=0.1)),
    "rmsprop": (optim.rmsprop_step, dict(lr=0.1, weight_decay=0.01)),
    "adagrad": (optim.adagrad_step, dict(lr=0.1)),
    "adam": (optim.adam_step, dict(lr=0.1, weight_decay=0.01)),
    "adamw": (optim.adamw_step, dict(lr=0.1)),
}

shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
dtypes = st.sampled_from([np.float32, np.float64])


# ------------------------------------------------------------------ steps

@pytest.mark.parametrize("name", sorted(STEPS))
@settings(max_examples=40, deadline=None)
@given(data=st.data(), shape=shapes, dtype=dtypes,
       which=st.sampled_from(["theta", "grad", "both"]))
def test_steps_propagate_non_finite_entries_entry_by_entry(name, data,
                                                           shape, dtype,
                                                           which):
    """Elementwise maths: a NaN or inf entry makes that entry of the new
    theta non-finite (as in torch.optim) and leaves the others exactly as
    they would be without it."""
    step, hyper = STEPS[name]
    finite = hnp.arrays(dtype, shape, elements=st.floats(
        -10, 10, width=np.dtype(dtype).itemsize * 8))
    theta = data.draw(with_nonfinite(shape, dtype) if which != "grad"
                      else finite)
    grad = data.draw(with_nonfinite(shape, dtype) if which != "theta"
                     else finite)
    bad = ~(np.isfinite(theta) & np.isfinite(grad))
    with np.errstate(invalid="ignore", over="ignore"):
        out, state = step(theta, grad, None, **hyper)
        out, _ = step(out, grad, state, **hyper)
    clean, state = step(np.where(bad, 0, theta), np.where(bad, 0, grad),
                        None, **hyper)
    clean, _ = step(clean, np.where(bad, 0, grad), state, **hyper)
    assert out.dtype == dtype and out.shape == shape
    np.testing.assert_array_equal(~np.isfinite(out), bad)
    np.testing.assert_array_equal(out[~bad], clean[~bad])


@pytest.mark.parametrize("name", sorted(STEPS))
@settings(max_examples=30, deadline=None)
@given(data=st.data(), shape=degenerate_shapes,
       bad_arg=st.sampled_from(["theta", "grad"]))
def test_steps_on_wrong_kinds_and_degenerate_shapes(name, data, shape,
                                                    bad_arg):
    step, hyper = STEPS[name]
    theta, grad = np.ones(shape), np.full(shape, 0.5)
    result, error = correct_or_named_error(lambda: step(theta, grad, None,
                                                        **hyper), "theta")
    assert error is None and np.shape(result[0]) == shape
    args = dict(theta=theta, grad=grad)
    args[bad_arg] = data.draw(wrong_kind(shape))
    _, error = correct_or_named_error(lambda: step(
        args["theta"], args["grad"], None, **hyper), bad_arg)
    assert isinstance(error, TypeError)


@pytest.mark.parametrize("name", sorted(STEPS))
@settings(max_examples=30, deadline=None)
@given(value=st.sampled_from([math.nan, math.inf, -math.inf, -1.0, 0.0,
                              "0.1", None, True]),
       arg=st.sampled_from(["lr", "momentum", "alpha", "eps",
                            "weight_decay", "betas"]))
def test_steps_reject_bad_hyperparameters_by_name(name, value, arg):
    step, hyper = STEPS[name]
    params = inspect.signature(step).parameters
    if arg not in params:
        return
    # 0 is a valid momentum, alpha, weight decay or beta
    valid_zero = (value == 0.0 and value is not True
                  and arg in ("momentum", "alpha", "weight_decay", "betas")
                  and not (name == "nesterov" and arg == "momentum"))
    kwargs = dict(hyper, **{arg: (0.9, value) if arg == "betas" else value})
    result, error = correct_or_named_error(
        lambda: step(np.ones(2), np.ones(2), None, **kwargs), arg)
    assert (error is None) == valid_zero, (arg, value, result)


@settings(max_examples=40, deadline=None)
@given(a=dtypes, b=dtypes, c=dtypes)
def test_steps_never_mix_dtypes(a, b, c):
    theta, grad = np.ones(3, a), np.ones(3, b)
    result, error = correct_or_named_error(
        lambda: optim.adam_step(theta, grad, None, lr=0.1), "theta")
    if a != b:
        assert isinstance(error, TypeError) and "grad" in str(error)
        return
    _, state = result
    state = dict(state, exp_avg=state["exp_avg"].astype(c))
    result, error = correct_or_named_error(
        lambda: optim.adam_step(theta, grad, state, lr=0.1), "exp_avg")
    assert (error is None) == (a == c)
    if error is None:
        assert result[0].dtype == a


# ------------------------------------------------------------------- runs

def _linear_grad(t):
    return 2 * np.asarray(t)


RUNNERS = {
    "run": lambda theta0, **kw: optim.run(optim.gd_step, _linear_grad,
                                          theta0, 3, lr=0.1, **kw),
    "run_many": lambda theta0, **kw: optim.run_many(
        [(optim.gd_step, dict(lr=0.1))], _linear_grad, theta0, 3, **kw),
    "trajectory": lambda theta0, **kw: optim.trajectory(
        optim.gd_step, _linear_grad, theta0, 3, lr=0.1, **kw),
}


@pytest.mark.parametrize("name", sorted(RUNNERS))
@settings(max_examples=30, deadline=None)
@given(data=st.data(), shape=st.sampled_from([(1,), (2,), (5,)]))
def test_runs_reject_a_non_finite_or_wrong_start(name, data, shape):
    runner = RUNNERS[name]
    _, error = correct_or_named_error(
        lambda: runner(data.draw(with_nonfinite(shape))), "theta0")
    assert isinstance(error, ValueError)
    _, error = correct_or_named_error(
        lambda: runner(data.draw(wrong_kind(shape))), "theta0")
    assert isinstance(error, TypeError)


@pytest.mark.parametrize("name", sorted(RUNNERS))
@settings(max_examples=20, deadline=None)
@given(shape=degenerate_shapes)
def test_runs_on_degenerate_start_shapes(name, shape):
    result, error = correct_or_named_error(
        lambda: RUNNERS[name](np.ones(shape)), "theta0")
    if shape == (1,):  # one parameter: a fine run
        path = result if name == "trajectory" else (
            result.path if name == "run" else result[0].path)
        np.testing.assert_allclose(path[:, 0], 0.8 ** np.arange(4))
    else:
        assert isinstance(error, ValueError)


@pytest.mark.parametrize("name", sorted(RUNNERS))
@pytest.mark.parametrize("kwargs,arg,error", [
    (dict(bound=math.nan), "bound", ValueError),
    (dict(bound=-1.0), "bound", ValueError),
    (dict(bound="1"), "bound", TypeError),
    (dict(dim=0), "dim", ValueError),
    (dict(dim=2.0), "dim", TypeError),
    (dict(dim=3), "theta0", ValueError),
])
def test_runs_reject_bad_options_by_name(name, kwargs, arg, error):
    with pytest.raises(error, match=arg):
        RUNNERS[name]([1.0, 2.0], **kwargs)


@pytest.mark.parametrize("kwargs,arg,error", [
    (dict(max_growth=math.inf), "max_growth", ValueError),
    (dict(loss_fn=3), "loss_fn", TypeError),
    (dict(vectorized=None), "vectorized", ValueError),
])
def test_run_many_rejects_bad_options_by_name(kwargs, arg, error):
    with pytest.raises(error, match=arg):
        optim.run_many([(optim.gd_step, dict(lr=0.1))], _linear_grad,
                       [1.0, 2.0], 3, **kwargs)
    with pytest.raises(TypeError, match="grad_fn"):
        optim.run_many([(optim.gd_step, dict(lr=0.1))], None, [1.0], 3)
    with pytest.raises(TypeError, match="runs"):
        optim.run_many({optim.gd_step: dict(lr=0.1)}, _linear_grad, [1.0], 3)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), n=st.integers(1, 6), d=st.integers(1, 3))
def test_diverged_at_finds_the_first_non_finite_row(data, n, d):
    path = data.draw(with_nonfinite((n, d)))
    bad_rows = np.flatnonzero(~np.isfinite(path).all(axis=1))
    assert optim.diverged_at(path) == int(bad_rows[0])
    assert optim.diverged_at(np.zeros((n, d))) is None


@settings(max_examples=20, deadline=None)
@given(data=st.data(), shape=degenerate_shapes)
def test_diverged_at_on_degenerate_shapes_and_wrong_kinds(data, shape):
    result, error = correct_or_named_error(
        lambda: optim.diverged_at(np.ones(shape)), "path")
    assert (error is None) == (len(shape) == 2)
    if error is None:
        assert result is None
    _, error = correct_or_named_error(
        lambda: optim.diverged_at(data.draw(wrong_kind((2, 2)))), "path")
    assert isinstance(error, TypeError)


# -------------------------------------------- schedules, clipping, Newton

SCHEDULES = [
    (optim.step_lr, dict(lr=0.1, step_size=2)),
    (optim.cosine_annealing_lr, dict(lr=0.1, T_max=5)),
    (optim.linear_lr, dict(lr=0.1)),
]


@pytest.mark.parametrize("fn,kwargs", SCHEDULES)
@settings(max_examples=40, deadline=None)
@given(value=st.one_of(st.sampled_from([math.nan, math.inf, -math.inf,
                                        None, "1", True]),
                       st.floats(allow_nan=True, allow_infinity=True)),
       arg=st.sampled_from(["lr", "gamma", "eta_min", "start_factor",
                            "end_factor"]))
def test_schedules_give_a_rate_or_a_named_error(fn, kwargs, value, arg):
    if arg not in inspect.signature(fn).parameters:
        return
    result, error = correct_or_named_error(
        lambda: fn(3, **dict(kwargs, **{arg: value})), arg)
    if error is None:
        assert isinstance(result, float) and math.isfinite(result)
        assert result >= 0


@settings(max_examples=40, deadline=None)
@given(data=st.data(), shapes_=st.lists(degenerate_shapes, min_size=1,
                                        max_size=3),
       norm_type=st.sampled_from([1.0, 2.0, 3.0]))
def test_clip_grad_norm_on_degenerate_shapes_equals_torch(data, shapes_,
                                                          norm_type):
    grads = [np.full(s, 2.0) for s in shapes_]
    clipped, total = optim.clip_grad_norm(grads, 1.0, norm_type=norm_type)
    params = []
    for g in grads:
        p = torch.zeros(g.shape, dtype=torch.float64, requires_grad=True)
        p.grad = torch.tensor(g)
        params.append(p)
    expected = float(torch.nn.utils.clip_grad_norm_(params, 1.0,
                                                    norm_type=norm_type))
    assert total == pytest.approx(expected, rel=1e-12)
    for c, p in zip(clipped, params):
        np.testing.assert_allclose(c, p.grad.numpy(), rtol=1e-12)
    _, error = correct_or_named_error(
        lambda: optim.clip_grad_norm([np.ones(2), data.draw(wrong_kind(
            (2,)))], 1.0), "grads[1]")
    assert isinstance(error, TypeError)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), n=st.integers(1, 4),
       which=st.sampled_from(["theta", "grad", "hess"]))
def test_newton_step_non_finite_input(data, n, which):
    """NaN or inf in theta or grad propagates as in the formula; in the
    Hessian it is an error (positive definiteness is undefined)."""
    args = dict(theta=np.ones(n), grad=np.full(n, 0.5), hess=2 * np.eye(n))
    args[which] = data.draw(with_nonfinite(args[which].shape))
    result, error = correct_or_named_error(
        lambda: optim.newton_step(args["theta"], args["grad"],
                                  args["hess"]), "hess")
    if which == "hess":
        assert isinstance(error, ValueError)
        return
    with np.errstate(invalid="ignore"):
        expected = args["theta"] - np.linalg.solve(args["hess"],
                                                   args["grad"])
    np.testing.assert_array_equal(result[0], expected)


@settings(max_examples=20, deadline=None)
@given(data=st.data(), shape=degenerate_shapes)
def test_newton_and_power_iteration_on_degenerate_shapes(data, shape):
    n = int(np.prod(shape))
    theta = np.ones(shape)
    result, error = correct_or_named_error(
        lambda: optim.newton_step(theta, theta, 4 * np.eye(n)), "hess")
    assert error is None and np.shape(result[0]) == shape
    np.testing.assert_allclose(result[0], np.full(shape, 0.75))
    result, error = correct_or_named_error(
        lambda: optim.top_hessian_eigenvalue(
            lambda t: 3 * t, theta, rng=np.random.default_rng(0)), "theta")
    if n == 0:
        assert isinstance(error, ValueError)
    else:
        assert result == pytest.approx(3.0, rel=1e-8)
    for which in ("theta", "grad", "hess"):
        args = dict(theta=np.ones(2), grad=np.ones(2), hess=np.eye(2))
        args[which] = data.draw(wrong_kind(args[which].shape))
        _, error = correct_or_named_error(lambda: optim.newton_step(
            args["theta"], args["grad"], args["hess"]), which)
        assert isinstance(error, TypeError)


# ------------------------------------------------------------- landscapes

LANDS = [landscapes.quadratic(10.0), landscapes.rosenbrock(),
         landscapes.himmelblau(), landscapes.saddle(),
         landscapes.noisy(landscapes.saddle(), noise=0.1, seed=1)]


@pytest.mark.parametrize("land", LANDS, ids=lambda land: land.label)
@settings(max_examples=30, deadline=None)
@given(data=st.data(), n=st.integers(1, 4))
def test_landscapes_propagate_non_finite_points_row_by_row(land, data, n):
    pts = data.draw(with_nonfinite((n, 2)))
    bad = ~np.isfinite(pts).all(axis=1)
    with np.errstate(invalid="ignore", over="ignore"):
        loss = land.loss(pts)
        grad = land.grad(pts)
    assert loss.shape == (n,) and grad.shape == (n, 2)
    np.testing.assert_array_equal(~np.isfinite(loss), bad)
    np.testing.assert_array_equal(~np.isfinite(grad).all(axis=1), bad)
    if land.name == "quadratic" or "noisy" not in land.label:
        np.testing.assert_array_equal(loss[~bad], land.loss(pts[~bad]))


@pytest.mark.parametrize("land", LANDS, ids=lambda land: land.label)
@settings(max_examples=20, deadline=None)
@given(data=st.data(), shape=degenerate_shapes)
def test_landscapes_on_degenerate_shapes_and_wrong_kinds(land, data,
                                                         shape):
    for fn in (land.loss, land.grad):
        _, error = correct_or_named_error(lambda: fn(np.ones(shape)),
                                          "theta")
        assert isinstance(error, ValueError)  # the last axis is not 2
        _, error = correct_or_named_error(
            lambda: fn(data.draw(wrong_kind((3, 2)))), "theta")
        assert isinstance(error, TypeError)


@settings(max_examples=30, deadline=None)
@given(value=st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                       st.sampled_from([None, "1", True, 3])))
def test_landscape_factories_give_a_landscape_or_a_named_error(value):
    for call, name in [(lambda: landscapes.quadratic(value), "condition"),
                       (lambda: landscapes.noisy(LANDS[0], noise=value),
                        "noise"),
                       (lambda: LANDS[1].grid(value), "n")]:
        result, error = correct_or_named_error(call, name)
        if error is None:
            assert isinstance(result, (landscapes.Landscape, tuple))


# ------------------------------------------------------------------ check

def _returns(value):
    return lambda *args, **kwargs: value


BAD_STUDENTS = {
    "nan array": lambda *a, **k: np.full(np.shape(a[0]), np.nan),
    "complex": lambda *a, **k: np.zeros(np.shape(a[0]), complex),
    "strings": _returns(np.array(["a"])),
    "None": _returns(None),
    "ragged list": _returns([1.0, [2.0]]),
    "a generator": lambda *a, **k: (x for x in a),
    "raises KeyError": lambda *a, **k: {}["x"],
    "recursion": lambda *a, **k: BAD_STUDENTS["recursion"](*a, **k),
}


@pytest.mark.parametrize("checker", check.available())
@pytest.mark.parametrize("student", sorted(BAD_STUDENTS))
def test_a_checker_reports_any_broken_student_and_never_crashes(checker,
                                                                student):
    result = getattr(check, checker)(BAD_STUDENTS[student], time_limit=10)
    assert not result and result.failures
    assert f"check.{checker}: FAILED" in str(result)


# ------------------------------------------------------------ docstrings

PUBLIC = ([getattr(optim, n) for n in optim.__all__
           if callable(getattr(optim, n)) and n not in ("Run",)]
          + [getattr(landscapes, n) for n in landscapes.__all__
             if callable(getattr(landscapes, n)) and n != "Landscape"]
          + [landscapes.Landscape.grid]
          + [getattr(check, n) for n in check.__all__
             if n not in ("CheckResult", "Failure")])


@pytest.mark.parametrize("fn", PUBLIC, ids=lambda f: f.__qualname__)
def test_every_public_function_says_which_chapter_uses_it(fn):
    pages = used_in_pages(fn)
    assert pages is not None, used_in(fn)
    for page in pages:
        assert page in ("README.md", "book/deep.md") or (
            ROOT / page).exists(), page
    # the source documents are cited by their bibliography keys
    assert not re.search(r"seed 00\d", inspect.getdoc(fn), re.IGNORECASE)
