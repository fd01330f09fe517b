"""Convolution: calc_nn (NumPy) against PyTorch, forward + backward.

Times ``conv2d_forward`` + ``conv2d_backward`` and
``torch.nn.functional.conv2d`` + autograd's backward in one process on the
same float32 inputs: a batch of N=64 images, C=32 channels of 28x28, F=64
filters of 3x3, padding 1. PyTorch gets as many threads as NumPy's BLAS
(``BENCH_THREADS``, default all cores, also exported as
``OPENBLAS_NUM_THREADS`` before NumPy is imported). Prints the ratio
calc_nn / torch (lower is better), the GFLOP/s of both, and the GFLOP/s of
one float32 matrix product of the same size as the forward pass, which
bounds what an im2col convolution can reach. The machine is shared and
noisy: compare ratios, not times.

    python benchmarks/bench_conv.py
"""

import os

THREADS = int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1))
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, str(THREADS))

import timeit  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as tF  # noqa: E402

from calc_nn import conv  # noqa: E402

torch.set_num_threads(THREADS)
N, C, H, W, F, K, PAD = 64, 32, 28, 28, 64, 3, 1


def best_of(fn, number=3, repeat=7):
    fn()  # warm up (allocations, thread pools)
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def main():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = (rng.standard_normal((F, C, K, K)) / np.sqrt(C * K * K)).astype(
        np.float32)
    b = rng.standard_normal(F).astype(np.float32)
    Ho = conv.conv2d_output_size(H, K, 1, PAD)
    dout = rng.standard_normal((N, F, Ho, Ho)).astype(np.float32)

    def ours():
        out, cache = conv.conv2d_forward(x, w, b, padding=PAD)
        return conv.conv2d_backward(dout, cache)

    xt, wt, bt = (torch.from_numpy(a).requires_grad_(True)
                  for a in (x, w, b))
    dout_t = torch.from_numpy(dout)

    def ref():
        xt.grad = wt.grad = bt.grad = None
        out = tF.conv2d(xt, wt, bt, padding=PAD)
        out.backward(dout_t)
        return xt.grad, wt.grad, bt.grad

    # same answer before timing anything
    for got, want in zip(ours(), ref()):
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-3, atol=1e-3)

    # forward, dx and dw are each 2*N*Ho*Wo*F*C*K*K flops
    flops = 3 * 2 * N * Ho * Ho * F * C * K * K
    ours_t, ref_t = best_of(ours), best_of(ref)
    a = rng.standard_normal((N * Ho * Ho, C * K * K)).astype(np.float32)
    m = rng.standard_normal((C * K * K, F)).astype(np.float32)
    mm_t = best_of(lambda: a @ m, number=10)
    mm_flops = 2 * a.shape[0] * a.shape[1] * m.shape[1]

    print(f"conv2d forward + backward, x ({N}, {C}, {H}, {W}) float32, "
          f"w ({F}, {C}, {K}, {K}), padding {PAD}, {THREADS} thread(s)")
    print(f"  calc_nn {ours_t * 1e3:7.1f} ms  {flops / ours_t / 1e9:6.1f} "
          "GFLOP/s")
    print(f"  torch   {ref_t * 1e3:7.1f} ms  {flops / ref_t / 1e9:6.1f} "
          "GFLOP/s")
    print(f"  limit: NumPy float32 matmul ({a.shape[0]}x{a.shape[1]} @ "
          f"{m.shape[0]}x{m.shape[1]}) {mm_flops / mm_t / 1e9:6.1f} GFLOP/s")
    print(f"  ratio calc_nn / torch = {ours_t / ref_t:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
