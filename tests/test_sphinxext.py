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
