"""Checks of the display formulas typed in book/calculus.md.

Each check states the formula in SymPy, for general symbols where SymPy
can, and otherwise on several functions and points, and fails if the typed
formula were wrong (a sign, a factor 1/2, a transpose).
"""

import sympy as sp

from calc_nn.symbolic import calculus_formulas as calc

CHAPTER = "calculus.md"
x, y, h, t = calc.x, calc.y, calc.h, sp.Symbol("t", real=True)
# functions of one variable and of two, smooth and not polynomial
ONE_VARIABLE = [calc.CUBIC, sp.sin(3 * x), sp.exp(x) / (1 + x ** 2),
                1 / (1 + sp.exp(-x))]
TWO_VARIABLES = [calc.BOWL, sp.exp(x) * sp.sin(y) + x * y ** 2,
                 sp.log(1 + x ** 2 + y ** 4)]
POINTS = [(sp.Rational(1, 2), sp.Rational(-3, 4)), (2, 1), (-1, 3)]
DIRECTIONS = [(1, 0), (3, 4), (-2, 1)]


def _vanishes_to_order(expr, var, order):
    """expr and its first ``order - 1`` derivatives are 0 at var = 0, that
    is expr = O(var**order) (for the smooth expressions used here; much
    faster than sympy.limit)."""
    return all(sp.simplify(sp.diff(expr, var, k).subs(var, 0)) == 0
               for k in range(order))


def _symbol_matrix(name, rows, cols):
    return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{name}_{i}{j}"))


def _symbol_vector(name, n):
    return sp.Matrix([sp.Symbol(f"{name}_{i}") for i in range(n)])


def check_linear_approx():
    for f in ONE_VARIABLE:
        r = f.subs(x, x + h) - f - sp.diff(f, x) * h
        for x0 in (0, sp.Rational(1, 3), -2):
            # r(h) = O(h^2), so r(h)/h -> 0
            assert _vanishes_to_order(r.subs(x, x0), h, 2)
        # a wrong slope leaves an error of the order of h
        assert not _vanishes_to_order((r - h).subs(x, 1), h, 2)


def check_cubic():
    f = calc.CUBIC
    assert sp.expand(f.subs(x, x + h)
                     - ((x ** 3 - 2 * x) + (3 * x ** 2 - 2) * h
                        + (3 * x * h ** 2 + h ** 3))) == 0
    assert sp.diff(f, x) == 3 * x ** 2 - 2
    assert sp.expand(calc.linear_remainder(f) - (3 * x * h ** 2 + h ** 3)) \
        == 0


def _along(f, point, direction):
    """f(point + t d) and the gradient term t * grad f(point)^T d."""
    (a, b), (da, db) = point, direction
    g = calc.gradient(f).subs({x: a, y: b})
    moved = f.subs({x: a + t * da, y: b + t * db}, simultaneous=True)
    return moved, g, f.subs({x: a, y: b})


def check_gradient_approx():
    for f in TWO_VARIABLES:
        for point in POINTS:
            for d in DIRECTIONS:
                moved, g, f0 = _along(f, point, d)
                r = moved - f0 - t * (g[0] * d[0] + g[1] * d[1])
                # r = O(t^2) and ||h|| = |t| ||d||, so r / ||h|| -> 0
                assert _vanishes_to_order(r, t, 2)
                assert not _vanishes_to_order(r + t, t, 2)


def check_directional():
    for f in TWO_VARIABLES:
        for point in POINTS:
            for d in DIRECTIONS:
                u = sp.Matrix(d) / sp.sqrt(d[0] ** 2 + d[1] ** 2)
                moved, g, _ = _along(f, point, tuple(u))
                slope = sp.diff(moved, t).subs(t, 0)
                assert sp.simplify(slope - (g.T * u)[0]) == 0
                if g.norm() != 0:
                    cos_theta = (g.T * u)[0] / g.norm()
                    assert sp.simplify(slope - g.norm() * cos_theta) == 0
    # on the chapter's bowl, the steepest slope is -|grad f|, along -grad f
    g = sp.Matrix([2, 4])
    angle = calc.steepest_descent_angle(calc.BOWL, calc.BOWL_POINT)
    assert abs(calc.directional_derivative(calc.BOWL, calc.BOWL_POINT, angle)
               + float(g.norm())) < 1e-12


def check_jacobian_approx():
    F = calc.VECTOR_EXAMPLE
    J = calc.jacobian(F)
    assert J.shape == (3, 2)  # (m, n): one row per output
    x1, x2 = calc.x1, calc.x2
    for (a, b), (da, db) in zip(POINTS, DIRECTIONS):
        moved = F.subs({x1: a + t * da, x2: b + t * db}, simultaneous=True)
        r = moved - F.subs({x1: a, x2: b}) - J.subs({x1: a, x2: b}) \
            * sp.Matrix([da, db]) * t
        assert all(_vanishes_to_order(entry, t, 2) for entry in r)


def check_jacobian_example():
    x1, x2 = calc.x1, calc.x2
    by_hand = sp.Matrix([[x2, x1], [1, sp.cos(x2)], [2 * x1, 0]])
    assert calc.jacobian(calc.VECTOR_EXAMPLE) == by_hand


def check_two_jacobians():
    W, b = _symbol_matrix("W", 2, 3), _symbol_vector("b", 2)
    v = _symbol_vector("x", 3)
    assert (W * v + b).jacobian(v) == W
    z = _symbol_vector("z", 3)
    for f in (sp.tanh, sp.sin, lambda s: 1 / (1 + sp.exp(-s))):
        a = z.applyfunc(f)
        diag = sp.diag(*[sp.diff(f(s), s) for s in z])
        assert sp.simplify(a.jacobian(z) - diag) == sp.zeros(3, 3)


def check_chain():
    x1, x2 = calc.x1, calc.x2
    g = calc.VECTOR_EXAMPLE                               # R^2 -> R^3
    u = _symbol_vector("u", 3)
    f = sp.Matrix([u[0] * u[1] + u[2], u[0] - sp.exp(u[2])])  # R^3 -> R^2
    direct = f.subs(dict(zip(u, g)), simultaneous=True).jacobian([x1, x2])
    J_f = f.jacobian(u).subs(dict(zip(u, g)), simultaneous=True)
    product = J_f * calc.jacobian(g)
    assert (J_f.shape, calc.jacobian(g).shape, product.shape) == (
        (2, 3), (3, 2), (2, 2))
    assert sp.simplify(direct - product) == sp.zeros(2, 2)


def check_vjp():
    x1, x2 = calc.x1, calc.x2
    F = calc.VECTOR_EXAMPLE
    yv = _symbol_vector("y", 3)
    ell = yv[0] ** 2 + yv[1] * sp.exp(yv[2])
    L = ell.subs(dict(zip(yv, F)), simultaneous=True)
    grad_x = sp.Matrix([sp.diff(L, v) for v in (x1, x2)])
    grad_y = sp.Matrix([sp.diff(ell, v) for v in yv]).subs(
        dict(zip(yv, F)), simultaneous=True)
    assert sp.simplify(grad_x - calc.jacobian(F).T * grad_y) == sp.zeros(2, 1)


def check_linear_grads():
    N, n, m = 2, 3, 2
    X, W = _symbol_matrix("X", N, n), _symbol_matrix("W", m, n)
    b = _symbol_vector("b", m)
    Y = X * W.T + sp.ones(N, 1) * b.T
    # a nonlinear loss of Y, so that G depends on the point
    L = sum(sp.Symbol(f"c_{i}{j}") * Y[i, j] + Y[i, j] ** 3 / 3
            for i in range(N) for j in range(m))
    Ys = _symbol_matrix("Y", N, m)
    L_of_Ys = L.subs(dict(zip(Y, Ys)), simultaneous=True)
    G = calc.gradient_wrt(L_of_Ys, Ys).subs(dict(zip(Ys, Y)),
                                             simultaneous=True)
    assert sp.expand(calc.gradient_wrt(L, W) - G.T * X) == sp.zeros(m, n)
    assert sp.expand(calc.gradient_wrt(L, X) - G * W) == sp.zeros(N, n)
    assert sp.expand(calc.gradient_wrt(L, b) - G.T * sp.ones(N, 1)) \
        == sp.zeros(m, 1)


def check_quadratic_form():
    A, v = _symbol_matrix("A", 3, 3), _symbol_vector("x", 3)
    q = (v.T * A * v)[0]
    assert sp.expand(calc.gradient_wrt(q, v) - (A + A.T) * v) \
        == sp.zeros(3, 1)
    assert A != A.T  # the formula is checked for a non-symmetric A


def check_elementwise():
    z = _symbol_vector("z", 3)
    a_symbols = _symbol_vector("a", 3)
    ell = a_symbols[0] * a_symbols[1] + a_symbols[2] ** 3
    for f in (sp.tanh, sp.exp, lambda s: s ** 2):
        a = z.applyfunc(f)
        L = ell.subs(dict(zip(a_symbols, a)), simultaneous=True)
        dL_da = calc.gradient_wrt(ell, a_symbols).subs(
            dict(zip(a_symbols, a)), simultaneous=True)
        f_prime = sp.Matrix([sp.diff(f(s), s) for s in z])
        assert sp.simplify(calc.gradient_wrt(L, z)
                           - f_prime.multiply_elementwise(dL_da)) \
            == sp.zeros(3, 1)


def check_sum_mean():
    for N in (1, 4, 7):
        v = _symbol_vector("x", N)
        assert calc.gradient_wrt(sum(v), v) == sp.ones(N, 1)
        assert calc.gradient_wrt(sum(v) / N, v) == sp.ones(N, 1) / N


def check_taylor2():
    for f in TWO_VARIABLES:
        H = calc.hessian(f)
        assert sp.simplify(H - H.T) == sp.zeros(2, 2)
        for point in POINTS:
            for d in DIRECTIONS:
                moved, g, f0 = _along(f, point, d)
                dv = sp.Matrix(d) * t
                H0 = H.subs({x: point[0], y: point[1]})
                second = f0 + (g.T * dv)[0] + (dv.T * H0 * dv)[0] / 2
                # the remainder is O(t^3)
                assert _vanishes_to_order(moved - second, t, 3)
                # and dropping the 1/2 would leave an O(t^2) error
                wrong = second + (dv.T * H0 * dv)[0] / 2
                if (sp.Matrix(d).T * H0 * sp.Matrix(d))[0] != 0:
                    assert not _vanishes_to_order(moved - wrong, t, 3)
    # the bowl is its own second-order expansion
    moved, g, f0 = _along(calc.BOWL, (2, 1), (3, -1))
    dv = sp.Matrix([3, -1]) * t
    second = f0 + (g.T * dv)[0] + (dv.T * calc.hessian(calc.BOWL) * dv)[0] / 2
    assert sp.expand(moved - second) == 0


def check_forward_difference():
    for f in ONE_VARIABLE:
        for x0 in (0, sp.Rational(1, 2), 1):
            d1, d2 = (sp.diff(f, x, k).subs(x, x0) for k in (1, 2))
            # (quotient - f'(x) - f''(x) h / 2) * h = O(h^3)
            numerator = (f.subs(x, x0 + h) - f.subs(x, x0)
                         - h * (d1 + d2 * h / 2))
            assert _vanishes_to_order(numerator, h, 3)
            assert not _vanishes_to_order(numerator + h ** 2 / 2, h, 3)


def check_central_difference():
    for f in ONE_VARIABLE:
        for x0 in (0, sp.Rational(1, 2), 1):
            d1, d3 = (sp.diff(f, x, k).subs(x, x0) for k in (1, 3))
            # (quotient - f' - f(3) h^2 / 6) * 2h = O(h^5): error O(h^4)
            numerator = (f.subs(x, x0 + h) - f.subs(x, x0 - h)
                         - 2 * h * (d1 + d3 * h ** 2 / 6))
            assert _vanishes_to_order(numerator, h, 5)
            assert not _vanishes_to_order(numerator + h ** 3 / 3, h, 5)


# label -> (the formula exactly as typed in the chapter, its check)
CHECKED = {
    "eq-calc-linear-approx": (
        r"""\begin{gathered}
f(x + h) = f(x) + f'(x)\,h + r(h), \\
\lim_{h \to 0} \frac{r(h)}{h} = 0
\end{gathered}""",
        check_linear_approx),
    "eq-calc-cubic": (
        r"""f(x + h) = \underbrace{x^3 - 2x}_{f(x)} + \underbrace{(3x^2 - 2)}_{f'(x)}\,h
+ \underbrace{3 x h^2 + h^3}_{r(h)}""",
        check_cubic),
    "eq-calc-gradient-approx": (
        r"""\begin{gathered}
f(x + h) = f(x) + \nabla f(x)^\top h + r(h), \\
\lim_{h \to 0} \frac{r(h)}{\lVert h \rVert} = 0
\end{gathered}""",
        check_gradient_approx),
    "eq-calc-directional": (
        r"""\partial_u f(x) = \nabla f(x)^\top u = \lVert \nabla f(x) \rVert \cos\theta""",
        check_directional),
    "eq-calc-jacobian-approx": (
        r"""\begin{gathered}
F(x + h) = F(x) + J_F(x)\, h + r(h), \\
\text{with } J_F(x) \in \R^{m \times n}
\end{gathered}""",
        check_jacobian_approx),
    "eq-calc-jacobian-example": (
        r"""J_F = \begin{pmatrix} x_2 & x_1 \\ 1 & \cos x_2 \\ 2 x_1 & 0 \end{pmatrix}""",
        check_jacobian_example),
    "eq-calc-two-jacobians": (
        r"""\begin{gathered}
J_{Wx + b} = W, \\
J_{f(z)} = \operatorname{diag}\bigl(f'(z_1), \dots, f'(z_n)\bigr)
\end{gathered}""",
        check_two_jacobians),
    "eq-calc-chain": (
        r"""J_{f \circ g}(x) = J_f\bigl(g(x)\bigr)\, J_g(x)""",
        check_chain),
    "eq-calc-vjp": (
        r"""\frac{\partial L}{\partial x} = J_F(x)^\top\, \frac{\partial L}{\partial y},
\qquad y = F(x)""",
        check_vjp),
    "eq-calc-linear-grads": (
        r"""\frac{\partial L}{\partial W} = G^\top X, \quad
\frac{\partial L}{\partial X} = G\, W, \quad
\frac{\partial L}{\partial b} = G^\top \mathbf{1}""",
        check_linear_grads),
    "eq-calc-quadratic-form": (
        r"""\frac{\partial\, (x^\top A x)}{\partial x} = (A + A^\top)\, x""",
        check_quadratic_form),
    "eq-calc-elementwise": (
        r"""\frac{\partial L}{\partial z} = f'(z) \odot \frac{\partial L}{\partial a},
\qquad a = f(z)""",
        check_elementwise),
    "eq-calc-sum-mean": (
        r"""\frac{\partial}{\partial x} \sum_{i=1}^{N} x_i = \mathbf{1}, \qquad
\frac{\partial}{\partial x}\, \frac{1}{N} \sum_{i=1}^{N} x_i
= \frac{1}{N}\,\mathbf{1}""",
        check_sum_mean),
    "eq-calc-taylor2": (
        r"""\begin{aligned}
f(x + h) &= f(x) + \nabla f(x)^\top h \\
&\quad + \tfrac12\, h^\top H(x)\, h + O(\lVert h \rVert^3)
\end{aligned}""",
        check_taylor2),
    "eq-calc-forward-difference": (
        r"""\frac{f(x + h) - f(x)}{h} = f'(x) + \frac{f''(x)}{2}\,h + O(h^2)""",
        check_forward_difference),
    "eq-calc-central-difference": (
        r"""\frac{f(x + h) - f(x - h)}{2h} = f'(x) + \frac{f'''(x)}{6}\,h^2 + O(h^4)""",
        check_central_difference),
}
