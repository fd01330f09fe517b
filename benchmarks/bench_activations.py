"""Activations: calc_nn (NumPy) against PyTorch, forward + local derivative.

For each activation, on the same float32 input of shape (256, 4096) (a batch
of 256 hidden layers of width 4096): calc_nn's function and its local
derivative against PyTorch's function and autograd's backward (with an
upstream gradient of ones, so that the gradient is the local derivative).
PyTorch runs on one thread, like NumPy's elementwise functions. The input
is 4 times a standard normal sample with 8 extreme entries (0, -0, +-30,
+-88, +-1e4): the sigmoid's times include the pass that finds the entries
where e^{-x} or cosh x overflowed and their fix.

Each result is first checked against PyTorch's, entry by entry, to a
tolerance derived from the arithmetic: a few float32 ulps relative for an
elementwise function; plus a few eps *absolute* for derivatives PyTorch
computes from its output (``y (1 - y)``, ``1 - y^2``: the rounding of ``y``
is all that is left where the derivative is tiny); plus sqrt(C) eps
relative for softmax, whose denominator is a sum of C terms. Then both
sides are timed, alternately, in several rounds (the machine is shared):
the tables show the best times by the wall clock and in CPU time (which
leaves out the time other processes hold the CPU), each followed by the
spread of the ratio over the rounds. The target is calc_nn at most 1.5x
PyTorch's time. The script exits non-zero only if a check fails.

    python benchmarks/bench_activations.py
"""

import time
import timeit

import _harness  # before NumPy: it sets the thread counts
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as tF  # noqa: E402

from calc_nn import activations as act  # noqa: E402

torch.set_num_threads(1)
SHAPE = (256, 4096)
TARGET = 1.5
ROUNDS = 5
EPS = float(np.finfo(np.float32).eps)
TINY = float(np.finfo(np.float32).tiny)  # below it, float32 is subnormal


def with_grad(f, f_grad):
    """calc_nn's forward and local derivative."""
    return lambda x: (f(x), f_grad(x))


def sigmoid_from_output(x):
    """The backward as PyTorch does it: the derivative from the output."""
    y = act.sigmoid(x)
    return y, act.sigmoid_grad(x, y)


def torch_pair(fn):
    """PyTorch's forward and autograd's gradient of sum(f(x))."""
    def run(t):
        t = t.detach().requires_grad_(True)
        y = fn(t)
        y.backward(torch.ones_like(y))
        return y, t.grad
    return run


# name -> (calc_nn, torch, relative and absolute tolerance of the value and
# of the derivative, in float32 eps)
CASES = {
    "sigmoid (derivative from y)": (
        sigmoid_from_output, torch_pair(torch.sigmoid), (4, 0), (8, 2)),
    "sigmoid (derivative from x)": (
        with_grad(act.sigmoid, act.sigmoid_grad),
        torch_pair(torch.sigmoid), (4, 0), (8, 2)),
    "tanh": (with_grad(act.tanh, act.tanh_grad), torch_pair(torch.tanh),
             (4, 0), (8, 4)),
    "relu": (with_grad(act.relu, act.relu_grad), torch_pair(torch.relu),
             (0, 0), (0, 0)),
    "leaky_relu": (
        with_grad(lambda x: act.leaky_relu(x, 0.01),
                  lambda x: act.leaky_relu_grad(x, 0.01)),
        torch_pair(lambda t: tF.leaky_relu(t, 0.01)), (0, 0), (0, 0)),
    "softmax": (act.softmax, lambda t: torch.softmax(t, dim=-1),
                (4 + np.sqrt(SHAPE[-1]), 0), None),
}


def check(name, ours, ref, tol):
    """Record a failure unless |ours - ref| <= (rel |ref| + abs) eps, entry
    by entry, with a floor at the subnormal range."""
    rel, ab = tol
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    allowed = (rel * np.abs(ref) + ab) * EPS + TINY
    err = np.abs(ours - ref)
    if ours.shape != ref.shape or not np.all(err <= allowed):
        worst = np.unravel_index(np.argmax(err - allowed), err.shape)
        _harness.FAILED.append(name)
        print(f"   CHECK FAILED {name}: at {worst} calc_nn {ours[worst]!r}"
              f", torch {ref[worst]!r}, allowed {allowed[worst]:.3g}")


def check_case(name, ours, ref, value_tol, grad_tol, x, t):
    out, expected = ours(x), ref(t)
    if grad_tol is None:  # softmax: a value only
        check(name, out, expected.numpy(), value_tol)
        return
    check(f"{name} value", out[0], expected[0].detach().numpy(), value_tol)
    check(f"{name} derivative", out[1], expected[1].numpy(), grad_tol)


def cpu_best_of(fn, number=3, repeat=7):
    """As ``_harness.best_of``, in CPU time of this process: both sides run
    on one thread, and on a shared machine the wall clock also counts the
    time other processes hold the CPU."""
    fn()
    return min(timeit.repeat(fn, number=number, repeat=repeat,
                             timer=time.process_time)) / number


def timed_rounds(ours, ref, x, t, timer):
    """Best times of both over ROUNDS alternating rounds, and the ratio of
    each round."""
    times = [(timer(lambda: ours(x)), timer(lambda: ref(t)))
             for _ in range(ROUNDS)]
    best = (min(o for o, _ in times), min(r for _, r in times))
    return best, [o / r for o, r in times]


def print_table(title, results):
    """The harness's table of best times, then the spread of the ratio."""
    print(f"   {title}")
    _harness.report([(name, *best) for name, best, _ in results],
                    {name: TARGET for name, _, _ in results})
    for name, _, ratios in results:
        print(f"   {name:<28} ratio per round: min {min(ratios):.2f}  "
              f"median {np.median(ratios):.2f}  max {max(ratios):.2f}")


def main():
    _harness.print_machine(f"activations: forward + local derivative, "
                           f"float32 {SHAPE}, torch 1 thread")
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SHAPE).astype(np.float32) * 4
    x[0, :8] = [0.0, -0.0, 30.0, -30.0, 88.0, -88.0, 1e4, -1e4]  # extremes
    t = torch.from_numpy(x)
    wall, cpu = [], []
    for name, (ours, ref, value_tol, grad_tol) in CASES.items():
        check_case(name, ours, ref, value_tol, grad_tol, x, t)
        wall.append((name, *timed_rounds(ours, ref, x, t, _harness.best_of)))
        cpu.append((name, *timed_rounds(ours, ref, x, t, cpu_best_of)))
    print_table(f"wall clock, best of {ROUNDS} rounds of 7x3 calls:", wall)
    print_table(f"CPU time of this process, best of {ROUNDS} rounds:", cpu)
    _harness.finish()


if __name__ == "__main__":
    main()
