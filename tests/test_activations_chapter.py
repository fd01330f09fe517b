"""The chapter "Activation functions": the claims its prose makes.

Every number the chapter glues into a sentence comes from the calls below,
and each test asserts the claim the sentence makes with it ("they agree
except in three places", "each sigmoid layer divides the gradient by at
least 4", "a larger weight does not rescue the sigmoid"), so a change that
makes a sentence false fails here. The worked example's table, typed by
hand in the chapter, is read from the page and recomputed with calc_nn and
PyTorch.
"""

import re
import warnings
from pathlib import Path

import chapter_text as page
import numpy as np
import pytest
import sympy as sp
import torch
from sympy.calculus.util import function_range

from calc_nn import activations as act
from calc_nn import check, symbolic, verify
from calc_nn.gradcheck import default_step
from calc_nn.plots import activation_figures as figs

TEXT = page.read("activations")
SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
NAMES = ("sigmoid", "tanh", "relu", "leaky_relu")


# ------------------------------------------------------------ the page

def test_before_you_start_links_what_the_chapter_relies_on():
    box = page.admonition(TEXT, "Before you start")
    linked = set(page.refs(box))
    assert {"calc-derivative", "calc-chain-rule", "calc-jacobian",
            "calc-finite-differences", "calc-vjp", "chapter-forward",
            "chapter-backprop"} <= linked
    assert linked <= page.labels()
    assert TEXT.index("{admonition} Before you start") < TEXT.index("\n## ")
    # autograd is used as an oracle before the backprop chapter: said so
    assert "autograd" in box


@pytest.mark.parametrize("label", ["act-four", "act-vanishing",
                                   "act-dead-relu", "act-softmax"])
def test_the_glossary_anchors_exist(label):
    assert f"\n({label})=\n## " in TEXT


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the source documents are "
                    "not beside the repository")
def test_the_sources_list_the_activations_the_chapter_says():
    """The NN document lists four, the CNN document three, neither
    softmax."""
    def section(name, start, end):
        text = next(SEEDS.glob(f"{name}_*.txt")).read_text()
        return text[text.index(start):text.index(end)]
    nn = section("002", "### 4.1", "### 4.2")
    cnn = section("000", "### 3.4", "## 4.")
    for name in ("Sigmoid", "Tanh", "ReLU", "Leaky ReLU"):
        assert name in nn
    assert [n for n in ("ReLU", "Sigmoid", "Tanh") if n in cnn] == [
        "ReLU", "Sigmoid", "Tanh"]
    assert "Leaky" not in cnn
    for text in (nn, cnn):
        assert "softmax" not in text.lower()


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the source documents are "
                    "not beside the repository")
def test_what_the_chapter_reports_of_the_sources_is_there():
    """The NN document's §4.1: the sigmoid as the output of binary
    classifiers, ReLU "does not have the vanishing gradient problem", the
    usual alpha = 0.01; the CNN document's §3.4: ReLU' = 0 for x <= 0."""
    def section(name, start, end):
        text = next(SEEDS.glob(f"{name}_*.txt")).read_text()
        return text[text.index(start):text.index(end)]
    nn = section("002", "### 4.1", "### 4.2")
    cnn = section("000", "### 3.4", "## 4.")
    prose = " ".join(TEXT.split())
    for said, source in (
            ("mentions the sigmoid as the output of binary classifiers",
             "Sigmoid函数的值域为(0,1),具有平滑和可导的特性,常用于二分类问题的输出层"),
            ('ReLU "does not have the vanishing gradient problem"',
             "ReLU函数在正半区线性,在负半区为0,计算简单且不存在梯度消失问题"),
            ("gives the usual $\\alpha = 0.01$", "(通常取0.01)")):
        assert said in prose and source in nn, said
    assert "{cite:t}`cnn-calculus-doc{§3.4}` and PyTorch both use 0" in prose
    assert "0 & x \\leq 0" in cnn and "1 & x > 0" in cnn


# ------------------------------------------------- ranges and derivatives

@pytest.mark.parametrize("name, values, grid", [
    ("sigmoid", sp.Interval.open(0, 1), 20.0),
    ("tanh", sp.Interval.open(-1, 1), 10.0),
    ("relu", sp.Interval.Ropen(0, sp.oo), 50.0),
    ("leaky_relu", sp.Interval(-sp.oo, sp.oo), 50.0)])
def test_the_range_column_is_the_set_of_values(name, values, grid):
    """ReLU's range is [0, oo), not the (0, oo) its limits suggest."""
    assert symbolic.image(name) == values
    y = act.get(name, 0.01)[0](np.linspace(-grid, grid, 20001))
    inside = [bool(values.contains(sp.Float(v))) for v in y[::100]]
    assert all(inside)
    low = values.inf   # a closed lower end is a value the function takes
    if low.is_finite:
        assert (y.min() == float(low)) == bool(values.contains(low))


def test_the_figure_says_the_same_ranges():
    said = {name: re.search(
        r"values lie in (\S+, \S+);", figs.function_and_derivative(
            name).layout.meta["description"]).group(1) for name in NAMES}
    assert said == {"sigmoid": "(0, 1)", "tanh": "(-1, 1)",
                    "relu": "[0, ∞)", "leaky_relu": "(-∞, ∞)"}


@pytest.mark.parametrize("name, peak", [("sigmoid", sp.Rational(1, 4)),
                                        ("tanh", 1)])
def test_the_hand_derivatives_hold_and_peak_at_zero(name, peak):
    assert symbolic.identity_holds(name)
    assert symbolic.max_derivative(name) == (0, peak)


def test_the_zero_branch_fixes_sympys_relu_derivative_at_the_kink():
    """"it fixes the value SymPy's derivative takes at the kink"; "the
    derivatives of ReLU and Leaky ReLU are constant on each side of 0, and
    it takes the larger constant"."""
    x = symbolic.x
    for name in ("relu", "leaky_relu"):
        fp = symbolic.derivative(name)
        assert isinstance(fp, sp.Piecewise)
        constants = [piece.subs(symbolic.alpha, sp.Rational(1, 100))
                     for piece, _ in fp.args]
        assert all(c.is_number for c in constants)
        assert symbolic.max_derivative(name) == (sp.oo, max(constants))
    assert symbolic.derivative("relu").subs(x, 0) == 0
    # the kink is real: the one-sided difference quotients are 0 and 1
    relu = symbolic.activation("relu")
    h = sp.Rational(1, 10 ** 6)
    assert (relu.subs(x, -h) / -h, relu.subs(x, h) / h) == (0, 1)


def test_the_larger_constant_is_computed_not_assumed(monkeypatch):
    """"it takes the larger constant": a Leaky ReLU whose constants were
    2 and 1 would report 2 (the code had 1 typed for Leaky ReLU)."""
    from calc_nn.symbolic import activation_formulas as formulas
    x = symbolic.x
    steep = sp.Piecewise((2 * x, x <= 0), (x, True))
    monkeypatch.setitem(formulas.ACTIVATIONS, "leaky_relu", steep)
    for cached in (formulas._derivative, formulas._max_derivative):
        monkeypatch.setattr(formulas, cached.__name__, cached.__wrapped__)
    assert symbolic.max_derivative("leaky_relu") == (sp.oo, 2)


@pytest.mark.parametrize("slope", [sp.Rational(1, 100), sp.Rational(1, 2),
                                   sp.Rational(99, 100)])
def test_leaky_relus_row_is_the_same_for_any_slope_in_0_1(slope):
    """"Leaky ReLU's row is computed for alpha = 0.01; any alpha strictly
    between 0 and 1 gives the same": range, largest f' and where."""
    x = symbolic.x
    (neg, _), (pos, _) = symbolic.activation("leaky_relu").subs(
        symbolic.alpha, slope).args
    values = (function_range(neg, x, sp.Interval(-sp.oo, 0))
              | function_range(pos, x, sp.Interval.open(0, sp.oo)))
    assert values == symbolic.image("leaky_relu")
    slopes = (sp.diff(neg, x), sp.diff(pos, x))
    assert max(slopes) == slopes[1] == symbolic.max_derivative(
        "leaky_relu")[1]
    assert "any $\\alpha$ strictly between 0 and 1 gives the same" in \
        " ".join(TEXT.split())


def test_sympys_raw_tanh_derivative_is_the_hand_form_times_e2x():
    x = symbolic.x
    raw = symbolic.derivative("tanh")
    assert raw == 4 * sp.exp(2 * x) / (sp.exp(2 * x) + 1) ** 2
    assert sp.simplify(raw - 4 / (sp.exp(x) + sp.exp(-x)) ** 2) == 0


def test_the_backward_pass_from_the_output_is_a_times_one_minus_a():
    """"for a subtraction and a multiplication, with no exponential
    (... PyTorch's backward pass does the same)"; the docstring agrees."""
    said = "a subtraction and a multiplication"
    assert said in " ".join(TEXT.split())
    assert said in " ".join(act.sigmoid_grad.__doc__.split())
    x = torch.linspace(-30, 30, 61, dtype=torch.float64, requires_grad=True)
    y = torch.sigmoid(x)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), act.sigmoid_grad(
        x.detach().numpy(), y.detach().numpy()))
    z = np.linspace(-8, 8, 33)
    a = act.sigmoid(z)
    np.testing.assert_array_equal(act.sigmoid_grad(z, a), (1 - a) * a)
    np.testing.assert_array_equal(act.tanh_grad(z, np.tanh(z)),
                                  1 - np.tanh(z) ** 2)


# ------------------------------------------------------- the three oracles

POINTS = np.array([-1e4, -3.0, 0.0, 0.5, 30.0, 1e4])
# (function, method, index of the point): the three places the text names
NAMED = {("sigmoid", "torch", 4), ("sigmoid", "finite_difference", 4),
         ("tanh", "torch", 4), ("tanh", "finite_difference", 4),
         ("relu", "finite_difference", 2)}


@pytest.fixture(scope="module")
def ways():
    return {name: verify.four_way_derivatives(name, POINTS)
            for name in ("sigmoid", "tanh", "relu")}


def test_the_oracles_agree_except_in_the_three_places_named(ways):
    for name, results in ways.items():
        exact = results["sympy"]
        for method, values in results.items():
            for i, (value, want) in enumerate(zip(values, exact)):
                agree = value == pytest.approx(want, rel=1e-9, abs=1e-300)
                assert agree != ((name, method, i) in NAMED), (
                    name, method, POINTS[i], value, want)
    # "the deviations at x = 30 are below 1e-12 in absolute terms"
    for name, method, i in NAMED - {("relu", "finite_difference", 2)}:
        assert abs(ways[name][method][i] - ways[name]["sympy"][i]) < 1e-12


def test_torch_differs_in_the_third_digit_at_30(ways):
    exact, by_torch = ways["sigmoid"]["sympy"][4], ways["sigmoid"]["torch"][4]
    assert 1e-4 < abs(by_torch / exact - 1) < 1e-2
    # the first two digits agree, the third does not
    assert f"{by_torch:.6e}"[:3] == f"{exact:.6e}"[:3]
    assert f"{by_torch:.6e}"[:4] != f"{exact:.6e}"[:4]
    # because sigma(30) rounds: 1 - sigma(30) is not sigma(-30)
    gap = act.sigmoid(np.array([-30.0]))[0]
    rounded = 1 - act.sigmoid(np.array([30.0]))[0]
    assert 1e-4 < abs(rounded / gap - 1) < 1e-2
    assert ways["tanh"]["torch"][4] == 0 and np.tanh(30.0) == 1.0


def test_the_finite_difference_at_30_is_round_off(ways):
    exact = ways["sigmoid"]["sympy"][4]
    fd = ways["sigmoid"]["finite_difference"][4]
    estimate = np.finfo(float).eps / default_step(30.0)
    assert fd / exact > 2                     # "... times the true value"
    assert estimate > exact                   # "larger than the derivative"
    assert 0.1 < abs(fd - exact) / estimate < 10  # "about eps |f| / h"
    assert ways["relu"]["finite_difference"][2] == 0.5
    # "For tanh the same rounding gives 0"
    assert ways["tanh"]["finite_difference"][4] == 0
    assert ways["tanh"]["sympy"][4] > 0


def test_the_suite_compares_hundreds_of_arrays_for_every_activation():
    """"hundreds of generated arrays of inputs for every activation"."""
    import test_activations as unit
    test = unit.test_derivative_four_ways
    assert 100 <= unit.SETTINGS.max_examples < 1000
    assert test.hypothesis.inner_test is not None     # a hypothesis test
    names = next(m.args[1] for m in test.pytestmark
                 if m.name == "parametrize")
    assert set(names) == set(act.ACTIVATIONS)


def test_the_naive_derivative_is_nan_where_calc_nn_is_not():
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        e = np.exp(1000.0)
        assert np.isnan(e / (1 + e) ** 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = act.sigmoid_grad(np.array([-1000.0, 1000.0]))
        s = act.sigmoid(np.array([-1000.0, 1000.0]))
    assert np.all(g == 0) and list(s) == [0.0, 1.0]


def test_below_the_overflow_edge_the_definition_flushes_what_calc_nn_keeps():
    """"Below x = -88.7, where e^{-x} overflows in float32, the exact
    sigmoid is smaller than float32's smallest normal number, but down to
    x = -103.3 it is still a nonzero subnormal number, which the forms with
    e^{-|x|} keep and 0 does not", and the cell at x = -95."""
    info = np.finfo(np.float32)
    edge = -float(np.log(info.max))
    bottom = float(np.log(info.smallest_subnormal))
    assert f"{edge:.1f}" == "-88.7" and f"{bottom:.1f}" == "-103.3"
    # "it rounds to 0 only a little below that": at -103.9, not yet
    assert act.sigmoid(np.array([-103.9], np.float32))[0] > 0
    assert act.sigmoid(np.array([-104.5], np.float32))[0] == 0
    for glued in ("act-exp-edge-32", "act-subnormal-edge-32", "act-tiny-32"):
        assert f"{{glue:text}}`{glued}:" in TEXT
    with np.errstate(over="raise"):
        np.exp(np.float32(88.72))             # e^{-x} at x = -88.72: in range
        with pytest.raises(FloatingPointError):
            np.exp(np.float32(88.73))
    x = np.linspace(bottom + 0.05, edge - 0.05, 50).astype(np.float32)
    # "There e^x is so small that 1 + e^x rounds to 1"
    assert np.all(np.float32(1) + np.exp(x) == 1)
    exact = 1 / (1 + np.exp(-x.astype(np.float64)))
    assert np.all((0 < exact) & (exact < info.tiny))
    with np.errstate(over="ignore"):
        assert np.all(1 / (1 + np.exp(-x)) == 0)     # the definition
    kept = act.sigmoid(x)
    assert np.all(kept > 0)
    np.testing.assert_allclose(kept, exact, rtol=0,
                               atol=2 * float(info.smallest_subnormal))
    cell, = [c for c in page.code(TEXT) if "x95 = " in c]
    assert "np.array([-95.0], dtype=np.float32)" in cell
    x95 = np.array([-95.0], dtype=np.float32)
    with np.errstate(over="ignore"):
        assert (1 / (1 + np.exp(-x95)))[0] == 0      # "definition: [0.]"
    np.testing.assert_allclose(act.sigmoid(x95), 1 / (1 + np.exp(95.0)),
                               rtol=0,
                               atol=2 * float(info.smallest_subnormal))


class _Passes(np.ndarray):
    """An array that counts the NumPy calls that read or write a whole
    array of its size: ufuncs, in place (``e += 1``) or not, and NumPy's
    array functions (``np.where``, ``np.copyto``; allocating with
    ``np.empty_like`` is no pass). The input is one, and
    ``np.empty_like`` hands these out (below), so such a call on the
    input or on a buffer calc_nn allocates is seen. Not counted: array
    methods (``x.copy()``, ``x.astype``) and item assignment, which the
    sigmoid's code does not use on whole arrays; and an array function
    written in Python (``np.clip``) would count its inner calls too."""

    size_counted = 0
    count = 0
    not_a_pass = ()

    @classmethod
    def _saw(cls, arrays):
        if any(isinstance(a, np.ndarray) and a.size == cls.size_counted
               for a in arrays):
            cls.count += 1

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        _Passes._saw((*inputs, *(out or ())))
        plain = [a.view(np.ndarray) if isinstance(a, _Passes) else a
                 for a in inputs]
        if out is not None:
            kwargs["out"] = tuple(o.view(np.ndarray) for o in out)
        result = getattr(ufunc, method)(*plain, **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return (result.view(_Passes) if isinstance(result, np.ndarray)
                else result)

    def __array_function__(self, func, types, args, kwargs):
        if func not in _Passes.not_a_pass:
            _Passes._saw((*args, *kwargs.values()))
        return super().__array_function__(func, types, args, kwargs)


def _passes(fn, x, monkeypatch):
    """How many passes over an array of ``x``'s size ``fn(x)`` makes (the
    checks of the argument, which pass ``x`` on unchanged, left out)."""
    empty_like = np.empty_like
    with monkeypatch.context() as m:
        m.setattr(np, "empty_like",
                  lambda a, *args, **kw: empty_like(a, *args, **kw).view(
                      _Passes))
        m.setattr(act, "_check_x", lambda x: x)
        m.setattr(act, "_check_x_y", lambda x, y: (x, y))
        m.setattr(_Passes, "not_a_pass", (empty_like,))
        _Passes.size_counted, _Passes.count = x.size, 0
        out = fn(x.view(_Passes))
    return _Passes.count, np.asarray(out)


def _stable_sigmoid(x):
    """eq-stable-sigmoid: e^{-|x|}, then the numerator 1 or e^{-|x|}
    picked entry by entry."""
    e = act._exp_minus_abs(x)
    return np.where(x >= 0, 1, e) / (1 + e)


def test_the_pass_counts_the_chapter_gives(monkeypatch):
    """"the definition of σ takes four (negate, exponentiate, add 1,
    divide) and eq-stable-sigmoid six ...  For σ′, eq-sigmoid-grad-cosh
    takes three (cosh, add, divide) and the form with e^{-|x|} five":
    counted on calc_nn's code, and on this test's own form of
    eq-stable-sigmoid built from calc_nn's e^{-|x|} (no entry overflows,
    so no fix-up pass), values unchanged. One more ufunc or array
    function over the input or a buffer fails it."""
    flat = " ".join(page.prose(TEXT).split())
    assert ("the definition of $\\sigma$ takes four (negate, exponentiate, "
            "add 1, divide) and {eq}`eq-stable-sigmoid` six, because picking "
            "the numerator $1$ or $e^{-|x|}$ entry by entry takes two more"
            ) in flat
    assert ("takes three ($\\cosh$, add, divide) and the form with "
            "$e^{-|x|}$ five") in flat
    x = np.linspace(-20, 20, 1001, dtype=np.float32)
    counts = {}
    for name, fn in (("sigmoid", act.sigmoid), ("stable", _stable_sigmoid),
                     ("grad", act.sigmoid_grad),
                     ("bell", lambda x: act._bell(act._exp_minus_abs(x)))):
        counts[name], value = _passes(fn, x, monkeypatch)
        np.testing.assert_array_equal(value, fn(x))
    assert counts == {"sigmoid": 4, "stable": 6, "grad": 3, "bell": 5}


# ------------------------------------------ the chain of sigmoids by hand

def _torch_chain(w, a0, depth):
    """Activations and d a^D / d a^k of the chain, by autograd."""
    start = torch.tensor(a0, dtype=torch.float64, requires_grad=True)
    chain = [start]
    for _ in range(depth):
        chain.append(torch.sigmoid(w * chain[-1]))
    grads = torch.autograd.grad(chain[-1], chain[:-1])
    return ([a.item() for a in chain],
            [g.item() for g in grads] + [1.0])


def test_the_table_of_three_sigmoids_is_what_calc_nn_and_torch_compute():
    rows = page.table(TEXT, "act-chain-table")
    a, grad = act.chain_gradient("sigmoid", 3, w=1.0, x0=0.0)
    a_torch, grad_torch = _torch_chain(1.0, 0.0, 3)
    np.testing.assert_allclose(a, a_torch, rtol=1e-15)
    np.testing.assert_allclose(grad, grad_torch, rtol=1e-14)
    assert [int(row[0]) for row in rows] == [1, 2, 3]
    for k, (_, z, a_k, factor, reach, bound) in enumerate(rows, start=1):
        local = 1.0 * act.sigmoid_grad(1.0 * a[k - 1])
        for typed, value in ((z, a[k - 1]), (a_k, a[k]), (factor, local),
                             (factor, a[k] * (1 - a[k])),
                             (reach, grad[k - 1]), (bound, 0.25 ** (4 - k))):
            assert page.matches_rounded(typed, value), (k, typed, value)


def test_the_rounded_factors_give_the_table_to_one_unit():
    """"multiplying the rounded ones gives the same to within one unit of
    the last digit"."""
    assert "within one unit of the last digit" in " ".join(TEXT.split())
    rows = page.table(TEXT, "act-chain-table")
    factors = [float(row[3]) for row in rows]
    for k, row in enumerate(rows):
        typed = row[4]
        unit = 10.0 ** -len(typed.split(".")[1])
        assert abs(np.prod(factors[k:]) - float(typed)) <= unit + 1e-12, k


def test_every_sigmoid_factor_is_at_most_a_quarter_of_w():
    for w in (1.0, 2.0, -1.5):
        a, grad = act.chain_gradient("sigmoid", 3, w=w, x0=0.0)
        factors = np.abs(w * act.sigmoid_grad(w * a[:-1]))
        assert np.all(factors <= abs(w) / 4)
        assert factors[0] == abs(w) / 4            # z = 0 in layer 1 only
        assert np.all(factors[1:] < abs(w) / 4)
        assert abs(grad[0]) < (abs(w) / 4) ** 3


@pytest.mark.parametrize("typed, value", [
    ("1/1.6065 = 0.6225", (1 + np.exp(-0.5), act.sigmoid(0.5))),
    ("1/1.5366 = 0.6508", (1 + np.exp(-act.sigmoid(0.5)),
                           act.sigmoid(act.sigmoid(0.5))))])
def test_the_hand_steps_in_the_prose_are_right(typed, value):
    assert typed in TEXT
    left, right = re.findall(r"\d+\.\d+", typed)
    assert page.matches_rounded(left, value[0]) and page.matches_rounded(right,
                                                               value[1])


def test_the_exercise_with_w_2_has_the_right_numbers():
    a, grad = act.chain_gradient("sigmoid", 3, w=2.0, x0=0.0)
    solution = TEXT[TEXT.index("solution-start} act-ex-chain"):]
    solution = solution[:solution.index("solution-end")]
    for typed, value in (("0.7311", a[2]), ("0.3932", 2 * a[2] * (1 - a[2])),
                         ("1.4621", 2 * a[2]), ("0.8119", a[3]),
                         ("0.3055", 2 * a[3] * (1 - a[3])),
                         ("0.0601", grad[0]),
                         ("0.01335", act.chain_gradient(
                             "sigmoid", 3, w=1.0, x0=0.0)[1][0])):
        assert typed in solution and page.matches_rounded(typed, value), typed
    assert grad[0] < (2 / 4) ** 3 and grad[0] > act.chain_gradient(
        "sigmoid", 3, w=1.0, x0=0.0)[1][0]   # "the larger weight helps"
    # "each factor is smaller than the one before"
    assert np.all(np.diff(2 * act.sigmoid_grad(2 * a[:-1])) < 0)


# ------------------------------------------------ vanishing and exploding

def test_twenty_sigmoid_layers_leave_about_a_trillionth():
    bound = symbolic.depth_gradient_bound("sigmoid", 20)
    assert bound == sp.Rational(1, 4 ** 20)
    assert 0.5e-12 < float(bound) < 2e-12


def test_the_twenty_layer_bound_needs_w_at_most_one():
    """"With |w| <= 1, twenty sigmoid layers multiply the gradient ... by at
    most 4^-20": true on random chains, false without the condition."""
    assert "With $|w| \\le 1$, twenty sigmoid layers" in TEXT
    rng = np.random.default_rng(0)
    bound = 0.25 ** 20
    for w, x0 in zip(rng.uniform(-1, 1, 200), rng.uniform(-5, 5, 200)):
        assert abs(act.chain_gradient("sigmoid", 20, w=w, x0=x0)[1][0]) \
            <= bound
    # |w| = 4: the factors 4 sigma'(z) settle near 0.77, far above 1/4
    assert abs(act.chain_gradient("sigmoid", 20, w=-4.0, x0=0.0)[1][0]) \
        > 1e6 * bound


def test_the_sigmoid_chain_settles_at_its_fixed_point():
    a, grad = act.chain_gradient("sigmoid", 30, w=1.0, x0=0.5)
    fixed = a[-1]
    assert abs(act.sigmoid(fixed) - fixed) < 1e-12
    factor = fixed * (1 - fixed)
    ratios = grad[:20] / grad[1:21]    # one factor per layer, late layers
    np.testing.assert_allclose(ratios[-5:], factor, rtol=1e-6)
    assert 4.4 < 1 / factor < 4.5      # "falls by about 4.45 per layer"


def test_tanh_decays_slowly_and_relu_stays_one_with_w_1():
    _, tanh_grad = act.chain_gradient("tanh", 30, w=1.0, x0=0.5)
    assert 1e-2 < abs(tanh_grad[0]) < 1 and np.all(np.diff(tanh_grad) > 0)
    assert np.all(act.chain_gradient("relu", 30, w=1.0, x0=0.5)[1] == 1)
    for depth in range(1, 31):        # "with w = 2 ReLU's explodes as 2^D"
        assert act.chain_gradient("relu", depth, w=2.0, x0=0.5)[1][0] == \
            2.0 ** depth


@pytest.mark.parametrize("w", [0.5, 1.0, 2.0, 4.0, 8.0])
def test_a_larger_weight_does_not_rescue_the_sigmoid(w):
    def at_input(name):
        return abs(act.chain_gradient(name, 30, w=w, x0=0.5)[1][0])
    assert at_input("sigmoid") < 1e-15
    # "no factor w sigma'(z^k) of these chains reaches 1/2"
    assert "no factor $w\\,\\sigma'(z^k)$ of these chains reaches $1/2$" \
        in " ".join(TEXT.split())
    a, _ = act.chain_gradient("sigmoid", 30, w=w, x0=0.5)
    assert np.all(w * act.sigmoid_grad(w * a[:-1]) < 0.5)
    if w >= 2:
        assert at_input("tanh") < 1e-20   # "saturates just the same"
    for name in ("relu", "leaky_relu"):   # the factor is exactly w
        assert at_input(name) == pytest.approx(w ** 30, rel=1e-12)
        assert (at_input(name) < 1e-6) == (w < 1)
        assert (at_input(name) > 1e6) == (w > 1)


def test_a_negative_weight_can_keep_the_sigmoid_chain_out_of_the_tails():
    """"No, not a larger positive w"; "with w = -6 the activations swing
    up and down from layer to layer and the gradient at the input is still
    1.6e-02", where every positive weight of the table leaves < 1e-15."""
    assert "No, not a larger positive $w$" in TEXT
    a, grad = act.chain_gradient("sigmoid", 30, w=-6.0, x0=0.5)
    assert abs(grad[0]) > 1e-3
    steps = np.diff(a[1:])
    assert np.all(steps[:-1] * steps[1:] < 0)             # up, down, up...
    assert np.all(np.abs(steps[5:]) > 0.1)


def test_the_depth_figure_says_depth_d():
    fig = figs.gradient_through_depth(7, 2.0)
    titles = {fig.layout.xaxis.title.text, fig.layout.xaxis2.title.text}
    assert titles == {"layer k of a chain of D = 7 layers", "depth D"}
    assert "depth n" not in TEXT and 'label="depth D"' in TEXT


# ------------------------------------------------------------ dead ReLU

def test_dead_relu_counts_and_gradients():
    x = torch.as_tensor(np.random.default_rng(0).standard_normal(2000))
    counts = {}
    for b0 in (-1.0, -6.0):
        w = torch.tensor(1.0, requires_grad=True)
        b = torch.tensor(b0, requires_grad=True)
        torch.relu(w * x + b).sum().backward()
        counts[b0] = int((x + b0 > 0).sum())
        assert b.grad.item() == counts[b0]
    assert counts[-1.0] > 0 and counts[-6.0] == 0
    assert w.grad.item() == 0 and b.grad.item() == 0


def test_the_dead_relu_figure_draws_every_input_it_counts():
    """The description says how many of the 2000 inputs have z > 0 and
    z <= 0; plotly leaves out values outside the bins, so every z of every
    bias on the slider must lie in them, on the axis and under its top."""
    slider = 'Slider("bias", np.round(np.arange(-6.0, 2.01, 0.5), 2)'
    assert slider in TEXT
    x = np.random.default_rng(0).standard_normal(2000)
    for bias in np.round(np.arange(-6.0, 2.01, 0.5), 2):
        fig = figs.dead_relu(float(bias))
        low, high = fig.layout.xaxis.range
        z = x + bias
        for trace in fig.data:
            start, end = trace.xbins.start, trace.xbins.end
            assert (start, end) == (low, high)
            assert np.all((start <= z) & (z < end)), bias
            counts, _ = np.histogram(z, np.arange(start, end + 0.125,
                                                  trace.xbins.size))
            assert counts.max() < fig.layout.yaxis.range[1]
        stated = re.search(r"(\d+) of them .* (\d+) have z ≤ 0",
                           fig.layout.meta["description"]).groups()
        assert [int(n) for n in stated] == [(z > 0).sum(), (z <= 0).sum()]


def test_weight_decay_shrinks_a_dead_neuron_but_keeps_it_dead():
    """"gradient descent no longer changes them (weight decay still shrinks
    both by the same factor, which keeps every z negative)"."""
    x = torch.as_tensor(np.random.default_rng(0).standard_normal(2000))
    for decay in (0.0, 0.1):
        w = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
        b = torch.tensor(-6.0, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.SGD([w, b], lr=0.5, weight_decay=decay)
        for _ in range(50):
            opt.zero_grad()
            torch.relu(w * x + b).sum().backward()
            opt.step()
        if decay == 0:
            assert (w.item(), b.item()) == (1.0, -6.0)
        else:                               # shrunk, by the same factor
            assert abs(b.item()) < 1 and b.item() / w.item() == \
                pytest.approx(-6.0, rel=1e-12)
        assert int((w * x + b > 0).sum()) == 0


def test_a_deeper_dead_relu_revives_when_the_layer_below_changes():
    """"in a deeper layer it stays dead unless the layers below change its
    inputs", and the summary says the same."""
    x = torch.linspace(0.01, 1.0, 100, dtype=torch.float64)
    v = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(-1.0, dtype=torch.float64, requires_grad=True)
    alive = []
    opt = torch.optim.SGD([v, b], lr=0.1)
    for _ in range(60):
        h = v * x                          # the layer below
        z = h + b                          # the neuron, z <= -0.5 at first
        alive.append(int((z > 0).sum()))
        # another path of the loss pulls the layer below towards v = 3
        loss = -torch.relu(z).sum() + ((v - 3) ** 2).sum()
        opt.zero_grad()
        loss.backward()
        if alive[-1] == 0:
            assert b.grad.item() == 0      # dead: no gradient reaches b
        opt.step()
    assert alive[0] == 0 and alive[-1] > 0
    summary = TEXT[TEXT.index("## Summary"):TEXT.index("## Exercises")]
    assert "never\n  recovers" not in summary
    assert "first layer it never recovers" in " ".join(summary.split())


def test_the_glossary_says_what_the_chapter_says_of_a_dead_relu():
    entry = page.glossary_entry("dying ReLU")
    assert "never learns again" not in entry
    assert "first layer" in entry and "layers below" in entry
    assert "{ref}`act-dead-relu`" in entry


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the source documents are "
                    "not beside the repository")
def test_the_note_on_the_cnn_documents_relu_code_quotes_it():
    """The CNN document's §4.4 says its mask can be used "to compute" the
    ReLU layer's gradient (可以利用 ... 计算), not that it is that
    gradient; its mask agrees with relu_grad, 0 at the kink included."""
    text = next(SEEDS.glob("000_*.txt")).read_text()
    section = text[text.index("### 4.4"):text.index("## 5.")]
    assert "我们可以利用`relu_derivative(x)`计算 ReLU 层的梯度" in section
    code = section[section.index("```python") + 9:]
    namespace = {"torch": torch}
    exec(code[:code.index("```")], namespace)  # the document's functions
    x = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    np.testing.assert_array_equal(
        namespace["relu_derivative"](torch.tensor(x)).numpy(),
        act.relu_grad(x))
    note = " ".join(page.admonition(
        TEXT, "The ReLU code of the {cite:t}`cnn-calculus-doc{§4.4}`"
    ).split())
    assert "`dx[x <= 0] = 0`" in note and "dx[x <= 0] = 0" in section
    assert '"to compute the gradient of the ReLU layer"' in note
    assert "says it gives" not in note


@pytest.mark.parametrize("alpha", [-0.1, 1.1])
def test_calc_nn_takes_leaky_slopes_in_0_1_and_pytorch_any(alpha):
    """"calc_nn accepts slopes in [0, 1] ... (PyTorch's negative_slope
    takes any number)": the restriction is calc_nn's, not the function's."""
    assert "`calc_nn` accepts slopes in $[0, 1]$" in TEXT
    assert "The slope must lie" not in TEXT
    with pytest.raises(ValueError, match="alpha"):
        act.leaky_relu(np.ones(3), alpha=alpha)
    x = torch.tensor([-2.0, 3.0], dtype=torch.float64)
    y = torch.nn.functional.leaky_relu(x, negative_slope=alpha)
    np.testing.assert_array_equal(y.numpy(), [-2.0 * alpha, 3.0])


# -------------------------------------------------------------- softmax

def test_softmax_subtracts_the_max_only_where_the_sum_is_out_of_range(
        monkeypatch):
    """"exponentiates the logits as they are where their sum comes out in
    a safe range, and on the other slices (where e^z overflows, say)
    starts again with max z subtracted"."""
    assert "starts again with $\\max_k z_k$ subtracted" in TEXT
    shifted = []

    def spy(z, axis):
        shifted.append(z.copy())
        return real(z, axis)
    real = act._shifted
    monkeypatch.setattr(act, "_shifted", spy)
    z = np.array([[2.0, 1.0, 0.1], [1000.0, 0.0, -1000.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = act.softmax(z)
    assert len(shifted) == 1
    np.testing.assert_array_equal(shifted[0], z[1:])    # that slice only
    np.testing.assert_array_equal(p[1], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(p[0], np.exp(z[0]) / np.exp(z[0]).sum(),
                               rtol=4 * np.finfo(float).eps)


@pytest.mark.parametrize("seed", range(4))
def test_the_softmax_jacobian_rows_and_columns_sum_to_zero(seed):
    z = np.random.default_rng(seed).normal(0, 3, size=5)
    J = act.softmax_jacobian(z)
    np.testing.assert_allclose(J.sum(axis=0), 0, atol=1e-15)
    np.testing.assert_allclose(J.sum(axis=1), 0, atol=1e-15)


def test_a_normalisation_has_zero_column_sums_but_not_row_sums():
    """x / sum(x): outputs sum to 1, no shift invariance; "row i sums to
    (1 - K x_i / S) / S, which is 0 only where x_i equals the mean"."""
    for x in ([0.5, 1.0, 2.5], [2.0, 2.0, 2.0], [1.0, 3.0, 2.0, 6.0]):
        x = torch.tensor(x, dtype=torch.float64)
        J = torch.autograd.functional.jacobian(lambda v: v / v.sum(), x)
        np.testing.assert_allclose(J.sum(0).numpy(), 0, atol=1e-15)
        S, K = x.sum(), len(x)
        rows = J.sum(1).numpy()
        np.testing.assert_allclose(rows, ((1 - K * x / S) / S).numpy(),
                                   rtol=1e-12, atol=1e-15)
        at_mean = np.isclose(x.numpy(), S.item() / K)
        assert np.all((np.abs(rows) < 1e-15) == at_mean)
    assert "(1 - K x_i / S) / S" in TEXT


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the source documents are "
                    "not beside the repository")
def test_the_source_puts_zero_mean_beside_faster_convergence():
    """The erratum quotes the NN document's §4.1 on tanh: the two claims
    side by side, with no "because" (因为/由于/所以) between them."""
    text = next(SEEDS.glob("002_*.txt")).read_text()
    section = text[text.index("### 4.1"):text.index("### 4.2")]
    tanh = section[section.index("Tanh函数的值域"):]
    tanh = tanh[:tanh.index("\n")]
    assert "零均值的,收敛速度更快" in tanh
    assert not any(word in tanh for word in ("因为", "由于", "所以"))
    erratum = page.admonition(TEXT, 'Erratum: why tanh "converges faster"')
    assert "*because*" not in erratum
    assert '"is zero mean and converges faster"' in " ".join(erratum.split())


@pytest.mark.parametrize("seed", range(5))
def test_positive_inputs_give_weight_gradients_of_one_sign(seed):
    """The reasoning of the tanh erratum: dL/dw_j = delta x_j."""
    rng = np.random.default_rng(seed)
    z_below, delta = rng.standard_normal(6), rng.standard_normal()
    signs = np.sign(delta * act.sigmoid(z_below))
    assert np.all(signs == np.sign(delta))
    if seed == 1:  # the chapter's example: tanh inputs give both signs
        tanh_signs = np.sign(-0.8 * act.tanh(z_below))
        assert set(tanh_signs) == {-1.0, 1.0}


def test_one_sign_holds_on_one_example_and_a_batch_can_mix():
    """"on one example ... a gradient step on one example can only move
    them all up or all down together ... (over a batch, examples whose
    errors have opposite signs can give a mix)": positive inputs, by
    autograd."""
    erratum = " ".join(page.admonition(
        TEXT, 'Erratum: why tanh "converges faster"').split())
    assert "on one example, the gradient" in erratum
    assert "over a batch, examples whose errors have opposite signs can " \
        "give a mix" in erratum
    x = torch.tensor([[1.0, 2.0], [2.0, 1.0]], dtype=torch.float64)
    delta = torch.tensor([1.0, -1.0], dtype=torch.float64)
    w = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    for rows in ([0], [1], [0, 1]):     # dL/dz = delta on every example
        w.grad = None
        ((x[rows] @ w) * delta[rows]).sum().backward()
        signs = set(np.sign(w.grad.numpy()))
        assert signs == ({-1.0, 1.0} if len(rows) == 2 else
                         {float(torch.sign(delta[rows[0]]))})


# ------------------------------------------------------------ exercises

def test_a_float32_update_below_a_quarter_eps_is_lost():
    """The rounding rule of exercise act-ex-depth, on random weights."""
    rng = np.random.default_rng(0)
    eps = np.finfo(np.float32).eps
    w = rng.uniform(-8, 8, 2000).astype(np.float32)
    u = (rng.uniform(-1, 1, 2000) * eps * np.abs(w) / 4).astype(np.float32)
    assert np.all(w - u == w)


def test_thirteen_sigmoid_layers_lose_a_float32_update():
    eps32 = float(np.finfo(np.float32).eps)
    depth = next(d for d in range(1, 64) if 4.0 ** -d < eps32 / 4)
    assert depth == 13
    one = np.float32(1.0)
    assert one - np.float32(4.0 ** -depth) == one
    assert one - np.float32(4.0 ** -(depth - 1)) != one
    a, grad = act.chain_gradient("sigmoid", depth, w=1.0, x0=0.5)
    assert grad[1] * act.sigmoid_grad(a[0]) * a[0] < 4.0 ** -depth


def test_the_depth_exercise_says_why_the_real_chain_is_below_the_bound():
    """"7.5 times smaller than the bound: a factor 2 because a^0 = 0.5 ...
    and 3.8 because its D factors lie between 0.225 and 0.235"."""
    depth = 13
    a, grad = act.chain_gradient("sigmoid", depth, w=1.0, x0=0.5)
    dw1 = grad[1] * act.sigmoid_grad(a[0]) * a[0]
    sigma_primes = act.sigmoid_grad(a[:-1])
    below = 4.0 ** -depth / dw1
    from_factors = 0.25 ** depth / np.prod(sigma_primes)
    assert below == pytest.approx(2 * from_factors, rel=1e-12)
    assert 5 < below < 10 and 3 < from_factors < 5
    assert 0.22 < sigma_primes.min() < sigma_primes.max() < 0.24


def test_the_softplus_exercise_names_where_the_naive_form_fails():
    """"nor returns 0 for x = -40, where 1 + e^x rounds to 1", which the
    hint's form gets right (and at -1e4 every float64 answer is 0)."""
    assert "nor returns 0 for $x = -40$" in TEXT
    x = np.array([-40.0])
    assert 1 + np.exp(x[0]) == 1 and np.log(1 + np.exp(x))[0] == 0
    hint = np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))
    exact = float(sp.log(1 + sp.exp(sp.Integer(-40))).evalf(30))
    assert hint[0] == pytest.approx(exact, rel=1e-15)
    assert np.log1p(np.exp(-1e4)) == 0 and np.log(1 + np.exp(-1e4)) == 0


def test_the_implement_exercise_reports_what_the_solution_says():
    relu_report = str(check.relu_grad(lambda x: (x >= 0).astype(x.dtype)))
    assert "x = [-2. , -0.5, 0. , 0.5, 2. ]" in relu_report
    assert "where the input is 0:\n       expected 0, got 1" in relu_report

    def naive(x):
        s = 1 / (1 + np.exp(-x))
        return s * (1 - s)
    report = str(check.sigmoid_grad(naive))
    assert "right values, but your function warned" in report
    assert "overflow encountered in exp" in report


def test_the_prose_never_says_n_for_the_depth():
    text = page.prose(TEXT)
    assert "(1/4)^n" not in text and "a_n" not in text
    assert "\\delta_{ij}" not in TEXT and "diag(s)" not in TEXT


def test_machine_epsilon_is_written_as_the_notation_page_writes_it():
    """The depth exercise's float32 epsilon is the notation page's
    epsilon_mach (a bare epsilon there is Adam's eps), and 2^-23 is it."""
    notation = page.read("notation")
    assert r"\varepsilon_{\mathrm{mach}}" in notation
    bare = re.findall(r"\\(?:var)?epsilon(?!_\{\\mathrm\{mach\}\})", TEXT)
    assert bare == []
    assert "$\\varepsilon_{\\mathrm{mach}} = 2^{-23}$" in " ".join(
        TEXT.split())
    assert np.finfo(np.float32).eps == 2.0 ** -23


def test_the_depth_figures_verdicts_follow_the_thresholds_the_text_states():
    """"The title calls the gradient at the input vanished below 10^-6 and
    exploded above 10^6, ok in between": the figure's verdicts flip there
    (ReLU with w = 2, 2^D, from 2^19 to 2^20), and its description states
    the same thresholds (it gave verdicts with no threshold anywhere, and
    "a chain of 1 layers")."""
    text = " ".join(TEXT.split())
    assert ("The title calls the gradient at the input *vanished* below "
            "$10^{-6}$ and *exploded* above $10^{6}$, ok in between") in text
    assert (figs.VANISHED, figs.EXPLODED) == (1e-6, 1e6)
    for depth, verdict in ((19, "ok"), (20, "exploded")):
        fig = figs.gradient_through_depth(depth, 2.0)
        assert f"ReLU {2.0 ** depth:.1e} ({verdict})" in \
            fig.layout.title.text.replace("<br>", " ")
        assert ("At the input (vanished below 1e-6, exploded above 1e6): "
                in fig.layout.meta["description"])
    one = figs.gradient_through_depth(1, 0.5).layout.meta["description"]
    assert one.startswith("Gradient through a chain of 1 layer, each "
                          "aᵏ = f(w·aᵏ⁻¹) with w = 0.5")
