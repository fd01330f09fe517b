"""Optimizer explorer: time to recompute four trajectories of 300 steps on
Rosenbrock (GD, momentum, RMSprop, Adam), what the live widget does on
every slider move, with ``optim.run_many(..., vectorized=True)``.

Target (issue 18): at most 8 ms, half a frame at 60 Hz. The time is an
absolute one, so it is printed as the best of many repeats with their
spread, and also as CPU time (``time.process_time``), which other
processes on a shared machine disturb much less than the wall clock;
torch.optim doing the same four runs is printed beside it for scale.

Correctness, checked first: run_many's paths equal four separate
``optim.run`` calls bit for bit, and torch.optim's paths to 1e-8 of their
scale (the tolerance of tests/test_optim.py for 300 steps). The script
exits non-zero only if a check fails.

    python benchmarks/bench_optim.py
"""

import os
import time
import timeit

import _harness  # first: it sets the BLAS threads before NumPy loads
import numpy as np
import torch

from calc_nn import landscapes, optim

LAND = landscapes.rosenbrock()
RUNS = [(optim.gd_step, torch.optim.SGD, dict(lr=1e-3)),
        (optim.momentum_step, torch.optim.SGD, dict(lr=1e-3, momentum=0.9)),
        (optim.rmsprop_step, torch.optim.RMSprop, dict(lr=1e-2)),
        (optim.adam_step, torch.optim.Adam, dict(lr=5e-2))]
N_STEPS = 300
TARGET_MS = 8.0


def calc_nn_four():
    """What the explorer does: the four optimizers in one loop, one
    batched gradient call per step."""
    return optim.run_many([(step, hyper) for step, _, hyper in RUNS],
                          LAND.grad, LAND.start, N_STEPS, vectorized=True)


def calc_nn_four_separately():
    return [optim.run(step, LAND.grad, LAND.start, N_STEPS, **hyper)
            for step, _, hyper in RUNS]


def torch_four():
    paths = []
    for _, opt_class, hyper in RUNS:
        p = torch.tensor(LAND.start, dtype=torch.float64, requires_grad=True)
        opt = opt_class([p], **hyper)
        path = [p.detach().numpy().copy()]
        for _ in range(N_STEPS):
            opt.zero_grad()
            ((1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2).backward()
            opt.step()
            path.append(p.detach().numpy().copy())
        paths.append(np.array(path))
    return paths


def check():
    """Record a failed check in _harness.FAILED (and print it)."""
    many = calc_nn_four()
    for res, one, ref, (step, _, _) in zip(
            many, calc_nn_four_separately(), torch_four(), RUNS):
        name = step.__name__
        if not np.array_equal(res.path, one.path, equal_nan=True):
            _harness.FAILED.append(f"{name}: run_many != run")
            print(f"   CHECK FAILED {name}: run_many differs from run")
        scale = float(np.abs(ref).max())
        err = float(np.abs(res.path - ref).max())
        if not err <= 1e-8 * scale:
            _harness.FAILED.append(f"{name}: torch")
            print(f"   CHECK FAILED {name}: max error {err:.3g} against "
                  f"torch.optim > 1e-8 * {scale:.3g}")


def timings(fn, number=5, repeat=21, timer=time.perf_counter):
    """Milliseconds per call of each of ``repeat`` runs of ``number``
    calls, after a warm-up call."""
    fn()
    return 1e3 * np.array(timeit.repeat(fn, number=number, repeat=repeat,
                                        timer=timer)) / number


def main():
    _harness.print_machine(f"optimizer explorer: four {N_STEPS}-step "
                           f"trajectories on Rosenbrock")
    check()
    ours, separate = timings(calc_nn_four), timings(calc_nn_four_separately)
    theirs = timings(torch_four, number=1, repeat=5)
    print(f"   run_many: best {ours.min():.2f} ms, median "
          f"{np.median(ours):.2f} ms, worst {ours.max():.2f} ms over "
          f"{len(ours)} repeats; target <= {TARGET_MS:g} ms: "
          f"{'met' if ours.min() <= TARGET_MS else 'NOT met'}")
    cpu = timings(calc_nn_four, timer=time.process_time)
    print(f"   run_many CPU time: best {cpu.min():.2f} ms, median "
          f"{np.median(cpu):.2f} ms (load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    print(f"   four separate runs: best {separate.min():.2f} ms")
    _harness.report([("run_many, 4 x 300 steps", ours.min() / 1e3,
                      theirs.min() / 1e3)])
    _harness.finish()


if __name__ == "__main__":
    main()
