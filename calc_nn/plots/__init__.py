"""Plotly figure factories for the chapters, one module per chapter.

Each function draws one figure for one setting of its parameters; the
chapters pass them to :func:`calc_nn.widgets.explore` to get sliders. Every
call returns the same traces in the same order (a requirement of
``explore``). Labels use Unicode (σ, ′), not LaTeX: plotly would need a
MathJax with SVG output to typeset it. The maths modules never import this
package.
"""

from calc_nn.plots._style import COLORS, LABELS, LAYOUT
from calc_nn.plots.activation_figures import (
    dead_relu,
    function_and_derivative,
    gradient_through_depth,
    leaky_relu_slope,
    softmax_temperature,
)
from calc_nn.plots.backprop_figures import (
    computational_graph,
    cost_of_gradients,
    gradient_norms_by_layer,
    n_backward_steps,
    training_snapshot,
)
from calc_nn.plots.cnn_figures import (
    conv_backward,
    conv_forward,
    explorer_images,
    pooling_gradients,
)
from calc_nn.plots.forward_figures import network_activations

__all__ = [
    "COLORS",
    "LABELS",
    "LAYOUT",
    "dead_relu",
    "function_and_derivative",
    "gradient_through_depth",
    "leaky_relu_slope",
    "softmax_temperature",
    "computational_graph",
    "cost_of_gradients",
    "gradient_norms_by_layer",
    "n_backward_steps",
    "training_snapshot",
    "network_activations",
    "conv_backward",
    "conv_forward",
    "explorer_images",
    "pooling_gradients",
]
