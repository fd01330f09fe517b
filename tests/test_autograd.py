"""calc_nn.autograd.Value against torch.autograd (the micrograd test, over
a table of composite expressions and hypothesis-generated inputs)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from calc_nn.autograd import Value, backward_steps, topological_order
from calc_nn.gradcheck import numerical_gradient, relative_error

# each expression is written once and run on Values and on torch tensors
# (both spell exp/log/tanh/relu/sigmoid as methods)
EXPRESSIONS = {
    "neuron": lambda a, b, c: (a * b + c).tanh(),
    "micrograd": lambda a, b, c: (
        (a * b + b ** 3) * (a + c).relu() + (b - a) / (c * c + 1)),
    "exp-log": lambda a, b, c: ((a * a + 1).log() * b.exp()
                                - (c.sigmoid() + 0.5).log()),
    "reused": lambda a, b, c: (a * a * a + a * b + (a * c).sigmoid() * a),
    "quotients": lambda a, b, c: (2 / (a * a + 1) - 3 - b
                                  + (c ** 2 + 1) ** 0.5 / 4),
    "powers": lambda a, b, c: 2 ** (a * 0.5) + (b * b + 0.1) ** -1.5 + -c,
    "deep": lambda a, b, c: _deep(a, b, c),
}


def _deep(a, b, c):
    out = a
    for _ in range(20):
        out = (out * b + c).tanh()
    return out


finite = st.floats(-3, 3, allow_nan=False)


@pytest.mark.parametrize("name", sorted(EXPRESSIONS))
@settings(max_examples=50, deadline=None)
@given(a=finite, b=finite, c=finite)
def test_value_and_gradients_equal_torch(name, a, b, c):
    f = EXPRESSIONS[name]
    vs = [Value(a), Value(b), Value(c)]
    out = f(*vs)
    out.backward()
    ts = [torch.tensor(v, dtype=torch.float64, requires_grad=True)
          for v in (a, b, c)]
    ref = f(*ts)
    ref.backward()
    assert out.data == pytest.approx(ref.item(), rel=1e-12, abs=1e-12)
    for v, t in zip(vs, ts):
        assert v.grad == pytest.approx(t.grad.item(), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", sorted(EXPRESSIONS))
def test_gradients_equal_finite_differences(name):
    f = EXPRESSIONS[name]
    point = np.array([0.7, -1.1, 0.4])
    vs = [Value(p) for p in point]
    f(*vs).backward()
    numeric = numerical_gradient(
        lambda p: f(*[Value(x) for x in p]).data, point)
    assert relative_error([v.grad for v in vs], numeric) < 1e-7


def test_the_gradient_check_catches_a_wrong_local_derivative(monkeypatch):
    """Break tanh's local derivative (1 - t instead of 1 - t^2): the
    comparison with finite differences must flag it."""
    def wrong_tanh(self):
        t = math.tanh(self.data)
        return Value(t, (self,), "tanh", (1 - t,))
    point = np.array([0.7, -1.1, 0.4])
    f = EXPRESSIONS["neuron"]
    numeric = numerical_gradient(
        lambda p: f(*[Value(x) for x in p]).data, point)
    monkeypatch.setattr(Value, "tanh", wrong_tanh)
    vs = [Value(p) for p in point]
    f(*vs).backward()
    assert relative_error([v.grad for v in vs], numeric) > 1e-2


def test_backward_recomputes_instead_of_accumulating():
    x = Value(3.0)
    y = x * x
    y.backward()
    y.backward()
    assert x.grad == 6.0


def test_deep_graph_has_no_recursion_limit():
    x = Value(0.5)
    out = x
    for _ in range(5000):
        out = out * 1.0 + 0.0
    out.backward()
    assert x.grad == 1.0
    assert len(topological_order(out)) == 1 + 4 * 5000


def test_backward_steps_visit_each_node_after_its_users():
    a, b = Value(2.0, label="a"), Value(-1.0, label="b")
    c = a * b
    d = c + a
    order = list(backward_steps(d))
    assert order[0] is d
    assert order.index(c) < order.index(a)
    assert (a.grad, b.grad) == (b.data + 1, a.data)


@pytest.mark.parametrize("make,error,pattern", [
    (lambda: Value(-1.0).log(), ValueError, r"positive.*-1"),
    (lambda: Value(-2.0) ** 0.5, ValueError, r"integer exponent"),
    (lambda: Value(0.0) ** -1, ValueError, r"negative power"),
    (lambda: Value(1.0) / 0, ZeroDivisionError, r"zero"),
    (lambda: (-2.0) ** Value(1.0), ValueError,
     r"base must be a finite number > 0, got -2"),
    (lambda: Value("3"), TypeError, r"data must be a real number"),
    (lambda: Value(1.0) + "a", TypeError, r"operand"),
    (lambda: topological_order(3.0), TypeError, r"root must be a Value"),
])
def test_bad_input(make, error, pattern):
    with pytest.raises(error, match=pattern):
        make()


def test_sigmoid_does_not_overflow():
    for x in (-1000.0, 1000.0):
        v = Value(x)
        s = v.sigmoid()
        s.backward()
        assert 0.0 <= s.data <= 1.0 and v.grad == 0.0


def _neuron():
    x, w, b = Value(2.0, label="x"), Value(-1.0, label="w"), Value(0.5)
    return ((x * w + b).tanh() - 1) ** 2


def test_graph_figure_steps_through_the_backward_pass():
    from calc_nn import plots

    n = plots.n_backward_steps(_neuron)
    assert n == 5  # ×, +, tanh, −, ^2
    first = plots.computational_graph(_neuron, 0)
    last = plots.computational_graph(_neuron, n)
    texts0, texts_n = first.data[2].text, last.data[2].text
    assert sum("grad ?" in t for t in texts0) == len(texts0) - 1
    assert not any("grad ?" in t for t in texts_n)
    x, w = Value(2.0), Value(-1.0)
    (((x * w + 0.5).tanh() - 1) ** 2).backward()
    x_grad = f"grad {x.grad:.3g}"
    assert any(t.startswith("<b>x</b>") and x_grad in t for t in texts_n)
    # the states differ step by step (the slider must change the plot)
    colors = [tuple(plots.computational_graph(_neuron, k).data[2]
                    .marker.color) for k in range(n + 1)]
    assert len(set(colors)) == n + 1
    with pytest.raises(ValueError, match=r"step must be in 0..5"):
        plots.computational_graph(_neuron, 6)


# ------------------------------------------------------- issue 12, item 2

def test_an_operation_needs_one_local_gradient_per_input():
    """The backprop chapter's pattern for a new operation, without its
    local gradient, would silently contribute 0: it is refused, by name."""
    v = Value(0.8)
    with pytest.raises(ValueError, match=r"the 'sin' node has 1 input\(s\) "
                                         r"but 0 local gradient\(s\).*"
                                         r"Value\(math.sin\(a.data\)"):
        Value(math.sin(v.data), (v,), "sin")
    with pytest.raises(ValueError, match="2 input.*1 local"):
        Value(1.0, (v, v), "f", (1.0,))
    with pytest.raises(TypeError, match="every child must be a Value"):
        Value(1.0, (0.8,), "f", (1.0,))
    # with its local gradient it works, and agrees with PyTorch
    a, b = Value(0.8), Value(-1.7)
    out = Value(math.sin(a.data * b.data), (a * b,), "sin",
                (math.cos(a.data * b.data),)) + a ** 2
    out.backward()
    ta, tb = (torch.tensor(v, dtype=torch.float64, requires_grad=True)
              for v in (0.8, -1.7))
    (torch.sin(ta * tb) + ta ** 2).backward()
    assert (a.grad, b.grad) == pytest.approx((ta.grad.item(),
                                              tb.grad.item()), rel=1e-14)


@pytest.mark.parametrize("k", [0, 0.5, 1, 1.5, 2, 3])
def test_powers_of_zero_match_torch(k):
    """Value(0) ** 0.5 has the derivative inf (PyTorch's), computed without
    a ZeroDivisionError; k = 0 has the derivative 0."""
    v = Value(0.0)
    out = v ** k
    out.backward()
    t = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    (t ** k).backward()
    assert out.data == (t ** k).item()
    assert v.grad == t.grad.item()


OVERFLOWS = {  # name: (f, an x where f(x) overflows)
    "exp": (lambda a: a.exp(), 1000.0),
    "mul": (lambda a: a * a, 1e200),
    "pow": (lambda a: a ** 3, 1e200),
    "negative pow": (lambda a: (-a) ** 3, 1e200),
    "small pow": (lambda a: (1 / a) ** -2, 1e200),
    "rpow": (lambda a: 10.0 ** a, 1000.0),
    "div": (lambda a: a / (1 / a), 1e200),
}


@pytest.mark.parametrize("name", sorted(OVERFLOWS))
def test_overflow_is_inf_as_in_pytorch(name):
    """One behaviour: a value too large for a float is +-inf, in the forward
    pass and in the gradients, never an OverflowError."""
    f, x = OVERFLOWS[name]
    v = Value(x)
    out = f(v)
    out.backward()
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    ref = f(t)
    ref.backward()
    assert out.data == ref.item() and math.isinf(out.data)
    np.testing.assert_allclose(v.grad, t.grad.item(), rtol=1e-14)


def test_the_quotient_rule_does_not_overflow_on_a_large_divisor():
    a, b = Value(1.0), Value(1e200)
    (a / b).backward()
    assert b.grad == -0.0 and a.grad == 1e-200


@pytest.mark.parametrize("make,error,pattern", [
    (lambda: Value(2.0) ** Value(2.0), TypeError,
     "exponent must be a real number"),
    (lambda: Value(2.0) ** float("nan"), ValueError,
     "exponent must be a finite number"),
    (lambda: Value(2.0) ** float("inf"), ValueError,
     "exponent must be a finite number"),
    (lambda: Value(True), TypeError, "data must be a real number"),
    (lambda: Value(None), TypeError, "data must be a real number"),
    (lambda: Value(np.array([1.0, 2.0])), TypeError,
     "data must be a real number"),
    (lambda: Value(1.0, (Value(2.0),), "f", ("1",)), TypeError,
     "every local gradient must be a real number"),
    (lambda: Value(1.0) * [1], TypeError, "operand must be a real number"),
])
def test_wrong_kinds_are_named(make, error, pattern):
    with pytest.raises(error, match=pattern):
        make()
