"""The chapter "CNN layers": the claims its prose makes.

The worked example's tables are made by ``cnn_formulas.worked_tables``;
here they are parsed back and every number is recomputed with calc_nn and
PyTorch, so a wrong table fails. Each glued number of the chapter comes
from the calc_nn calls below, and each test asserts the sentence it
supports ("only the first and last columns receive gradient", "the
recipe without the trailing a is a rows short", "conv_transpose2d of
dL/dY is conv2d_backward's dX"). Claims on random inputs hold for
several seeds.
"""

import re

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F
from chapter_text import (
    admonition,
    bare,
    code,
    glossary_entry,
    labels,
    prose,
    read,
    refs,
)
from worked_tables import mismatches, table

from calc_nn import conv
from calc_nn.plots import cnn_figures as conv_plots
from calc_nn.symbolic import cnn_formulas as sconv
from calc_nn.widgets import MAX_STATES

TEXT = read("cnn")
SEEDS = range(4)
IMAGES = conv_plots._patterns()


# ------------------------------------------------------------ the page

def test_before_you_start_links_what_the_chapter_uses():
    box = admonition(TEXT, "Before you start")
    targets = refs(box)
    for label in ("chapter-calculus", "calc-chain-rule", "calc-layout",
                  "calc-vjp", "bp-batch", "bp-equations",
                  "act-derivatives", "opt-gd"):
        assert label in targets
    assert set(targets) <= labels()
    # the box comes before the first section
    assert TEXT.index("Before you start") < TEXT.index("\n## ")
    first = TEXT.split("\n# ", 1)[1].split("\n\n", 2)[1]
    assert "{ref}`notation`" in first


def test_every_reference_of_the_page_resolves():
    eq_labels = set(re.findall(r"^\$\$ \(([\w-]+)\)$", TEXT, re.M))
    for target in re.findall(r"\{eq\}`([^`]+)`", TEXT):
        assert target in eq_labels, target
    assert set(refs(TEXT)) <= labels()


def test_exercises_are_graded_with_solutions():
    titles = re.findall(r"^```\{exercise\} (.*)$", TEXT, re.M)
    assert len(titles) >= 9
    marks = [t.split(" ", 1)[0] for t in titles]
    assert set(marks) == {"★", "★★", "★★★"}, titles
    assert TEXT.count("{solution-start}") == len(titles)
    # at least two on this phase's material: matrix, transpose, field
    for label in ("cnn-ex-matrix", "cnn-ex-output-padding",
                  "cnn-ex-field-1x1"):
        assert f":label: {label}" in TEXT


def test_no_hand_typed_timing():
    text = prose(TEXT)
    assert "1.4 times" not in text
    assert not re.search(r"\d+(\.\d+)? ?(ms|times PyTorch)", text)



def test_n_is_the_example_index_and_n_h_the_side_of_an_image():
    """book/notation.md: an image is n_H x n_W, and where i, j are
    positions the example is n. Every bare n of a formula is that index
    (as a subscript it needs no check), the one-channel derivation's
    input is n_H x n_H."""
    uses = bare(TEXT, "n")
    assert uses and all(formula.strip() == "n" for formula in uses)
    text = " ".join(prose(TEXT).split())
    assert text.count("index $n$") == len(uses)
    assert r"an $n_H \times n_H$ input $X$" in text

# ------------------------------------------------------- worked example

def _computed_by(engine):
    e = sconv.worked_example()
    x = e["X"].astype(float)[None, None]
    w = e["W"].astype(float)[None, None]
    b = np.array([float(e["b"])])
    g = e["G"].astype(float)[None, None]
    P = e["P"].astype(float)[None, None]
    GP = e["GP"].astype(float)[None, None]
    if engine == "calc_nn":
        y, cache = conv.conv2d_forward(x, w, b)
        dx, dw, db = conv.conv2d_backward(g, cache)
        _, pcache = conv.maxpool2d_forward(P, 2)
        dP = conv.maxpool2d_backward(GP, pcache)
    else:
        xt, wt, bt, Pt = (torch.tensor(a, requires_grad=True)
                          for a in (x, w, b, P))
        y = F.conv2d(xt, wt, bt)
        y.backward(torch.tensor(g))
        F.max_pool2d(Pt, 2).backward(torch.tensor(GP))
        y, dx, dw, db, dP = (t.detach().numpy() for t in
                             (y, xt.grad, wt.grad, bt.grad, Pt.grad))
    return y[0, 0], dx[0, 0], dw[0, 0], db[0], dP[0, 0]


def _rows(tables, engine):
    y, dx, dw, db, dP = _computed_by(engine)
    e = sconv.worked_example()
    forward = {"input $X$": e["X"], "kernel $W$": e["W"],
               "bias $b$": e["b"], "output $Y$": y,
               r"upstream $G = \partial L / \partial Y$": e["G"]}
    dW = {rf"$\partial L / \partial W_{{{u}{v}}}$": dw[u, v]
          for u, v in np.ndindex(3, 3)}
    dW[r"$\partial L / \partial b$"] = db
    dX = {rf"$\partial L / \partial X_{{{p}{q}}}$": dx[p, q]
          for p, q in np.ndindex(4, 4)}
    pool = {f"$Y_{{{i}{j}}}$": e["GP"][i, j] for i, j in np.ndindex(2, 2)}
    pool[r"all four: $\partial L / \partial X$"] = dP
    return {"forward": forward, "dW": dW, "dX": dX, "pool": pool}


HEADERS = {"forward": "quantity", "dW": "entry of ∂L/∂W",
           "dX": "entry of ∂L/∂X", "pool": "window"}


@pytest.mark.parametrize("engine", ["calc_nn", "torch"])
@pytest.mark.parametrize("name", list(HEADERS))
def test_worked_tables_are_what_calc_nn_and_torch_compute(name, engine):
    tables = sconv.worked_tables()
    typed = table(tables[name], HEADERS[name])
    computed = _rows(tables, engine)[name]
    assert not mismatches(typed, computed), mismatches(typed, computed)


@pytest.mark.parametrize("name", ["dW", "dX"])
def test_the_products_column_adds_up_to_the_value(name):
    for line in sconv.worked_tables()[name].splitlines()[2:]:
        value, products = [c.strip().strip("$") for c in
                           line.strip("|").split("|")[1:3]]
        expr = products.split("$")[0].replace(r"\cdot", "*")
        assert eval(expr) == int(value), line  # integers: exact


@pytest.mark.parametrize("name,right,typo", [
    ("dW", "| $7$ |", "| $8$ |"),
    ("dX", "| $-3$ |", "| $3$ |"),
    ("forward", r"2 & 8 \\ 5 & 3", r"2 & 8 \\ 5 & 4"),
    ("pool", r"1 & 0 & 0 & 2", r"1 & 0 & 0 & 3")])
def test_a_typo_in_a_table_is_caught(name, right, typo):
    text = sconv.worked_tables()[name]
    assert right in text
    broken = table(text.replace(right, typo, 1), HEADERS[name])
    assert mismatches(broken, _rows({}, "calc_nn")[name])


def test_the_typed_expansion_of_y00_is_the_output():
    text = " ".join(TEXT.split())
    products = re.search(r"the nine products (.*?); with the bias, "
                         r"\$Y_\{00\} = (-?\d+)\$", text)
    terms = re.findall(r"\$([^$]*)\$", products.group(1))
    assert len(terms) == 9
    e = sconv.worked_example()
    window = e["X"][:3, :3] * e["W"]
    assert [eval(t.replace(r"\cdot", "*")) for t in terms] == list(
        window.ravel())
    y00 = _computed_by("calc_nn")[0][0, 0]
    assert sum(window.ravel()) + e["b"] == int(products.group(2)) == y00


def test_what_the_worked_example_says():
    terms = sconv.conv_terms(**{k: sconv.worked_example()[k]
                                for k in ("X", "W", "G")})
    # four products per weight, one to four per input pixel
    assert {len(t) for t in terms["dW"].values()} == {4}
    counts = {pq: len(t) for pq, t in terms["dX"].items()}
    assert min(counts.values()) == 1 and max(counts.values()) == 4
    assert counts[(0, 0)] == 1
    assert [pq for pq, c in counts.items() if c == 4] == [
        (1, 1), (1, 2), (2, 1), (2, 2)]


def test_worked_helpers_reject_bad_shapes():
    with pytest.raises(ValueError, match="G must have shape"):
        sconv.conv_terms(np.zeros((4, 4)), np.zeros((3, 3)),
                         np.zeros((3, 3)))
    with pytest.raises(ValueError, match="equally long"):
        sconv.receptive_field([3, 3], [1])


# ------------------------------------------------ glued numbers, claims

def test_the_diagonal_kernel_gives_one_value():
    X = np.arange(16.0).reshape(4, 4)
    out, _ = conv.conv2d_forward(X[None, None],
                                 np.array([[[[1.0, 0], [0, -1.0]]]]))
    assert np.all(out == -5)


def test_explorer_output_sizes_in_the_text():
    assert conv.conv2d_output_size(28, 3, 1, 0) == 26
    assert conv.conv2d_output_size(28, 3, 2, 1) == 14
    assert "$26 \\times 26$" in TEXT and "$14 \\times 14$, half" in TEXT


def test_floor_example_never_reads_the_last_column():
    out, cache = conv.conv2d_forward(np.ones((1, 1, 6, 6)),
                                     np.ones((1, 1, 3, 3)), stride=3,
                                     padding=1)
    assert out.shape[-1] == 2
    dx = conv.conv2d_backward(np.ones_like(out), cache)[0][0, 0]
    assert np.all(dx[:, -1] == 0) and np.all(dx[:, :-1].sum(0) > 0)


def _all_ones_input_grad(kernel):
    out, cache = conv.conv2d_forward(
        np.zeros((1, 1, 28, 28)), conv_plots.KERNELS[kernel][None, None],
        padding=1)
    return conv.conv2d_backward(np.ones_like(out), cache)[0][0, 0]


def test_sobel_x_gradient_reaches_only_the_first_and_last_columns():
    g = _all_ones_input_grad("sobel_x")
    assert np.all(g[:, 1:-1] == 0)
    assert np.all(g[:, 0] < 0) and np.all(g[:, -1] > 0)
    assert np.count_nonzero(g) == 56
    # its rows sum to 0: the top and bottom rows get nothing more
    assert np.all(conv_plots.KERNELS["sobel_x"].sum(1) == 0)


def test_blur_gradient_is_one_inside_and_less_on_the_border():
    g = _all_ones_input_grad("blur")
    np.testing.assert_allclose(g[1:-1, 1:-1], 1.0)
    assert g[0, 5] == 0.75 and g[0, 0] == 0.5625
    border = np.r_[g[0], g[-1], g[:, 0], g[:, -1]]
    assert np.all(border < 1)


@pytest.mark.parametrize("down", [-4, -2, 0, 2, 4])
@pytest.mark.parametrize("right", [-4, -2, 0, 2, 4])
def test_equivariance_is_exact_for_every_shift_of_the_explorer(down, right):
    fig = conv_plots.translation_equivariance("square", down, right,
                                              images=IMAGES)
    assert "at 784 of 784 positions" in fig.layout.meta["description"]
    assert "the same map, moved" in fig.layout.title.text.replace("<br>",
                                                                 " ")


def test_equivariance_figure_says_when_a_shape_leaves_the_image():
    fig = conv_plots.translation_equivariance("ring", 4, 4, images=IMAGES)
    n = int(re.search(r"at (\d+) of 784", fig.layout.meta["description"])
            .group(1))
    assert n < 784
    title = fig.layout.title.text.replace("<br>", " ")
    assert f"at {n} of 784 positions" in title


@pytest.mark.parametrize("seed", SEEDS)
def test_stride_two_breaks_equivariance(seed):
    k = conv_plots.KERNELS["sobel_x"][None, None]
    noise = np.random.default_rng(seed).standard_normal((28, 28))

    def feature(a):
        return conv.conv2d_forward(a[None, None], k, stride=2,
                                   padding=1)[0][0, 0]

    moved = feature(conv_plots.shift(noise, 0, 1))
    assert not any(np.array_equal(moved, conv_plots.shift(feature(noise),
                                                          0, r))
                   for r in (0, 1))


def test_shift_moves_and_fills_with_zeros():
    a = np.arange(12).reshape(3, 4)
    np.testing.assert_array_equal(conv_plots.shift(a, 1, -1),
                                  [[0, 0, 0, 0], [1, 2, 3, 0],
                                   [5, 6, 7, 0]])
    assert not conv_plots.shift(a, 3, 0).any()


@pytest.mark.parametrize("seed", SEEDS)
def test_one_by_one_convolution_is_a_linear_layer_per_pixel(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 5, 4, 3))
    w, b = rng.standard_normal((3, 5, 1, 1)), rng.standard_normal(3)
    lin = torch.nn.Linear(5, 3).double()
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(w[:, :, 0, 0]))
        lin.bias.copy_(torch.tensor(b))
    per_pixel = lin(torch.tensor(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    np.testing.assert_allclose(conv.conv2d_forward(x, w, b)[0],
                               per_pixel.detach().numpy(), rtol=1e-12,
                               atol=1e-12)


def _input_grad_by_recipe(G, W, n, stride, padding, trailing=True):
    """The chapter's recipe: dilate, pad (k - 1, k - 1 + a), correlate
    with the flipped kernel, crop."""
    k = len(W)
    a = (n + 2 * padding - k) % stride if trailing else 0
    dilated = np.zeros(((len(G) - 1) * stride + 1,) * 2)
    dilated[::stride, ::stride] = G
    padded = np.pad(dilated, ((k - 1, k - 1 + a), (k - 1, k - 1 + a)))
    out, _ = conv.conv2d_forward(padded[None, None],
                                 W[::-1, ::-1][None, None].copy())
    return out[0, 0]


@pytest.mark.parametrize("n,k,s,p", [(6, 3, 2, 1), (5, 3, 2, 0),
                                     (7, 2, 3, 1), (9, 3, 3, 2),
                                     (8, 5, 2, 2)])
@pytest.mark.parametrize("seed", SEEDS[:2])
def test_stride_recipe_with_the_trailing_a(n, k, s, p, seed):
    rng = np.random.default_rng(seed)
    X, W = rng.standard_normal((n, n)), rng.standard_normal((k, k))
    out, cache = conv.conv2d_forward(X[None, None], W[None, None], stride=s,
                                     padding=p)
    G = rng.standard_normal(out.shape[2:])
    want = conv.conv2d_backward(G[None, None], cache)[0][0, 0]
    full = _input_grad_by_recipe(G, W, n, s, p)
    assert full.shape == (n + 2 * p,) * 2
    np.testing.assert_allclose(full[p:n + p, p:n + p], want, rtol=1e-12,
                               atol=1e-12)
    a = (n + 2 * p - k) % s
    short = _input_grad_by_recipe(G, W, n, s, p, trailing=False)
    assert short.shape == (n + 2 * p - a,) * 2


def test_the_chapters_stride_case_is_one_row_short_without_a():
    assert (6 + 2 * 1 - 3) % 2 == 1   # the case the chapter glues


@pytest.mark.parametrize("seed", SEEDS)
def test_backward_is_the_transposed_matrix_and_a_transposed_conv(seed):
    rng = np.random.default_rng(seed)
    C, Co, n, k, s, p = 3, 4, 6, 3, 2, 1
    x = rng.standard_normal((2, C, n, n))
    w = rng.standard_normal((Co, C, k, k))
    y, cache = conv.conv2d_forward(x, w, stride=s, padding=p)
    g = rng.standard_normal(y.shape)
    dx = conv.conv2d_backward(g, cache)[0]
    a = (n + 2 * p - k) % s
    up, _ = conv.conv_transpose2d_forward(g, w, stride=s, padding=p,
                                          output_padding=a)
    np.testing.assert_allclose(up, dx, rtol=1e-12, atol=1e-12)
    # the conv's (C_out, C, k, k) read as the transposed layer's (C_in,
    # C_out, k, k): it maps the Co channels of g to C
    assert g.shape[1] == Co and up.shape[1] == C
    assert "(it maps $C_{\\mathrm{in}}$ channels to $C_{\\mathrm{out}}$)" \
        in " ".join(TEXT.split())
    T = conv.conv2d_matrix(w, (C, n, n), stride=s, padding=p)
    for i in range(2):
        np.testing.assert_allclose(T @ x[i].ravel(), y[i].ravel(),
                                   rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(T.T @ g[i].ravel(), dx[i].ravel(),
                                   rtol=1e-12, atol=1e-12)
    ref = F.conv_transpose2d(torch.tensor(g), torch.tensor(w), stride=s,
                             padding=p, output_padding=a)
    np.testing.assert_allclose(up, ref.numpy(), rtol=1e-12, atol=1e-12)


def test_the_matrix_of_a_28x28_convolution_is_sparse():
    T = conv.conv2d_matrix(np.ones((1, 1, 3, 3)), (1, 28, 28), padding=1)
    assert np.count_nonzero(T) / T.size < 0.02
    # every row holds at most the nine weights
    assert np.count_nonzero(T, axis=1).max() == 9


def test_one_term_of_the_source_is_not_the_gradient():
    rng = np.random.default_rng(0)
    X, W = rng.standard_normal((5, 5)), rng.standard_normal((3, 3))
    out, cache = conv.conv2d_forward(X[None, None], W[None, None])
    G = rng.standard_normal(out.shape[2:])
    dW = conv.conv2d_backward(G[None, None], cache)[1][0, 0]
    assert not np.allclose(G[0, 0] * X[:3, :3], dW)
    np.testing.assert_allclose(sum(G[i, j] * X[i:i + 3, j:j + 3]
                                   for i in range(3) for j in range(3)),
                               dW, rtol=1e-12)


def test_parameter_counts_of_the_small_network():
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.Conv2d(8, 16, 3),
        torch.nn.Linear(16 * 7 * 7, 10))
    counts = [sum(p.numel() for p in layer.parameters()) for layer in net]
    assert counts == [80, 1168, 7850]
    for n in counts:
        assert f"{n}" in TEXT.replace(",", "")
    assert counts[2] > counts[0] + counts[1]


# ---------------------------------------------------- receptive field

@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("kernel", [2, 3, 5])
@pytest.mark.parametrize("stride", [1, 2])
def test_receptive_field_map_counts_what_the_formula_says(layers, kernel,
                                                          stride):
    fig = conv_plots.receptive_field_map(layers, kernel, stride)
    r = sconv.receptive_field([kernel] * layers, [stride] * layers)
    paths = np.asarray(fig.data[0].z, float)
    rows, cols = np.nonzero(paths)
    assert rows.max() + 1 == cols.max() + 1 == r
    assert f"= {r}; counted {r}×{r}" in fig.layout.title.text
    box = fig.layout.shapes[0]
    assert (box.x1 - box.x0, box.y1 - box.y0) == (r, r)
    r_d = "r" + "₀₁₂₃₄₅₆₇₈₉"[layers]      # eq-receptive-field's r_D
    assert f": {r_d} = 1 + " in fig.layout.title.text
    assert f"formula gives {r_d} = {r}" in fig.layout.meta["description"]
    # torch agrees on the count
    x = torch.zeros(1, 1, conv_plots.FIELD_SIDE, conv_plots.FIELD_SIDE,
                    requires_grad=True)
    h = x
    for _ in range(layers):
        h = F.conv2d(h, torch.ones(1, 1, kernel, kernel), stride=stride)
    h[0, 0, 0, 0].backward()
    np.testing.assert_array_equal(x.grad[0, 0].numpy(), paths)


def test_the_digit_network_sees_ten_pixels():
    assert sconv.receptive_field([3, 2, 3, 2], [1, 2, 1, 2]) == 10
    twin = torch.nn.Sequential(
        torch.nn.Conv2d(1, 1, 3, padding=1, bias=False),
        torch.nn.AvgPool2d(2),
        torch.nn.Conv2d(1, 1, 3, padding=1, bias=False),
        torch.nn.AvgPool2d(2))
    for layer in twin[::2]:
        torch.nn.init.ones_(layer.weight)
    x = torch.zeros(1, 1, 28, 28, requires_grad=True)
    twin(x)[0, 0, 3, 3].backward()
    seen = torch.nonzero(x.grad[0, 0])
    assert (seen.max(0).values - seen.min(0).values + 1).tolist() == [10, 10]


def test_receptive_field_exercise_answers():
    assert sconv.receptive_field([3] * 5, [1] * 5) == 11
    assert sconv.receptive_field([7, 3], [2, 2]) == 11
    assert sconv.receptive_field([3, 3], [1, 1]) == 5
    assert sconv.receptive_field([3, 3, 3], [1, 1, 1]) == 7
    assert sconv.receptive_field([3, 3, 3], [2, 2, 2]) == 15


def test_new_explorers_fit_the_static_site():
    assert 3 * 3 * 2 <= MAX_STATES and 5 * 5 <= MAX_STATES


@pytest.mark.parametrize("down, right, said", [
    (2, -2, "2 down, 2 left"), (0, 3, "3 right"), (-1, 0, "1 up"),
    (0, 0, "not at all")])
def test_the_equivariance_figure_says_the_shift_in_words(down, right, said):
    """The panel title reads as the sliders do (rows down, columns right),
    not as a signed pair."""
    fig = conv_plots.translation_equivariance("square", down, right)
    titles = [a.text for a in fig.layout.annotations]
    assert f"moved {said}" in titles, titles


# ------------------------------------ a careful reading: what was fixed

def _one_line(text):
    return " ".join(text.split())


def _coverage(n, k, s, p):
    """How many windows read each pixel of a 1-D image of n pixels."""
    out, cache = conv.conv2d_forward(np.zeros((1, 1, 1, n)),
                                     np.ones((1, 1, 1, k)), stride=(1, s),
                                     padding=(0, p))
    return conv.conv2d_backward(np.ones_like(out), cache)[0][0, 0, 0]


@pytest.mark.parametrize("k", [2, 3, 5])
def test_padding_covers_the_border_pixels_as_the_text_says(k):
    """'so that (with stride 1) the border pixels are covered by more
    windows than without it (as many as the interior pixels once
    p >= k - 1)'."""
    n = 3 * k
    interior = _coverage(n, k, 1, 0)[n // 2]
    assert interior == k
    for p in range(1, k + 2):
        border, no_pad = _coverage(n, k, 1, p)[0], _coverage(n, k, 1, 0)[0]
        assert border > no_pad
        assert (border == interior) == (p >= k - 1)
    # with stride 2 padding need not help the border: hence "with stride 1"
    assert _coverage(5, 3, 2, 1)[0] == _coverage(5, 3, 2, 0)[0] == 1
    text = _one_line(TEXT)
    assert ("so that (with stride 1) the border pixels are covered by more "
            "windows than without it (as many as the interior pixels once "
            "$p \\ge k - 1$)") in text


def test_sharpen_is_the_identity_plus_a_four_neighbour_edge_kernel():
    identity = np.zeros((3, 3))
    identity[1, 1] = 1
    edges4 = conv_plots.KERNELS["sharpen"] - identity
    assert edges4[1, 1] == 4 and edges4.sum() == 0
    assert [edges4[0, 1], edges4[2, 1], edges4[1, 0], edges4[1, 2]] == [-1] * 4
    assert np.all(edges4[::2, ::2] == 0)
    assert np.allclose(conv_plots.KERNELS["blur"].sum(), 1)
    assert "(4 in the centre, $-1$ above, below, left and right)" in \
        _one_line(TEXT)


@pytest.mark.parametrize("stride,padding,is_input", [
    (1, 1, True), (1, 0, False), (2, 1, False)])
def test_the_identity_kernel_gives_the_input_with_stride_1_padding_1(
        stride, padding, is_input):
    image = IMAGES["ring"]
    fig = conv_plots.conv_forward("ring", "blur", stride, padding,
                                  images=IMAGES,
                                  custom=conv_plots.custom_kernel("custom"))
    out = np.asarray(fig.data[2].z)
    assert (out.shape == image.shape and np.array_equal(out, image)) \
        == is_input
    assert "identity kernel, whose output, with stride 1 and padding 1, is " \
        "the input itself" in _one_line(TEXT)


@pytest.mark.parametrize("seed", SEEDS)
def test_weight_gradient_is_a_correlation_with_the_dilated_g(seed):
    """'a correlation of input channel c with G_d dilated by s', summed
    over the batch, 'and cut to the kernel's size, k_H x k_W (when the
    windows leave the last rows or columns of the input unread, the
    correlation has that many more ...)' (eq-conv-dw-multi). Here 9 rows
    are all read (r = 0) and 8 columns leave one unread (r = 1)."""
    rng = np.random.default_rng(seed)
    s, k = 2, 3
    x = rng.standard_normal((2, 3, 9, 8))
    w = rng.standard_normal((4, 3, k, k))
    y, cache = conv.conv2d_forward(x, w, stride=s)
    g = rng.standard_normal(y.shape)
    dw = conv.conv2d_backward(g, cache)[1]
    Ho, Wo = y.shape[2:]
    dilated = np.zeros((2, 4, (Ho - 1) * s + 1, (Wo - 1) * s + 1))
    dilated[:, :, ::s, ::s] = g
    unread = ((9 - k) % s, (8 - k) % s)
    assert unread == (0, 1)
    for d, c in np.ndindex(4, 3):
        corr = sum(conv.conv2d_forward(x[n, c][None, None],
                                       dilated[n, d][None, None])[0][0, 0]
                   for n in range(2))
        assert corr.shape == (k + unread[0], k + unread[1])
        np.testing.assert_allclose(dw[d, c], corr[:k, :k], rtol=1e-12,
                                   atol=1e-12)
    text = _one_line(TEXT)
    assert "with $G_d$ **dilated** by $s$" in text
    assert "whose windows step by" not in text
    assert ("summed over the batch, and cut to the kernel's size, $k_H "
            "\\times k_W$ (when the windows leave the last rows or columns "
            "of the input unread, the correlation has that many more, at "
            "offsets no weight has)") in text


@pytest.mark.parametrize("seed", SEEDS)
def test_in_training_dl_dy_is_zero_at_three_quarters_or_more(seed):
    """'followed by a ReLU and 2x2 max pooling, as in the network of
    cnn-flatten, at most a quarter of its entries are nonzero' (the text
    said 'nonzero at every position')."""
    torch.manual_seed(seed)
    conv1 = torch.nn.Conv2d(1, 8, 3, padding=1)
    head = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                               torch.nn.Flatten(),
                               torch.nn.Linear(8 * 14 * 14, 10))
    y = conv1(torch.randn(16, 1, 28, 28))
    y.retain_grad()
    F.cross_entropy(head(y), torch.randint(0, 10, (16,))).backward()
    nonzero = (y.grad != 0).double().mean().item()
    assert 0 < nonzero <= 0.25
    text = _one_line(TEXT)
    assert "is nonzero at every position" not in text
    assert "at most a quarter of its entries are nonzero" in text


@pytest.mark.parametrize("shape,k,p", [((4, 4), (3, 3), 1),
                                       ((5, 6), (2, 3), 0),
                                       ((6, 5), (3, 2), 2)])
def test_the_matrix_is_doubly_block_toeplitz(shape, k, p):
    """'block (i, h) holds row h - i + p of the kernel (zero if there is no
    such row) and depends only on h - i; each block is constant along its
    own diagonals'."""
    H, Wd = shape
    w = np.arange(1.0, k[0] * k[1] + 1).reshape(1, 1, *k)
    T = conv.conv2d_matrix(w, (1, H, Wd), padding=p)
    Ho = conv.conv2d_output_size(H, k[0], 1, p)
    Wo = conv.conv2d_output_size(Wd, k[1], 1, p)
    blocks = T.reshape(Ho, Wo, H, Wd)
    for i, h in np.ndindex(Ho, H):
        u = h - i + p
        block = blocks[i, :, h, :]
        if not 0 <= u < k[0]:
            assert not block.any()
            continue
        for j, c in np.ndindex(Wo, Wd):
            v = c - j + p
            assert block[j, c] == (w[0, 0, u, v] if 0 <= v < k[1] else 0)
    assert "$T$ is *doubly block-Toeplitz*" in _one_line(TEXT)


def _pmatrix(tex):
    rows = tex.split(r"\\")
    return np.array([[float(v) for v in r.split("&")] for r in rows])


def test_the_pooling_example_typed_in_the_text_is_the_computed_one():
    text = _one_line(TEXT)
    typed = re.search(r"through \$2 \\times 2\$ max pooling with stride 2, "
                      r"with upstream gradient \$\\partial L/\\partial Y = "
                      r"\\begin\{pmatrix\}(.*?)\\end\{pmatrix\}", text)
    e = sconv.worked_example()
    np.testing.assert_array_equal(_pmatrix(typed.group(1)), e["GP"])
    # 'at the values of the first window ... 1 for the largest input only'
    x4 = sp.symbols("x0:4", real=True)
    window = dict(zip(x4, e["P"][:2, :2].ravel().tolist()))
    d = [sp.diff(sp.Max(*x4), xm).subs(window) for xm in x4]
    top = int(np.argmax(e["P"][:2, :2].ravel()))
    assert d == [int(m == top) for m in range(4)]
    assert 'WORKED["P"][:2, :2]' in TEXT


def _exercise(label):
    return TEXT.split(f":label: {label}", 1)[1].split("{solution-end}")[0]


def test_the_max_pooling_exercise_solution():
    part = _one_line(_exercise("cnn-ex-maxpool"))
    mats = re.findall(r"\\begin\{pmatrix\}(.*?)\\end\{pmatrix\}", part)
    X, G, Y = _pmatrix(mats[0]), _pmatrix(mats[1]), _pmatrix(mats[2])
    out, cache = conv.maxpool2d_forward(X[None, None], 2)
    np.testing.assert_array_equal(out[0, 0], Y)
    dx = conv.maxpool2d_backward(G[None, None], cache)[0, 0]
    want = np.zeros((4, 4))
    # '1 to the 9, -1 to the 8, 3 to the 7; ... row 2, column 0, gets the 2'
    want[0, 1], want[1, 2], want[2, 3], want[2, 0] = 1, -1, 3, 2
    np.testing.assert_array_equal(dx, want)
    assert X[2, 0] == X[2, 1] == 4     # the tie
    assert not np.signbit(dx[dx == 0]).any()  # printed without "-0."
    xt = torch.tensor(X[None, None], requires_grad=True)
    F.max_pool2d(xt, 2).backward(torch.tensor(G[None, None]))
    np.testing.assert_array_equal(xt.grad[0, 0].numpy(), want)
    assert "at row 2, column 0, gets the 2" in part


def test_the_output_size_exercise_solution():
    part = _one_line(_exercise("cnn-ex-size")).replace("{,}", ",")
    h = torch.zeros(1, 3, 32, 32)
    c1, c2 = torch.nn.Conv2d(3, 16, 5), torch.nn.Conv2d(16, 32, 3, 2, 1)
    shapes = []
    for layer in (c1, torch.nn.MaxPool2d(2), c2):
        h = layer(h)
        shapes.append(tuple(h.shape[1:]))
    assert shapes == [(16, 28, 28), (16, 14, 14), (32, 7, 7)]
    for c, n, _ in shapes:
        assert f"${c} \\times {n} \\times {n}$" in part
    n1 = sum(p.numel() for p in c1.parameters())
    n2 = sum(p.numel() for p in c2.parameters())
    assert f"= {n1}$" in part and f"= {n2}$" in part


def test_the_bottleneck_exercise_solution():
    def count(*layers):
        return sum(p.numel() for layer in layers for p in layer.parameters())

    one = count(torch.nn.Conv2d(256, 256, 3))
    parts = [count(torch.nn.Conv2d(256, 64, 1)),
             count(torch.nn.Conv2d(64, 64, 3)),
             count(torch.nn.Conv2d(64, 256, 1))]
    text = _one_line(_exercise("cnn-ex-field-1x1")).replace("{,}", ",")
    for n in (one, *parts, sum(parts)):
        assert f"{n:,}" in text
    assert round(one / sum(parts)) == 8 and "about 8 times fewer" in text


@pytest.mark.parametrize("s", [2, 3])
@pytest.mark.parametrize("k,p", [(3, 1), (2, 0), (5, 2)])
def test_s_input_sizes_share_one_output_size(s, k, p):
    """Exercise cnn-ex-output-padding (b): 's input sizes give the same
    output size', n_H = (m - 1)s - 2p + k + a for a = 0 ... s - 1."""
    for m in (2, 3, 4):
        sizes = [n for n in range(1, 40) if n + 2 * p >= k
                 and conv.conv2d_output_size(n, k, s, p) == m]
        assert sizes == [(m - 1) * s - 2 * p + k + a for a in range(s)]
    assert "$s$ input sizes give the same output size" in _one_line(TEXT)


def test_im2col_groups_of_about_4_mb():
    """'the groups are as many images as make a window matrix of about
    4 MB (at least one image)'."""
    for per_image in (1_000, 37_000, 1 << 20, 1 << 23):
        groups = conv._batches(20_000, per_image)
        step = groups[0].stop - groups[0].start
        assert step >= 1
        if step > 1:
            assert step * per_image <= 4 << 20 < (step + 1) * per_image
        # each group a slice of the batch's images, the last one cut short
        assert groups[-1].stop == 20_000
        assert all(a.stop == b.start for a, b in zip(groups, groups[1:]))
    assert conv._batches(3, 1_000) == [slice(0, 3)]
    assert "about 4 MB (at least one image)" in _one_line(TEXT)
    assert "**one matrix product**" not in TEXT


def test_the_worked_example_is_described_as_it_is():
    e = sconv.worked_example()
    assert e["X"].shape == (4, 4) and e["W"].shape == (3, 3)
    assert e["b"] == 1 and e["G"].shape == (2, 2)
    assert ("Take a $4 \\times 4$ input, a $3 \\times 3$ kernel and bias 1, "
            "stride 1, no padding: the output is $2 \\times 2$") in \
        _one_line(TEXT)


def test_glossary_kernel_is_one_filter_as_in_the_chapter():
    """The chapter: filter d's kernel has shape C x k_H x k_W; the
    glossary said the kernel is the whole (C_out, C_in, k_H, k_W)
    array."""
    entry = glossary_entry("kernel")
    assert entry.startswith("卷积核 (juǎnjī hé). The small array of weights "
                            "of one filter of a convolution, shape "
                            "$(C_\\text{in}, k_H, k_W)$")
    assert "{ref}`cnn-cross-correlation`" in entry
    assert "its {term}`kernel`, of shape $C \\times k_H \\times k_W$" in \
        _one_line(TEXT)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("s,down,right", [(2, 0, 2), (2, 2, -2),
                                          (2, -4, 4), (3, 3, -6),
                                          (3, -3, 0)])
def test_a_stride_s_moves_the_map_by_the_shift_over_s(seed, s, down,
                                                      right):
    """'With stride s, a shift by a multiple of s moves the feature map by
    that shift divided by s (away from the border)' (it said the equality,
    a move by the same amount, holds for such shifts)."""
    k = conv_plots.KERNELS["sobel_x"][None, None]
    noise = np.random.default_rng(seed).standard_normal((28, 28))

    def feature(a):
        return conv.conv2d_forward(a[None, None], k, stride=s,
                                   padding=1)[0][0, 0]

    moved = feature(conv_plots.shift(noise, down, right))
    inside = (slice(3, -3), slice(3, -3))
    want = conv_plots.shift(feature(noise), down // s, right // s)
    np.testing.assert_array_equal(moved[inside], want[inside])
    same = conv_plots.shift(feature(noise), down, right)  # the equality
    assert not np.array_equal(moved[inside], same[inside])
    text = _one_line(TEXT)
    assert ("The equality holds only for stride 1. With stride $s$, a shift "
            "by a multiple of $s$ moves the feature map by that shift "
            "divided by $s$ (away from the border)") in text
    assert "(or shifts by multiples of the stride)" not in text
    assert "translation equivariant (away from the border)" in text


def test_docstring_says_full_convolution_with_the_kernel_as_the_text():
    """The chapter: dL/dX is 'the full convolution of dL/dY with the kernel
    (a correlation with the flipped kernel)'; conv2d_backward's docstring
    said 'the full convolution of dout with the flipped kernel'."""
    doc = _one_line(conv.conv2d_backward.__doc__)
    assert ("the full convolution of ``dout`` with the kernel, a correlation "
            "with the flipped kernel") in doc
    assert not re.search(r"full convolution of \S+ with the flipped", doc)
    assert ("full convolution of $\\partial L/\\partial Y$ with the kernel "
            "(a correlation with the flipped kernel)") in _one_line(TEXT)


@pytest.mark.parametrize("s", [1, 2, 3])
@pytest.mark.parametrize("k,p", [(3, 1), (2, 0), (5, 2)])
def test_output_padding_picks_among_the_s_input_lengths(s, k, p):
    """conv_transpose2d_output_size: 'the smallest for output_padding 0,
    and output_padding picks among the s consecutive lengths that do'
    (it said 'the largest input length')."""
    for m in (2, 3, 5):
        sizes = [conv.conv_transpose2d_output_size(m, k, s, p, r)
                 for r in range(s)]
        assert all(conv.conv2d_output_size(n, k, s, p) == m for n in sizes)
        fits = [n for n in range(1, 40) if n + 2 * p >= k
                and conv.conv2d_output_size(n, k, s, p) == m]
        assert sizes == fits
    doc = _one_line(conv.conv_transpose2d_output_size.__doc__)
    assert "the smallest for ``output_padding`` 0" in doc
    assert "the largest input length" not in doc


def test_what_the_implement_exercise_says_the_reports_show():
    """Solution of cnn-ex-implement: '/ instead of // returns floats (the
    report: "use // for the floor division")'; '= instead of += ... the
    report shows such an input (stride 1, 3x3 windows)'."""
    from calc_nn import check

    def true_division(size, kernel, stride=1, padding=0):
        if kernel > size + 2 * padding:
            raise ValueError("kernel larger than the padded input")
        return (size + 2 * padding - kernel) / stride + 1

    def overwrite(dout, cache):
        x, (kH, kW), (sH, sW) = cache.x, cache.kernel, cache.stride
        dx = np.zeros_like(x)
        for n, c, i, j in np.ndindex(*dout.shape):
            window = x[n, c, i * sH:i * sH + kH, j * sW:j * sW + kW]
            u, v = np.unravel_index(np.argmax(window), window.shape)
            dx[n, c, i * sH + u, j * sW + v] = dout[n, c, i, j]
        return dx

    report = check.conv2d_output_size(true_division)
    assert not report and "(use // for the floor division)" in str(report)
    report = check.maxpool2d_backward(overwrite)
    assert not report
    assert "kernel_size=3, stride=1" in str(report)
    assert "overlapping windows (stride 1)" in str(report)
    part = _one_line(_exercise("cnn-ex-implement"))
    assert '(the report: "use // for the floor division")' in part
    assert "the report shows such an input (stride 1, $3 \\times 3$ " \
        "windows)" in part


def test_which_layers_have_a_loop_reference():
    """'forward/backward pairs; those of the convolution and of pooling
    each beside a plain-loop reference *_naive' (the transposed
    convolution has none: the text said 'each')."""
    pairs = [n[:-len("_forward")] for n in conv.__all__
             if n.endswith("_forward")]
    naive = {p for p in pairs if f"{p}_forward_naive" in conv.__all__
             and f"{p}_backward_naive" in conv.__all__}
    assert naive == {"conv2d", "maxpool2d", "avgpool2d"}
    assert set(pairs) - naive == {"conv_transpose2d"}
    assert ("forward/backward pairs; those of the convolution and of "
            "pooling each beside a plain-loop reference") in _one_line(TEXT)


@pytest.mark.parametrize("term,label", [
    ("feature map", "cnn-cross-correlation"),
    ("kernel", "cnn-cross-correlation"),
    ("weight sharing", "cnn-parameters"),
    ("upstream gradient", "cnn-gradients"),
    ("average pooling", "cnn-pooling"),
    ("translation equivariance", "cnn-equivariance"),
    ("receptive field", "cnn-receptive-field")])
def test_glossary_links_the_section_that_introduces_the_term(term, label):
    """Each CNN glossary entry links a section of this page that names the
    term (the feature map's section did not name it)."""
    entry = glossary_entry(term)
    assert f"{{ref}}`{label}`" in entry
    section = TEXT.split(f"({label})=", 1)[1].split("\n(cnn-", 1)[0]
    stem = {"translation equivariance": "translation equivariant"}.get(
        term, term)
    assert stem in _one_line(section).lower().replace("**", "")


# ------------------------------- a third reading: what was fixed

def _section(label):
    return TEXT.split(f"({label})=", 1)[1].split("\n(cnn-", 1)[0]


def test_the_transposed_case_is_the_one_of_the_section_it_names():
    """'With several channels, a stride of 2 and padding 1 (the case of
    cnn-channels-stride)': that section's case is n_H = 6, k = 3, p = 1,
    s = 2, and so is the code after the sentence (the text said 'the
    previous section', whose case is a 7 x 6 input and a 3 x 2 kernel)."""
    text = _one_line(_section("cnn-matrix"))
    said = re.search(r"a stride of 2 and padding 1 \(the case of "
                     r"\{ref\}`([\w-]+)`\)", text)
    assert said, "the sentence names no section"
    case = re.search(r"\(\$n_H = (\d+)\$, \$k = (\d+)\$, \$p = (\d+)\$, "
                     r"\$s = (\d+)\$, so \$a = (\d+)\$\)",
                     _one_line(_section(said.group(1))))
    n, k, p, s, a = map(int, case.groups())
    assert (p, s, a) == (1, 2, (n + 2 * p - k) % s)
    cell = _section("cnn-matrix").split("`output_padding` $= a$:", 1)[1]
    assert f"rng.standard_normal((2, 3, {n}, {n}))" in cell
    assert f"rng.standard_normal((4, 3, {k}, {k}))" in cell
    assert f"stride={s}, padding={p}" in cell
    assert f"a = ({n} + 2 * {p} - {k}) % {s}" in cell


def test_notation_lists_t_as_the_matrix_of_a_convolution():
    """The chapter's T (vec(Y) = T vec(X)) is in book/notation.md's T row
    and in its paragraph of letters with several meanings (the row gave
    only the temperature and a number of steps)."""
    from pathlib import Path

    notation = (Path(__file__).resolve().parents[1] / "book"
                / "notation.md").read_text()
    row = re.search(r"^\| \$T\$ \|([^\n]*)\|$", notation, re.M).group(1)
    assert ("the matrix of a convolution, $\\operatorname{vec}(Y) = T "
            "\\operatorname{vec}(X)$ ({ref}`cnn-matrix`)") in row
    assert "$T$ (the temperature; a number of steps; the matrix of a " \
        "convolution)" in " ".join(notation.split())
    assert ("\\operatorname{vec}(Y) = T \\operatorname{vec}(X)"
            in _section("cnn-matrix"))


def test_m_and_j_keep_one_meaning():
    """m is only the output size of the output-padding exercise (as in
    book/notation.md, the outputs of a layer), no longer also the pixel of
    a window's maximum; j is only a column index, no longer also the
    distance j_l of the receptive-field count."""
    exercise = _exercise("cnn-ex-output-padding")
    uses = bare(TEXT, "m")
    assert uses and all(f in exercise for f in uses)
    assert "$m = n_H^{\\text{out}}$" in _one_line(exercise)
    assert not re.search(r"j_\{?[l1]", TEXT)
    pooling = _one_line(_section("cnn-pooling"))
    assert "$Y_{i,j} = X_{h^*,w^*}$" in pooling
    field = _one_line(_section("cnn-receptive-field"))
    assert ("Two neighbouring positions of the input of layer $l$ are "
            "$s_1 s_2 \\cdots s_{l-1}$ input pixels apart") in field


def test_what_the_text_says_the_conv_benchmark_times():
    """'It also times one matrix product of the forward pass's size and
    counts it three times' (it said it times the three products):
    bench_conv.matmul_floor times ``a @ m``, of the forward's shapes, and
    reports three times it; the three products have the same size."""
    from pathlib import Path

    bench = (Path(__file__).resolve().parents[1] / "benchmarks"
             / "bench_conv.py").read_text()
    floor = bench.split("def matmul_floor", 1)[1].split("\ndef ", 1)[0]
    assert floor.count("best_of(") == 1 and "best_of(lambda: a @ m" in floor
    assert "3 * t / ref_seconds" in floor
    assert "a = rng.standard_normal((F, C * k * k))" in floor
    assert "m = rng.standard_normal((C * k * k, N * Ho * Ho))" in floor
    # forward W (F, CKK) @ cols (CKK, NHW); dX: W.T @ dout (F, NHW);
    # dW: dout @ cols.T: the same F * CKK * NHW multiplications each
    F_, CKK, NHW = 8, 27, 50
    shapes = [((F_, CKK), (CKK, NHW)), ((CKK, F_), (F_, NHW)),
              ((F_, NHW), (NHW, CKK))]
    assert {a[0] * a[1] * b[1] for a, b in shapes} == {F_ * CKK * NHW}
    text = _one_line(TEXT)
    assert ("It also times one matrix product of the forward pass's size "
            "and counts it three times, since an im2col convolution cannot "
            "avoid three such products") in text
    assert "It also times the three matrix products" not in text


@pytest.mark.parametrize("message,passes", [
    ("too big", False), ("kernel larger than the padded input", True)])
def test_the_output_size_exercise_asks_what_the_checker_checks(message,
                                                               passes):
    """Exercise cnn-ex-implement (a): check.conv2d_output_size wants the
    ValueError's message to mention the kernel, and the exercise now says
    so (it asked only for a ValueError, which 'too big' is)."""
    from calc_nn import check

    def my_out_size(size, kernel, stride=1, padding=0):
        if kernel > size + 2 * padding:
            raise ValueError(message)
        return (size + 2 * padding - kernel) // stride + 1

    assert bool(check.conv2d_output_size(my_out_size)) == passes
    part = _one_line(_exercise("cnn-ex-implement"))
    assert ("a kernel larger than the padded input must raise a "
            "`ValueError` whose message mentions the kernel") in part


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_a_strided_1x1_convolution_keeps_the_pixels_si_sj(seed):
    """'With k_H = k_W = 1 and stride 1, eq-conv has no sum over offsets:
    Y_{d,i,j} = b_d + sum_c W_{d,c} X_{c,i,j} (a stride s keeps only the
    pixels (s i, s j))' (the stride was not said: with stride 2 the
    formula as typed is wrong)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 5, 7, 6))
    w, b = rng.standard_normal((3, 5, 1, 1)), rng.standard_normal(3)
    per_pixel = np.einsum("dc,nchw->ndhw", w[:, :, 0, 0], x) \
        + b[:, None, None]
    for s in (1, 2, 3):
        out = conv.conv2d_forward(x, w, b, stride=s)[0]
        np.testing.assert_allclose(out, per_pixel[:, :, ::s, ::s],
                                   rtol=1e-12, atol=1e-12)
    assert conv.conv2d_forward(x, w, b, stride=2)[0].shape != \
        per_pixel.shape
    text = _one_line(_section("cnn-1x1"))
    assert ("With $k_H = k_W = 1$ and stride 1, {eq}`eq-conv` has no sum "
            "over offsets: $Y_{d,i,j} = b_d + \\sum_c W_{d,c}\\, X_{c,i,j}$ "
            "(a stride $s$ keeps only the pixels $(s i, s j)$)") in text


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_with_stride_1_dx_is_a_sum_over_filters_of_full_convolutions(seed):
    """'So with stride 1 the input's gradient of channel c is the sum over
    the filters d of what eq-conv-dx gives for G_d and W_{d,c}; a stride
    only thins out the terms' (the stride was not said)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, 6, 6))
    w = rng.standard_normal((4, 3, 3, 3))
    for s in (1, 2):
        y, cache = conv.conv2d_forward(x, w, stride=s, padding=1)
        g = rng.standard_normal(y.shape)
        dx = conv.conv2d_backward(g, cache)[0]
        full = np.array([[sum(F.conv_transpose2d(
            torch.tensor(g[n, d][None, None]),
            torch.tensor(w[d, c][None, None])).numpy()[0, 0]
            for d in range(4)) for c in range(3)] for n in range(2)])
        full = full[:, :, 1:-1, 1:-1]  # the padding cropped
        assert (full.shape == dx.shape
                and np.allclose(full, dx, rtol=1e-12, atol=1e-12)) == \
            (s == 1)
    text = _one_line(_section("cnn-channels-stride"))
    assert ("So with stride 1 the input's gradient of channel $c$ is the "
            "sum over the filters $d$ of what {eq}`eq-conv-dx` gives for "
            "$G_d$ and $W_{d,c}$; a stride only thins out the terms") in text


@pytest.mark.parametrize("side", [6, 7, 14, 15, 28])
def test_two_by_two_pooling_shrinks_the_area_by_four_on_even_sides(side):
    """'by a factor 4 in area for 2 x 2 windows with stride 2 on even
    sides, more on odd ones, whose last row and column are dropped' (it
    said a factor 4)."""
    x = np.arange(float(side * side)).reshape(1, 1, side, side)
    out, cache = conv.maxpool2d_forward(x, 2)
    factor = side * side / out[0, 0].size
    assert (factor == 4) == (side % 2 == 0) and factor >= 4
    dx = conv.maxpool2d_backward(np.ones_like(out), cache)[0, 0]
    assert (not dx[-1].any() and not dx[:, -1].any()) == (side % 2 == 1)
    assert ("by a factor 4 in area for $2 \\times 2$ windows with stride 2 "
            "on even sides, more on odd ones, whose last row and column "
            "are dropped") in _one_line(TEXT)


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_the_matrix_is_the_convolution_without_its_bias(seed):
    """'A convolution without its bias is linear in its input (the bias
    adds a constant, which changes no gradient)' (it said a convolution
    is linear): T vec(x) misses the bias, T^T still gives dL/dX."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, 2, 5, 5))
    w, b = rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    T = conv.conv2d_matrix(w, (2, 5, 5), padding=1)
    y, cache = conv.conv2d_forward(x, w, b, padding=1)
    assert not np.allclose(T @ x.ravel(), y.ravel())
    np.testing.assert_allclose(T @ x.ravel() + np.repeat(b, 25), y.ravel(),
                               rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(y.shape)
    np.testing.assert_allclose(T.T @ g.ravel(),
                               conv.conv2d_backward(g, cache)[0].ravel(),
                               rtol=1e-12, atol=1e-12)
    assert ("A convolution without its bias is linear in its input (the "
            "bias adds a constant, which changes no gradient)") in \
        _one_line(TEXT)


def test_the_erratum_does_not_call_the_biased_convolution_linear():
    """Erratum item 3: 'the convolution applies no activation, only sums
    of products plus a bias' (it said 'the convolution is linear', which
    with its bias it is not: conv(2x) != 2 conv(x))."""
    rng = np.random.default_rng(0)
    x, w, b = (rng.standard_normal((1, 1, 4, 4)),
               rng.standard_normal((1, 1, 3, 3)), np.ones(1))
    y1 = conv.conv2d_forward(x, w, b)[0]
    y2 = conv.conv2d_forward(2 * x, w, b)[0]
    assert not np.allclose(y2, 2 * y1)
    np.testing.assert_allclose(y2 - b, 2 * (y1 - b), rtol=1e-12)
    box = _one_line(admonition(
        TEXT, "Erratum: the {cite:t}`cnn-calculus-doc{§4.3}`"))
    assert ("the convolution applies no activation, only sums of products "
            "plus a bias") in box
    assert "convolution is linear" not in box
    # A is defined where it is used
    assert "when $Y$ feeds an activation $A = f(Y)$" in box


def test_r_is_the_receptive_field_and_a_the_remainder():
    """r_l is the receptive field (eq-receptive-field, and the figure's
    'r₂ = 1 + ...'); the remainder (n_H + 2p - k) mod s is a, Dumoulin and
    Visin's letter (it was r too): no formula of the prose uses a bare r,
    no code cell computes an r with %, and the remainder a is defined in
    the stride section, used for output_padding and in the exercise, and
    named in book/notation.md's paragraph of letters with two meanings."""
    assert bare(TEXT, "r") == []
    field = _section("cnn-receptive-field")
    assert "r_D = 1 + \\sum_{l=1}^{D} (k_l - 1)" in field
    assert "$r_0 = 1$" in field
    cells = "\n".join(code(TEXT))
    assert not re.search(r"\br = .*%", cells)
    assert "output_padding=r" not in cells
    stride = _one_line(_section("cnn-channels-stride"))
    assert ("$a = (n_H + 2p - k) \\bmod s$, the letter "
            "{cite:t}`dumoulin2016` use,") in stride
    assert "`output_padding` $= a$" in _section("cnn-matrix")
    exercise = _one_line(_exercise("cnn-ex-output-padding"))
    assert "$n_H + 2p - k = (m - 1)s + a$ with $0 \\le a < s$" in exercise
    notation = " ".join(read("notation").split())
    assert ("$a$ (an activation; the remainder $(n_H + 2p - k) \\bmod s$ "
            "of a strided convolution in {ref}`cnn-channels-stride`)"
            ) in notation
    fig = conv_plots.receptive_field_map(2, 3, 1)
    assert ": r₂ = 1 + 2·1 + 2·1 = 5;" in fig.layout.title.text


def test_p_is_the_padding_and_h_w_the_input_pixel():
    """p is the padding (book/notation.md). The input's gradient named its
    pixel X_{p,q} in eq-conv-dx, eq-conv-dx-flip and two solutions while
    the multi-channel section said 'here p is the padding'; the pixel is
    now (h, w) everywhere, as in eq-conv-dx-multi and the pooling
    formulas: no formula uses q, every p is the padding, and the worked
    table's header says G_{h-u,w-v}."""
    assert bare(TEXT, "q") == []
    assert not re.search(r"X_\{p,\s*q\}|[pq] ?- ?[uv]\b", TEXT)
    assert "here $p$ is the padding" not in TEXT
    gradients = _section("cnn-gradients")
    assert "pixel $X_{h,w}$ (row $h$, column $w$)" in _one_line(gradients)
    assert "\\partial Y_{h-u,\\,w-v}}\\, W_{u,v}" in gradients
    assert "G^{\\text{pad}}_{h+u,\\,w+v}" in gradients
    header = sconv.worked_tables()["dX"].splitlines()[0]
    assert "$G_{h-u,w-v} W_{u,v}$" in header
    matrix = _one_line(_exercise("cnn-ex-matrix"))
    assert ("the entry of $T^\\top g$ for $x_{i+u}$ collects $g_i w_u$"
            in matrix)
    # and the notation page names this second meaning of h and w
    notation = _one_line(read("notation"))
    assert ("$h$ and $w$ (the step of a finite difference and a neuron's "
            "weight vector; the row and column of an input pixel, "
            "$X_{h,w}$, in {ref}`chapter-cnn`") in notation
