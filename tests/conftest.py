"""Shared fixtures: one clean-copy build of the book per test session.

The ``build`` and ``browser`` tests need the whole book built. Building
from the working tree would reuse whatever ``_build/`` and
``.jupyter_cache`` happen to be lying around, so :func:`built_book` copies
the repository's source files (tracked, plus untracked files that git does
not ignore) into a fresh temporary directory and builds there, exactly the
way the Makefile does (``jupyter-book build . -n -W --keep-going``).

The pages of the book are read from ``_toc.yml``; any test that takes a
``book_page`` argument is parametrized over them (plus ``index.html``), so a
failure names the page.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import settings

# In CI (CI set, as .ci/run does) hypothesis draws the same examples on
# every run: a CI failure is then a real one that the next run repeats,
# never a new random example that blocks a change it has nothing to do
# with. Local runs keep drawing new examples (and keep the failures they
# find in .hypothesis/), which is where edge cases get found.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

REPO = Path(__file__).resolve().parent.parent
# The MNIST test set kept beside the repository for offline tests and
# builds. calc_nn never looks outside its package: it is passed in.
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"
# One build of a grown book takes minutes; a hung kernel must not eat the
# whole CI budget (20 minutes).
BUILD_TIMEOUT_S = 15 * 60


@dataclasses.dataclass(frozen=True)
class BuiltBook:
    """Result of building a clean copy of the book.

    Attributes
    ----------
    source : Path
        The temporary copy of the repository the book was built from.
    html : Path
        Its ``_build/html`` directory.
    returncode : int
        Exit code of ``jupyter-book build`` (-1 when it timed out).
    log : str
        Its stdout and stderr, interleaved, ANSI colour codes removed.
    seconds : float
        Wall time of the build.
    """

    source: Path
    html: Path
    returncode: int
    log: str
    seconds: float


def source_files(repo: Path = REPO) -> list[str]:
    """Paths (relative to ``repo``) of the files a fresh clone would have,
    plus untracked files that are not git-ignored."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others",
             "--exclude-standard"],
            cwd=repo, check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.fail(f"cannot list the repository's files with git: {exc}")
    return sorted({p for p in out.decode().split("\0") if p})


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def _jupyter_book() -> Path:
    exe = Path(sys.executable).parent / "jupyter-book"
    if not exe.exists():
        pytest.fail(f"{exe} not found: jupyter-book must be installed in "
                    "the environment that runs pytest (make venv)")
    return exe


def toc_files(toc_path: Path = REPO / "_toc.yml") -> list[str]:
    """Source files listed in a Jupyter Book 1.x ``_toc.yml``, in reading
    order, without their extensions (``"book/preface"``, ...)."""
    toc = yaml.safe_load(toc_path.read_text(encoding="utf-8"))
    found: list[str] = []
    sources = (".md", ".ipynb", ".rst")

    def page(name: str) -> str:
        path = Path(name)
        return (path.with_suffix("") if path.suffix in sources
                else path).as_posix()

    def visit(entry):
        if isinstance(entry, list):
            for item in entry:
                visit(item)
            return
        if not isinstance(entry, dict):
            return
        for key in ("root", "file"):
            if key in entry:
                found.append(page(str(entry[key])))
        if "glob" in entry:
            base = toc_path.parent
            for path in sorted(base.glob(entry["glob"] + ".*")):
                if path.suffix in sources:
                    found.append(page(path.relative_to(base).as_posix()))
        for key in ("parts", "chapters", "sections", "subtrees",
                    "entries"):
            if key in entry:
                visit(entry[key])

    visit(toc)
    return list(dict.fromkeys(found))


def book_pages() -> list[str]:
    """HTML pages a reader can reach: ``index.html`` and one page per
    ``_toc.yml`` entry (relative to the html directory)."""
    return ["index.html", *(f"{f}.html" for f in toc_files())]


def pytest_configure(config):
    """Pass the shared MNIST test set to calc_nn.data (its one variable,
    CALC_NN_MNIST_DIRS), for the tests and every build, kernel and server
    they start."""
    os.environ["CALC_NN_MNIST_DIRS"] = os.pathsep.join(
        p for p in [os.environ.get("CALC_NN_MNIST_DIRS", ""),
                    str(SHARED_MNIST)] if p)


# make test runs the suite in pytest-xdist workers, one per core, and
# hands them the tests one by one, except that each of these modules goes
# to one worker whole: their tests share an expensive module fixture (the
# digits chapter run once, JupyterLab, a page of figures), and test_live's
# screenshots are cleared and written by one process. (pytest-xdist's own
# xdist_group marks do not group under pytest 9.2: the worker's rewrite of
# the test ids that carries them no longer takes.)
ONE_WORKER = frozenset({"tests/test_digits_chapter.py", "tests/test_live.py",
                        "tests/test_figure_layout.py"})
# The tests of these modules go to workers one book page at a time, in
# their order: a page's checks in light mode on a desktop screen share one
# loaded page (test_a11y.shared_page), so it loads once, not three times.
ONE_WORKER_PER_PAGE = frozenset({"tests/test_a11y.py"})
_PAGE_ID = re.compile(r"[\[-]((?:book/)?[\w-]+\.html)[\]-]")


def pytest_xdist_make_scheduler(config, log):
    """With ``--dist load`` (``-n``'s default): one test per work unit,
    one module per unit for :data:`ONE_WORKER`, one book page per unit for
    :data:`ONE_WORKER_PER_PAGE`."""
    if config.getvalue("dist") != "load":
        return None  # another --dist asked for: pytest-xdist's own
    from xdist.scheduler import LoadScopeScheduling

    class ModuleOrTestScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            if module in ONE_WORKER:
                return module
            page = (_PAGE_ID.search(nodeid)
                    if module in ONE_WORKER_PER_PAGE else None)
            return f"{module}::{page.group(1)}" if page else nodeid

    return ModuleOrTestScheduling(config, log)


# A test's ``record_property(SUMMARY_LINE, text)`` prints ``text`` at the
# end of the test output: the terminal summary runs in the main process,
# which receives the properties from pytest-xdist's workers.
SUMMARY_LINE = "calc_nn_summary_line"
_summary_lines: list[str] = []


def pytest_runtest_logreport(report):
    if report.when == "call":
        _summary_lines.extend(v for k, v in report.user_properties
                              if k == SUMMARY_LINE)


def pytest_terminal_summary(terminalreporter):
    if _summary_lines:
        terminalreporter.section("calc_nn")
        for line in _summary_lines:
            terminalreporter.write_line(line)


def pytest_generate_tests(metafunc):
    """Parametrize ``book_page`` over :func:`book_pages`."""
    if "book_page" in metafunc.fixturenames:
        pages = book_pages()
        metafunc.parametrize("book_page", pages, ids=pages)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's top directory."""
    return REPO


@pytest.fixture(scope="session")
def repo_files() -> list[str]:
    """Files git tracks or would add (see :func:`source_files`)."""
    return source_files()


@pytest.fixture(scope="session")
def toc_pages() -> list[str]:
    """HTML paths of the pages listed in ``_toc.yml``."""
    return [f"{f}.html" for f in toc_files()]


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> BuiltBook:
    """Build a clean copy of the book once per session.

    The copy holds the files :func:`source_files` lists and nothing else
    (no ``_build``, ``.venv`` or ``.jupyter_cache``). ``PYTHONPATH`` points
    at the copy so the build and the chapters' kernels import the copied
    ``calc_nn``. With ``CALC_NN_BUILT_BOOK=<repository>`` set, the build
    already in ``<repository>/_build/html`` is used instead (to iterate on
    the browser tests; never in CI).

    Under pytest-xdist (``make test``: one worker per core) the workers share
    one build: the first to need it builds in the run's common temporary
    folder while holding a lock, and the others wait for it and read its
    result there.
    """
    reuse = os.environ.get("CALC_NN_BUILT_BOOK")
    if reuse:  # iterating on the browser tests: an existing build
        if os.environ.get("CI"):
            pytest.fail("CALC_NN_BUILT_BOOK is set in CI: the tests must "
                        "build a clean copy")
        root = Path(reuse).resolve()
        return BuiltBook(source=root, html=root / "_build" / "html",
                         returncode=0, log=f"(reused the build in {root})",
                         seconds=0.0)
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return _build_book(tmp_path_factory.mktemp("book-src"))
    # the run's temporary folder, common to the workers
    return build_once(tmp_path_factory.getbasetemp().parent, _build_book)


def build_once(shared: Path, build) -> BuiltBook:
    """``build(shared / "book-src")`` by the first process to call this
    with ``shared``; every call returns its :class:`BuiltBook`, which is
    kept in ``shared/built-book.json``. A lock file in ``shared`` makes
    the others wait while the first builds."""
    from filelock import FileLock

    record = shared / "built-book.json"
    with FileLock(str(shared / "built-book.lock")):
        if not record.is_file():
            book = build(shared / "book-src")
            record.write_text(json.dumps(dataclasses.asdict(book),
                                         default=str))  # paths as text
    saved = json.loads(record.read_text())
    return BuiltBook(**saved | {"source": Path(saved["source"]),
                                "html": Path(saved["html"])})


def _build_book(src: Path) -> BuiltBook:
    """Copy the repository's source files into the new folder ``src`` and
    build the book there (``jupyter-book build . -n -W --keep-going``)."""
    src.mkdir(parents=True)
    for rel in source_files():
        origin = REPO / rel
        if not origin.is_file():  # tracked but deleted in the working tree
            continue
        target = src / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(origin, target)

    exe = _jupyter_book()
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(exe.parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in [str(src), env.get("PYTHONPATH", "")] if p)
    env.pop("CALC_NN_STATIC", None)  # the build sets it itself
    # CALC_NN_MNIST_DIRS comes from pytest_configure (digits chapter)
    cmd = [str(exe), "build", ".", "-n", "-W", "--keep-going"]
    start = time.monotonic()
    try:
        proc = subprocess.run(
            cmd, cwd=src, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT_S)
        returncode, output = proc.returncode, proc.stdout
    except subprocess.TimeoutExpired as exc:
        returncode = -1
        output = (exc.stdout or b"") + (
            f"\n[conftest] build timed out after {BUILD_TIMEOUT_S} s"
            .encode())
    log = _strip_ansi(output.decode("utf-8", errors="replace"))
    return BuiltBook(source=src, html=src / "_build" / "html",
                     returncode=returncode, log=log,
                     seconds=time.monotonic() - start)


# Debian's Chromium, driven by Playwright in the browser tests
# (test_browser.py, test_a11y.py, test_live.py; never a downloaded browser).
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium; missing is a failure on CI, a skip elsewhere."""
    if not CHROMIUM.exists():
        msg = (f"{CHROMIUM} not found: install Debian's Chromium with "
               "`sudo apt-get install chromium` (the browser tests never "
               "download a browser)")
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium):
    """One headless Chromium per test module. Module scope: a sync
    Playwright instance runs an asyncio loop until it stops, and the next
    browser module starts its own afterwards."""
    from browser_helpers import launch
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw, chromium)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def site(built_book):
    """Base URL (ending in "/") of the built book, served on 127.0.0.1."""
    from browser_helpers import serve

    if not (built_book.html / "index.html").is_file():
        pytest.fail("the book did not build (see test_book_build.py); end "
                    "of the build log:\n"
                    + "\n".join(built_book.log.splitlines()[-30:]))
    with serve(built_book.html) as url:
        yield url
