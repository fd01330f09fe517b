"""Learning-rate schedules (issue 17) against torch.optim.lr_scheduler.

Each calc_nn schedule is the closed form; PyTorch's ``get_last_lr()`` is
computed recursively (each rate from the previous one), so the two agree
to rounding that grows with the number of steps taken. The tolerances
below follow from that arithmetic: every recursive step rounds a few
times (a relative error of a few eps of the rate), and the errors add up.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from calc_nn import optim

EPS = np.finfo(np.float64).eps


def torch_rates(make_scheduler, lr, n_steps):
    """``get_last_lr()[0]`` after 0, 1, ..., n_steps calls of
    ``scheduler.step()``."""
    param = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([param], lr=lr)
    scheduler = make_scheduler(opt)
    rates = [scheduler.get_last_lr()[0]]
    for _ in range(n_steps):
        opt.step()
        scheduler.step()
        rates.append(scheduler.get_last_lr()[0])
    return np.array(rates)


lrs = st.floats(1e-5, 10.0)


@settings(max_examples=60, deadline=None)
@given(lr=lrs, step_size=st.integers(1, 10),
       gamma=st.floats(0.01, 1.5), n=st.integers(0, 60))
def test_step_lr_equals_torch(lr, step_size, gamma, n):
    expected = torch_rates(lambda o: torch.optim.lr_scheduler.StepLR(
        o, step_size=step_size, gamma=gamma), lr, n)
    got = np.array([optim.step_lr(t, lr=lr, step_size=step_size,
                                  gamma=gamma) for t in range(n + 1)])
    # k = t // step_size multiplications by gamma, each rounding once
    k = np.arange(n + 1) // step_size
    np.testing.assert_array_less(np.abs(got - expected),
                                 4 * EPS * (k + 1) * expected + 1e-300)


@settings(max_examples=60, deadline=None)
@given(lr=lrs, T_max=st.integers(1, 40), eta_ratio=st.sampled_from(
    [0.0, 0.0, 0.01, 0.5, 2.0]), periods=st.floats(0, 3.5))
def test_cosine_annealing_lr_equals_torch_past_t_max(lr, T_max, eta_ratio,
                                                     periods):
    eta_min = eta_ratio * lr
    n = int(periods * T_max)
    expected = torch_rates(
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(
            o, T_max=T_max, eta_min=eta_min), lr, n)
    got = np.array([optim.cosine_annealing_lr(t, lr=lr, T_max=T_max,
                                              eta_min=eta_min)
                    for t in range(n + 1)])
    # PyTorch's ratio of cosines: an absolute error of a few eps of
    # |lr - eta_min| per step, plus the rounding of eta_min itself
    t = np.arange(n + 1)
    tol = 8 * EPS * (abs(lr - eta_min) * (t + 1) + eta_min)
    np.testing.assert_array_less(np.abs(got - expected), tol + 1e-300)


@settings(max_examples=60, deadline=None)
@given(lr=lrs, start=st.floats(0.01, 1.0), end=st.floats(0.0, 1.0),
       total=st.integers(1, 30), extra=st.integers(0, 20))
def test_linear_lr_equals_torch_past_total_iters(lr, start, end, total,
                                                 extra):
    n = total + extra
    expected = torch_rates(lambda o: torch.optim.lr_scheduler.LinearLR(
        o, start_factor=start, end_factor=end, total_iters=total), lr, n)
    got = np.array([optim.linear_lr(t, lr=lr, start_factor=start,
                                    end_factor=end, total_iters=total)
                    for t in range(n + 1)])
    t = np.minimum(np.arange(n + 1), total)
    np.testing.assert_array_less(np.abs(got - expected),
                                 8 * EPS * lr * (t + 1) + 1e-300)


def test_the_closed_forms_at_their_landmarks():
    """Exact values a reader can check by hand."""
    assert optim.step_lr(0, lr=0.1, step_size=30) == 0.1
    assert optim.step_lr(29, lr=0.1, step_size=30) == 0.1
    assert optim.step_lr(30, lr=0.1, step_size=30) == pytest.approx(0.01)
    assert optim.step_lr(95, lr=1.0, step_size=30, gamma=0.5) == 0.125
    assert optim.cosine_annealing_lr(0, lr=0.1, T_max=10) == 0.1
    assert optim.cosine_annealing_lr(5, lr=0.1, T_max=10) == \
        pytest.approx(0.05, rel=1e-15)
    assert optim.cosine_annealing_lr(10, lr=0.1, T_max=10,
                                     eta_min=1e-3) == 1e-3
    # past T_max it rises again, with period 2 T_max, as PyTorch's does
    assert optim.cosine_annealing_lr(20, lr=0.1, T_max=10) == 0.1
    assert optim.cosine_annealing_lr(13, lr=0.1, T_max=10) == \
        pytest.approx(optim.cosine_annealing_lr(7, lr=0.1, T_max=10),
                      rel=1e-14)
    assert optim.linear_lr(0, lr=0.3) == pytest.approx(0.1)
    assert optim.linear_lr(5, lr=0.3) == 0.3
    assert optim.linear_lr(500, lr=0.3) == 0.3
    assert optim.linear_lr(2, lr=1.0, start_factor=1.0, end_factor=0.0,
                           total_iters=4) == 0.5


SCHEDULES = {
    "step_lr": (optim.step_lr, dict(lr=0.1, step_size=3)),
    "cosine_annealing_lr": (optim.cosine_annealing_lr, dict(lr=0.1,
                                                            T_max=10)),
    "linear_lr": (optim.linear_lr, dict(lr=0.1)),
}

BAD = [
    ("step", -1, ValueError), ("step", 2.0, TypeError),
    ("step", True, TypeError), ("lr", 0.0, ValueError),
    ("lr", -0.1, ValueError), ("lr", math.nan, ValueError),
    ("lr", math.inf, ValueError), ("lr", "0.1", TypeError),
]
BAD_OWN = [
    ("step_lr", "step_size", 0, ValueError),
    ("step_lr", "step_size", 1.5, TypeError),
    ("step_lr", "gamma", 0.0, ValueError),
    ("step_lr", "gamma", math.nan, ValueError),
    ("cosine_annealing_lr", "T_max", 0, ValueError),
    ("cosine_annealing_lr", "T_max", 10.0, TypeError),
    ("cosine_annealing_lr", "eta_min", -1e-3, ValueError),
    ("cosine_annealing_lr", "eta_min", math.inf, ValueError),
    ("linear_lr", "start_factor", 0.0, ValueError),
    ("linear_lr", "start_factor", 1.5, ValueError),
    ("linear_lr", "end_factor", -0.1, ValueError),
    ("linear_lr", "end_factor", 1.1, ValueError),
    ("linear_lr", "total_iters", 0, ValueError),
    ("linear_lr", "total_iters", 2.5, TypeError),
]


@pytest.mark.parametrize("name", sorted(SCHEDULES))
@pytest.mark.parametrize("arg,value,error", BAD)
def test_bad_step_or_lr_is_a_named_error(name, arg, value, error):
    fn, kwargs = SCHEDULES[name]
    args = dict(kwargs, step=5)
    args[arg] = value
    step = args.pop("step")
    with pytest.raises(error, match=arg):
        fn(step, **args)


@pytest.mark.parametrize("name,arg,value,error", BAD_OWN)
def test_bad_schedule_parameter_is_a_named_error(name, arg, value, error):
    fn, kwargs = SCHEDULES[name]
    with pytest.raises(error, match=arg):
        fn(5, **dict(kwargs, **{arg: value}))


def test_numpy_integers_are_steps():
    assert optim.step_lr(np.int64(6), lr=1.0, step_size=np.int32(3),
                         gamma=0.5) == 0.25
