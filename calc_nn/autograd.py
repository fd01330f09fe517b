r"""A scalar reverse-mode automatic differentiation engine (micrograd-style).

Every arithmetic operation on :class:`Value` objects records a node of a
computational graph: its result, its inputs (``children``) and the *local
derivatives* :math:`\partial\,\text{out} / \partial\,\text{child}`, computed
right beside the forward value. :meth:`Value.backward` then walks the graph
from the output back to the inputs in reverse topological order and applies
the chain rule at every node:

.. math:: \bar{c} \mathrel{+}= \frac{\partial\,\text{out}}{\partial c}\,
          \overline{\text{out}}

where :math:`\bar{v} = \partial L / \partial v` is stored in ``v.grad``.
A node used twice receives the sum of both contributions (the multivariate
chain rule).

Arithmetic follows IEEE floats and PyTorch: a result too large for a float
is ``inf`` (``Value(1000.0).exp()``, ``Value(1e200) * Value(1e200)``,
``Value(10.0) ** 400``), never an OverflowError, and NaN propagates. A
point outside an operation's domain (``log`` of a number <= 0, division by
0, a negative base with a fractional exponent) raises a ValueError or
ZeroDivisionError instead of returning NaN.

Example
-------
>>> x, w = Value(2.0), Value(-3.0)
>>> y = (x * w).tanh()
>>> y.backward()
>>> round(x.grad, 6)  # w * (1 - tanh(xw)^2)
-0.000148
"""

from __future__ import annotations

import math

from calc_nn._validation import check_real

__all__ = ["Value", "topological_order", "backward_steps"]


class Value:
    """A scalar that remembers how it was computed.

    Parameters
    ----------
    data : float
        The value (NaN and +-inf allowed, as in a tensor).
    children : tuple of Value
        The operands that produced it (empty for an input).
    op : str
        Name of the operation, for drawings ("" for an input).
    local_grads : tuple of float
        ``d self / d child`` for each child, same order; required when
        there are children (a missing one would silently count as 0).
    label : str
        A name for drawings.

    Attributes
    ----------
    data : float
    grad : float
        :math:`\\partial L / \\partial` self after ``L.backward()``.

    Raises
    ------
    TypeError
        If ``data`` or a local gradient is not a real number, or a child
        is not a Value.
    ValueError
        If ``local_grads`` does not give one number per child.

    Used in: book/backprop.md
    """

    __slots__ = ("data", "grad", "children", "op", "local_grads", "label")

    def __init__(self, data, children=(), op="", local_grads=(), label=""):
        self.data, self.children, self.local_grads = _check_node(
            data, children, op, local_grads)
        self.grad = 0.0
        self.op = op
        self.label = label

    def __repr__(self):
        name = f"{self.label}: " if self.label else ""
        return f"Value({name}data={self.data:.6g}, grad={self.grad:.6g})"

    @staticmethod
    def _lift(other):
        return other if isinstance(other, Value) else Value(
            check_real(other, "operand", finite=False))

    # --- each operation: its value and, beside it, its local derivatives

    def __add__(self, other):
        other = self._lift(other)
        # d(a+b)/da = 1, d(a+b)/db = 1
        return Value(self.data + other.data, (self, other), "+", (1.0, 1.0))

    def __mul__(self, other):
        other = self._lift(other)
        # d(ab)/da = b, d(ab)/db = a
        return Value(self.data * other.data, (self, other), "×",
                     (other.data, self.data))

    def __pow__(self, k):
        k = _check_exponent(self.data, k)
        # d(a^k)/da = k a^(k-1) (0 for k = 0, as in PyTorch)
        local = k * _power(self.data, k - 1) if k != 0 else 0.0
        return Value(_power(self.data, k), (self,), f"^{k:g}", (local,))

    def __rpow__(self, base):
        base = check_real(base, "base", low=0, low_open=True)
        out = _power(base, self.data)
        # d(c^a)/da = c^a log c
        return Value(out, (self,), f"{base:g}^", (out * math.log(base),))

    def exp(self):
        out = _exp(self.data)
        # d(e^a)/da = e^a
        return Value(out, (self,), "exp", (out,))

    def log(self):
        _check_log_argument(self.data)
        # d(log a)/da = 1/a
        return Value(math.log(self.data), (self,), "log", (1 / self.data,))

    def tanh(self):
        t = math.tanh(self.data)
        # d(tanh a)/da = 1 - tanh(a)^2
        return Value(t, (self,), "tanh", (1 - t * t,))

    def relu(self):
        # d(relu a)/da = 1 if a > 0, 0 if a <= 0 (0 at the kink, as
        # PyTorch), and NaN at NaN
        local = 1.0 if self.data > 0 else 0.0 if self.data <= 0 else math.nan
        return Value(max(self.data, 0.0), (self,), "relu", (local,))

    def sigmoid(self):
        e = math.exp(-abs(self.data))  # never overflows
        s = 1 / (1 + e) if self.data >= 0 else e / (1 + e)
        # d(sigma a)/da = sigma (1 - sigma), here as e^-|a| / (1 + e^-|a|)^2
        return Value(s, (self,), "σ", (e / (1 + e) ** 2,))

    def __neg__(self):
        # d(-a)/da = -1
        return Value(-self.data, (self,), "neg", (-1.0,))

    def __sub__(self, other):
        other = self._lift(other)
        # d(a-b)/da = 1, d(a-b)/db = -1
        return Value(self.data - other.data, (self, other), "−", (1.0, -1.0))

    def __truediv__(self, other):
        other = _check_divisor(self._lift(other))
        out = self.data / other.data
        # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2 = -(a/b)/b
        return Value(out, (self, other), "÷",
                     (1 / other.data, -out / other.data))

    # --- operands on the right: 2 + v, 2 * v, 2 - v, 2 / v

    def __radd__(self, other):
        return self + other

    def __rmul__(self, other):
        return self * other

    def __rsub__(self, other):
        return self._lift(other) - self

    def __rtruediv__(self, other):
        return self._lift(other) / self

    # --- reverse mode

    def backward(self):
        """Set ``v.grad = d self / d v`` for every node ``v`` of the graph.

        Gradients are recomputed from zero at each call (PyTorch would
        accumulate them into the leaves).

        Used in: book/backprop.md
        """
        for _ in backward_steps(self):
            pass


def topological_order(root):
    """Nodes of ``root``'s graph, each after all of its children.

    An iterative depth-first search, so deep graphs do not hit Python's
    recursion limit.

    Returns
    -------
    list of Value, ending with ``root``

    Raises
    ------
    TypeError
        If ``root`` is not a Value.

    Used in: book/backprop.md
    """
    root = _check_value(root, "root")
    order, seen = [], set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for child in node.children:
            if id(child) not in seen:
                stack.append((child, False))
    return order


def backward_steps(root):
    """The backward pass one node at a time (a generator).

    Zeroes every gradient, sets ``root.grad = 1``, then for each node in
    reverse topological order adds ``local * node.grad`` to each child's
    gradient and yields that node. :meth:`Value.backward` runs it to the
    end; the chapter's figure stops after each step.

    Yields
    ------
    Value
        The node whose gradient was just passed to its children.

    Used in: book/backprop.md
    """
    order = topological_order(root)
    for node in order:
        node.grad = 0.0
    root.grad = 1.0
    for node in reversed(order):
        for child, local in zip(node.children, node.local_grads):
            child.grad += local * node.grad  # the chain rule
        yield node


# --- IEEE overflow for Python floats, and the checks

def _power(a: float, k: float) -> float:
    """``a ** k``, with overflow to +-inf (Python raises OverflowError) and
    ``0 ** negative = inf`` (Python raises ZeroDivisionError), as IEEE's
    ``pow`` and PyTorch give."""
    try:
        return a ** k
    except (OverflowError, ZeroDivisionError):
        odd = float(k).is_integer() and k % 2 == 1
        return math.copysign(math.inf, a) if odd else math.inf


def _exp(a: float) -> float:
    """``e ** a``, with overflow to inf (``math.exp`` raises
    OverflowError), as IEEE's ``exp`` and PyTorch give."""
    try:
        return math.exp(a)
    except OverflowError:
        return math.inf


def _check_value(v, name: str) -> Value:
    if not isinstance(v, Value):
        raise TypeError(f"{name} must be a Value, got {type(v).__name__}")
    return v


def _check_node(data, children, op, local_grads):
    """``(data, children, local_grads)`` of a node, checked: one local
    gradient per child, so that no input silently receives 0."""
    data = check_real(data, "data", finite=False)
    children = tuple(_check_value(c, "every child") for c in children)
    local_grads = tuple(check_real(g, "every local gradient", finite=False)
                        for g in local_grads)
    if len(local_grads) != len(children):
        raise ValueError(
            f"the {op or 'unnamed'!r} node has {len(children)} input(s) but "
            f"{len(local_grads)} local gradient(s): give d(out)/d(input) "
            f"for each input, e.g. Value(math.sin(a.data), (a,), 'sin', "
            f"(math.cos(a.data),))")
    return data, children, local_grads


def _check_log_argument(a: float) -> None:
    if a <= 0:
        raise ValueError(f"log needs a positive argument, got {a:g}")


def _check_divisor(b: Value) -> Value:
    if b.data == 0:
        raise ZeroDivisionError("division of a Value by zero")
    return b


def _check_exponent(base: float, k) -> float:
    """``k`` as a float: a finite constant that ``base`` can be raised to
    (a negative base needs an integer exponent, 0 a non-negative one)."""
    k = check_real(k, "exponent")
    if base < 0 and not k.is_integer():
        raise ValueError(f"a negative base ({base:g}) needs an integer "
                         f"exponent, got {k:g}")
    if base == 0 and k < 0:
        raise ValueError(f"0 raised to the negative power {k:g}")
    return k
