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
    H, k, p, s = sp.symbols("n_H k p s", positive=True, integer=True)
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
    Fs, Cs, kHs, kWs = sp.symbols("C_out C k_H k_W", positive=True,
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
    for h, w in itertools.product(range(4), range(4)):
        typed = sum(G[h - u, w - v] * W[u, v]
                    for u in range(2) for v in range(2)
                    if 0 <= h - u < m and 0 <= w - v < m)
        assert sp.expand(typed - g["dX"][h, w]) == 0


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


def check_conv_one():
    # eq-conv-one with the chapter's symbols is sconv.conv_layer's output
    for n, k in [(4, 2), (4, 3), (5, 3)]:
        X, W, b, Y = sconv.conv_layer(n, k)
        m = n - k + 1
        for i, j in itertools.product(range(m), range(m)):
            typed = b + sum(W[u, v] * X[i + u, j + v]
                            for u in range(k) for v in range(k))
            assert sp.expand(typed - Y[i, j]) == 0


def check_conv_dx_flip():
    for n, k in [(4, 2), (4, 3)]:
        g = sconv.gradients(n=n, k=k)
        G, W = g["G"], g["W"]
        m = G.rows
        pad = sp.zeros(m + 2 * (k - 1), m + 2 * (k - 1))
        pad[k - 1:k - 1 + m, k - 1:k - 1 + m] = G
        for h, w in itertools.product(range(n), range(n)):
            typed = sum(pad[h + u, w + v] * W[k - 1 - u, k - 1 - v]
                        for u in range(k) for v in range(k))
            assert sp.expand(typed - g["dX"][h, w]) == 0


def check_equivariance():
    # a stride-1 convolution of a moved image, index by index as typed,
    # equals the moved output (zeros all around keep the border out)
    rng = np.random.default_rng(2)
    C, n, k, d1, d2 = 2, 9, 3, 2, -1
    X = np.zeros((C, n, n), dtype=int)
    X[:, 3:6, 3:6] = rng.integers(-4, 5, (C, 3, 3))
    Wt = rng.integers(-3, 4, (3, C, k, k))
    b = rng.integers(-3, 4, 3)
    Y = F.conv2d(torch.tensor(X[None], dtype=torch.float64),
                 torch.tensor(Wt, dtype=torch.float64),
                 torch.tensor(b, dtype=torch.float64)).numpy()[0]
    m = n - k + 1

    def x_at(c, a, bb):
        return int(X[c, a, bb]) if 0 <= a < n and 0 <= bb < n else 0

    for d, i, j in itertools.product(range(3), range(m), range(m)):
        typed = int(b[d]) + sum(
            int(Wt[d, c, u, v]) * x_at(c, i + u - d1, j + v - d2)
            for c in range(C) for u in range(k) for v in range(k))
        moved = (Y[d, i - d1, j - d2] if 0 <= i - d1 < m and
                 0 <= j - d2 < m else None)
        if moved is not None:
            assert typed == moved, (d, i, j)


def _multi_case():
    rng = np.random.default_rng(3)
    N, C, Co, H, k, s, pad = 2, 2, 3, 7, 3, 2, 1
    X = rng.integers(-3, 4, (N, C, H, H))
    Wt = rng.integers(-3, 4, (Co, C, k, k))
    xt = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    wt = torch.tensor(Wt, dtype=torch.float64, requires_grad=True)
    y = F.conv2d(xt, wt, stride=s, padding=pad)
    G = rng.integers(-3, 4, tuple(y.shape))
    y.backward(torch.tensor(G, dtype=torch.float64))
    Xp = np.pad(X, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    return X, Xp, Wt, G, s, pad, xt.grad.numpy(), wt.grad.numpy()


def check_conv_dw_multi():
    _, Xp, Wt, G, s, _, _, dW = _multi_case()
    N, Co, Ho, Wo = G.shape
    for d, c, u, v in np.ndindex(*Wt.shape):
        typed = sum(int(G[n, d, i, j]) * int(Xp[n, c, s * i + u, s * j + v])
                    for n in range(N) for i in range(Ho) for j in range(Wo))
        assert typed == dW[d, c, u, v]


def check_conv_dx_multi():
    X, Xp, Wt, G, s, pad, dX, _ = _multi_case()
    N, Co, Ho, Wo = G.shape
    k = Wt.shape[-1]
    typed = np.zeros(Xp.shape, dtype=int)
    for n, c, h, w in np.ndindex(*Xp.shape):
        typed[n, c, h, w] = sum(
            int(G[n, d, i, j]) * int(Wt[d, c, h - s * i, w - s * j])
            for d in range(Co) for i in range(Ho) for j in range(Wo)
            if 0 <= h - s * i < k and 0 <= w - s * j < k)
    # the image's gradient is the padded one without its border
    np.testing.assert_array_equal(typed[:, :, pad:-pad, pad:-pad], dX)


def check_conv_matrix():
    from calc_nn import conv

    rng = np.random.default_rng(4)
    for shape, stride, padding in [((2, 5, 6), 1, 1), ((1, 7, 7), 2, 0)]:
        W = rng.standard_normal((3, shape[0], 3, 2))
        T = conv.conv2d_matrix(W, shape, stride=stride, padding=padding)
        x = torch.tensor(rng.standard_normal(shape)[None],
                         requires_grad=True)
        y = F.conv2d(x, torch.tensor(W), stride=stride, padding=padding)
        np.testing.assert_allclose(T @ x.detach().numpy().ravel(),
                                   y.detach().numpy().ravel(), rtol=1e-12,
                                   atol=1e-12)
        g = rng.standard_normal(tuple(y.shape))
        y.backward(torch.tensor(g))
        np.testing.assert_allclose(T.T @ g.ravel(), x.grad.numpy().ravel(),
                                   rtol=1e-12, atol=1e-12)


def check_receptive_field():
    # the typed sum against the pixels a backward pass reaches through a
    # stack of torch convolutions with positive weights
    D = sp.Symbol("D", integer=True, positive=True)
    for ks, ss in [([3], [1]), ([3, 3], [1, 1]), ([3, 2, 3, 2], [1, 2, 1, 2]),
                   ([5, 3, 3], [2, 2, 1]), ([2, 2, 2], [2, 2, 2])]:
        kk = sp.IndexedBase("k")
        sk = sp.IndexedBase("s")
        l_, i_ = sp.symbols("l i", integer=True, positive=True)
        typed = 1 + sp.Sum((kk[l_] - 1) * sp.Product(sk[i_], (i_, 1, l_ - 1)),
                           (l_, 1, D))
        value = typed.subs(D, len(ks)).doit().subs(
            {**{kk[j + 1]: ks[j] for j in range(len(ks))},
             **{sk[j + 1]: ss[j] for j in range(len(ss))}})
        x = torch.zeros(1, 1, 64, 64, requires_grad=True)
        h = x
        for k, s in zip(ks, ss):
            h = F.conv2d(h, torch.ones(1, 1, k, k), stride=s)
        h[0, 0, 0, 0].backward()
        rows = torch.nonzero(x.grad[0, 0].sum(1)).ravel()
        assert value == len(rows) == sconv.receptive_field(ks, ss), (ks, ss)


# label -> (the formula exactly as typed in the chapter, its check)
CHECKED = {
    "eq-conv": (
        r"""Y_{d,i,j} = b_d + \sum_{c=1}^{C} \sum_{u=0}^{k_H-1} \sum_{v=0}^{k_W-1}
W_{d,c,u,v}\, X_{c,\,s i + u,\,s j + v}""",
        check_conv),
    "eq-output-size": (
        r"""n_H^{\text{out}} = \left\lfloor \frac{n_H + 2p - k}{s} \right\rfloor + 1""",
        check_output_size),
    "eq-conv-params": (
        r"""C_{\mathrm{out}}\,(C\,k_H\,k_W + 1)""",
        check_conv_params),
    "eq-conv-dw": (
        r"""\frac{\partial L}{\partial W_{u,v}} = \sum_{i,j}
\frac{\partial L}{\partial Y_{i,j}}\, X_{i+u,\,j+v}""",
        check_conv_dw),
    "eq-conv-db": (
        r"""\frac{\partial L}{\partial b} = \sum_{i,j} \frac{\partial L}{\partial Y_{i,j}}""",
        check_conv_db),
    "eq-conv-dx": (
        r"""\frac{\partial L}{\partial X_{h,w}} = \sum_{u,v}
\frac{\partial L}{\partial Y_{h-u,\,w-v}}\, W_{u,v}""",
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
    "eq-conv-one": (
        r"""Y_{i,j} = b + \sum_{u=0}^{k-1} \sum_{v=0}^{k-1} W_{u,v}\, X_{i+u,\,j+v}""",
        check_conv_one),
    "eq-conv-dx-flip": (
        r"""\frac{\partial L}{\partial X_{h,w}} = \sum_{u,v}
G^{\text{pad}}_{h+u,\,w+v}\, W_{k-1-u,\,k-1-v}""",
        check_conv_dx_flip),
    "eq-equivariance": (
        r"""\begin{aligned}
Y'_{d,i,j} &= b_d + \sum_{c,u,v} W_{d,c,u,v}\, X_{c,\,i + u - \Delta_1,\,
j + v - \Delta_2} \\
&= Y_{d,\,i - \Delta_1,\,j - \Delta_2}
\end{aligned}""",
        check_equivariance),
    "eq-conv-dw-multi": (
        r"""\frac{\partial L}{\partial W_{d,c,u,v}} = \sum_{n} \sum_{i,j}
\frac{\partial L}{\partial Y_{n,d,i,j}}\, X_{n,c,\,s i+u,\,s j+v}""",
        check_conv_dw_multi),
    "eq-conv-dx-multi": (
        r"""\begin{aligned}
\frac{\partial L}{\partial X_{n,c,h,w}} &= \sum_{d=1}^{C_{\mathrm{out}}}
\sum_{(i,u):\, s i + u = h} \; \sum_{(j,v):\, s j + v = w} \\
&\qquad \frac{\partial L}{\partial Y_{n,d,i,j}}\, W_{d,c,u,v}
\end{aligned}""",
        check_conv_dx_multi),
    "eq-conv-matrix": (
        r"""\begin{gathered}
\operatorname{vec}(Y) = T \operatorname{vec}(X), \\
\frac{\partial L}{\partial \operatorname{vec}(X)} =
T^\top \frac{\partial L}{\partial \operatorname{vec}(Y)}
\end{gathered}""",
        check_conv_matrix),
    "eq-receptive-field": (
        r"""r_D = 1 + \sum_{l=1}^{D} (k_l - 1) \prod_{i=1}^{l-1} s_i""",
        check_receptive_field),
}
