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
* every HTML control of every explorer (a range input per slider, a radio
  group per choice) is moved with the mouse, and what is drawn must change.

On a page of its own, built from a figure made here, the tests check the
mechanism behind the controls (``calc_nn_plotly.js`` applying precomputed
states) against the values computed in Python, the dark mode, and the
narrow layout applied and taken back as the width changes. Keyboard,
screen-reader, WCAG and phone-width checks of the book's pages are in
``test_a11y.py``.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from browser_helpers import (
    CHANGE_TIMEOUT_MS,
    DESKTOP,
    JS_DATA,
    JS_DRAWN,
    JS_MATH_SHRUNK,
    JS_MATH_TOO_WIDE,
    PHONE,
    click_control,
    figures_ready,
    offline_page,
    open_page,
    screenshot,
    serve,
    wait_for_redraw,
    wait_until,
)

pytestmark = pytest.mark.browser

# A trace array of gd.data as plain numbers (plotly's base64 form decoded
# by calc_nn_plotly.js).
JS_TRACE_ARRAY = """([gd, i, key]) => {
  const v = calcNN.plain(gd.data[i][key]);
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
# The explorers' HTML controls: for each, its kind, the number of
# positions and the current one.
JS_CONTROLS = """(gd) => {
  const block = gd.closest('.calc-nn-block'), s = gd._calcNN;
  if (!s || !s.explorer) { return []; }
  return s.explorer.controls.map((c, k) => ({
    kind: c.kind, label: c.label, n: c.labels.length,
    position: calcNN.positions(gd)[k]}));
}"""


# ------------------------------------------------------------------- pages

def _mathjax_ready(page) -> str | None:
    """Wait for MathJax's first typesetting; an error message or None."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            "() => window.MathJax && MathJax.startup && "
            "MathJax.startup.promise", timeout=30_000)
    except PlaywrightTimeout:
        return "MathJax did not load"
    # a promise that never settles must not hang the test: poll a flag
    page.evaluate("""() => { MathJax.startup.promise.then(
        () => { window.__calcNNMath = 'done'; },
        (e) => { window.__calcNNMath = 'MathJax failed: ' + e; }); }""")
    if not wait_until(page, "() => window.__calcNNMath", timeout=30_000):
        return "MathJax did not finish typesetting"
    state = page.evaluate("() => window.__calcNNMath")
    return None if state == "done" else state


def _screenshot_name(book_page: str, size: str = "") -> Path:
    name = Path(book_page).with_suffix(".png")
    return Path(size) / name if size else name


def test_page(browser, site, built_book, book_page):
    """Open one page offline; check figures, maths, controls, errors."""
    html_file = built_book.html / book_page
    assert html_file.is_file(), f"{book_page} was not built"
    with offline_page(browser) as rec:
        page = rec.page
        redirects = 'http-equiv="Refresh"' in html_file.read_text(
            encoding="utf-8")
        open_page(rec, site + book_page, redirects)
        final = urlsplit(page.url).path.lstrip("/") or "index.html"
        source = (built_book.html / final).read_text(encoding="utf-8")
        failures = []

        # figures: every one declared in the HTML is drawn
        n_declared = len(re.findall(
            r'<div [^>]*class="[^"]*\bcalc-nn-figure\b', source))
        n_figs, n_drawn = figures_ready(page)
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
                failures += [f"display formula wider than the column, "
                             f"cut off: {m}"
                             for m in page.evaluate(JS_MATH_TOO_WIDE)]
                failures += [f"display formula drawn smaller than "
                             f"MathJax's size: {m}"
                             for m in page.evaluate(JS_MATH_SHRUNK)]

        shot = screenshot(page, _screenshot_name(book_page), full_page=True)

        # controls: each one, moved with the mouse, changes the drawing
        if n_drawn == n_figs:
            failures += _exercise_controls(page)

        failures += rec.problems()
        assert not failures, (f"{book_page} ({len(failures)} problems; "
                              f"screenshot {shot}):\n- "
                              + "\n- ".join(failures))


def _other(position: int, n: int) -> int:
    """A position other than ``position``: the last one, or the first."""
    return n - 1 if position != n - 1 else 0


def _exercise_controls(page) -> list[str]:
    """Move every control of every explorer on the page with the mouse;
    list the ones that changed nothing."""
    failures = []
    figs = page.locator("div.calc-nn-figure")
    for i in range(figs.count()):
        gd = figs.nth(i).element_handle()
        name = f"figure {i + 1} (#{figs.nth(i).get_attribute('id')})"
        for k, c in enumerate(page.evaluate(JS_CONTROLS, gd)):
            if c["n"] < 2:
                continue
            target = _other(c["position"], c["n"])
            failures += _check_change(
                page, gd, f"{name}, {c['kind']} {c['label']!r} to "
                f"position {target + 1}",
                lambda: click_control(page, gd, k, target),
                f"(gd) => calcNN.positions(gd)[{k}] === {target}")
    return failures


def _check_change(page, gd, what: str, act, js_moved: str) -> list[str]:
    """Do ``act`` (a mouse gesture); the control must now be at its
    target (``js_moved``), and both the drawing and gd.data changed."""
    drawn, data = page.evaluate(JS_DRAWN, gd), page.evaluate(JS_DATA, gd)
    act()
    wait_for_redraw(page, gd, drawn)
    failures = []
    if not page.evaluate(js_moved, gd):
        failures.append(f"{what}: the control did not move there")
    if page.evaluate(JS_DRAWN, gd) == drawn:
        failures.append(f"{what}: the drawn traces did not change (same "
                        "picture; with autoranged axes only ticks moved?)")
    if page.evaluate(JS_DATA, gd) == data:
        failures.append(f"{what}: gd.data did not change")
    return failures


# ------------------------------------------------- several linked controls

A_VALUES, KINDS = [0.5, 1.0, 1.5, 2.0], ["sin", "cos", "tanh"]
# What the figure's narrow layout changes, and keys a state changes too.
NARROW = {"layout": {"height": 560, "title.font.size": 11,
                     "annotations[0].font.size": 9},
          "traces": {"0": {"line.width": 1}, "1": {"marker.size": 4}}}


def _multi_control_figure():
    """make_figure and the static figure explore() builds from it: a
    slider and buttons; the title, the annotation, the colour and the
    marker size change with the state, and the narrow layout sets some of
    them too."""
    import numpy as np
    import plotly.graph_objects as go

    from calc_nn.plots._style import describe
    from calc_nn.widgets import Choice, Slider, explore

    funcs = {"sin": np.sin, "cos": np.cos, "tanh": np.tanh}
    colours = {"sin": "#1f77b4", "cos": "#d62728", "tanh": "#2ca02c"}

    def make_figure(a, kind):
        x = np.linspace(-3, 3, 41)
        y = funcs[kind](a * x)
        fig = go.Figure(
            [go.Scatter(x=x, y=y, name=kind, line_color=colours[kind]),
             go.Scatter(x=[0], y=[a], mode="markers", name="a",
                        marker_size=6 + 4 * a)],
            layout={"title": {"text": f"{kind}({a} x)"},
                    "height": 400 + 20 * KINDS.index(kind),
                    "annotations": [{"text": f"max {y.max():.3f}", "x": 0,
                                     "y": 1, "showarrow": False}]})
        return describe(fig, f"{kind} of {a} x: largest value "
                        f"{y.max():.3f}", narrow=NARROW)

    fig = explore(make_figure,
                  [Slider("a", A_VALUES, default=1.0, label="slope a"),
                   Choice("kind", KINDS, default="sin", label="function")],
                  mode="static")
    return make_figure, fig


def _set_path(obj, key: str, value) -> None:
    parts = [int(p) if p.isdigit() else p
             for p in re.split(r"\.|\[(\d+)\]", key) if p]
    for p in parts[:-1]:
        obj = obj.setdefault(p, {}) if isinstance(p, str) else obj[p]
    obj[parts[-1]] = value


def _expected(make_figure, a, kind, narrow: bool) -> dict:
    """The figure the page must show: make_figure's, with the narrow
    layout applied when narrow."""
    fig = json.loads(make_figure(a, kind).to_json())
    if narrow:
        for key, value in NARROW["layout"].items():
            _set_path(fig["layout"], key, value)
        for i, patch in NARROW["traces"].items():
            for key, value in patch.items():
                _set_path(fig["data"][int(i)], key, value)
    return fig


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
    for name in ("calc_nn_plotly.js", "calc_nn.css"):
        shutil.copy(static / name, tmp_path)
    (tmp_path / "index.html").write_text(
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<title>explorer</title><link rel='icon' href='data:,'>"
        "<link rel='stylesheet' href='calc_nn.css'>"
        "<script src='plotly.min.js'></script>"
        "<script src='calc_nn_plotly.js'></script></head><body><main>\n"
        + figure_html(plain, "fig") + "</main></body></html>\n",
        encoding="utf-8")
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


JS_SHOWN = """(gd) => ({
  title: gd.layout.title.text, titleSize: (gd.layout.title.font || {}).size,
  height: gd._fullLayout.height, divHeight: gd.style.height,
  note: gd.layout.annotations[0].text,
  noteSize: (gd.layout.annotations[0].font || {}).size,
  colour: gd.data[0].line.color, width: gd.data[0].line.width,
  size: gd.data[1].marker.size, narrow: gd._calcNN.narrow,
  name: gd._calcNN.block.getAttribute('aria-label'),
  description: document.getElementById(
    gd._calcNN.block.getAttribute('aria-describedby')).textContent})"""


def _check_shown(page, gd, make_figure, a, kind, narrow, what):
    """The page shows make_figure(a, kind) (narrow or not): data, title,
    sizes, colours, the figure's name and description."""
    want = _expected(make_figure, a, kind, narrow)
    y = page.evaluate(JS_TRACE_ARRAY, [gd, 0, "y"])
    _assert_close(y, list(make_figure(a, kind).data[0].y), f"{what}: y")
    shown = page.evaluate(JS_SHOWN, gd)
    lay, data = want["layout"], want["data"]
    expected = {
        "title": lay["title"]["text"],
        "titleSize": lay["title"].get("font", {}).get("size"),
        "height": lay["height"], "divHeight": f"{lay['height']}px",
        "note": lay["annotations"][0]["text"],
        "noteSize": lay["annotations"][0].get("font", {}).get("size"),
        "colour": data[0]["line"]["color"],
        "width": data[0]["line"].get("width"),
        "size": data[1]["marker"]["size"], "narrow": narrow,
        "name": f"Figure: {lay['title']['text']}",
        "description": lay["meta"]["description"]}
    wrong = {k: (shown.get(k), v) for k, v in expected.items()
             if shown.get(k) != v}
    assert not wrong, f"{what}: (shown, expected) {wrong}"


def test_multi_control_figure(browser, multi_control_site):
    """Slider + buttons: the figure shows make_figure(a, kind) for the
    combination the reader picked with the mouse, whatever the order; the
    figure's name and description follow, and the live region announces
    the control, its value and the new description."""
    url, make_figure, plain = multi_control_site
    assert "calc_nn" in plain["layout"]["meta"]
    assert not plain["layout"].get("sliders")

    with offline_page(browser) as rec:
        page = rec.page
        open_page(rec, url + "index.html")
        assert figures_ready(page) == (1, 1), "the figure was not drawn"
        gd = page.locator("div.calc-nn-figure").element_handle()
        status = page.locator(".calc-nn-status")
        a, kind = 1.0, "sin"
        _check_shown(page, gd, make_figure, a, kind, False, "initial state")
        assert status.text_content() == ""  # nothing announced on load
        steps = [("slider", 3), ("button", 2), ("slider", 0),
                 ("button", 1), ("slider", 2)]
        for control, index in steps:
            drawn = page.evaluate(JS_DRAWN, gd)
            click_control(page, gd, 0 if control == "slider" else 1, index)
            if control == "slider":
                a = A_VALUES[index]
                said = f"slope a {a:g}"
            else:
                kind = KINDS[index]
                said = f"function {kind}"
            assert wait_for_redraw(page, gd, drawn), (
                f"{control} {index}: the drawing did not change")
            what = f"after {control} -> a={a}, kind={kind}"
            _check_shown(page, gd, make_figure, a, kind, False, what)
            description = make_figure(a, kind).layout.meta["description"]
            assert wait_until(page, "([el, t]) => el.textContent === t",
                              [status.element_handle(),
                               f"{said}: {description}"]), (
                f"{what}: the live region says {status.text_content()!r}")
        assert not rec.problems(), "\n".join(rec.problems())


def test_narrow_layout_follows_the_width(browser, multi_control_site):
    """Narrower than data-narrow-px, the figure takes its narrow layout
    (on top of the state's own values); a state chosen while narrow stays
    narrow; wide again, the state's own values come back."""
    url, make_figure, _ = multi_control_site
    with offline_page(browser, viewport=PHONE) as rec:
        page = rec.page
        open_page(rec, url + "index.html")
        assert figures_ready(page) == (1, 1), "the figure was not drawn"
        gd = page.locator("div.calc-nn-figure").element_handle()
        _check_shown(page, gd, make_figure, 1.0, "sin", True,
                     "phone width, first drawn")
        screenshot(page, "phone/narrow-layout-figure.png", full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= \
            PHONE["width"], "the page scrolls sideways at phone width"
        drawn = page.evaluate(JS_DRAWN, gd)
        click_control(page, gd, 1, 1)  # cos: its own height and colour
        assert wait_for_redraw(page, gd, drawn)
        _check_shown(page, gd, make_figure, 1.0, "cos", True,
                     "phone width, after a state change")
        drawn = page.evaluate(JS_DRAWN, gd)
        click_control(page, gd, 0, 3)  # a = 2: its own marker size
        assert wait_for_redraw(page, gd, drawn)
        _check_shown(page, gd, make_figure, 2.0, "cos", True,
                     "phone width, after a second state change")
        page.set_viewport_size(DESKTOP)
        assert wait_until(page, "(gd) => !gd._calcNN.narrow && "
                          "gd._fullLayout.height === 420", gd), \
            "the wide layout did not come back"
        page.wait_for_timeout(200)
        _check_shown(page, gd, make_figure, 2.0, "cos", False,
                     "desktop width again")
        page.set_viewport_size(PHONE)
        assert wait_until(page, "(gd) => gd._calcNN.narrow", gd)
        page.wait_for_timeout(200)
        _check_shown(page, gd, make_figure, 2.0, "cos", True,
                     "phone width again")
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
        open_page(rec, url + "index.html")
        assert figures_ready(page) == (1, 1), "the figure was not drawn"
        gd = page.locator("div.calc-nn-figure").element_handle()
        light = page.evaluate(js_colours, gd)
        page.evaluate("document.documentElement.dataset.theme = 'dark'")
        page.wait_for_function(
            "(gd) => gd._fullLayout.paper_bgcolor !== %r" % light[0], arg=gd,
            timeout=CHANGE_TIMEOUT_MS)
        dark = page.evaluate(js_colours, gd)
        assert dark == ["#121212", "#ced6dd", "#2c333b"], dark
        screenshot(page, "dark-mode-figure.png")
        drawn = page.evaluate(JS_DRAWN, gd)
        click_control(page, gd, 0, 3)
        wait_for_redraw(page, gd, drawn)
        assert page.evaluate(js_colours, gd) == dark, "a state reset colours"
        page.evaluate("document.documentElement.dataset.theme = 'light'")
        page.wait_for_function(
            "(gd) => gd._fullLayout.paper_bgcolor === %r" % light[0], arg=gd,
            timeout=CHANGE_TIMEOUT_MS)
        assert page.evaluate(js_colours, gd) == light
        assert not rec.problems(), "\n".join(rec.problems())

