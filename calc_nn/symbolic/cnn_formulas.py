r"""SymPy model of a small convolution, for the chapter "CNN layers".

One channel, one filter, stride 1, no padding: an ``n x n`` input ``X``
(symbols ``x_{pq}``), a ``k x k`` kernel ``W`` (``w_{uv}``), a bias ``b``
and the output

.. math:: Y_{ij} = b + \sum_{u,v} W_{uv}\, X_{i+u,\,j+v}

of size ``(n - k + 1) x (n - k + 1)``. With an upstream gradient ``G``
(symbols ``g_{ij}`` standing for :math:`\partial L / \partial Y_{ij}`), the
chain rule gives each gradient as :math:`\sum_{ij} g_{ij}\,\partial
Y_{ij}/\partial\theta`; :func:`gradients` computes these sums with
``sympy.diff``, and :func:`claimed_gradients` builds the three closed forms
the chapter states (correlation, sum, full convolution with the kernel,
that is, full correlation with the flipped kernel) so that the two can be
compared entry by entry.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from calc_nn._validation import check_int

__all__ = [
    "correlate",
    "full_convolve",
    "conv_layer",
    "gradients",
    "claimed_gradients",
    "symbols_matrix",
    "worked_example",
    "conv_terms",
    "maxpool_terms",
    "worked_tables",
    "receptive_field",
]


def symbols_matrix(name: str, rows: int, cols: int) -> sp.Matrix:
    """Matrix of real symbols ``name_{ij}`` (0-based indices).

    Used in: book/cnn.md
    """
    rows, cols = check_int(rows, "rows", low=1), check_int(cols, "cols", low=1)
    return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(
        f"{name}_{{{i}{j}}}", real=True))


def correlate(A: sp.Matrix, K: sp.Matrix) -> sp.Matrix:
    r"""Valid cross-correlation: :math:`(A \star K)_{ij} = \sum_{u,v}
    K_{uv} A_{i+u, j+v}`, shape ``(rows(A) - rows(K) + 1, ...)``.

    Used in: book/cnn.md
    """
    A, K = _check_matrices(A, K, "A", "K", fits=True)
    rows, cols = A.rows - K.rows + 1, A.cols - K.cols + 1
    return sp.Matrix(rows, cols, lambda i, j: sum(
        K[u, v] * A[i + u, j + v]
        for u in range(K.rows) for v in range(K.cols)))


def full_convolve(G: sp.Matrix, K: sp.Matrix) -> sp.Matrix:
    r"""Full convolution :math:`G * K`: pad ``G`` with ``k - 1`` zeros on
    every side and correlate with the kernel flipped in both axes;
    shape ``(rows(G) + rows(K) - 1, ...)``.

    Used in: book/cnn.md
    """
    G, K = _check_matrices(G, K, "G", "K", fits=False)
    kr, kc = K.rows, K.cols
    padded = sp.zeros(G.rows + 2 * (kr - 1), G.cols + 2 * (kc - 1))
    padded[kr - 1:kr - 1 + G.rows, kc - 1:kc - 1 + G.cols] = G
    flipped = sp.Matrix(kr, kc, lambda u, v: K[kr - 1 - u, kc - 1 - v])
    return correlate(padded, flipped)


def conv_layer(n: int = 4, k: int = 2):
    """The symbolic layer: ``(X, W, b, Y)`` with ``Y = X ⋆ W + b``.

    Used in: book/cnn.md
    """
    n, k = _check_sizes(n, k)
    X = symbols_matrix("x", n, n)
    W = symbols_matrix("w", k, k)
    b = sp.Symbol("b", real=True)
    Y = correlate(X, W).applyfunc(lambda e: e + b)
    return X, W, b, Y


def gradients(n: int = 4, k: int = 2):
    r"""Gradients of ``L`` by the chain rule, entry by entry with
    ``sympy.diff``.

    Returns
    -------
    dict with keys "X", "W", "b", "Y", "G" (the upstream symbols) and
    "dX", "dW", "db": :math:`\partial L/\partial\theta = \sum_{ij} g_{ij}\,
    \partial Y_{ij} / \partial \theta` for every entry of ``X``, ``W`` and
    ``b``.

    Used in: book/cnn.md
    """
    X, W, b, Y = conv_layer(n, k)
    m = Y.rows
    G = symbols_matrix("g", m, m)

    def chain(theta):
        return sp.expand(sum(G[i, j] * sp.diff(Y[i, j], theta)
                             for i in range(m) for j in range(m)))

    return {"X": X, "W": W, "b": b, "Y": Y, "G": G,
            "dX": X.applyfunc(chain), "dW": W.applyfunc(chain),
            "db": chain(b)}


def claimed_gradients(grads: dict) -> dict:
    """The closed forms of the chapter, from the same symbols:
    ``dW = X ⋆ G``, ``db = sum(G)``, ``dX = G * W`` (full convolution).

    Used in: book/cnn.md
    """
    X, W, G = _check_grads(grads)
    return {"dW": correlate(X, G).applyfunc(sp.expand),
            "db": sum(G),
            "dX": full_convolve(G, W).applyfunc(sp.expand)}


# --- the worked example of the chapter, term by term

def worked_example() -> dict:
    """The integers of the chapter's worked example.

    Returns
    -------
    dict of int ndarrays: ``X`` (4, 4), ``W`` (3, 3), ``b`` (a number),
    ``G`` (2, 2) the upstream gradient :math:`\\partial L/\\partial Y`
    of the convolution (stride 1, no padding); ``P`` (4, 4) the input of a
    2x2 max pooling with stride 2 and ``GP`` (2, 2) its upstream gradient.

    Used in: book/cnn.md
    """
    return {
        "X": np.array([[1, 2, 0, 1], [0, 1, 3, 2], [2, 1, 0, 1],
                       [1, 0, 2, 3]]),
        "W": np.array([[1, 0, -1], [2, 1, 0], [0, -1, 1]]),
        "b": 1,
        "G": np.array([[1, -1], [2, 1]]),
        "P": np.array([[1, 3, 2, 0], [4, 2, 1, 5], [0, 1, 7, 2],
                       [3, 6, 1, 1]]),
        "GP": np.array([[1, 2], [3, 4]]),
    }


def conv_terms(X, W, G) -> dict:
    r"""The products that make each gradient entry of a valid, stride-1
    correlation, read off the index formulas as a student would:

    .. math:: \frac{\partial L}{\partial W_{u,v}} = \sum_{i,j} G_{i,j}\,
              X_{i+u,j+v}, \qquad \frac{\partial L}{\partial X_{h,w}} =
              \sum_{u,v} G_{h-u,w-v}\, W_{u,v}

    Returns
    -------
    dict with keys "dW" ((u, v) -> list of ((i, j), g, x)) and "dX"
    ((h, w) -> list of ((u, v), g, weight)), in reading order.

    Used in: book/cnn.md
    """
    X, W, G = _check_worked(X, W, G)
    (n, _), (k, _), (m, _) = X.shape, W.shape, G.shape
    dW = {(u, v): [((i, j), G[i, j], X[i + u, j + v])
                   for i in range(m) for j in range(m)]
          for u in range(k) for v in range(k)}
    dX = {(h, w): [((u, v), G[h - u, w - v], W[u, v])
                   for u in range(k) for v in range(k)
                   if 0 <= h - u < m and 0 <= w - v < m]
          for h in range(n) for w in range(n)}
    return {"dW": dW, "dX": dX}


def maxpool_terms(P, G, k: int = 2) -> list:
    """Each window of a ``k x k`` max pooling with stride ``k``: its
    position ``(i, j)``, entries, maximum, the (row, col) of the first
    maximum in reading order, and the gradient ``G[i, j]`` it receives.

    Used in: book/cnn.md
    """
    P, G = np.asarray(P), np.asarray(G)
    out = []
    for i, j in np.ndindex(*G.shape):
        win = P[k * i:k * i + k, k * j:k * j + k]
        a, c = np.unravel_index(np.argmax(win), win.shape)
        out.append(((i, j), win, win.max(), (k * i + a, k * j + c),
                    G[i, j]))
    return out


def _product(a, b) -> str:
    wrap = lambda v: f"({v})" if v < 0 else f"{v}"  # noqa: E731
    return f"{wrap(a)} \\cdot {wrap(b)}"


def _matrix(a) -> str:
    rows = r" \\ ".join(" & ".join(f"{v:g}" for v in row)
                          for row in np.asarray(a, float))
    return rf"$\begin{{pmatrix}} {rows} \end{{pmatrix}}$"


def worked_tables(example: dict | None = None) -> dict:
    """The worked example as Markdown tables, one row per entry: the
    value (second column) and the products that make it (third).

    Returns
    -------
    dict of str: "forward" (header ``| quantity |``), "dW" (``| entry
    of ∂L/∂W |``), "dX" (``| entry of ∂L/∂X |``), "pool" (``| window
    |``).

    Used in: book/cnn.md
    """
    e = worked_example() if example is None else example
    X, W, G, b = e["X"], e["W"], e["G"], e["b"]
    terms = conv_terms(X, W, G)
    m = G.shape[0]
    Y = np.array([[b + int(np.sum(W * X[i:i + 3, j:j + 3]))
                   for j in range(m)] for i in range(m)])
    forward = ["| quantity | value |", "|---|---|",
               f"| input $X$ | {_matrix(X)} |",
               f"| kernel $W$ | {_matrix(W)} |",
               f"| bias $b$ | ${b}$ |",
               f"| output $Y$ | {_matrix(Y)} |",
               rf"| upstream $G = \partial L / \partial Y$ | {_matrix(G)} |"]
    dw = ["| entry of ∂L/∂W | value | products $G_{i,j} X_{i+u,j+v}$ |",
          "|---|---|---|"]
    for (u, v), ts in terms["dW"].items():
        total = sum(int(g) * int(x) for _, g, x in ts)
        dw.append(rf"| $\partial L / \partial W_{{{u}{v}}}$ | ${total}$ | "
                  "$" + " + ".join(_product(g, x) for _, g, x in ts) + "$ |")
    dw.append(rf"| $\partial L / \partial b$ | ${int(G.sum())}$ | "
              "$" + " + ".join(f"{g}" if g >= 0 else f"({g})"
                               for g in G.ravel()) + "$ (no products) |")
    dx = ["| entry of ∂L/∂X | value | products $G_{h-u,w-v} W_{u,v}$ |",
          "|---|---|---|"]
    for (h, w), ts in terms["dX"].items():
        total = sum(int(g) * int(weight) for _, g, weight in ts)
        dx.append(rf"| $\partial L / \partial X_{{{h}{w}}}$ | ${total}$ | "
                  "$" + " + ".join(_product(g, weight) for _, g, weight in ts)
                  + "$ |")
    pool = ["| window | gradient | entries, maximum at (row, col) |",
            "|---|---|---|"]
    for (i, j), win, top, (r, c), g in maxpool_terms(e["P"], e["GP"]):
        pool.append(f"| $Y_{{{i}{j}}}$ | ${g}$ | {_matrix(win)}, "
                    f"max {top} at $X_{{{r}{c}}}$ |")
    dP = np.zeros_like(e["P"])
    for _, _, _, (r, c), g in maxpool_terms(e["P"], e["GP"]):
        dP[r, c] += g
    pool.append(rf"| all four: $\partial L / \partial X$ | {_matrix(dP)} "
                "| each gradient at its window's maximum, 0 elsewhere |")
    return {name: "\n".join(rows) for name, rows in
            (("forward", forward), ("dW", dw), ("dX", dx), ("pool", pool))}


def receptive_field(kernels, strides) -> int:
    r"""Receptive field of a stack of layers (kernel sizes ``kernels``,
    strides ``strides``, first layer first):

    .. math:: r_D = 1 + \sum_{l=1}^{D} (k_l - 1) \prod_{i<l} s_i

    Used in: book/cnn.md
    """
    kernels, strides = _check_stack(kernels, strides)
    r, jump = 1, 1
    for k, s in zip(kernels, strides):
        r += (k - 1) * jump
        jump *= s
    return r


# --- checks

def _check_matrices(A, K, name_a, name_k, fits):
    """``A`` and ``K`` as SymPy matrices, ``K`` no larger than ``A`` if
    ``fits`` (a valid correlation)."""
    for m, name in ((A, name_a), (K, name_k)):
        if not isinstance(m, sp.MatrixBase):
            raise TypeError(f"{name} must be a SymPy Matrix, got "
                            f"{type(m).__name__}")
    if fits and (K.rows > A.rows or K.cols > A.cols):
        raise ValueError(f"{name_k} ({K.rows}x{K.cols}) must fit inside "
                         f"{name_a} ({A.rows}x{A.cols})")
    return A, K


def _check_sizes(n, k):
    """``n`` and ``k`` as ints with ``1 <= k <= n``."""
    n = check_int(n, "n", low=1)
    return n, check_int(k, "k", low=1, high=n)


def _check_grads(grads):
    """``(X, W, G)`` of a dict from :func:`gradients`."""
    if not isinstance(grads, dict) or not {"X", "W", "G"} <= set(grads):
        raise TypeError("grads must be the dict gradients() returns, with "
                        "keys 'X', 'W' and 'G'")
    return grads["X"], grads["W"], grads["G"]


def _check_stack(kernels, strides):
    """Two equally long, non-empty lists of ints >= 1."""
    kernels = [check_int(k, "kernels[i]", low=1) for k in kernels]
    strides = [check_int(s, "strides[i]", low=1) for s in strides]
    if not kernels or len(kernels) != len(strides):
        raise ValueError(f"kernels and strides must be non-empty and "
                         f"equally long, got {len(kernels)} and "
                         f"{len(strides)}")
    return kernels, strides


def _check_worked(X, W, G):
    """Square 2-D ``X`` (n, n), ``W`` (k, k) and ``G`` (n-k+1, n-k+1)."""
    X, W, G = (np.asarray(a) for a in (X, W, G))
    n, k = len(X), len(W)
    for a, name, size in ((X, "X", n), (W, "W", k), (G, "G", n - k + 1)):
        if a.shape != (size, size):
            raise ValueError(f"{name} must have shape ({size}, {size}), got "
                             f"{a.shape}")
    return X, W, G
