"""The built book works in a real browser, offline.

Each page of the book is opened in headless Chromium (Debian's
``/usr/bin/chromium`` driven by Playwright) from a local ``http.server``.
Every request that does not go to 127.0.0.1 is aborted and recorded: the
site must not need the internet. On every page:

* no console error and no uncaught JavaScript exception;
* every plotly figure is drawn (an ``svg.main-svg`` in each
  ``div.calc-nn-figure``);
* MathJax typesets every formula, without a MathJax error;
* a full-page screenshot lands in ``_build/screenshots/`` of the repository;
* every plotly slider is moved and every button menu clicked with the mouse,
  and what is drawn must change.

``test_multi_control_figure`` checks the mechanism behind figures with
several controls (``calc_nn_plotly.js`` applying precomputed states) on a
page of its own, against the values computed in Python.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import http.server
import json
import math
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu",
                 "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 900}
LOAD_TIMEOUT_MS = 30_000
CHANGE_TIMEOUT_MS = 5_000
REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO / "_build" / "screenshots"

# What a figure draws: the geometry of its traces (lines, markers, bars,
# fills, ...) and the pictures of its heatmaps (an <image> whose href is
# the rendered PNG), which must change when a control moves.
JS_DRAWN = """(gd) => Array.from(
    gd.querySelectorAll('g.trace path, g.trace rect, g.hm image'),
    (el) => el.getAttribute('d') || el.getAttribute('href') ||
        el.getAttribute('xlink:href') || [el.getAttribute('x'),
        el.getAttribute('y'), el.getAttribute('width'),
        el.getAttribute('height')].join(','))"""
# The figure's data as plotly holds it (second check).
JS_DATA = "(gd) => JSON.stringify(gd.data)"
# A trace array of gd.data as plain numbers, decoding plotly's base64 form
# ({dtype, bdata}) that newPlot leaves in gd.data until the first restyle.
JS_TRACE_ARRAY = """([gd, i, key]) => {
  const v = gd.data[i][key];
  if (v && typeof v === 'object' && 'bdata' in v) {
    const bin = atob(v.bdata), bytes = new Uint8Array(bin.length);
    for (let k = 0; k < bin.length; k++) { bytes[k] = bin.charCodeAt(k); }
    const T = {f8: Float64Array, f4: Float32Array, i1: Int8Array,
               u1: Uint8Array, i2: Int16Array, u2: Uint16Array,
               i4: Int32Array, u4: Uint32Array}[v.dtype];
    return Array.from(new T(bytes.buffer));
  }
  return v == null ? null : Array.from(v);
}"""
# Formulas MathJax typeset with an error (merror) or with an undefined
# macro (its "noundefined" package draws those as red text, no merror).
JS_MATH_ERRORS = r"""() => {
  const bad = [];
  for (const item of MathJax.startup.document.math) {
    let why = null;
    item.root.walkTree((node) => {
      if (why) { return; }
      if (node.isKind('merror')) {
        why = 'MathJax error ' + (node.attributes.get('data-mjx-error') || '');
      } else if (node.isKind('mtext') &&
                 node.attributes.get('mathcolor') === 'red' &&
                 node.getText().startsWith('\\')) {
        why = 'undefined macro ' + node.getText();
      }
    });
    if (why) { bad.push(item.math + ' -> ' + why); }
  }
  return bad;
}"""
JS_CONTROLS = """(gd) => ({
  sliders: (gd.layout.sliders || []).map((s) => ({
    visible: s.visible !== false, active: s.active || 0,
    steps: (s.steps || []).filter((t) => t.visible !== false).length})),
  menus: (gd.layout.updatemenus || []).map((m) => ({
    visible: m.visible !== false, active: m.active === undefined ? 0
      : m.active, type: m.type || 'dropdown',
    buttons: (m.buttons || []).filter((b) => b.visible !== false).length}))
})"""


# ----------------------------------------------------------------- helpers

@pytest.fixture(scope="module")
def browser(chromium):
    """One headless Chromium for this module. Module scope: a sync
    Playwright instance runs an asyncio loop until it stops, and another
    module (test_live.py) starts its own afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium),
                                     args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - stdlib name
        pass


@contextlib.contextmanager
def serve(directory: Path):
    """Serve ``directory`` on 127.0.0.1 (a free port) in a thread; yields
    the base URL (ending in "/")."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def site(built_book):
    """Base URL of the built book, served locally."""
    if not (built_book.html / "index.html").is_file():
        pytest.fail("the book did not build (see test_book_build.py); end "
                    "of the build log:\n"
                    + "\n".join(built_book.log.splitlines()[-30:]))
    with serve(built_book.html) as url:
        yield url


@dataclasses.dataclass
class OfflinePage:
    """A Playwright page whose problems are recorded for the assertions."""

    page: object
    blocked: list = dataclasses.field(default_factory=list)
    console_errors: list = dataclasses.field(default_factory=list)
    page_errors: list = dataclasses.field(default_factory=list)
    bad_responses: list = dataclasses.field(default_factory=list)

    def problems(self) -> list[str]:
        return ([f"request to the internet (blocked): {u}"
                 for u in self.blocked]
                + [f"console error: {m}" for m in self.console_errors]
                + [f"uncaught exception: {e}" for e in self.page_errors]
                + [f"HTTP {s}: {u}" for s, u in self.bad_responses])


@contextlib.contextmanager
def offline_page(browser):
    """A fresh browser context and page: requests to anything but
    127.0.0.1 are aborted and recorded, as are console errors, uncaught
    exceptions and HTTP error responses."""
    context = browser.new_context(viewport=VIEWPORT)
    rec = OfflinePage(page=None)

    def route(r):
        url = r.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob") or parts.hostname == "127.0.0.1":
            r.continue_()
        else:
            rec.blocked.append(url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.set_default_timeout(LOAD_TIMEOUT_MS)
    page.on("console", lambda m: m.type == "error" and rec.console_errors
            .append(f"{m.text} ({m.location.get('url', '')})"))
    page.on("pageerror", lambda e: rec.page_errors.append(str(e)))
    page.on("response", lambda r: r.status >= 400 and rec.bad_responses
            .append((r.status, r.url)))
    rec.page = page
    try:
        yield rec
    finally:
        context.close()


def _center(box) -> tuple[float, float]:
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def _wait_for_change(page, gd, before_drawn: list[str]) -> None:
    """Wait until the figure draws something else (or time out quietly:
    the caller asserts)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            f"([gd, before]) => JSON.stringify(({JS_DRAWN})(gd)) !== before",
            arg=[gd, json.dumps(before_drawn)], timeout=CHANGE_TIMEOUT_MS)
    except PlaywrightTimeout:
        pass
    page.wait_for_timeout(100)  # let a transition finish


def move_slider(page, fig, k: int, target: int) -> None:
    """Drag the grip of the k-th visible slider of ``fig`` to step
    ``target`` with the mouse."""
    group = fig.locator("g.slider-container g.slider-group").nth(k)
    group.scroll_into_view_if_needed()
    rail = group.locator("rect.slider-rail-rect").bounding_box()
    grip = group.locator("rect.slider-grip-rect").bounding_box()
    tick = group.locator("rect.slider-tick-rect").nth(target).bounding_box()
    assert rail and grip and tick, f"slider {k} is not displayed"
    page.mouse.move(*_center(grip))
    page.mouse.down()
    page.mouse.move(_center(tick)[0], _center(rail)[1], steps=8)
    page.mouse.up()


def click_button(page, fig, m: int, menu_type: str, target: int) -> None:
    """Click button ``target`` of the m-th visible menu of ``fig``."""
    header = fig.locator("g.updatemenu-container "
                         "g.updatemenu-header-group").nth(m)
    header.scroll_into_view_if_needed()
    if menu_type == "dropdown":  # open it, then pick from the list
        page.mouse.click(*_center(header.bounding_box()))
        button = fig.locator("g.updatemenu-dropdown-button-group "
                             "g.updatemenu-dropdown-button").nth(target)
    else:
        button = header.locator("g.updatemenu-button").nth(target)
    box = button.bounding_box()
    assert box, f"button {target} of menu {m} is not displayed"
    page.mouse.click(*_center(box))


def _other(active: int, n: int) -> int:
    """A step other than ``active``: the last one, or the first."""
    return n - 1 if active != n - 1 else 0


def _screenshot_path(book_page: str) -> Path:
    return SCREENSHOTS / Path(book_page).with_suffix(".png")


# ------------------------------------------------------------------- pages

def _open(rec: OfflinePage, url: str, redirects: bool = False) -> None:
    """Go to ``url``; with ``redirects``, wait for the page it redirects
    to (index.html is a ``<meta http-equiv="Refresh">`` redirect)."""
    page = rec.page
    page.goto(url, wait_until="load")
    if redirects:
        page.wait_for_url(lambda u: u != url, wait_until="load")


def _figures_ready(page) -> tuple[int, int]:
    """(figures, figures drawn) once all are drawn or after the timeout."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    js = """() => [...document.querySelectorAll('div.calc-nn-figure')]
        .every((d) => d.querySelector('svg.main-svg'))"""
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(js, timeout=LOAD_TIMEOUT_MS)
    figs = page.locator("div.calc-nn-figure")
    drawn = page.locator("div.calc-nn-figure:has(svg.main-svg)")
    return figs.count(), drawn.count()


def _mathjax_ready(page) -> str | None:
    """Wait for MathJax's first typesetting; an error message or None."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            "() => window.MathJax && MathJax.startup && "
            "MathJax.startup.promise", timeout=LOAD_TIMEOUT_MS)
    except PlaywrightTimeout:
        return "MathJax did not load"
    # a promise that never settles must not hang the test: poll a flag
    page.evaluate("""() => { MathJax.startup.promise.then(
        () => { window.__calcNNMath = 'done'; },
        (e) => { window.__calcNNMath = 'MathJax failed: ' + e; }); }""")
    try:
        handle = page.wait_for_function("() => window.__calcNNMath",
                                        timeout=LOAD_TIMEOUT_MS)
    except PlaywrightTimeout:
        return "MathJax did not finish typesetting"
    state = handle.json_value()
    return None if state == "done" else state


def test_page(browser, site, built_book, book_page):
    """Open one page offline; check figures, maths, controls, errors."""
    html_file = built_book.html / book_page
    assert html_file.is_file(), f"{book_page} was not built"
    with offline_page(browser) as rec:
        page = rec.page
        redirects = 'http-equiv="Refresh"' in html_file.read_text(
            encoding="utf-8")
        _open(rec, site + book_page, redirects)
        final = urlsplit(page.url).path.lstrip("/") or "index.html"
        source = (built_book.html / final).read_text(encoding="utf-8")
        failures = []

        # figures: every one declared in the HTML is drawn
        n_declared = len(re.findall(
            r'<div [^>]*class="[^"]*\bcalc-nn-figure\b', source))
        n_figs, n_drawn = _figures_ready(page)
        if n_figs != n_declared:
            failures.append(f"{n_declared} figures in {final} but "
                            f"{n_figs} div.calc-nn-figure in the page")
        if n_drawn != n_figs:
            failures.append(f"only {n_drawn} of {n_figs} figures drawn "
                            "(no svg.main-svg)")
        empty = page.evaluate("""() => [...document.querySelectorAll(
            'div.calc-nn-figure')].filter((gd) => !(gd.data || []).length)
            .map((gd) => gd.id)""")
        if empty:
            failures.append(f"figures without data: {empty}")
        foreign = page.locator(".plotly-graph-div:not(.calc-nn-figure)")
        if foreign.count():
            failures.append(f"{foreign.count()} plotly figures not drawn by "
                            "calc_nn's renderer (plotly's own HTML output?)")

        # maths: every formula typeset, no MathJax error
        n_math = page.locator(".math").count()
        if n_math:
            error = _mathjax_ready(page)
            if error:
                failures.append(error)
            untypeset = page.locator(".math:not(:has(mjx-container))")
            if untypeset.count():
                failures.append(
                    f"{untypeset.count()} of {n_math} formulas not typeset,"
                    f" first: {untypeset.first.inner_text()[:80]!r}")
            errors = page.locator(
                "mjx-container:has(mjx-merror, merror, [data-mjx-error])")
            if errors.count():
                failures.append(f"{errors.count()} formulas drawn as "
                                "MathJax errors (mjx-merror)")
            if not error:
                failures += [f"formula {m}"
                             for m in page.evaluate(JS_MATH_ERRORS)]

        shot = _screenshot_path(book_page)
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)

        # controls: each slider and button menu changes the drawing
        if n_drawn == n_figs:
            failures += _exercise_controls(page)

        failures += rec.problems()
        assert not failures, (f"{book_page} ({len(failures)} problems; "
                              f"screenshot {shot}):\n- "
                              + "\n- ".join(failures))


def _exercise_controls(page) -> list[str]:
    """Move every slider and click every button menu of every figure on
    the page with the mouse; list the ones that changed nothing."""
    failures = []
    figs = page.locator("div.calc-nn-figure")
    for i in range(figs.count()):
        fig = figs.nth(i)
        gd = fig.element_handle()
        name = f"figure {i + 1} (#{fig.get_attribute('id')})"
        ctl = page.evaluate(JS_CONTROLS, gd)
        visible_sliders = [s for s in ctl["sliders"] if s["visible"]]
        for k, s in enumerate(visible_sliders):
            if s["steps"] < 2:
                continue
            target = _other(s["active"], s["steps"])
            failures += _check_change(
                page, gd, f"{name}, slider {k + 1} to step {target + 1}",
                lambda: move_slider(page, fig, k, target),
                f"(gd) => (gd.layout.sliders.filter((s) => s.visible !== "
                f"false)[{k}].active || 0) === {target}")
        visible_menus = [m for m in ctl["menus"] if m["visible"]]
        for m, menu in enumerate(visible_menus):
            if menu["buttons"] < 2:
                continue
            target = _other(menu["active"], menu["buttons"])
            failures += _check_change(
                page, gd, f"{name}, menu {m + 1} button {target + 1}",
                lambda: click_button(page, fig, m, menu["type"], target),
                f"(gd) => gd.layout.updatemenus.filter((m) => m.visible "
                f"!== false)[{m}].active === {target}")
    return failures


def _check_change(page, gd, what: str, act, js_active: str) -> list[str]:
    """Do ``act`` (a mouse gesture); the control must now be at its
    target (``js_active``), and both the drawing and gd.data changed."""
    drawn, data = page.evaluate(JS_DRAWN, gd), page.evaluate(JS_DATA, gd)
    act()
    _wait_for_change(page, gd, drawn)
    failures = []
    if not page.evaluate(js_active, gd):
        failures.append(f"{what}: the control did not move there")
    if page.evaluate(JS_DRAWN, gd) == drawn:
        failures.append(f"{what}: the drawn traces did not change (same "
                        "picture; with autoranged axes only ticks moved?)")
    if page.evaluate(JS_DATA, gd) == data:
        failures.append(f"{what}: gd.data did not change")
    return failures


# ------------------------------------------------- several linked controls

def _multi_control_figure():
    """make_figure and the static figure explore() builds from it."""
    import numpy as np
    import plotly.graph_objects as go

    from calc_nn.widgets import Choice, Slider, explore

    funcs = {"sin": np.sin, "cos": np.cos, "tanh": np.tanh}

    def make_figure(a, kind):
        x = np.linspace(-3, 3, 41)
        return go.Figure([go.Scatter(x=x, y=funcs[kind](a * x))],
                         layout={"title": f"{kind}({a} x)"})

    fig = explore(make_figure,
                  [Slider("a", [0.5, 1.0, 1.5, 2.0], default=1.0),
                   Choice("kind", list(funcs), default="sin")],
                  mode="static")
    return make_figure, fig


@pytest.fixture
def multi_control_site(tmp_path):
    """A page with one explore() figure with a Slider and a Choice, drawn
    by plotly.min.js and calc_nn_plotly.js as on the book's pages."""
    import plotly

    import calc_nn.sphinxext
    from calc_nn.sphinxext import figure_html

    make_figure, fig = _multi_control_figure()
    plain = json.loads(fig.to_json())  # JSON-safe (no numpy arrays)
    static = Path(calc_nn.sphinxext.__file__).parent / "static"
    shutil.copy(Path(plotly.__file__).parent / "package_data" /
                "plotly.min.js", tmp_path)
    shutil.copy(static / "calc_nn_plotly.js", tmp_path)
    (tmp_path / "index.html").write_text(
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        "<link rel='icon' href='data:,'>"
        "<script src='plotly.min.js'></script>"
        "<script src='calc_nn_plotly.js'></script></head><body>\n"
        + figure_html(plain, "fig") + "</body></html>\n", encoding="utf-8")
    with serve(tmp_path) as url:
        yield url, make_figure, plain


def _assert_close(got, want, what: str) -> None:
    assert got is not None and len(got) == len(want), (
        f"{what}: {None if got is None else len(got)} values drawn, "
        f"{len(want)} expected")
    bad = [(i, g, w) for i, (g, w) in enumerate(zip(got, want))
           if g is None or not math.isclose(g, w, rel_tol=1e-4,
                                            abs_tol=1e-4)]
    assert not bad, f"{what}: {len(bad)} values differ, first " \
        f"(index, drawn, expected): {bad[:3]}"


def test_multi_control_figure(browser, multi_control_site):
    """Slider + buttons: the figure shows make_figure(a, kind) for the
    combination the reader picked with the mouse, whatever the order."""
    url, make_figure, plain = multi_control_site
    assert plain["layout"]["sliders"][0]["steps"][0]["method"] == "skip"
    assert "calc_nn" in plain["layout"]["meta"]
    a_values, kinds = [0.5, 1.0, 1.5, 2.0], ["sin", "cos", "tanh"]

    with offline_page(browser) as rec:
        page = rec.page
        _open(rec, url + "index.html")
        assert _figures_ready(page) == (1, 1), "the figure was not drawn"
        fig = page.locator("div.calc-nn-figure")
        gd = fig.element_handle()

        def shown(what):
            want = make_figure(a, kind)
            y = page.evaluate(JS_TRACE_ARRAY, [gd, 0, "y"])
            _assert_close(y, list(want.data[0].y), f"{what}: y")
            title = page.evaluate("(gd) => gd.layout.title.text", gd)
            assert title == want.layout.title.text, f"{what}: title"

        a, kind = 1.0, "sin"
        shown("initial state")
        steps = [("slider", 3), ("button", 2), ("slider", 0),
                 ("button", 1), ("slider", 2)]
        for control, index in steps:
            drawn = page.evaluate(JS_DRAWN, gd)
            if control == "slider":
                move_slider(page, fig, 0, index)
                a = a_values[index]
            else:
                click_button(page, fig, 0, "buttons", index)
                kind = kinds[index]
            _wait_for_change(page, gd, drawn)
            shown(f"after {control} -> a={a}, kind={kind}")
            assert page.evaluate(JS_DRAWN, gd) != drawn, (
                f"{control} {index}: the drawing did not change")
        assert not rec.problems(), "\n".join(rec.problems())


def test_figures_follow_dark_mode(browser, multi_control_site):
    """The theme's dark mode (html[data-theme=dark]) turns the figure dark,
    its text light; back to light restores the figure's own colours; the
    controls keep working in between."""
    url, make_figure, plain = multi_control_site
    js_colours = """(gd) => [gd._fullLayout.paper_bgcolor,
        gd._fullLayout.font.color, gd._fullLayout.xaxis.gridcolor]"""
    with offline_page(browser) as rec:
        page = rec.page
        _open(rec, url + "index.html")
        assert _figures_ready(page) == (1, 1), "the figure was not drawn"
        fig = page.locator("div.calc-nn-figure")
        gd = fig.element_handle()
        light = page.evaluate(js_colours, gd)
        page.evaluate("document.documentElement.dataset.theme = 'dark'")
        page.wait_for_function(
            "(gd) => gd._fullLayout.paper_bgcolor !== %r" % light[0], arg=gd,
            timeout=CHANGE_TIMEOUT_MS)
        dark = page.evaluate(js_colours, gd)
        assert dark == ["#121212", "#ced6dd", "#2c333b"], dark
        page.screenshot(path=str(SCREENSHOTS / "dark-mode-figure.png"))
        drawn = page.evaluate(JS_DRAWN, gd)
        move_slider(page, fig, 0, 3)
        _wait_for_change(page, gd, drawn)
        assert page.evaluate(js_colours, gd) == dark, "a state reset colours"
        page.evaluate("document.documentElement.dataset.theme = 'light'")
        page.wait_for_function(
            "(gd) => gd._fullLayout.paper_bgcolor === %r" % light[0], arg=gd,
            timeout=CHANGE_TIMEOUT_MS)
        assert page.evaluate(js_colours, gd) == light
        assert not rec.problems(), "\n".join(rec.problems())
