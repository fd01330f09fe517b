r"""Two-dimensional loss landscapes with hand-written gradients.

Each landscape :math:`L(\theta)`, :math:`\theta = (x, y)`, comes with its
gradient written by hand beside it; ``tests/test_landscapes.py`` checks
every one against the SymPy derivative of
:mod:`calc_nn.symbolic.landscape_formulas`, ``torch.autograd`` and central
differences. They are the test problems of the chapter "Gradient descent
and optimizers":

* ``quadratic(condition)``: a bowl whose Hessian has eigenvalues 1 and
  ``1/condition`` (the condition number), rotated by 30 degrees;
* ``rosenbrock``: a curved, flat-bottomed valley, minimum at (1, 1);
* ``himmelblau``: four minima of equal depth;
* ``saddle``: a saddle point at the origin between two minima
  (0, +-1);
* ``noisy(landscape, noise, seed)``: the same landscape with Gaussian noise
  added to every gradient, a model of minibatch gradients.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from calc_nn._validation import (
    as_float_array,
    check_choice,
    check_int,
    check_real,
)

__all__ = [
    "Landscape",
    "quadratic",
    "rosenbrock",
    "himmelblau",
    "saddle",
    "noisy",
    "get",
    "NAMES",
]

# Python floats, not NumPy scalars: float32 points stay float32
_COS, _SIN = math.cos(math.pi / 6), math.sin(math.pi / 6)


@dataclasses.dataclass(frozen=True)
class Landscape:
    """A loss surface over the plane and its gradient.

    Attributes
    ----------
    name : str
        Key in :data:`NAMES` (``"quadratic"``, ...).
    label : str
        Title for figures.
    loss : callable
        ``theta (..., 2) -> (...)``.
    grad : callable
        ``theta (..., 2) -> (..., 2)``, the gradient (noisy for
        :func:`noisy` landscapes).
    minima : ndarray, shape (m, 2)
        The global minimisers (or the local ones worth marking).
    x_range, y_range : (float, float)
        Plotting window.
    start : (float, float)
        A default start point.
    lipschitz : float or None
        Largest Hessian eigenvalue where known exactly (the quadratic).
    dim : int
        Always 2: the length of a parameter vector.
    """

    name: str
    label: str
    loss: Callable[[np.ndarray], np.ndarray]
    grad: Callable[[np.ndarray], np.ndarray]
    minima: np.ndarray
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    start: tuple[float, float]
    lipschitz: float | None = None
    dim: int = 2

    def grid(self, n: int = 81):
        """Grid axes ``xs (n,)``, ``ys (n,)`` and losses ``Z (n, n)``
        (rows follow ``ys``), for contour plots; ``n >= 2``.

        Used in: book/optimizers.md
        """
        n = check_int(n, "n", low=2)
        xs = np.linspace(*self.x_range, n)
        ys = np.linspace(*self.y_range, n)
        X, Y = np.meshgrid(xs, ys)
        return xs, ys, self.loss(np.stack([X, Y], axis=-1))


# ----------------------------------------------------------- the bowl

def quadratic(condition: float = 10.0) -> Landscape:
    r"""A quadratic bowl with condition number ``condition``.

    .. math:: L(\theta) = \tfrac12 \left(u^2 + v^2/\kappa\right), \quad
              u = x\cos 30^\circ + y \sin 30^\circ, \;
              v = -x \sin 30^\circ + y \cos 30^\circ

    Its Hessian has eigenvalues :math:`\lambda_{\max} = 1` and
    :math:`1/\kappa`, so gradient descent is stable for ``lr < 2``.

    Parameters
    ----------
    condition : float
        :math:`\kappa \ge 1`.

    Returns
    -------
    Landscape

    Used in: book/optimizers.md
    """
    kappa = check_real(condition, "condition", low=1)

    def loss(theta):
        x, y = _xy(theta)
        u, v = _COS * x + _SIN * y, -_SIN * x + _COS * y
        return (u * u + v * v / kappa) / 2

    def grad(theta):
        x, y = _xy(theta)
        u, v = _COS * x + _SIN * y, -_SIN * x + _COS * y
        # chain rule: dL/du = u, dL/dv = v / kappa, then rotate back
        return _pair(_COS * u - _SIN * v / kappa, _SIN * u + _COS * v / kappa)

    return Landscape("quadratic", f"quadratic bowl, κ = {kappa:g}", loss,
                     grad, np.zeros((1, 2)), (-3.0, 3.0), (-3.0, 3.0),
                     (-2.5, 1.0), lipschitz=1.0)


# ----------------------------------------------------------- Rosenbrock

def _rosenbrock_loss(theta):
    x, y = _xy(theta)
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def _rosenbrock_grad(theta):
    x, y = _xy(theta)
    r = y - x * x
    return _pair(-2 * (1 - x) - 400 * x * r, 200 * r)


def rosenbrock() -> Landscape:
    r"""Rosenbrock's banana valley, minimum 0 at (1, 1).

    .. math:: L(x, y) = (1 - x)^2 + 100\,(y - x^2)^2

    Used in: book/optimizers.md
    """
    return Landscape("rosenbrock", "Rosenbrock", _rosenbrock_loss,
                     _rosenbrock_grad, np.array([[1.0, 1.0]]),
                     (-2.0, 2.0), (-1.0, 3.0), (-1.5, 2.5))


# ----------------------------------------------------------- Himmelblau

def _himmelblau_loss(theta):
    x, y = _xy(theta)
    return (x * x + y - 11) ** 2 + (x + y * y - 7) ** 2


def _himmelblau_grad(theta):
    x, y = _xy(theta)
    a, b = x * x + y - 11, x + y * y - 7
    return _pair(4 * x * a + 2 * b, 2 * a + 4 * y * b)


_HIMMELBLAU_MINIMA = np.array([[3.0, 2.0], [-2.805118, 3.131312],
                               [-3.779310, -3.283186],
                               [3.584428, -1.848126]])


def himmelblau() -> Landscape:
    r"""Himmelblau's function: four minima of value 0.

    .. math:: L(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2

    Used in: book/optimizers.md
    """
    return Landscape("himmelblau", "Himmelblau", _himmelblau_loss,
                     _himmelblau_grad, _HIMMELBLAU_MINIMA.copy(),
                     (-5.0, 5.0), (-5.0, 5.0), (-0.5, -0.5))


# ----------------------------------------------------------- saddle

def _saddle_loss(theta):
    x, y = _xy(theta)
    return x * x / 2 - y * y / 2 + y ** 4 / 4


def _saddle_grad(theta):
    x, y = _xy(theta)
    return _pair(x, y ** 3 - y)


def saddle() -> Landscape:
    r"""A saddle point at the origin between the minima (0, 1) and
    (0, -1).

    .. math:: L(x, y) = \tfrac12 x^2 - \tfrac12 y^2 + \tfrac14 y^4

    Used in: book/optimizers.md
    """
    return Landscape("saddle", "saddle", _saddle_loss, _saddle_grad,
                     np.array([[0.0, 1.0], [0.0, -1.0]]),
                     (-2.0, 2.0), (-1.6, 1.6), (-1.8, 1e-3))


# ----------------------------------------------------------- noise

def noisy(base: Landscape, noise: float = 1.0,
          seed: int | None = 0) -> Landscape:
    r"""``base`` with Gaussian noise added to every gradient.

    .. math:: \tilde g(\theta) = \nabla L(\theta) + \sigma\, \xi, \quad
              \xi \sim \mathcal N(0, I)

    A stand-in for a minibatch gradient: right on average, off by a random
    amount each time. The loss is unchanged. The returned ``grad`` draws
    from its own generator, so each call gives fresh noise; make a new
    landscape with the same ``seed`` to replay a run. The noise has the
    dtype of the point (float32 stays float32).

    Parameters
    ----------
    base : Landscape
    noise : float
        Standard deviation :math:`\sigma \ge 0` of each component.
    seed : int >= 0 or None
        Seed of the generator.

    Returns
    -------
    Landscape

    Used in: book/optimizers.md
    """
    base, sigma, seed = _check_noisy(base, noise, seed)
    rng = np.random.default_rng(seed)
    base_grad = base.grad

    def grad(theta):
        g = base_grad(theta)
        return g + sigma * rng.standard_normal(g.shape).astype(g.dtype)

    return dataclasses.replace(
        base, grad=grad,
        label=f"{base.label}, noisy gradients (σ = {sigma:g})")


NAMES = ("quadratic", "rosenbrock", "himmelblau", "saddle")


def get(name: str, **kwargs) -> Landscape:
    """The landscape called ``name`` (one of :data:`NAMES`); keyword
    arguments go to its factory (``condition`` for the quadratic).

    Used in: book/optimizers.md
    """
    factories = {"quadratic": quadratic, "rosenbrock": rosenbrock,
                 "himmelblau": himmelblau, "saddle": saddle}
    return factories[check_choice(name, "name", NAMES)](**kwargs)


# ----------------------------------------------------------------- helpers

def _pair(gx, gy):
    """``np.stack([gx, gy], axis=-1)``, without its overhead: a gradient
    is built at every step of an optimizer's run."""
    out = np.empty(np.shape(gx) + (2,), np.result_type(gx, gy))
    out[..., 0], out[..., 1] = gx, gy
    return out


def _xy(theta, name="theta"):
    theta = as_float_array(theta, name)
    if theta.ndim == 0 or theta.shape[-1] != 2:
        raise ValueError(f"{name} must have shape (2,) or (..., 2) for a "
                         f"landscape in (x, y), got shape {theta.shape}")
    return theta[..., 0], theta[..., 1]


def _check_noisy(base, noise, seed):
    if not isinstance(base, Landscape):
        raise TypeError(f"base must be a Landscape (e.g. "
                        f"landscapes.rosenbrock()), got "
                        f"{type(base).__name__}")
    if seed is not None:
        seed = check_int(seed, "seed", low=0)
    return base, check_real(noise, "noise", low=0), seed
