"""Figures of the chapter "CNN layers": the convolution explorer (forward
and backward views) and the pooling gradients.

Images are 28x28 with pixel values 0-255 as stored in the MNIST files
(integers keep the precomputed slider states of the static site small).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from calc_nn import conv
from calc_nn.plots._style import (
    COLORS,
    NARROW_PX,
    PANEL_TITLE_SIZE,
    PHONE_PX,
    cell_text,
    describe,
    frame,
    panel_fonts,
    subscript,
    wrap,
)
from calc_nn.symbolic.cnn_formulas import receptive_field, worked_example
from calc_nn.widgets import Choice, Slider

__all__ = [
    "KERNELS",
    "KERNEL_LABELS",
    "PATTERNS",
    "WEIGHT_VALUES",
    "kernel_controls",
    "custom_kernel",
    "upstream_gradient",
    "mnist_dir",
    "explorer_images",
    "conv_forward",
    "conv_backward",
    "pooling_gradients",
    "shift",
    "translation_equivariance",
    "receptive_field_map",
]

KERNELS = {
    "edges": np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
    "blur": np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16,
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    "sobel_x": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
    "sobel_y": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]),
}
KERNEL_LABELS = {"edges": "edges", "blur": "blur", "sharpen": "sharpen",
                 "sobel_x": "Sobel x", "sobel_y": "Sobel y"}
#: Upstream gradient patterns dL/dY of the backward view.
PATTERNS = {"one": "one position", "ones": "all ones", "row": "a row",
            "checker": "checkerboard"}
#: The values of each weight slider of the custom kernel (live kernel).
WEIGHT_VALUES = (-8, -4, -2, -1, -0.5, -0.25, 0, 0.25, 0.5, 1, 2, 4, 8)
_IDENTITY = np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]])
_SIDE = 28
_MNIST_FILE = "t10k-images-idx3-ubyte"
# the first two test images (labels 7 and 2)
_DIGITS = {"digit 7": 0, "digit 2": 1}


def mnist_dir() -> Path | None:
    """The folder of the MNIST test images that calc_nn.data's lookup
    finds (:func:`calc_nn.data.find_mnist_file`), or None."""
    from calc_nn.data import find_mnist_file

    path = find_mnist_file(_MNIST_FILE)
    return None if path is None else path.parent


def _patterns() -> dict[str, np.ndarray]:
    """Drawn 28x28 test patterns, values 0 or 255."""
    r, c = np.mgrid[:_SIDE, :_SIDE]
    square = ((r >= 7) & (r < 21) & (c >= 7) & (c < 21)).astype(int)
    ring = (np.abs(np.hypot(r - 13.5, c - 13.5) - 9) < 1.6).astype(int)
    cross = ((np.abs(r - c) <= 1) | (np.abs(r + c - 27) <= 1)) & \
        (r >= 4) & (r < 24)
    return {"square": 255 * square, "ring": 255 * ring,
            "diagonals": 255 * cross.astype(int)}


def explorer_images() -> dict[str, np.ndarray]:
    """Inputs of the explorer: a few MNIST test digits when the data set is
    found (:func:`mnist_dir`), and always the drawn patterns.

    Returns
    -------
    dict of name -> int ndarray, shape (28, 28), values 0-255

    Used in: book/cnn.md
    """
    images = {}
    where = mnist_dir()
    if where is not None:
        from calc_nn.data import find_mnist_file, read_idx

        digits = read_idx(find_mnist_file(_MNIST_FILE, root=where))
        images = {name: digits[i].astype(int) for name, i in _DIGITS.items()}
    return images | _patterns()


def _compact(a: np.ndarray) -> np.ndarray:
    """Integers when the values are integers (shorter precomputed states)."""
    rounded = np.rint(a)
    return rounded.astype(int) if np.array_equal(rounded, a) else a


def _box(fig, top: float, left: float, height: float, width: float,
         row: int, col: int, color: str = COLORS["derivative"],
         dash: str = "solid", width_px: float = 2) -> None:
    """A rectangle (a layout shape) around cells [top, top + height) x
    [left, left + width) of the heatmap in subplot (row, col)."""
    fig.add_shape(type="rect", x0=left - 0.5, x1=left + width - 0.5,
                  y0=top - 0.5, y1=top + height - 0.5, row=row, col=col,
                  line=dict(color=color, dash=dash, width=width_px))


def _image_axes(fig, n_panels):
    """Row 0 on top and square pixels in subplots 1..n; an image hangs from
    its panel's title when the panel is taller than it."""
    for k in range(1, n_panels + 1):
        suffix = "" if k == 1 else str(k)
        fig.layout[f"yaxis{suffix}"].update(autorange="reversed",
                                            scaleanchor=f"x{suffix}",
                                            constrain="domain",
                                            constraintoward="top",
                                            showgrid=False, zeroline=False)
        fig.layout[f"xaxis{suffix}"].update(constrain="domain",
                                            showgrid=False, zeroline=False)


def _fraction(v: float) -> str:
    """A kernel weight as a reader writes it: 2, -0.5, 1/16."""
    from fractions import Fraction

    f = Fraction(float(v)).limit_denominator(64)
    return f"{v:g}" if f.denominator == 1 or float(f) != v else str(f)


# The explorers' three panels: image, 3x3 array, image
_COLUMNS, _SPACING, _MARGIN = (0.38, 0.24, 0.38), 0.06, dict(l=40, r=20,
                                                             b=80)


def _conv_panels(titles):
    return make_subplots(rows=1, cols=3, column_widths=list(_COLUMNS),
                         horizontal_spacing=_SPACING, subplot_titles=titles)


def _conv_layout(fig, title: str, cell_texts) -> dict:
    """Title and panel titles wrapped to the panels of the narrowest wide
    figure; the narrow layout stacks the three panels (the colour bar of
    the third goes under it) and sizes the numbers of the middle one."""
    plot = (NARROW_PX - _MARGIN["l"] - _MARGIN["r"]) * (1 - 2 * _SPACING)
    size = PANEL_TITLE_SIZE["wide"]
    texts = [a.text for a in fig.layout.annotations[:3]]
    lines = 1
    for note, width in zip(fig.layout.annotations[:3], _COLUMNS):
        note.text = wrap(note.text, width * plot, size)
        lines = max(lines, note.text.count("<br>") + 1)
    fonts = panel_fonts(fig, 3)
    fig.data[1].update(cell_text(_COLUMNS[1] * plot / 3, cell_texts))
    narrow = frame(fig, title, height=380, margin=_MARGIN,
                   panel_titles=lines,
                   narrow_panels=[("xaxis", "yaxis", 250, 0),
                                  ("xaxis2", "yaxis2", 130, 1),
                                  ("xaxis3", "yaxis3", 250, 2)],
                   narrow_gaps=56)
    narrow.update({f"annotations[{i}].text": t for i, t in enumerate(texts)})
    # the colour bar of the third panel lies under it, below its ticks
    wide_h = 380 - fig.layout.margin.t - _MARGIN["b"]
    narrow_h = narrow["height"] - narrow["margin.t"] - _MARGIN["b"]
    x0, x1 = fig.layout.xaxis3.domain
    fig.data[2].colorbar.update(
        orientation="h", thickness=10, len=x1 - x0, x=(x0 + x1) / 2,
        xanchor="center", y=round(-30 / wide_h, 4), yanchor="top")
    kernel = (PHONE_PX - _MARGIN["l"] - _MARGIN["r"]) / 3
    return {"layout": {**narrow, **fonts}, "traces": {
        "1": cell_text(min(kernel, 130 / 3), cell_texts),
        "2": {"colorbar.x": 0.5, "colorbar.len": 1,
              "colorbar.y": round(-30 / narrow_h, 4)}}}


def _hover(name: str) -> str:
    """Hover text of a heatmap cell: the panel's quantity, the cell's row
    and column, its value (a tap on a phone shows it too)."""
    return f"{name}, row %{{y}}, col %{{x}}: %{{z}}<extra></extra>"


def _kernel_panel(fig, k):
    """The kernel as a heatmap with its weights written in the cells
    (middle panel); returns the weights and their texts."""
    kz = _compact(k)
    text = [[_fraction(v) for v in row] for row in kz]
    fig.add_trace(go.Heatmap(z=kz, text=text, texttemplate="%{text}",
                             colorscale="RdBu", zmid=0, showscale=False,
                             name="kernel", hovertemplate=_hover("kernel")),
                  1, 2)
    return kz, text


def _rows(a, fmt="{:g}".format) -> str:
    """A small array row by row: "1 3; 4 2"."""
    return "; ".join(" ".join(fmt(v) for v in row) for row in a)


def kernel_controls() -> list:
    """Live-only controls of a custom 3x3 kernel: ``source`` ("preset" or
    "custom") and the nine weights ``w00`` ... ``w22`` (default: the
    identity kernel). Shown in a live kernel; the static site keeps the
    presets. Pass them to :func:`calc_nn.widgets.explore` with
    ``lambda ..., source, **w: conv_forward(..., custom=custom_kernel(
    source, **w))``.

    Used in: book/cnn.md
    """
    controls = [Choice("source", ["preset", "custom"], default="preset",
                       label="kernel from", live_only=True)]
    for i in range(3):
        for j in range(3):
            controls.append(Slider(
                f"w{i}{j}", WEIGHT_VALUES, default=int(_IDENTITY[i, j]),
                label=f"W[{i},{j}]", live_only=True))
    return controls


def custom_kernel(source: str = "preset", **weights) -> np.ndarray | None:
    """The 3x3 kernel of :func:`kernel_controls`' values: None for
    ``source="preset"``, else the weights ``w00`` ... ``w22`` (missing ones
    are the identity kernel's).

    Used in: book/cnn.md
    """
    if source == "preset":
        return None
    if source != "custom":
        raise ValueError(f"source must be 'preset' or 'custom', got "
                         f"{source!r}")
    unknown = set(weights) - {f"w{i}{j}" for i in range(3) for j in range(3)}
    if unknown:
        raise ValueError(f"unknown weights {sorted(unknown)}; expected "
                         "w00 ... w22")
    return np.array([[float(weights.get(f"w{i}{j}", _IDENTITY[i, j]))
                      for j in range(3)] for i in range(3)])


def conv_forward(image: str, kernel: str, stride: int = 1,
                 padding: int = 1, images=None,
                 custom=None) -> go.Figure:
    """Forward view: padded input, 3x3 kernel, output feature map.

    The boxes mark the first window (top left) and the output it makes.
    ``custom`` (array_like, shape (3, 3)), when given, replaces the preset
    ``kernel``.

    Used in: book/cnn.md
    """
    images = explorer_images() if images is None else images
    x = images[image]
    if custom is not None:
        k = np.asarray(custom, dtype=float)
        if k.shape != (3, 3) or not np.all(np.isfinite(k)):
            raise ValueError(f"custom must be a finite (3, 3) kernel, got "
                             f"shape {k.shape}")
        kernel_label = "custom"
    else:
        k = KERNELS[kernel]
        kernel_label = KERNEL_LABELS[kernel]
    out, _ = conv.conv2d_forward(x[None, None].astype(float),
                                 k[None, None], stride=stride,
                                 padding=padding)
    out = _compact(out[0, 0])
    xp = np.pad(x, padding)
    Ho, Wo = out.shape
    fig = _conv_panels((f"input, padded {xp.shape[0]}×{xp.shape[1]}",
                        f"kernel ({kernel_label})", f"output {Ho}×{Wo}"))
    fig.add_trace(go.Heatmap(z=xp, colorscale="gray", zmin=0, zmax=255,
                             showscale=False, name="input",
                             hovertemplate=_hover("input")), 1, 1)
    _box(fig, 0, 0, 3, 3, 1, 1)
    # the image's own border inside the padding
    _box(fig, padding, padding, x.shape[0], x.shape[1], 1, 1,
         color=COLORS["muted"], dash="dot", width_px=1)
    kz, text = _kernel_panel(fig, k)
    fig.add_trace(go.Heatmap(z=out, colorscale="RdBu", zmid=0,
                             showscale=True, name="output",
                             hovertemplate=_hover("output")), 1, 3)
    _box(fig, 0, 0, 1, 1, 1, 3)
    _image_axes(fig, 3)
    size = (f"⌊({x.shape[0]} + 2·{padding} − 3)/{stride}⌋ + 1 = {Ho}")
    narrow = _conv_layout(fig, f"{size}: stride {stride}, padding "
                               f"{padding}", np.ravel(text))
    return describe(
        fig, f"Convolution of the {x.shape[0]}×{x.shape[1]} image "
             f"“{image}”, padded with zeros to {xp.shape[0]}×{xp.shape[1]}, "
             f"with the 3×3 {kernel_label} kernel (rows "
             f"{_rows(kz, _fraction)}), "
             f"stride {stride}: the output is {Ho}×{Wo} ({size}), with "
             f"values from {out.min():g} to {out.max():g}; the first "
             f"window, at the top left, gives Y[0, 0] = {out[0, 0]:g}.",
        narrow=narrow)


def upstream_gradient(pattern: str, shape=(_SIDE, _SIDE), row: int = 0,
                      col: int = 0) -> np.ndarray:
    """The upstream gradient dL/dY of the backward view.

    Parameters
    ----------
    pattern : {"one", "ones", "row", "checker"}
        1 at ``(row, col)`` and 0 elsewhere (``L = Y[row, col]``); 1
        everywhere (``L = sum Y``); 1 on output row ``row``; +1/-1 in a
        checkerboard (``(-1)^(i + j)``).
    shape : (int, int)
        (H_out, W_out).
    row, col : int
        Position used by "one" (row and column) and "row" (row).

    Returns
    -------
    ndarray, shape (H_out, W_out), float

    Used in: book/cnn.md
    """
    H, W = shape
    if pattern not in PATTERNS:
        raise ValueError(f"pattern must be one of {list(PATTERNS)}, got "
                         f"{pattern!r}")
    if not (0 <= row < H and 0 <= col < W):
        raise ValueError(f"(row, col) = ({row}, {col}) is outside the "
                         f"output of shape ({H}, {W})")
    g = np.zeros((H, W))
    if pattern == "one":
        g[row, col] = 1.0
    elif pattern == "ones":
        g[:] = 1.0
    elif pattern == "row":
        g[row] = 1.0
    else:
        i, j = np.indices((H, W))
        g = np.where((i + j) % 2 == 0, 1.0, -1.0)
    return g


def _short(v) -> str:
    """A weight gradient in at most 4 characters: 255, -1.5, 16k."""
    if abs(v) >= 1e4:
        return f"{v / 1e3:.0f}k"
    return f"{v:.3g}" if abs(v) < 999.5 else f"{v / 1e3:.1f}k"


_PATTERN_LOSS = {"one": "L = Y[{row}, {col}]", "ones": "L = ΣY",
                 "row": "L = Σ row {row} of Y",
                 "checker": "L = Σ (−1)ⁱ⁺ʲ Y[i, j]"}


def conv_backward(image: str, row: int, col: int, kernel: str = "sobel_x",
                  images=None, pattern: str = "one") -> go.Figure:
    """Backward view (stride 1, padding 1) for the upstream gradient
    ``dL/dY`` of :func:`upstream_gradient` (``pattern``).

    With ``pattern="one"``, ``L = Y[row, col]``: left, the input with the
    window that made ``Y[row, col]`` (centred on input pixel (row, col));
    middle, ``dL/dW``, the window's pixels; right, ``dL/dX``, the kernel
    placed on the window. Other patterns sum these pictures over the
    positions, weighted by ``dL/dY``.

    Used in: book/cnn.md
    """
    images = explorer_images() if images is None else images
    x = images[image].astype(float)
    k = KERNELS[kernel]
    out, cache = conv.conv2d_forward(x[None, None], k[None, None],
                                     padding=1)
    dout = upstream_gradient(pattern, out.shape[2:], row, col)[None, None]
    dx, dw, _ = conv.conv2d_backward(dout, cache)
    dx, dw = _compact(dx[0, 0]), _compact(dw[0, 0])
    loss = float(np.sum(dout * out))
    one = pattern == "one"
    fig = _conv_panels((
        f"input X, window of Y[{row},\u00a0{col}]" if one else
        f"input X, ∂L/∂Y: {PATTERNS[pattern]}",
        "∂L/∂W = window" if one else "∂L/∂W = X ⋆ ∂L/∂Y",
        f"∂L/∂X = W ({KERNEL_LABELS[kernel]}) on window" if one else
        f"∂L/∂X (W = {KERNEL_LABELS[kernel]})"))
    fig.add_trace(go.Heatmap(z=x.astype(int), colorscale="gray", zmin=0,
                             zmax=255, showscale=False, name="X",
                             hovertemplate=_hover("X")), 1, 1)
    if pattern in ("one", "row"):
        _box(fig, row - 1, col - 1 if one else -1, 3, 3 if one else _SIDE + 2,
             1, 1)
    text = [[_short(v) for v in r] for r in dw]
    w_max = max(float(np.abs(dw).max()), 1.0)
    fig.add_trace(go.Heatmap(
        z=dw, text=text, texttemplate="%{text}",
        colorscale="gray" if one else "RdBu",
        zmin=0 if one else -w_max, zmax=255 if one else w_max,
        showscale=False, name="∂L/∂W", hovertemplate=_hover("∂L/∂W")),
        1, 2)
    x_max = 2.0 if one else max(float(np.abs(dx).max()), 1.0)
    fig.add_trace(go.Heatmap(z=dx, colorscale="RdBu", zmid=0, zmin=-x_max,
                             zmax=x_max, showscale=True, name="∂L/∂X",
                             hovertemplate=_hover("∂L/∂X")), 1, 3)
    if pattern in ("one", "row"):
        _box(fig, row - 1, col - 1 if one else -1, 3, 3 if one else _SIDE + 2,
             1, 3)
    _image_axes(fig, 3)
    what = _PATTERN_LOSS[pattern].format(row=row, col=col)
    n_x, n_w = int(np.count_nonzero(dx)), int(np.count_nonzero(dw))
    narrow = _conv_layout(fig, f"{what} = {loss:g}: gradient to {n_x} "
                               f"pixels, {n_w} weights", np.ravel(text))
    where = (f"the window of X around pixel ({row}, {col})" if one else
             "the correlation of X with ∂L/∂Y")
    return describe(
        fig, f"Backward pass of the convolution (stride 1, padding 1) of "
             f"“{image}” with the {KERNEL_LABELS[kernel]} kernel, for "
             f"{what} = {loss:g}, upstream gradient ∂L/∂Y: "
             f"{PATTERNS[pattern]}. ∂L/∂W is {where}: rows {_rows(dw)}. "
             f"∂L/∂X is nonzero at {n_x} pixels, from {dx.min():g} to "
             f"{dx.max():g}; {n_w} of the 9 weights get a gradient.",
        narrow=narrow)


def pooling_gradients(kind: str) -> go.Figure:
    """Max vs average pooling (2x2, stride 2) on a 4x4 input: the upstream
    gradient (2x2) goes to each window's maximum, or is spread over it.

    Used in: book/cnn.md
    """
    example = worked_example()
    x = example["P"].astype(float)[None, None]
    dout = example["GP"].astype(float)[None, None]
    if kind == "max":
        out, cache = conv.maxpool2d_forward(x, 2)
        dx = conv.maxpool2d_backward(dout, cache)
    elif kind == "avg":
        out, cache = conv.avgpool2d_forward(x, 2)
        dx = conv.avgpool2d_backward(dout, cache)
    else:
        raise ValueError(f"kind must be 'max' or 'avg', got {kind!r}")
    panels = [(x[0, 0], "input X (4×4)"),
              (out[0, 0], f"{kind} pool Y (2×2)"),
              (dout[0, 0], "upstream ∂L/∂Y"),
              (dx[0, 0], "∂L/∂X")]
    fig = make_subplots(rows=1, cols=4, horizontal_spacing=0.05,
                        subplot_titles=[t for _, t in panels])
    for c, (z, _) in enumerate(panels, start=1):
        text = [[f"{v:g}" for v in r] for r in z]
        fig.add_trace(go.Heatmap(z=z, text=text, texttemplate="%{text}",
                                 colorscale="Blues", zmin=0, zmax=7,
                                 showscale=False, hoverinfo="skip"), 1, c)
    # the four windows, on the input and on dX
    for c in (1, 4):
        for top in (0, 2):
            for left in (0, 2):
                _box(fig, top, left, 2, 2, 1, c, color=COLORS["muted"])
    _image_axes(fig, 4)
    fig.update_xaxes(dtick=1)
    fig.update_yaxes(dtick=1)
    fonts = panel_fonts(fig, 4)
    narrow = frame(fig, "max pooling: each gradient goes to its window's "
                        "maximum" if kind == "max" else
                   "average pooling: each gradient is shared by its 4 "
                   "inputs", height=300, margin=dict(l=30, r=10, b=30),
                   panel_titles=1, narrow_height=480)
    narrow.update(_grid_2x2(narrow["height"], narrow["margin.t"], 30))
    return describe(
        fig, f"{'Max' if kind == 'max' else 'Average'} pooling, 2×2 "
             f"windows with stride 2, of the 4×4 input X (rows "
             f"{_rows(x[0, 0])}): Y = {_rows(out[0, 0])}. The upstream "
             f"gradient ∂L/∂Y = {_rows(dout[0, 0])} gives ∂L/∂X = "
             f"{_rows(dx[0, 0])}" + (": each window's maximum gets its "
                                     "gradient, the other inputs 0."
                                     if kind == "max" else
                                     ": each input gets a quarter of its "
                                     "window's gradient."),
        narrow={"layout": {**narrow, **fonts}})


def shift(a, down: int, right: int) -> np.ndarray:
    """``a`` (H, W) moved ``down`` rows and ``right`` columns (negative:
    up, left); what moves out is lost, what comes in is 0.

    Used in: book/cnn.md
    """
    a = np.asarray(a)
    out = np.zeros_like(a)
    H, W = a.shape
    if abs(down) < H and abs(right) < W:
        out[max(down, 0):H + min(down, 0), max(right, 0):W + min(right, 0)] \
            = a[max(-down, 0):H - max(down, 0),
                max(-right, 0):W - max(right, 0)]
    return out


def _bounding_box(a) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the nonzero entries of ``a``."""
    rows, cols = np.nonzero(a)
    if rows.size == 0:
        return 0, 0, 0, 0
    return (int(rows.min()), int(cols.min()), int(np.ptp(rows)) + 1,
            int(np.ptp(cols)) + 1)


def translation_equivariance(image: str, down: int, right: int,
                             kernel: str = "sobel_x",
                             images=None) -> go.Figure:
    """Shift the input, and the feature map shifts with it.

    Left, the image moved ``down`` rows and ``right`` columns
    (:func:`shift`); middle, the 3x3 kernel; right, the feature map of
    the moved image (stride 1, padding 1). Dotted boxes: where the image
    and its feature map were before the move; solid: where they are.

    Used in: book/cnn.md
    """
    images = explorer_images() if images is None else images
    x = images[image].astype(float)
    k = KERNELS[kernel]

    def feature_map(a):
        out, _ = conv.conv2d_forward(a[None, None], k[None, None],
                                     padding=1)
        return out[0, 0]

    moved = shift(x, down, right)
    out = _compact(feature_map(moved))
    expected = shift(feature_map(x), down, right)
    n_same = int(np.sum(np.isclose(out, expected, rtol=0, atol=1e-9)))
    fig = _conv_panels((f"moved {_rows_cols(down, right)}",
                        f"kernel ({KERNEL_LABELS[kernel]})",
                        "feature map"))
    fig.add_trace(go.Heatmap(z=moved.astype(int), colorscale="gray",
                             zmin=0, zmax=255, showscale=False,
                             name="input", hovertemplate=_hover("input")),
                  1, 1)
    _, text = _kernel_panel(fig, k)
    top = float(np.abs(feature_map(x)).max()) or 1.0
    fig.add_trace(go.Heatmap(z=out, colorscale="RdBu", zmin=-top,
                             zmax=top, showscale=True, name="feature map",
                             hovertemplate=_hover("feature map")), 1, 3)
    for col, before, after in ((1, x, moved),
                               (3, feature_map(x), out)):
        _box(fig, *_bounding_box(before), 1, col, color=COLORS["muted"],
             dash="dot", width_px=1)
        _box(fig, *_bounding_box(after), 1, col)
    _image_axes(fig, 3)
    total = out.size
    verdict = ("the same map, moved by the same amount" if n_same == total
               else f"the moved map at {n_same} of {total} positions")
    narrow = _conv_layout(fig, f"Input moved {_rows_cols(down, right)}: "
                               f"feature map = {verdict}", np.ravel(text))
    return describe(
        fig, f"The {x.shape[0]}×{x.shape[1]} image “{image}” moved by "
             f"(rows, columns) = ({down}, {right}) (positive: down, right), "
             f"convolved with the {KERNEL_LABELS[kernel]} kernel (stride "
             f"1, padding 1). Its feature map equals the original feature "
             f"map moved by the same ({down}, {right}) at {n_same} of "
             f"{total} positions; the boxes around the nonzero values move "
             f"from rows {_bounding_box(feature_map(x))[0]} to "
             f"{_bounding_box(out)[0]} and columns "
             f"{_bounding_box(feature_map(x))[1]} to "
             f"{_bounding_box(out)[1]} (top left corner).",
        narrow=narrow)


#: Side of the input of :func:`receptive_field_map`.
FIELD_SIDE = 32


def receptive_field_map(layers: int, kernel: int,
                        stride: int) -> go.Figure:
    """Which input pixels one output of a stack of convolutions sees.

    ``layers`` convolutions of ``kernel x kernel`` weights all 1 with
    ``stride``, on a 32x32 input: the backward pass from the top-left
    output counts, for every input pixel, the paths that reach it. The
    box is the receptive field the formula predicts.

    Used in: book/cnn.md
    """
    x = np.zeros((1, 1, FIELD_SIDE, FIELD_SIDE))
    ones = np.ones((1, 1, kernel, kernel))
    caches = []
    for _ in range(layers):
        x, cache = conv.conv2d_forward(x, ones, stride=stride)
        caches.append(cache)
    g = np.zeros_like(x)
    g[0, 0, 0, 0] = 1.0
    for cache in reversed(caches):
        g = conv.conv2d_backward(g, cache)[0]
    paths = _compact(g[0, 0])
    r = receptive_field([kernel] * layers, [stride] * layers)
    top, left, height, width = _bounding_box(paths)
    fig = go.Figure(go.Heatmap(
        z=paths, colorscale="Blues", zmin=0, showscale=True, name="paths",
        # under the square plot, centred on it (the x axis is constrained
        # to the square's width around the centre)
        colorbar=dict(title=dict(text="paths", side="top"),
                      orientation="h", thickness=10, len=0.45, x=0.5,
                      xanchor="center", y=-0.14, yanchor="top"),
        hovertemplate="row %{y}, col %{x}: %{z} paths<extra></extra>"))
    _box(fig, 0, 0, r, r, None, None)
    fig.update_yaxes(autorange="reversed", scaleanchor="x",
                     constrain="domain", showgrid=False, zeroline=False)
    fig.update_xaxes(constrain="domain", showgrid=False, zeroline=False)
    terms = " + ".join(f"{kernel - 1}·{stride ** i}" for i in range(layers))
    r_name = "r" + subscript(layers)  # r_D, D = layers
    narrow = frame(fig, f"{layers} layer{'s' * (layers > 1)} of "
                        f"{kernel}×{kernel}, stride {stride}: {r_name} = 1 + "
                        f"{terms} = {r}; counted {height}×{width}",
                   height=460, margin=dict(l=40, r=20, b=90),
                   narrow_height=420)
    return describe(
        fig, f"A stack of {layers} convolution{'s' * (layers > 1)} with "
             f"{kernel}×{kernel} kernels and stride {stride}, on a "
             f"{FIELD_SIDE}×{FIELD_SIDE} input. The top-left output "
             f"depends on the {height}×{width} block of input pixels at "
             f"the top left (rows and columns 0 to {height - 1}); the "
             f"formula gives {r_name} = {r}. "
             + ("Each of these pixels reaches the output by one path."
                if paths.max() == 1 else
                f"A pixel reaches the output by {paths[paths > 0].min():g} "
                f"to {paths.max():g} paths (the weights are all 1, so "
                f"∂Y/∂X counts them)."),
        narrow={"layout": narrow})


def _grid_2x2(height: int, top: int, bottom: int) -> dict:
    """Relayout of four square panels in a 2 x 2 grid (titles above)."""
    plot = height - top - bottom
    gap = 48 / plot  # the lower row's titles and the upper one's ticks
    rows = [(round(1 - (1 - gap) / 2, 4), 1), (0, round((1 - gap) / 2, 4))]
    cols = [(0, 0.45), (0.55, 1)]
    out = {}
    for i in range(4):
        suffix = "" if i == 0 else str(i + 1)
        (y0, y1), (x0, x1) = rows[i // 2], cols[i % 2]
        out[f"xaxis{suffix}.domain"] = [x0, x1]
        out[f"yaxis{suffix}.domain"] = [y0, y1]
        out[f"annotations[{i}].x"] = (x0 + x1) / 2
        out[f"annotations[{i}].y"] = y1
    return out


def _rows_cols(down: int, right: int) -> str:
    """A shift in words: ``2 down, 2 left``; ``not at all`` for (0, 0)."""
    parts = [f"{abs(down)} {'down' if down > 0 else 'up'}"] if down else []
    parts += [f"{abs(right)} {'right' if right > 0 else 'left'}"] if right \
        else []
    return ", ".join(parts) or "not at all"
