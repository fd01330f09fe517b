"""Checks of the display formulas typed in book/backprop.md."""

import random

import sympy as sp

from calc_nn.symbolic import backprop_formulas as sym

CHAPTER = "backprop.md"


def check_chain_1d():
    x, u = sp.symbols("x u", real=True)
    for f, g in ((sp.sin(u), x ** 2), (sp.exp(u), sp.tanh(x)),
                 (sp.log(1 + u ** 2), 3 * x - 1)):
        lhs = sp.diff(f.subs(u, g), x)
        rhs = sp.diff(f, u).subs(u, g) * sp.diff(g, x)
        assert sp.simplify(lhs - rhs) == 0
    y, by_sympy, by_hand = sym.chain_rule_scalar()
    assert sp.simplify(by_sympy - by_hand) == 0


def check_jacobian_chain():
    ex = sym.jacobian_chain_rule()
    assert ex["J_product"].shape == (2, 2)
    assert sp.simplify(ex["J_direct"] - ex["J_product"]) == sp.zeros(2, 2)


def _delta_by_diff(net, l, point):
    """dC/dz^l by differentiating C with the z^l entries as free symbols."""
    zs = net["zs"]
    n = zs[l].shape[0]
    t = sp.symbols(f"t0:{n}", real=True)
    a = sp.Matrix(t).applyfunc(net["f"])
    for W, b in zip(net["Ws"][l + 1:], net["bs"][l + 1:]):
        a = (W * a + b).applyfunc(net["f"])
    C = sum((a - net["y"]).applyfunc(lambda e: e ** 2)) / 2
    at = {**point, **{ti: zs[l][i].subs(point) for i, ti in enumerate(t)}}
    return [sp.diff(C, ti).subs(at) for ti in t]


def check_bp1_bp2():
    """delta^L and the recursion for delta^l equal dC/dz^l."""
    net = sym.symbolic_network([2, 3, 2], "sigmoid")
    rng = random.Random(1)
    point = {s: sp.Rational(rng.randint(-20, 20), 10)
             for s in net["C"].free_symbols}
    fp = net["fp"]
    deltas = [None, None]
    deltas[1] = (net["as_"][-1] - net["y"]).multiply_elementwise(
        net["zs"][1].applyfunc(fp))
    deltas[0] = (net["Ws"][1].T * deltas[1]).multiply_elementwise(
        net["zs"][0].applyfunc(fp))
    for l in (0, 1):
        direct = _delta_by_diff(net, l, point)
        for d, e in zip(direct, deltas[l].subs(point)):
            assert abs(sp.N(d - e, 30)) < 1e-25


def check_bp3_bp4():
    """dC/dw and dC/db from the deltas equal sympy.diff of the cost."""
    assert sym.delta_equations_hold((2, 2, 2), "sigmoid")


# label -> (the formula exactly as typed in the chapter, its check)
CHECKED = {
    "eq-chain-1d": (r"""\frac{dy}{dx} = f'(g(x))\, g'(x)""", check_chain_1d),
    "eq-jacobian-chain": (r"""J_{f \circ g}(x) = J_f(g(x))\, J_g(x)""",
                          check_jacobian_chain),
    "eq-bp1": (r"""\delta^L = \nabla_a C \odot f'(z^L)""", check_bp1_bp2),
    "eq-bp2": (
        r"""\delta^l = \left((W^{l+1})^\top \delta^{l+1}\right) \odot f'(z^l)""",
        check_bp1_bp2),
    "eq-bp3": (r"""\frac{\partial C}{\partial w^l_{jk}} = a^{l-1}_k \delta^l_j""",
               check_bp3_bp4),
    "eq-bp4": (r"""\frac{\partial C}{\partial b^l_j} = \delta^l_j""",
               check_bp3_bp4),
}

