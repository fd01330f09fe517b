"""Checks of the display formulas typed in book/deep.md.

Each check states the formula in SymPy where SymPy can (moments of
independent variables, derivatives of batch norm, the penalty's gradient),
and otherwise against PyTorch (batch norm's modules, the optimizers,
clipping) or by Monte Carlo with a tolerance of a few standard errors. Each
also checks that a plausible wrong version fails, so that it can tell.
"""

import math
import random

import numpy as np
import sympy as sp
import torch
import torch.nn.functional as F
from sympy import stats

from calc_nn import layers, optim
from calc_nn.symbolic import deep_formulas as deep

CHAPTER = "deep.md"
n_in, n_out = sp.symbols("n_in n_out", positive=True)


def check_forward_var():
    v, q = sp.symbols("v q", positive=True)
    m = sp.Symbol("m", real=True)
    for n in (1, 2, 3):
        moment, formula = deep.second_moment_of_layer(n)
        assert sp.simplify(moment - formula) == 0
        # the variance of the inputs alone (no mean) would be wrong
        assert sp.simplify(moment - n * v * q) != 0
    assert formula == 3 * v * (m ** 2 + q)


def check_backward_var():
    v, q = sp.symbols("v q", positive=True)
    for n, slope in ((2, sp.Rational(1, 2)), (3, sp.Rational(1, 3))):
        # f'(z) a 0/1 slope, independent of the weights and errors above
        fprime = stats.Bernoulli("f", slope)
        ws = [stats.Normal(f"W_{j}", 0, sp.sqrt(v)) for j in range(n)]
        ds = [stats.Normal(f"d_{j}", 0, sp.sqrt(q)) for j in range(n)]
        delta = fprime * sum(w * d for w, d in zip(ws, ds))
        var = sp.simplify(stats.E(sp.expand(delta ** 2)))
        assert sp.simplify(var - n * v * stats.E(fprime ** 2) * q) == 0
    assert stats.E(fprime ** 2) == sp.Rational(1, 3)


def check_xavier():
    harmonic, xavier = deep.xavier_variance()
    typed = 2 / (1 / (1 / n_in) + 1 / (1 / n_out))
    assert sp.simplify(harmonic - xavier) == 0
    assert sp.simplify(typed - 2 / (n_in + n_out)) == 0
    # not the arithmetic mean of the two variances
    assert sp.simplify(xavier - (1 / n_in + 1 / n_out) / 2) != 0


def check_relu_moment():
    moment, half = deep.relu_second_moment()
    assert sp.simplify(moment - half) == 0
    # any symmetric density: the uniform one on [-c, c], variance c^2/3
    c, z = sp.symbols("c z", positive=True)
    relu_moment = sp.integrate(z ** 2 / (2 * c), (z, 0, c))
    assert sp.simplify(relu_moment - deep.uniform_variance(c) / 2) == 0
    assert deep.relu_slope_second_moment() == (sp.Rational(1, 2),) * 2


def check_he():
    var_w, var_z, n = sp.symbols("V_W V_z n", positive=True)
    forward = n * var_w * sp.Rational(1, 2) * var_z   # eq-deep-forward-var
    assert sp.solve(sp.Eq(forward, var_z), var_w) == [2 / n]


def check_torch_default():
    n = deep.n
    assert sp.simplify(deep.torch_default_variance() - 1 / (3 * n)) == 0
    assert sp.simplify(sp.Rational(1, 3) * (1 / sp.sqrt(n)) ** 2
                       - 1 / (3 * n)) == 0
    torch.manual_seed(0)
    w = torch.nn.Linear(100, 1000).weight.detach().numpy()
    bound = 1 / math.sqrt(100)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    # 1e5 samples: the variance within 5 standard errors of 1/(3n)
    se = math.sqrt((bound ** 4 / 5 - (bound ** 2 / 3) ** 2) / w.size)
    assert abs(w.var() - 1 / 300) < 5 * se


def check_factor():
    n = sp.Symbol("n", positive=True)
    for init, var_w, r in (("pytorch", 1 / (3 * n), sp.Rational(1, 6)),
                           ("xavier", 2 / (n + n), sp.Rational(1, 2)),
                           ("he", 2 / n, 1)):
        assert sp.simplify(n * var_w / 2 - r) == 0
        for width in (4, 64, 1000):
            assert math.isclose(deep.variance_factor(init, width), float(r),
                                rel_tol=1e-12)
    assert math.isclose(deep.variance_factor("xavier", 30, 10), 0.75)


def check_fixed_point():
    v, n = sp.symbols("v n", positive=True)
    assert sp.solve(sp.Eq(v, v / 6 + 1 / (3 * n)), v) == [2 / (5 * n)]
    # the deep activations of a plain network with PyTorch's default
    # settle there (wide layers: 128 neurons, 30 layers)
    study = deep.depth_study(30, "plain", "pytorch", width=128, steps=0)
    assert abs(study.z_std[-1] / math.sqrt(2 / (5 * 128)) - 1) < 0.2


def _bn_by_formula(x, gamma, beta, eps):
    mu = x.sum(axis=0) / len(x)
    var = ((x - mu) ** 2).sum(axis=0) / len(x)
    x_hat = (x - mu) / np.sqrt(var + eps)
    return gamma * x_hat + beta


def check_bn_forward():
    rng = np.random.default_rng(0)
    for n in (2, 5, 17):
        x = rng.normal(3, 2, size=(n, 4))
        gamma, beta = rng.normal(size=4), rng.normal(size=4)
        ref = F.batch_norm(torch.tensor(x), None, None, torch.tensor(gamma),
                           torch.tensor(beta), training=True,
                           eps=1e-5).numpy()
        np.testing.assert_allclose(_bn_by_formula(x, gamma, beta, 1e-5),
                                   ref, rtol=1e-12, atol=1e-12)
        # with the unbiased variance it would differ
        unbiased = ((x - x.mean(0)) / np.sqrt(x.var(0, ddof=1) + 1e-5)
                    * gamma + beta)
        assert np.abs(unbiased - ref).max() > 1e-3


def check_bn_running():
    rng = np.random.default_rng(1)
    for rho in (0.1, 0.5):
        x = rng.normal(size=(6, 3))
        mean0, var0 = rng.normal(size=3), rng.uniform(0.5, 2, 3)
        module = torch.nn.BatchNorm1d(3, momentum=rho, dtype=torch.float64)
        module.running_mean.copy_(torch.tensor(mean0))
        module.running_var.copy_(torch.tensor(var0))
        module.train()
        module(torch.tensor(x))
        n = len(x)
        var_b = x.var(axis=0)
        np.testing.assert_allclose(
            (1 - rho) * mean0 + rho * x.mean(axis=0),
            module.running_mean.numpy(), rtol=1e-12)
        np.testing.assert_allclose(
            (1 - rho) * var0 + rho * n / (n - 1) * var_b,
            module.running_var.numpy(), rtol=1e-12)
        assert np.abs((1 - rho) * var0 + rho * var_b
                      - module.running_var.numpy()).max() > 1e-3


def _bn_column(n_rows):
    xs = sp.symbols(f"x_1:{n_rows + 1}", real=True)
    eps = sp.Symbol("epsilon", positive=True)
    mu = sum(xs) / n_rows
    s_b = sp.sqrt(sum((x - mu) ** 2 for x in xs) / n_rows + eps)
    return xs, eps, s_b, [(x - mu) / s_b for x in xs]


def _point(symbols, rng):
    return {s: sp.Rational(rng.randint(-40, 40), 9) for s in symbols}


def check_bn_jacobian():
    rng = random.Random(2)
    for n_rows in (2, 3, 4):
        xs, eps, s_b, x_hat = _bn_column(n_rows)
        at = _point(xs, rng) | {eps: sp.Rational(1, 1000)}
        for i in range(n_rows):
            for k in range(n_rows):
                by_diff = sp.diff(x_hat[i], xs[k])
                typed = (n_rows * int(i == k) - 1 - x_hat[i] * x_hat[k]) / (
                    n_rows * s_b)
                assert abs(sp.N((by_diff - typed).subs(at), 40)) < 1e-30
                wrong = (n_rows * int(i == k) - 1) / (n_rows * s_b)
                if i == k:
                    assert abs(sp.N((by_diff - wrong).subs(at), 40)) > 1e-6


def check_bn_backward():
    rng = random.Random(3)
    for n_rows in (2, 3, 4):
        by_diff, symbols = deep.batchnorm_backward_by_diff(n_rows)
        compact = deep.batchnorm_backward_compact(n_rows)
        for _ in range(3):
            at = _point((*symbols["x"], *symbols["g"], symbols["gamma"],
                         symbols["beta"]), rng)
            at[symbols["epsilon"]] = sp.Rational(1, 10 ** 5)
            for a, b in zip(by_diff, compact):
                assert abs(sp.N((a - b).subs(at), 40)) < 1e-30
    # and the layer, against torch
    x = np.random.default_rng(4).normal(size=(5, 3))
    g = np.random.default_rng(5).normal(size=(5, 3))
    gamma = np.array([1.0, -2.0, 0.5])
    _, cache = layers.batchnorm_forward(x, gamma, np.zeros(3))
    tx = torch.tensor(x, requires_grad=True)
    F.batch_norm(tx, None, None, torch.tensor(gamma), None,
                 training=True).backward(torch.tensor(g))
    np.testing.assert_allclose(layers.batchnorm_backward(g, cache)[0],
                               tx.grad.numpy(), rtol=1e-10, atol=1e-13)


def _bn_weight_gradient(W, x, g):
    W = torch.tensor(W, requires_grad=True)
    y = F.batch_norm(torch.tensor(x) @ W.T, None, None, training=True,
                     eps=1e-14)
    (torch.tensor(g) * torch.relu(y)).sum().backward()
    return W.grad.numpy()


def check_bn_scale():
    rng = np.random.default_rng(6)
    x, W, g = (rng.normal(size=(10, 4)), rng.normal(size=(3, 4)),
               rng.normal(size=(10, 3)))
    base = _bn_weight_gradient(W, x, g)
    for alpha in (0.01, 0.5, 7.0):
        scaled = _bn_weight_gradient(alpha * W, x, g)
        np.testing.assert_allclose(scaled, base / alpha, rtol=1e-8,
                                   atol=1e-12 * np.abs(base).max() / alpha)
        if alpha != 1:
            assert np.abs(scaled - base).max() > 1e-3 * np.abs(base).max()
    # without batch norm the gradient does not scale so
    Wt = torch.tensor(7 * W, requires_grad=True)
    (torch.tensor(g) * torch.relu(torch.tensor(x) @ Wt.T)).sum().backward()
    assert not np.allclose(Wt.grad.numpy(), base / 7)


def check_residual():
    J_y, I_plus_J = deep.residual_jacobians()
    assert sp.simplify(J_y - I_plus_J) == sp.zeros(2, 2)
    rng = np.random.default_rng(7)
    x, W, b, g = (rng.normal(size=4), rng.normal(size=(4, 4)),
                  rng.normal(size=4), rng.normal(size=4))

    def branch(v):
        return torch.tensor(W) @ torch.tanh(v) + torch.tensor(b)

    tx = torch.tensor(x, requires_grad=True)
    (tx + branch(tx)).backward(torch.tensor(g))
    J_F = torch.autograd.functional.jacobian(branch, torch.tensor(x))
    np.testing.assert_allclose(tx.grad.numpy(),
                               g + J_F.numpy().T @ g, rtol=1e-12)
    assert not np.allclose(tx.grad.numpy(), J_F.numpy().T @ g)


def check_residual_product():
    rng = np.random.default_rng(8)
    n, depth = 5, 6                     # z^1 ... z^5, blocks 2 ... 5
    Ws = [rng.normal(0, 0.5, size=(n, n)) for _ in range(depth - 2)]
    z1 = torch.tensor(rng.normal(size=n), requires_grad=True)
    delta_top = torch.tensor(rng.normal(size=n))
    zs, z = [z1], z1
    for W in Ws:
        z = z + torch.tensor(W) @ torch.relu(z)
        zs.append(z)
    z.backward(delta_top)
    product = np.eye(n)
    for W, z_prev in zip(Ws, zs[:-1]):
        J = W * (z_prev.detach().numpy() > 0)          # W diag(relu')
        product = product @ (np.eye(n) + J).T
    np.testing.assert_allclose(product @ delta_top.numpy(),
                               z1.grad.numpy(), rtol=1e-10)


def check_residual_variance():
    """Monte Carlo over the weights and the inputs together (the formula
    is a statement about both): one neuron j of z^l = z^{l-1} +
    W ReLU(z^{l-1}), z^{l-1} standard normal, W_jk ~ N(0, Var(W))."""
    rng = np.random.default_rng(9)
    n, samples = 64, 50_000
    for var_w in (1 / (3 * n), 1 / n, 2 / n):
        z = rng.standard_normal((samples, n))
        w = rng.normal(0, math.sqrt(var_w), size=(samples, n))
        out = z[:, 0] + np.einsum("sk,sk->s", w, np.maximum(z, 0))
        r = n * var_w / 2
        second = out ** 2                    # the mean of out is 0
        se = second.std() / math.sqrt(samples)
        assert abs(second.mean() - (1 + r)) < 5 * se
        for wrong in (r, 1 + 2 * r):         # no skip; no factor 1/2
            assert abs(second.mean() - wrong) > 10 * se


def check_dropout():
    mean, var, x, p = deep.dropout_moments()
    assert sp.simplify(mean - x) == 0
    assert sp.simplify(var - p / (1 - p) * x ** 2) == 0
    rng = np.random.default_rng(10)
    xs, g = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    out, cache = layers.dropout_forward(xs, 0.4, rng=rng)
    k = (cache.mask != 0).astype(float)
    np.testing.assert_allclose(out, k / 0.6 * xs, rtol=1e-12)
    tx = torch.tensor(xs, requires_grad=True)
    (tx * torch.tensor(cache.mask)).backward(torch.tensor(g))
    np.testing.assert_allclose(k / 0.6 * g, tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(layers.dropout_backward(g, cache),
                               tx.grad.numpy(), rtol=1e-12)


def check_l2():
    for n in (1, 2, 5):
        gradient, expected = deep.l2_penalty_gradient(n)
        assert gradient == expected
    theta = sp.Matrix(sp.symbols("t_1:4", real=True))
    lam = sp.Symbol("lambda", positive=True)
    loss = sp.sin(theta[0]) * theta[1] + theta[2] ** 3
    penalised = loss + lam / 2 * sum(t ** 2 for t in theta)
    for t in theta:
        assert sp.simplify(sp.diff(penalised, t)
                           - (sp.diff(loss, t) + lam * t)) == 0


def check_sgd_decay():
    theta, g, eta, lam = sp.symbols("theta g eta lambda", real=True)
    assert sp.expand(theta - eta * (g + lam * theta)
                     - ((1 - eta * lam) * theta - eta * g)) == 0
    rng = np.random.default_rng(11)
    th0, grad = rng.normal(size=5), rng.normal(size=5)
    p = torch.tensor(th0, requires_grad=True)
    sgd = torch.optim.SGD([p], lr=0.3, weight_decay=0.2)
    p.grad = torch.tensor(grad)
    sgd.step()
    np.testing.assert_allclose((1 - 0.3 * 0.2) * th0 - 0.3 * grad,
                               p.detach().numpy(), rtol=1e-12)


def _adamw_by_formula(theta, grads, lr, lam, betas=(0.9, 0.999), eps=1e-8):
    m = v = np.zeros_like(theta)
    for t, g in enumerate(grads, 1):
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        m_hat, v_hat = m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)
        theta = (1 - lr * lam) * theta - lr * m_hat / (np.sqrt(v_hat) + eps)
    return theta


def _torch_steps(optimizer, theta, grads, **hyper):
    p = torch.tensor(theta, requires_grad=True)
    opt = optimizer([p], **hyper)
    for g in grads:
        p.grad = torch.tensor(g)
        opt.step()
    return p.detach().numpy()


def check_adamw():
    rng = np.random.default_rng(12)
    theta0 = rng.normal(size=4)
    grads = [rng.normal(size=4) * [10, 1, 0.1, 0] for _ in range(3)]
    ours = _adamw_by_formula(theta0, grads, 0.1, 0.1)
    np.testing.assert_allclose(ours, _torch_steps(
        torch.optim.AdamW, theta0, grads, lr=0.1, weight_decay=0.1),
        rtol=1e-10, atol=1e-12)
    state, theta = None, theta0
    for g in grads:
        theta, state = optim.adamw_step(theta, g, state, lr=0.1,
                                        weight_decay=0.1)
    np.testing.assert_allclose(theta, ours, rtol=1e-10, atol=1e-12)
    # Adam's weight_decay (L2 in the gradient) is another update
    l2 = _torch_steps(torch.optim.Adam, theta0, grads, lr=0.1,
                      weight_decay=0.1)
    assert np.abs(l2 - ours).max() > 1e-2


def check_clip():
    rng = np.random.default_rng(13)
    for scale, c in ((10.0, 1.0), (0.01, 1.0), (3.0, 5.0)):
        grads = [rng.normal(size=s) * scale for s in ((3, 4), (4,), (2,))]
        total = math.sqrt(sum(float((g * g).sum()) for g in grads))
        typed = [g * min(1.0, c / (total + 1e-6)) for g in grads]
        params = [torch.zeros(g.shape, dtype=torch.float64,
                              requires_grad=True) for g in grads]
        for p, g in zip(params, grads):
            p.grad = torch.tensor(g)
        ref_total = torch.nn.utils.clip_grad_norm_(params, c)
        assert math.isclose(total, float(ref_total), rel_tol=1e-12)
        for t, p in zip(typed, params):
            np.testing.assert_allclose(t, p.grad.numpy(), rtol=1e-12)
        ours, ours_total = optim.clip_grad_norm(grads, c)
        for t, o in zip(typed, ours):
            np.testing.assert_allclose(t, o, rtol=1e-12)
        assert math.isclose(ours_total, total, rel_tol=1e-12)


# label -> (the formula exactly as typed in the chapter, its check)
CHECKED = {
    "eq-deep-forward-var": (
        r"""\operatorname{Var}(z^l_j) = n_{l-1} \operatorname{Var}(W^l)\, \mathbb{E}\big[(a^{l-1})^2\big]""",
        check_forward_var),
    "eq-deep-backward-var": (
        r"""\begin{aligned} \operatorname{Var}(\delta^l_k) = n_{l+1} &\operatorname{Var}(W^{l+1}) \\ &\times \mathbb{E}\big[f'(z^l)^2\big] \operatorname{Var}(\delta^{l+1}) \end{aligned}""",
        check_backward_var),
    "eq-deep-xavier": (
        r"""\begin{aligned} \operatorname{Var}(W) &= \frac{2}{1/(1/n_{in}) + 1/(1/n_{out})} \\ &= \frac{2}{n_{in} + n_{out}} \end{aligned}""",
        check_xavier),
    "eq-deep-relu-moment": (
        r"""\mathbb{E}\big[\operatorname{ReLU}(z)^2\big] = \tfrac12 \operatorname{Var}(z)""",
        check_relu_moment),
    "eq-deep-he": (r"""\operatorname{Var}(W^l) = \frac{2}{n_{l-1}}""",
                   check_he),
    "eq-deep-torch-default": (
        r"""\operatorname{Var}(W) = \frac{1}{3}\left(\frac{1}{\sqrt{n_{in}}}\right)^2 = \frac{1}{3 n_{in}}""",
        check_torch_default),
    "eq-deep-factor": (r"""r = \frac{n \operatorname{Var}(W)}{2}""",
                       check_factor),
    "eq-deep-fixed-point": (
        r"""v^* = \frac{v^*}{6} + \frac{1}{3n} \quad\Longrightarrow\quad v^* = \frac{2}{5n}""",
        check_fixed_point),
    "eq-deep-bn-forward": (
        r"""\begin{gathered} \mu_B = \frac1N \sum_{i=1}^N x_i, \qquad \sigma_B^2 = \frac1N \sum_{i=1}^N (x_i - \mu_B)^2, \\ \hat x_i = \frac{x_i - \mu_B}{\sqrt{\sigma_B^2 + \epsilon}}, \qquad y_i = \gamma \hat x_i + \beta \end{gathered}""",
        check_bn_forward),
    "eq-deep-bn-running": (
        r"""\begin{gathered} \hat\mu \leftarrow (1 - \rho)\,\hat\mu + \rho\,\mu_B, \\ \hat\sigma^2 \leftarrow (1 - \rho)\,\hat\sigma^2 + \rho\,\frac{N}{N-1}\,\sigma_B^2 \end{gathered}""",
        check_bn_running),
    "eq-deep-bn-jacobian": (
        r"""\frac{\partial \hat x_i}{\partial x_k} = \frac{1}{N s_B}\bigl(N\,[i = k] - 1 - \hat x_i \hat x_k\bigr)""",
        check_bn_jacobian),
    "eq-deep-bn-backward": (
        r"""\frac{\partial L}{\partial x_k} = \frac{\gamma}{N s_B}\Bigl(N g_k - \sum_{i=1}^N g_i - \hat x_k \sum_{i=1}^N g_i \hat x_i\Bigr)""",
        check_bn_backward),
    "eq-deep-bn-scale": (
        r"""\frac{\partial L}{\partial W}\bigg|_{\alpha W} = \frac{1}{\alpha}\, \frac{\partial L}{\partial W}\bigg|_{W}""",
        check_bn_scale),
    "eq-deep-residual": (
        r"""\begin{gathered} y = x + \mathcal F(x) \quad\Longrightarrow\quad J_y = I + J_{\mathcal F}, \\ \frac{\partial L}{\partial x} = \frac{\partial L}{\partial y} + J_{\mathcal F}^\top \frac{\partial L}{\partial y} \end{gathered}""",
        check_residual),
    "eq-deep-residual-product": (
        r"""\delta^1 = (I + J_2)^\top (I + J_3)^\top \cdots (I + J_{D-1})^\top\, \delta^{D-1}""",
        check_residual_product),
    "eq-deep-residual-variance": (
        r"""\begin{aligned} \operatorname{Var}(z^l) &= \operatorname{Var}(z^{l-1}) + n \operatorname{Var}(W^l)\, \tfrac12 \operatorname{Var}(z^{l-1}) \\ &= (1 + r)\operatorname{Var}(z^{l-1}) \end{aligned}""",
        check_residual_variance),
    "eq-deep-dropout": (
        r"""\begin{gathered} y_i = \frac{k_i}{1 - p}\, x_i, \quad k_i \sim \operatorname{Bernoulli}(1 - p), \\ \mathbb E[y_i] = x_i, \qquad \frac{\partial L}{\partial x_i} = \frac{k_i}{1 - p}\, \frac{\partial L}{\partial y_i} \end{gathered}""",
        check_dropout),
    "eq-deep-l2": (
        r"""\begin{gathered} \tilde L(\theta) = L(\theta) + \frac{\lambda}{2}\lVert\theta\rVert^2 \\ \Longrightarrow\quad \nabla \tilde L(\theta) = \nabla L(\theta) + \lambda\theta \end{gathered}""",
        check_l2),
    "eq-deep-sgd-decay": (
        r"""\begin{aligned} \theta_t &= \theta_{t-1} - \eta\,(g_t + \lambda\theta_{t-1}) \\ &= (1 - \eta\lambda)\,\theta_{t-1} - \eta\, g_t \end{aligned}""",
        check_sgd_decay),
    "eq-deep-adamw": (
        r"""\theta_t = (1 - \eta\lambda)\,\theta_{t-1} - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}""",
        check_adamw),
    "eq-deep-clip": (
        r"""\begin{gathered} \lVert g\rVert = \Bigl(\sum_{i=1}^{k} \lVert g_i\rVert^2\Bigr)^{1/2}, \\ g_i \leftarrow g_i \cdot \min\Bigl(1, \frac{c}{\lVert g\rVert + 10^{-6}}\Bigr) \end{gathered}""",
        check_clip),
}
