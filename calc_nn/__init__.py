"""calc_nn: the helper package of the textbook *Calculus for Neural Networks*.

The maths modules (NumPy code with derivatives, SymPy expressions, checks)
are imported here; the figure and widget modules (:mod:`calc_nn.plots`,
:mod:`calc_nn.widgets`) and the Sphinx extension (:mod:`calc_nn.sphinxext`)
import plotly and ipywidgets, so they are imported explicitly where needed.
"""

from calc_nn import (activations, autograd, check, conv, data, gradcheck,
                     landscapes, layers, losses, mlp, optim, symbolic,
                     verify)

__version__ = "0.1.0"

__all__ = [
    "activations", "autograd", "check", "conv", "data", "gradcheck",
    "landscapes", "layers", "losses", "mlp", "optim", "symbolic", "verify",
    "__version__",
]
