r"""SymPy for the chapter "Backpropagation": a small network with symbolic
weights, the four delta equations applied to it, and their check against
plain symbolic differentiation of the loss."""

from __future__ import annotations

import random

import sympy as sp

from calc_nn._validation import check_int
from calc_nn.symbolic import activation_formulas as formulas

__all__ = [
    "layer_symbols",
    "symbolic_network",
    "delta_equations",
    "delta_equations_hold",
]


def layer_symbols(sizes):
    """Symbolic weights ``W^l_jk`` and biases ``b^l_j`` for ``sizes``.

    Parameters
    ----------
    sizes : sequence of int >= 1, at least two

    Returns
    -------
    Ws : list of sympy Matrix, shapes (sizes[l+1], sizes[l])
    bs : list of sympy Matrix, shapes (sizes[l+1], 1)

    Used in: book/backprop.md
    """
    sizes = _check_sizes(sizes)
    Ws, bs = [], []
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        Ws.append(sp.Matrix(n_out, n_in, lambda j, k: sp.Symbol(
            f"W^{l}_{j + 1}{k + 1}", real=True)))
        bs.append(sp.Matrix(n_out, 1, lambda j, _: sp.Symbol(
            f"b^{l}_{j + 1}", real=True)))
    return Ws, bs


def symbolic_network(sizes, activation="sigmoid"):
    r"""A network with symbolic parameters and the quadratic loss.

    Every layer, the last included, applies ``activation`` (the setting of
    the NN document [nn-calculus-doc] §3.2, where
    :math:`\delta^D = \nabla_{a^D} L \odot f'(z^D)`), and
    :math:`L = \tfrac12 \lVert a^D - y \rVert^2`.

    Parameters
    ----------
    sizes : sequence of int >= 1, at least two
    activation : str, a name of :data:`calc_nn.activations.ACTIVATIONS`

    Returns
    -------
    dict with ``x``, ``y`` (input and target vectors), ``Ws``, ``bs``,
    ``zs``, ``as_`` (lists of column matrices, ``as_[0] = x``), ``L`` (the
    loss), ``f`` and ``fp`` (the activation and its derivative as Lambdas).

    Used in: book/backprop.md
    """
    sizes = _check_sizes(sizes)
    f, fp = _as_lambdas(activation)
    xs = sp.Matrix(sizes[0], 1, lambda k, _: sp.Symbol(f"x_{k + 1}",
                                                       real=True))
    ys = sp.Matrix(sizes[-1], 1, lambda k, _: sp.Symbol(f"y_{k + 1}",
                                                        real=True))
    Ws, bs = layer_symbols(sizes)
    a, as_, zs = xs, [xs], []
    for W, b in zip(Ws, bs):
        z = W * a + b
        a = z.applyfunc(f)
        zs.append(z)
        as_.append(a)
    loss = sum((a - ys).applyfunc(lambda e: e ** 2)) / 2
    return dict(x=xs, y=ys, Ws=Ws, bs=bs, zs=zs, as_=as_, L=loss, f=f,
                fp=fp)


def delta_equations(net):
    r"""The four equations BP1-BP4 (the NN document [nn-calculus-doc]
    §3.2), applied to ``net``.

    .. math::
        \delta^D = \nabla_{a^D} L \odot f'(z^D),\quad
        \delta^l = ((W^{l+1})^\top \delta^{l+1}) \odot f'(z^l),\quad
        \frac{\partial L}{\partial W^l_{jk}} = a^{l-1}_k \delta^l_j,\quad
        \frac{\partial L}{\partial b^l_j} = \delta^l_j

    Parameters
    ----------
    net : dict, as :func:`symbolic_network` returns it

    Returns
    -------
    dWs, dbs : lists of sympy Matrix, shapes of ``net["Ws"]``, ``net["bs"]``

    Used in: book/backprop.md
    """
    Ws, zs, as_, fp = _check_net(net)
    D = len(Ws)
    grad_a = as_[-1] - net["y"]  # nabla_a L for L = |a - y|^2 / 2
    delta = grad_a.multiply_elementwise(zs[-1].applyfunc(fp))  # BP1
    dWs, dbs = [None] * D, [None] * D
    for l in range(D - 1, -1, -1):
        dWs[l] = delta * as_[l].T  # BP3: entry (j, k) is delta_j a^{l-1}_k
        dbs[l] = delta             # BP4
        if l > 0:                  # BP2
            delta = (Ws[l].T * delta).multiply_elementwise(
                zs[l - 1].applyfunc(fp))
    return dWs, dbs


def delta_equations_hold(sizes=(2, 2, 2), activation="sigmoid",
                         points=2, seed=0) -> bool:
    """True if the delta equations equal ``sympy.diff`` of the loss for
    every weight and bias, at ``points`` random rational points (from the
    random seed ``seed``).

    Both sides are evaluated with 40 significant digits, their common
    subexpressions once each (``sympy.cse``); they must agree to 1e-25
    relative to the size of the derivative.

    Used in: book/backprop.md
    """
    points, seed = check_int(points, "points", low=1), check_int(seed, "seed")
    net = symbolic_network(sizes, activation)
    dWs, dbs = delta_equations(net)
    params = [s for W, b in zip(net["Ws"], net["bs"])
              for s in list(W) + list(b)]
    by_diff = [sp.diff(net["L"], s) for s in params]
    by_equations = [e for dW, db in zip(dWs, dbs)
                    for e in list(dW) + list(db)]
    shared, both = sp.cse(by_diff + by_equations)
    symbols = sorted(net["L"].free_symbols, key=str)
    rng = random.Random(seed)
    for _ in range(points):
        values = {s: sp.Float(sp.Rational(rng.randint(-20, 20), 10), 40)
                  for s in symbols}
        for name, expr in shared:
            values[name] = expr.xreplace(values).evalf(40)
        numbers = [e.xreplace(values).evalf(40) for e in both]
        direct, formula = numbers[:len(params)], numbers[len(params):]
        if any(abs(d - e) > 1e-25 * max(1, abs(d))
               for d, e in zip(direct, formula)):
            return False
    return True


def _as_lambdas(name):
    """The activation ``name`` and its derivative as SymPy Lambdas of
    ``t``."""
    t = sp.Symbol("t", real=True)
    return (sp.Lambda(t, formulas.activation(name).subs(formulas.x, t)),
            sp.Lambda(t, formulas.derivative(name).subs(formulas.x, t)))


# --- checks

def _check_sizes(sizes) -> list[int]:
    """``sizes`` as a list of at least two ints >= 1."""
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__"):
        raise TypeError(f"sizes must be a sequence of ints, got "
                        f"{type(sizes).__name__}")
    if len(sizes) < 2:
        raise ValueError(f"sizes must list at least two layer sizes, got "
                         f"{list(sizes)}")
    return [check_int(n, "every entry of sizes", low=1) for n in sizes]


def _check_net(net):
    """``(Ws, zs, as_, fp)`` of a network from :func:`symbolic_network`."""
    keys = ("Ws", "zs", "as_", "fp", "y")
    if not isinstance(net, dict) or not all(k in net for k in keys):
        raise TypeError("net must be the dict symbolic_network returns, "
                        f"with keys {list(keys)}")
    return net["Ws"], net["zs"], net["as_"], net["fp"]
