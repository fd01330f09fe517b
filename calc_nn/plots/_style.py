"""Colours, labels and layout shared by every figure of the book.

Every figure is drawn twice: its wide layout, for containers of
:data:`NARROW_PX` CSS px and more, and a narrow patch for phones (containers
of :data:`PHONE_PX` to :data:`NARROW_PX` px) that the site applies (see
:func:`describe`). :func:`header` places the title, the legend and the
panel titles from the top of the figure in pixels, so that they cannot
overlap at any width of their range; :func:`stack` stacks the panels of a
row of subplots for the narrow patch.
"""

from __future__ import annotations

import re

COLORS = {
    "sigmoid": "#1f77b4",
    "tanh": "#d62728",
    "relu": "#2ca02c",
    "leaky_relu": "#9467bd",
    "derivative": "#ff7f0e",
    "muted": "#7f7f7f",
}
LABELS = {
    "sigmoid": "sigmoid σ",
    "tanh": "tanh",
    "relu": "ReLU",
    "leaky_relu": "Leaky ReLU",
}
LAYOUT = dict(template="plotly_white", height=420,
              margin=dict(l=60, r=20, t=60, b=50),
              legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0))

# Below this container width (CSS px) the site applies a figure's "narrow"
# patch (calc_nn/static/calc_nn_plotly.js reads the same number from
# layout.meta): panels stacked, cell numbers hidden.
NARROW_PX = 600
#: The narrowest container a narrow layout is made for (a 360 px phone).
PHONE_PX = 320
#: Font sizes (px) of the title, panel titles and legend, wide and narrow.
TITLE_SIZE = {"wide": 14, "narrow": 13}
PANEL_TITLE_SIZE = {"wide": 13, "narrow": 12}
LEGEND_SIZE = 12
# Pixels: above the title, between header blocks, of a legend row, and of
# a legend's own padding (measured on plotly.js 3 with a 12 px font). The
# space above the title is the modebar's row: plotly.js draws the modebar
# (on hover, or after a tap on a phone) 2 to 28 px from the top, right
# aligned, up to 240 px wide: over any title that reaches under it.
_TOP_PAD, _GAP, _LEGEND_ROW, _LEGEND_PAD = 32, 6, 19, 10


_SUPERSCRIPTS = str.maketrans("0123456789-.", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻·")
_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def superscript(text) -> str:
    """Digits (and - .) as Unicode superscripts: plotly prints "^2" as
    typed, so a figure writes W¹ or (·)² instead."""
    return str(text).translate(_SUPERSCRIPTS)


def subscript(text) -> str:
    """Digits as Unicode subscripts, e.g. r₂ for r_2."""
    return str(text).translate(_SUBSCRIPTS)


def describe(fig, text: str, *, narrow: dict | None = None):
    """Attach the figure's text alternative (and its narrow-screen layout).

    ``text`` says what the figure shows for this setting, computed from the
    same numbers as the traces (e.g. "ReLU and its derivative; at x = 0 the
    derivative jumps from 0 to 1"); the site puts it in the figure's
    accessible description and updates it with the state, live mode prints
    it under the figure. ``narrow``, optional, is
    ``{"layout": {relayout updates}, "traces": {index: {restyle updates}}}``
    applied when the figure is narrower than :data:`NARROW_PX` (after every
    state update: it may change with the state). Its ``layout.height`` is
    the narrow figure's height. Both live in ``fig.layout.meta``
    (``"description"``, ``"narrow"``), so :func:`calc_nn.widgets.explore`
    updates them with every other property. Returns ``fig``.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("text must be a non-empty description of the figure")
    meta = dict(fig.layout.meta or {})
    meta["description"] = text.strip()
    if narrow is not None:
        meta["narrow"] = _check_narrow(narrow, len(fig.data))
    fig.update_layout(meta=meta)
    return fig


# ------------------------------------------------------------ text sizes

# Character widths in em of DejaVu Sans, the font plotly's default family
# ("Open Sans", verdana, arial) falls to on Linux; Verdana's are alike.
_EM = [(0.32, " \u00a0.,·'ijlIJₜᵗˡ′:;|"), (0.4, "f/-t()[]⌊⌋r!₀₁¹²ᴸ"),
       (0.53, "szc∂ẑ?\"_*‖–"), (0.84, "=+−×÷<>≤≥±~#→∞"),
       (1.0, "mwMW%…—")]


def _char_em(ch: str) -> float:
    for em, chars in _EM:
        if ch in chars:
            return em
    return 0.74 if ch.isupper() else 0.64


def text_px(text: str, size: float) -> float:
    """Estimated width in px of the widest line of a plotly text (``<br>``
    separates lines, other tags are ignored) in a ``size`` px font."""
    return max(sum(_char_em(c) for c in re.sub(r"<[^>]+>", "", line))
               for line in re.split(r"<br\s*/?>", text)) * size


def n_lines(text: str) -> int:
    """Number of lines of a plotly text."""
    return len(re.split(r"<br\s*/?>", text))


def wrap(text: str, max_px: float, size: float) -> str:
    """``text`` with ``<br>`` wherever a line would be wider than ``max_px``
    in a ``size`` px font: between the items of a list joined by " · " if
    it can, else between words (existing breaks are kept)."""
    lines = []
    for para in re.split(r"<br\s*/?>", text):
        line = ""
        for item in re.split(r"(?<= ·) ", para):
            trial = f"{line} {item}" if line else item
            if text_px(trial, size) <= max_px:
                line = trial
                continue
            if line:
                lines.append(line)
            line = ""
            for word in item.split(" "):
                trial = f"{line} {word}" if line else word
                if line and text_px(trial, size) > max_px:
                    lines.append(line)
                    line = word
                else:
                    line = trial
        lines.append(line)
    return "<br>".join(lines)


def title_px(text: str, size: float) -> float:
    """Height in px of a plotly title or annotation of ``n_lines`` lines."""
    return size * (1.15 + 1.3 * (n_lines(text) - 1))


# ------------------------------------------------------------ layout

def legend_grid(labels, plot_px: float) -> tuple[int, int, int]:
    """``(columns, rows, column_px)`` of a horizontal legend of ``labels``
    in ``plot_px``: one row if it fits, else columns of the widest entry
    (plotly wraps a legend at the plot area's width; an entry takes its
    text and 45 px of symbol and gaps)."""
    n = len(labels)
    text = max(text_px(s, LEGEND_SIZE) for s in labels)
    if sum(text_px(s, LEGEND_SIZE) + 45 for s in labels) <= plot_px:
        return n, 1, 0
    cols = max(1, min(n, int(plot_px // (text + 45))))
    return cols, -(-n // cols), int(text) + 2


def title_y(size: float, height: int) -> float:
    """The ``y`` (container fraction, with ``yanchor="bottom"``) that puts
    a title's letters ``_TOP_PAD`` px from the top, below the modebar's
    row: plotly puts the first baseline at ``y`` (whatever yanchor says
    when the title has several lines), and the letters' top 0.92 em above
    it."""
    return round(1 - (_TOP_PAD + 0.92 * size) / height, 4)


def header(title: str, *, width: str, height: int, margin: dict,
           legend=(), panel_titles: int = 0) -> dict:
    """Layout of the top of a figure: title, legend, panel titles, in
    that order from the top, none overlapping at any width of its range.

    Parameters
    ----------
    title : str
        Wrapped here to the narrowest width of the range.
    width : {"wide", "narrow"}
        Containers from :data:`NARROW_PX` px, or from :data:`PHONE_PX` to
        :data:`NARROW_PX` px.
    height : int
        The figure's height (px).
    margin : dict
        ``l``, ``r`` and ``b`` (px); ``t`` is computed.
    legend : sequence of str
        The legend's entries, drawn in a row (or a grid) above the plot.
    panel_titles : int
        Lines of the tallest panel title of the top row (0: none).

    Returns
    -------
    dict of layout properties (``title``, ``legend``, ``margin``,
    ``height``), nested as in :meth:`go.Figure.update_layout`.
    """
    container = NARROW_PX if width == "wide" else PHONE_PX
    size = TITLE_SIZE[width]
    text = wrap(title, container - 24, size)
    top = _TOP_PAD + title_px(text, size) + _GAP
    layout = dict(
        height=height,
        title=dict(text=text, font=dict(size=size), xref="container", x=0,
                   xanchor="left", pad=dict(l=12), yref="container",
                   yanchor="bottom", y=title_y(size, height)))
    if legend:
        plot_px = container - margin["l"] - margin["r"]
        cols, rows, column = legend_grid(legend, plot_px)
        layout["legend"] = dict(
            orientation="h", font=dict(size=LEGEND_SIZE), xref="paper",
            x=0, xanchor="left", yref="container", yanchor="top",
            y=round(1 - top / height, 4),
            entrywidthmode=None if rows == 1 else "pixels",
            entrywidth=column or None)
        top += _LEGEND_PAD + _LEGEND_ROW * rows
    if panel_titles:
        # an annotation: lines of 1.35 em and 2 px of padding each side
        size = PANEL_TITLE_SIZE[width]
        top += size * (1.2 + 1.35 * (panel_titles - 1)) + 4
    layout["margin"] = dict(margin, t=round(top + _GAP + 4))
    return layout


def legend_entries(fig) -> list[str]:
    """Names of the traces ``fig``'s legend shows (plotly's rule: traces
    with ``showlegend`` not False, when there are several)."""
    shown = [t for t in fig.data if t.visible is not False
             and t.showlegend is not False and t.name]
    if len(fig.data) == 1 and fig.data[0].showlegend is not True:
        return []
    return [t.name for t in shown]


def frame(fig, title: str, *, height: int, margin: dict | None = None,
          panel_titles: int = 0, narrow_height: int | None = None,
          narrow_margin: dict | None = None, legend=None,
          narrow_panels=None, narrow_gaps=0,
          narrow_panel_titles: int | None = None) -> dict:
    """Lay out ``fig``'s top (:func:`header`) for wide containers, and
    return the narrow layout as relayout updates (what differs, and always
    ``height`` and ``margin.t``).

    ``margin`` (``l``, ``r``, ``b``; default 60, 20, 50 px) and ``height``
    are the wide figure's; ``narrow_margin`` and ``narrow_height`` change
    them for the narrow one, whose panels, if ``narrow_panels`` are given,
    are stacked (:func:`stack`, which then sets the height), and whose
    panel titles may have ``narrow_panel_titles`` lines. ``legend``
    defaults to the legend's entries.
    """
    margin = {"l": 60, "r": 20, "b": 50, **(margin or {})}
    small = {**margin, **(narrow_margin or {})}
    entries = legend_entries(fig) if legend is None else list(legend)
    wide = header(title, width="wide", height=height, margin=margin,
                  legend=entries, panel_titles=panel_titles)
    fig.update_layout(template="plotly_white", **wide)
    # x tick labels clear of the y tick label at a corner (0 beside 0)
    fig.update_xaxes(ticklabelstandoff=6)
    fig.update_yaxes(ticklabelstandoff=3)
    panels = {}
    if narrow_panel_titles is not None:
        panel_titles = narrow_panel_titles
    if narrow_panels:
        top = header(title, width="narrow", height=1000, margin=small,
                     legend=entries,
                     panel_titles=panel_titles)["margin"]["t"]
        narrow_height, panels = stack(narrow_panels, top=top,
                                      bottom=small["b"], gaps=narrow_gaps)
    narrow = flat(header(title, width="narrow",
                         height=narrow_height or height, margin=small,
                         legend=entries, panel_titles=panel_titles))
    wide = flat(wide)
    keep = ("height", "margin.t")  # what a narrow layout is built on
    return {**{k: v for k, v in narrow.items()
               if wide.get(k) != v or k in keep}, **panels}


def panel_fonts(fig, count: int) -> dict:
    """Set the font of the first ``count`` annotations (the panel titles of
    ``make_subplots``) to the wide size; return the narrow one's update."""
    for note in fig.layout.annotations[:count]:
        note.font.size = PANEL_TITLE_SIZE["wide"]
    return {f"annotations[{i}].font.size": PANEL_TITLE_SIZE["narrow"]
            for i in range(count)}


def cell_font(cell_px: float, texts, sizes=(12, 11, 10, 9)) -> int | None:
    """The largest font size (px) of ``sizes`` at which the widest of
    ``texts`` fits a heatmap cell of ``cell_px`` with 4 px to spare, or
    None: the cell is too small to hold its number."""
    widest = max((text_px(str(t), 1) for t in texts), default=0)
    for size in sizes:
        if widest * size <= cell_px - 4 and 1.2 * size <= cell_px:
            return size
    return None


def cell_text(cell_px: float, texts) -> dict:
    """Restyle of a heatmap whose cells are ``cell_px`` wide: the font that
    fits (:func:`cell_font`), or no numbers at all."""
    size = cell_font(cell_px, texts)
    return {"texttemplate": ""} if size is None else {"textfont.size": size}


def two_panels(fig, title: str, *, height: int, heights=(220, 220),
               gap: int = 90, titles: bool = True, **kwargs) -> dict:
    """:func:`frame` for a row of two subplots (with panel titles, unless
    ``titles`` is False), stacked on a phone, the upper ``heights[0]`` px
    tall, ``gap`` px above the lower one. Returns the narrow layout."""
    fonts = panel_fonts(fig, 2) if titles else {}
    narrow = frame(fig, title, height=height, panel_titles=int(titles),
                   narrow_panels=[("xaxis", "yaxis", heights[0],
                                   0 if titles else None),
                                  ("xaxis2", "yaxis2", heights[1],
                                   1 if titles else None)],
                   narrow_gaps=gap, **kwargs)
    return {**narrow, **fonts}


def stack(panels, *, top: int, bottom: int, gaps) -> tuple[int, dict]:
    """Narrow layout of panels stacked vertically, one per row.

    Parameters
    ----------
    panels : sequence of (str, str, int, int or None)
        ``(xaxis, yaxis, height_px, title)`` of each panel from the top,
        e.g. ``("xaxis2", "yaxis2", 240, 1)``; ``title`` is the index of
        its title in ``layout.annotations`` (or None).
    top, bottom : int
        Margins (px).
    gaps : int or sequence of int
        Space between two panels (px): the upper one's tick labels and
        axis title, the lower one's title.

    Returns
    -------
    height : int
        The figure's height.
    relayout : dict
        Domains and title positions, as ``Plotly.relayout`` takes them.
    """
    gaps = [gaps] * (len(panels) - 1) if isinstance(gaps, int) else gaps
    height = top + bottom + sum(p[2] for p in panels) + sum(gaps)
    plot = height - top - bottom
    out, y = {}, 0.0
    for k, (xaxis, yaxis, px, title) in enumerate(panels):
        y1 = 1 - y / plot
        y0 = max(y1 - px / plot, 0.0)
        out[f"{xaxis}.domain"] = [0, 1]
        out[f"{yaxis}.domain"] = [round(y0, 4), round(y1, 4)]
        if title is not None:
            out[f"annotations[{title}].x"] = 0.5
            out[f"annotations[{title}].y"] = round(y1, 4)
        y += px + (gaps[k] if k < len(gaps) else 0)
    return height, out


def flat(nested: dict, prefix: str = "") -> dict:
    """Dotted keys (``"title.font.size"``) of nested layout properties:
    the form ``Plotly.relayout`` takes without replacing whole objects."""
    out = {}
    for key, value in nested.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def _check_narrow(narrow, n_traces: int) -> dict:
    if not isinstance(narrow, dict) or not set(narrow) <= {"layout",
                                                           "traces"}:
        raise ValueError("narrow must be a dict with keys 'layout' and/or "
                         f"'traces', got {narrow!r}")
    for index in narrow.get("traces", {}):
        if not (isinstance(index, str) and index.isdigit()
                and int(index) < n_traces):
            raise ValueError(f"narrow['traces'] keys must be trace indices "
                             f"as strings below {n_traces}, got {index!r}")
    return narrow
