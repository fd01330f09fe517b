r"""SymPy expressions of the formulas the chapter "Activation functions"
displays, and the exact oracle every test uses.

Chapters display these expressions (``sympy.latex``) rather than retyping
them, and the tests compare them with the NumPy code, with PyTorch and with
finite differences. A formula written by hand in a chapter is checked against
an expression here (``tests/test_formulas.py``).

Activation functions are expressions in the real symbol :data:`x`; Leaky ReLU
also has the slope :data:`alpha`. Their names are those of
:data:`calc_nn.activations.ACTIVATIONS` (a test checks the two tables agree).
Softmax is built for a given number of classes from the symbols
``z_1, ..., z_C``.
"""

from __future__ import annotations

import functools

import numpy as np
import sympy as sp
from sympy.calculus.util import function_range
from sympy.core.evalf import PrecisionExhausted

from calc_nn._validation import (
    as_float_array,
    check_choice,
    check_finite,
    check_int,
)

__all__ = [
    "x",
    "alpha",
    "ACTIVATIONS",
    "activation",
    "derivative",
    "derivative_identity",
    "identity_holds",
    "latex_identity",
    "max_derivative",
    "value_range",
    "image",
    "latex_definition",
    "latex_derivative",
    "softmax",
    "softmax_jacobian",
    "log_softmax",
    "depth_gradient_bound",
    "evaluate_exact",
]

x = sp.Symbol("x", real=True)
alpha = sp.Symbol("alpha", nonnegative=True)

# The definitions of the NN document [nn-calculus-doc] §4.1 and the CNN
# document [cnn-calculus-doc] §3.4. ReLU is written as a Piecewise with
# x <= 0 on the zero branch so that its derivative at 0 is 0, as in
# PyTorch; sympy.Max would differentiate to Heaviside(x), which SymPy
# defines as 1/2 at 0.
ACTIVATIONS: dict[str, sp.Expr] = {
    "sigmoid": 1 / (1 + sp.exp(-x)),
    "tanh": (sp.exp(x) - sp.exp(-x)) / (sp.exp(x) + sp.exp(-x)),
    "relu": sp.Piecewise((0, x <= 0), (x, True)),
    "leaky_relu": sp.Piecewise((alpha * x, x <= 0), (x, True)),
}

# How each function is named in displayed formulas.
_LATEX_NAMES = {
    "sigmoid": r"\sigma",
    "tanh": r"\tanh",
    "relu": r"\operatorname{ReLU}",
    "leaky_relu": r"\operatorname{LeakyReLU}_{\alpha}",
}

# The derivative written in terms of the function's own value, the form
# backpropagation uses (the forward pass has already computed f(x)).
sigma = sp.Function("sigma")
_IDENTITIES = {
    "sigmoid": (sigma(x), sigma(x) * (1 - sigma(x))),
    "tanh": (sp.tanh(x), 1 - sp.tanh(x) ** 2),
}


def activation(name: str) -> sp.Expr:
    """SymPy expression of the activation ``name`` in the symbol ``x``.

    Raises ValueError for an unknown name, listing the known ones.

    Used in: book/activations.md
    """
    return ACTIVATIONS[_check_name(name)]


def derivative(name: str) -> sp.Expr:
    """``d/dx`` of the activation ``name``, as SymPy gives it.

    Used in: book/activations.md
    """
    return _derivative(_check_name(name))


@functools.lru_cache(maxsize=None)
def _derivative(name: str) -> sp.Expr:
    expr = sp.diff(ACTIVATIONS[name], x)
    if name == "tanh":
        # the quotient rule's raw output, collected over one denominator
        return sp.factor(sp.together(expr))
    # sigmoid: exp(-x)/(1 + exp(-x))**2 as it comes (simplify() would turn
    # it into 1/(4 cosh(x/2)**2), true but not the form the chapter teaches);
    # ReLU and Leaky ReLU: a Piecewise of constants.
    return expr


def derivative_identity(name: str) -> tuple[sp.Expr, sp.Expr]:
    """The derivative in terms of the function's value: ``(f(x), g)``.

    ``g`` is an expression in ``f(x)`` with ``f'(x) = g``: for the sigmoid
    ``sigma(x) * (1 - sigma(x))`` (``sigma`` an undefined SymPy function),
    for tanh ``1 - tanh(x)**2``. Raises ValueError for ReLU and Leaky ReLU,
    which have none. :func:`identity_holds` proves it.

    Used in: book/activations.md
    """
    if _check_name(name) not in _IDENTITIES:
        raise ValueError(f"{name} has no derivative identity of this form; "
                         f"{sorted(_IDENTITIES)} have one")
    return _IDENTITIES[name]


def identity_holds(name: str) -> bool:
    """True if SymPy proves ``derivative(name) == g`` of the identity.

    Used in: book/activations.md
    """
    fx, g = derivative_identity(name)
    g = g.subs(fx, activation(name)).rewrite(sp.exp)
    return sp.simplify(g - derivative(name)) == 0


def latex_identity(name: str) -> str:
    r"""LaTeX of the identity, e.g. ``\sigma'(x) = \sigma(x)(1 - \sigma(x))``.

    Used in: book/activations.md
    """
    _, g = derivative_identity(name)
    return f"{_LATEX_NAMES[name]}'(x) = {sp.latex(g)}"


def max_derivative(name: str) -> tuple[sp.Expr, sp.Expr]:
    """``(x*, f'(x*))``: where the derivative is largest, and its value.

    Found with calculus: the stationary points of ``f'`` (zeros of ``f''``)
    compared with the limits of ``f'`` at +-infinity. ReLU and Leaky ReLU
    (with ``alpha = 1/100``, as in :func:`image`) have a constant
    derivative on each side of 0: the larger, 1, is reached on the whole
    half-line x > 0; ``x*`` is then reported as ``oo``.

    Used in: book/activations.md
    """
    return _max_derivative(_check_name(name))


@functools.lru_cache(maxsize=None)
def _max_derivative(name: str) -> tuple[sp.Expr, sp.Expr]:
    fp = _derivative(name)
    if isinstance(fp, sp.Piecewise):  # a constant on each side of 0
        values = [piece.subs(alpha, sp.Rational(1, 100))
                  for piece, _cond in fp.args]
        return sp.oo, sp.Max(*values)
    candidates = sp.solve(sp.Eq(sp.diff(fp, x), 0), x)
    points = [(c, sp.simplify(fp.subs(x, c))) for c in candidates]
    points += [(lim, sp.limit(fp, x, lim)) for lim in (-sp.oo, sp.oo)]
    return max(points, key=lambda p: float(p[1]))


def value_range(name: str) -> tuple[sp.Expr, sp.Expr]:
    """Limits of the activation at -infinity and +infinity (for Leaky ReLU
    with some ``alpha > 0``).

    Used in: book/activations.md
    """
    expr = activation(name)
    if isinstance(expr, sp.Piecewise):
        # limits of each branch on its own half-line (alpha > 0 assumed)
        (neg, _), (pos, _) = expr.args
        neg = neg.subs(alpha, sp.Rational(1, 100))
        return sp.limit(neg, x, -sp.oo), sp.limit(pos, x, sp.oo)
    return sp.limit(expr, x, -sp.oo), sp.limit(expr, x, sp.oo)


def image(name: str) -> sp.Set:
    r"""The set of values the activation takes on the real line (its range),
    for Leaky ReLU with ``alpha = 1/100``.

    Unlike :func:`value_range`, which gives only the limits at
    :math:`\pm\infty`, this says whether an end is reached: ReLU takes the
    value 0, so its range is :math:`[0, \infty)`, while the sigmoid never
    reaches 0 or 1, so its range is :math:`(0, 1)`. Computed by SymPy's
    ``function_range``, branch by branch for the piecewise functions.

    Used in: book/activations.md
    """
    return _image(_check_name(name))


@functools.lru_cache(maxsize=None)
def _image(name: str) -> sp.Set:
    expr = ACTIVATIONS[name].subs(alpha, sp.Rational(1, 100))
    if not isinstance(expr, sp.Piecewise):
        return function_range(expr, x, sp.S.Reals)
    values, rest = sp.S.EmptySet, sp.S.Reals
    for piece, condition in expr.args:  # each branch on what is left
        where = rest.intersect(condition.as_set())
        values, rest = values | function_range(piece, x, where), rest - where
    return values


def latex_definition(name: str) -> str:
    """LaTeX ``f(x) = ...`` for the activation, from its SymPy expression.

    Used in: book/activations.md
    """
    expr = activation(name)
    return f"{_LATEX_NAMES[name]}(x) = {sp.latex(expr)}"


def latex_derivative(name: str) -> str:
    """LaTeX ``f'(x) = ...`` for the derivative, from SymPy's result.

    Used in: book/activations.md
    """
    expr = derivative(name)
    return f"{_LATEX_NAMES[name]}'(x) = {sp.latex(expr)}"


def softmax(n_classes: int) -> tuple[list[sp.Symbol], sp.Matrix]:
    """Symbols ``z`` and the column vector ``softmax(z)`` for C classes.

    Used in: book/activations.md, book/losses.md
    """
    z = _z(n_classes)
    denom = sum(sp.exp(zj) for zj in z)
    return z, sp.Matrix([sp.exp(zi) / denom for zi in z])


def log_softmax(n_classes: int) -> tuple[list[sp.Symbol], sp.Matrix]:
    """Symbols ``z`` and ``log softmax(z)`` for C classes.

    Used in: book/losses.md
    """
    z = _z(n_classes)
    log_denom = sp.log(sum(sp.exp(zj) for zj in z))
    return z, sp.Matrix([zi - log_denom for zi in z])


def softmax_jacobian(n_classes: int) -> tuple[list[sp.Symbol], sp.Matrix]:
    """Symbols ``z`` and the C x C Jacobian ``d softmax_i / d z_j``.

    Used in: book/activations.md
    """
    z, s = softmax(n_classes)
    return z, s.jacobian(z)


def depth_gradient_bound(name: str, depth: int) -> sp.Expr:
    """Upper bound on the product of ``depth`` local derivatives.

    Through ``depth`` layers of the same activation (unit weights), the chain
    rule multiplies ``depth`` factors ``f'(z_k)``, each at most
    ``max_derivative(name)``: for the sigmoid ``(1/4)**depth``.

    Used in: book/activations.md
    """
    depth = check_int(depth, "depth", low=0)
    return max_derivative(name)[1] ** depth


def evaluate_exact(expr: sp.Expr, symbols=(x,), zero_if_tiny=False):
    """Evaluate ``expr`` elementwise to float64, correctly rounded.

    SymPy's ``evalf`` raises its working precision until the requested
    digits are right, so cancellation (``e^x - e^-x`` at ``x = 1e-124``) and
    huge intermediates (``e^{10^4}``) cost it nothing: the exact oracle of
    the tests, where a NumPy or fixed-precision evaluation would be wrong.
    ``strict=True``: if the digits cannot be had, it raises rather than
    returning a wrong number; with ``zero_if_tiny=True`` a value that 2000
    bits cannot tell from 0 (e.g. ``e^{-2e4}``, 0 in float64 anyway) is 0.

    Parameters
    ----------
    expr : sympy expression
    symbols : tuple of sympy Symbol
        The symbols the returned function takes values for, in order.
    zero_if_tiny : bool

    Returns
    -------
    callable, ``(*arrays) -> ndarray``: one finite real array per symbol
    (broadcast together), giving a float64 array of their broadcast shape.
    It raises ValueError for NaN or inf (a float's exact value needs a
    number: ``sympy.Rational(nan)`` would be 0) and TypeError for a wrong
    number of arrays.

    Used in: book/activations.md, book/losses.md
    """
    expr, symbols = _check_expression(expr, symbols)

    def evaluate(*arrays):
        arrays = _check_values(symbols, arrays)
        out = np.empty(arrays[0].shape)
        for idx in np.ndindex(out.shape):
            # exact rationals: a float is a binary fraction, and exact input
            # lets SymPy see exact zeros such as e^0 - e^0
            subs = {sym: sp.Rational(float(a[idx]))
                    for sym, a in zip(symbols, arrays)}
            try:
                out[idx] = float(expr.subs(subs).evalf(20, maxn=2000,
                                                       strict=True))
            except PrecisionExhausted:
                if not zero_if_tiny:
                    raise
                out[idx] = 0.0
        return out

    return evaluate


# --- checks

def _check_name(name: str) -> str:
    return check_choice(name, "activation", ACTIVATIONS)


def _z(n_classes: int) -> list[sp.Symbol]:
    n_classes = check_int(n_classes, "n_classes", low=1)
    return list(sp.symbols(f"z_1:{n_classes + 1}", real=True))


def _check_expression(expr, symbols):
    """``expr`` and ``symbols`` as a SymPy expression and a tuple of
    SymPy symbols."""
    if not isinstance(expr, sp.Basic):
        raise TypeError(f"expr must be a SymPy expression, got "
                        f"{type(expr).__name__}")
    symbols = tuple(symbols)
    if not symbols or not all(isinstance(s, sp.Symbol) for s in symbols):
        raise TypeError(f"symbols must be a non-empty tuple of SymPy "
                        f"symbols, got {symbols!r}")
    return expr, symbols


def _check_values(symbols, arrays) -> list[np.ndarray]:
    """One finite float64 array per symbol, broadcast together; each is
    named by its symbol in the messages."""
    if len(arrays) != len(symbols):
        raise TypeError(f"give one array per symbol {symbols}, got "
                        f"{len(arrays)}")
    checked = [check_finite(as_float_array(a, str(s)).astype(np.float64),
                            str(s)) for s, a in zip(symbols, arrays)]
    return np.broadcast_arrays(*checked)
