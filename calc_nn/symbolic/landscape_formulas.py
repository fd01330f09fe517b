r"""SymPy expressions of the loss landscapes of the chapter "Gradient
descent and optimizers", and the calculus the chapter derives from them.

Every landscape is an expression in the real symbols :data:`x` and
:data:`y`; :func:`gradient` and :func:`hessian` differentiate it with
``sympy.diff``. The hand-written NumPy gradients of
:mod:`calc_nn.landscapes` are tested against these.
"""

from __future__ import annotations

import functools

import sympy as sp

from calc_nn._validation import check_choice

__all__ = [
    "x",
    "y",
    "kappa",
    "LANDSCAPES",
    "landscape",
    "gradient",
    "hessian",
    "lambdified",
    "latex_definition",
    "gd_rate",
    "critical_lr",
    "bias_correction",
    "optimal_momentum_rate",
]

x, y = sp.symbols("x y", real=True)
kappa = sp.Symbol("kappa", positive=True)
eta, lam = sp.symbols("eta lambda", positive=True)

# The quadratic bowl has eigenvalues 1 and 1/kappa along the axes rotated
# by 30 degrees: condition number kappa, lambda_max = 1.
_c, _s = sp.cos(sp.pi / 6), sp.sin(sp.pi / 6)
_u, _v = _c * x + _s * y, -_s * x + _c * y

LANDSCAPES: dict[str, sp.Expr] = {
    "quadratic": (_u ** 2 + _v ** 2 / kappa) / 2,
    "rosenbrock": (1 - x) ** 2 + 100 * (y - x ** 2) ** 2,
    "himmelblau": (x ** 2 + y - 11) ** 2 + (x + y ** 2 - 7) ** 2,
    "saddle": x ** 2 / 2 - y ** 2 / 2 + y ** 4 / 4,
}

_NAMES = {
    "quadratic": r"L_{\kappa}",
    "rosenbrock": r"L_{\mathrm{Rosenbrock}}",
    "himmelblau": r"L_{\mathrm{Himmelblau}}",
    "saddle": r"L_{\mathrm{saddle}}",
}


def landscape(name: str) -> sp.Expr:
    """The SymPy expression of the landscape ``name`` in ``x``, ``y``.

    Raises ValueError for an unknown name, listing the known ones.

    Used in: book/optimizers.md
    """
    return LANDSCAPES[_check_name(name)]


def gradient(name: str) -> sp.Matrix:
    """The gradient ``(dL/dx, dL/dy)`` as a 2x1 SymPy matrix.

    Used in: book/optimizers.md
    """
    return _gradient(_check_name(name))


def hessian(name: str) -> sp.Matrix:
    """The 2x2 Hessian matrix.

    Used in: book/optimizers.md
    """
    return _hessian(_check_name(name))


def lambdified(name: str):
    """NumPy callables ``(f, grad)`` of ``(x, y[, kappa])``, for tests.

    Used in: book/optimizers.md
    """
    return _lambdified(_check_name(name))


@functools.cache
def _gradient(name: str) -> sp.Matrix:
    f = LANDSCAPES[name]
    return sp.Matrix([sp.diff(f, x), sp.diff(f, y)])


@functools.cache
def _hessian(name: str) -> sp.Matrix:
    return sp.hessian(LANDSCAPES[name], (x, y))


@functools.cache
def _lambdified(name: str):
    args = (x, y, kappa) if name == "quadratic" else (x, y)
    return (sp.lambdify(args, LANDSCAPES[name], "numpy"),
            sp.lambdify(args, _gradient(name), "numpy"))


def latex_definition(name: str) -> str:
    """LaTeX of ``L(x, y) = ...`` (expanded for the quadratic bowl).

    Used in: book/optimizers.md
    """
    f = landscape(name)
    if name == "quadratic":
        f = sp.expand(f)
    return rf"{_NAMES[name]}(x, y) = {sp.latex(f)}"


def gd_rate(lr=eta, eigenvalue=lam) -> sp.Expr:
    r"""Gradient descent on :math:`\frac{\lambda}{2} u^2` multiplies ``u``
    by this factor every step: :math:`1 - \eta\lambda`.

    Used in: book/optimizers.md
    """
    u = sp.Symbol("u", real=True)
    step = u - lr * sp.diff(eigenvalue * u ** 2 / 2, u)
    return sp.simplify(step / u)


def critical_lr(eigenvalue=lam) -> sp.Expr:
    r"""The largest stable learning rate, the root of
    :math:`|1 - \eta\lambda| = 1` other than 0: :math:`2/\lambda`.

    Used in: book/optimizers.md
    """
    roots = sp.solve(sp.Eq(gd_rate(eta, eigenvalue), -1), eta)
    (root,) = roots
    return root


def bias_correction(beta=sp.Symbol("beta", positive=True),
                    t=sp.Symbol("t", positive=True, integer=True)):
    r"""The weight :math:`1 - \beta^t` of an exponential moving average
    started at 0: :math:`m_t = (1-\beta)\sum_{k=1}^t \beta^{t-k} g_k` sums
    to this times :math:`g` when every :math:`g_k = g`.

    Used in: book/optimizers.md
    """
    k = sp.Symbol("k", integer=True, positive=True)
    total = (1 - beta) * sp.summation(beta ** (t - k), (k, 1, t))
    return sp.simplify(total)


def optimal_momentum_rate(kappa_value=kappa) -> tuple[sp.Expr, sp.Expr]:
    r"""Convergence factors per step on a quadratic with condition number
    :math:`\kappa`: the best plain gradient descent,
    :math:`(\kappa-1)/(\kappa+1)`, and the best heavy-ball momentum,
    :math:`(\sqrt\kappa-1)/(\sqrt\kappa+1)`.

    Used in: book/optimizers.md
    """
    k = kappa_value
    return (k - 1) / (k + 1), (sp.sqrt(k) - 1) / (sp.sqrt(k) + 1)


def _check_name(name: str) -> str:
    return check_choice(name, "landscape", LANDSCAPES)
