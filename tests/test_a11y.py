"""Every reader can use every figure (issue 14), on the built book.

In headless Chromium, offline, on every page of the clean-copy build:

* **WCAG 2.1 AA.** axe-core (installed from npm by ``make tools``,
  injected from disk: no CDN) finds no violation of the WCAG 2.0/2.1 A and
  AA rules, in light and in dark mode.
* **Keyboard.** Tab reaches every control of every explorer, in order,
  with a visible focus ring; ArrowRight on the first one changes the
  plot's data and the live region announces the control, its value and
  the figure's new description.
* **Text alternatives.** Every figure has a non-empty accessible name and
  description (as Chromium's accessibility tree computes them), and an
  explorer's description changes when any of its controls moves.
* **Phone and tablet** (390 x 844, 768 x 1024): the page never scrolls
  sideways; in every figure, before and after a control moves, no two
  text elements (titles, axis titles, annotations, legend entries, tick
  labels, numbers in cells) intersect, each lies inside the figure, and
  legend entries lie inside the legend. Screenshots of each page and of
  each of its figures land in ``_build/screenshots/phone/`` and
  ``_build/screenshots/tablet/``.

The axe check in light mode, the keyboard and the text alternatives share
one loaded page per book page (``SharedPage``), in that order: each page
of the book takes 20-odd figures and several seconds to load.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest
from browser_helpers import (
    JS_DATA,
    JS_DRAWN,
    JS_MATH_TOO_WIDE,
    PHONE,
    REPO,
    TABLET,
    click_control,
    figures_ready,
    offline_page,
    open_page,
    screenshot,
    wait_for_redraw,
    wait_until,
)

pytestmark = pytest.mark.browser

AXE = REPO / ".tools" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# Two text boxes closer than this (CSS px) do not count as intersecting.
OVERLAP_TOLERANCE_PX = 1.0
# A text's SVG box is its font's ascent + descent; the letters fill less:
# the box minus these fractions of its height at the top (above capitals
# and digits) and at the bottom (most of the descent) is compared, so that
# the corner tick labels of two axes, whose boxes touch, do not count.
INK_TOP, INK_BOTTOM = 0.2, 0.15
TEXT_CHECK = (OVERLAP_TOLERANCE_PX, INK_TOP, INK_BOTTOM)

JS_AXE = """(tags) => axe.run(document, {
    runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})
  .then((r) => r.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => ({target: n.target.join(' '),
                                html: n.html.slice(0, 200),
                                why: n.failureSummary}))})))"""

# Text elements of a plotly figure as quadrilaterals in page coordinates
# (their SVG boxes through their transforms, so rotated tick labels are
# exact), and the problems: pairs that intersect, texts outside the figure,
# texts under the modebar, legend entries outside the legend's box.
JS_TEXT_PROBLEMS = """([gd, tol, inkTop, inkBottom]) => {
  const svg = gd.querySelector('svg.main-svg');
  if (!svg) { return ['not drawn']; }
  const root = gd.getBoundingClientRect();
  const quads = [];
  const quad = (el) => {
    const box = el.getBBox(), m = el.getScreenCTM();
    if (!m || box.width === 0 || box.height === 0) { return null; }
    const b = {x: box.x, width: box.width, y: box.y + inkTop * box.height,
               height: (1 - inkTop - inkBottom) * box.height};
    const pt = (x, y) => {
      const p = svg.createSVGPoint(); p.x = x; p.y = y;
      return p.matrixTransform(m);
    };
    return [pt(b.x, b.y), pt(b.x + b.width, b.y),
            pt(b.x + b.width, b.y + b.height), pt(b.x, b.y + b.height)];
  };
  for (const el of gd.querySelectorAll('svg text')) {
    const text = el.textContent.trim();
    if (!text || !el.getClientRects().length) { continue; }
    const st = getComputedStyle(el);
    if (st.visibility === 'hidden' || st.display === 'none' ||
        Number(st.opacity) === 0 || Number(st.fillOpacity) === 0) {
      continue;
    }
    const q = quad(el);
    if (q) { quads.push({el, text, q}); }
  }
  const sep = (a, b) => {  // separating axis test, with a tolerance
    for (const poly of [a, b]) {
      for (let i = 0; i < 4; i++) {
        const p = poly[i], r = poly[(i + 1) % 4];
        const nx = r.y - p.y, ny = p.x - r.x, len = Math.hypot(nx, ny);
        if (!len) { continue; }
        const proj = (pl) => pl.map((v) => (v.x * nx + v.y * ny) / len);
        const pa = proj(a), pb = proj(b);
        const overlap = Math.min(Math.max(...pa), Math.max(...pb)) -
                        Math.max(Math.min(...pa), Math.min(...pb));
        if (overlap <= tol) { return true; }
      }
    }
    return false;
  };
  const problems = [];
  for (const {text, q} of quads) {
    const out = q.some((v) => v.x < root.left - tol || v.x > root.right + tol
                       || v.y < root.top - tol || v.y > root.bottom + tol);
    if (out) { problems.push(`"${text}" is outside the figure`); }
  }
  for (let i = 0; i < quads.length; i++) {
    for (let j = i + 1; j < quads.length; j++) {
      if (!sep(quads[i].q, quads[j].q)) {
        problems.push(`"${quads[i].text}" overlaps "${quads[j].text}"`);
      }
    }
  }
  // the modebar: invisible until the pointer is over the figure (or a
  // finger taps it), then drawn over whatever text shares its box
  const bar = gd.querySelector('.modebar');
  const r = bar ? bar.getBoundingClientRect() : null;
  if (r && r.width) {
    const mq = [{x: r.left, y: r.top}, {x: r.right, y: r.top},
                {x: r.right, y: r.bottom}, {x: r.left, y: r.bottom}];
    for (const {text, q} of quads) {
      if (!sep(mq, q)) {
        problems.push(`the modebar (shown on hover) covers "${text}"`);
      }
    }
  }
  for (const legend of gd.querySelectorAll('g.legend')) {
    const bg = legend.querySelector('rect.bg');
    if (!bg) { continue; }
    const box = bg.getBoundingClientRect();
    for (const el of legend.querySelectorAll('text.legendtext')) {
      const r = el.getBoundingClientRect();
      if (!el.textContent.trim() || !r.width) { continue; }
      if (r.left < box.left - tol || r.right > box.right + tol ||
          r.top < box.top - tol || r.bottom > box.bottom + tol) {
        problems.push(`legend entry "${el.textContent.trim()}" is ` +
                      'outside the legend (cut off)');
      }
    }
  }
  return problems;
}"""
# Elements wider than the viewport that are not inside a scrolling box.
JS_TOO_WIDE = """() => {
  const w = document.documentElement.clientWidth, out = [];
  const scrolls = (el) => {
    for (let p = el.parentElement; p; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if (o === 'auto' || o === 'scroll' || o === 'hidden') { return true; }
    }
    return false;
  };
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.right > w + 1 && r.width > 0 && !scrolls(el) &&
        getComputedStyle(el).position !== 'fixed') {
      out.push(`${el.tagName.toLowerCase()}.${el.className.baseVal ?? el
        .className} (right edge ${Math.round(r.right)} px)`);
    }
  }
  return out.slice(0, 8);
}"""
# The positions of an explorer's controls, the figure's drawing and data,
# and the live region's text.
JS_SNAPSHOT = """(gd) => ({
  positions: calcNN.positions(gd), drawn: (%s)(gd), data: (%s)(gd),
  status: gd.closest('.calc-nn-block').querySelector('.calc-nn-status')
    .textContent})""" % (JS_DRAWN, JS_DATA)


@pytest.fixture(scope="module")
def axe_source() -> str:
    """axe-core's script, from ``make tools`` (a skip without it, a failure
    in CI)."""
    if not AXE.is_file():
        msg = ("axe-core is not installed: run `make tools` (needs node and "
               "npm)")
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return AXE.read_text(encoding="utf-8")


def _open_book_page(rec, site, built_book, book_page) -> None:
    html_file = built_book.html / book_page
    assert html_file.is_file(), f"{book_page} was not built"
    redirects = 'http-equiv="Refresh"' in html_file.read_text(
        encoding="utf-8")
    open_page(rec, site + book_page, redirects)
    n_figs, n_drawn = figures_ready(rec.page)
    assert n_figs == n_drawn, f"only {n_drawn} of {n_figs} figures drawn"


class SharedPage:
    """One desktop page in light mode per book page, loaded once for the
    checks that run on it in turn: axe in light mode (first, on the page
    as loaded), the keyboard, the text alternatives. Under ``make test`` a
    book page's tests run on one worker in their order
    (``conftest.ONE_WORKER_PER_PAGE``); elsewhere a test that asks for
    another page closes the open one and loads its own."""

    def __init__(self):
        self.key, self.stack, self.rec = None, None, None

    def get(self, browser, site, built_book, book_page):
        key = (id(browser), book_page)
        if key != self.key:
            self.close()
            self.stack = contextlib.ExitStack()
            try:
                self.rec = self.stack.enter_context(offline_page(browser))
                _open_book_page(self.rec, site, built_book, book_page)
            except BaseException:
                self.close()
                raise
            self.key = key
        return self.rec

    def close(self):
        if self.stack is not None:
            self.stack.close()
        self.key, self.stack, self.rec = None, None, None


SHARED = SharedPage()


@pytest.fixture(scope="module", autouse=True)
def _close_the_shared_page(browser):
    """Close the module's last shared page before its browser closes."""
    yield
    SHARED.close()


def _figures(page) -> list:
    figs = page.locator("div.calc-nn-figure")
    return [figs.nth(i).element_handle() for i in range(figs.count())]


def _explorers(page) -> list:
    return [gd for gd in _figures(page)
            if gd.evaluate("(gd) => !!gd._calcNN.explorer")]


def _name(gd) -> str:
    return f"#{gd.get_attribute('id')}"


# ------------------------------------------------------------------- WCAG

@pytest.mark.parametrize("mode", ["light", "dark"])
def test_axe_finds_no_wcag_violation(browser, site, built_book, book_page,
                                     axe_source, mode):
    """axe-core's WCAG 2.0/2.1 A and AA rules pass on the page."""
    with contextlib.ExitStack() as stack:
        if mode == "light":  # the shared page, before anything moves
            rec = SHARED.get(browser, site, built_book, book_page)
        else:
            rec = stack.enter_context(offline_page(browser, dark=True))
            _open_book_page(rec, site, built_book, book_page)
        page = rec.page
        theme = page.evaluate("document.documentElement.dataset.theme")
        assert theme == mode, f"the page is in {theme} mode, not {mode}"
        if mode == "dark":  # the figures follow the theme
            assert wait_until(page, """() => [...document.querySelectorAll(
                'div.calc-nn-figure')].every((gd) => gd._calcNNDark)""")
        page.add_script_tag(content=axe_source)
        violations = page.evaluate(JS_AXE, WCAG_TAGS)
        report = [f"{v['id']} ({v['impact']}, {len(v['nodes'])} nodes): "
                  f"{v['help']}\n" + "\n".join(
                      f"    {n['target']}: {n['html']}\n      "
                      + n["why"].replace("\n", "\n      ")
                      for n in v["nodes"][:5])
                  for v in violations]
        assert not report, (f"{book_page}, {mode} mode: {len(report)} axe "
                            "violations\n" + "\n".join(report))
        assert not rec.problems(), "\n".join(rec.problems())


# --------------------------------------------------------------- keyboard

def _focus_before(page, gd) -> None:
    """Put the keyboard focus just before the explorer's first control."""
    gd.evaluate("""(gd) => { const b = gd.closest('.calc-nn-block');
        b.tabIndex = -1; b.focus(); b.removeAttribute('tabindex'); }""")


JS_FOCUSED = """() => { const el = document.activeElement;
  const k = el && el.getAttribute('data-calc-nn-control');
  if (k === null || k === undefined) {
    return {control: null, tag: el ? el.tagName : null};
  }
  const ring = el.type === 'radio' ? el.nextElementSibling : el;
  const st = getComputedStyle(ring);
  return {control: Number(k), block: el.closest('.calc-nn-block') ===
            window.__calcNNBlock, type: el.type,
          ring: st.outlineStyle !== 'none' &&
                parseFloat(st.outlineWidth) >= 2};
}"""


def test_keyboard_operates_every_explorer(browser, site, built_book,
                                          book_page):
    """Tab reaches each control of each explorer in order, with a visible
    focus ring; ArrowRight on the first control (ArrowLeft at the end of a
    range) changes the plot's data and its drawing, and the live region
    says the control, its new value and the figure's new description."""
    rec = SHARED.get(browser, site, built_book, book_page)
    page = rec.page
    failures = []
    for gd in _explorers(page):
        name = _name(gd)
        controls = gd.evaluate("(gd) => gd._calcNN.explorer.controls")
        gd.evaluate("(gd) => { window.__calcNNBlock = "
                    "gd.closest('.calc-nn-block'); }")
        _focus_before(page, gd)
        for k in range(len(controls)):
            page.keyboard.press("Tab")
            focused = page.evaluate(JS_FOCUSED)
            if focused.get("control") != k or not focused.get("block"):
                failures.append(f"{name}: Tab number {k + 1} reached "
                                f"{focused}, not control {k}")
                break
            if not focused["ring"]:
                failures.append(f"{name}: control {k} has no visible "
                                "focus ring")
        else:
            failures += _arrow_key_changes(page, gd, name, controls)
    assert not failures, f"{book_page}:\n- " + "\n- ".join(failures)
    assert not rec.problems(), "\n".join(rec.problems())


def _arrow_key_changes(page, gd, name, controls) -> list[str]:
    """From the first control focused by Tab: one arrow key, checked."""
    _focus_before(page, gd)
    page.keyboard.press("Tab")
    before = page.evaluate(JS_SNAPSHOT, gd)
    first, pos = controls[0], before["positions"][0]
    at_end = first["kind"] == "slider" and pos == len(first["labels"]) - 1
    page.keyboard.press("ArrowLeft" if at_end else "ArrowRight")
    wait_for_redraw(page, gd, before["drawn"])
    wait_until(page, "([gd, s]) => gd.closest('.calc-nn-block')"
               ".querySelector('.calc-nn-status').textContent !== s",
               [gd, before["status"]])
    after = page.evaluate(JS_SNAPSHOT, gd)
    failures = []
    if after["positions"][0] == pos:
        failures.append(f"{name}: the arrow key did not move "
                        f"{first['label']!r}")
        return failures
    if after["data"] == before["data"]:
        failures.append(f"{name}: the arrow key left gd.data unchanged")
    if after["drawn"] == before["drawn"]:
        failures.append(f"{name}: the arrow key left the drawing unchanged")
    value = first["labels"][after["positions"][0]]
    description = gd.evaluate("(gd) => gd._calcNN.description")
    want = f"{first['label']} {value}" + (f": {description}" if description
                                          else "")
    if after["status"] != want or not description:
        failures.append(f"{name}: the live region says {after['status']!r},"
                        f" expected {want!r} with the figure's description")
    return failures


# -------------------------------------------------------- text alternatives

def _accessible(page, gd) -> tuple[str, str]:
    """The (name, description) Chromium's accessibility tree gives the
    figure (the ``<figure>`` around the plot)."""
    cdp = page.context.new_cdp_session(page)
    try:
        root = cdp.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
        node = cdp.send("DOM.querySelector", {
            "nodeId": root, "selector": f"figure:has(> [id='"
            f"{gd.get_attribute('id')}'])"})
        tree = cdp.send("Accessibility.getPartialAXTree", {
            "nodeId": node["nodeId"], "fetchRelatives": False})
    finally:
        cdp.detach()
    ax = tree["nodes"][0]
    return (ax.get("name", {}).get("value", ""),
            ax.get("description", {}).get("value", ""))


def test_every_figure_has_a_description_that_follows_its_state(
        browser, site, built_book, book_page):
    """Every figure has an accessible name and a non-empty accessible
    description; moving any control of an explorer changes the
    description to that of the new state."""
    rec = SHARED.get(browser, site, built_book, book_page)
    page = rec.page
    failures = []
    for gd in _figures(page):
        name, description = _accessible(page, gd)
        if not name.startswith("Figure"):
            failures.append(f"{_name(gd)}: accessible name {name!r}")
        if not description.strip():
            failures.append(f"{_name(gd)} ({name}): no description "
                            "(layout.meta['description'] is missing)")
            continue
        controls = gd.evaluate(
            "(gd) => gd._calcNN.explorer ? "
            "gd._calcNN.explorer.controls : []")
        for k, c in enumerate(controls):
            pos = gd.evaluate(f"(gd) => calcNN.positions(gd)[{k}]")
            target = len(c["labels"]) - 1 if pos == 0 else 0
            drawn = page.evaluate(JS_DRAWN, gd)
            click_control(page, gd, k, target)
            wait_for_redraw(page, gd, drawn)
            _, now = _accessible(page, gd)
            if now == description:
                failures.append(
                    f"{_name(gd)}: moving {c['label']!r} to "
                    f"{c['labels'][target]!r} left the description "
                    f"{now!r}")
            description = now
    assert not failures, f"{book_page}:\n- " + "\n- ".join(failures)
    assert not rec.problems(), "\n".join(rec.problems())


# ------------------------------------------------------ phone and tablet

@pytest.mark.parametrize("size,viewport", [("phone", PHONE),
                                           ("tablet", TABLET)])
def test_figures_fit_narrow_screens(browser, site, built_book, book_page,
                                    size, viewport):
    """At phone and tablet width the page does not scroll sideways, no
    display formula is cut off (calc_nn_math.js scales the wide ones
    down), and no figure has overlapping, cut or outside text, before and
    after its first control moves."""
    with offline_page(browser, viewport=viewport) as rec:
        page = rec.page
        _open_book_page(rec, site, built_book, book_page)
        page.wait_for_timeout(300)  # let the theme settle the layout
        failures = []
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > viewport["width"]:
            failures.append(f"the page scrolls sideways: scrollWidth "
                            f"{width} > {viewport['width']}; too wide: "
                            f"{page.evaluate(JS_TOO_WIDE)}")
        # MathJax typesets, then calc_nn_math.js fits the formulas
        page.evaluate("() => window.MathJax && MathJax.startup ? "
                      "MathJax.startup.promise.then(() => true) : true")
        failures += [f"display formula wider than its box, cut off: {m}"
                     for m in page.evaluate(JS_MATH_TOO_WIDE)]
        for gd in _figures(page):
            narrow = gd.evaluate("(gd) => [gd._calcNN.narrow, "
                                 "calcNN.isNarrow(gd)]")
            if narrow[0] != narrow[1]:
                failures.append(f"{_name(gd)}: narrow layout {narrow[0]} "
                                f"at a width where it should be {narrow[1]}")
            failures += [f"{_name(gd)}: {p}" for p in page.evaluate(
                JS_TEXT_PROBLEMS, [gd, *TEXT_CHECK])]
        shot = screenshot(page, Path(size) / Path(book_page).with_suffix(
            ".png"), full_page=True)
        blocks = page.locator("figure.calc-nn-block")
        for i in range(blocks.count()):  # each figure, to look at
            screenshot(blocks.nth(i), Path(size) / Path(book_page).parent /
                       f"{Path(book_page).stem}-figure-{i + 1}.png")
        for gd in _explorers(page):
            n = gd.evaluate("(gd) => gd._calcNN.explorer.controls[0]"
                            ".labels.length")
            pos = gd.evaluate("(gd) => calcNN.positions(gd)[0]")
            drawn = page.evaluate(JS_DRAWN, gd)
            click_control(page, gd, 0, n - 1 if pos != n - 1 else 0)
            wait_for_redraw(page, gd, drawn)
            failures += [f"{_name(gd)} after its first control moved: {p}"
                         for p in page.evaluate(JS_TEXT_PROBLEMS,
                                                [gd, *TEXT_CHECK])]
        assert not failures, (f"{book_page} at {viewport['width']} px "
                              f"(screenshot {shot}):\n- "
                              + "\n- ".join(failures))
        assert not rec.problems(), "\n".join(rec.problems())
