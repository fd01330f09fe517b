"""calc_nn.sphinxext: plotly JSON to HTML that draws with the site's
plotly.js; the plugin is registered for myst-nb."""

import json
import os
from importlib.metadata import entry_points

import plotly.graph_objects as go
from docutils import nodes

from calc_nn.plots._style import describe
from calc_nn.sphinxext import PLOTLY_MIME, PlotlyMimeRenderer, figure_html
from calc_nn.widgets import Choice, Slider, explore


class Data:
    def __init__(self, mime_type, content):
        self.mime_type = mime_type
        self.content = content


def fig_json(title="t", description="three points rising"):
    fig = go.Figure(go.Scatter(y=[1, 2, 3]), layout=dict(title=title))
    if description is not None:
        describe(fig, description)
    return json.loads(fig.to_json())


def _payload(html):
    script = html[html.index("<script"):]
    return json.loads(script[script.index("{"):script.rindex("}") + 1])


def test_figure_html_draws_with_the_page_plotly():
    html = figure_html(fig_json(), div_id="f1")
    assert html.startswith('<figure class="calc-nn-block" '
                           'data-narrow-px="600" aria-label="Figure: t" '
                           'aria-describedby="f1-desc">')
    assert '<div id="f1" class="plotly-graph-div calc-nn-figure"' in html
    assert 'calcNN.render("f1", {' in html
    assert "plotly.js" not in html and "cdn" not in html.lower()
    payload = _payload(html)
    assert payload["config"]["responsive"] is True
    assert "plotlyServerURL" not in payload["config"]


def test_figure_html_describes_the_figure():
    html = figure_html(fig_json(title="a <b>bold</b> & plain title",
                                description="x < y & so on"), "f2")
    assert ('aria-label="Figure: a bold &amp; plain title" '
            'aria-describedby="f2-desc"') in html
    assert ('<p id="f2-desc" class="calc-nn-description calc-nn-sr-only">'
            "x &lt; y &amp; so on</p>") in html
    assert "calc-nn-undescribed" not in html
    # a static figure has no controls and no live region
    assert "calc-nn-controls" not in html and "aria-live" not in html


def test_a_figure_without_description_is_marked():
    html = figure_html(fig_json(description=None), "f3")
    assert html.startswith('<figure class="calc-nn-block '
                           'calc-nn-undescribed"')
    assert '<p id="f3-desc" class="calc-nn-description calc-nn-sr-only">'\
        "</p>" in html
    html = figure_html(fig_json(title=None), "f4")
    assert 'aria-label="Figure"' in html


def _explorer_json():
    def make(a, kind):
        fig = go.Figure(go.Scatter(y=[a, 2 * a]),
                        layout=dict(title=f"{kind} {a}"))
        return describe(fig, f"{kind} at {a}")
    fig = explore(make, [Slider("a", [0.5, 1.0, 2.0], default=1.0,
                                label="slope <a>"),
                         Choice("kind", ["up", "down"],
                                option_labels=["Up & away", "Down"])],
                  mode="static")
    return json.loads(fig.to_json())


def test_explorer_controls_are_labelled_html_controls():
    html = figure_html(_explorer_json(), "e")
    slider = ('<div class="calc-nn-control calc-nn-slider">'
              '<label for="e-c0">slope &lt;a&gt;</label>'
              '<input type="range" id="e-c0" data-calc-nn-control="0" '
              'min="0" max="2" step="1" value="1" aria-valuetext="1">'
              '<span class="calc-nn-value" aria-hidden="true">1</span>'
              "</div>")
    assert slider in html
    choice = ('<fieldset class="calc-nn-control calc-nn-choice">'
              '<legend>kind</legend><div class="calc-nn-options">'
              '<label class="calc-nn-option"><input type="radio" '
              'name="e-c1" value="0" data-calc-nn-control="1" checked>'
              "<span>Up &amp; away</span></label>"
              '<label class="calc-nn-option"><input type="radio" '
              'name="e-c1" value="1" data-calc-nn-control="1">'
              "<span>Down</span></label></div></fieldset>")
    assert choice in html
    assert ('<p id="e-status" class="calc-nn-status calc-nn-sr-only" '
            'role="status" aria-live="polite" aria-atomic="true"></p>'
            ) in html
    # the controls come before the plot (and in the Tab order)
    assert html.index("calc-nn-controls") < html.index('<div id="e"')
    # the states travel with the figure
    assert len(_payload(html)["layout"]["meta"]["calc_nn"]["states"]) == 6


def test_renderer_handles_only_block_plotly_output():
    out = PlotlyMimeRenderer.handle_mime(None, Data(PLOTLY_MIME,
                                                    fig_json()), False)
    assert len(out) == 1 and isinstance(out[0], nodes.raw)
    assert out[0]["format"] == "html"
    # JSON given as a string works too
    assert PlotlyMimeRenderer.handle_mime(
        None, Data(PLOTLY_MIME, json.dumps(fig_json())), False)
    assert PlotlyMimeRenderer.handle_mime(None, Data("text/html", "x"),
                                          False) is None
    assert PlotlyMimeRenderer.handle_mime(None, Data(PLOTLY_MIME,
                                                     fig_json()), True) is None


def test_plugin_is_registered_and_preferred_to_html():
    eps = entry_points(group="myst_nb.mime_renderers")
    assert any(ep.value == "calc_nn.sphinxext:PlotlyMimeRenderer"
               for ep in eps)
    from myst_nb.core.render import get_mime_priority
    priority = get_mime_priority("html", ())
    assert priority.index(PLOTLY_MIME) < priority.index("text/html")


# ------------------------------------------------ readers and instructors

from calc_nn import sphinxext  # noqa: E402

GATED_SOURCE = """Intro.

```{exercise}
:label: ex1

Compute the thing.
```

```{solution-start} ex1
:class: dropdown
```

SECRET ANSWER one.

```{code-cell} ipython3
print("SECRET CODE")
```

```{solution-end}
```

Between.

:::{solution} ex1
SECRET PLAIN
:::

After.
"""


def test_strip_solutions_removes_every_solution_and_keeps_the_rest():
    out = sphinxext.strip_solutions(GATED_SOURCE)
    assert "SECRET" not in out
    assert "Compute the thing." in out and "Between." in out
    assert out.rstrip().endswith("After.")
    assert out.count("not part of the student edition") == 2
    # nothing to strip: unchanged
    assert sphinxext.strip_solutions("plain text\n") == "plain text\n"


def test_student_edition_switch(monkeypatch):
    monkeypatch.delenv(sphinxext.STUDENT_ENV, raising=False)
    assert not sphinxext.student_edition()
    for value, expected in [("1", True), ("true", True), ("0", False),
                            ("", False)]:
        monkeypatch.setenv(sphinxext.STUDENT_ENV, value)
        assert sphinxext.student_edition() is expected


def test_colab_url_points_at_the_published_notebook():
    url = sphinxext.colab_url("https://colab.research.google.com/",
                              "book/activations",
                              "https://github.com/calc-nn/calculus-for-"
                              "neural-networks")
    assert url == ("https://colab.research.google.com/github/calc-nn/"
                   "calculus-for-neural-networks/blob/gh-pages/_sources/"
                   "book/activations.ipynb")
    assert sphinxext.colab_url("https://colab.research.google.com",
                               "x", "https://gitlab.com/a/b") is None


def test_setup_cell_is_added_once():
    nb = {"cells": [{"cell_type": "markdown", "source": "# T",
                     "metadata": {}}]}
    sphinxext.add_setup_cell(nb, "https://github.com/o/r")
    sphinxext.add_setup_cell(nb, "https://github.com/o/r")
    assert len(nb["cells"]) == 2
    cell = nb["cells"][0]
    assert cell["cell_type"] == "code" and cell["outputs"] == []
    assert "git+https://github.com/o/r" in cell["source"]
    assert 'find_spec("calc_nn") is None' in cell["source"]
    compile(cell["source"], "setup", "exec")  # valid Python


# ---------------------------------------------------------- accessibility

THEME_HTML = """\
<button class="btn btn-sm pst-navbar-icon search-button search-button__button pst-js-only" title="Search" aria-label="Search" data-bs-placement="bottom">
    <i class="fa-solid fa-magnifying-glass fa-lg"></i>
</button>
<button class="btn search-button-field search-button__button pst-js-only" title="Search" aria-label="Search" data-bs-placement="bottom">
 <span class="search-button__default-text">Search</span>
</button>
<button class="btn theme-switch-button pst-js-only" aria-label="Color mode" data-bs-title="Color mode">
  <i class="theme-switch fa-solid fa-sun fa-lg" data-mode="light" title="Light"></i>
  <i class="theme-switch fa-solid fa-moon fa-lg" data-mode="dark"  title="Dark"></i>
</button>
<details class="hide above-input"><summary aria-label="Toggle hidden content">
<p class="collapsed admonition-title">Show code cell source</p></summary>
<div role="list" class="citation-list">
<div class="citation" id="id6" role="doc-biblioentry">
"""  # noqa: E501 - the theme's lines


def test_accessible_html_fixes_the_theme_findings():
    fixed = sphinxext.accessible_html(THEME_HTML)
    # the icon-only search button keeps its name; the one with visible text
    # is named by its text
    assert fixed.count('aria-label="Search"') == 1
    assert 'search-button-field search-button__button pst-js-only" ' \
        'title="Search" data-bs-placement' in fixed
    assert 'title="Light"' not in fixed and 'title="Dark"' not in fixed
    assert 'aria-label="Color mode"' in fixed
    assert "<summary>\n<p" in fixed and "Toggle hidden" not in fixed
    assert 'role="doc-biblioentry"' not in fixed
    assert '<div class="citation" id="id6" role="listitem">' in fixed
    assert sphinxext.accessible_html(fixed) == fixed  # idempotent


class _App:
    def __init__(self):
        self.connected, self.css, self.js = [], [], []

    def connect(self, event, handler, priority=500):
        self.connected.append((event, handler.__name__))

    def add_css_file(self, name):
        self.css.append(name)

    def add_js_file(self, name):
        self.js.append(name)


def test_setup_sets_the_renderer_for_the_kernels(monkeypatch):
    """The build (not an import of calc_nn.plots) makes the executing
    kernels emit the plotly JSON only, and every page gets the book's CSS,
    the script that fits display formulas to the column, and the
    accessibility fixes."""
    for var in ("PLOTLY_RENDERER", "CALC_NN_STATIC"):
        monkeypatch.setenv(var, "")  # restored (or removed) afterwards
        monkeypatch.delenv(var)
    app = _App()
    sphinxext.setup(app)
    assert os.environ["PLOTLY_RENDERER"] == "plotly_mimetype"
    assert os.environ["CALC_NN_STATIC"] == "1"
    assert app.css == ["calc_nn.css"]
    assert app.js == ["calc_nn_math.js"]
    assert ("build-finished", "_fix_pages") in app.connected
