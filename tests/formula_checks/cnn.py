"""Checks of the display formulas typed in book/cnn.md.

Each formula is evaluated as typed (SymPy sums and floors, index by index)
and compared with the chain rule (``sympy.diff``) or with PyTorch."""

import itertools

import numpy as np
import sympy as sp
import torch
import torch.nn.functional as F

from calc_nn.symbolic import cnn_formulas as sconv

CHAPTER = "cnn.md"


def check_conv():
    # eq-conv with explicit sums, stride 2, 2 channels, 2 filters, a 2x3
    # kernel, in exact integers, against torch's conv2d
    rng = np.random.default_rng(0)
    C, H, W_, Fn, kH, kW, s = 2, 6, 7, 2, 2, 3, 2
    X = rng.integers(-5, 6, (C, H, W_))
    Wt = rng.integers(-5, 6, (Fn, C, kH, kW))
    b = rng.integers(-5, 6, Fn)
    Ho, Wo = (H - kH) // s + 1, (W_ - kW) // s + 1
    Y = np.zeros((Fn, Ho, Wo), dtype=object)
    for f, i, j in itertools.product(range(Fn), range(Ho), range(Wo)):
        Y[f, i, j] = sp.Integer(int(b[f])) + sum(
            int(Wt[f, c, u, v]) * int(X[c, s * i + u, s * j + v])
            for c in range(C) for u in range(kH) for v in range(kW))
    ref = F.conv2d(torch.tensor(X[None], dtype=torch.float64),
                   torch.tensor(Wt, dtype=torch.float64),
                   torch.tensor(b, dtype=torch.float64), stride=s)[0]
    np.testing.assert_array_equal(Y.astype(float), ref.numpy())


def check_output_size():
    H, k, p, s = sp.symbols("H k p s", positive=True, integer=True)
    formula = sp.floor((H + 2 * p - k) / s) + 1
    for h, kk, pp, ss in itertools.product((5, 7, 28), (1, 2, 3, 5),
                                           (0, 1, 2), (1, 2, 3)):
        if kk > h + 2 * pp:
            continue
        got = formula.subs({H: h, k: kk, p: pp, s: ss})
        want = F.conv2d(torch.zeros(1, 1, h, h), torch.zeros(1, 1, kk, kk),
                        stride=ss, padding=pp).shape[-1]
        assert got == want, (h, kk, pp, ss)


def check_conv_params():
    Fs, Cs, kHs, kWs = sp.symbols("F C k_H k_W", positive=True,
                                  integer=True)
    formula = Fs * (Cs * kHs * kWs + 1)
    for f, c, kh, kw in [(32, 1, 3, 3), (16, 3, 5, 5), (8, 4, 2, 3)]:
        layer = torch.nn.Conv2d(c, f, (kh, kw))
        n = sum(p.numel() for p in layer.parameters())
        assert formula.subs({Fs: f, Cs: c, kHs: kh, kWs: kw}) == n


def _grads():
    return sconv.gradients(n=4, k=2)


def check_conv_dw():
    g = _grads()
    X, G = g["X"], g["G"]
    m = G.rows
    for u, v in itertools.product(range(2), range(2)):
        typed = sum(G[i, j] * X[i + u, j + v]
                    for i in range(m) for j in range(m))
        assert sp.expand(typed - g["dW"][u, v]) == 0


def check_conv_db():
    g = _grads()
    G = g["G"]
    typed = sum(G[i, j] for i in range(G.rows) for j in range(G.cols))
    assert sp.expand(typed - g["db"]) == 0


def check_conv_dx():
    g = _grads()
    G, W = g["G"], g["W"]
    m = G.rows
    for p, q in itertools.product(range(4), range(4)):
        typed = sum(G[p - u, q - v] * W[u, v]
                    for u in range(2) for v in range(2)
                    if 0 <= p - u < m and 0 <= q - v < m)
        assert sp.expand(typed - g["dX"][p, q]) == 0


def _pool_case():
    # overlapping windows (k=3, s=2) so that the sums have several terms
    rng = np.random.default_rng(1)
    x = rng.permutation(49).reshape(7, 7).astype(float)  # no ties
    k, s = 3, 2
    n = (7 - k) // s + 1
    G = rng.integers(-4, 5, (n, n)).astype(float)
    windows = {(i, j): [(s * i + u, s * j + v) for u in range(k)
                        for v in range(k)]
               for i in range(n) for j in range(n)}
    return x, G, k, s, windows


def _torch_pool_grad(pool, x, G, k, s):
    xt = torch.tensor(x[None, None], requires_grad=True)
    pool(xt, k, s).backward(torch.tensor(G[None, None]))
    return xt.grad[0, 0].numpy()


def check_avgpool_grad():
    x, G, k, s, windows = _pool_case()
    typed = np.zeros_like(x)
    for h, w in np.ndindex(*x.shape):
        typed[h, w] = sp.Rational(1, k**2) * sum(
            int(G[ij]) for ij, cells in windows.items() if (h, w) in cells)
    np.testing.assert_allclose(typed, _torch_pool_grad(F.avg_pool2d, x, G,
                                                       k, s), rtol=1e-12)


def check_maxpool_grad():
    x, G, k, s, windows = _pool_case()
    argmax = {ij: max(cells, key=lambda c: x[c])
              for ij, cells in windows.items()}
    typed = np.zeros_like(x)
    for h, w in np.ndindex(*x.shape):
        typed[h, w] = sum(G[ij] for ij, cell in argmax.items()
                          if cell == (h, w))
    np.testing.assert_array_equal(typed, _torch_pool_grad(F.max_pool2d, x,
                                                          G, k, s))


# label -> (the formula exactly as typed in the chapter, its check)
CHECKED = {
    "eq-conv": (
        r"""Y_{f,i,j} = b_f + \sum_{c=1}^{C} \sum_{u=0}^{k_H-1} \sum_{v=0}^{k_W-1}
W_{f,c,u,v}\, X_{c,\,s i + u,\,s j + v}""",
        check_conv),
    "eq-output-size": (
        r"""H_{\text{out}} = \left\lfloor \frac{H + 2p - k}{s} \right\rfloor + 1""",
        check_output_size),
    "eq-conv-params": (
        r"""F\,(C\,k_H\,k_W + 1)""",
        check_conv_params),
    "eq-conv-dw": (
        r"""\frac{\partial L}{\partial W_{u,v}} = \sum_{i,j}
\frac{\partial L}{\partial Y_{i,j}}\, X_{i+u,\,j+v}""",
        check_conv_dw),
    "eq-conv-db": (
        r"""\frac{\partial L}{\partial b} = \sum_{i,j} \frac{\partial L}{\partial Y_{i,j}}""",
        check_conv_db),
    "eq-conv-dx": (
        r"""\frac{\partial L}{\partial X_{p,q}} = \sum_{u,v}
\frac{\partial L}{\partial Y_{p-u,\,q-v}}\, W_{u,v}""",
        check_conv_dx),
    "eq-avgpool-grad": (
        r"""\frac{\partial L}{\partial X_{h,w}} = \frac{1}{k^2}
\sum_{(i,j)\,:\,(h,w) \in \text{window}(i,j)} \frac{\partial L}{\partial
Y_{i,j}}""",
        check_avgpool_grad),
    "eq-maxpool-grad": (
        r"""\frac{\partial L}{\partial X_{h,w}} = \sum_{(i,j)\,:\,(h,w) =
\operatorname{argmax}(i,j)} \frac{\partial L}{\partial Y_{i,j}}""",
        check_maxpool_grad),
}
