"""Every calc_nn function or class a chapter's code names says so: the
last line of its docstring, ``Used in: book/a.md, book/b.md``, lists that
chapter (the convention of every public function; a reader who finds a
function in a chapter can look up the others that use it).

A chapter's names are found by reading its code cells as Python: the
names its ``import`` lines bind to calc_nn (``from calc_nn import
activations as act``, ``from calc_nn.mlp import MLP``), and each use of
one, alone or with one attribute (``act.sigmoid``). Methods reached
through an object (``model.get_flat()``) are not followed: the class's
own line covers them.
"""

import ast
import importlib
import inspect

import pytest
from chapter_text import BOOK, code, used_in, used_in_pages


def calc_nn_names(cells: list[str]) -> set[str]:
    """Dotted names of the calc_nn objects the code uses."""
    trees = [ast.parse(cell) for cell in cells]
    bound = {}  # local name -> dotted calc_nn name
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):  # binds the name or the top
                bound |= {a.asname or a.name.split(".")[0]:
                          a.name if a.asname else a.name.split(".")[0]
                          for a in node.names
                          if a.name.split(".")[0] == "calc_nn"}
            elif (isinstance(node, ast.ImportFrom) and node.module
                  and node.module.split(".")[0] == "calc_nn"):
                bound |= {a.asname or a.name: f"{node.module}.{a.name}"
                          for a in node.names}
    used = set()
    for tree in trees:
        for node in ast.walk(tree):
            attrs = []  # a.b.c: Attribute(Attribute(Name a, b), c)
            while isinstance(node, ast.Attribute):
                attrs.insert(0, node.attr)
                node = node.value
            if isinstance(node, ast.Name) and node.id in bound:
                used.add(".".join([bound[node.id], *attrs]))
    return used


def resolve(dotted: str):
    """The object a dotted calc_nn name refers to (None if none)."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for part in parts[i:]:
            obj = getattr(obj, part, None)
        return obj
    return None


def test_the_reader_finds_calc_nn_names():
    cells = ["from calc_nn import activations as act\n"
             "from calc_nn.mlp import MLP\nimport calc_nn.optim\n",
             "y = act.sigmoid(x)\nm = MLP([2, 1])\n"
             "calc_nn.optim.gd_step\nact"]
    assert calc_nn_names(cells) == {
        "calc_nn.activations", "calc_nn.activations.sigmoid",
        "calc_nn.mlp.MLP", "calc_nn", "calc_nn.optim",
        "calc_nn.optim.gd_step"}
    assert resolve("calc_nn.activations.sigmoid").__name__ == "sigmoid"


@pytest.mark.parametrize("page", sorted(p.name for p in BOOK.glob("*.md")))
def test_docstrings_list_every_chapter_that_uses_them(page):
    names = calc_nn_names(code((BOOK / page).read_text()))
    missing = []
    for dotted in sorted(names):
        obj = resolve(dotted)
        if not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue  # a module or a constant
        pages = used_in_pages(obj)
        if pages is None:
            missing.append(f"{dotted}: no 'Used in:' line")
        elif f"book/{page}" not in pages:
            missing.append(f"{dotted}: {used_in(obj)!r}")
    assert not missing, (f"book/{page} uses these, but their docstrings do "
                         "not say so:\n- " + "\n- ".join(missing))
