"""The core modules' docstrings (issue 11): every public function of
activations, autograd, gradcheck, verify and symbolic ends with a
``Used in: book/<chapter>.md`` line naming pages that exist, and none
calls the source documents "seed"."""

import inspect
import re
from pathlib import Path

import pytest
from chapter_text import used_in, used_in_pages

from calc_nn import activations, autograd, gradcheck, symbolic, verify
from calc_nn.symbolic import (
    activation_formulas,
    backprop_formulas,
    cnn_formulas,
    landscape_formulas,
    loss_formulas,
)

ROOT = Path(__file__).resolve().parents[1]
MODULES = [activations, autograd, gradcheck, verify, activation_formulas,
           backprop_formulas, cnn_formulas, landscape_formulas,
           loss_formulas]


def public_functions():
    for module in MODULES:
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                yield f"{module.__name__}.{name}", obj
    yield "calc_nn.autograd.Value.backward", autograd.Value.backward


@pytest.mark.parametrize("name,obj", list(public_functions()),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_docstring_ends_with_the_chapters_that_use_it(name, obj):
    pages = used_in_pages(obj)
    assert pages is not None, f"{name}: no 'Used in:' line"
    assert pages and all(re.fullmatch(r"book/[a-z_]+\.md", p)
                         for p in pages), f"{name}: {used_in(obj)!r}"
    missing = [p for p in pages if not (ROOT / p).is_file()]
    assert not missing, f"{name} names missing pages {missing}"


@pytest.mark.parametrize("module", MODULES + [symbolic],
                         ids=lambda m: m.__name__)
def test_no_seed_wording(module):
    source = inspect.getsource(module)
    assert not re.search(r"seed\s*0{2}[02]|seeds'|seed 00", source), (
        f"{module.__name__}: cite the NN document [nn-calculus-doc] or the "
        f"CNN document [cnn-calculus-doc], not a seed")
