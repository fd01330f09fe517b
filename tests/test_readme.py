"""The README describes the repository as it is: every make target, file,
test, marker, environment variable, module and number it names exists and
says what the README says. A renamed target, a moved test or a changed
limit fails here until the README follows."""

from __future__ import annotations

import inspect
import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
PREFACE = (ROOT / "book" / "preface.md").read_text()
MAKEFILE = (ROOT / "Makefile").read_text()


def _make_targets() -> set[str]:
    return set(re.findall(r"^([\w-]+)(?: [\w -]+)?:(?!=)", MAKEFILE, re.M))


@pytest.mark.parametrize("page", ["README.md", "book/preface.md"])
def test_every_make_target_named_exists(page):
    text = (ROOT / page).read_text()
    named = set(re.findall(r"\bmake ([a-z][\w-]*)", text))
    assert named, page
    missing = named - _make_targets()
    assert not missing, f"{page} names make targets the Makefile lacks: " \
        f"{sorted(missing)}"


def test_quick_start_installs_what_the_readme_says():
    """Quick start: each command installs requirements.txt,
    requirements-test.txt and calc_nn (the Makefile's stamp rule)."""
    stamp = MAKEFILE[MAKEFILE.index("$(STAMP):"):MAKEFILE.index("venv:")]
    for name in ("requirements.txt", "requirements-test.txt"):
        assert f"`{name}`" in README.split("## Quick start")[1][:400]
        assert f"-r {name}" in stamp, name
    assert "install --no-deps -e ." in stamp
    for target in ("book", "test"):
        assert re.search(rf"^{target}: \$\(STAMP\)", MAKEFILE, re.M), target


def test_test_fast_deselects_build_and_browser():
    """`make test-fast` is "unit tests only: no book build, no browser",
    and the two markers the README names are declared."""
    rule = MAKEFILE[MAKEFILE.index("test-fast:"):]
    assert '-m "not build and not browser"' in rule.split("\n\n")[0]
    markers = tomllib.loads((ROOT / "pyproject.toml").read_text())[
        "tool"]["pytest"]["ini_options"]["markers"]
    declared = {m.split(":")[0] for m in markers}
    for marker in re.findall(r"`-m (\w+)`", README):
        assert marker in declared, marker


PATH = re.compile(r"`((?:\.?[\w-]+/)+[\w.*-]+/?)(?:::(\w+))?`")
# paths the README names that exist only after a build or a run
GENERATED = ("_build/", ".tools/", ".venv/", ".hypothesis/", "_static/",
             "../shared/", "calc-nn/", "application/", "~/", "$")


def test_every_path_named_exists():
    """Files and folders in backticks exist; `tests/x.py::name` names a
    test function of that file."""
    checked = 0
    for path, name in PATH.findall(README):
        if path.startswith(GENERATED) or "<" in path or "{" in path:
            continue
        matches = list(ROOT.glob(path.rstrip("/")))
        assert matches, f"README names `{path}`, which does not exist"
        if name:
            assert re.search(rf"^def {name}\(", matches[0].read_text(),
                             re.M), f"{path} has no test {name}"
        checked += 1
    assert checked >= 25, checked


def test_every_environment_variable_named_is_used():
    """Each CALC_NN_* variable of the README and the preface is read by
    the package, the tests, a chapter, the Makefile or the workflow."""
    sources = [*ROOT.glob("calc_nn/**/*.py"), *ROOT.glob("tests/*.py"),
               *ROOT.glob("book/*.md"), ROOT / "Makefile",
               ROOT / ".github" / "workflows" / "book.yml"]
    used = "\n".join(p.read_text() for p in sources
                     if p.name not in ("preface.md", "test_readme.py"))
    named = set(re.findall(r"CALC_NN_[A-Z_]+", README + PREFACE))
    assert {"CALC_NN_STUDENT", "CALC_NN_BUILD_JOBS",
            "CALC_NN_MNIST_DIRS", "CALC_NN_DOWNLOAD"} <= named
    for var in named:
        assert re.search(rf"environ(?:\.get)?[\[(]\s*\"{var}\"|"
                         rf"_ENV = \"{var}\"", used), var


def test_the_module_table_lists_every_public_module():
    """The `calc_nn` modules table: one row per public module or
    subpackage, none missing, none that does not exist."""
    table = README.split("`calc_nn` modules:")[1].split("\n\n")[1]
    listed = set()
    for row in table.splitlines()[2:]:
        listed |= set(re.findall(r"`(\w+)`", row.split("|")[1]))
    package = ROOT / "calc_nn"
    public = {p.stem for p in package.glob("*.py")
              if not p.stem.startswith("_")}
    public |= {p.parent.name for p in package.glob("*/__init__.py")}
    assert listed == public, (sorted(listed - public),
                              sorted(public - listed))


def test_dotted_module_names_exist():
    """`symbolic.loss_formulas`, `plots.cnn_figures`,
    `calc_nn.plots._style`, ... are files of the package."""
    names = set(re.findall(
        r"`(?:calc_nn\.)?((?:plots|symbolic)\.\w+|sphinxext|"
        r"sphinx_parallel)`", README))
    names |= set(re.findall(r"`calc_nn\.plots\.(\w+)`", README))
    assert len(names) >= 5, names
    exported = (ROOT / "calc_nn" / "plots" / "__init__.py").read_text()
    for name in names:
        path = name.replace(".", "/")
        candidates = [ROOT / "calc_nn" / f"{path}.py",
                      ROOT / "calc_nn" / "plots" / f"{path}.py"]
        # a figure function the plots package exports, e.g.
        # `plots.gradient_through_depth`
        is_figure = name.startswith("plots.") and \
            f'"{name.split(".")[1]}"' in exported
        assert is_figure or any(p.is_file() for p in candidates), name


def test_symbolic_is_one_module_per_topic_not_per_chapter():
    """symbolic has no module for some chapters (forward, optimizers) and
    one for a topic that is no chapter (landscapes): "per topic"."""
    stems = {p.stem for p in (ROOT / "calc_nn" / "symbolic").glob("*.py")}
    assert "landscape_formulas" in stems
    assert "`symbolic.landscape_formulas`" in README
    assert "one module per chapter (`symbolic" not in README


def test_plots_is_one_module_per_chapter():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    chapters = [Path(c["file"]).name for c in toc["chapters"]]
    with_figures = [c for c in chapters
                    if "plots." in (ROOT / "book" / f"{c}.md").read_text()]
    modules = {p.stem for p in (ROOT / "calc_nn" / "plots").glob("*.py")
               if not p.stem.startswith("_")}
    assert len(modules) == len(with_figures), (modules, with_figures)


def test_the_opening_paragraph_names_every_chapter():
    """The README's first paragraph lists the chapters of _toc.yml."""
    opening = README.split("## Quick start")[0]
    words = {"calculus": "calculus toolkit", "forward": "forward propagation",
             "activations": "activation functions", "losses": "losses",
             "optimizers": "optimizers", "backprop": "backpropagation",
             "cnn": "convolution and pooling", "deep": "training deep",
             "digits": "digits project", "outlook": "an outlook",
             "notation": None, "glossary": None, "references": None}
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    for entry in toc["chapters"]:
        chapter = Path(entry["file"]).name
        assert chapter in words, f"new page {chapter}: name it in README"
        if words[chapter]:
            assert words[chapter] in " ".join(opening.split()), chapter


def _readme_number(pattern: str) -> str:
    found = re.search(pattern, " ".join(README.split()))
    assert found, pattern
    return found.group(1)


def test_the_numbers_the_readme_states():
    """600 states, 4 significant digits, 1.5 MB pages, 600 px phones,
    5 s per checked input: read from the code."""
    import ast

    from calc_nn import check, widgets
    from calc_nn.plots import _style  # noqa: F401 (plotly import)

    assert int(_readme_number(r"at most (\d+) are allowed")) == \
        widgets.MAX_STATES
    assert int(_readme_number(r"rounded exactly to (\d+) significant")) == \
        inspect.signature(widgets.explore).parameters["digits"].default
    build = (ROOT / "tests" / "test_book_build.py").read_text()
    limit = ast.literal_eval(re.search(r"^MAX_PAGE_BYTES = ([\d_]+)",
                                       build, re.M).group(1))
    assert float(_readme_number(r"pages under ([\d.]+) MB")) * 1e6 == limit
    assert int(_readme_number(r"below (\d+) CSS px")) == _style.NARROW_PX
    assert float(_readme_number(r"time_limit` \((\d+) s per input")) == \
        check._TIME_LIMIT


def test_load_mnist_signature_as_stated():
    from calc_nn.data import load_mnist

    stated = _readme_number(r"`calc_nn\.data\.load_mnist(\([^`]*\))`")
    actual = str(inspect.signature(load_mnist)).replace("'", '"')
    assert stated.replace(" ", "") == actual.replace(" ", ""), stated


def test_typed_formulas_are_registered_where_the_readme_says():
    """"registered ... in the chapter's module of tests/formula_checks/":
    every chapter with a labelled display formula has that module."""
    text = " ".join(README.split())
    assert "the chapter's module of `tests/formula_checks/`" in text
    checks = ROOT / "tests" / "formula_checks"
    for chapter in (ROOT / "book").glob("*.md"):
        if re.search(r"^\$\$ *\([\w-]+\)$", chapter.read_text(), re.M):
            module = checks / f"{chapter.stem}.py"
            assert module.is_file(), module
            assert f'CHAPTER = "{chapter.name}"' in module.read_text()


def test_the_explore_example_runs_as_described(monkeypatch):
    """The README's `explore` example, run as the book build runs it
    (CALC_NN_STATIC=1): a plotly figure with every state precomputed in
    layout.meta.calc_nn (controls, a pool of values, per state the
    indices of its values), within MAX_STATES."""
    from calc_nn import plots, widgets

    code = re.search(r"```python\n(explore\(.*?)```", README, re.S).group(1)
    monkeypatch.setenv("CALC_NN_STATIC", "1")
    fig = eval(code, {"explore": widgets.explore, "plots": plots,
                      "Slider": widgets.Slider})
    meta = fig.layout.meta["calc_nn"]
    assert set(meta) == {"controls", "values", "states"}
    assert [c["name"] for c in meta["controls"]] == ["depth", "w"]
    assert len(meta["states"]) == 30 * 5 <= widgets.MAX_STATES


def test_ci_draws_the_same_hypothesis_examples():
    """"With CI set (as .ci/run sets it) they draw the same examples on
    every run (the ci profile in tests/conftest.py)"."""
    from hypothesis import settings

    assert 'export CI="${CI:-true}"' in (ROOT / ".ci" / "run").read_text()
    assert settings.get_profile("ci").derandomize
    conftest = (ROOT / "tests" / "conftest.py").read_text()
    assert re.search(r'if os\.environ\.get\("CI"\):\n\s+settings\.'
                     r'load_profile\("ci"\)', conftest)
    assert "(the `ci` profile in `tests/conftest.py`)" in " ".join(
        README.split())


def test_the_versions_the_readme_names_are_the_pins():
    """`jupyter-book==...`, `torch==...+cpu` (Binder) and "ipykernel 7.2"
    as pinned in requirements.txt and binder/requirements.txt."""
    pins = dict(re.findall(r"^([\w-]+)==(\S+)$",
                           (ROOT / "requirements.txt").read_text(), re.M))
    binder = (ROOT / "binder" / "requirements.txt").read_text()
    named = dict(re.findall(r"`([\w-]+)==(\S+?)`", README))
    assert named["jupyter-book"] == pins["jupyter-book"]
    assert named["torch"] == pins["torch"] + "+cpu"
    assert f"torch=={named['torch']}" in binder
    kernel = _readme_number(r"ipykernel (\d+\.\d+)'s shutdown")
    assert pins["ipykernel"].startswith(kernel + "."), pins["ipykernel"]


def test_the_shared_mnist_folder_is_appended_where_the_readme_says():
    """"`make book`, `make student`, `make lab` and the tests
    (`tests/conftest.py`) append `../shared/data/mnist`"."""
    text = " ".join(README.split())
    assert ("`make book`, `make student`, `make lab` and the tests "
            "(`tests/conftest.py`) append `../shared/data/mnist`") in text
    export = re.search(r"^([\w ]+): export CALC_NN_MNIST_DIRS :=.*"
                       r"\$\(SHARED_MNIST\)$", MAKEFILE, re.M)
    assert export and set(export.group(1).split()) == {
        "book", "student", "lab"}
    assert "SHARED_MNIST ?= $(abspath ../shared/data/mnist)" in MAKEFILE
    import conftest
    assert conftest.SHARED_MNIST == ROOT.parent / "shared" / "data" / "mnist"
    source = (ROOT / "tests" / "conftest.py").read_text()
    assert 'os.environ["CALC_NN_MNIST_DIRS"] = os.pathsep.join(' in source


def test_every_checker_takes_the_options_the_readme_names():
    """"Every checker takes `rtol`, `atol`, `allow_warnings` and
    `time_limit`", and `check.available()` lists them."""
    from calc_nn import check

    options = re.search(r"Every checker takes (.*?) \(", " ".join(
        README.split())).group(1)
    named = re.findall(r"`(\w+)`", options)
    assert named == ["rtol", "atol", "allow_warnings", "time_limit"]
    assert len(check.available()) >= 10
    for name in check.available():
        params = inspect.signature(getattr(check, name)).parameters
        assert list(params)[1:] == named, (name, list(params))


@pytest.mark.parametrize("calc_nn_changed", [True, False])
def test_make_book_rereads_every_chapter_after_calc_nn_changes(
        tmp_path, calc_nn_changed):
    """"after a change to calc_nn it forgets the execution cache and
    Sphinx's environment": the book recipe's check, run in a scratch
    folder, removes _build/.jupyter_cache and _build/.doctrees when a
    calc_nn file is newer than the stamp of the last build, and keeps
    both otherwise. (With only the cache gone, Sphinx saw no changed page
    and re-executed nothing: the site kept the old code's figures.)"""
    import os
    import subprocess

    assert ("after a change to `calc_nn`\nit forgets the execution cache "
            "and Sphinx's environment, so every chapter\nis read and "
            "executed again") in README
    recipe = MAKEFILE.split("\nbook: ", 1)[1].split("\n\n", 1)[0]
    recipe = recipe.replace("\\\n\t", " ")    # continued lines, joined
    check = next(line for line in recipe.split("\n\t")
                 if "calc_nn_stamp ]" in line)
    script = check.lstrip("@").replace("$$", "$")
    build = tmp_path / "_build"
    for folder in (".jupyter_cache", ".doctrees"):
        (build / folder).mkdir(parents=True)
    (tmp_path / "calc_nn").mkdir()
    source, stamp = tmp_path / "calc_nn" / "a.py", build / ".calc_nn_stamp"
    source.write_text("")
    stamp.write_text("")
    older, newer = (1_000_000, 2_000_000) if calc_nn_changed else (
        2_000_000, 1_000_000)
    os.utime(stamp, (older, older))
    os.utime(source, (newer, newer))
    subprocess.run(["sh", "-c", script], cwd=tmp_path, check=True,
                   capture_output=True)
    kept = {f for f in (".jupyter_cache", ".doctrees")
            if (build / f).is_dir()}
    assert kept == (set() if calc_nn_changed
                    else {".jupyter_cache", ".doctrees"})
