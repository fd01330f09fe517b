"""What every benchmark shares: threads, the machine line, timing, the
correctness check, and the ratio table.

A benchmark imports this module *before* NumPy and torch (it sets the BLAS
thread count from ``BENCH_THREADS``, default all cores), checks calc_nn's
result against PyTorch's with :func:`check_close`, times both with
:func:`best_of` in the same process, and prints rows with :func:`report`.
``make bench`` runs every ``bench_*.py``; a benchmark exits non-zero only
when a correctness check fails (a ratio above its target is printed, and
marked, but the machine is shared and noisy: ratios are for reading).
"""

import ctypes
import glob
import os
import platform
import sys
import timeit

THREADS = int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1))
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, str(THREADS))

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(THREADS)


def cpu_model() -> str:
    """The processor's model name (Linux), else what ``platform`` says."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas() -> str:
    """NumPy's BLAS library, as ``numpy.show_config`` reports it."""
    try:
        info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{info.get('name', '?')} {info.get('version', '')}".strip()
    except Exception:  # older NumPy: no dict mode
        return "unknown BLAS"


def openblas_kernels() -> str:
    """The kernels NumPy's bundled OpenBLAS loaded (``openblas_get_corename``
    of the library in ``numpy.libs``), and ``OPENBLAS_CORETYPE`` if the
    environment chose them; "" if not found. OpenBLAS picks kernels for
    the processor when NumPy is imported, unless that variable names
    others: on a Zen 5 with AVX-512, ``Haswell`` (AVX2) kernels run a
    float32 product at about 0.6x the speed of ``SkylakeX`` ones."""
    libs = glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir,
                                  "numpy.libs", "*openblas*"))
    for path in libs:
        lib = ctypes.CDLL(path)
        for name in ("scipy_openblas_get_corename64_",
                     "scipy_openblas_get_corename", "openblas_get_corename"):
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                chosen = os.environ.get("OPENBLAS_CORETYPE")
                return f"{fn().decode()} kernels" + (
                    f" (OPENBLAS_CORETYPE={chosen})" if chosen else "")
    return ""


def print_machine(title: str) -> None:
    """One header line: what is measured, and on which machine."""
    print(f"== {title}")
    kernels = openblas_kernels()
    print(f"   {cpu_model()}, {THREADS} thread(s), NumPy {np.__version__} "
          f"({blas()}{', ' + kernels if kernels else ''}), torch "
          f"{torch.__version__}, Python {platform.python_version()}")


def best_of(fn, number: int = 3, repeat: int = 7) -> float:
    """Seconds per call: the best of ``repeat`` runs of ``number`` calls,
    after one warm-up call (allocations, thread pools)."""
    fn()
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def sum_tolerance(dtype, n_terms: int, scale: float) -> float:
    """Absolute tolerance for a sum of ``n_terms`` products computed in
    another order: about sqrt(K)*eps of the largest magnitude ``scale``
    (with a factor 4 of headroom)."""
    eps = float(np.finfo(dtype).eps)
    return 4.0 * np.sqrt(n_terms) * eps * scale


FAILED = []


def check_close(name: str, ours, ref, *, n_terms: int) -> None:
    """Compare ``ours`` with ``ref`` (PyTorch's, as NumPy) entry by entry,
    to the tolerance of a sum of ``n_terms`` terms relative to the largest
    entry of ``ref``; record a failure (and print it) instead of raising,
    so every check runs."""
    ours, ref = np.asarray(ours), np.asarray(ref)
    if ours.shape != ref.shape:
        FAILED.append(name)
        print(f"   CHECK FAILED {name}: shape {ours.shape} != {ref.shape}")
        return
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    tol = sum_tolerance(ref.dtype, n_terms, scale)
    err = float(np.max(np.abs(ours.astype(np.float64) - ref))) \
        if ref.size else 0.0
    if not err <= tol:
        FAILED.append(name)
        print(f"   CHECK FAILED {name}: max error {err:.3g} > tolerance "
              f"{tol:.3g} (sum of {n_terms} terms, scale {scale:.3g})")


def report(rows, targets=None) -> None:
    """Print ``(name, ours_s, ref_s)`` rows as milliseconds and ratios
    ours/ref; a ratio above ``targets[name]`` is marked ``> target``."""
    targets = targets or {}
    print(f"   {'case':<28} {'calc_nn ms':>10} {'torch ms':>9} "
          f"{'ratio':>6}  target")
    for name, ours, ref in rows:
        ratio = ours / ref
        target = targets.get(name)
        mark = "" if target is None else (
            f"<= {target:g}" if ratio <= target else f"> {target:g} !")
        print(f"   {name:<28} {1e3 * ours:10.2f} {1e3 * ref:9.2f} "
              f"{ratio:6.2f}  {mark}")


def finish() -> None:
    """Exit non-zero if any correctness check failed."""
    if FAILED:
        print(f"   {len(FAILED)} correctness check(s) failed: {FAILED}")
        sys.exit(1)
