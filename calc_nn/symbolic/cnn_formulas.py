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
the chapter states (correlation, sum, full convolution with the flipped
kernel) so that the two can be compared entry by entry.
"""

from __future__ import annotations

import sympy as sp

from calc_nn._validation import check_int

__all__ = [
    "correlate",
    "full_convolve",
    "conv_layer",
    "gradients",
    "claimed_gradients",
    "symbols_matrix",
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
