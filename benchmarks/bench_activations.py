"""Activations: calc_nn (NumPy) against PyTorch, forward + local derivative.

Times both in one process on the same float32 input and prints the ratio
calc_nn / torch (lower is better; 1.0 means as fast as PyTorch). The machine
is shared and noisy: compare ratios, not absolute times. Torch is limited to
one thread, like NumPy's elementwise functions.

    python benchmarks/bench_activations.py
"""

import timeit

import numpy as np
import torch

from calc_nn import activations as act

torch.set_num_threads(1)
SHAPE = (256, 4096)  # a batch of 256 hidden layers of width 4096


def best_of(fn, number=10, repeat=5):
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def torch_pair(fn):
    def run(t):
        t = t.detach().requires_grad_(True)
        y = fn(t)
        y.backward(torch.ones_like(y))
        return y, t.grad
    return run


CASES = {
    "sigmoid": (lambda x: (act.sigmoid(x), act.sigmoid_grad(x)),
                torch_pair(torch.sigmoid)),
    "tanh": (lambda x: (act.tanh(x), act.tanh_grad(x)),
             torch_pair(torch.tanh)),
    "relu": (lambda x: (act.relu(x), act.relu_grad(x)),
             torch_pair(torch.relu)),
    "leaky_relu": (lambda x: (act.leaky_relu(x, 0.01),
                              act.leaky_relu_grad(x, 0.01)),
                   torch_pair(lambda t: torch.nn.functional.leaky_relu(
                       t, 0.01))),
    "softmax": (lambda x: act.softmax(x),
                lambda t: torch.softmax(t, dim=-1)),
}


def main():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SHAPE).astype(np.float32) * 4
    t = torch.from_numpy(x)
    print(f"input {SHAPE} float32, forward + derivative, best of 5")
    print(f"{'function':>11} {'calc_nn ms':>11} {'torch ms':>9} "
          f"{'ratio':>6}")
    for name, (ours, ref) in CASES.items():
        ours_t = best_of(lambda: ours(x))
        ref_t = best_of(lambda: ref(t))
        print(f"{name:>11} {1e3 * ours_t:11.2f} {1e3 * ref_t:9.2f} "
              f"{ours_t / ref_t:6.2f}")


if __name__ == "__main__":
    main()
