"""The chapter "The calculus you need": the claims its prose makes.

Every number the chapter glues into a sentence comes from the calls below;
each test asserts the claim the sentence makes with it ("about ten times
smaller", "-grad f does not point at the minimum", "512 times fewer flops",
"central differences are best near h = 1e-5 in float64"), so a change that
makes a sentence false fails here. The figure functions are checked for
what explore() and readers need: the same traces in every state, and a text
alternative computed from the plotted numbers.
"""

import math
import re
from unittest import mock

import numpy as np
import pytest
import sympy as sp
import torch
from chapter_text import admonition, bare, glossary_entry, prose, read, refs
from torch.utils.flop_counter import FlopCounterMode

from calc_nn import activations as act
from calc_nn import optim
from calc_nn.gradcheck import numerical_gradient, relative_error
from calc_nn.losses import cross_entropy, cross_entropy_grad
from calc_nn.mlp import MLP, make_moons
from calc_nn.plots import calculus_figures as figs
from calc_nn.symbolic import calculus_formulas as calc
from calc_nn.train import fit_calc_nn
from calc_nn.widgets import MAX_STATES, Choice, Slider, explore

x, y, h = calc.x, calc.y, calc.h
HS = calc.step_grid()


# ------------------------------------------------ the derivative, gradient

def test_tangent_error_shrinks_faster_than_h():
    remainder = calc.linear_remainder(calc.CUBIC)
    assert sp.expand(remainder - (3 * x * h ** 2 + h ** 3)) == 0
    ratios = [float(remainder.subs({x: 1, h: s}) / s) for s in (0.1, 0.01)]
    assert ratios == pytest.approx([0.31, 0.0301], rel=1e-12)
    # "about ten times smaller" for a ten times smaller h
    assert 9 < ratios[0] / ratios[1] < 11


def test_steepest_descent_is_minus_the_gradient_not_the_minimum():
    point = calc.BOWL_POINT
    grad = np.array([float(d.subs({x: point[0], y: point[1]}))
                     for d in calc.gradient(calc.BOWL)])
    assert grad == pytest.approx([2.0, 4.0])
    best = calc.steepest_descent_angle(calc.BOWL, point)
    slopes = [calc.directional_derivative(calc.BOWL, point, a)
              for a in np.arange(0, 360, 0.5)]
    assert min(slopes) == pytest.approx(-np.linalg.norm(grad), rel=1e-4)
    assert np.arange(0, 360, 0.5)[np.argmin(slopes)] == pytest.approx(
        best, abs=0.5)
    assert calc.directional_derivative(calc.BOWL, point, best) == \
        pytest.approx(-np.sqrt(20), rel=1e-12)
    to_minimum = np.rad2deg(np.arctan2(-point[1], -point[0])) % 360
    assert abs(best - to_minimum) > 30      # "does not point at (0, 0)"
    # "points mostly across the valley": the valley floor is the flat axis
    # (curvature 1 along x, 4 along y), -grad f is mostly along y
    assert abs(np.sin(np.deg2rad(best))) > abs(np.cos(np.deg2rad(best)))
    assert calc.hessian(calc.BOWL)[0, 0] < calc.hessian(calc.BOWL)[1, 1]
    # "more across the valley than along it wherever 4|y| > |x|"
    for px, py in np.random.default_rng(0).uniform(-3, 3, (50, 2)):
        angle = np.deg2rad(calc.steepest_descent_angle(calc.BOWL, (px, py)))
        assert (abs(np.sin(angle)) > abs(np.cos(angle))) == \
            (4 * abs(py) > abs(px))
    # perpendicular to the gradient the slope is 0
    assert calc.directional_derivative(calc.BOWL, point, best + 90) == \
        pytest.approx(0, abs=1e-12)


# --------------------------------------------- Jacobians and the chain rule

def test_jacobian_example_agrees_with_autograd():
    J = calc.jacobian(calc.VECTOR_EXAMPLE)
    at = {calc.x1: 0.5, calc.x2: -1.2}
    J_torch = torch.autograd.functional.jacobian(
        lambda v: torch.stack([v[0] * v[1], v[0] + torch.sin(v[1]),
                               v[0] ** 2]),
        torch.tensor([0.5, -1.2], dtype=torch.float64)).numpy()
    assert J_torch.shape == (3, 2)
    assert relative_error(np.array(J.subs(at).evalf(), dtype=float),
                          J_torch) < 1e-15


@pytest.mark.parametrize("seed", range(3))
def test_one_layer_jacobian_is_diag_sigma_prime_times_w(seed):
    rng = np.random.default_rng(seed)
    W, b, x0 = (rng.standard_normal((4, 3)), rng.standard_normal(4),
                rng.standard_normal(3))
    by_hand = np.diag(act.sigmoid_grad(W @ x0 + b)) @ W
    by_torch = torch.autograd.functional.jacobian(
        lambda v: torch.sigmoid(torch.tensor(W) @ v + torch.tensor(b)),
        torch.tensor(x0)).numpy()
    assert by_hand.shape == (4, 3)
    assert relative_error(by_hand, by_torch) < 1e-12


@pytest.mark.parametrize("seed", range(3))
def test_the_four_matrix_rules_against_autograd(seed):
    rng = np.random.default_rng(seed)
    N, n, m = 5, 4, 3
    X, W, b = (rng.standard_normal((N, n)), rng.standard_normal((m, n)),
               rng.standard_normal(m))
    G = rng.standard_normal((N, m))
    Xt, Wt, bt = (torch.tensor(a, requires_grad=True) for a in (X, W, b))
    (torch.tensor(G) * (Xt @ Wt.T + bt)).sum().backward()
    assert relative_error(G.T @ X, Wt.grad.numpy()) < 1e-12
    assert relative_error(G @ W, Xt.grad.numpy()) < 1e-12
    assert relative_error(G.sum(axis=0), bt.grad.numpy()) < 1e-12
    A, v = rng.standard_normal((n, n)), rng.standard_normal(n)
    vt = torch.tensor(v, requires_grad=True)
    (vt @ torch.tensor(A) @ vt).backward()
    assert relative_error((A + A.T) @ v, vt.grad.numpy()) < 1e-12
    assert relative_error(2 * A @ v, vt.grad.numpy()) > 1e-3  # A not sym.
    z, up = rng.standard_normal(n), rng.standard_normal(n)
    zt = torch.tensor(z, requires_grad=True)
    (torch.tensor(up) * torch.tanh(zt)).sum().backward()
    assert relative_error(act.tanh_grad(z) * up, zt.grad.numpy()) < 1e-12
    # rule 3 needs no diagonal matrix: diag(f'(z)) g is f'(z) * g
    assert np.array_equal(np.diag(act.tanh_grad(z)) @ up,
                          act.tanh_grad(z) * up)
    # rule 4: the sum hands every entry 1, the mean 1/N
    for reduce, expected in ((torch.sum, np.ones(n)),
                             (torch.mean, np.full(n, 1 / n))):
        vt = torch.tensor(v, requires_grad=True)
        reduce(vt).backward()
        assert relative_error(expected, vt.grad.numpy()) < 1e-15


# ---------------------------------------------------------------- VJP cost

def test_vjp_costs_measured_by_the_flop_counter():
    n_in, n_out = 784, 512
    costs = calc.linear_layer_costs(n_in, n_out)
    meta = {"device": "meta", "dtype": torch.float64}
    with FlopCounterMode(display=False) as counter:
        torch.empty(1, n_out, **meta) @ torch.empty(n_out, n_out * n_in,
                                                    **meta)
    assert counter.get_total_flops() == costs["jacobian_flops"]
    W = torch.randn(n_out, n_in, dtype=torch.float64, requires_grad=True)
    out = torch.randn(1, n_in, dtype=torch.float64) @ W.T
    with FlopCounterMode(display=False) as counter:
        out.backward(torch.randn(1, n_out, dtype=torch.float64))
    assert counter.get_total_flops() == costs["vjp_flops"]
    assert costs["jacobian_entries"] == 512 * 512 * 784 == 205_520_896
    assert costs["jacobian_entries"] * 8 / 1e9 == pytest.approx(1.64,
                                                                abs=5e-3)
    # "512 times fewer": the number of outputs; "hundreds of times more"
    assert costs["jacobian_flops"] // costs["vjp_flops"] == n_out == \
        costs["ratio"] >= 100
    assert MLP([784, 512, 256, 10]).n_parameters == 535_818


@pytest.mark.parametrize("n_in, n_out, device", [
    (7, 5, "cpu"), (784, 24, "cpu"), (784, 512, "meta")])
def test_functional_jacobian_runs_one_vjp_per_output(n_in, n_out, device):
    """"on the layer of the cell above the flop counter finds one forward
    pass plus exactly the cost of the product with the Jacobian", on the
    layer as the chapter writes it (a (1, n_in) row times W^T): the
    chapter's 784 -> 512 layer on meta tensors (its Jacobian would fill
    1.64 GB), smaller ones with real numbers."""
    costs = calc.linear_layer_costs(n_in, n_out)
    x_row = torch.randn(1, n_in, dtype=torch.float64, device=device)
    W = torch.randn(n_out, n_in, dtype=torch.float64, device=device)
    calls = []
    original = torch.autograd.grad

    def counting_grad(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)
    with FlopCounterMode(display=False) as counter, \
            mock.patch("torch.autograd.grad", counting_grad):
        J = torch.autograd.functional.jacobian(lambda W: x_row @ W.T, W)
    assert len(calls) == n_out                  # "one VJP per output"
    # the summary: "building that Jacobian with autograd as many again"
    # (as many flops as the product with it, beside one forward pass)
    assert J.shape == (1, n_out, n_out, n_in)
    forward = 2 * n_in * n_out
    assert counter.get_total_flops() == forward + costs["jacobian_flops"]
    assert costs["jacobian_flops"] == n_out * costs["vjp_flops"]


@pytest.mark.parametrize("N", [1, 3])
def test_a_batch_multiplies_both_counts_by_n(N):
    """"a batch of N examples multiplies both counts by N", counted as
    the chapter counts them (meta tensors; autograd's backward)."""
    n_in, n_out = 784, 512
    costs = calc.linear_layer_costs(n_in, n_out)
    meta = {"device": "meta", "dtype": torch.float64}
    with FlopCounterMode(display=False) as counter:
        torch.empty(1, N * n_out, **meta) @ torch.empty(
            N * n_out, n_out * n_in, **meta)
    assert counter.get_total_flops() == N * costs["jacobian_flops"]
    W = torch.randn(n_out, n_in, dtype=torch.float64, requires_grad=True)
    out = torch.randn(N, n_in, dtype=torch.float64) @ W.T
    with FlopCounterMode(display=False) as counter:
        out.backward(torch.randn(N, n_out, dtype=torch.float64))
    assert counter.get_total_flops() == N * costs["vjp_flops"]


def test_the_explicit_jacobian_gives_the_vjp():
    rng = np.random.default_rng(2)
    x_small, g_small = rng.standard_normal(5), rng.standard_normal(3)
    J_W = np.kron(np.eye(3), x_small)
    J_torch = torch.autograd.functional.jacobian(
        lambda Wf: Wf.reshape(3, 5) @ torch.tensor(x_small),
        torch.zeros(15, dtype=torch.float64)).numpy()
    assert np.array_equal(J_W, J_torch)
    assert np.allclose((g_small @ J_W).reshape(3, 5),
                       np.outer(g_small, x_small))


@pytest.mark.parametrize("n_in, n_out", [(0, 3), (3, -1), (2.5, 3)])
def test_linear_layer_costs_rejects_bad_sizes(n_in, n_out):
    with pytest.raises((TypeError, ValueError), match="n_in|n_out"):
        calc.linear_layer_costs(n_in, n_out)


# ------------------------------------------------ curvature and convexity

def test_bowl_hessian_and_exact_taylor():
    H = calc.hessian(calc.BOWL)
    assert H == sp.diag(1, 4)
    assert sorted(H.eigenvals()) == [1, 4]
    # "the curvature along a unit direction u is u^T H u, between the
    # smallest and the largest eigenvalue (here 1 and 4, along the axes)"
    Hf = np.array(H, dtype=float)
    angles = np.deg2rad(np.arange(0, 360, 5))
    curvature = [u @ Hf @ u for u in np.column_stack([np.cos(angles),
                                                      np.sin(angles)])]
    assert min(curvature) == pytest.approx(1) and \
        max(curvature) == pytest.approx(4)
    assert curvature[0] == pytest.approx(1) and \
        curvature[18] == pytest.approx(4)                    # x and y axes
    # the cubic: the second-order expansion misses by exactly h^3
    second = calc.taylor_polynomial(calc.CUBIC, 2)
    assert sp.expand(calc.CUBIC.subs(x, x + h) - second) == h ** 3


def _gradient_descent_converges(H, lr, steps=400):
    theta = np.ones(len(H))
    for _ in range(steps):
        theta = theta - lr * H @ theta
    return np.linalg.norm(theta) < 1e-6


def test_gradient_descent_on_a_quadratic_bowl_needs_0_lr_2_over_lmax():
    """"gradient descent on a quadratic bowl (a positive definite Hessian)
    converges exactly when the learning rate is between 0 and
    2/lambda_max", on the bowl of the chapter and on a saddle."""
    H = np.array(calc.hessian(calc.BOWL), dtype=float)
    critical = 2 / np.linalg.eigvalsh(H).max()
    assert critical == pytest.approx(0.5)
    for lr in (0.05, 0.3, 0.95 * critical):
        assert _gradient_descent_converges(H, lr)
    for lr in (-0.05, 0.0, critical, 1.05 * critical):
        assert not _gradient_descent_converges(H, lr)
    saddle = np.diag([4.0, -1.0])                      # not positive definite
    for lr in (0.05, 0.3, 0.45):
        assert not _gradient_descent_converges(saddle, lr)


def test_a_convex_function_lies_above_its_tangent_planes():
    """The convexity paragraph's derivation: f(x + h) = f(x) + grad^T h
    + h^T H(x + t0 h) h / 2 >= f(x) + grad^T h. Exact with SymPy on the
    bowl (H constant); on the cross-entropy in the logits (convex, not
    quadratic) the gap is >= 0 and lies between the smallest and largest
    h^T H h / 2 along the segment, as the remainder at some t0 says."""
    hx, hy = sp.symbols("h_x h_y", real=True)
    step = sp.Matrix([hx, hy])
    grad, H = calc.gradient(calc.BOWL), calc.hessian(calc.BOWL)
    gap = (calc.BOWL.subs({x: x + hx, y: y + hy}, simultaneous=True)
           - calc.BOWL - (grad.T * step)[0])
    assert sp.expand(gap - (step.T * H * step)[0] / 2) == 0
    rng = np.random.default_rng(0)
    target = torch.tensor([2])
    for _ in range(8):
        z, h_ = (torch.tensor(rng.standard_normal((1, 4))) for _ in range(2))
        ce = torch.nn.functional.cross_entropy

        def f(v):
            return ce(v.reshape(1, 4), target)
        g = torch.autograd.functional.jacobian(f, z).reshape(4)
        gap = float(f(z + h_) - f(z) - g @ h_.reshape(4))
        curvatures = [float(h_.reshape(4) @ torch.autograd.functional.hessian(
            f, z + t * h_).reshape(4, 4) @ h_.reshape(4)) / 2
            for t in np.linspace(0, 1, 51)]
        assert gap >= 0
        assert min(curvatures) - 1e-12 <= gap <= max(curvatures) + 1e-12


def _losses_at_twins(seed):
    X, labels = make_moons(200, noise=0.15, seed=0)
    net = MLP([2, 8, 2], "tanh", seed=seed)
    fit_calc_nn(net, X, labels, epochs=300, batch_size=None,
                step=optim.gd_step, lr=0.5, show=False)
    swap = [1, 0, 2, 3, 4, 5, 6, 7]
    twin = MLP([2, 8, 2], "tanh", seed=seed)
    twin.weights[0][...] = net.weights[0][swap]
    twin.biases[0][...] = net.biases[0][swap]
    twin.weights[1][...] = net.weights[1][:, swap]
    twin.biases[1][...] = net.biases[1]

    def loss_at(theta):
        probe = MLP([2, 8, 2], "tanh", seed=seed)
        probe.set_flat(theta)
        return cross_entropy(probe(X), labels)
    a, b = net.get_flat(), twin.get_flat()
    return loss_at(a), loss_at(b), loss_at((a + b) / 2), a, b


def test_every_ordering_of_the_hidden_neurons_gives_the_same_loss():
    """"Every one of the 8! orderings of the 8 hidden neurons computes the
    same function", and "training has not reached a minimum here"."""
    X, labels = make_moons(200, noise=0.15, seed=0)
    net = MLP([2, 8, 2], "tanh", seed=0)
    fit_calc_nn(net, X, labels, epochs=300, batch_size=None,
                step=optim.gd_step, lr=0.5, show=False)
    assert math.factorial(net.layer_sizes[1]) == 40_320
    logits, cache = net.forward(X)
    grads = net.backward(cross_entropy_grad(logits, labels), cache)
    assert np.sqrt(sum((g ** 2).sum() for g in grads)) > 1e-2
    rng = np.random.default_rng(0)
    for _ in range(5):
        order = rng.permutation(8)
        twin = MLP([2, 8, 2], "tanh", seed=0)
        twin.weights[0][...] = net.weights[0][order]
        twin.biases[0][...] = net.biases[0][order]
        twin.weights[1][...] = net.weights[1][:, order]
        twin.biases[1][...] = net.biases[1]
        assert np.allclose(twin(X), net(X), rtol=1e-12, atol=1e-12)


def test_sign_flips_of_the_hidden_neurons_give_the_same_function_too():
    """"flipping the signs of one neuron's incoming weights, bias and
    outgoing weights" changes nothing for the chapter's activation (it is
    odd), so a minimum has 8! * 2^8 equivalent ones, all distinct for the
    trained weights: no two neurons equal or opposite, none all zeros."""
    activation = re.search(r'net = MLP\(\[2, 8, 2\], "(\w+)"',
                           read("calculus")).group(1)
    X, labels = make_moons(200, noise=0.15, seed=0)
    net = MLP([2, 8, 2], activation, seed=0)
    fit_calc_nn(net, X, labels, epochs=300, batch_size=None,
                step=optim.gd_step, lr=0.5, show=False)
    rng = np.random.default_rng(1)
    for _ in range(5):
        order, signs = rng.permutation(8), rng.choice([-1.0, 1.0], 8)
        twin = MLP([2, 8, 2], activation, seed=0)
        twin.weights[0][...] = signs[:, None] * net.weights[0][order]
        twin.biases[0][...] = signs * net.biases[0][order]
        twin.weights[1][...] = signs[None, :] * net.weights[1][:, order]
        twin.biases[1][...] = net.biases[1]
        assert not np.allclose(twin.get_flat(), net.get_flat())
        assert np.allclose(twin(X), net(X), rtol=1e-12, atol=1e-12)
    neurons = np.column_stack([net.weights[0], net.biases[0],
                               net.weights[1].T])        # one row each
    assert np.abs(neurons).max(axis=1).min() > 1e-3      # none all zeros
    for i in range(8):
        for j in range(i + 1, 8):
            for sign in (1, -1):
                assert np.abs(neurons[i] - sign * neurons[j]).max() > 1e-3
    assert math.factorial(8) * 2 ** 8 == 10_321_920


@pytest.mark.parametrize("seed", range(4))
def test_a_network_loss_is_not_convex(seed):
    """The chapter uses seed 0; the claim holds for other random seeds."""
    loss_a, loss_b, mid, a, b = _losses_at_twins(seed)
    assert not np.allclose(a, b)                  # different weights ...
    assert loss_b == pytest.approx(loss_a, rel=1e-12)  # ... same function
    assert mid > max(loss_a, loss_b)      # convexity would give mid <= both


# ------------------------------------------------ numerical differentiation

@pytest.mark.parametrize("name", list(calc.DIFFERENCES))
def test_central_beats_forward_and_is_best_near_1e5_in_float64(name):
    best = {(k, d): calc.best_step(HS, calc.difference_errors(name, HS, k, d))
            for k in ("forward", "central") for d in ("float64", "float32")}
    for dtype in ("float64", "float32"):
        assert best["central", dtype][1] < best["forward", dtype][1]
    assert 1e-6 <= best["central", "float64"][0] <= 1e-4
    assert best["central", "float64"][1] < 1e-10
    assert 1e-9 <= best["forward", "float64"][0] <= 1e-7
    assert 1e-9 < best["forward", "float64"][1] < 1e-7
    # float32: even the best central difference stays above 1e-7
    assert best["central", "float32"][1] > 1e-7
    # predicted and measured best steps agree within a small factor
    for (kind, dtype), (h_best, _) in best.items():
        predicted = calc.predicted_best_step(name, kind, dtype)
        assert 1 / 6 < h_best / predicted < 6, (kind, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", ["+", "-", "*", "/"])
def test_machine_epsilon_is_the_gap_and_rounding_costs_half(dtype, op):
    """"the gap between 1 and the next floating-point number", and "a
    relative error of at most eps/2" for the result of every arithmetic
    operation, on random operands (exact results from fractions)."""
    import operator
    from fractions import Fraction
    apply = {"+": operator.add, "-": operator.sub, "*": operator.mul,
             "/": operator.truediv}[op]
    eps = np.finfo(dtype).eps
    assert np.nextafter(dtype(1), dtype(2)) - dtype(1) == eps
    rng = np.random.default_rng(0)
    a, b = (rng.uniform(0.1, 10, 200).astype(dtype) for _ in range(2))
    errors = []
    for u, v, rounded in zip(a, b, apply(a, b)):
        exact = apply(Fraction(float(u)), Fraction(float(v)))
        if exact:
            errors.append(abs(Fraction(float(rounded)) - exact) / abs(exact))
    assert eps / 8 < max(errors) <= Fraction(float(eps)) / 2


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_an_underflow_costs_more_than_half_eps(dtype):
    """"(unless the result overflows or underflows)": below the smallest
    normal number the spacing stops shrinking, so a rounded product can be
    off by far more than eps/2 (here 3 * 2^-k times 1/2 is 1.5 * 2^-k,
    which rounds to 2 * 2^-k: an error of 1/3; a processor that flushes
    it to zero errs by 1)."""
    smallest = np.finfo(dtype).smallest_subnormal
    product = dtype(3 * smallest) * dtype(0.5)
    error = abs(float(product / smallest) - 1.5) / 1.5
    assert error > 1e3 * np.finfo(dtype).eps


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["exp", "tanh", "log1p", "sin"])
def test_library_functions_stay_within_a_few_eps(dtype, name):
    """"a library function such as e^x or tanh ... is not guaranteed to
    be rounded to the nearest; NumPy's stay within a few eps": against
    mpmath with 60 digits, over the range the chapter evaluates them on.
    NumPy's own accuracy tests allow these functions at most 3 ulps, and
    an ulp of v is at most eps |v|, hence the bound 4 eps (on the machine
    this was written on, float32 exp reaches 1.4 eps)."""
    import mpmath
    mpmath.mp.dps = 60
    exact = getattr(mpmath, name)
    eps = float(np.finfo(dtype).eps)
    points = np.random.default_rng(0).uniform(-5, 5, 300).astype(dtype)
    if name == "log1p":
        points = np.abs(points)
    values = getattr(np, name)(points)
    assert values.dtype == dtype
    worst = max(float(abs((mpmath.mpf(float(v)) - exact(mpmath.mpf(
        float(p)))) / exact(mpmath.mpf(float(p)))))
        for p, v in zip(points, values))
    assert worst < 4 * eps


@pytest.mark.parametrize("name", list(calc.DIFFERENCES))
def test_smallest_errors_are_of_the_order_the_model_predicts(name):
    """The exercise: the smallest central error is of the order of
    eps^(2/3), the smallest forward error of the order of sqrt(eps)."""
    for dtype in (np.float64, np.float32):
        eps = float(np.finfo(dtype).eps)
        for kind, order in (("central", eps ** (2 / 3)),
                            ("forward", np.sqrt(eps))):
            _, error = calc.best_step(
                HS, calc.difference_errors(name, HS, kind, dtype))
            assert order / 10 < error < order * 10, (kind, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_flat_tops_are_differences_that_are_exactly_zero(dtype):
    """"f(x + h) and f(x) round to the same floating-point number at more
    than half of the 41 points, and at all of them once x + h rounds to x
    itself; the difference is then exactly 0, a relative error of exactly 1 ...
    for the sigmoid, the median error of both differences is 1 at every
    step up to" the glued step, computed as the chapter computes it."""
    errors = {k: calc.difference_errors("sigmoid", HS, k, dtype)
              for k in ("forward", "central")}
    flat = min(HS[e == 1].max() for e in errors.values())
    assert flat < (1e-6 if dtype == "float32" else 1e-14)
    f = sp.lambdify(x, calc.DIFFERENCES["sigmoid"][0], "numpy")
    points = calc.difference_points("sigmoid", dtype)
    for kind, errs in errors.items():
        assert np.all(errs[HS <= flat] == 1), kind
        for step in HS[HS <= flat]:
            zeros = sum(calc.difference_quotient(f, p, step, kind, dtype) == 0
                        for p in points)
            assert zeros > len(points) / 2, (kind, step)
        # x + h rounds to x at every point: every difference is 0
        tiny = float(np.spacing(points.min())) / 4
        assert all(p + points.dtype.type(tiny) == p for p in points)
        assert all(calc.difference_quotient(f, p, tiny, kind, dtype) == 0
                   for p in points)
    # "at most of the 41 points" read as "at no more than": the chapter
    # says the majority the loop above counts
    assert ("round to the same floating-point number at more than half of "
            "the 41 points") in " ".join(read("calculus").split())


@pytest.mark.parametrize("name", list(calc.DIFFERENCES))
def test_the_arms_of_the_v(name):
    f64 = {k: calc.difference_errors(name, HS, k, "float64")
           for k in ("forward", "central")}
    assert calc.loglog_slope(HS, f64["forward"], 1e-5, 1e-2) == \
        pytest.approx(1, abs=0.1)
    assert calc.loglog_slope(HS, f64["central"], 1e-3, 1e-1) == \
        pytest.approx(2, abs=0.1)
    assert calc.loglog_slope(HS, f64["central"], 1e-13, 1e-8) == \
        pytest.approx(-1, abs=0.15)


@pytest.mark.parametrize("seed", range(3, 9))
def test_gradient_check_of_the_chapter(seed):
    """The chapter draws seed 3; the claims hold for others too."""
    rng = np.random.default_rng(seed)
    N, n = 50, 5
    X = rng.standard_normal((N, n))
    labels = np.where(rng.random(N) < 0.5, -1.0, 1.0)
    w = rng.standard_normal(n)

    def loss(w):
        return np.mean(np.log1p(np.exp(-labels * (X @ w))))

    def gradient(w):
        return -X.T @ (labels * act.sigmoid(-labels * (X @ w))) / N
    numeric = numerical_gradient(loss, w)
    assert relative_error(gradient(w), numeric) < 1e-7       # "happy"
    assert relative_error(N * gradient(w), numeric) > 1e-2   # "wrong"
    # missing 1/N: |N g - g| / (|N g| + |g|) = (N - 1) / (N + 1)
    assert relative_error(N * gradient(w), numeric) == pytest.approx(
        (N - 1) / (N + 1), rel=1e-6)
    X32, labels32, w32 = (a.astype(np.float32) for a in (X, labels, w))

    def partial_float32(i, step):
        def along_i(t):
            v = w32.copy()
            v[i] = t
            return np.mean(np.log1p(np.exp(-labels32 * (X32 @ v))))
        return calc.difference_quotient(along_i, float(w32[i]), step,
                                        "central", np.float32)
    check32 = min(relative_error(gradient(w), np.array(
        [partial_float32(i, s) for i in range(n)], dtype=np.float64))
        for s in (1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 1e-4))
    assert check32 > 100 * 1e-7      # "stays far from 1e-7"


def test_difference_quotient_keeps_the_precision():
    for dtype in (np.float32, np.float64):
        for kind in ("forward", "central"):
            d = calc.difference_quotient(np.sin, 1.0, 1e-3, kind, dtype)
            assert np.asarray(d).dtype == dtype
            assert float(d) == pytest.approx(np.cos(1.0), rel=1e-2)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"h": 0.0}, ValueError, "h"),
    ({"h": -1e-3}, ValueError, "h"),
    ({"h": float("nan")}, ValueError, "h"),
    ({"x0": float("inf")}, ValueError, "x0"),
    ({"kind": "backward"}, ValueError, "kind"),
    ({"dtype": np.float16}, TypeError, "dtype"),
    ({"dtype": None}, TypeError, "dtype"),
    ({"f": 3.0}, TypeError, "f"),
])
def test_difference_quotient_rejects_bad_input(kwargs, error, match):
    args = {"f": np.sin, "x0": 1.0, "h": 1e-3, "kind": "central",
            "dtype": np.float64, **kwargs}
    with pytest.raises(error, match=match):
        calc.difference_quotient(**args)


def test_helpers_reject_unknown_names():
    with pytest.raises(ValueError, match="name"):
        calc.difference_errors("tan", HS[:3])
    with pytest.raises(ValueError, match="kind"):
        calc.predicted_best_step("exp", "backward")
    with pytest.raises(ValueError, match="point"):
        calc.directional_derivative(calc.BOWL, (1.0, 2.0, 3.0), 0.0)


# ------------------------------------------------------- the page's text

def test_the_chapters_named_as_running_finite_differences_do():
    """The "Before you start" box: "calc-finite-differences is the check
    that <chapters> run on their derivatives"; each named chapter calls a
    central difference of calc_nn.gradcheck in its code."""
    box = " ".join(admonition(read("calculus"), "Before you start").split())
    sentence = re.search(r"calc-finite-differences`\s+is the check that "
                         r"(.*?) run on their derivatives", box)
    assert sentence, "the sentence about finite differences changed"
    named = [r.removeprefix("chapter-") for r in refs(sentence.group(1))]
    assert len(named) >= 3
    uses = re.compile(r"\b(numerical_gradient|central_difference)\(")
    for chapter in named:
        assert uses.search(read(chapter)), chapter


# ------------------------------------------------------------- figures

CONTROLS = {
    figs.tangent_line: [Slider("x0", [-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5],
                               default=1.0),
                        Slider("h", [0.8, 0.4, 0.2, 0.1, 0.05], default=0.4)],
    figs.directional_derivative: [Slider("angle", list(range(0, 360, 15)),
                                         default=90)],
    figs.taylor_approximations: [Slider("x0", [-1.5, -1.0, 0.0, 1.0, 1.5],
                                        default=1.0)],
    figs.difference_errors: [Choice("name", list(figs.DIFFERENCE_LABELS))],
}


@pytest.mark.parametrize("make_figure", list(CONTROLS),
                         ids=lambda f: f.__name__)
def test_figures_work_with_explore(make_figure):
    controls = CONTROLS[make_figure]
    n_states = np.prod([len(c.values) for c in controls])
    assert n_states <= MAX_STATES
    fig = explore(make_figure, controls, mode="static")
    assert len(fig.data) > 0


@pytest.mark.parametrize("make_figure", list(CONTROLS),
                         ids=lambda f: f.__name__)
def test_every_figure_has_a_text_alternative(make_figure):
    values = [dict(zip((c.name for c in CONTROLS[make_figure]), combo))
              for combo in zip(*(c.values for c in CONTROLS[make_figure]))]
    texts = set()
    for kwargs in values:
        fig = make_figure(**kwargs)
        text = fig.layout.meta["description"]
        assert len(text) > 80
        texts.add(text)
    assert len(texts) == len(values), "the text must follow the setting"


@pytest.mark.parametrize("x0, h", [(1.0, 0.8), (-1.5, 0.4), (0.0, 0.05)])
def test_tangent_text_says_why_the_gap_closes_faster_than_h(x0, h):
    """The text said "r(h)/h = 3.04: the error shrinks faster than h" at
    h = 0.8, a number that shows no such thing; it now gives the reason,
    r(h)/h = 3xh + h², true at every setting (checked on the plotted
    gap)."""
    fig = figs.tangent_line(x0, h)
    text = fig.layout.meta["description"]
    gap = fig.data[3]
    ratio = (gap.y[1] - gap.y[0]) / h
    assert ratio == pytest.approx(3 * x0 * h + h ** 2, abs=1e-12)
    assert (f"r(h)/h = {ratio:.3g}; since r(h)/h = 3xh + h², it tends to 0 "
            "with h: the gap closes faster than h.") in text


@pytest.mark.parametrize("make, settings", [
    (figs.tangent_line, [dict(x0=x0, h=h) for x0 in (-1.5, 0.0, 1.0, 1.5)
                         for h in (0.8, 0.1, 0.05)]),
    (figs.taylor_approximations, [dict(x0=x0) for x0 in (-1.5, 0.0, 1.5)])])
def test_phone_titles_keep_each_number_with_its_label(make, settings):
    """The title is wrapped for a 320 px phone; a line must not begin with
    "(secant)" or "order)", cut from its number ("2.36 (secant)", "1
    (first order)"): no-break spaces tie them, and a no-break space is
    measured as a space."""
    for kwargs in settings:
        lines = make(**kwargs).layout.meta["narrow"]["layout"][
            "title.text"].split("<br>")
        assert len(lines) >= 2, lines
        for line in lines:
            assert not re.match(r"\s*(\(|order\))", line), lines
        for label in ("(tangent)", "(secant)", "(first", "(second"):
            for line in lines:
                if label in line:
                    assert re.search(r"\d\u00a0" + re.escape(label), line)


def test_tangent_text_states_the_plotted_numbers():
    fig = figs.tangent_line(1.0, 0.1)
    text = fig.layout.meta["description"]
    gap = fig.data[3]                          # the red segment r(h)
    r = gap.y[1] - gap.y[0]
    assert f"r(h) = {r:.3g}" in text and f"r(h)/h = {r / 0.1:.3g}" in text
    assert "r(h)/h = 0.31" in text
    # "the secant (dashed) ... and the red gap r(h)"
    assert fig.data[2].name == "secant" and fig.data[2].line.dash == "dash"
    assert gap.name == "gap r(h)" and gap.line.color == "#d62728"   # red


def test_directional_text_and_narrow_layout():
    fig = figs.directional_derivative(90)
    text = fig.layout.meta["description"]
    marker = fig.data[-1]                      # the slope of the direction
    assert f"slope {marker.y[0]:.3g}" in text
    assert "243.4 degrees" in text
    # the two arrows, by where they point (their last points)
    for trace, name in ((fig.data[2], "direction u"),
                        (fig.data[1], "steepest descent")):
        assert trace.name == name
        tip = f"({trace.x[1]:.2f}, {trace.y[1]:.2f})"
        assert re.search(rf"{name}[^()]*pointing to {re.escape(tip)}",
                         text), (name, tip)
    narrow = fig.layout.meta["narrow"]["layout"]
    # stacked panels: full width each, no vertical overlap, the slope
    # panel "below the bowl on a narrow screen", as the chapter says
    assert narrow["xaxis.domain"] == narrow["xaxis2.domain"] == [0, 1]
    assert narrow["yaxis2.domain"][1] < narrow["yaxis.domain"][0]
    assert fig.data[0].type == "contour" and fig.data[3].xaxis == "x2"
    assert "the right panel (below the bowl on a narrow screen)" in \
        " ".join(read("calculus").split())
    # "the star": the lowest point of the cosine, at -grad f
    star = fig.data[4]
    assert star.marker.symbol == "star" and star.xaxis == "x2"
    assert star.y[0] == pytest.approx(min(fig.data[3].y), rel=1e-3)


def test_the_figure_s_angle_is_not_the_theta_of_the_formula():
    """In eq-calc-directional theta is the angle between u and grad f (0
    along the gradient, 180 degrees along -grad f). The figure's slider
    and slope axis measure u from the x axis, where -grad f lies at 243.4
    degrees: they must not call that angle theta too, and the prose says
    from where it is measured."""
    fig = figs.directional_derivative(90)
    labels = [fig.layout.title.text, fig.layout.xaxis2.title.text,
              fig.layout.yaxis2.title.text] + [t.name for t in fig.data]
    assert not any("θ" in label for label in labels), labels
    assert "243.4°" in fig.layout.title.text
    assert fig.layout.xaxis2.title.text == "angle of u (degrees)"
    # the text alternative, read without the axes, says it too
    described = fig.layout.meta["description"]
    assert "direction u at 90 degrees from the x axis" in described
    assert "plotted against the angle of u" in described
    assert "θ" not in described
    text = read("calculus")
    slider = re.search(r'Slider\("angle", .*?label="([^"]+)"\)', text,
                       re.S).group(1)
    assert "θ" not in slider and "angle of u" in slider
    flat = " ".join(prose(text).split())
    assert ("against the angle of $u$ measured from the $x$ axis (not "
            "from $\\nabla f$, as $\\theta$ is)") in flat


def test_difference_text_names_each_minimum():
    fig = figs.difference_errors("exp")
    text = fig.layout.meta["description"]
    for trace in fig.data[:4]:
        i = int(np.argmin(trace.y))
        assert (f"{trace.name}: smallest error {trace.y[i]:.1e} at h = "
                f"{trace.x[i]:.1e}") in text
    assert re.search(r"central, float64: smallest error \S+ at h = "
                     r"\d\.\de-0[56]", text)
    # "toward a relative error of 1, where ... the difference is 0": no
    # curve goes above 1, the float32 ones end flat on it
    assert "toward a relative error of 1, where" in text
    # "Each curve falls as h shrinks (truncation error), reaches a minimum,
    # then rises": largest h on the left of the arrays (HS decreases)
    assert "Each curve falls as h shrinks" in text
    for trace in fig.data[:4]:
        i = int(np.argmin(trace.y))
        assert trace.x[0] > trace.x[i] > trace.x[-1]
        assert trace.y[0] > trace.y[i] < trace.y[-1], trace.name
    for name in figs.DIFFERENCE_LABELS:
        for trace in figs.difference_errors(name).data[:4]:
            assert max(trace.y) <= 1, (name, trace.name)
            if "float32" in trace.name:
                assert np.all(trace.y[-8:] == 1), (name, trace.name)
            # "the dotted curves are the same differences in float32"
            assert (trace.line.dash == "dot") == ("float32" in trace.name)


@pytest.mark.parametrize("name", list(figs.DIFFERENCE_LABELS))
def test_difference_text_says_where_each_curve_reaches_1(name):
    """Each curve's note says from which h on it sits at 1 or that it
    stays below 1: the text said every curve rose to 1, "reached where the
    two values round to the same number", but sin's central float64 ends
    at 0.79 at h = 1e-16."""
    fig = figs.difference_errors(name)
    text = fig.layout.meta["description"]
    for trace in fig.data[:4]:
        errs = np.asarray(trace.y)
        said = re.search(re.escape(trace.name) + r": smallest error [^,]+, "
                         r"(below 1 down to h = 1e-16|error 1 at h = 1e-16 "
                         r"only|error 1 for every h ≤ (\S+?))[;.](?: |$)",
                         text)
        assert said, (trace.name, text)
        if said.group(1).startswith("below"):
            assert errs[-1] < 1
            continue
        flat = float(said.group(2) or 1e-16)
        at = int(np.argmin(np.abs(trace.x - flat)))
        assert np.isclose(trace.x[at], flat, rtol=0.05)
        assert np.all(errs[at:] == 1) and errs[at - 1] < 1
    if name == "sin":
        assert "central, float64: smallest error" in text
        assert re.search(r"central, float64: [^;]*below 1 down to h = "
                         r"1e-16", text)


# ------------------------------------------------------------- exercises

def _solution_code(label: str) -> str:
    """The code cells of the solution of exercise ``label``."""
    text = read("calculus")
    body = re.search(r"\{solution-start\} " + re.escape(label)
                     + r"\n(.*?)\{solution-end\}", text, re.S)
    assert body, label
    cells = re.findall(r"```\{code-cell\} ipython3\n(.*?)^```$",
                       body.group(1), re.S | re.M)
    return "\n".join(cells)


def _run_solution(label: str) -> dict:
    namespace = {"np": np, "sp": sp, "torch": torch, "calc": calc,
                 "x": x, "y": y, "h": h, "act": act,
                 "relative_error": relative_error, "hs": HS,
                 "print": lambda *args, **kwargs: None}
    exec(compile(_solution_code(label), label, "exec"), namespace)
    return namespace


def test_the_linear_backward_solution_passes_its_checker():
    from calc_nn import check
    ns = _run_solution("calc-ex-linear-backward")
    assert check.linear_backward(ns["my_linear_backward"]).passed


def test_the_partials_solution_has_the_numbers_of_the_text():
    ns = _run_solution("calc-ex-partials")
    g = ns["g"]
    assert list(g.subs({x: 1, y: 0})) == [0, 2]             # (0, 2)
    assert (g.subs({x: 1, y: 0}).T * sp.Matrix([3, 4]) / 5)[0] == \
        sp.Rational(8, 5)


def test_the_quadratic_solution_expansion_is_exact():
    ns = _run_solution("calc-ex-quadratic")
    q, hx, hy = ns["q"], ns["hx"], ns["hy"]
    assert ns["calc"].hessian(q) == sp.Matrix([[2, 2], [2, 6]])
    assert sp.expand(q.subs({x: x + hx, y: y + hy}, simultaneous=True)
                     - ns["second_order"]) == 0


def test_the_polar_and_modes_solutions_agree_with_autograd():
    ns = _run_solution("calc-ex-polar")
    assert sp.simplify(ns["J_polar"].det()) == ns["r"]
    assert relative_error(ns["J_at"], ns["J_t"]) < 1e-15
    ns = _run_solution("calc-ex-modes")
    assert relative_error(ns["J_fwd"], ns["J_rev"]) < 1e-15
    assert relative_error(ns["J_rev"], ns["by_hand"]) < 1e-12


def test_the_convex_solution_hessian():
    ns = _run_solution("calc-ex-convex")
    assert relative_error(ns["H_hand"], ns["H_torch"]) < 1e-12
    assert ns["eigenvalues"].min() >= 0                   # semidefinite


def test_the_later_chapters_cite_the_rules_by_number():
    """"the later chapters cite them by number": each of rules 1 to 4 of
    calc-layout is cited as "rule k" beside a link to the section on a
    later page."""
    citation = re.compile(r"rule (\d) of \{ref\}`calc-layout`"
                          r"|\{ref\}`calc-layout`, rule (\d)")
    cited = set()
    for page in ("activations", "losses", "optimizers", "backprop"):
        text = " ".join(read(page).split())
        cited |= {a or b for a, b in citation.findall(text)}
    assert cited == {"1", "2", "3", "4"}, cited


def test_glossary_machine_epsilon_and_gradient_check_match_the_chapter():
    entry = glossary_entry("machine epsilon")
    for dtype, power in ((np.float64, 52), (np.float32, 23)):
        assert f"$2^{{-{power}}}$ in {np.dtype(dtype).name}" in entry
        assert np.finfo(dtype).eps == 2.0 ** -power
    assert "at most half" in entry
    for text in (entry, " ".join(read("calculus").split())):
        assert "every arithmetic operation" in text or \
            "of an arithmetic operation" in text
        assert "unless the result overflows or underflows" in text
    entry = glossary_entry("gradient check")
    assert "central differences in float64" in entry
    assert "$10^{-5}$" in entry and "below $10^{-7}$" in entry
    chapter = " ".join(read("calculus").split())
    assert "below $10^{-7}$, be happy" in chapter
    assert "$h$ about $10^{-5}$" in chapter


@pytest.mark.parametrize("seed", range(3))
def test_cs231n_denominator_gives_at_most_twice_the_error(seed):
    """"CS231n's notes divide by max(|a_i|, |b_i|), which makes the error
    at most twice as large" as relative_error's |a_i| + |b_i|."""
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(50), rng.standard_normal(50)
    b[:10] = a[:10] * (1 + 1e-6 * rng.standard_normal(10))
    ours = np.abs(a - b) / (np.abs(a) + np.abs(b))
    cs231n = np.abs(a - b) / np.maximum(np.abs(a), np.abs(b))
    assert np.all(ours <= cs231n) and np.all(cs231n <= 2 * ours)
    assert relative_error(a, b) == pytest.approx(ours.max(), rel=1e-15)


# ------------------------------------------- one meaning for each letter

def test_the_directional_derivative_is_partial_u_since_d_is_the_depth():
    """book/notation.md: D is the depth, as in the chapter's
    J_{f_D}; the directional derivative is written partial_u f in the
    prose, the exercise, the figure, the glossary and the notation."""
    text = read("calculus")
    assert "D_u" not in text and "J_{f_D}" in text
    assert r"\partial_u f(x) = \nabla f(x)^\top u" in text
    assert r"$\partial_u f = \nabla f^\top u = 0 \cdot \frac35" in text
    fig = figs.directional_derivative(90)
    for label in (fig.data[3].name, fig.layout.yaxis2.title.text):
        assert "∂ᵤf" in label and "D_u" not in label, label
    assert r"$\partial_u f = \nabla f^\top u$" in glossary_entry(
        "directional derivative")
    assert re.search(r"^\| \$\\partial_u f\$ \| the directional derivative",
                     read("notation"), re.M)


def test_the_chain_rule_counts_n0_n1_n2_since_p_is_a_probability():
    """book/notation.md: p is a probability (and the padding); the chain
    rule's dimensions are n_0, n_1, n_2, like the widths n_l, and the
    shapes (n_2, n_0) = (n_2, n_1)(n_1, n_0) are those autograd finds."""
    text = read("calculus")
    assert bare(text, "p") == []
    flat = " ".join(prose(text).split())
    assert (r"$g: \R^{n_0} \to \R^{n_1}$ and $f: \R^{n_1} \to \R^{n_2}$"
            in flat)
    assert r"with shapes $(n_2, n_0) = (n_2, n_1)\,(n_1, n_0)$" in flat
    n0, n1, n2 = 2, 3, 4
    A, B = torch.randn(n1, n0, dtype=torch.float64), torch.randn(
        n2, n1, dtype=torch.float64)

    def g(v):
        return torch.sin(A @ v)

    def f(u):
        return torch.tanh(B @ u) ** 2
    x0 = torch.randn(n0, dtype=torch.float64)
    J_g = torch.autograd.functional.jacobian(g, x0)
    J_f = torch.autograd.functional.jacobian(f, g(x0))
    J = torch.autograd.functional.jacobian(lambda v: f(g(v)), x0)
    assert (J.shape, J_f.shape, J_g.shape) == ((n2, n0), (n2, n1), (n1, n0))
    assert relative_error((J_f @ J_g).numpy(), J.numpy()) < 1e-12


def test_rule_4_names_no_sum_s_since_s_is_the_stride():
    """book/notation.md: s is the stride (and a standard deviation, and
    an optimizer's statistic); rule 4 states its sum without a letter."""
    text = read("calculus")
    rule4 = text.split("**4. A sum and a mean.**", 1)[1].split(
        "(eq-calc-sum-mean)", 1)[0]
    assert bare(rule4, "s") == [] and bare(text, "s") == []
    assert "each partial derivative" in " ".join(rule4.split())


def test_the_gradient_check_writes_z_for_the_outputs_not_t():
    """t is the chapter's number along a line (f(x + t u), phi(t)) and
    the book's step index; the gradient check names the linear model's
    outputs z = Xw, the pre-activation letter of book/notation.md, and
    its steps are right: d/dz_i log(1 + e^(-y_i z_i)) = -y_i sigma(-y_i
    z_i) for both labels."""
    text = read("calculus")
    section = text.split("(calc-gradient-check)=", 1)[1].split(
        "## Summary", 1)[0]
    assert bare(section, "t") == []
    flat = " ".join(prose(section).split())
    assert "Write $z = Xw$ for the outputs of the linear model" in flat
    assert r"$-y_i / (e^{y_i z_i} + 1) = -y_i\, \sigma(-y_i z_i)$" in flat
    z = sp.Symbol("z", real=True)
    for label in (1, -1):
        ell = sp.log(1 + sp.exp(-label * z))
        by_hand = -label / (1 + sp.exp(label * z))       # -y sigma(-y z)
        assert sp.simplify(sp.diff(ell, z) - by_hand) == 0
        assert sp.simplify(sp.diff(ell, z) + by_hand) != 0


def test_the_chain_rule_section_keeps_u_a_direction_and_k_an_index():
    """book/notation.md: u is a direction in this chapter, k an index. The
    chain rule's step for f is h-tilde (was a vector k, beside the index
    k of the sum over paths) and its intermediate values are y = g(x)
    (were u = g(x), a few lines after u the unit direction)."""
    section = read("calculus").split("(calc-chain-rule)=", 1)[1].split(
        "**One layer, by hand.**", 1)[0]
    assert bare(section, "u") == [] and bare(section, "k") == []
    flat = " ".join(prose(section).split())
    assert r"the input of $f$ moves by $\tilde h = J_g(x)\, h$" in flat
    assert "with $y = g(x)$: **a sum over every path**" in flat
