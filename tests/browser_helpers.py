"""What the browser tests share (test_browser.py, test_a11y.py,
test_live.py): Chromium's flags and the viewports, a page that records what
goes wrong while the internet is blocked, a local static server, waiting,
screenshots, and the JavaScript that reads a plotly figure.

The ``browser`` fixture itself (one headless Chromium per test module) is
in ``conftest.py``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import http.server
import json
import os
import threading
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO / "_build" / "screenshots"

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu",
                 "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--no-first-run"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
TABLET = {"width": 768, "height": 1024}
LOAD_TIMEOUT_MS = 30_000
CHANGE_TIMEOUT_MS = 5_000

# What a figure draws: the geometry, positions and colours of its traces
# (lines, markers, bars, fills, ...; a marker's place is its transform),
# their texts, and the pictures of its heatmaps
# (an <image> whose href is the rendered PNG), which must change when a
# control moves.
JS_DRAWN = """(gd) => Array.from(
    gd.querySelectorAll('g.trace path, g.trace rect, g.trace text, ' +
                        'g.hm image'),
    (el) => [el.getAttribute('d') || el.getAttribute('href') ||
        el.getAttribute('xlink:href') || [el.getAttribute('x'),
        el.getAttribute('y'), el.getAttribute('width'),
        el.getAttribute('height')].join(','), el.getAttribute('style'),
        el.getAttribute('transform'),  // where a marker or a label sits
        el.tagName === 'text' ? el.textContent : ''].join(' '))"""
# The figure's data as plotly holds it.
JS_DATA = "(gd) => JSON.stringify(gd.data)"


def launch(playwright, chromium: Path):
    """Debian's headless Chromium (never a downloaded browser)."""
    return playwright.chromium.launch(executable_path=str(chromium),
                                      args=CHROMIUM_ARGS, headless=True)


def block_the_internet(context, blocked: list) -> None:
    """Abort every request of ``context`` that does not go to 127.0.0.1
    (or a data:/blob: URL), and record its URL in ``blocked``."""
    def route(r):
        parts = urlsplit(r.request.url)
        if parts.scheme in ("data", "blob") or parts.hostname == "127.0.0.1":
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()
    context.route("**/*", route)


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
def offline_page(browser, viewport: dict = DESKTOP, dark: bool = False):
    """A fresh browser context and page at ``viewport``: requests to
    anything but 127.0.0.1 are aborted and recorded, as are console errors,
    uncaught exceptions and HTTP error responses. With ``dark``, the
    theme starts in dark mode (its choice is kept in localStorage)."""
    context = browser.new_context(viewport=viewport)
    if dark:
        context.add_init_script("localStorage.setItem('mode', 'dark');"
                                "localStorage.setItem('theme', 'dark');")
    rec = OfflinePage(page=None)
    block_the_internet(context, rec.blocked)
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


def open_page(rec: OfflinePage, url: str, redirects: bool = False) -> None:
    """Go to ``url``; with ``redirects``, wait for the page it redirects
    to (index.html is a ``<meta http-equiv="Refresh">`` redirect)."""
    page = rec.page
    page.goto(url, wait_until="load")
    if redirects:
        page.wait_for_url(lambda u: u != url, wait_until="load")


def wait_until(page, js: str, arg=None,
               timeout: int = CHANGE_TIMEOUT_MS) -> bool:
    """Wait until ``js`` (a function of ``arg``) is true; False after the
    timeout (the caller asserts and says what did not happen)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(js, arg=arg, timeout=timeout)
    except PlaywrightTimeout:
        return False
    return True


def wait_for_redraw(page, gd, before_drawn: list[str]) -> bool:
    """Wait until the figure ``gd`` draws something else than
    ``before_drawn`` (its :data:`JS_DRAWN`); False after the timeout."""
    changed = wait_until(
        page, f"([gd, before]) => JSON.stringify(({JS_DRAWN})(gd)) !== "
        "before", [gd, json.dumps(before_drawn)])
    page.wait_for_timeout(100)  # let a transition finish
    return changed


def figures_ready(page) -> tuple[int, int]:
    """(figures, figures drawn) once all are drawn or after the timeout."""
    wait_until(page, """() => [...document.querySelectorAll(
        'div.calc-nn-figure')].every((d) => d.querySelector('svg.main-svg')
        && d._calcNN)""", timeout=LOAD_TIMEOUT_MS)
    figs = page.locator("div.calc-nn-figure")
    drawn = page.locator("div.calc-nn-figure:has(svg.main-svg)")
    return figs.count(), drawn.count()


def screenshot(target, name: str | Path, **kwargs) -> Path:
    """Save a screenshot of ``target`` (a page or a locator) as
    ``_build/screenshots/<name>``, to look at.

    In CI (``CI`` set, as ``.ci/run`` sets it), where nobody looks at
    them, none is taken unless ``CALC_NN_SCREENSHOTS=1``: taking them is a
    third of the time of the narrow-screen tests. The path is returned
    either way."""
    path = SCREENSHOTS / name
    if os.environ.get("CI") and os.environ.get("CALC_NN_SCREENSHOTS") != "1":
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    target.screenshot(path=str(path), **kwargs)
    return path


def click_control(page, gd, k: int, target: int) -> None:
    """Move control ``k`` of the explorer of ``gd`` to position ``target``
    with the mouse: click its radio button, or click the range input's
    track where that position is."""
    block = gd.evaluate_handle("(gd) => gd.closest('.calc-nn-block')")
    inputs = block.query_selector_all(f'[data-calc-nn-control="{k}"]')
    if inputs[0].get_attribute("type") == "radio":
        label = inputs[target].evaluate_handle("(el) => el.nextElementSibling")
        label.scroll_into_view_if_needed()
        label.click()
        return
    slider = inputs[0]
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()
    n = int(slider.get_attribute("max")) + 1
    # the thumb's centre runs from half a thumb in from each end
    thumb = min(16.0, box["width"] / 4)
    x = box["x"] + thumb / 2 + (box["width"] - thumb) * target / max(n - 1,
                                                                     1)
    page.mouse.click(x, box["y"] + box["height"] / 2)


# Display formulas wider than their box (the column, less the equation
# number beside a labelled one): MathJax hides the rest behind a scrollbar
# that a reader does not see (the column is 688 px at 1280).
JS_MATH_TOO_WIDE = r"""() => [...document.querySelectorAll(
    'mjx-container[display="true"]')].filter(
  (m) => m.scrollWidth > m.clientWidth + 2
).map((m) => (m.closest('.math') || {}).id || (m.getAttribute('aria-label')
  || m.textContent).slice(0, 60))"""


# Display formulas drawn below MathJax's own size on a desktop page, where
# each fits the column at that size (the chapters break their formulas
# for it) and calc_nn_math.js must leave it alone. MathJax scales its font
# to the text's x-height (to 127% here) and sets that on the element; the
# script keeps it in data-calc-nn-size (it once threw it away, drawing
# every display formula at 79% of its size). Checked three ways: the
# script ran (the attribute is there), kept that size, and, where the
# page's paragraphs have inline formulas, the display formulas are as
# large as they are relative to the text around them.
JS_MATH_SHRUNK = r"""() => {
  const ratio = (m) => parseFloat(getComputedStyle(m).fontSize)
    / parseFloat(getComputedStyle(m.parentElement).fontSize);
  const name = (m) => (m.closest('.math') || {}).id
    || m.textContent.slice(0, 40);
  const inline = [...document.querySelectorAll(
    'article p mjx-container:not([display="true"])')].map(ratio)
    .sort((a, b) => a - b);
  const text = inline.length ? inline[Math.floor(inline.length / 2)] : 0;
  const problems = [];
  for (const m of document.querySelectorAll(
      'mjx-container[display="true"]')) {
    const own = m.getAttribute('data-calc-nn-size');
    if (own === null) {
      problems.push(`${name(m)}: calc_nn_math.js did not run on it`);
    } else if (m.style.fontSize !== own) {
      problems.push(`${name(m)}: scaled to ${m.style.fontSize} from `
        + `MathJax's ${own} (too wide for the desktop column?)`);
    } else if (ratio(m) < 0.99 * text) {
      problems.push(`${name(m)} at ${ratio(m).toFixed(3)} of its text's `
        + `size, inline formulas at ${text.toFixed(3)}`);
    }
  }
  return problems;
}"""
