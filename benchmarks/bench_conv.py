"""Convolution and pooling: calc_nn (NumPy) against PyTorch, forward +
backward, in one process.

Cases: the benchmark case (x 64x32x28x28, 64 3x3 filters, padding 1) and
the digits chapter's CNN (``train.SmallCNN``: batches of 128, 3x3 kernels
with padding 1 and 2x2 max pooling, channels (8, 16) in the offline run
and (16, 32) in the full run), each in float32 and float64. Every case
first checks calc_nn's output and gradients against PyTorch's with a
tolerance derived from the number of products each entry sums
(``_harness.check_close``); the check itself is shown to catch a flipped
kernel and a one-pixel shift. Then calc_nn and PyTorch are timed in turns,
``BENCH_ROUNDS`` rounds (default 5): the table gives the best time of
each and their ratio (lower is better; target <= 1.0, first milestone
1.2), then the spread of the per-round ratios. PyTorch computes the
gradient of the input too (``x.requires_grad``), as calc_nn does.

Also printed: the NumPy matrix products the convolution cannot avoid (three
of the forward's size: forward, dx, dW) against PyTorch's whole pass, a
floor for any im2col implementation on this BLAS, and calc_nn's peak
extra memory against the input's size. The machine is shared and noisy:
compare ratios, not times. Exits non-zero only if a check fails.

    python benchmarks/bench_conv.py
"""

import _harness as h  # noqa: I001  (first: sets the BLAS threads)

import os
import statistics
import tracemalloc

import numpy as np
import torch
import torch.nn.functional as tF

from calc_nn import conv

ROUNDS = int(os.environ.get("BENCH_ROUNDS", 5))
TARGET = 1.0
# name: (N, C, H=W, F, kernel, padding)
CONV_CASES = {
    "bench conv 32->64": (64, 32, 28, 64, 3, 1),
    "digits conv1 1->8": (128, 1, 28, 8, 3, 1),
    "digits conv2 8->16": (128, 8, 14, 16, 3, 1),
    "full conv1 1->16": (128, 1, 28, 16, 3, 1),
    "full conv2 16->32": (128, 16, 14, 32, 3, 1),
}
# name: (N, C, H=W), 2x2 pooling ("full": the full run's channels)
POOL_CASES = {
    "digits pool1 8x28": (128, 8, 28),
    "digits pool2 16x14": (128, 16, 14),
    "full pool1 16x28": (128, 16, 28),
}


def timed_in_turns(ours, ref):
    """Per-round best seconds of ``ours`` and ``ref``, timed alternately
    so that both see the same load."""
    number = max(1, int(0.02 / max(h.best_of(ours, 1, 1), 1e-6)))
    rounds = []
    for _ in range(ROUNDS):
        rounds.append((h.best_of(ours, number, 3),
                       h.best_of(ref, number, 3)))
    return rounds


def conv_case(N, C, H, F, k, p, dtype):
    """Inputs, calc_nn's and PyTorch's passes, and the sums' sizes."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, H)).astype(dtype)
    W = (rng.standard_normal((F, C, k, k)) / np.sqrt(C * k * k)).astype(
        dtype)
    b = rng.standard_normal(F).astype(dtype)
    Ho = conv.conv2d_output_size(H, k, 1, p)
    dout = rng.standard_normal((N, F, Ho, Ho)).astype(dtype)

    def ours():
        out, cache = conv.conv2d_forward(x, W, b, padding=p)
        return (out, *conv.conv2d_backward(dout, cache))

    xt, Wt, bt = (torch.from_numpy(a).requires_grad_(True)
                  for a in (x, W, b))
    dout_t = torch.from_numpy(dout)

    def ref():
        xt.grad = Wt.grad = bt.grad = None
        out = tF.conv2d(xt, Wt, bt, padding=p)
        out.backward(dout_t)
        return out.detach(), xt.grad, Wt.grad, bt.grad

    # products summed by one entry of out, dx, dW, db
    terms = (C * k * k + 1, F * k * k, N * Ho * Ho, N * Ho * Ho)
    return ours, ref, terms, x


def check(name, ours, ref, terms):
    for part, got, want, k in zip(("out", "dx", "dW", "db"), ours(), ref(),
                                  terms):
        h.check_close(f"{name} {part}", got, want.numpy(), n_terms=k)


def check_catches_bugs():
    """The tolerance allows another summation order, not a real bug: a
    flipped kernel, or a padding off by one (two columns on the left, none
    on the right), must exceed it."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 4, 10, 10)).astype(np.float32)
    W = (rng.standard_normal((6, 4, 3, 3)) / 6).astype(np.float32)
    reference = tF.conv2d(torch.from_numpy(x), torch.from_numpy(W),
                          padding=1).numpy()
    tol = h.sum_tolerance(np.float32, 4 * 9, float(np.abs(reference).max()))
    off_by_one = np.pad(x, ((0, 0), (0, 0), (1, 1), (2, 0)))
    results = {
        "correct": conv.conv2d_forward(x, W, padding=1)[0],
        "flipped kernel": conv.conv2d_forward(x, W[:, :, ::-1, ::-1],
                                              padding=1)[0],
        "padding off by one": conv.conv2d_forward(off_by_one, W)[0]}
    errors = {name: float(np.abs(out - reference).max())
              for name, out in results.items()}
    fine = (errors["correct"] <= tol < min(errors["flipped kernel"],
                                           errors["padding off by one"]))
    print("   check: tolerance " + f"{tol:.2g}; max error " + ", ".join(
        f"{name} {err:.2g}" for name, err in errors.items())
        + ("" if fine else "  CHECK CANNOT TELL A BUG"))
    if not fine:
        h.FAILED.append("the check's own test")


def matmul_floor(N, C, H, F, k, p, dtype, ref_seconds):
    """Three NumPy products of the forward's size against PyTorch's pass:
    what im2col + BLAS cannot go below."""
    rng = np.random.default_rng(1)
    Ho = conv.conv2d_output_size(H, k, 1, p)
    a = rng.standard_normal((F, C * k * k)).astype(dtype)
    m = rng.standard_normal((C * k * k, N * Ho * Ho)).astype(dtype)
    t = h.best_of(lambda: a @ m, 3, 5)
    flops = 2 * a.shape[0] * a.shape[1] * m.shape[1]
    print(f"   floor: NumPy {np.dtype(dtype).name} matmul {a.shape} @ "
          f"{m.shape}: {flops / t / 1e9:.0f} GFLOP/s; three of them "
          f"(forward, dx, dW) = {3 * t / ref_seconds:.2f}x PyTorch's "
          f"forward + backward")


def peak_memory(fn, x):
    """Peak memory NumPy allocates during ``fn()``, in MB and in units of
    the input's size."""
    fn()
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1e6, peak / x.nbytes


def pool_case(N, C, H, dtype, kind):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((N, C, H, H)).astype(dtype)
    dout = rng.standard_normal((N, C, H // 2, H // 2)).astype(dtype)
    forward, backward = {
        "max": (conv.maxpool2d_forward, conv.maxpool2d_backward),
        "avg": (conv.avgpool2d_forward, conv.avgpool2d_backward)}[kind]
    pool = tF.max_pool2d if kind == "max" else tF.avg_pool2d

    def ours():
        out, cache = forward(x, 2)
        return out, backward(dout, cache)

    xt, dout_t = torch.from_numpy(x).requires_grad_(True), \
        torch.from_numpy(dout)

    def ref():
        xt.grad = None
        out = pool(xt, 2)
        out.backward(dout_t)
        return out.detach(), xt.grad

    return ours, ref


def main():
    h.print_machine("conv2d and pooling, forward + backward: calc_nn "
                    "against PyTorch")
    check_catches_bugs()
    rows, spread = [], []
    for dtype in (np.float32, np.float64):
        tag = "f32" if dtype == np.float32 else "f64"
        for name, shape in CONV_CASES.items():
            ours, ref, terms, x = conv_case(*shape, dtype)
            check(f"{name} {tag}", ours, ref, terms)
            rounds = timed_in_turns(ours, ref)
            rows.append((f"{name} {tag}", min(r[0] for r in rounds),
                         min(r[1] for r in rounds)))
            spread.append((rows[-1][0], [o / t for o, t in rounds]))
            if name.startswith("bench"):
                bench = (shape, dtype, rows[-1][2], peak_memory(ours, x),
                         x.nbytes)
        for name, shape in POOL_CASES.items():
            for kind in ("max", "avg"):
                ours, ref = pool_case(*shape, dtype, kind)
                for got, want in zip(ours(), ref()):  # exact operations
                    h.check_close(f"{name} {kind} {tag}", got, want.numpy(),
                                  n_terms=4)
                rounds = timed_in_turns(ours, ref)
                label = f"{name.replace('pool', kind + 'pool')} {tag}"
                rows.append((label, min(r[0] for r in rounds),
                             min(r[1] for r in rounds)))
                spread.append((label, [o / t for o, t in rounds]))
        shape, dt, ref_seconds, (mb, times), nbytes = bench
        matmul_floor(*shape, dt, ref_seconds)
        print(f"   memory ({tag}, bench case): peak {mb:.1f} MB during "
              f"forward + backward = {times:.1f}x the input "
              f"({nbytes / 1e6:.1f} MB), of which out 2x and dx 1x")
    h.report(rows, {name: TARGET for name, _, _ in rows})
    print(f"   ratio per round ({ROUNDS} rounds, in turns): best / "
          f"median / worst; first milestone 1.2")
    for name, ratios in spread:
        print(f"   {name:<36} {min(ratios):5.2f} "
              f"{statistics.median(ratios):5.2f} {max(ratios):5.2f}")
    h.finish()


if __name__ == "__main__":
    main()
