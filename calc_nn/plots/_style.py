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
