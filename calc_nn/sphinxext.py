"""Sphinx / myst-nb extension: plotly figures on the static site, offline
and accessible.

Why a mime renderer: with plotly >= 6.1, ``fig.show()`` under myst-nb emits
only ``application/vnd.plotly.v1+json``, which myst-nb does not render (a
blank figure and a warning). The alternatives are worse: the
``notebook_connected`` renderer loads plotly.js from a CDN (blank offline),
the ``notebook`` renderer embeds ~4 MB of plotly.js in every page. So
:class:`PlotlyMimeRenderer` (registered under the ``myst_nb.mime_renderers``
entry point in ``pyproject.toml``) turns the JSON into the HTML of
:func:`figure_html` (a ``<figure>`` with the figure's text alternative and,
for an explorer, real HTML controls) and a ``calcNN.render`` call
(``static/calc_nn_plotly.js``), and :func:`setup` copies ``plotly.min.js``
from the installed plotly package into ``_static/``, loading it only on
pages that have a figure. MathJax is served from ``_static/mathjax`` for the
same reason (``sphinx-mathjax-offline`` ships it).

Loading this extension sets, for the kernels executing the chapters (they
inherit the environment): ``CALC_NN_STATIC=1``, so that
:func:`calc_nn.widgets.explore` precomputes its states instead of building
ipywidgets (no ipywidgets state, or the require.js it would pull in,
reaches the page), and ``PLOTLY_RENDERER=plotly_mimetype``, so that a
figure's output is the plotly JSON alone (importing :mod:`calc_nn.plots`
changes no plotly default). It adds ``static/calc_nn.css`` to every page
and, at the end of the build, fixes the theme's HTML where it fails WCAG
2.1 AA (:func:`accessible_html`).
"""

from __future__ import annotations

import hashlib
import html
import importlib.util
import json
import os
import re
from pathlib import Path

from docutils import nodes

PLOTLY_MIME = "application/vnd.plotly.v1+json"
_HERE = Path(__file__).parent
_FIGURE_CLASS = "calc-nn-figure"
_STATIC_FILES = ("calc_nn_plotly.js", "calc_nn.css", "calc_nn_math.js")

__all__ = ["PlotlyMimeRenderer", "accessible_html", "figure_html",
           "setup"]


def figure_html(fig: dict, div_id: str | None = None) -> str:
    """HTML for one figure, drawn by ``calc_nn/static/calc_nn_plotly.js``.

    A ``<figure>``, named after the figure's title ("Figure: ...") and
    described by its text alternative ``layout.meta["description"]``,
    holding: the HTML controls of an explorer (a labelled range input per
    slider, a radio group per choice, see :func:`calc_nn.widgets.explore`),
    the plotly ``div``, the description (visually hidden), and for an
    explorer a live region that announces each new state. A figure without
    a description gets the class ``calc-nn-undescribed`` (the book's tests
    fail on it). Then the script that draws it.

    Used in: every page with a figure (the book build)
    """
    fig = dict(fig)
    fig.setdefault("config", {})
    fig["config"] = {**fig["config"], "responsive": True,
                     "displaylogo": False}
    fig["config"].pop("plotlyServerURL", None)
    payload = json.dumps(fig, separators=(",", ":"), allow_nan=False)
    payload = payload.replace("</", "<\\/")  # keep "</script>" out
    if div_id is None:
        digest = hashlib.sha1(payload.encode()).hexdigest()[:12]
        div_id = f"calc-nn-fig-{digest}"
    layout = fig.get("layout") or {}
    meta = layout.get("meta") if isinstance(layout.get("meta"), dict) else {}
    text = meta.get("description")
    text = text.strip() if isinstance(text, str) else ""
    explorer = meta.get("calc_nn") or {}
    controls = explorer.get("controls") or []
    height = int(layout.get("height") or 450)
    block = "calc-nn-block" + ("" if text else " calc-nn-undescribed")
    parts = [f'<figure class="{block}" data-narrow-px="{_narrow_px()}" '
             f'aria-label="{_e(_figure_name(layout))}" '
             f'aria-describedby="{div_id}-desc">']
    if controls:
        parts.append(_controls_html(div_id, controls))
    parts += [
        f'<div id="{div_id}" class="plotly-graph-div {_FIGURE_CLASS}" '
        f'style="height:{height}px; width:100%;"></div>',
        f'<p id="{div_id}-desc" class="calc-nn-description '
        f'calc-nn-sr-only">{_e(text)}</p>']
    if controls:
        parts.append(f'<p id="{div_id}-status" class="calc-nn-status '
                     'calc-nn-sr-only" role="status" aria-live="polite" '
                     'aria-atomic="true"></p>')
    parts.append("</figure>")
    return ("\n".join(parts) + "\n"
            f'<script type="text/javascript">calcNN.render("{div_id}", '
            f"{payload});</script>\n")


def _e(text: str) -> str:
    return html.escape(str(text), quote=True)


def _narrow_px() -> int:
    """The container width (CSS px) below which a figure's narrow layout
    applies (:data:`calc_nn.plots._style.NARROW_PX`)."""
    from calc_nn.plots._style import NARROW_PX
    return NARROW_PX


def _figure_name(layout: dict) -> str:
    """The accessible name of a figure: "Figure: " and its title, as
    plain text ("Figure" without a title)."""
    title = layout.get("title")
    title = title.get("text") if isinstance(title, dict) else title
    plain = " ".join(html.unescape(re.sub(r"<[^>]*>", " ", str(
        title or ""))).split())
    return f"Figure: {plain}" if plain else "Figure"


def _controls_html(div_id: str, controls: list[dict]) -> str:
    """Real HTML controls for an explorer's precomputed states: a labelled
    range input per slider (its value shown beside it and given as
    aria-valuetext), a fieldset of radio buttons per choice."""
    rows = []
    for k, c in enumerate(controls):
        cid, labels, active = f"{div_id}-c{k}", c["labels"], c["active"]
        if c["kind"] == "slider":
            rows.append(
                f'<div class="calc-nn-control calc-nn-slider">'
                f'<label for="{cid}">{_e(c["label"])}</label>'
                f'<input type="range" id="{cid}" data-calc-nn-control="{k}" '
                f'min="0" max="{len(labels) - 1}" step="1" value="{active}" '
                f'aria-valuetext="{_e(labels[active])}">'
                f'<span class="calc-nn-value" aria-hidden="true">'
                f'{_e(labels[active])}</span></div>')
        else:
            options = "".join(
                f'<label class="calc-nn-option"><input type="radio" '
                f'name="{cid}" value="{i}" data-calc-nn-control="{k}"'
                f'{" checked" if i == active else ""}>'
                f"<span>{_e(label)}</span></label>"
                for i, label in enumerate(labels))
            rows.append(f'<fieldset class="calc-nn-control calc-nn-choice">'
                        f'<legend>{_e(c["label"])}</legend>'
                        f'<div class="calc-nn-options">{options}</div>'
                        "</fieldset>")
    return '<div class="calc-nn-controls">' + "".join(rows) + "</div>"


class PlotlyMimeRenderer:
    """myst-nb mime render plugin for ``application/vnd.plotly.v1+json``."""

    # Lower number = preferred: above text/html (30) should both be present.
    mime_priority_overrides = [
        (builder, PLOTLY_MIME, 5) for builder in ("html", "dirhtml",
                                                  "singlehtml", "readthedocs")
    ]

    @staticmethod
    def handle_mime(renderer, data, inline):
        if data.mime_type != PLOTLY_MIME or inline:
            return None
        content = data.content
        if isinstance(content, (str, bytes)):
            content = json.loads(content)
        html = figure_html(content)
        return [nodes.raw("", html, format="html",
                          classes=["output", "plotly"])]


def _mathjax_dir() -> Path:
    # the distribution's top-level folder has dashes in its name
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "sphinx-mathjax-offline is not installed: pip install -r "
            "requirements.txt")
    package = Path(list(spec.submodule_search_locations)[0])
    return package / "static" / "mathjax"


def _copy_assets(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    import plotly
    from sphinx.util.fileutil import copy_asset, copy_asset_file

    static = Path(app.outdir) / "_static"
    static.mkdir(parents=True, exist_ok=True)
    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    copy_asset_file(str(plotly_js), str(static))
    for name in _STATIC_FILES:
        copy_asset_file(str(_HERE / "static" / name), str(static))
    if not (static / "mathjax" / "tex-chtml.js").exists():
        copy_asset(str(_mathjax_dir()), str(static / "mathjax"))


def _add_page_scripts(app, pagename, templatename, context, doctree):
    if _FIGURE_CLASS in context.get("body", ""):
        app.add_js_file("plotly.min.js", priority=400)
        app.add_js_file("calc_nn_plotly.js", priority=401)


def _drop_thebe(app, pagename, templatename, context, doctree):
    """Remove sphinx-thebe's scripts: the book does not use Thebe, its
    config points at a CDN, and Sphinx 7.4 adds its inline script twice on
    rebuilt pages ("THEBE_JS_URL has already been declared")."""
    scripts = context.get("script_files")
    if not scripts:
        return
    keep = [js for js in scripts
            if getattr(js, "filename", js) != "sphinx-thebe.js"
            and "THEBE_JS_URL" not in str(
                getattr(js, "attributes", {}).get("body", ""))]
    scripts[:] = keep


# ------------------------------------------------------- accessibility

# Fixes of the HTML that the theme and the extensions write, applied to
# every page at the end of the build (WCAG 2.1 AA as axe-core checks it):
# (pattern, replacement, why).
_A11Y_FIXES = [
    # label-in-name (2.5.3): the search field's visible text is "Search
    # Ctrl+K" but aria-label names it "Search"; its text names it.
    (re.compile(r'(<button class="[^"]*\bsearch-button-field\b[^"]*"'
                r'[^>]*?) aria-label="Search"'), r"\1"),
    # label-in-name: the colour-mode button ("Color mode") holds icons
    # whose tooltips ("Light", "Dark") FontAwesome turns into text; they
    # are decoration.
    (re.compile(r'(<i class="theme-switch [^"]*"[^>]*?) title="[^"]*"'),
     r"\1"),
    # label-in-name: "Show code cell source" toggles named "Toggle hidden
    # content"; their visible text names them.
    (re.compile(r'<summary aria-label="Toggle hidden content">'),
     "<summary>"),
    # the bibliography: DPUB's doc-biblioentry role is deprecated, and a
    # role="list" must hold list items.
    (re.compile(r'role="doc-biblioentry"'), 'role="listitem"'),
]


def accessible_html(text: str) -> str:
    """A page's HTML with the theme-level accessibility fixes applied
    (idempotent).

    Used in: every page of the book (the build)
    """
    for pattern, replacement in _A11Y_FIXES:
        text = pattern.sub(replacement, text)
    return text


def _fix_pages(app, exception):
    """Apply :func:`accessible_html` to every HTML page written."""
    if exception is not None or app.builder.format != "html":
        return
    for path in Path(app.outdir).rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        fixed = accessible_html(text)
        if fixed != text:
            path.write_text(fixed, encoding="utf-8")


def _offline_config(app, config):
    config.mathjax_path = "mathjax/tex-chtml.js"
    # ipywidgets' embed scripts come from CDNs; the static site has no
    # ipywidgets (explore() builds plotly sliders there instead).
    config.nb_ipywidgets_js = {}


# ------------------------------------------------ readers and instructors

STUDENT_ENV = "CALC_NN_STUDENT"
# a gated solution, ```{solution-start} ... ```{solution-end} + its closing
# fence (backticks or colons), and a plain {solution} directive block
_GATED = re.compile(
    r"^(?P<f>`{3,}|:{3,})\{solution-start\}.*?^(?P=f)\{solution-end\}"
    r"[^\n]*\n(?P=f)[ \t]*(?:\n|\Z)", re.S | re.M)
_PLAIN = re.compile(r"^(?P<f>`{3,}|:{3,})\{solution\}.*?^(?P=f)[ \t]*"
                    r"(?:\n|\Z)", re.S | re.M)
_REMOVED = "*(The solution is not part of the student edition.)*\n"


def student_edition() -> bool:
    """True when the book is built as the student edition
    (``CALC_NN_STUDENT=1``, what ``make student`` sets)."""
    return os.environ.get(STUDENT_ENV, "").strip().lower() in (
        "1", "true", "yes", "on")


def strip_solutions(text: str) -> str:
    """MyST source without its exercise solutions (gated
    ``solution-start``/``solution-end`` blocks and ``{solution}``
    directives), each replaced by a one-line note."""
    text = _GATED.sub(_REMOVED, text)
    return _PLAIN.sub(_REMOVED, text)


def _student_config(app, config):
    if student_edition():
        config.hide_solutions = True


def _student_source(app, docname, source):
    """Student edition: remove solutions before parsing, so neither the
    HTML nor the executed notebook (the .ipynb download) holds them."""
    if student_edition():
        source[0] = strip_solutions(source[0])


def colab_url(html_root: str, pagename: str, repo_url: str) -> str | None:
    """Colab cannot open a MyST ``.md`` notebook: point it at the
    ``.ipynb`` copy published with the site on the ``gh-pages`` branch."""
    parts = repo_url.rstrip("/").split("/")
    if len(parts) < 2 or "github.com" not in repo_url:
        return None
    org, repo = parts[-2], parts[-1]
    return (f"{html_root.rstrip('/')}/github/{org}/{repo}/blob/gh-pages/"
            f"_sources/{pagename}.ipynb")


def _fix_colab_button(app, pagename, templatename, context, doctree):
    opts = app.config.html_theme_options or {}
    repo_url = opts.get("repository_url", "")
    for group in context.get("header_buttons") or []:
        for button in group.get("buttons", []) if isinstance(
                group, dict) else []:
            if button.get("text") == "Colab" and repo_url:
                base = opts.get("launch_buttons", {}).get(
                    "colab_url", "https://colab.research.google.com")
                url = colab_url(base, pagename, repo_url)
                if url:
                    button["url"] = url


SETUP_CELL = (
    "# Colab or a bare Jupyter: install the book's package if it is missing\n"
    "import importlib.util\n"
    "if importlib.util.find_spec(\"calc_nn\") is None:\n"
    "    get_ipython().run_line_magic(\"pip\", \"install -q "
    "'calc_nn[plots] @ git+{repo}'\")")


def add_setup_cell(nb: dict, repo_url: str) -> dict:
    """Prepend a code cell that installs ``calc_nn`` where it is missing
    (Colab); once only."""
    cells = nb.setdefault("cells", [])
    tag = "calc-nn-setup"
    if cells and tag in cells[0].get("metadata", {}).get("tags", []):
        return nb
    cells.insert(0, {"cell_type": "code", "execution_count": None,
                     "id": "calc-nn-setup", "outputs": [],
                     "metadata": {"tags": [tag]},
                     "source": SETUP_CELL.format(repo=repo_url)})
    return nb


def _finish_downloads(app, exception):
    """The .ipynb downloads get the setup cell; the student edition's
    downloadable sources lose their solutions."""
    if exception is not None or app.builder.format != "html":
        return
    sources = Path(app.outdir) / "_sources"
    if not sources.is_dir():
        return
    repo_url = (app.config.html_theme_options or {}).get(
        "repository_url", "")
    for path in sources.rglob("*.ipynb"):
        nb = json.loads(path.read_text(encoding="utf-8"))
        if repo_url:
            add_setup_cell(nb, repo_url)
        if student_edition():
            for cell in nb.get("cells", []):
                src = cell.get("source", "")
                src = "".join(src) if isinstance(src, list) else src
                cell["source"] = strip_solutions(src)
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False),
                        encoding="utf-8")
    if student_edition():
        for path in list(sources.rglob("*.md")) + list(
                sources.rglob("*.txt")):
            text = path.read_text(encoding="utf-8")
            path.write_text(strip_solutions(text), encoding="utf-8")


def setup(app):
    os.environ["CALC_NN_STATIC"] = "1"
    # The executing kernels inherit it: a figure's output is the plotly
    # JSON only, which PlotlyMimeRenderer draws (no plotly.js embedded).
    # Set here, not by importing calc_nn.plots: no import side effect.
    os.environ["PLOTLY_RENDERER"] = "plotly_mimetype"
    app.add_css_file("calc_nn.css")
    app.add_js_file("calc_nn_math.js")  # display formulas fit the column
    app.connect("config-inited", _student_config)
    app.connect("source-read", _student_source)
    app.connect("html-page-context", _fix_colab_button, priority=900)
    app.connect("build-finished", _finish_downloads)
    app.connect("config-inited", _offline_config)
    app.connect("html-page-context", _add_page_scripts)
    app.connect("html-page-context", _drop_thebe, priority=900)
    app.connect("build-finished", _copy_assets)
    app.connect("build-finished", _fix_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True,
            "version": "0.1"}
