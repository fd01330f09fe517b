"""SymPy expressions of the formulas the book displays, one module per
chapter. The activation-function names are re-exported here
(``symbolic.activation("sigmoid")``, ``symbolic.x``); other chapters' modules
are imported by name (``from calc_nn.symbolic import loss_formulas``).
``evaluate_exact`` is the exact oracle every test uses."""

from calc_nn.symbolic.activation_formulas import (
                                          _IDENTITIES,  # noqa: F401 (tests)
                                          ACTIVATIONS,
                                          activation,
                                          alpha,
                                          depth_gradient_bound,
                                          derivative,
                                          derivative_identity,
                                          evaluate_exact,
                                          identity_holds,
                                          image,
                                          latex_definition,
                                          latex_derivative,
                                          latex_identity,
                                          log_softmax,
                                          max_derivative,
                                          sigma,
                                          softmax,
                                          softmax_jacobian,
                                          value_range,
                                          x,
)

__all__ = [
    "ACTIVATIONS", "activation", "alpha", "depth_gradient_bound",
    "derivative", "derivative_identity", "evaluate_exact", "identity_holds",
    "image",
    "latex_definition", "latex_derivative", "latex_identity", "log_softmax",
    "max_derivative", "sigma", "softmax", "softmax_jacobian", "value_range",
    "x",
]
