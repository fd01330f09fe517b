"""Checks of the display formulas typed in book/backprop.md."""

import random

import numpy as np
import sympy as sp
import torch

from calc_nn import activations, losses
from calc_nn.mlp import MLP
from calc_nn.symbolic import backprop_formulas as sym

CHAPTER = "backprop.md"


def _delta_by_diff(net, l, point):
    """dL/dz^l by differentiating L with the z^l entries as free symbols."""
    zs = net["zs"]
    n = zs[l].shape[0]
    t = sp.symbols(f"t0:{n}", real=True)
    a = sp.Matrix(t).applyfunc(net["f"])
    for W, b in zip(net["Ws"][l + 1:], net["bs"][l + 1:]):
        a = (W * a + b).applyfunc(net["f"])
    loss = sum((a - net["y"]).applyfunc(lambda e: e ** 2)) / 2
    at = {**point, **{ti: zs[l][i].subs(point) for i, ti in enumerate(t)}}
    return [sp.diff(loss, ti).subs(at) for ti in t]


def check_bp1_bp2():
    """delta^D and the recursion for delta^l equal dL/dz^l."""
    net = sym.symbolic_network([2, 3, 2], "sigmoid")
    rng = random.Random(1)
    point = {s: sp.Rational(rng.randint(-20, 20), 10)
             for s in net["L"].free_symbols}
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
    """dL/dW and dL/db from the deltas equal sympy.diff of the loss."""
    assert sym.delta_equations_hold((2, 2, 2), "sigmoid")
    assert sym.delta_equations_hold((2, 3, 1), "tanh", seed=1)


def check_linear_batch():
    """dL/dX = Delta W, dL/dW = Delta^T X, dL/db = Delta^T 1 against
    autograd, for several shapes (one example included)."""
    rng = np.random.default_rng(0)
    for N, n, m in ((1, 1, 1), (5, 4, 3), (7, 2, 6)):
        X, W, b = (rng.standard_normal((N, n)), rng.standard_normal((m, n)),
                   rng.standard_normal(m))
        Delta = rng.standard_normal((N, m))
        Xt, Wt, bt = (torch.tensor(v, requires_grad=True) for v in (X, W, b))
        torch.nn.functional.linear(Xt, Wt, bt).backward(torch.tensor(Delta))
        np.testing.assert_allclose(Delta @ W, Xt.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(Delta.T @ X, Wt.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(Delta.T @ np.ones(N), bt.grad.numpy(),
                                   rtol=1e-12)


def check_bp_batch():
    """The row form of the recursion, written out, equals MLP.backward and
    PyTorch for a batch and every activation."""
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((6, 3)), rng.integers(0, 4, 6)
    for name, torch_f in (("tanh", torch.tanh), ("sigmoid", torch.sigmoid),
                          ("relu", torch.relu)):
        model = MLP([3, 5, 4, 4], name, seed=2)
        f_grad = activations.get(name)[1]
        logits, cache = model.forward(X)
        Delta = losses.cross_entropy_grad(logits, y)            # Delta^D
        by_formula = []
        for l in range(model.n_layers, 0, -1):
            A = cache.activations[l - 1]
            by_formula = [Delta.T @ A, Delta.T @ np.ones(len(X))] + \
                by_formula
            if l > 1:
                Delta = (Delta @ model.weights[l - 1]) * f_grad(
                    cache.zs[l - 2])
        params = [torch.tensor(p, requires_grad=True) for p in model.params]
        a = torch.tensor(X)
        for l in range(model.n_layers):
            a = torch.nn.functional.linear(a, params[2 * l],
                                           params[2 * l + 1])
            a = torch_f(a) if l < model.n_layers - 1 else a
        torch.nn.functional.cross_entropy(a, torch.tensor(y)).backward()
        for mine, ref, p in zip(by_formula, model.backward(
                losses.cross_entropy_grad(logits, y), cache), params):
            np.testing.assert_allclose(mine, ref, rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(mine, p.grad.numpy(), rtol=1e-10,
                                       atol=1e-14)


# label -> (the formula exactly as typed in the chapter, its check)
CHECKED = {
    "eq-bp1": (r"""\delta^D = \nabla_{a^D} L \odot f'(z^D)""", check_bp1_bp2),
    "eq-bp2": (
        r"""\delta^l = \left((W^{l+1})^\top \delta^{l+1}\right) \odot f'(z^l)""",
        check_bp1_bp2),
    "eq-bp3": (
        r"""\frac{\partial L}{\partial W^l_{jk}} = a^{l-1}_k \delta^l_j""",
        check_bp3_bp4),
    "eq-bp4": (r"""\frac{\partial L}{\partial b^l_j} = \delta^l_j""",
               check_bp3_bp4),
    "eq-bp-linear-batch": (
        r"""\begin{gathered}
\frac{\partial L}{\partial X} = \Delta W, \qquad
\frac{\partial L}{\partial W} = \Delta^\top X, \\
\frac{\partial L}{\partial b} = \Delta^\top \mathbf{1}
\end{gathered}""",
        check_linear_batch),
    "eq-bp-batch": (
        r"""\begin{gathered}
\Delta^l = \left(\Delta^{l+1} W^{l+1}\right) \odot f'(Z^l), \\
\frac{\partial L}{\partial W^l} = (\Delta^l)^\top A^{l-1}, \qquad
\frac{\partial L}{\partial b^l} = (\Delta^l)^\top \mathbf{1}
\end{gathered}""",
        check_bp_batch),
}
