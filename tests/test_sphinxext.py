"""calc_nn.sphinxext: plotly JSON to HTML that draws with the site's
plotly.js; the plugin is registered for myst-nb."""

import json
from importlib.metadata import entry_points

import plotly.graph_objects as go
from docutils import nodes

from calc_nn.sphinxext import PLOTLY_MIME, PlotlyMimeRenderer, figure_html


class Data:
    def __init__(self, mime_type, content):
        self.mime_type = mime_type
        self.content = content


def fig_json(title="t"):
    return json.loads(go.Figure(go.Scatter(y=[1, 2, 3]),
                                layout=dict(title=title)).to_json())


def test_figure_html_draws_with_the_page_plotly():
    html = figure_html(fig_json(), div_id="f1")
    assert html.startswith('<div id="f1" class="plotly-graph-div '
                           'calc-nn-figure"')
    assert 'calcNN.render("f1", {' in html
    assert "plotly.js" not in html and "cdn" not in html.lower()
    payload = json.loads(html[html.index("{"):html.rindex("}") + 1])
    assert payload["config"]["responsive"] is True
    assert "plotlyServerURL" not in payload["config"]


def test_script_end_tags_in_data_are_escaped():
    html = figure_html(fig_json(title="</script><b>x</b>"))
    assert html.count("</script>") == 1


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
