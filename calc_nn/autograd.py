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
chain rule). Each node is visited once, after every node that uses it, so
the whole gradient costs about as much as the forward pass.

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
import numbers

__all__ = ["Value", "topological_order", "backward_steps"]


def _check_number(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number or a Value, got "
                        f"{type(value).__name__}")
    return float(value)


class Value:
    """A scalar that remembers how it was computed.

    Parameters
    ----------
    data : float
        The value.
    children : tuple of Value
        The operands that produced it (empty for an input).
    op : str
        Name of the operation, for drawings ("" for an input).
    local_grads : tuple of float
        ``d self / d child`` for each child, same order.
    label : str
        A name for drawings.

    Attributes
    ----------
    data : float
    grad : float
        :math:`\\partial L / \\partial` self after ``L.backward()``.
    """

    __slots__ = ("data", "grad", "children", "op", "local_grads", "label")

    def __init__(self, data, children=(), op="", local_grads=(), label=""):
        self.data = _check_number(data, "data")
        self.grad = 0.0
        self.children = tuple(children)
        self.op = op
        self.local_grads = tuple(local_grads)
        self.label = label

    def __repr__(self):
        name = f"{self.label}: " if self.label else ""
        return f"Value({name}data={self.data:.6g}, grad={self.grad:.6g})"

    @staticmethod
    def _lift(other):
        return other if isinstance(other, Value) else Value(
            _check_number(other, "operand"))

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
        k = _check_number(k, "exponent")
        if self.data < 0 and not k.is_integer():
            raise ValueError(f"a negative base ({self.data:g}) needs an "
                             f"integer exponent, got {k:g}")
        if self.data == 0 and k < 0:
            raise ValueError(f"0 raised to the negative power {k:g}")
        # d(a^k)/da = k a^(k-1)
        local = k * self.data ** (k - 1) if k != 0 else 0.0
        return Value(self.data ** k, (self,), f"^{k:g}", (local,))

    def __rpow__(self, base):
        base = _check_number(base, "base")
        if base <= 0:
            raise ValueError(f"base must be > 0 for base ** Value, got "
                             f"{base:g}")
        out = base ** self.data
        # d(c^a)/da = c^a log c
        return Value(out, (self,), f"{base:g}^", (out * math.log(base),))

    def exp(self):
        out = math.exp(self.data)
        # d(e^a)/da = e^a
        return Value(out, (self,), "exp", (out,))

    def log(self):
        if self.data <= 0:
            raise ValueError(f"log needs a positive argument, got "
                             f"{self.data:g}")
        # d(log a)/da = 1/a
        return Value(math.log(self.data), (self,), "log", (1 / self.data,))

    def tanh(self):
        t = math.tanh(self.data)
        # d(tanh a)/da = 1 - tanh(a)^2
        return Value(t, (self,), "tanh", (1 - t * t,))

    def relu(self):
        # d(relu a)/da = 1 if a > 0 else 0 (0 at the kink, as PyTorch)
        return Value(max(self.data, 0.0), (self,), "relu",
                     (1.0 if self.data > 0 else 0.0,))

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
        other = self._lift(other)
        if other.data == 0:
            raise ZeroDivisionError("division of a Value by zero")
        # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
        return Value(self.data / other.data, (self, other), "÷",
                     (1 / other.data, -self.data / other.data ** 2))

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
        """
        for _ in backward_steps(self):
            pass


def topological_order(root):
    """Nodes of ``root``'s graph, each after all of its children.

    Iterative depth-first search, so deep graphs do not hit Python's
    recursion limit.

    Returns
    -------
    list of Value, ending with ``root``
    """
    if not isinstance(root, Value):
        raise TypeError(f"root must be a Value, got {type(root).__name__}")
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
    gradient and yields that node. After the last step every ``grad`` is
    final. :meth:`Value.backward` just runs it to the end; the chapter's
    figure stops after each step.

    Yields
    ------
    Value
        The node whose gradient was just passed to its children.
    """
    order = topological_order(root)
    for node in order:
        node.grad = 0.0
    root.grad = 1.0
    for node in reversed(order):
        for child, local in zip(node.children, node.local_grads):
            child.grad += local * node.grad  # the chain rule
        yield node
