"""The convolution explorer of the chapter "CNN layers": a custom 3x3
kernel edited with live-only sliders, and upstream gradient patterns in the
backward view, checked against torch.autograd."""

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
import torch.nn.functional as tF

from calc_nn.plots import cnn_figures as conv_plots
from calc_nn.widgets import Choice, Slider, explore


@pytest.fixture
def images(monkeypatch):
    monkeypatch.setattr(conv_plots, "mnist_dir", lambda: None)
    return conv_plots.explorer_images()


def _forward_explorer(images, mode):
    kernels = list(conv_plots.KERNELS)
    return explore(
        lambda image, kernel, stride, padding, source="preset", **w:
            conv_plots.conv_forward(
                image, kernel, stride, padding, images=images,
                custom=conv_plots.custom_kernel(source, **w)),
        [Choice("image", list(images)), Choice("kernel", kernels),
         Slider("stride", [1, 2]), Slider("padding", [0, 1], default=1),
         *conv_plots.kernel_controls()],
        mode=mode)


def _torch_conv(x, k, stride=1, padding=1):
    return tF.conv2d(torch.tensor(np.asarray(x, float))[None, None],
                     torch.tensor(np.asarray(k, float))[None, None],
                     stride=stride, padding=padding)[0, 0].numpy()


def test_custom_kernel_values():
    assert conv_plots.custom_kernel("preset", w00=3) is None
    np.testing.assert_array_equal(conv_plots.custom_kernel("custom"),
                                  np.eye(3)[1][:, None] * np.eye(3)[1])
    k = conv_plots.custom_kernel("custom", w00=2, w12=-0.5)
    assert k[0, 0] == 2 and k[1, 2] == -0.5 and k[1, 1] == 1
    with pytest.raises(ValueError, match="source"):
        conv_plots.custom_kernel("mine")
    with pytest.raises(ValueError, match="w33"):
        conv_plots.custom_kernel("custom", w33=1)
    with pytest.raises(ValueError, match="custom must be a finite"):
        conv_plots.conv_forward("square", "blur", custom=np.ones((2, 2)),
                                images=conv_plots._patterns())


def test_kernel_controls_are_live_only_and_default_to_identity():
    controls = conv_plots.kernel_controls()
    assert [c.name for c in controls] == ["source"] + [
        f"w{i}{j}" for i in range(3) for j in range(3)]
    assert all(c.live_only for c in controls)
    assert [c.default for c in controls[1:]] == [0, 0, 0, 0, 1, 0, 0, 0, 0]


def test_static_forward_explorer_keeps_its_grid(images):
    fig = _forward_explorer(images, "static")
    assert isinstance(fig, go.Figure)
    # image x kernel buttons, stride and padding sliders: no custom kernel
    assert [c["kind"] for c in fig.layout.meta["calc_nn"]["controls"]] == [
        "choice", "choice", "slider", "slider"]
    assert len(fig.layout.meta["calc_nn"]["states"]) == 3 * 5 * 2 * 2
    assert fig.layout.annotations[1].text == "kernel (edges)"


def test_live_custom_kernel_redraws_the_output(images):
    box = _forward_explorer(images, "live")
    assert {"source", "w00", "w11", "w22"} <= set(box.controls)
    fw = box.figure
    before = np.asarray(fw.data[2].z, float).copy()
    # moving a weight while the source is "preset" changes nothing
    box.controls["w00"].value = 2
    np.testing.assert_array_equal(np.asarray(fw.data[2].z, float), before)
    box.controls["source"].value = "custom"   # identity: output = input
    x = images[list(images)[0]]
    k = conv_plots.custom_kernel("custom", w00=2)
    np.testing.assert_allclose(np.asarray(fw.data[2].z, float),
                               _torch_conv(x, k))
    box.controls["w22"].value = -4
    box.controls["stride"].value = 2
    k = conv_plots.custom_kernel("custom", w00=2, w22=-4)
    np.testing.assert_allclose(np.asarray(fw.data[2].z, float),
                               _torch_conv(x, k, stride=2))
    np.testing.assert_array_equal(np.asarray(fw.data[1].z, float), k)
    assert fw.layout.annotations[1].text == "kernel (custom)"
    box.controls["source"].value = "preset"
    assert fw.layout.annotations[1].text == "kernel (edges)"


@pytest.mark.parametrize("pattern", list(conv_plots.PATTERNS))
@pytest.mark.parametrize("kernel", ["sobel_x", "blur", "sharpen"])
def test_backward_patterns_equal_autograd(images, pattern, kernel):
    """dL/dW and dL/dX of the backward view are torch.autograd's for
    L = sum(dL/dY * Y), with Y the convolution (stride 1, padding 1)."""
    row, col = 8, 13
    fig = conv_plots.conv_backward("ring", row, col, kernel=kernel,
                                   images=images, pattern=pattern)
    x = torch.tensor(images["ring"].astype(float))[None, None]
    x.requires_grad_(True)
    w = torch.tensor(conv_plots.KERNELS[kernel], dtype=torch.float64)
    w = w[None, None].clone().requires_grad_(True)
    y = tF.conv2d(x, w, padding=1)
    g = conv_plots.upstream_gradient(pattern, y.shape[2:], row, col)
    loss = (torch.tensor(g) * y[0, 0]).sum()
    loss.backward()
    np.testing.assert_allclose(np.asarray(fig.data[1].z, float),
                               w.grad[0, 0].numpy(), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(fig.data[2].z, float),
                               x.grad[0, 0].numpy(), rtol=1e-12, atol=1e-12)
    assert f"= {float(loss.detach()):g}:" in fig.layout.title.text


def test_upstream_gradient_patterns_and_errors():
    g = conv_plots.upstream_gradient("one", (4, 5), 2, 3)
    assert g.sum() == 1 and g[2, 3] == 1
    assert conv_plots.upstream_gradient("ones", (4, 5)).sum() == 20
    r = conv_plots.upstream_gradient("row", (4, 5), 1, 0)
    np.testing.assert_array_equal(r.sum(axis=1), [0, 5, 0, 0])
    c = conv_plots.upstream_gradient("checker", (4, 5))
    assert c[0, 0] == 1 and c[0, 1] == -1 and c[1, 0] == -1
    with pytest.raises(ValueError, match="pattern must be one of"):
        conv_plots.upstream_gradient("stripes", (4, 4))
    with pytest.raises(ValueError, match=r"outside the output of shape"):
        conv_plots.upstream_gradient("one", (4, 4), 4, 0)


def _backward_explorer(images, mode):
    """The chapter's backward explorer, on a smaller grid of positions."""
    return explore(
        lambda image, row, col, pattern="one": conv_plots.conv_backward(
            image, row, col, images=images, pattern=pattern),
        [Choice("image", list(images)), Slider("row", [3, 8], default=8),
         Slider("col", [8, 13], default=13),
         Choice("pattern", list(conv_plots.PATTERNS), live_only=True)],
        mode=mode)


def test_live_backward_pattern_control(images):
    box = _backward_explorer(images, "live")
    fw = box.figure
    assert len(fw.layout.shapes) == 2
    box.controls["pattern"].value = "checker"
    want = conv_plots.conv_backward(list(images)[0], 8, 13, images=images,
                                    pattern="checker")
    np.testing.assert_allclose(np.asarray(fw.data[2].z, float),
                               np.asarray(want.data[2].z, float))
    assert fw.layout.title.text == want.layout.title.text
    assert len(fw.layout.shapes) == 0  # no window box for a pattern
    assert "upstream gradient ∂L/∂Y: checkerboard" in \
        want.layout.meta["description"]
    static = _backward_explorer(images, "static")
    assert len(static.layout.meta["calc_nn"]["states"]) == 3 * 2 * 2


def test_backward_hover_names_each_panel_and_its_cell(images):
    """The trace names are hidden in the hover box (``<extra></extra>``),
    so the hover text itself names the quantity of each panel, with the
    panel titles' symbols, and the cell's row and column: the ∂L/∂W panel
    showed only its value."""
    fig = conv_plots.conv_backward("ring", 8, 13, images=images)
    for trace, name in zip(fig.data, ("X", "∂L/∂W", "∂L/∂X")):
        assert trace.name == name
        assert trace.hovertemplate == (f"{name}, row %{{y}}, col %{{x}}: "
                                       "%{z}<extra></extra>")
    titles = [a.text for a in fig.layout.annotations[:3]]
    assert titles[1].startswith("∂L/∂W") and titles[2].startswith("∂L/∂X")
    # the forward and equivariance views: each panel by its title's word
    for fig in (conv_plots.conv_forward("ring", "sobel_x", 1, 1,
                                        images=images),
                conv_plots.translation_equivariance("ring", 2, 1,
                                                    images=images)):
        for trace in fig.data[:3]:
            assert trace.hovertemplate == (
                f"{trace.name}, row %{{y}}, col %{{x}}: %{{z}}"
                "<extra></extra>")
        assert [t.name for t in fig.data[:3]][1] == "kernel"
        assert fig.layout.annotations[1].text.startswith("kernel")
