"""Checks of the display formulas typed in book/forward.md."""

import numpy as np
import sympy as sp
import torch

from calc_nn import activations, layers
from calc_nn.mlp import MLP, worked_example

CHAPTER = "forward.md"


def _symbols(n_out, n_in, n_batch=2):
    W = sp.Matrix(n_out, n_in, lambda j, k: sp.Symbol(f"w_{j}{k}"))
    b = sp.Matrix(n_out, 1, lambda j, _: sp.Symbol(f"b_{j}"))
    X = sp.Matrix(n_batch, n_in, lambda i, k: sp.Symbol(f"x_{i}{k}"))
    return W, b, X


def check_neuron():
    n = 4
    w = sp.Matrix(n, 1, lambda k, _: sp.Symbol(f"w_{k + 1}"))
    x = sp.Matrix(n, 1, lambda k, _: sp.Symbol(f"x_{k + 1}"))
    b = sp.Symbol("b")
    total = sum(w[k] * x[k] for k in range(n)) + b
    assert sp.expand(total - ((w.T * x)[0] + b)) == 0


def check_layer():
    W, b, X = _symbols(3, 4)
    x = X[0, :].T
    z = W * x + b
    for j in range(3):
        neuron = sum(W[j, k] * x[k] for k in range(4)) + b[j]
        assert sp.expand(z[j] - neuron) == 0
    assert z.shape == (3, 1)


def check_batch():
    W, b, X = _symbols(3, 4, n_batch=5)
    Z = X * W.T + sp.ones(5, 1) * b.T
    assert Z.shape == (5, 3)
    for i in range(5):
        assert sp.expand(Z[i, :].T - (W * X[i, :].T + b)) == sp.zeros(3, 1)
    # and calc_nn computes this product
    rng = np.random.default_rng(0)
    Xn, Wn, bn = (rng.standard_normal((5, 4)), rng.standard_normal((3, 4)),
                  rng.standard_normal(3))
    values = {**dict(zip(X, Xn.ravel())), **dict(zip(W, Wn.ravel())),
              **dict(zip(b, bn))}
    Zn = np.array(Z.subs(values), dtype=float)
    np.testing.assert_allclose(layers.linear_forward(Xn, Wn, bn)[0], Zn,
                               rtol=1e-13)


def check_network():
    """Every layer computes z^l; every layer but the last applies f; the
    network returns z^D (calc_nn's MLP and PyTorch)."""
    model = MLP([3, 4, 2, 2], "sigmoid", seed=0)
    x = np.array([0.2, -1.0, 0.7])
    a = x
    D = len(model.weights)
    for l, (W, b) in enumerate(zip(model.weights, model.biases), start=1):
        z = W @ a + b
        a = 1 / (1 + np.exp(-z)) if l < D else z  # logits: no activation
    np.testing.assert_allclose(model(x), a, rtol=1e-13)
    net = torch.nn.Sequential(
        torch.nn.Linear(3, 4), torch.nn.Sigmoid(), torch.nn.Linear(4, 2),
        torch.nn.Sigmoid(), torch.nn.Linear(2, 2)).double()
    with torch.no_grad():
        for layer, W, b in zip(net[::2], model.weights, model.biases):
            layer.weight.copy_(torch.tensor(W))
            layer.bias.copy_(torch.tensor(b))
        np.testing.assert_allclose(net(torch.tensor(x)).numpy(), a,
                                   rtol=1e-13)
    # an activation after the last layer would be another function
    assert not np.allclose(1 / (1 + np.exp(-a)), a)


def check_softmax():
    """p_k = e^{z_k} / sum_j e^{z_j}: SymPy, calc_nn and torch agree, the
    p_k are positive and sum to 1."""
    K = 4
    z = sp.symbols(f"z1:{K + 1}", real=True)
    p = [sp.exp(z[k]) / sum(sp.exp(zj) for zj in z) for k in range(K)]
    assert sp.simplify(sum(p) - 1) == 0
    values = np.array([2.0, -1.0, 0.5, 3.0])
    exact = np.array([float(pk.subs(dict(zip(z, values)))) for pk in p])
    np.testing.assert_allclose(activations.softmax(values), exact,
                               rtol=1e-14)
    np.testing.assert_allclose(torch.softmax(torch.tensor(values),
                                             0).numpy(), exact, rtol=1e-14)


def check_worked_network():
    """The given numbers are calc_nn's worked_example."""
    model, x, y = worked_example()
    expected = ([[0.5, -1], [1, 0.5]], [0, -0.5], [[1, -1], [0.5, 2]],
                [0.5, -1])
    for param, value in zip(model.params, expected):
        np.testing.assert_array_equal(param, value)
    np.testing.assert_array_equal(x, [1, 0.5])
    assert model.layer_sizes == [2, 2, 2] and model.activation == "sigmoid"


# label -> (the formula exactly as typed in the chapter, its check)
CHECKED = {
    "eq-neuron": (
        r"""z = \sum_{k=1}^{n} w_k x_k + b = w^\top x + b, \quad a = f(z)""",
        check_neuron),
    "eq-layer": (
        r"""\begin{gathered}
z = W x + b, \qquad a = f(z), \\
W \in \mathbb{R}^{m \times n},\ x \in \mathbb{R}^{n},\
b, z, a \in \mathbb{R}^{m}
\end{gathered}""",
        check_layer),
    "eq-batch": (
        r"""\begin{gathered}
Z = X W^\top + \mathbf{1} b^\top, \qquad A = f(Z), \\
X \in \mathbb{R}^{N \times n},\ W \in \mathbb{R}^{m \times n},\
Z, A \in \mathbb{R}^{N \times m}
\end{gathered}""",
        check_batch),
    "eq-network": (
        r"""\begin{aligned}
a^0 &= x, \\
z^l &= W^l a^{l-1} + b^l, && l = 1, \dots, D, \\
a^l &= f(z^l), && l = 1, \dots, D - 1
\end{aligned}""",
        check_network),
    "eq-fwd-softmax": (
        r"""p = \operatorname{softmax}(z), \quad
p_k = \frac{e^{z_k}}{\sum_{j=1}^{K} e^{z_j}}""",
        check_softmax),
    "eq-fwd-worked-network": (
        r"""\begin{gathered}
x = \begin{pmatrix} 1 \\ 0.5 \end{pmatrix}, \\
W^1 = \begin{pmatrix} 0.5 & -1 \\ 1 & 0.5 \end{pmatrix}, \quad
b^1 = \begin{pmatrix} 0 \\ -0.5 \end{pmatrix}, \\
W^2 = \begin{pmatrix} 1 & -1 \\ 0.5 & 2 \end{pmatrix}, \quad
b^2 = \begin{pmatrix} 0.5 \\ -1 \end{pmatrix}
\end{gathered}""",
        check_worked_network),
}
