"""Every figure of ``calc_nn.plots`` drawn by plotly.js in Chromium, in
containers from a phone's to a wide page's: no two text elements overlap
(titles, panel titles, annotations, legend entries, tick labels, cell
numbers), every one lies inside the figure, none is cut by its plot area,
and the figure is no wider than its container.

Below :data:`NARROW_PX` the figure's narrow patch is applied first, as the
site does (``Plotly.restyle`` of its traces, then ``Plotly.relayout``).
Screenshots go to ``_build/screenshots/figures/``. The geometry behind
these layouts is tested without a browser in ``test_figures.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import figure_cases as fc
import plotly
import pytest

from calc_nn.plots._style import NARROW_PX, PHONE_PX

# (conftest.ONE_WORKER: one pytest-xdist worker runs this module's tests
# and opens its page once for all)
pytestmark = pytest.mark.browser

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
SHOTS = fc.REPO / "_build" / "screenshots" / "figures"
# container widths (CSS px): the narrowest phone, a 390 px phone's page,
# the widest narrow and narrowest wide containers, a 768 px tablet's page,
# a desktop page
WIDTHS = (PHONE_PX, 358, NARROW_PX - 1, NARROW_PX, 736, 900)

DRAW = """async ([fig, width, narrowPx]) => {
  document.body.innerHTML = "";
  const div = document.createElement("div");
  div.style.width = width + "px";
  div.style.height = (fig.layout.height || 450) + "px";
  document.body.appendChild(div);
  await Plotly.newPlot(div, fig.data, fig.layout,
                       {responsive: true, displaylogo: false});
  const narrow = (fig.layout.meta || {}).narrow;
  if (narrow && width < narrowPx) {
    for (const [i, update] of Object.entries(narrow.traces || {})) {
      await Plotly.restyle(div, update, [Number(i)]);
    }
    await Plotly.relayout(div, narrow.layout || {});
    div.style.height = div._fullLayout.height + "px";
  }
  const box = (e) => {
    const r = e.getBoundingClientRect();
    return {x0: r.left, y0: r.top, x1: r.right, y1: r.bottom};
  };
  const shown = (t) => {
    for (let e = t; e && e !== div; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.display === "none" || s.visibility === "hidden" ||
          s.opacity === "0") { return false; }
    }
    const r = t.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
  // plotly cuts what lies in a plot area (a clip-path on the text or a
  // group above it) unless told not to (cliponaxis: false)
  const clipped = (t) => {
    for (let e = t; e && e !== div; e = e.parentElement) {
      const c = e.getAttribute && e.getAttribute("clip-path");
      if (c && c !== "none" && e.closest(".cartesianlayer")) { return true; }
    }
    return false;
  };
  const texts = [...div.querySelectorAll("svg text")]
    .filter((t) => t.textContent.trim() && shown(t))
    .map((t) => ({text: t.textContent, clipped: clipped(t), ...box(t)}));
  return {container: box(div), svg: box(div.querySelector(".main-svg")),
          areas: [...div.querySelectorAll(".nsewdrag")].map(box), texts};
}"""


@pytest.fixture(scope="module")
def page(chromium, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    html = tmp_path_factory.mktemp("figures") / "figures.html"
    html.write_text("<!doctype html><meta charset='utf-8'>"
                    "<style>body{margin:0}</style>"
                    f"<script src='{PLOTLY_JS.as_uri()}'></script>")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(chromium), headless=True,
            args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1000, "height": 900})
        page.goto(html.as_uri())
        yield page
        browser.close()


def _overlaps(texts, tol=1.0):
    pairs = []
    for i, a in enumerate(texts):
        for b in texts[i + 1:]:
            if min(a["x1"], b["x1"]) - max(a["x0"], b["x0"]) > tol and \
                    min(a["y1"], b["y1"]) - max(a["y0"], b["y0"]) > tol:
                pairs.append((a["text"][:40], b["text"][:40]))
    return pairs


def _inside(a, b, tol=1.0):
    return (a["x0"] >= b["x0"] - tol and a["x1"] <= b["x1"] + tol
            and a["y0"] >= b["y0"] - tol and a["y1"] <= b["y1"] + tol)


def layout_problems(drawn) -> list[str]:
    """Overlapping texts, texts outside the figure or cut by their plot
    area, and a figure wider than its container."""
    texts, svg = drawn["texts"], drawn["svg"]
    bad = [f"overlap: {a!r} and {b!r}" for a, b in _overlaps(texts)]
    bad += [f"outside the figure: {t['text'][:40]!r}" for t in texts
            if not _inside(t, svg)]
    if svg["x1"] > drawn["container"]["x1"] + 1:
        bad.append(f"figure {svg['x1'] - svg['x0']:.0f} px wide in a "
                   f"container of {drawn['container']['x1']:.0f} px")
    for t in texts:
        if not t["clipped"]:
            continue
        centre = ((t["x0"] + t["x1"]) / 2, (t["y0"] + t["y1"]) / 2)
        home = [a for a in drawn["areas"] if a["x0"] <= centre[0] <= a["x1"]
                and a["y0"] <= centre[1] <= a["y1"]]
        if home and not any(_inside(t, a) for a in home):
            bad.append(f"cut by its plot area: {t['text'][:40]!r}")
    return bad


@pytest.mark.parametrize("case", fc.CASES)
def test_figure_texts_neither_overlap_nor_leave_the_figure(page, case):
    fig = json.loads(fc.CASES[case][1]().to_json())
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems = {}
    for width in WIDTHS:
        page.set_viewport_size({"width": max(width + 40, 400),
                                "height": 900})
        drawn = page.evaluate(DRAW, [fig, width, NARROW_PX])
        assert drawn["texts"], "nothing drawn"
        page.locator("div").first.screenshot(
            path=str(SHOTS / f"{case}-{width}.png"))
        if found := layout_problems(drawn):
            problems[width] = found[:6]
    assert not problems, problems


def test_the_checker_sees_an_overlap():
    """The measurement itself: two boxes crossing by 2 px are reported,
    boxes that touch are not."""
    a = dict(text="a", x0=0, y0=0, x1=10, y1=10, clipped=False)
    b = dict(text="b", x0=8, y0=8, x1=20, y1=20, clipped=False)
    c = dict(text="c", x0=10, y0=0, x1=20, y1=8, clipped=False)
    drawn = dict(texts=[a, b, c], svg=dict(x0=0, y0=0, x1=30, y1=30),
                 container=dict(x0=0, y0=0, x1=30, y1=30), areas=[])
    assert layout_problems(drawn) == ["overlap: 'a' and 'b'"]
