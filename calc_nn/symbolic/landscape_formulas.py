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
    "momentum_matrix",
    "momentum_charpoly",
    "momentum_critical_lr",
    "optimal_momentum",
    "noise_floor",
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


mu, z = sp.symbols("mu z")


def momentum_matrix(lr=eta, momentum=mu, eigenvalue=lam) -> sp.Matrix:
    r"""The matrix :math:`M` of one momentum step (PyTorch's convention)
    along an eigen-direction of curvature :math:`\lambda`, derived from
    the update rule: with :math:`g_t = \lambda u_t`,
    :math:`b_{t+1} = \mu b_t + g_t` and :math:`u_{t+1} = u_t - \eta
    b_{t+1}`, so that :math:`(u_{t+1}, b_{t+1})^\top = M (u_t,
    b_t)^\top`.

    Used in: book/optimizers.md
    """
    u, b = sp.symbols("u b")
    b_next = momentum * b + eigenvalue * u
    u_next = u - lr * b_next
    return sp.Matrix([u_next, b_next]).jacobian([u, b])


def momentum_charpoly(lr=eta, momentum=mu, eigenvalue=lam,
                      variable=z) -> sp.Expr:
    r"""The characteristic polynomial :math:`\det(zI - M)` of
    :func:`momentum_matrix`, expanded: :math:`z^2 - (1 + \mu -
    \eta\lambda) z + \mu`.

    Used in: book/optimizers.md
    """
    M = momentum_matrix(lr, momentum, eigenvalue)
    return sp.expand((variable * sp.eye(2) - M).det())


def momentum_critical_lr(momentum=mu, eigenvalue=lam) -> sp.Expr:
    r"""The learning rate at which momentum has the eigenvalue
    :math:`z = -1` (the characteristic polynomial vanishes at -1):
    :math:`2(1 + \mu)/\lambda`.

    Used in: book/optimizers.md
    """
    (root,) = sp.solve(momentum_charpoly(eta, momentum, eigenvalue, -1),
                       eta)
    return sp.factor(root)


def optimal_momentum(lam_min=sp.Symbol("lambda_min", positive=True),
                     lam_max=sp.Symbol("lambda_max", positive=True)):
    r"""The heavy ball's best settings on a quadratic with curvatures in
    :math:`[\lambda_{\min}, \lambda_{\max}]`: both ends on the edge of
    the region of complex eigenvalues, :math:`(1 - \sqrt\mu)^2 =
    \eta\lambda_{\min}` and :math:`(1 + \sqrt\mu)^2 =
    \eta\lambda_{\max}`, solved for :math:`\eta` and :math:`s =
    \sqrt\mu \in (0, 1)`.

    Returns
    -------
    (lr, momentum, rate) : SymPy expressions; rate is :math:`\sqrt\mu`.

    Used in: book/optimizers.md
    """
    s = sp.Symbol("s", positive=True)
    solutions = sp.solve([(1 - s) ** 2 - eta * lam_min,
                          (1 + s) ** 2 - eta * lam_max], [eta, s],
                         dict=True)
    # two solutions, s < 1 and its reciprocal: keep the one below 1
    probe = {lam_min: 1, lam_max: 4}
    best = min(solutions, key=lambda sol: float(sol[s].subs(probe)))
    rate = sp.factor(sp.radsimp(best[s]))
    return sp.factor(sp.radsimp(best[eta])), sp.factor(rate ** 2), rate


def noise_floor(lr=eta, eigenvalue=lam,
                noise=sp.Symbol("sigma", positive=True)) -> sp.Expr:
    r"""The stationary :math:`\mathbb E[\tfrac12 \lambda u^2]` of
    :math:`u_{t+1} = (1 - \eta\lambda) u_t - \eta\sigma\xi_t` with
    independent standard normal :math:`\xi_t`: the variance :math:`v`
    solves :math:`v = (1 - \eta\lambda)^2 v + \eta^2\sigma^2`.

    Used in: book/optimizers.md
    """
    v = sp.Symbol("v", positive=True)
    (variance,) = sp.solve(sp.Eq(v, (1 - lr * eigenvalue) ** 2 * v
                                 + lr ** 2 * noise ** 2), v)
    return sp.simplify(eigenvalue * variance / 2)


def _check_name(name: str) -> str:
    return check_choice(name, "landscape", LANDSCAPES)
