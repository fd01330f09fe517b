"""The package itself: light imports, no import side effects, lint-clean."""

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import calc_nn

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("sympy", "plotly", "ipywidgets", "torch", "scipy", "tqdm")
# The modules a reader imports to compute: NumPy only.
MATHS = ["calc_nn", "calc_nn.activations", "calc_nn.autograd",
         "calc_nn.check", "calc_nn.conv", "calc_nn.data",
         "calc_nn.gradcheck", "calc_nn.landscapes", "calc_nn.layers",
         "calc_nn.losses", "calc_nn.mlp", "calc_nn.optim", "calc_nn.train"]


def _imported_after(statement: str) -> set[str]:
    code = (f"import json, sys\n{statement}\n"
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], check=True,
                         capture_output=True, text=True).stdout
    return set(json.loads(out))


@pytest.mark.parametrize("module", MATHS)
def test_maths_modules_load_no_heavy_dependency(module):
    loaded = _imported_after(f"import {module}")
    assert not loaded & set(HEAVY), (
        f"import {module} loads {sorted(loaded & set(HEAVY))}")


def test_submodules_load_on_first_use():
    loaded = _imported_after("import calc_nn; calc_nn.losses")
    assert "calc_nn.losses" in loaded
    assert "calc_nn.conv" not in loaded


def test_every_listed_submodule_exists():
    for name in calc_nn.__all__:
        if name != "__version__":
            assert getattr(calc_nn, name).__name__ == f"calc_nn.{name}"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        calc_nn.nope  # noqa: B018


def test_importing_figures_leaves_plotly_defaults_alone():
    code = ("import plotly.io as pio; before = pio.renderers.default; "
            "import calc_nn.plots, calc_nn.widgets; "
            "print(before == pio.renderers.default)")
    out = subprocess.run([sys.executable, "-c", code], check=True,
                         capture_output=True, text=True,
                         env={"CALC_NN_STATIC": "1", "PATH": ""}).stdout
    assert out.strip() == "True"


def test_runtime_dependencies_are_declared():
    """Every third-party module the package imports is in pyproject."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {d.split("[")[0].split(">")[0].split("=")[0].split("<")[0]
                .strip().lower()
                for group in [project["dependencies"],
                              *project["optional-dependencies"].values()]
                for d in group}
    imported = set()
    for path in (ROOT / "calc_nn").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    stdlib = set(sys.stdlib_module_names) | {"calc_nn"}
    # import names that differ from the distribution's name
    dist = {"yaml": "pyyaml", "IPython": "ipython", "myst_nb": "myst-nb",
            "jupyter_cache": "jupyter-cache"}
    third_party = {dist.get(m, m).lower() for m in imported - stdlib}
    assert third_party <= declared, sorted(third_party - declared)


def test_ruff_passes():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    if ruff is None:
        pytest.fail("ruff is not installed: pip install -r "
                    "requirements-test.txt")
    result = subprocess.run([ruff, "check", "--no-cache", "."], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
