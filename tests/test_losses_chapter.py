"""The chapter "Loss functions": the claims its prose makes.

Every number the chapter glues into a sentence comes from the calls below,
and each test asserts the claim the sentence makes with it ("wrong in the
fifth digit", "MSE's count grows like e^|z0|, cross-entropy's by about one
step per unit", "gamma changes little"), so a change that makes a sentence
false fails here. The worked example's table, typed by hand, is read from
the page and recomputed with calc_nn and PyTorch.
"""

import re
from pathlib import Path

import chapter_text as page
import mpmath as mp
import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F

from calc_nn import activations as act
from calc_nn import check, losses
from calc_nn.symbolic import loss_formulas as sym

TEXT = page.read("losses")
SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
GAMMAS = (0.0, 0.5, 1.0, 2.0, 5.0)


# ------------------------------------------------------------ the page

def test_before_you_start_links_what_the_chapter_relies_on():
    box = page.admonition(TEXT, "Before you start")
    linked = set(page.refs(box))
    assert {"calc-gradient", "calc-chain-rule", "calc-vjp", "calc-layout",
            "calc-hessian", "calc-convexity", "act-derivatives",
            "act-softmax-jacobian", "chapter-optimizers"} <= linked
    assert linked <= page.labels()
    start = TEXT.index("{admonition} Before you start")
    assert start < TEXT.index("\n## ")
    # gradient descent and the learning rate are introduced there, before
    # the first figure that uses them
    assert "**gradient descent**" in box and "**learning rate**" in box
    first_use = page.prose(TEXT).index("learning rate", page.prose(TEXT).index(
        "Before you start") + len(box))
    assert first_use > page.prose(TEXT).index("Before you start")


@pytest.mark.parametrize("term, label, formula", [
    ("mean squared error", "loss-mse", r"\frac{2}{M}(\hat y - y)"),
    ("cross-entropy", "loss-cross-entropy", r"-\sum_k y_k \log p_k"),
    ("focal loss", "loss-focal", r"-\alpha_t (1 - p_t)^\gamma \log p_t"),
])
def test_the_glossary_entries_link_their_sections_and_agree(term, label,
                                                            formula):
    """The glossary's loss terms link this chapter's sections (not just
    the chapter) and state the chapter's formulas."""
    assert f"\n({label})=\n## " in TEXT
    entry = page.glossary_entry(term)
    assert f"{{ref}}`{label}`" in entry
    assert formula in " ".join(entry.split())
    chapter = " ".join(page.prose(TEXT).split())
    assert formula.replace(" ", "") in chapter.replace(" ", "").replace(
        r"\sum_{k=1}^{K}", r"\sum_k").replace(r"\frac2M", r"\frac{2}{M}")


def test_the_code_cells_and_the_notation_follow_the_book():
    code = "\n".join(re.findall(r"```\{code-cell\}.*?```", TEXT, re.S))
    assert "seed_" not in code and 'print("seed' not in code
    for old in (r"\delta_{kt}", r"\sum_{j=1}^{C}", r"\hat y_{ij}"):
        assert old not in TEXT, old



# ------------------------------------------- one meaning for each letter

NOTATION = page.read("notation")


def test_mse_counts_its_numbers_with_big_m_and_no_formula_uses_n():
    """book/notation.md: n and m are a layer's inputs and outputs. MSE's
    count of predicted numbers is M (N m for N samples of m outputs, as
    batch normalization's mean runs over M values), and the class counts
    of the weights are n_k, with k the class as everywhere."""
    assert page.bare(TEXT, "n") == []
    assert r"$\operatorname{MSE} = \frac1M \sum_{i=1}^{M}" in TEXT
    assert re.search(r"^\| \$M\$ \| the number of values a mean runs "
                     r"over: the \$N m\$ predicted numbers of MSE",
                     NOTATION, re.M)
    text = " ".join(page.prose(TEXT).split())
    assert "for $n_k$ training samples of class $k$" in text
    assert "n_c" not in TEXT


def test_h_is_the_entropy_and_the_exercise_writes_the_hessian_nabla2():
    """H(q) is the entropy here (book/notation.md says so); the Hessian of
    exercise loss-ex-convex is written nabla^2 ell, never a bare H."""
    uses = page.bare(TEXT, "H")
    assert uses and all(not re.search(r"H(?!\s*\()", page.symbols(f))
                        for f in uses)
    assert r"$\nabla^2 \ell = \operatorname{diag}(p) - p p^\top$" in TEXT


def test_the_noise_is_s_because_sigma_is_the_sigmoid():
    """The Gaussian's standard deviation is s, and the page says why
    before its first use; book/notation.md lists that meaning of s."""
    text = " ".join(page.prose(TEXT).split())
    reason = text.index("not $\\sigma$, which is the sigmoid")
    assert reason < text.index("$\\mathcal N(y; \\hat y, s^2)$")
    assert page.bare(TEXT, "s")  # still the chapter's letter
    notation = " ".join(NOTATION.split())
    assert ("$s$ is also a standard deviation in {ref}`chapter-losses`, "
            "where $\\sigma$ is the sigmoid") in notation


def test_c_is_a_constant_prediction_and_notation_says_so():
    """book/notation.md's c is a channel; here c is the constant
    prediction of the likelihood section and exercise loss-ex-mean: the
    page says 'constant prediction $c$' at its first use and the notation
    page lists the second meaning."""
    uses = page.bare(TEXT, "c")
    assert uses
    text = " ".join(page.prose(TEXT).split())
    assert text.index("a constant prediction $c$") <= min(
        text.index(f"${f}$") for f in uses if f"${f}$" in text)
    two_meanings = " ".join(NOTATION[NOTATION.index(
        "A few letters keep two meanings"):].split())
    assert ("$c$ (a channel; a constant prediction in "
            "{ref}`chapter-losses`)") in two_meanings



def test_p_is_a_probability_here_and_the_preconditioner_lives_elsewhere():
    """P(.) is a probability on this page (the likelihood P(y), exercise
    loss-ex-mean's P(Y < c)); book/notation.md's P is also the
    preconditioner of opt-preconditioning. The page writes P only with
    its event in brackets, no page that does names a preconditioner P
    (the contexts never meet), and the notation page lists both."""
    formulas = page.maths(TEXT) + re.findall(r'Math\(r"(.*?)"', TEXT)
    uses = [f for f in formulas if "P" in page.symbols(f)]
    assert any("P(y)" in f for f in uses) and any("P(Y < c)" in f
                                                   for f in uses)
    for f in uses:
        assert not re.search(r"P(?!\s*\()", page.symbols(f)), f
    assert "precondition" not in TEXT.lower()
    preconditioner = re.compile(r"P\^\{-1\}|P_t\b|P_\{")
    probability = re.compile(r"(?<![A-Za-z\\])P\(")
    for chapter in page.BOOK.glob("*.md"):
        if chapter.stem in ("notation", "glossary"):
            continue
        maths = " ".join(page.maths(chapter.read_text()))
        assert not (probability.search(maths)
                    and preconditioner.search(maths)), chapter.name
    assert re.search(r"^\| \$P\(\\cdot\)\$ \| the probability of the event",
                     NOTATION, re.M)
    two_meanings = " ".join(NOTATION[NOTATION.index(
        "A few letters keep two meanings"):].split())
    assert ("$P$ (a probability, always written $P(\\cdot)$ with its event "
            "in brackets; a preconditioner matrix in "
            "{ref}`opt-preconditioning`)") in two_meanings

def _source(name, start, end):
    text = next(SEEDS.glob(f"{name}_*.txt")).read_text()
    return text[text.index(start):text.index(end)]


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the source documents are "
                    "not beside the repository")
def test_what_the_page_says_the_sources_say():
    """Each statement about the two documents, against their text: the NN
    document's four losses of 4.2, its n ('number of samples'), its w_i
    (the page said w_k), its p_t ('the predicted probability', without
    'true'), its 1.2 sentence on integral calculus; the CNN document's
    3.1 loss (C and y-hat) and gradient, and its 4.1 'logits'."""
    nn = _source("002", "### 4.2", "### 4.3")
    for name in ("均方误差", "交叉熵损失", "加权交叉熵损失", "Focal Loss"):
        assert name in nn
    assert "$n$ 是样本数量" in nn and "w_i y_i \\log(p_i)" in nn
    assert "$w_i$ 是每个类别的权重系数" in nn
    assert "writes $w_i$, its $i$ counting the classes" in TEXT
    assert "$p_t$ 是预测的概率" in nn and "真实" not in nn.split("p_t$ 是")[1]
    # its focal loss names no softmax (nor sigmoid): the page's softmax
    # form is 'like the NN document's cross-entropy', whose p is 预测的概率分布
    assert not re.search("softmax|sigmoid", nn, re.I)
    assert "$p$ 是预测的概率分布" in nn
    assert ("like the NN document's cross-entropy (its focal loss does not "
            "say how $p_t$ is computed)") in " ".join(TEXT.split())
    assert "积分学则为神经网络的激活函数和损失函数提供了理论基础" in _source(
        "002", "### 1.2", "## 2.")
    cnn = _source("000", "### 3.1", "### 3.2")
    assert "\\sum_{j=1}^{C}y_{ij}\\log(\\hat{y}_{ij})" in cnn
    assert "(y_{ij}-\\hat{y}_{ij})\\frac{\\partial \\hat{y}_{ij}}" \
           "{\\partial \\theta}" in cnn
    assert "writes $C$ for $K$ and $\\hat y$ for $p$" in TEXT
    code = _source("000", "### 4.1", "### 4.2")
    assert "`output`是模型的输出logits,$\\hat{y}_{ij}$" in code
    assert "$\\hat{y}_{ij}$是模型预测的第$i$个样本第$j$类的概率" in cnn
    # the symbol the source gives `output` is its y-hat: the page names
    # the probability by its own letters, p with the class index k
    assert ("in the same sentence it also gives it the symbol that its "
            "§3.1 uses for the predicted probability, our $p_{ik}$") in (
                " ".join(TEXT.split()))
    assert "probability $p_{ij}$" not in TEXT
    assert "torch.sum(target * torch.log(output), dim=1)" in code


# ------------------------------------------------------------------ MSE

def test_mse_divides_by_every_entry():
    """n counts every predicted number: N m for a batch (PyTorch's mean)."""
    rng = np.random.default_rng(0)
    y_hat, y = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    t = torch.tensor(y_hat, requires_grad=True)
    F.mse_loss(t, torch.tensor(y)).backward()
    np.testing.assert_allclose(losses.mse_grad(y_hat, y), t.grad.numpy(),
                               rtol=1e-14)
    np.testing.assert_allclose(t.grad.numpy(), 2 / 12 * (y_hat - y),
                               rtol=1e-14)


# ------------------------------------------------------------------ BCE

def test_the_naive_bce_is_wrong_in_the_fifth_digit_at_30():
    z = np.array([-1e4, 30.0, 1e4])
    y = np.array([1.0, 0.0, 0.0])
    stable = losses.binary_cross_entropy_with_logits(z, y, "none")
    with np.errstate(all="ignore"):
        naive = -(y * np.log(act.sigmoid(z))
                  + (1 - y) * np.log(1 - act.sigmoid(z)))
    assert stable[0] == stable[2] == 1e4 and np.all(np.isinf(naive[[0, 2]]))
    assert 1e-5 < abs(naive[1] / stable[1] - 1) < 1e-4
    # four significant digits agree, the fifth does not
    assert f"{naive[1]:.4g}" == f"{stable[1]:.4g}" == "30"
    assert float(f"{naive[1]:.5g}") != float(f"{stable[1]:.5g}")
    assert "already at $z = 30$ it is wrong in the fifth digit" in \
        " ".join(TEXT.split())



def test_bce_with_logits_is_the_max_form_and_torchs_is_the_log_sigmoid():
    """calc_nn evaluates max(z, 0) - z y + log(1 + e^-|z|); PyTorch's
    result is (1 - y) z - log sigma(z) with a stable log-sigmoid; both
    are finite at logits of 1e4 and agree to rounding (of the size of z:
    at z = -40, y = 0 torch's cancellation gives 0 where the loss is
    4.2e-18, which the max form keeps)."""
    z = np.array([-1e4, -40.0, -30.0, -0.5, 0.0, 2.0, 30.0, 1e4])
    y = np.array([1.0, 0.0, 1.0, 0.3, 0.5, 0.0, 0.0, 0.0])
    ours = losses.binary_cross_entropy_with_logits(z, y, "none")
    np.testing.assert_array_equal(
        ours, np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))
    zt, yt = torch.tensor(z), torch.tensor(y)
    theirs = F.binary_cross_entropy_with_logits(zt, yt, reduction="none")
    np.testing.assert_allclose(
        theirs.numpy(), ((1 - yt) * zt - F.logsigmoid(zt)).numpy(),
        rtol=4e-16, atol=0)
    assert np.all(np.abs(ours - theirs.numpy())
                  <= 4e-16 * np.maximum(np.abs(z), 1))
    assert ours[1] == pytest.approx(np.exp(-40.0), rel=1e-15)
    prose = " ".join(TEXT.split())
    assert "Its result equals $\\max(z, 0) - z y" in prose
    assert "own code writes it as $(1 - y)z - \\log\\sigma(z)$" in prose
    assert "it evaluates $\\max" not in prose

# ---------------------------------------------------- softmax + CE by hand

def test_the_worked_example_table_is_what_calc_nn_and_torch_compute():
    rows = page.table(TEXT, "loss-ce-table")
    z = np.array([[2.0, 1.0, 0.0]])
    true_class = np.array([1])
    p = act.softmax(z)[0]
    J = act.softmax_jacobian(z)[0]
    zt = torch.tensor(z, requires_grad=True)
    F.cross_entropy(zt, torch.tensor(true_class)).backward()
    grad = losses.cross_entropy_grad(z, true_class)[0]
    np.testing.assert_allclose(grad, zt.grad.numpy()[0], rtol=1e-15)
    y = np.eye(3)[1]
    assert [int(row[0]) for row in rows] == [1, 2, 3]
    for k, (_, z_k, e_k, p_k, y_k, dp2, dl) in enumerate(rows):
        for typed, value in ((z_k, z[0, k]), (e_k, np.exp(z[0, k])),
                             (p_k, p[k]), (y_k, y[k]), (dp2, J[1, k]),
                             (dl, grad[k]), (dl, p[k] - y[k]),
                             (dl, -J[1, k] / p[1])):
            assert page.matches_rounded(typed, value), (k, typed, value)


@pytest.mark.parametrize("typed, value", [
    ("$S = 11.1073$", np.exp([2.0, 1.0, 0.0]).sum()),
    ("-\\log p_2 = \\log S - z_2 = \\log 11.1073 - 1 = 1.4076$",
     -np.log(act.softmax(np.array([2.0, 1.0, 0.0]))[1])),
    ("$-1/p_2 = -4.0862$", -1 / act.softmax(np.array([2.0, 1.0, 0.0]))[1]),
])
def test_the_hand_steps_in_the_prose_are_right(typed, value):
    assert " ".join(typed.split()) in " ".join(TEXT.split())
    assert page.matches_rounded(re.findall(r"-?\d+\.\d+", typed)[-1], value)


# "\log 11.1073 - 1 = 1.4076", "-\log 0.6652 = ...", "\log 3 = 1.0986"
LOG_STEP = re.compile(r"(-)?\\log (\d+(?:\.\d+)?)(?:\s*-\s*(\d+))?\s*=\s*"
                      r"(-?\d+\.\d+)")


def test_every_typed_log_step_holds_for_the_numbers_it_shows():
    """A reader who evaluates a displayed step on a calculator, with the
    numbers as printed, gets the printed result ("-log 0.2447 = 1.4076"
    was false: it is 1.4077; the page now writes log S - z_2)."""
    steps = LOG_STEP.findall(" ".join(TEXT.split()))
    assert len(steps) >= 3
    for minus, x, offset, result in steps:
        value = np.log(float(x)) - float(offset or 0)
        value = -value if minus else value
        assert page.matches_rounded(result, value), (minus, x, offset,
                                                    result)
    # the rounded form the page warns about, and the long-way check
    assert "$-\\log 0.2447$, from the rounded $p_2$, would give 1.4077" in \
        " ".join(TEXT.split())
    assert page.matches_rounded("1.4077", -np.log(0.2447))
    assert "$-4.0862 \\times (-0.1628) = 0.6652$" in TEXT
    assert page.matches_rounded("0.6652", 4.0862 * 0.1628)


def test_the_rounded_gradient_sums_to_minus_one_ten_thousandth():
    rows = page.table(TEXT, "loss-ce-table")
    assert round(sum(float(row[-1]) for row in rows), 4) == -0.0001
    assert "here to $-0.0001$, from rounding" in TEXT
    assert abs(losses.cross_entropy_grad(np.array([[2.0, 1.0, 0.0]]),
                                         np.array([1])).sum()) < 1e-15


def test_a_sample_wrong_by_2e4_has_a_finite_loss_of_2e4():
    logits = np.array([[2.0, -1.0, 0.5], [1e4, 0.0, -1e4], [0.3, 0.2, 0.1]])
    per_sample = losses.cross_entropy(logits, np.array([0, 2, 1]),
                                      reduction="none")
    assert per_sample[1] == 2e4


def test_the_suite_repeats_the_comparison_as_often_as_the_page_says():
    """'on 100 generated batches per reduction (tests/test_losses.py)'
    (it said 'thousands'): the hypothesis settings of the torch
    comparison, which draws index and probability targets, with and
    without weights, for every reduction."""
    source = (page.BOOK.parent / "tests" / "test_losses.py").read_text()
    said = re.search(r"on (\d+) generated batches per\s+reduction",
                     TEXT).group(1)
    assert f"SETTINGS = settings(max_examples={said}," in source
    test = source[:source.index("def test_cross_entropy_matches_torch(")]
    decorators = test[test.rindex("\n\n"):]
    assert '@pytest.mark.parametrize("reduction", REDUCTIONS)' in decorators
    assert "@SETTINGS\n@given(case=classification())" in decorators
    assert 'REDUCTIONS = ("mean", "sum", "none")' in \
        (page.BOOK.parent / "calc_nn" / "losses.py").read_text()


def test_the_cnn_documents_loss_is_nan_or_negative_on_logits():
    one_hot = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])

    def document(output):
        return -torch.mean(torch.sum(one_hot * torch.log(output), dim=1))
    assert torch.isnan(document(torch.tensor([[2.0, -1.0, 0.5],
                                              [0.3, 1.2, -0.7]])))
    assert document(torch.tensor([[2.0, 1.0, 0.5], [0.3, 1.2, 0.7]])) < 0
    # the fix the page gives, in both of its forms, is the cross-entropy
    fix = "`-(target * F.log_softmax(logits, dim=1)).sum(1).mean()`"
    assert fix in " ".join(TEXT.split())
    for seed in range(3):
        z = torch.tensor(np.random.default_rng(seed).normal(0, 3, (4, 3)))
        target = torch.eye(3, dtype=z.dtype)[[0, 2, 1, 1]]
        fixed = -(target * F.log_softmax(z, dim=1)).sum(1).mean()
        assert fixed.item() == pytest.approx(
            F.cross_entropy(z, target).item(), rel=1e-14)
        assert fixed.item() == pytest.approx(losses.cross_entropy(
            z.numpy(), np.array([0, 2, 1, 1])), rel=1e-14)


def test_the_cnn_documents_gradient_is_smaller_by_a_varying_factor():
    z0 = np.array([[2.0, -1.0, 0.5], [0.3, 1.2, -0.7]])
    Y = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    p, J = act.softmax(z0), act.softmax_jacobian(z0)
    document = -np.einsum("ij,ijk->ik", Y - p, J) / 2
    corrected = -np.einsum("ij,ijk->ik", Y / p, J) / 2
    t = torch.tensor(z0, requires_grad=True)
    F.cross_entropy(t, torch.tensor(Y)).backward()
    np.testing.assert_allclose(corrected, t.grad.numpy(), rtol=1e-12)
    ratio = corrected / document
    assert ratio.min() > 1 and ratio.max() / ratio.min() > 1.5


# ------------------------------------------------------ likelihood section

def test_the_constant_of_the_gaussian_nll_is_the_log_term():
    _, form = sym.gaussian_nll()
    s = [v for v in form.free_symbols if v.name == "s"][0]
    y, y_hat = sym.y, [v for v in form.free_symbols if "hat" in v.name][0]
    terms = form.as_ordered_terms()
    constant = [term for term in terms if not term.has(y)]
    assert len(constant) == 1 and constant[0].has(s)
    assert not constant[0].has(y_hat)
    assert "the logarithm term" in TEXT and "second term" not in TEXT


def test_mse_is_the_gaussian_nll_only_up_to_scale_and_a_constant():
    """'MSE is, up to scale and a constant, the negative log-likelihood of
    a Gaussian' (it said 'is the negative log-likelihood', three times):
    the NLL is (y - y_hat)^2 / (2 s^2) + log(2 pi s^2) / 2, equal to the
    squared error itself for no s."""
    _, form = sym.gaussian_nll()
    s = [v for v in form.free_symbols if v.name == "s"][0]
    y_hat = [v for v in form.free_symbols if "hat" in v.name][0]
    squared = (y_hat - sym.y) ** 2
    assert sp.simplify(form - squared / (2 * s ** 2)
                       - sp.log(2 * sp.pi * s ** 2) / 2) == 0
    # the factor is 1 only for s^2 = 1/2, and then the constant is
    # log(pi) / 2, not 0: for no s is the NLL the squared error itself
    half = form.subs(s, 1 / sp.sqrt(2))
    assert sp.simplify(half - squared - sp.log(sp.pi) / 2) == 0
    prose = " ".join(TEXT.split())
    for said in ("(MSE up to a positive factor and an added constant)",
                 "**MSE is, up to scale and a constant, the negative "
                 "log-likelihood of a Gaussian.**",
                 "MSE (up to scale and a constant) for Gaussian noise"):
        assert said in prose, said
    assert "**MSE is the negative log-likelihood" not in prose


# -------------------------------------------------- MSE on a sigmoid: steps

def test_sympy_proves_the_sigmoid_mse_gradient_the_page_derives():
    """'SymPy differentiates both ... and proves the first equal to the
    hand result' (it said 'confirms both' of a cell that only displayed
    them): the cell's check, and that it would catch a wrong factor."""
    g_mse, g_ce = sym.sigmoid_mse_gradient()
    s = sym.sigma_of(sym.z)
    by_hand = 2 * (s - sym.y) * s * (1 - s)
    assert sp.simplify(g_mse - by_hand) == 0
    assert sp.simplify(g_mse - by_hand * s) != 0
    assert sp.simplify(g_ce - (s - sym.y)) == 0
    assert ("sp.simplify(g_mse - 2 * (s_z - sym.y) * s_z * (1 - s_z)) == 0"
            in TEXT)
    assert "and proves the first equal to the hand result" in " ".join(
        TEXT.split())


def test_mse_on_a_sigmoid_learns_slowly_not_slowest_when_most_wrong():
    """'with MSE it learns slowly exactly when it is most wrong' (it said
    'slowest': the gradient 2p(1 - p)^2 is smaller still near p = 1,
    where the neuron is nearly right)."""
    def size(p):
        return 2 * p * (1 - p) ** 2
    wrong = 1 / (1 + np.exp(6.0))                   # z = -6, error > 0.99
    assert size(wrong) < 0.01 and size(wrong) < size(1 / 3) / 50
    assert size(0.99) < size(wrong)                 # not the slowest
    prose = " ".join(TEXT.split())
    assert "with MSE it learns slowly exactly when it is most wrong" in prose
    assert "learns slowest" not in prose


def test_the_mse_gradient_on_a_sigmoid_is_at_most_8_27():
    p = np.linspace(0, 1, 30001)
    size = 2 * p * (1 - p) ** 2
    assert size.max() == pytest.approx(8 / 27, rel=1e-8)
    assert p[np.argmax(size)] == pytest.approx(1 / 3, abs=1e-4)


def test_mse_needs_about_e2_more_steps_for_two_more_units():
    counts = {z0: losses.steps_to_reach(z0, "mse", 0.5)
              for z0 in (-6.0, -8.0)}
    assert 5 < counts[-8.0] / counts[-6.0] < 10
    # near p = 0 the gradient is about 2 e^z: about e^{|z0|} / 2 steps
    for z0, count in counts.items():
        assert 0.8 < count / (np.exp(-z0) / 2) < 1.25


def test_cross_entropy_grows_by_about_one_step_per_unit():
    starts = (0.0, -2.0, -6.0, -8.0)
    counts = [losses.steps_to_reach(z0, "bce", 0.9) for z0 in starts]
    assert counts == sorted(counts) and len(set(counts)) == len(counts)
    assert 0.8 <= (counts[-1] - counts[1]) / 6 <= 1.5
    # each step raises z by almost the learning rate while p is small
    p = losses.logit_descent(-8.0, "bce", lr=1.0, steps=5)
    steps = np.diff(np.log(p) - np.log1p(-p))
    assert np.all((0.98 < steps) & (steps <= 1.0))
    assert counts[-1] < losses.steps_to_reach(-8.0, "mse", 0.5) / 50


def test_the_step_counts_follow_the_figure():
    """The figure and the counts use the same descent."""
    p = losses.logit_descent(-6.0, "mse", lr=1.0, steps=300)
    assert np.argmax(p > 0.5) == losses.steps_to_reach(-6.0, "mse", 0.5)


# ------------------------------------------------------ weighted CE

def test_pytorchs_weighted_mean_is_a_weighted_average():
    logits = np.array([[1.5, -0.3], [0.2, 0.4], [-1.0, 2.0], [0.5, 0.5]])
    target, alpha = np.array([0, 0, 1, 1]), np.array([1.0, 10.0])
    weighted = losses.cross_entropy(logits, target, alpha, reduction="none")
    torch_mean = F.cross_entropy(torch.tensor(logits), torch.tensor(target),
                                 weight=torch.tensor(alpha)).item()
    assert torch_mean == pytest.approx(weighted.sum() / alpha[target].sum(),
                                       rel=1e-14)
    assert torch_mean != pytest.approx(weighted.sum() / 4, rel=1e-3)
    assert losses.weighted_cross_entropy(logits, target, 100 * alpha) == \
        pytest.approx(torch_mean, rel=1e-14)


def test_probability_targets_divide_by_n_and_zero_weights_are_refused():
    logits = np.array([[1.5, -0.3], [0.2, 0.4]])
    probs, alpha = np.array([[0.3, 0.7], [1.0, 0.0]]), np.array([2.0, 5.0])
    torch_mean = F.cross_entropy(torch.tensor(logits), torch.tensor(probs),
                                 weight=torch.tensor(alpha)).item()
    total = losses.cross_entropy(logits, probs, alpha, reduction="sum")
    assert torch_mean == pytest.approx(total / 2, rel=1e-14)
    zero = np.array([0.0, 1.0])
    assert np.isnan(F.cross_entropy(torch.tensor(logits), torch.tensor([0, 0]),
                                    weight=torch.tensor(zero)).item())
    with pytest.raises(ValueError, match="weights sum to 0"):
        losses.cross_entropy(logits, np.array([0, 0]), zero)


def test_only_the_weights_ratios_matter_with_index_targets_only():
    """The summary: 'With class-index targets, ... only the weights'
    ratios matter; with probability targets it divides by N' (it said
    only the ratios matter, which is false for probability targets: ten
    times the weights, ten times the mean)."""
    logits = np.array([[1.5, -0.3], [0.2, 0.4], [-1.0, 2.0]])
    index, alpha = np.array([0, 1, 1]), np.array([2.0, 5.0])
    probs = np.array([[0.3, 0.7], [1.0, 0.0], [0.5, 0.5]])

    def torch_mean(target, weight):
        return F.cross_entropy(torch.tensor(logits), torch.tensor(target),
                               weight=torch.tensor(weight)).item()
    for target in (index, probs):
        ratio = torch_mean(target, 10 * alpha) / torch_mean(target, alpha)
        ours = (losses.cross_entropy(logits, target, 10 * alpha)
                / losses.cross_entropy(logits, target, alpha))
        expected = 1.0 if target is index else 10.0
        assert ratio == pytest.approx(expected, rel=1e-14)
        assert ours == pytest.approx(expected, rel=1e-14)
    summary = " ".join(TEXT[TEXT.index("## Summary"):
                            TEXT.index("## Exercises")].split())
    assert ("With class-index targets, PyTorch's weighted mean "
            "{eq}`eq-weighted-mean` divides by the sum of the target "
            "classes' weights, so only the weights' ratios matter; with "
            "probability targets it divides by $N$.") in summary


# ------------------------------------------------------------ focal loss

def test_sympys_focal_check_is_the_factor_in_front_of_the_jacobian_row():
    """'its check that p_t times it is the factor in front of
    ([k = t] - p_k)' (it said 'the bracketed factor', which is only the
    [1 - gamma p_t log p_t / (1 - p_t)] part)."""
    g, proved = sym.focal_gradient_logit_factor()
    assert proved
    assert len(g.as_ordered_factors()) > 1  # more than the bracket
    prose = " ".join(TEXT.split())
    assert "is the factor in front of $([k = t] - p_k)$" in prose
    assert "bracketed factor" not in prose


def test_the_focal_traps_torch_gives_nan_calc_nn_the_tiny_value():
    z = np.array([[40.0, 0.0], [5.0, 0.0], [0.0, 0.0], [-1e4, 1e4]])
    t = np.zeros(4, dtype=int)
    gap = act.softmax(z[:1])[0, 1]
    assert 1e-18 < gap < 1e-17
    for gamma in (0.5, 2.0):
        zt = torch.tensor(z, requires_grad=True)
        log_pt = F.log_softmax(zt, dim=-1)[:, 0]
        (-(1 - log_pt.exp()) ** gamma * log_pt).sum().backward()
        ours = losses.focal_loss_grad(z, t, gamma, reduction="sum")[:, 0]
        assert np.isnan(zt.grad[0, 0].item()) == (gamma == 0.5)
        assert np.isfinite(ours[0]) and 0 < -ours[0] < 1e-25
        # 'the true, tiny value': eq-focal-gradient in 50-digit arithmetic
        mp.mp.dps = 50
        pt = 1 / (1 + mp.exp(-40))
        exact = -(1 - pt) ** (gamma + 1) * (
            1 - gamma * pt * mp.log(pt) / (1 - pt))
        assert abs(float((ours[0] - exact) / exact)) < 1e-12
        np.testing.assert_allclose(ours[1:], zt.grad.numpy()[1:, 0],
                                   rtol=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_one_minus_pt_and_log_pt_to_a_relative_1e_12(seed):
    """'1 - p_t as the sum of the other classes' probabilities (with a
    relative error below 10^-12 even when it is 10^-40)' (it said 'to the
    last digit'; the worst seen is a few hundred ulps), and log p_t too,
    against 60-digit arithmetic, on logits up to 1e4."""
    mp.mp.dps = 60
    assert "with a relative error below $10^{-12}$\neven when it is " \
        "$10^{-40}$" in TEXT
    z = np.array([[92.1, 0.0]])
    assert 1e-41 < losses._log_pt(z, np.array([0]))[2][0] < 1e-39
    rng = np.random.default_rng(seed)
    worst = 0.0
    for case in range(150):
        z = np.round(rng.uniform(-5, 5, rng.integers(2, 6)), 3)
        z[0] += (rng.uniform(20, 700), -rng.uniform(0, 700),
                 rng.uniform(-1e4, 1e4), 0.0)[case % 4]
        _, log_pt, one_minus_pt = losses._log_pt(z[None], np.array([0]))
        exp = [mp.exp(mp.mpf(float(v))) for v in z]
        total = mp.fsum(exp)
        rest = mp.fsum(exp[1:]) / total
        exact_log = (mp.log1p(-rest) if rest < 0.5
                     else mp.mpf(float(z[0])) - mp.log(total))
        for ours, exact in ((one_minus_pt[0], rest), (log_pt[0], exact_log)):
            if abs(exact) > mp.mpf("1e-300"):  # not below float64's range
                worst = max(worst, abs(float((ours - exact) / exact)))
    assert worst < 1e-12


def test_well_classified_samples_fall_far_below_the_cross_entropy():
    """'For well-classified samples (p_t > 0.8, say) the focal loss and its
    gradient fall far below the cross-entropy's' with gamma = 2: at least
    25 and 8 times below (it said p_t > 0.6, where the gradient is still
    0.41 of the cross-entropy's)."""
    start = float(re.search(r"well-classified samples \(\$p_t > (0\.\d+)\$, "
                            r"say\)", TEXT).group(1))
    pt = np.linspace(start, 1 - 1e-6, 2001)
    two = np.stack([np.log(pt), np.log1p(-pt)], axis=1)
    target = np.zeros(len(pt), int)

    def loss_and_grad(gamma):
        return (losses.focal_loss(two, target, gamma, reduction="none"),
                -losses.focal_loss_grad(two, target, gamma,
                                        reduction="none")[:, 0])
    (ce, g_ce), (fl, g_fl) = loss_and_grad(0.0), loss_and_grad(2.0)
    assert np.all(fl / ce <= 1 / 25 + 1e-12) and np.all(g_fl / g_ce < 1 / 8)
    assert "$(1 - 0.9)^2 = 1/100$" in TEXT


def test_badly_classified_samples_keep_a_gradient_near_one():
    p = np.array([1e-6, 1e-3])
    two = np.stack([np.log(p), np.log1p(-p)], axis=1)
    g = losses.focal_loss_grad(two, np.zeros(2, int), 2.0, reduction="none")
    assert abs(g[0, 0] + 1) < 1e-4 and abs(g[1, 0] + 1) < 2e-2


def test_the_squared_errors_gradient_is_small_at_both_ends():
    """'The squared error gets only half of this right: its gradient is
    small for good predictions, and small too for badly wrong ones' (it
    said 'the opposite of what we want', but small for good predictions
    is what we want). |d (1 - p_t)^2 / d z_t| by autograd, on the figure's
    range of p_t: below 0.01 at both ends, never above 8/27, while the
    cross-entropy's is 1 - p_t, close to 1 for badly wrong ones."""
    pt = np.array([0.005, 1 / 3, 0.995])
    z = torch.tensor(np.stack([np.log(pt), np.log1p(-pt)], axis=1),
                     requires_grad=True)
    ((1 - torch.softmax(z, dim=1)[:, 0]) ** 2).sum().backward()
    g = np.abs(z.grad.numpy()[:, 0])
    np.testing.assert_allclose(g, 2 * pt * (1 - pt) ** 2, rtol=1e-12)
    assert g[0] < 0.01 and g[2] < 0.01 and g[1] == pytest.approx(8 / 27)
    assert 1 - pt[0] > 0.99
    prose = " ".join(TEXT.split())
    assert ("error gets only half of this right: its gradient is small for "
            "good predictions, and small too for badly wrong ones") in prose
    assert "the opposite of what we want" not in prose


@pytest.mark.parametrize("seed", range(3))
def test_lin_et_al_sigmoid_focal_loss_is_the_softmax_one_on_z_0(seed):
    rng = np.random.default_rng(seed)
    z, y = rng.normal(0, 2, 6), rng.integers(0, 2, 6)
    alpha, gamma = 0.25, 2.0
    zt = torch.tensor(z, requires_grad=True)
    p = torch.sigmoid(zt)
    pt = torch.where(torch.tensor(y) == 1, p, 1 - p)
    at = torch.where(torch.tensor(y) == 1, alpha, 1 - alpha)
    loss = (-at * (1 - pt) ** gamma * torch.log(pt)).sum()
    loss.backward()
    logits = np.stack([z, np.zeros(6)], axis=1)
    weights = np.array([alpha, 1 - alpha])
    assert losses.focal_loss(logits, 1 - y, gamma, weights, "sum") == \
        pytest.approx(loss.item(), rel=1e-12)
    np.testing.assert_allclose(
        losses.focal_loss_grad(logits, 1 - y, gamma, weights, "sum")[:, 0],
        zt.grad.numpy(), rtol=1e-10)
    # the solution's line: -(2y - 1) alpha_t (1 - p_t)^(gamma + 1) [...]
    assert r"= -(2y - 1)\,\alpha_t\," in TEXT
    p_t, a_t = pt.detach().numpy(), at.numpy()
    by_hand = -(2 * y - 1) * a_t * (1 - p_t) ** (gamma + 1) * (
        1 - gamma * p_t * np.log(p_t) / (1 - p_t))
    np.testing.assert_allclose(by_hand, zt.grad.numpy(), rtol=1e-10)


# ------------------------------------------------------ class imbalance

def _scores(weight, gamma, seed=0):
    test_set = losses.imbalanced_data(n_majority=20000, seed=1)
    return losses.minority_scores(
        *losses.train_linear_classifier(weight, gamma, seed=seed), *test_set)


@pytest.mark.parametrize("seed", [0, 2, 3])
def test_weights_trade_precision_for_recall_and_gamma_changes_little(seed):
    """The claims hold for the data of the chapter (seed 0) and others."""
    plain, weighted = _scores(1.0, 0.0, seed), _scores(20.0, 0.0, seed)
    assert 0.25 < 1 - plain["recall"] < 0.45        # "missing about a third"
    assert plain["accuracy"] > 0.965
    assert weighted["recall"] > plain["recall"] + 0.15
    assert weighted["precision"] < plain["precision"] - 0.15
    for weight in (1.0, 20.0):
        recalls = [_scores(weight, g, seed)["recall"] for g in GAMMAS]
        assert max(recalls) - min(recalls) < 0.05


def test_weight_20_is_the_inverse_frequency_weight():
    """'A weight of 20 (the ratio of the class sizes, 400 : 20: the common
    inverse-frequency weights 1/n_k, scaled so that the majority's is 1,
    which changes nothing in a weighted mean)' (it said 'the inverse of
    the class frequency', which is 21 for the minority)."""
    X, y = losses.imbalanced_data()
    counts = np.bincount(y)
    assert list(counts) == [400, 20]
    inverse = 1 / counts
    np.testing.assert_allclose(inverse / inverse[0], [1.0, 20.0])
    assert len(y) / counts[1] == 21
    logits = X @ np.array([[0.3, -0.2], [1.0, 0.7]]).T
    assert losses.weighted_cross_entropy(logits, y, inverse) == \
        pytest.approx(losses.weighted_cross_entropy(logits, y, [1.0, 20.0]),
                      rel=1e-13)
    assert "ratio of the class sizes, 400 : 20" in TEXT


def test_the_test_set_is_21000_samples_95_percent_majority():
    _, y = losses.imbalanced_data(n_majority=20000, seed=1)
    assert len(y) == 21000 and np.mean(y == 0) == pytest.approx(20 / 21)
    assert _scores(1.0, 0.0)["accuracy"] > np.mean(y == 0)


# ------------------------------------------------------------ exercises

def test_the_stable_bce_exercise_sympy_difference_is_0_for_both_signs():
    y = sym.y
    for z in (sp.Symbol("z", positive=True), sp.Symbol("z", negative=True)):
        lhs = sym.bce().subs(sym.z, z)
        rhs = sp.Max(z, 0) - z * y + sp.log(1 + sp.exp(-sp.Abs(z)))
        assert sp.simplify(lhs - rhs) == 0
        assert sp.simplify(lhs - rhs - z) != 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_mean_and_the_median_minimise_the_two_errors(seed):
    """Exercise loss-ex-mean's check, on its grid of step 0.001: the
    squared error's argmin is the sample mean, the absolute error's the
    median, on a skewed sample where the two differ (the page's seed 1
    and others)."""
    sample = np.random.default_rng(seed).exponential(size=20001)
    cs = np.linspace(0, 3, 3001)
    sq = [np.mean((sample - c) ** 2) for c in cs]
    ab = [np.mean(np.abs(sample - c)) for c in cs]
    assert abs(cs[np.argmin(sq)] - sample.mean()) <= 5e-4 + 1e-12
    assert abs(cs[np.argmin(ab)] - np.median(sample)) <= 1e-3
    assert sample.mean() - np.median(sample) > 0.2
    assert "default_rng(1).exponential(size=20001)" in TEXT


def test_the_focal_peak_exercise():
    pt = np.linspace(1e-4, 1 - 1e-4, 100001)
    two = np.stack([np.log(pt), np.log1p(-pt)], axis=1)
    g = {gamma: np.abs(losses.focal_loss_grad(
        two, np.zeros(len(pt), int), gamma, reduction="none")[:, 0])
        for gamma in (0.0, 2.0)}
    half = pt[np.argmin(np.abs(g[2.0] - 0.5))]
    assert 0.38 < half < 0.40
    at_09 = g[2.0][np.argmin(np.abs(pt - 0.9))]
    assert 34 < 0.1 / at_09 < 35.5                  # "about 35 times less"
    # the solution's hand computation, with -log 0.9 rounded to 0.1054
    assert page.matches_rounded("2.897", 1 + 2 * 0.9 * 0.1054 / 0.1)
    assert page.matches_rounded("0.1054", -np.log(0.9))


def test_the_worked_exercise_numbers():
    solution = TEXT[TEXT.index("solution-start} loss-ex-worked"):]
    solution = solution[:solution.index("solution-end")]
    grad = losses.cross_entropy_grad(np.array([[2.0, 1.0, 0.0]]),
                                     np.array([0]))[0]
    for typed, value in (("-0.3348", grad[0]), ("0.2447", grad[1]),
                         ("0.0900", grad[2]),
                         ("0.4076", losses.cross_entropy(
                             np.array([[2.0, 1.0, 0.0]]), np.array([0]))),
                         ("1.0986", np.log(3))):
        assert typed in solution and page.matches_rounded(typed, value), typed


@pytest.mark.parametrize("seed", range(3))
def test_the_unnormalised_target_exercise(seed):
    """With a target summing to 1.5, torch's gradient is 1.5 p - y, its
    entries sum to 0, and the loss is 1.5 times the cross-entropy of the
    normalised target; calc_nn refuses the target."""
    z = np.random.default_rng(seed).standard_normal((1, 3))
    y = np.array([[0.5, 0.5, 0.5]])
    t = torch.tensor(z, requires_grad=True)
    loss = F.cross_entropy(t, torch.tensor(y))
    loss.backward()
    np.testing.assert_allclose(t.grad.numpy(), 1.5 * act.softmax(z) - y,
                               rtol=1e-13, atol=1e-15)
    assert abs(t.grad.sum().item()) < 1e-15
    assert loss.item() == pytest.approx(
        1.5 * losses.cross_entropy(z, y / 1.5), rel=1e-14)
    with pytest.raises(ValueError):
        losses.cross_entropy_grad(z, y)


def test_the_focal_alpha_exercise():
    """gamma = 0: the sums agree; focal_loss's mean divides by N, the
    weighted cross-entropy's by sum of alpha_t: ratio sum(alpha_t) / N."""
    z = np.array([[1.0, 0.0], [0.0, 2.0], [0.5, 0.5]])
    t, alpha = np.array([0, 1, 1]), np.array([1.0, 4.0])
    assert losses.focal_loss(z, t, 0.0, alpha, "sum") == pytest.approx(
        losses.weighted_cross_entropy(z, t, alpha, "sum"), rel=1e-15)
    assert losses.focal_loss(z, t, 0.0, alpha) / \
        losses.weighted_cross_entropy(z, t, alpha) == pytest.approx(
            alpha[t].sum() / len(t), rel=1e-14)


@pytest.mark.parametrize("seed", range(3))
def test_cross_entropy_is_convex_in_the_logits(seed):
    rng = np.random.default_rng(seed)
    z, y = rng.standard_normal(4), rng.dirichlet(np.ones(4))
    H = torch.autograd.functional.hessian(
        lambda v: -(torch.tensor(y) * torch.log_softmax(v, 0)).sum(),
        torch.tensor(z)).numpy()
    p = act.softmax(z)
    np.testing.assert_allclose(H, np.diag(p) - np.outer(p, p), atol=1e-15)
    eigenvalues = np.linalg.eigvalsh(H)
    assert eigenvalues.min() > -1e-15 and abs(eigenvalues).min() < 1e-15
    np.testing.assert_allclose(H @ np.ones(4), 0, atol=1e-15)


def test_the_implement_exercise_reports_the_missing_factor():
    def my_ce_grad(logits, target):
        p = act.softmax(logits)
        p[np.arange(len(target)), target] -= 1
        return p
    assert "every entry is 4 times the expected one" in str(
        check.cross_entropy_grad(my_ce_grad))


# ---------------------------------------- the helpers the chapter calls

def test_logit_descent_is_gradient_descent_with_the_hand_gradients():
    """Each step is z - lr dl/dz, with the gradients of the text, checked
    against autograd."""
    for loss, lr in (("mse", 1.0), ("bce", 0.5)):
        p = losses.logit_descent(-1.5, loss, lr=lr, steps=3)
        z = torch.tensor(-1.5, dtype=torch.float64)
        for step in range(4):
            assert p[step] == pytest.approx(torch.sigmoid(z).item(),
                                            rel=1e-14)
            z = z.detach().requires_grad_(True)
            s = torch.sigmoid(z)
            value = (s - 1) ** 2 if loss == "mse" else -torch.log(s)
            (grad,) = torch.autograd.grad(value, z)
            z = z - lr * grad


@pytest.mark.parametrize("call, error, match", [
    (lambda: losses.logit_descent(0.0, "ce"), ValueError, "loss must be"),
    (lambda: losses.logit_descent(0.0, "mse", lr=0.0), ValueError, "lr"),
    (lambda: losses.logit_descent(float("nan"), "mse"), ValueError, "z0"),
    (lambda: losses.logit_descent(0.0, "mse", steps=1.5), TypeError,
     "steps"),
    (lambda: losses.steps_to_reach(0.0, "bce", 1.0), ValueError, "p must"),
    (lambda: losses.steps_to_reach(-8.0, "mse", 0.5, max_steps=100),
     ValueError, "not reached"),
    (lambda: losses.minority_scores(np.zeros((2, 3)), np.zeros(2),
                                    np.zeros((5, 2)), np.zeros(5, int)),
     ValueError, "W must have shape"),
    (lambda: losses.minority_scores(np.zeros((2, 2)), np.zeros(2),
                                    np.zeros((5, 2)), np.full(5, 2)),
     ValueError, "labels 0 or 1"),
    (lambda: losses.minority_scores(np.zeros((2, 2)), np.zeros(2),
                                    np.full((5, 2), np.nan), np.zeros(5, int)),
     ValueError, "X must be finite"),
])
def test_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_minority_scores_count_what_they_say():
    W, b = np.array([[0.0, 0.0], [1.0, 0.0]]), np.zeros(2)  # class 1: x > 0
    X = np.array([[1.0, 0], [2, 0], [-1, 0], [3, 0], [4, 0]])
    y = np.array([1, 0, 1, 1, 0])
    s = losses.minority_scores(W, b, X, y)
    assert list(s["predicted"]) == [1, 1, 0, 1, 1]
    # 2 of the 3 minority samples found; 2 of the 4 predicted are minority
    assert (s["recall"], s["precision"], s["accuracy"]) == (2 / 3, 1 / 2,
                                                            2 / 5)


@pytest.mark.parametrize("gamma", [0.5, 2.0, 5.0])
def test_the_focal_gradient_overshoots_one_and_the_figure_holds_it(gamma):
    """"for small p_t the bracket, above 1 whenever gamma > 0, lifts the
    focal gradient a little above the cross-entropy's: the bump at the left
    of the lower panel". The bump is drawn (the gradient axis of the figure
    holds the focal gradient at every gamma of the slider, where it used
    to stop at 1.05 and cut the top of the default gamma = 2 curve), and
    the description gives its height."""
    from calc_nn.plots import loss_figures
    assert ("the bracket, above 1 whenever $\\gamma > 0$, lifts the focal "
            "gradient a little above the cross-entropy's: the bump at the "
            "left of the lower panel") in " ".join(TEXT.split())
    fig = loss_figures.loss_vs_probability(gamma)
    ce, focal = fig.data[3].y, fig.data[4].y           # the lower panel
    assert fig.data[4].name == "focal loss" and fig.data[4].yaxis == "y2"
    assert np.all(focal[:5] > ce[:5]) and focal.max() > 1
    top = fig.layout.yaxis2.range[1]
    assert max(focal.max(), ce.max(), fig.data[5].y.max()) < top
    k = int(np.argmax(focal))
    assert (f"gradient is largest, {focal[k]:.3g}, at pₜ = "
            f"{fig.data[4].x[k]:.2g}") in fig.layout.meta["description"]


def test_the_focal_figure_says_its_alpha():
    """The chapter's focal loss carries a weight alpha_t; the figure draws
    it with alpha_t = 1 (its gamma = 0 curve is the cross-entropy), and the
    prose and the text alternative say so."""
    from calc_nn.plots import loss_figures
    text = " ".join(TEXT.split())
    assert ("In the figure, the focal loss (with $\\alpha_t = 1$) and the "
            "size of its gradient") in text
    fig = loss_figures.loss_vs_probability(0.0)
    np.testing.assert_allclose(fig.data[1].y, fig.data[0].y, rtol=1e-12)
    assert "focal loss with γ = 0 (αₜ = 1)" in fig.layout.meta["description"]


@pytest.mark.parametrize("z0", [-8.0, 0.0])
def test_the_mse_ce_figure_calls_the_start_z0(z0):
    """The slider is "starting logit z₀" and the prose says "From
    $z_0 = -6$"; the title and the text alternative call the start z₀ too
    (they said "start z = -6", the letter of the running logit)."""
    from calc_nn.plots import loss_figures
    assert 'label="starting logit z₀"' in TEXT
    fig = loss_figures.sigmoid_mse_vs_ce(z0)
    assert fig.layout.title.text.startswith(f"start z₀ = {z0:g} (p = ")
    assert f"From z₀ = {z0:g} (p = " in fig.layout.meta["description"]
