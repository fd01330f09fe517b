"""Colours, labels and layout shared by every figure of the book."""

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


def describe(fig, text: str, *, narrow: dict | None = None):
    """Attach the figure's text alternative (and its narrow-screen layout).

    ``text`` says what the figure shows for this setting, computed from the
    same numbers as the traces (e.g. "ReLU and its derivative; at x = 0 the
    derivative jumps from 0 to 1"); the site puts it in the figure's
    accessible description and updates it with the state, live mode prints
    it under the figure. ``narrow``, optional, is
    ``{"layout": {relayout updates}, "traces": {index: {restyle updates}}}``
    applied when the figure is narrower than :data:`NARROW_PX`. Both live in
    ``fig.layout.meta`` (``"description"``, ``"narrow"``), so
    :func:`calc_nn.widgets.explore` updates them with every other property.
    Returns ``fig``.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("text must be a non-empty description of the figure")
    meta = dict(fig.layout.meta or {})
    meta["description"] = text.strip()
    if narrow is not None:
        meta["narrow"] = narrow
    fig.update_layout(meta=meta)
    return fig
