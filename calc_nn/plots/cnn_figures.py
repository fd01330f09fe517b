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
from calc_nn.plots._style import COLORS
from calc_nn.plots._style import LAYOUT as _LAYOUT
from calc_nn.widgets import Choice, Slider

__all__ = [
    "KERNELS",
    "KERNEL_LABELS",
    "PATTERNS",
    "WEIGHT_VALUES",
    "kernel_controls",
    "upstream_gradient",
    "mnist_dir",
    "explorer_images",
    "conv_forward",
    "conv_backward",
    "pooling_gradients",
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


def _image_axes(fig, n_cols, rows=1):
    for k in range(1, n_cols * rows + 1):
        suffix = "" if k == 1 else str(k)
        fig.layout[f"yaxis{suffix}"].update(autorange="reversed",
                                            scaleanchor=f"x{suffix}",
                                            constrain="domain",
                                            showgrid=False, zeroline=False)
        fig.layout[f"xaxis{suffix}"].update(constrain="domain",
                                            showgrid=False, zeroline=False)


def kernel_controls() -> list:
    """Live-only controls of a custom 3x3 kernel: ``source`` ("preset" or
    "custom") and the nine weights ``w00`` ... ``w22`` (default: the
    identity kernel). Shown in a live kernel; the static site keeps the
    presets. Pass them to :func:`calc_nn.widgets.explore` with
    ``lambda ..., source, **w: conv_forward(..., custom=custom_kernel(
    source, **w))``."""
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
    are the identity kernel's)."""
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
    fig = make_subplots(
        rows=1, cols=3, column_widths=[0.42, 0.16, 0.42],
        horizontal_spacing=0.06,
        subplot_titles=(f"input, padded {xp.shape[0]}×{xp.shape[1]}",
                        f"kernel ({kernel_label})",
                        f"output {Ho}×{Wo}"))
    fig.add_trace(go.Heatmap(z=xp, colorscale="gray", zmin=0, zmax=255,
                             showscale=False, name="input",
                             hovertemplate="row %{y}, col %{x}: %{z}"
                             "<extra></extra>"), 1, 1)
    _box(fig, 0, 0, 3, 3, 1, 1)
    # the image's own border inside the padding
    _box(fig, padding, padding, x.shape[0], x.shape[1], 1, 1,
         color=COLORS["muted"], dash="dot", width_px=1)
    kz = _compact(k)
    text = [[f"{v:g}" for v in row] for row in kz]
    fig.add_trace(go.Heatmap(z=kz, text=text, texttemplate="%{text}",
                             colorscale="RdBu", zmid=0, showscale=False,
                             name="kernel", hovertemplate="%{z}"
                             "<extra></extra>"), 1, 2)
    fig.add_trace(go.Heatmap(z=out, colorscale="RdBu", zmid=0,
                             showscale=True, name="output",
                             colorbar=dict(len=0.9, thickness=12),
                             hovertemplate="row %{y}, col %{x}: %{z}"
                             "<extra></extra>"), 1, 3)
    _box(fig, 0, 0, 1, 1, 1, 3)
    _image_axes(fig, 3)
    fig.update_layout(**(_LAYOUT | dict(height=360)),
                      title=dict(text=(
                          f"⌊({x.shape[0]} + 2·{padding} − 3)/{stride}⌋"
                          " + 1"
                          f" = {Ho}: stride {stride}, padding {padding}")))
    return fig


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
                 "checker": "L = Σ (−1)^(i+j) Y[i, j]"}


def conv_backward(image: str, row: int, col: int, kernel: str = "sobel_x",
                  images=None, pattern: str = "one") -> go.Figure:
    """Backward view (stride 1, padding 1) for the upstream gradient
    ``dL/dY`` of :func:`upstream_gradient` (``pattern``).

    With ``pattern="one"``, ``L = Y[row, col]``: left, the input with the
    window that made ``Y[row, col]`` (with padding 1 and stride 1, output
    position (i, j) is centred on input pixel (i, j)); middle, ``dL/dW``,
    the window's pixels; right, ``dL/dX``, the kernel placed on the window
    (cut where it falls in the padding). Other patterns sum these pictures
    over the positions, weighted by ``dL/dY``: ``dL/dW`` is the correlation
    of the input with ``dL/dY``, ``dL/dX`` the full convolution of
    ``dL/dY`` with the flipped kernel.
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
    fig = make_subplots(
        rows=1, cols=3, column_widths=[0.42, 0.16, 0.42],
        horizontal_spacing=0.06,
        subplot_titles=(
            f"input X, window of Y[{row}, {col}]" if one else
            f"input X, ∂L/∂Y: {PATTERNS[pattern]}",
            "∂L/∂W = window" if one else "∂L/∂W = X ⋆ ∂L/∂Y",
            f"∂L/∂X = W ({KERNEL_LABELS[kernel]}) on window" if one else
            f"∂L/∂X (W = {KERNEL_LABELS[kernel]})"))
    fig.add_trace(go.Heatmap(z=x.astype(int), colorscale="gray", zmin=0,
                             zmax=255, showscale=False, name="X",
                             hovertemplate="row %{y}, col %{x}: %{z}"
                             "<extra></extra>"), 1, 1)
    if pattern in ("one", "row"):
        _box(fig, row - 1, col - 1 if one else -1, 3, 3 if one else _SIDE + 2,
             1, 1)
    text = [[_short(v) for v in r] for r in dw]
    w_max = max(float(np.abs(dw).max()), 1.0)
    fig.add_trace(go.Heatmap(
        z=dw, text=text, texttemplate="%{text}",
        colorscale="gray" if one else "RdBu",
        zmin=0 if one else -w_max, zmax=255 if one else w_max,
        showscale=False, name="dL/dW",
        hovertemplate="%{z}<extra></extra>"), 1, 2)
    x_max = 2.0 if one else max(float(np.abs(dx).max()), 1.0)
    fig.add_trace(go.Heatmap(z=dx, colorscale="RdBu", zmid=0, zmin=-x_max,
                             zmax=x_max, showscale=True, name="dL/dX",
                             colorbar=dict(len=0.9, thickness=12),
                             hovertemplate="row %{y}, col %{x}: %{z}"
                             "<extra></extra>"), 1, 3)
    if pattern in ("one", "row"):
        _box(fig, row - 1, col - 1 if one else -1, 3, 3 if one else _SIDE + 2,
             1, 3)
    _image_axes(fig, 3)
    what = _PATTERN_LOSS[pattern].format(row=row, col=col)
    fig.update_layout(**(_LAYOUT | dict(height=360)),
                      title=dict(text=(
                          f"{what} = {loss:g}: gradient to "
                          f"{int(np.count_nonzero(dx))} pixels, "
                          f"{int(np.count_nonzero(dw))} weights")))
    return fig


def pooling_gradients(kind: str) -> go.Figure:
    """Max vs average pooling (2x2, stride 2) on a 4x4 input: the upstream
    gradient (2x2) goes to each window's maximum, or is spread over it."""
    x = np.array([[1., 3., 2., 0.], [4., 2., 1., 5.], [0., 1., 7., 2.],
                  [3., 6., 1., 1.]])[None, None]
    dout = np.array([[1., 2.], [3., 4.]])[None, None]
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
    fig.update_layout(**(_LAYOUT | dict(height=300)), title=dict(text=(
        "max pooling: each gradient goes to its window's maximum"
        if kind == "max" else
        "average pooling: each gradient is shared by its 4 inputs")))
    return fig
