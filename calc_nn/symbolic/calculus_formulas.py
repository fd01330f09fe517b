r"""The examples of the chapter "The calculus you need", in SymPy, and the
few numbers its figures and its prose compute from them.

The chapter derives every result by hand; these functions let SymPy confirm
it (``tests/formula_checks/calculus.py``) and give the figures and the
glued numbers of the prose one source. Numerical differentiation in a
chosen precision (:func:`difference_quotient`) is here too:
:mod:`calc_nn.gradcheck` works in float64 only, on purpose, and this
chapter needs float32 as well to show why.
"""

from __future__ import annotations

import functools

import numpy as np
import sympy as sp

from calc_nn._validation import (
    check_callable,
    check_choice,
    check_int,
    check_real,
)

__all__ = [
    "x", "y", "h",
    "CUBIC", "linear_remainder", "taylor_polynomial",
    "BOWL", "BOWL_POINT", "gradient", "hessian", "directional_derivative",
    "steepest_descent_angle",
    "x1", "x2", "VECTOR_EXAMPLE", "jacobian", "gradient_wrt",
    "linear_layer_costs",
    "DIFFERENCES", "difference_quotient", "difference_points",
    "exact_derivative",
    "difference_errors", "step_grid", "best_step", "loglog_slope",
    "predicted_best_step",
]

x, y, h = sp.symbols("x y h", real=True)
x1, x2 = sp.symbols("x_1 x_2", real=True)

# ------------------------------------------------------------ one variable

#: The one-variable example: f(x) = x^3 - 2x, f'(x) = 3x^2 - 2.
CUBIC = x ** 3 - 2 * x


def linear_remainder(f: sp.Expr = CUBIC) -> sp.Expr:
    r"""The error of the tangent-line approximation, expanded.

    .. math:: r(h) = f(x + h) - f(x) - f'(x)\,h

    For :data:`CUBIC` it is :math:`3 x h^2 + h^3`.

    Used in: book/calculus.md
    """
    return sp.expand(f.subs(x, x + h) - f - sp.diff(f, x) * h)


def taylor_polynomial(f: sp.Expr, order: int) -> sp.Expr:
    r"""The Taylor polynomial of ``f`` around ``x`` in the step ``h``.

    .. math:: \sum_{k=0}^{\text{order}} \frac{f^{(k)}(x)}{k!} h^k

    Used in: book/calculus.md
    """
    return sum(sp.diff(f, x, k) * h ** k / sp.factorial(k)
               for k in range(order + 1))


# ------------------------------------------------------------ two variables

#: The 2-D landscape of the directional-derivative figure, an elongated
#: bowl: gradient (x, 4y), Hessian diag(1, 4).
BOWL = x ** 2 / 2 + 2 * y ** 2
#: The point where the figure looks at the directions.
BOWL_POINT = (2.0, 1.0)


def gradient(f: sp.Expr, variables=(x, y)) -> sp.Matrix:
    """The gradient of ``f``, a column of partial derivatives.

    Used in: book/calculus.md
    """
    return sp.Matrix([sp.diff(f, v) for v in variables])


def hessian(f: sp.Expr, variables=(x, y)) -> sp.Matrix:
    r"""The Hessian :math:`H_{ij} = \partial^2 f / \partial x_i \partial x_j`.

    Used in: book/calculus.md
    """
    return sp.hessian(f, variables)


def directional_derivative(f: sp.Expr, point, angle: float) -> float:
    r"""The slope of ``f`` at ``point`` along the unit vector at ``angle``
    degrees from the x axis.

    .. math:: \partial_u f = \nabla f^\top u,\ u = (\cos\theta, \sin\theta)

    Used in: book/calculus.md
    """
    angle = check_real(angle, "angle")
    g = _gradient_at(f, point)
    theta = np.deg2rad(angle)
    return float(g[0] * np.cos(theta) + g[1] * np.sin(theta))


def steepest_descent_angle(f: sp.Expr, point) -> float:
    """The angle (degrees in [0, 360)) of -grad f at ``point``.

    Used in: book/calculus.md
    """
    g = _gradient_at(f, point)
    return float(np.rad2deg(np.arctan2(-g[1], -g[0])) % 360)


def _gradient_at(f, point) -> np.ndarray:
    point = _check_point(point)
    return np.array([float(d.subs({x: point[0], y: point[1]}))
                     for d in gradient(f)])


# ------------------------------------------------------- vector functions

#: The vector-function example, R^2 -> R^3.
VECTOR_EXAMPLE = sp.Matrix([x1 * x2, x1 + sp.sin(x2), x1 ** 2])


def jacobian(F: sp.Matrix, variables=(x1, x2)) -> sp.Matrix:
    r"""The Jacobian, one row per output, one column per input.

    .. math:: J_{ij} = \partial F_i / \partial x_j

    Used in: book/calculus.md
    """
    return F.jacobian(sp.Matrix(variables))


def gradient_wrt(f: sp.Expr, M: sp.Matrix) -> sp.Matrix:
    r"""The gradient of the scalar ``f`` with respect to every entry of
    ``M``, in the shape of ``M`` (the book's layout).

    .. math:: \left(\frac{\partial f}{\partial M}\right)_{ij}
              = \frac{\partial f}{\partial M_{ij}}

    Used in: book/calculus.md
    """
    return M.applyfunc(lambda m: sp.diff(f, m))


# ------------------------------------------------------------ costs

def linear_layer_costs(n_in: int, n_out: int) -> dict[str, int]:
    r"""What ``dL/dW`` of one example through ``y = W x`` costs, two ways.

    The Jacobian :math:`\partial y / \partial W` has ``n_out`` rows and
    ``n_out * n_in`` columns; multiplying the row vector
    :math:`(\partial L / \partial y)^\top` into it takes one multiply-add
    per entry. The vector-Jacobian product :math:`(\partial L/\partial y)
    x^\top` takes one multiplication per weight. Flops count a
    multiply-add as 2, as ``torch.utils.flop_counter`` does.

    Returns
    -------
    dict with ``jacobian_entries``, ``jacobian_flops`` (the product with
    the Jacobian), ``vjp_flops`` (the outer product, as a matrix product
    of an (n_out, 1) and a (1, n_in) matrix) and ``ratio``.

    Used in: book/calculus.md
    """
    n_in, n_out = _check_sizes(n_in, n_out)
    entries = n_out * n_out * n_in
    return {"jacobian_entries": entries, "jacobian_flops": 2 * entries,
            "vjp_flops": 2 * n_out * n_in, "ratio": n_out}


# ------------------------------------------------ numerical differentiation

#: Functions of the finite-difference figure, and the centre of the 41
#: points (spaced 0.025 apart over +-0.5) where their differences are taken.
DIFFERENCES = {
    "sigmoid": (1 / (1 + sp.exp(-x)), 2.0),
    "exp": (sp.exp(x), 1.0),
    "sin": (sp.sin(x), 1.0),
}
_OFFSETS = np.linspace(-0.5, 0.5, 41)


def difference_quotient(f, x0: float, h: float, kind: str = "central",
                        dtype=np.float64):
    r"""A forward or central difference computed entirely in ``dtype``.

    .. math:: \frac{f(x+h) - f(x)}{h}, \qquad
              \frac{f(x+h) - f(x-h)}{2h}

    Parameters
    ----------
    f : callable, NumPy scalar -> NumPy scalar of the same dtype
    x0, h : float
        The point and the step (``h > 0``); both are rounded to ``dtype``
        first, as a program in that precision would.
    kind : {"forward", "central"}
    dtype : numpy.float32 or numpy.float64, or its name

    Returns
    -------
    numpy scalar of ``dtype``

    Raises
    ------
    TypeError, ValueError
        For a non-callable ``f``, a non-finite ``x0``, ``h <= 0``, an
        unknown ``kind`` or ``dtype``.

    Used in: book/calculus.md
    """
    f, x0, h, kind, dtype = _check_difference(f, x0, h, kind, dtype)
    xd, hd = dtype(x0), dtype(h)
    if kind == "forward":
        return (f(xd + hd) - f(xd)) / hd
    return (f(xd + hd) - f(xd - hd)) / (dtype(2) * hd)


@functools.cache
def _numpy_function(name: str):
    return sp.lambdify(x, DIFFERENCES[name][0], "numpy")


def difference_points(name: str, dtype=np.float64) -> np.ndarray:
    """The 41 points where :func:`difference_errors` differentiates
    ``DIFFERENCES[name]``, rounded to ``dtype`` (shape (41,)).

    Used in: book/calculus.md
    """
    check_choice(name, "name", list(DIFFERENCES))
    return (DIFFERENCES[name][1] + _OFFSETS).astype(_check_dtype(dtype))


def exact_derivative(name: str, points) -> np.ndarray:
    """The derivative of ``DIFFERENCES[name]`` at ``points``, evaluated by
    SymPy with 30 digits and rounded to float64.

    Used in: book/calculus.md
    """
    f = DIFFERENCES[check_choice(name, "name", list(DIFFERENCES))][0]
    df = sp.diff(f, x)
    return np.array([float(df.subs(x, sp.Float(float(p), 30)).evalf(30))
                     for p in np.asarray(points).ravel()])


def step_grid(per_decade: int = 4, smallest: float = 1e-16) -> np.ndarray:
    """Steps ``h = 1, 10**(-1/per_decade), ...`` down to ``smallest``.

    Used in: book/calculus.md
    """
    n = int(round(-np.log10(smallest) * per_decade))
    return 10.0 ** (-np.arange(n + 1) / per_decade)


def difference_errors(name: str, hs, kind: str = "central",
                      dtype=np.float64) -> np.ndarray:
    r"""For every step in ``hs``, the median over :func:`difference_points`
    of the relative error :math:`|D_h f(x) - f'(x)| / |f'(x)|`, with the
    difference :math:`D_h` computed in ``dtype``. A single point can be
    lucky (round-off errors that cancel); the median over 41 is the typical
    error.

    Returns
    -------
    ndarray, shape (len(hs),), float64

    Used in: book/calculus.md
    """
    points = difference_points(name, dtype)
    f, exact = _numpy_function(name), exact_derivative(name, points)
    errors = [[abs(float(difference_quotient(f, p, step, kind, dtype)) - e)
               / abs(e) for p, e in zip(points, exact)] for step in hs]
    return np.median(np.array(errors), axis=1)


def best_step(hs, errors) -> tuple[float, float]:
    """The step with the smallest error, and that error.

    Used in: book/calculus.md
    """
    i = int(np.argmin(errors))
    return float(hs[i]), float(errors[i])


def loglog_slope(hs, errors, low: float, high: float) -> float:
    """The slope of log(error) against log(h) over ``low <= h <= high``,
    fitted by least squares: about 1 for a forward difference's truncation
    error, 2 for a central one's, -1 where round-off dominates.

    Used in: book/calculus.md
    """
    hs, errors = np.asarray(hs, float), np.asarray(errors, float)
    keep = (hs >= low) & (hs <= high) & (errors > 0)
    return float(np.polyfit(np.log10(hs[keep]), np.log10(errors[keep]),
                            1)[0])


def predicted_best_step(name: str, kind: str = "central",
                        dtype=np.float64) -> float:
    r"""The step that balances truncation and round-off.

    Truncation: :math:`|f''| h / 2` (forward), :math:`|f'''| h^2 / 6`
    (central); round-off: about :math:`\varepsilon |f| / h`. Their sum is
    smallest at (values of ``f`` and its derivatives at the centre point)

    .. math:: h^* = \sqrt{2 \varepsilon |f| / |f''|}, \qquad
              h^* = (3 \varepsilon |f| / |f'''|)^{1/3}

    Used in: book/calculus.md
    """
    check_choice(kind, "kind", ["forward", "central"])
    f, x0 = DIFFERENCES[check_choice(name, "name", list(DIFFERENCES))]
    eps = float(np.finfo(_check_dtype(dtype)).eps)
    value = abs(float(f.subs(x, x0)))
    if kind == "forward":
        return float(np.sqrt(2 * eps * value
                             / abs(float(sp.diff(f, x, 2).subs(x, x0)))))
    return float(np.cbrt(3 * eps * value
                         / abs(float(sp.diff(f, x, 3).subs(x, x0)))))


# ------------------------------------------------------------ checks

def _check_point(point):
    if len(point) != 2:
        raise ValueError(f"point must be (x, y), got {point!r}")
    return tuple(check_real(v, "point") for v in point)


def _check_sizes(n_in, n_out):
    return check_int(n_in, "n_in", low=1), check_int(n_out, "n_out", low=1)


def _check_dtype(dtype):
    try:  # np.dtype(None) would be float64: None is refused
        dtype = None if dtype is None else np.dtype(dtype).type
    except TypeError:
        dtype = None
    if dtype not in (np.float32, np.float64):
        raise TypeError("dtype must be numpy.float32 or numpy.float64 (or "
                        "their names)")
    return dtype


def _check_difference(f, x0, h, kind, dtype):
    return (check_callable(f, "f"), check_real(x0, "x0"),
            check_real(h, "h", low=0, low_open=True),
            check_choice(kind, "kind", ["forward", "central"]),
            _check_dtype(dtype))
