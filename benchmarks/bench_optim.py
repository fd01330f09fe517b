"""Optimizer explorer: time to recompute four trajectories of 300 steps on
Rosenbrock (what the live widget does when a slider moves), with calc_nn
and with torch.optim in one process. Target: calc_nn at most 16 ms (one
frame at 60 Hz); the machine is shared and noisy, so the ratio to torch is
printed too.

    python benchmarks/bench_optim.py
"""

import timeit

import torch

from calc_nn import landscapes, optim

torch.set_num_threads(1)
LAND = landscapes.rosenbrock()
RUNS = [(optim.gd_step, torch.optim.SGD, dict(lr=1e-3)),
        (optim.momentum_step, torch.optim.SGD, dict(lr=1e-3, momentum=0.9)),
        (optim.rmsprop_step, torch.optim.RMSprop, dict(lr=1e-2)),
        (optim.adam_step, torch.optim.Adam, dict(lr=5e-2))]
N_STEPS = 300


def calc_nn_four():
    """What the explorer does: the four optimizers in one loop, one batched
    gradient call per step (optim.run_many)."""
    optim.run_many([(step, hyper) for step, _, hyper in RUNS], LAND.grad,
                   LAND.start, N_STEPS)


def calc_nn_four_separately():
    for step, _, hyper in RUNS:
        optim.trajectory(step, LAND.grad, LAND.start, N_STEPS, **hyper)


def torch_four():
    for _, opt_class, hyper in RUNS:
        p = torch.tensor(LAND.start, dtype=torch.float64, requires_grad=True)
        opt = opt_class([p], **hyper)
        for _ in range(N_STEPS):
            opt.zero_grad()
            ((1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2).backward()
            opt.step()


def best_of(fn, number=5, repeat=9):
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


if __name__ == "__main__":
    ours, theirs = best_of(calc_nn_four), best_of(torch_four)
    separate = best_of(calc_nn_four_separately)
    print(f"four trajectories x {N_STEPS} steps on Rosenbrock (best of 9 "
          "repeats of 5 calls)")
    print(f"  calc_nn {ours * 1e3:7.2f} ms (run_many; target <= 16 ms: "
          f"{'met' if ours <= 0.016 else 'NOT met'})")
    print(f"  calc_nn {separate * 1e3:7.2f} ms (four separate runs)")
    print(f"  torch   {theirs * 1e3:7.2f} ms")
    print(f"  ratio calc_nn / torch = {ours / theirs:.2f}")
