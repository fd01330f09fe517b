"""calc_nn: the helper package of the textbook *Calculus for Neural Networks*.

Submodules are imported on first use (``calc_nn.losses``, or
``from calc_nn import losses``), so ``import calc_nn`` and the maths
modules stay light: they need NumPy only. SymPy (:mod:`calc_nn.symbolic`),
plotly and ipywidgets (:mod:`calc_nn.plots`, :mod:`calc_nn.widgets`) and
PyTorch (:mod:`calc_nn.verify`) are loaded only by the modules that use
them.
"""

import importlib

__version__ = "0.1.0"

__all__ = [
    "activations", "autograd", "check", "conv", "data", "gradcheck", "init",
    "landscapes", "layers", "losses", "mlp", "optim", "plots", "symbolic",
    "train", "verify", "widgets", "__version__",
]


def __getattr__(name):
    """Import the submodule ``calc_nn.<name>`` the first time it is used."""
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
