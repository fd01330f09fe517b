"""calc_nn.mlp.MLP against PyTorch: one forward + backward pass, one process.

The target case is the digits chapter's network, 784-512-256-10 with ReLU,
on a batch of 256 float32 images: ``MLP.forward`` +
``losses.cross_entropy_grad`` + ``MLP.backward`` against ``nn.Sequential``
+ ``F.cross_entropy`` + autograd's ``backward``. Target: calc_nn at most
1.3x torch's time. Everything must stay float32: a ReLU mask or a loss
gradient promoted to float64 would double the time, so the script checks
the dtypes of the gradients first.

Two smaller float64 networks (the backpropagation chapter's sizes) follow
for reference. PyTorch gets as many threads as NumPy's BLAS
(``BENCH_THREADS``, default all cores, exported as ``OPENBLAS_NUM_THREADS``
before NumPy is imported). The machine is shared and noisy: compare
ratios, not times.

    python benchmarks/bench_mlp.py
"""

import os

THREADS = int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1))
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, str(THREADS))

import timeit  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as tF  # noqa: E402

from calc_nn import losses  # noqa: E402
from calc_nn.mlp import MLP  # noqa: E402

torch.set_num_threads(THREADS)


def best_of(fn, number=5, repeat=7):
    fn()  # warm up (allocations, thread pools)
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def torch_twin(model, dtype):
    sizes = model.layer_sizes
    mods = []
    for i, (W, b) in enumerate(zip(model.weights, model.biases)):
        lin = torch.nn.Linear(sizes[i], sizes[i + 1]).to(dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W))
            lin.bias.copy_(torch.from_numpy(b))
        mods.append(lin)
        if i < len(sizes) - 2:
            mods.append(torch.nn.ReLU())
    return torch.nn.Sequential(*mods)


def compare(sizes, n, dtype):
    rng = np.random.default_rng(0)
    X = rng.random((n, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], n)
    model = MLP(sizes, "relu", seed=0, dtype=dtype)
    net = torch_twin(model, getattr(torch, np.dtype(dtype).name))
    tX, ty = torch.from_numpy(X), torch.from_numpy(y)

    def ours():
        logits = model.forward(X)
        return model.backward(losses.cross_entropy_grad(logits, y))

    def theirs():
        net.zero_grad()
        tF.cross_entropy(net(tX), ty).backward()

    dWs, dbs = ours()
    bad = [g.dtype for g in dWs + dbs if g.dtype != np.dtype(dtype)]
    if bad:
        raise SystemExit(f"dtype promoted: gradients are {bad}, not {dtype}")
    theirs()
    err = max(float(np.max(np.abs(g - p.grad.numpy())))
              for g, p in zip(dWs, [m.weight for m in net
                                     if isinstance(m, torch.nn.Linear)]))
    t_ours, t_torch = best_of(ours), best_of(theirs)
    print(f"MLP {'-'.join(map(str, sizes))}, batch {n}, "
          f"{np.dtype(dtype).name}: calc_nn {t_ours * 1e3:.2f} ms, "
          f"torch {t_torch * 1e3:.2f} ms, ratio calc_nn/torch "
          f"{t_ours / t_torch:.2f} (max |dW - torch dW| = {err:.1e})")
    return t_ours / t_torch


def main():
    print(f"threads: {THREADS} (torch and BLAS)")
    ratio = compare([784, 512, 256, 10], 256, np.float32)
    print(f"target case ratio: {ratio:.2f} (target <= 1.3)")
    for sizes, n in (([2, 64, 64, 3], 256), ([100, 256, 256, 10], 512)):
        compare(sizes, n, np.float64)


if __name__ == "__main__":
    main()
