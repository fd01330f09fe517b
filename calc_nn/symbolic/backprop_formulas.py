r"""SymPy for the chapter "Backpropagation": the chain rule with
Jacobians, and the delta equations checked against plain symbolic
differentiation of a small network."""

from __future__ import annotations

import random

import sympy as sp

from calc_nn._validation import check_int
from calc_nn.symbolic import activation_formulas as formulas

__all__ = [
    "chain_rule_scalar",
    "jacobian_chain_rule",
    "layer_symbols",
    "symbolic_network",
    "delta_equations",
    "delta_equations_hold",
]

x = sp.Symbol("x", real=True)


def chain_rule_scalar():
    r"""``(y, dy/dx by sympy.diff, f'(g(x)) g'(x))`` for
    :math:`y = \sin(x^2)`: the one-variable chain rule.

    Used in: book/backprop.md
    """
    u = sp.Symbol("u", real=True)
    g = x ** 2
    f = sp.sin(u)
    y = f.subs(u, g)
    by_hand = sp.diff(f, u).subs(u, g) * sp.diff(g, x)
    return y, sp.diff(y, x), by_hand


def jacobian_chain_rule():
    r"""The chain rule for vector functions: :math:`J_{f\circ g}(x) =
    J_f(g(x))\,J_g(x)`.

    ``g: R^2 -> R^3`` and ``f: R^3 -> R^2``.

    Returns
    -------
    dict with the symbols ``x`` (2,), ``u`` (3,), matrices ``g``, ``f``,
    ``J_g`` (3, 2), ``J_f`` (2, 3) at ``u = g(x)``, ``J_direct`` (2, 2)
    (Jacobian of the composition) and ``J_product`` = ``J_f J_g``.

    Used in: book/backprop.md
    """
    x1, x2 = sp.symbols("x_1 x_2", real=True)
    u1, u2, u3 = sp.symbols("u_1 u_2 u_3", real=True)
    xs, us = sp.Matrix([x1, x2]), sp.Matrix([u1, u2, u3])
    g = sp.Matrix([x1 * x2, sp.sin(x1), x2 ** 2])
    f = sp.Matrix([u1 + u2 * u3, sp.exp(u1) * u3])
    J_g = g.jacobian(xs)
    J_f = f.jacobian(us).subs(dict(zip(us, g)))
    composite = f.subs(dict(zip(us, g)))
    return dict(x=xs, u=us, g=g, f=f, J_g=J_g, J_f=J_f,
                J_direct=composite.jacobian(xs), J_product=J_f * J_g)


def layer_symbols(sizes):
    """Symbolic weights ``w^l_jk`` and biases ``b^l_j`` for ``sizes``.

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
            f"w^{l}_{j + 1}{k + 1}", real=True)))
        bs.append(sp.Matrix(n_out, 1, lambda j, _: sp.Symbol(
            f"b^{l}_{j + 1}", real=True)))
    return Ws, bs


def symbolic_network(sizes, activation="sigmoid"):
    r"""A network with symbolic parameters and the quadratic cost.

    Every layer, the last included, applies ``activation`` (the setting of
    the NN document [nn-calculus-doc] §3.2, where
    :math:`\delta^L = \nabla_a C \odot f'(z^L)`), and
    :math:`C = \tfrac12 \lVert a^L - y \rVert^2`.

    Parameters
    ----------
    sizes : sequence of int >= 1, at least two
    activation : str, a name of :data:`calc_nn.activations.ACTIVATIONS`

    Returns
    -------
    dict with ``x``, ``y`` (input and target vectors), ``Ws``, ``bs``,
    ``zs``, ``as_`` (lists of column matrices, ``as_[0] = x``), ``C``,
    ``f`` and ``fp`` (the activation and its derivative as Lambdas).

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
    C = sum((a - ys).applyfunc(lambda e: e ** 2)) / 2
    return dict(x=xs, y=ys, Ws=Ws, bs=bs, zs=zs, as_=as_, C=C, f=f, fp=fp)


def delta_equations(net):
    r"""The four equations of the NN document [nn-calculus-doc] §3.2,
    applied to ``net``.

    .. math::
        \delta^L = \nabla_a C \odot f'(z^L),\quad
        \delta^l = ((W^{l+1})^\top \delta^{l+1}) \odot f'(z^l),\quad
        \frac{\partial C}{\partial w^l_{jk}} = a^{l-1}_k \delta^l_j,\quad
        \frac{\partial C}{\partial b^l_j} = \delta^l_j

    Parameters
    ----------
    net : dict, as :func:`symbolic_network` returns it

    Returns
    -------
    dWs, dbs : lists of sympy Matrix, shapes of ``net["Ws"]``, ``net["bs"]``

    Used in: book/backprop.md
    """
    Ws, zs, as_, fp = _check_net(net)
    L = len(Ws)
    grad_a = as_[-1] - net["y"]  # nabla_a C for C = |a - y|^2 / 2
    delta = grad_a.multiply_elementwise(zs[-1].applyfunc(fp))
    dWs, dbs = [None] * L, [None] * L
    for l in range(L - 1, -1, -1):
        dWs[l] = delta * as_[l].T  # entry (j, k): delta_j a^{l-1}_k
        dbs[l] = delta
        if l > 0:
            delta = (Ws[l].T * delta).multiply_elementwise(
                zs[l - 1].applyfunc(fp))
    return dWs, dbs


def delta_equations_hold(sizes=(2, 2, 2), activation="sigmoid",
                         points=2, seed=0) -> bool:
    """True if the delta equations equal ``sympy.diff`` of the cost for
    every weight and bias, at ``points`` random rational points (from the
    random seed ``seed``), evaluated with 30 significant digits.

    Used in: book/backprop.md
    """
    points, seed = check_int(points, "points", low=1), check_int(seed, "seed")
    net = symbolic_network(sizes, activation)
    dWs, dbs = delta_equations(net)
    rng = random.Random(seed)
    symbols = sorted(net["C"].free_symbols, key=str)
    for _ in range(points):
        point = {s: sp.Rational(rng.randint(-20, 20), 10) for s in symbols}
        for W, dW, b, db in zip(net["Ws"], dWs, net["bs"], dbs):
            for sym, formula in zip(list(W) + list(b), list(dW) + list(db)):
                direct = sp.diff(net["C"], sym)
                diff = (direct - formula).evalf(30, subs=point)
                if abs(diff) > sp.Float("1e-25"):
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
