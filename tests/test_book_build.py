"""The book builds from a clean copy, without warnings, into a light,
offline site; the repository stays small and free of notebook outputs.

Every test here uses the session's single clean-copy build
(``built_book`` in ``conftest.py``) except the repository checks at the end.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.build

MAX_PAGE_BYTES = 1_500_000       # one HTML page
MAX_INLINE_SCRIPT = 500_000      # an inline <script> this big is a bundle
MAX_REPO_FILE_BYTES = 2_000_000  # one file in git

# Text found in plotly.js bundles (the licence header of plotly.min.js).
PLOTLY_SIGNATURES = ("plotly.js v", "Plotly, Inc.")
# Remote script hosts and loaders the offline site must not reference.
FORBIDDEN_REFERENCES = ("cdn.plot.ly", "cdn.jsdelivr", "unpkg", "cdnjs",
                        "require.js", "require.min.js")
_SCRIPT = re.compile(r"<script\b[^>]*>(.*?)</script>", re.S | re.I)


def _html_files(html_dir: Path) -> list[Path]:
    files = sorted(html_dir.rglob("*.html"))
    assert files, f"no HTML pages in {html_dir}"
    return files


def _tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


def test_build_succeeds(built_book):
    """``jupyter-book build . -n -W --keep-going`` exits 0 on a clean copy
    (warnings are errors, chapters execute without errors)."""
    assert built_book.returncode == 0, (
        f"build failed (exit {built_book.returncode}) after "
        f"{built_book.seconds:.0f} s; end of the log:\n"
        f"{_tail(built_book.log)}")


@pytest.mark.parametrize("word", ["WARNING", "ERROR"])
def test_build_log_is_clean(built_book, word):
    """The build log has no ``WARNING`` and no ``ERROR`` line at all, not
    even one that ``-W`` would not turn into a failure (e.g. printed by an
    executing chapter)."""
    lines = built_book.log.splitlines()
    hits = [i for i, line in enumerate(lines) if word in line]
    # each hit with the lines after it (a traceback follows a logged error)
    shown = ["\n".join(lines[i:i + 25]) for i in hits[:5]]
    assert not hits, f"{len(hits)} line(s) with {word!r} in the build " \
        "log; the first ones with what follows them:\n" + \
        "\n---\n".join(shown)


def test_no_execution_reports(built_book):
    """myst-nb writes a traceback report per failing chapter to
    ``_build/html/reports``; there must be none."""
    reports = built_book.html / "reports"
    found = sorted(p.relative_to(reports).as_posix()
                   for p in reports.rglob("*")) if reports.exists() else []
    assert not found, f"execution reports in {reports}: {found}"


def test_every_toc_page_is_built(built_book, toc_pages):
    """Each page listed in ``_toc.yml`` (and ``index.html``) exists."""
    assert toc_pages, "_toc.yml lists no pages"
    missing = [p for p in ["index.html", *toc_pages]
               if not (built_book.html / p).is_file()]
    assert not missing, f"pages in _toc.yml but not built: {missing}"


def test_chapters_have_launch_buttons_and_notebook_downloads(built_book,
                                                            toc_pages):
    """Every chapter with code (a MyST notebook) offers Binder, Colab and
    JupyterHub (nbgitpuller) launch buttons and an .ipynb download that
    exists in the built site."""
    chapters = [p for p in toc_pages if "{code-cell}" in (
        built_book.source / p.replace(".html", ".md")).read_text()]
    assert len(chapters) >= 7, chapters
    problems = []
    for page in chapters:
        html = (built_book.html / page).read_text(encoding="utf-8")
        name = page.removesuffix(".html")
        for what, needle in [
                ("Binder", "mybinder.org/v2/gh/"),
                ("Colab", "colab.research.google.com/github/"),
                ("JupyterHub", "/hub/user-redirect/git-pull?repo="),
                (".ipynb download", f"_sources/{name}.ipynb")]:
            if needle not in html:
                problems.append(f"{page}: no {what} link")
        if not (built_book.html / "_sources" / f"{name}.ipynb").is_file():
            problems.append(f"{page}: _sources/{name}.ipynb not built")
    assert not problems, "\n".join(problems)


def test_pages_are_small(built_book):
    """No HTML page weighs more than 1.5 MB (figures stay light)."""
    heavy = {p.relative_to(built_book.html).as_posix(): p.stat().st_size
             for p in _html_files(built_book.html)
             if p.stat().st_size > MAX_PAGE_BYTES}
    assert not heavy, f"pages over {MAX_PAGE_BYTES} bytes: {heavy}"


def test_no_page_embeds_plotly_js(built_book):
    """plotly.js is loaded from ``_static/plotly.min.js``, never pasted into
    a page: no plotly.js licence header in any page, and no inline script
    bigger than 500 kB other than a figure's own data."""
    problems = []
    for page in _html_files(built_book.html):
        text = page.read_text(encoding="utf-8", errors="replace")
        name = page.relative_to(built_book.html).as_posix()
        for sig in PLOTLY_SIGNATURES:
            if sig in text:
                problems.append(f"{name}: contains {sig!r}")
        for body in _SCRIPT.findall(text):
            if len(body) > MAX_INLINE_SCRIPT and not body.lstrip(
                    ).startswith("calcNN.render("):
                problems.append(f"{name}: inline script of {len(body)} "
                                f"chars: {body[:80]!r}...")
    assert not problems, "\n".join(problems)


def test_no_remote_script_references(built_book):
    """No page references a CDN or require.js: the site works offline."""
    problems = []
    for page in _html_files(built_book.html):
        text = page.read_text(encoding="utf-8", errors="replace")
        name = page.relative_to(built_book.html).as_posix()
        for ref in FORBIDDEN_REFERENCES:
            for m in re.finditer(re.escape(ref), text):
                line = text.count("\n", 0, m.start()) + 1
                snippet = text[max(0, m.start() - 60):m.end() + 40]
                problems.append(f"{name}:{line}: {ref!r} in "
                                f"{' '.join(snippet.split())!r}")
    assert not problems, (f"{len(problems)} remote reference(s):\n"
                          + "\n".join(problems[:40]))


def test_every_figure_has_a_text_alternative(built_book):
    """Every figure on the site carries its description
    (``layout.meta["description"]``, see ``calc_nn.plots._style.describe``):
    ``calc_nn.sphinxext`` marks one without it ``calc-nn-undescribed``."""
    missing = []
    for page in _html_files(built_book.html):
        text = page.read_text(encoding="utf-8", errors="replace")
        for m in re.finditer(r'<figure class="calc-nn-block '
                             r'calc-nn-undescribed"[^>]*aria-label="([^"]*)"',
                             text):
            missing.append(f"{page.relative_to(built_book.html)}: "
                           f"{m.group(1)}")
    assert not missing, (f"{len(missing)} figures without a description:\n"
                         + "\n".join(missing))


def test_offline_assets_are_shipped(built_book):
    """The site serves its own plotly.js and MathJax."""
    static = built_book.html / "_static"
    plotly_js = static / "plotly.min.js"
    assert plotly_js.is_file(), f"{plotly_js} missing"
    head = plotly_js.read_text(encoding="utf-8", errors="replace")[:500]
    assert PLOTLY_SIGNATURES[0] in head, f"{plotly_js} is not plotly.js"
    for name in ("calc_nn_plotly.js", "calc_nn.css", "calc_nn_math.js"):
        assert (static / name).is_file(), f"{static / name} missing"
    mathjax = static / "mathjax" / "tex-chtml.js"
    assert mathjax.is_file(), f"{mathjax} missing"
    assert mathjax.stat().st_size > 100_000, f"{mathjax} is truncated"


# ------------------------------------------------------------- repository
# These read the repository, not the build: the files git tracks plus the
# untracked ones it does not ignore (what "git add -A" would commit).

def _committable(repo_root: Path, repo_files: list[str]) -> list[Path]:
    return [repo_root / p for p in repo_files if (repo_root / p).is_file()]


def test_git_lists_the_repository(repo_files):
    """Sanity check of the tests below: git sees the book's files."""
    missing = {"_config.yml", "_toc.yml", "Makefile"} - set(repo_files)
    assert not missing, (f"git ls-files does not list {sorted(missing)}: "
                         "run the tests from a git checkout")


def test_no_notebook_outputs_in_git(repo_root, repo_files):
    """Notebooks are committed without outputs (the build executes them)."""
    with_outputs = []
    for path in _committable(repo_root, repo_files):
        if path.suffix != ".ipynb":
            continue
        name = path.relative_to(repo_root).as_posix()
        try:
            nb = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            with_outputs.append(f"{name}: not JSON ({exc})")
            continue
        n = sum(len(c.get("outputs") or []) for c in nb.get("cells", []))
        if n:
            with_outputs.append(f"{name}: {n} outputs")
    assert not with_outputs, (
        "notebooks with outputs (clear them, e.g. jupyter nbconvert "
        "--clear-output --inplace):\n" + "\n".join(with_outputs))


def test_no_big_files_in_git(repo_root, repo_files):
    """No file in git is over 2 MB (data and builds stay out)."""
    big = {p.relative_to(repo_root).as_posix(): p.stat().st_size
           for p in _committable(repo_root, repo_files)
           if p.stat().st_size > MAX_REPO_FILE_BYTES}
    assert not big, f"files over {MAX_REPO_FILE_BYTES} bytes: {big}"
