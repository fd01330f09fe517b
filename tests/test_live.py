"""The chapter's figures are live widgets in JupyterLab, offline.

What a reader gets from ``make lab``: JupyterLab from the virtualenv, the
chapter opened from ``book/``, every cell run, and ipywidgets controls over
plotly ``FigureWidget``s that a kernel redraws (``calc_nn.widgets.explore``
in a live kernel). This module does the same in headless Chromium (Debian's
``/usr/bin/chromium`` driven by Playwright, no browser download):

* a ``jupyter lab`` from the virtualenv on a free port of 127.0.0.1, with no
  token, serving a temporary copy of ``book/`` (autosave and checkpoints
  never touch the repository), ``CALC_NN_STATIC`` removed from its
  environment, and its own empty runtime, config, data, user-settings,
  workspaces and IPython directories (nothing from ``~`` leaks in). The
  settings overrides are the virtualenv's, installed there by the Makefile
  from ``etc/jupyterlab/overrides.json``, as for ``make lab``;
* every request of the page that does not go to 127.0.0.1 is aborted and
  recorded; the server never fetches news or update checks
  (``news_url=None``, ``NeverCheckForUpdate``), and the news toast is
  answered "no" in the temporary user settings so it covers no figure;
* the chapter is opened at ``/lab/tree/activations.md`` (it must open as a
  notebook, through jupytext's viewer) and run with the menu
  *Run > Run All Cells*;
* every ``explore`` cell must show ipywidgets controls and a drawn plotly
  figure; clicking a button and moving a slider with the keyboard must
  redraw the figure, and the redrawn figure must be the one the figure
  function draws for the new setting (its title, axis titles, legend and
  colours, compared with the figure built in this process);
* no uncaught exception, no console error, no request to the internet.

JupyterLab's application object is exposed (``expose_app_in_browser``) only
to read the state of the session and of the notebook model (kernel ready,
execution counts, outputs) instead of guessing it from the DOM; the reader's
actions (menu, buttons, slider) go through the page. When the chapter does
not open as a notebook, :func:`test_chapter_opens_as_notebook` fails, and the
other tests open it with JupyterLab's plain notebook viewer (the jupytext
server extension still converts it) so that they still say whether the
widgets themselves work.

Screenshots land in ``_build/screenshots/live-*.png``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import pytest
from browser_helpers import (
    DESKTOP,
    REPO,
    SCREENSHOTS,
    block_the_internet,
    screenshot,
)

# (conftest.ONE_WORKER: one pytest-xdist worker runs this module's tests
# and starts JupyterLab once for all)
pytestmark = pytest.mark.browser

CHAPTER = "activations.md"
OVERRIDES = REPO / "etc" / "jupyterlab" / "overrides.json"
SERVER_START_S = 60
# page load, kernel start, one UI step: 30 s was exceeded once opening
# the optimizers chapter while the other worker built the book
UI_TIMEOUT_MS = 60_000
RUN_ALL_TIMEOUT_MS = 180_000  # the chapter runs in ~15 s
REDRAW_TIMEOUT_MS = 10_000    # one control change -> kernel -> plot

# ----------------------------------------------------------------- JS

# The notebook panel of the chapter, found in the main area (not whatever
# has the focus), kept on window for the other snippets.
JS_FIND_PANEL = """(path) => {
  const app = window.jupyterapp, kinds = [];
  if (!app) { return kinds; }
  for (const w of app.shell.widgets('main')) {
    if (!(w.context && w.context.path === path && w.context.isReady)) {
      continue;
    }
    if (w.node.classList.contains('jp-NotebookPanel')) {
      window.__livePanel = w;
      kinds.push('notebook');
    } else if (w.node.querySelector('.jp-FileEditor')) {
      kinds.push('text editor');
    } else if (w.node.querySelector('.jp-RenderedMarkdown')) {
      kinds.push('markdown preview');
    } else {
      kinds.push('other: ' + w.node.className);
    }
  }
  return kinds;
}"""
# The paths of the documents open in the main area.
JS_DOCUMENTS = """() => Array.from(window.jupyterapp.shell.widgets('main'),
  (w) => w.context ? w.context.path : w.title.label)"""
JS_KERNEL_READY = """() => {
  const p = window.__livePanel, sc = p && p.sessionContext;
  const k = sc && sc.session && sc.session.kernel;
  return !!(p && p.context.isReady && sc.isReady && k &&
            k.connectionStatus === 'connected' && k.status === 'idle');
}"""
JS_KERNEL = """() => {
  const sc = window.__livePanel.sessionContext;
  const k = sc.session && sc.session.kernel;
  return k ? {name: k.name, status: k.status,
              connection: k.connectionStatus} : null;
}"""
JS_ACTIVATE = ("() => window.jupyterapp.shell"
               ".activateById(window.__livePanel.id)")
JS_EXECUTION_COUNTS = """() => {
  const cells = window.__livePanel.content.model.cells, counts = [];
  for (let i = 0; i < cells.length; i++) {
    const c = cells.get(i);
    if (c.type === 'code') { counts.push(c.executionCount); }
  }
  return counts;
}"""
JS_ANY_STARTED = """() => {
  const panel = window.__livePanel;
  const cells = panel.content.model.cells;
  for (let i = 0; i < cells.length; i++) {
    const c = cells.get(i);
    if (c.type === 'code' && c.executionCount) { return true; }
  }
  return Array.from(panel.node.querySelectorAll('.jp-InputPrompt'))
    .some((e) => e.textContent.includes('*'));
}"""
# The model of every cell, and a data-live-cell attribute on its node so the
# tests can find it in the page.
JS_CELLS = """() => {
  const panel = window.__livePanel, out = [];
  const cells = panel.content.model.cells;
  for (let i = 0; i < cells.length; i++) {
    const c = cells.get(i), w = panel.content.widgets[i];
    if (w) { w.node.setAttribute('data-live-cell', String(i)); }
    out.push({index: i, type: c.type, source: c.sharedModel.getSource(),
              execution_count: c.type === 'code' ? c.executionCount : null,
              outputs: c.type === 'code' ? c.outputs.toJSON() : []});
  }
  return out;
}"""
JS_LINE_PATHS = """(el) => Array.from(
  el.querySelectorAll('.js-plotly-plot .scatterlayer path.js-line'),
  (p) => p.getAttribute('d'))"""
JS_PATHS_CHANGED = """([el, before]) => {
  const now = Array.from(
    el.querySelectorAll('.js-plotly-plot .scatterlayer path.js-line'),
    (p) => p.getAttribute('d'));
  return JSON.stringify(now) !== JSON.stringify(before);
}"""
# What the figure is made of (plotly's own state on the graph div).
JS_FIGURE = """(gd) => JSON.stringify({
  layout: gd.layout,
  data: gd.data.map((t) => ({name: t.name, type: t.type, line: t.line,
                             marker: t.marker, showlegend: t.showlegend}))})"""
JS_FIGURE_STATS = """(el) => {
  const gd = el.querySelector('.js-plotly-plot');
  const svg = el.querySelector('.js-plotly-plot svg.main-svg');
  const box = svg ? svg.getBoundingClientRect() : null;
  return {
    plots: el.querySelectorAll('.js-plotly-plot').length,
    svg_width: box ? box.width : 0, svg_height: box ? box.height : 0,
    traces: gd ? gd.querySelectorAll('g.trace').length : 0,
    drawn: gd ? Array.from(gd.querySelectorAll('g.trace path'))
      .filter((p) => (p.getAttribute('d') || '').length > 10).length : 0,
    controls: el.querySelectorAll(
      '.widget-slider, .widget-toggle-buttons').length,
    boxes: el.querySelectorAll('.jupyter-widgets.widget-vbox').length,
    text: el.innerText.slice(0, 300),
  };
}"""

# Console messages that mean a widget is broken.
WIDGET_ERRORS = re.compile(
    r"Failed to load model class|Error displaying widget|Model class .* not "
    r"found|Could not create (a )?view|Failed to create view|\[anywidget\]|"
    r"Class \S+ not found in module", re.IGNORECASE)
# Module-federation version warnings: an extension built for another
# JupyterLab than the one installed.
VERSION_WARNINGS = re.compile(
    r"Unsatisfied version|does not satisfy the requirement|No satisfying "
    r"version")


# ----------------------------------------------------------------- server

@dataclasses.dataclass
class LabServer:
    url: str            # ends in "/"
    root: Path          # the temporary copy of book/
    log: Path
    process: subprocess.Popen

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():  # pragma: no cover - runs in the child
    """Linux: the server gets SIGTERM if pytest dies (a killed CI job must
    not leave a JupyterLab with kernels behind)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except Exception:
        pass


def _get(url: str, timeout: float = 5.0):
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.status, resp.read()


@pytest.fixture(scope="session")
def lab_server(chromium, tmp_path_factory):
    """``jupyter lab`` from the virtualenv over a copy of ``book/``."""
    jupyter = Path(sys.executable).parent / "jupyter"
    if not jupyter.exists():
        pytest.fail(f"{jupyter} not found: JupyterLab must be installed in "
                    "the environment that runs pytest (make venv)")
    # make lab reads the overrides the Makefile copies into the venv
    installed = Path(sys.prefix) / "share/jupyter/lab/settings/overrides.json"
    if not installed.is_file() or (json.loads(installed.read_text())
                                   != json.loads(OVERRIDES.read_text())):
        pytest.fail(f"{installed} is missing or differs from {OVERRIDES}: "
                    "the virtualenv is older than the Makefile's install "
                    "step; run `make venv` (or copy the file there)")

    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "book"
    shutil.copytree(REPO / "book", root)
    dirs = {name: tmp / name for name in (
        "runtime", "config", "data", "user-settings", "workspaces",
        "ipython")}
    for d in dirs.values():
        d.mkdir()
    # The reader's answer to "get notified about official Jupyter news?":
    # no toast over the figures, no request to a news feed.
    notification = (dirs["user-settings"] / "@jupyterlab"
                    / "apputils-extension"
                    / "notification.jupyterlab-settings")
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps(
        {"fetchNews": "false", "checkForUpdates": False}))

    env = dict(os.environ)
    for var in ("CALC_NN_STATIC", "PLOTLY_RENDERER", "JUPYTERLAB_DIR",
                "JUPYTER_PATH", "JUPYTER_CONFIG_PATH"):
        env.pop(var, None)
    env.update({
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_DATA_DIR": str(dirs["data"]),
        "JUPYTERLAB_SETTINGS_DIR": str(dirs["user-settings"]),
        "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
        "IPYTHONDIR": str(dirs["ipython"]),
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    port = _free_port()
    cmd = [str(jupyter), "lab", "--no-browser",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
           "--ServerApp.port_retries=0",
           "--IdentityProvider.token=", "--ServerApp.password=",
           "--ServerApp.disable_check_xsrf=True",
           f"--notebook-dir={root}",
           f"--LabApp.user_settings_dir={dirs['user-settings']}",
           f"--LabApp.workspaces_dir={dirs['workspaces']}",
           "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class="
           "jupyterlab.handlers.announcements.NeverCheckForUpdate",
           "--LabApp.expose_app_in_browser=True"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI run as root
    log = tmp / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    server = LabServer(url=f"http://127.0.0.1:{port}/", root=root, log=log,
                       process=proc)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with code {proc.returncode}"
                            f":\n{server.log_tail()}")
            try:
                if _get(server.url + "api/status", timeout=2)[0] == 200:
                    break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter lab did not answer within "
                            f"{SERVER_START_S} s:\n{server.log_tail()}")
            time.sleep(0.25)
        # The server applies the venv's overrides (schema defaults).
        _, body = _get(server.url + "lab/api/settings/"
                       "@jupyterlab/docmanager-extension:plugin")
        viewers = (json.loads(body)["schema"]["properties"]
                   ["defaultViewers"].get("default", {}))
        expected = json.loads(OVERRIDES.read_text())[
            "@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
        if viewers != expected:
            pytest.fail(f"JupyterLab does not apply {installed}: its default "
                        f"viewers are {viewers}, expected {expected}")
        yield server
    finally:
        _stop(server)


def _stop(server: LabServer) -> None:
    """Shut the server and its kernels down, then make sure."""
    proc = server.process
    if proc.poll() is None:
        with contextlib.suppress(Exception):
            req = urllib.request.Request(server.url + "api/shutdown",
                                         method="POST", data=b"")
            urllib.request.urlopen(req, timeout=5).close()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


# ----------------------------------------------------------------- page

@dataclasses.dataclass
class LiveChapter:
    """The chapter opened and run in JupyterLab, with what went wrong."""

    page: object
    opened_as: str = ""               # how /lab/tree/<chapter> opened it
    documents: list = dataclasses.field(default_factory=list)  # main area
    cells: list = dataclasses.field(default_factory=list)   # after Run All
    run_seconds: float = 0.0
    blocked: list = dataclasses.field(default_factory=list)
    console: list = dataclasses.field(default_factory=list)  # (type, text)
    page_errors: list = dataclasses.field(default_factory=list)
    http_errors: list = dataclasses.field(default_factory=list)

    def mark(self) -> tuple[int, int]:
        return len(self.console), len(self.page_errors)

    def errors_since(self, mark) -> list[str]:
        n_console, n_errors = mark
        return ([f"console {kind}: {text}"
                 for kind, text in self.console[n_console:]
                 if kind == "error" or WIDGET_ERRORS.search(text)]
                + [f"uncaught exception: {e}"
                   for e in self.page_errors[n_errors:]])

    def wait_for_redraw(self, out, before: list, what: str, shot: str,
                        mark) -> None:
        """Wait until the lines drawn in ``out`` differ from ``before``;
        else save screenshot ``shot`` and fail saying ``what`` did not
        redraw, with the errors since ``mark``."""
        try:
            self.page.wait_for_function(JS_PATHS_CHANGED,
                                        arg=[out.element_handle(), before],
                                        timeout=REDRAW_TIMEOUT_MS)
        except Exception:
            screenshot(out, shot)
            pytest.fail(f"{what} did not redraw the figure within "
                        f"{REDRAW_TIMEOUT_MS // 1000} s; errors: "
                        f"{self.errors_since(mark)}")

    def press(self, slider, keys: list[str], out, before: list,
              what: str, shot: str, mark) -> None:
        """Focus the handle of ``slider`` (an ipywidgets slider), press
        ``keys``, and wait for the figure in ``out`` to redraw (see
        :meth:`wait_for_redraw`)."""
        slider.locator(".noUi-handle").focus()
        for key in keys:
            self.page.keyboard.press(key)
        self.wait_for_redraw(out, before, what, shot, mark)

    def cell(self, index: int):
        return self.page.locator(f'[data-live-cell="{index}"]')

    def explore_cells(self) -> list[dict]:
        return [c for c in self.cells if c["type"] == "code"
                and re.search(r"(?m)^\s*explore\(", c["source"])]

    def figure_output(self, control_label: str):
        """The output (controls and figure) of the explore cell that has a
        control labelled ``control_label``."""
        label = self.page.locator(".widget-label", has_text=re.compile(
            rf"^{re.escape(control_label)}$"))
        out = self.page.locator(".jp-NotebookPanel .jp-OutputArea-output",
                                has=label)
        assert out.count() == 1, (
            f"expected one figure with a control {control_label!r}, found "
            f"{out.count()}")
        return out


@pytest.fixture(scope="module")
def chapter(lab_server, browser) -> LiveChapter:
    """The chapter opened at /lab/tree/<chapter> and run with the menu."""
    for old in SCREENSHOTS.glob("live-*.png"):
        old.unlink()
    with _open_chapter(lab_server, browser, CHAPTER, "live-") as rec:
        yield rec


@contextlib.contextmanager
def _open_chapter(lab_server, browser, path: str, shots: str,
                  workspace: str = ""):
    """Open ``book/<path>`` at /lab/tree/<path> (or in a JupyterLab
    ``workspace`` of that name), run it with the menu and yield the
    :class:`LiveChapter`; screenshots are named ``<shots>*.png``."""
    context = browser.new_context(viewport=DESKTOP)
    rec = LiveChapter(page=None)
    block_the_internet(context, rec.blocked)
    page = context.new_page()
    rec.page = page
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.on("console", lambda m: rec.console.append((m.type, m.text)))
    page.on("pageerror", lambda e: rec.page_errors.append(str(e)))
    page.on("response", lambda r: rec.http_errors.append(
        f"HTTP {r.status}: {r.request.method} {r.url}")
        if r.status >= 400 else None)

    def fail(msg):
        with contextlib.suppress(Exception):
            screenshot(page, shots + "failure.png")
        pytest.fail(f"{msg}\nuncaught exceptions: {rec.page_errors}\n"
                    f"console errors: "
                    f"{[t for k, t in rec.console if k == 'error']}\n"
                    f"end of the server log:\n{lab_server.log_tail(15)}")

    try:
        page.goto(lab_server.url + (
            f"lab/workspaces/{workspace}/" if workspace else "lab/")
            + "tree/" + path)
        try:
            handle = page.wait_for_function(
                f"(path) => ({JS_FIND_PANEL})(path)[0]", arg=path,
                timeout=UI_TIMEOUT_MS)
        except Exception:
            fail(f"JupyterLab did not open {path} within "
                 f"{UI_TIMEOUT_MS // 1000} s")
        rec.opened_as = handle.json_value()
        rec.documents = page.evaluate(JS_DOCUMENTS)
        if rec.opened_as != "notebook":
            # test_chapter_opens_as_notebook reports it; the widgets can
            # still be checked with the plain notebook viewer.
            page.evaluate("(path) => window.jupyterapp.commands.execute("
                          "'docmanager:open', {path, factory: 'Notebook'})",
                          path)
            try:
                page.wait_for_function(
                    f"(path) => ({JS_FIND_PANEL})(path).includes('notebook')",
                    arg=path)
            except Exception:
                fail(f"{path} opened as a {rec.opened_as}, and not even "
                     "JupyterLab's notebook viewer opens it")
        try:
            page.wait_for_function(JS_KERNEL_READY, timeout=60_000)
        except Exception:
            fail(f"the kernel of {path} is not ready after 60 s: "
                 f"{page.evaluate(JS_KERNEL)}")
        page.evaluate(JS_ACTIVATE)

        # Run > Run All Cells, as a reader does
        start = time.monotonic()
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        try:
            page.wait_for_function(JS_ANY_STARTED, timeout=15_000)
        except Exception:
            fail("Run > Run All Cells started no cell within 15 s")
        try:
            page.wait_for_function(
                f"() => ({JS_EXECUTION_COUNTS})().every((n) => n !== null)"
                f" && ({JS_KERNEL_READY})()", timeout=RUN_ALL_TIMEOUT_MS)
        except Exception:
            counts = page.evaluate(JS_EXECUTION_COUNTS)
            fail(f"the chapter did not finish within "
                 f"{RUN_ALL_TIMEOUT_MS // 1000} s; execution counts: "
                 f"{counts}, kernel: {page.evaluate(JS_KERNEL)}")
        rec.run_seconds = time.monotonic() - start
        rec.cells = page.evaluate(JS_CELLS)
        # a view of the notebook at its first figure
        first = rec.explore_cells()
        if first:
            out = rec.cell(first[0]["index"]).locator(".jp-OutputArea")
            out.scroll_into_view_if_needed()
            page.wait_for_timeout(300)  # let content-visibility lay out
            out.scroll_into_view_if_needed()
            screenshot(page, shots + "notebook.png")
        yield rec
    finally:
        context.close()


# ----------------------------------------------------------------- tests

def test_chapter_opens_as_notebook(chapter):
    """/lab/tree/<chapter> opens the MyST chapter as a notebook (jupytext's
    viewer, made the default by etc/jupyterlab/overrides.json)."""
    load_errors = list(chapter.page_errors) + [
        t for k, t in chapter.console
        if k == "error" or "Failed to create module" in t
        or "Document viewer" in t or "Failed to set default viewer" in t]
    assert chapter.opened_as == "notebook", (
        f"JupyterLab opened {CHAPTER} as a {chapter.opened_as}, not as a "
        "notebook. Messages of the page while loading:\n  "
        + "\n  ".join(load_errors[:8]))


def test_all_cells_ran_without_errors(chapter):
    """Every code cell has an execution count and no error or stderr
    output."""
    code = [c for c in chapter.cells if c["type"] == "code"]
    assert code, "the notebook has no code cells"
    missing = [c["index"] for c in code if c["execution_count"] is None]
    assert not missing, f"cells never executed: {missing}"
    bad = []
    for c in code:
        for o in c["outputs"]:
            if o.get("output_type") == "error":
                bad.append(f"cell {c['index']}: {o.get('ename')}: "
                           f"{o.get('evalue')}")
            elif o.get("output_type") == "stream" and o.get("name") == \
                    "stderr":
                text = "".join(o.get("text", ""))
                bad.append(f"cell {c['index']} stderr: {text[:500]}")
    assert not bad, "outputs with errors:\n" + "\n".join(bad)
    shown = chapter.page.locator(
        '.jp-NotebookPanel .jp-OutputArea-output'
        '[data-mime-type="application/vnd.jupyter.stderr"]')
    assert shown.count() == 0, (
        "error boxes on the page: "
        + " | ".join(t[:300] for t in shown.all_inner_texts()))


def test_every_figure_is_a_live_widget(chapter):
    """Each explore() cell shows ipywidgets controls over a drawn plotly
    FigureWidget, and no widget error."""
    cells = chapter.explore_cells()
    assert cells, "no explore() cell found in the chapter"
    problems = []
    for c in cells:
        where = f"cell {c['index']} ({' '.join(c['source'].split())[:60]})"
        mimes = [set(o.get("data", {})) for o in c["outputs"]]
        views = [m for m in mimes
                 if "application/vnd.jupyter.widget-view+json" in m]
        if len(views) != 1:
            problems.append(f"{where}: outputs {mimes}, expected one widget "
                            "view (is CALC_NN_STATIC set in the kernel?)")
            continue
        out = chapter.cell(c["index"]).locator(".jp-OutputArea")
        out.scroll_into_view_if_needed()
        try:
            out.locator(".js-plotly-plot svg.main-svg").first.wait_for(
                state="visible", timeout=REDRAW_TIMEOUT_MS)
        except Exception:
            pass  # reported below with what is there
        stats = out.evaluate(JS_FIGURE_STATS)
        if "Error displaying widget" in stats["text"] or \
                "Error rendering" in stats["text"]:
            problems.append(f"{where}: {stats['text']!r}")
        if stats["boxes"] < 1 or stats["controls"] < 1:
            problems.append(f"{where}: no ipywidgets controls ({stats})")
        if stats["plots"] != 1 or stats["svg_width"] < 100 or \
                stats["svg_height"] < 100:
            problems.append(f"{where}: no plotly figure drawn ({stats})")
        elif stats["traces"] < 1 or stats["drawn"] < 1:
            problems.append(f"{where}: the figure has no drawn trace "
                            f"({stats})")
    assert not problems, "\n".join(problems)


def test_buttons_redraw_the_figure(chapter):
    """Clicking "ReLU" above the first figure redraws its curves."""
    from playwright.sync_api import expect

    out = chapter.figure_output("function")
    out.scroll_into_view_if_needed()
    before = out.evaluate(JS_LINE_PATHS)
    assert before and all(before), f"no line drawn before the click: {before}"
    screenshot(out, "live-function-before.png")
    mark = chapter.mark()

    button = out.get_by_role("button", name="ReLU", exact=True)
    button.click()
    chapter.wait_for_redraw(out, before, "clicking ReLU",
                            "live-function-after.png", mark)
    # the title comes in the same update as the curves
    expect(out.locator(".js-plotly-plot .gtitle")).to_have_text(
        re.compile(r"^ReLU"), timeout=REDRAW_TIMEOUT_MS)
    screenshot(out, "live-function-after.png")
    active = out.locator(".widget-toggle-button.mod-active").all_inner_texts()
    assert [t.strip() for t in active] == ["ReLU"], active
    assert not chapter.errors_since(mark), chapter.errors_since(mark)


def test_slider_redraws_the_figure(chapter):
    """Three presses of the right arrow key on the "depth D" slider move it
    three steps and redraw the vanishing-gradient figure."""
    page = chapter.page
    out = chapter.figure_output("depth D")
    slider = out.locator(".widget-slider", has=page.locator(
        ".widget-label", has_text=re.compile(r"^depth D$")))
    readout = slider.locator(".widget-readout")
    out.scroll_into_view_if_needed()
    start = int(readout.text_content())
    before = out.evaluate(JS_LINE_PATHS)
    assert before and all(before), f"no line drawn before: {before}"
    screenshot(out, "live-depth-before.png")
    mark = chapter.mark()

    chapter.press(slider, ["ArrowRight"] * 3, out, before,
                  "moving the slider three steps", "live-depth-after.png",
                  mark)
    # the last of the three updates: trace 0 (top panel, sigmoid) has one
    # point per layer, 0..n
    page.wait_for_function(
        "([gd, n]) => (gd.data[0].x || []).length === n + 1",
        arg=[out.locator(".js-plotly-plot").element_handle(), start + 3],
        timeout=REDRAW_TIMEOUT_MS)
    screenshot(out, "live-depth-after.png")
    assert readout.text_content().strip() == str(start + 3)
    # the figure's text description, under it, is the new state's
    from calc_nn import plots
    from calc_nn.widgets import _description

    weight = out.locator(".widget-slider", has=page.locator(
        ".widget-label", has_text=re.compile(r"^weight w$")))
    w = float(weight.locator(".widget-readout").text_content())
    want = _description(plots.gradient_through_depth(depth=start + 3, w=w))
    shown = out.locator(".calc-nn-description")
    assert want, "gradient_through_depth has no description"
    page.wait_for_function("([el, t]) => el.textContent === t",
                           arg=[shown.element_handle(), want],
                           timeout=REDRAW_TIMEOUT_MS)
    assert shown.get_attribute("aria-live") == "polite"
    assert not chapter.errors_since(mark), chapter.errors_since(mark)


def _shown_labels(fig: dict) -> dict:
    """The texts and colours a reader sees: title, axis titles, trace names
    and colours."""
    def get(obj, dotted):
        for part in dotted.split("."):
            if not isinstance(obj, dict):
                return None
            obj = obj.get(part)
        return obj

    layout = fig.get("layout", {})
    shown = {"title": get(layout, "title.text")}
    for key in sorted(layout):
        if re.fullmatch(r"[xy]axis\d*", key):
            shown[f"{key} title"] = get(layout, f"{key}.title.text")
    for i, t in enumerate(fig.get("data", [])):
        shown[f"trace {i} name"] = t.get("name")
        for prop in ("line.color", "marker.color"):
            value = get(t, prop)
            if value is None or isinstance(value, str):
                shown[f"trace {i} {prop}"] = value
    return shown


def _check_figure_matches(chapter, out, expected_fig):
    expected = _shown_labels(json.loads(expected_fig.to_json()))
    gd = out.locator(".js-plotly-plot").element_handle()
    try:
        chapter.page.wait_for_function(
            "([gd, t]) => gd.layout.title && gd.layout.title.text === t",
            arg=[gd, expected["title"]], timeout=REDRAW_TIMEOUT_MS)
    except Exception:
        pass  # the comparison below says what differs
    shown = _shown_labels(json.loads(gd.evaluate(JS_FIGURE)))
    return [f"{key}: shows {shown.get(key)!r}, the figure function draws "
            f"{value!r}" for key, value in expected.items()
            if shown.get(key) != value]


def test_live_figure_shows_the_selected_setting(chapter):
    """After a control moves, the figure is the one the figure function
    draws for the new setting: same title, axis titles, legend and colours
    (not only new curves under the old labels)."""
    from calc_nn import plots

    page = chapter.page
    mismatches = []

    out = chapter.figure_output("function")
    out.scroll_into_view_if_needed()
    out.get_by_role("button", name="Leaky ReLU", exact=True).click()
    names = {label: name for name, label in plots.LABELS.items()}
    mismatches += [f"function = Leaky ReLU: {m}" for m in
                   _check_figure_matches(chapter, out,
                                         plots.function_and_derivative(
                                             names["Leaky ReLU"]))]
    screenshot(out, "live-function-leaky.png")

    out = chapter.figure_output("depth D")
    out.scroll_into_view_if_needed()
    slider = out.locator(".widget-slider", has=page.locator(
        ".widget-label", has_text=re.compile(r"^depth D$")))
    slider.locator(".noUi-handle").focus()
    page.keyboard.press("End")
    readout = slider.locator(".widget-readout")
    page.wait_for_function("(el) => el.textContent.trim() === '30'",
                           arg=readout.element_handle(),
                           timeout=REDRAW_TIMEOUT_MS)
    weight = out.locator(".widget-slider", has=page.locator(
        ".widget-label", has_text=re.compile(r"^weight w$")))
    w = float(weight.locator(".widget-readout").text_content())
    mismatches += [f"depth D = 30, weight w = {w:g}: {m}" for m in
                   _check_figure_matches(chapter, out,
                                         plots.gradient_through_depth(
                                             depth=30, w=w))]
    screenshot(out, "live-depth-30.png")
    assert not mismatches, (
        "the live figure keeps labels of the default setting:\n"
        + "\n".join(mismatches))


def test_no_browser_errors(chapter):
    """No uncaught exception, no console error, no request to the internet,
    no HTTP error from the server, in the whole session (load, run,
    interactions). Version warnings of extensions are reported as a pytest
    warning: JupyterLab uses its own copy of the module then."""
    warned = [t for k, t in chapter.console
              if k == "warning" and VERSION_WARNINGS.search(t)]
    if warned:
        wanted = sorted({m.group(1) for t in warned for m in re.finditer(
            r"(?:required|needs) (\^?[0-9][\w.\-]*)", t)})
        warnings.warn(UserWarning(
            f"{len(warned)} module-federation version warnings: extensions "
            f"built for JupyterLab packages {', '.join(wanted)} run on the "
            "installed ones; first: " + warned[0].splitlines()[0]))
    problems = ([f"request to the internet (blocked): {u}"
                 for u in chapter.blocked]
                + [f"uncaught exception: {e}" for e in chapter.page_errors]
                + [f"console error: {t}" for k, t in chapter.console
                   if k == "error"]
                + [f"widget problem: {t}" for k, t in chapter.console
                   if k != "error" and WIDGET_ERRORS.search(t)]
                + chapter.http_errors)
    assert not problems, "\n".join(p[:600] for p in problems)


# ----------------------------------------------------------------- optimizers

OPTIM_CHAPTER = "optimizers.md"
JS_TRACE_XY = """([gd, i]) => ({
  name: gd.data[i].name, visible: gd.data[i].visible,
  x: Array.from(gd.data[i].x || [], (v) => (v === null ? NaN : Number(v))),
  y: Array.from(gd.data[i].y || [], (v) => (v === null ? NaN : Number(v))),
  title: gd.layout.title && gd.layout.title.text})"""


@pytest.fixture(scope="module")
def optim_chapter(lab_server, browser) -> LiveChapter:
    """book/optimizers.md opened and run in the same JupyterLab."""
    for old in SCREENSHOTS.glob("live-optim-*.png"):
        old.unlink()
    # A workspace of its own: in the default one, which the first chapter's
    # page saved, this page would restore that notebook too and connect to
    # its kernel and widget models (CI saw "[anywidget] Failed to
    # initialize model" three times, then a 30 s timeout opening this one)
    with _open_chapter(lab_server, browser, OPTIM_CHAPTER, "live-optim-",
                       workspace="optimizers") as rec:
        yield rec


def _xy_close(shown: dict, trace) -> bool:
    import numpy as np

    for axis in ("x", "y"):
        a = np.asarray(shown[axis], float)
        b = np.asarray(getattr(trace, axis), float)
        if a.shape != b.shape or not np.allclose(a, b, rtol=1e-6,
                                                 atol=1e-9, equal_nan=True):
            return False
    return True


def test_optimizer_explorer_learning_rate_slider_moves_trajectories(
        optim_chapter):
    """In the optimizers chapter run in JupyterLab, moving the learning-rate
    slider of the bowl explorer one step (0.3 -> 0.6) redraws the
    trajectories: the SVG paths change, and plotly's data of every path
    (gd.data, the FigureWidget's traces) becomes the figure function's
    for lr = 0.6. Then the live-only "optimizers" buttons hide two runs."""
    from calc_nn.plots import optimizer_figures as plots

    chapter = optim_chapter
    page = chapter.page
    # opened in a workspace of its own, the first chapter not restored
    assert chapter.documents == [OPTIM_CHAPTER], chapter.documents
    code = [c for c in chapter.cells if c["type"] == "code"]
    missing = [c["index"] for c in code if c["execution_count"] is None]
    errors = [c["index"] for c in code for o in c["outputs"]
              if o.get("output_type") == "error"]
    assert not missing and not errors, (missing, errors)
    bowl = [c for c in chapter.explore_cells()
            if "explorer_figure(" in c["source"] and '"quadratic"' in
            c["source"]]
    assert len(bowl) == 1, [c["source"][:80] for c in
                            chapter.explore_cells()]
    out = chapter.cell(bowl[0]["index"]).locator(".jp-OutputArea")
    out.scroll_into_view_if_needed()
    out.locator(".js-plotly-plot svg.main-svg").first.wait_for(
        state="visible", timeout=REDRAW_TIMEOUT_MS)
    gd = out.locator(".js-plotly-plot").element_handle()
    slider = out.locator(".widget-slider", has=page.locator(
        ".widget-label", has_text=re.compile(r"^learning rate η$")))
    readout = slider.locator(".widget-readout")
    assert readout.text_content().strip() == "0.3"
    default = plots.explorer_figure("quadratic", 0.3, 0.5, n_steps=80)
    paths = {i: t for i, t in enumerate(default.data)
             if t.type == "scatter" and t.mode == "lines+markers"}
    assert [t.name for t in paths.values()] == [
        "GD", "momentum", "RMSprop", "Adam"]
    before = {i: page.evaluate(JS_TRACE_XY, [gd, i]) for i in paths}
    mismatch = [i for i, t in paths.items() if not _xy_close(before[i], t)]
    assert not mismatch, f"default traces differ from the figure: {mismatch}"
    drawn = out.evaluate(JS_LINE_PATHS)
    screenshot(out, "live-optim-before.png")
    mark = chapter.mark()

    chapter.press(slider, ["ArrowRight"], out, drawn,
                  "moving the learning-rate slider", "live-optim-after.png",
                  mark)
    page.wait_for_function(
        "([gd, t]) => gd.layout.title.text.startsWith(t)",
        arg=[gd, "quadratic bowl, κ = 10, η = 0.6"],
        timeout=REDRAW_TIMEOUT_MS)
    assert readout.text_content().strip() == "0.6"
    after = {i: page.evaluate(JS_TRACE_XY, [gd, i]) for i in paths}
    expected = plots.explorer_figure("quadratic", 0.6, 0.5, n_steps=80)
    unchanged = [paths[i].name for i in paths
                 if after[i]["x"] == before[i]["x"]]
    assert not unchanged, f"trajectories that did not change: {unchanged}"
    wrong = [paths[i].name for i in paths
             if not _xy_close(after[i], expected.data[i])]
    assert not wrong, (f"trajectories that are not the figure function's "
                       f"for lr = 0.6: {wrong}")
    assert after[1]["title"] == expected.layout.title.text
    screenshot(out, "live-optim-after.png")

    # a live-only control: the line-up buttons hide GD and momentum
    out.get_by_role("button", name="RMSprop vs Adam", exact=True).click()
    page.wait_for_function("(gd) => gd.data[1].visible === false",
                           arg=gd, timeout=REDRAW_TIMEOUT_MS)
    shown = {t["name"]: t["visible"] for t in
             (page.evaluate(JS_TRACE_XY, [gd, i]) for i in paths)}
    assert shown == {"GD": False, "momentum": False, "RMSprop": True,
                     "Adam": True}, shown
    screenshot(out, "live-optim-lineup.png")
    problems = (chapter.errors_since(mark) + chapter.http_errors
                + [f"blocked: {u}" for u in chapter.blocked])
    assert not problems, problems
