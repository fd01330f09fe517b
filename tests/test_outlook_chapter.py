"""The chapter "Applications and outlook": the claims of its answers and
exercises, and its prerequisites box."""

import importlib
import inspect
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from chapter_text import admonition, glossary_entry, prose
from worked_tables import (
    before_you_start,
    chapter,
    exercises,
    labels,
    references,
)

from calc_nn import activations, check

TEXT = chapter("outlook")


def test_the_broken_tanh_derivative_report():
    assert check.tanh_grad(lambda x: 1 - np.tanh(x) ** 2).passed
    broken = check.tanh_grad(lambda x: 1 - np.tanh(x))
    assert not broken.passed
    assert 0 < len(broken.failures) < broken.n_cases
    assert "a grid over [-6, 6]" in broken.failed_inputs[0]


def test_the_saliency_of_a_hidden_layer_depends_on_the_input():
    rng = np.random.default_rng(0)
    W1, b1, w2 = (rng.standard_normal((5, 3)), rng.standard_normal(5),
                  rng.standard_normal(5))
    maps = []
    for x in (np.array([0.5, -1.0, 2.0]), np.array([-2.0, 0.3, 0.1])):
        by_hand = W1.T @ (w2 * activations.tanh_grad(W1 @ x + b1))
        xt = torch.tensor(x, requires_grad=True)
        (torch.tensor(w2) @ torch.tanh(torch.tensor(W1) @ xt
                                       + torch.tensor(b1))).backward()
        np.testing.assert_allclose(by_hand, xt.grad.numpy(), rtol=1e-12)
        maps.append(by_hand)
    assert not np.allclose(*maps)


def test_rounding_blocks_the_gradient_and_the_estimator_passes_it():
    x, y = 1.5, 2.0
    w = torch.tensor(0.8, requires_grad=True)
    ((w.round() * x - y) ** 2).backward()
    assert w.grad.item() == 0
    w.grad = None
    q = w + (w.round() - w).detach()
    assert q.item() == 1.0
    ((q * x - y) ** 2).backward()
    assert w.grad.item() == 2 * (1.0 * x - y) * x


def test_before_you_start_and_graded_exercises():
    targets = references(before_you_start(TEXT))
    assert targets and set(targets) <= labels(), set(targets) - labels()
    marks = [re.match(r"(★+) ", title) for title, _ in exercises(TEXT)]
    assert all(marks)
    assert sum(len(m.group(1)) >= 2 for m in marks) >= 2


def test_the_answers_cite_the_section_that_asks():
    assert "{cite:t}`cnn-calculus-doc{§7}` lists four directions" in TEXT
    assert "{cite:t}`cnn-calculus-doc{§8}` ends with four questions" in TEXT


def test_the_fourth_answer_is_quoted_from_the_answer():
    """The CNN document's fourth answer (§8) says research "will drive the
    continued progress" (将推动...不断进步); "play an important role" is
    §7's summary, not the answer."""
    flat = " ".join(TEXT.split())
    assert "将推动深度学习技术的不断进步" in flat
    assert "important role" not in flat


def test_the_three_passes_are_a_count():
    """The bound is a count of multiply-adds; a timing can exceed it."""
    flat = " ".join(TEXT.split())
    for bound in re.findall(r"at most three[^.]*", flat):
        assert "multiply-adds" in bound, bound


def test_the_first_answer_does_not_call_derivative_free_search_hopeless():
    """Finite differences and random search do work, only slowly: two
    forward passes per parameter for a central difference."""
    from calc_nn.gradcheck import numerical_gradient

    calls = []

    def loss(theta):
        calls.append(1)
        return float((theta ** 2).sum())

    numerical_gradient(loss, np.zeros(7))
    assert len(calls) == 2 * 7
    flat = " ".join(TEXT.split())
    assert "hopeless" not in flat
    assert "two million forward passes per central-difference gradient" in flat


def test_four_questions_of_the_cnn_document_as_the_preface_says():
    """The answers section rewrites the CNN document's §8, its four
    questions (the NN document has none), and the preface's chapter map
    says so."""
    section = TEXT.split("## Questions and answers")[1].split("\n## ")[0]
    assert "{cite:t}`cnn-calculus-doc{§8}` ends with four questions" in \
        " ".join(section.split())
    questions = re.findall(r"^\*\*(.+\?)\*\*$", section, re.M)
    assert len(questions) == 4, questions
    # the first three answers link a chapter that proves them; the fourth,
    # about the future, can only point to the open directions
    answers = re.split(r"^\*\*.+\?\*\*$", section, flags=re.M)[1:]
    for answer in answers[:3]:
        assert any(label.startswith(("chapter-", "bp-"))
                   for label in references(answer)), answer
    assert "outlook-directions" in references(answers[3])
    flat_section = " ".join(section.split())
    assert "the first three each with the chapter that proves it with " \
        "code" in flat_section
    assert "rewritten here, each with the chapter" not in FLAT
    assert "the CNN document asks, the first three each with the chapter " \
        "that proves it" in FLAT
    intro = " ".join(TEXT.split("## Where these networks are used")[0]
                     .split())
    assert "the questions the source documents ask" not in intro
    assert "the four questions the CNN document asks" in intro
    assert "the {cite:t}`nn-calculus-doc` asks none" in intro
    preface = (Path(__file__).parents[1] / "book" / "preface.md").read_text()
    row = re.search(r"^\| \{doc\}`outlook` \| (.*?) \|", preface, re.M)
    assert ("the four questions of {cite:t}`cnn-calculus-doc{§8}` "
            "answered") in row.group(1)


# ------------------------------------------- against the CNN document

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
FLAT = " ".join(TEXT.split())


def _cnn_document_section(number):
    text = next(SEEDS.glob("000_*.txt")).read_text()
    return text.split(f"\n## {number}. ", 1)[1].split("\n## ", 1)[0]


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the source documents are "
                    "not on this machine")
def test_what_the_chapter_quotes_is_in_the_cnn_document():
    """§5 claims 超过人类水平 ("surpassed human level") on ImageNet and
    CIFAR-10; §7 lists four directions; §8 asks four questions, its fourth
    answer is headed 答言 and says 将推动深度学习技术的不断进步."""
    applications = _cnn_document_section(5)
    assert "ImageNet、CIFAR-10" in applications
    assert "超过人类水平" in applications
    assert 'Erratum: "surpassed human level" on ImageNet and CIFAR-10' \
        in TEXT
    assert '"have surpassed human level"' in FLAT
    outlook = _cnn_document_section(7)
    assert re.findall(r"^(\d)\. \*\*", outlook, re.M) == list("1234")
    answers = _cnn_document_section(8)
    assert len(re.findall(r"^\*\*问题\d\*\*", answers, re.M)) == 4
    fourth = answers.split("**问题4**", 1)[1]
    assert "**答言**" in fourth and "**答案**" not in fourth
    assert "将推动深度学习技术的不断进步" in fourth
    assert 'headed "答言", a typo for 答案' in FLAT


def test_the_erratum_does_not_say_every_network_fails_everywhere():
    """Adversarial examples are made, by searching for the change that
    fools a network; the erratum says so and cites where the Deep
    Learning book treats them (its §7.13, adversarial training)."""
    body = admonition(TEXT, 'Erratum: "surpassed human level" on ImageNet '
                      "and CIFAR-10")
    flat = " ".join(body.split())
    assert "can be made to fail by small changes" in flat
    assert "{cite:p}`goodfellow2016{§7.13}`" in flat
    assert "the same networks fail" not in flat


# ------------------------------------------------------ the chapter's claims

def test_the_check_report_details_the_first_failures_and_lists_the_rest():
    """The exercise's report: every failing input named, the first ones in
    detail (largest error, its input, expected and obtained values), the
    rest on one line at the end; the count is glued from the report."""
    broken = check.tanh_grad(lambda x: 1 - np.tanh(x))
    report = str(broken)
    detailed = report.count("largest error")
    assert 0 < detailed < len(broken.failures)
    assert report.count("where the input is") == detailed
    assert report.count("       expected ") == detailed
    for name in broken.failed_inputs:
        assert name.split(":", 1)[0] in report, name
    rest = report.rstrip().splitlines()[-1]
    assert rest.startswith(
        f"... and {len(broken.failures) - detailed} more failing input(s)")
    assert 'report.count("largest error")' in TEXT
    flat = " ".join(prose(TEXT).split())
    assert ("for the first {glue:text}`outlook-broken-detailed` it gives the "
            "entry of the largest error") in flat
    assert "lists the rest in one line at the end" in flat


def test_the_saliency_exercises_use_the_books_letters():
    """notation.md: superscripts number layers (W^1, not W_1), s is the
    stride, and a neuron's score is z = w^T x + b."""
    flat = " ".join(prose(TEXT).split())
    for stale in ("W_1", "w_2", "b_1", "$s =", "\\partial s", "\\nabla_x s"):
        assert stale not in flat, stale
    assert "class score is $z = w^\\top x + b$" in flat
    assert ("$z^2 = (w^2)^\\top \\tanh(W^1 x + b^1) + b^2$" in flat)
    assert ("$\\nabla_x z^2 = (W^1)^\\top \\left(w^2 \\odot "
            "(1 - \\tanh^2(W^1 x + b^1))\\right)$") in flat


def test_rounding_zeroes_the_downstream_gradient_not_the_upstream_one():
    """In this book the upstream gradient is the one a layer receives from
    the loss side (notation.md's G): through round it is not zero, the
    gradient passed on to w is."""
    x, y = 1.5, 2.0
    w = torch.tensor(0.8, requires_grad=True)
    q = w.round()
    q.retain_grad()
    ((q * x - y) ** 2).backward()
    assert q.grad.item() == 2 * (1.0 * x - y) * x != 0
    assert w.grad.item() == 0
    solution = TEXT.split(":label: outlook-ex-ste", 1)[1]
    solution = " ".join(prose(solution.split("{solution-end}", 1)[0]).split())
    assert "upstream" not in solution
    assert "the gradient of everything computed before the rounding" \
        in solution


def test_activation_derivatives_are_factors_with_the_weights():
    """With f' = 1 everywhere (no activation) the error still shrinks, by
    the weights alone: the answer names both factors."""
    depth, scale = 6, 0.5
    x = torch.ones(3, requires_grad=True)
    h = x
    for _ in range(depth):
        h = (scale * torch.eye(3)) @ h
    h.sum().backward()
    assert torch.allclose(x.grad, torch.full((3,), scale ** depth))
    assert ("With the weight matrices, they are the factors the gradient is "
            "multiplied by at each layer") in FLAT
    assert "early layers stop learning" not in FLAT


def test_the_answers_say_central_differences_where_they_count_two():
    """A forward difference needs n + 1 passes, a central one 2n: the
    "two per weight" of the answers is the central count."""
    assert "central differences need two forward passes per weight" in FLAT
    assert "finite differences need two" not in FLAT
    assert "per finite-difference gradient" not in FLAT


def test_the_outlook_claims_no_more_than_it_shows():
    """Each of these was too strong: only display formulas have SymPy
    checks (tests/test_formulas.py); PyTorch is one of three oracles; the
    digits chapter trains an MLP too, so "its network" is the CNN; the CNN
    chapter builds layers, the digits chapter the network; quantised
    networks are not all 8-bit; the directions are not all a missing
    derivative."""
    assert "every formula of the book" not in FLAT
    assert "every display formula" not in FLAT
    # PyTorch is one oracle of three (the activations chapter's), not the
    # judge of every gradient
    assert "judge of every gradient" not in FLAT
    assert "one of the book's three oracles for a derivative, with SymPy " \
        "and central differences" in FLAT
    activations_text = " ".join(chapter("activations").split())
    # the link goes to the section that lists them, not the one before
    tools = FLAT.split("**Automatic differentiation frameworks**", 1)[1]
    assert references(tools.split("TensorFlow", 1)[0]) == ["act-oracles"]
    oracles = activations_text.split("(act-oracles)= ## Checking a "
                                     "derivative against three oracles",
                                     1)[1][:1200]
    for oracle in ("**SymPy**", "**PyTorch's autograd**",
                   "**central finite differences**"):
        assert oracle in oracles, oracle
    digits = chapter("digits")
    assert "nn.Conv2d" in digits and "784-512-256-10" in digits
    assert "The convolutional network of {ref}`chapter-digits` is a small " \
        "descendant of LeNet" in FLAT
    assert "through the network of {ref}`chapter-cnn`" not in FLAT
    assert "the CNN of {ref}`chapter-digits`" in FLAT
    assert "compute with 8-bit numbers" not in FLAT
    assert "often 8-bit integers" in FLAT
    assert "a derivative is still missing or not understood" not in FLAT


def _uses_sympy(module, check):
    """Whether a registered formula check (or a private helper of its
    module that it calls) works with SymPy."""
    source = inspect.getsource(check)
    for name in set(re.findall(r"\b(_\w+)\(", source)):
        if inspect.isfunction(getattr(module, name, None)):
            source += inspect.getsource(getattr(module, name))
    return bool(re.search(r"\bsp\.|\bstats\.|symbolic|deep\.(relu_second"
                          r"|xavier_variance|second_moment|torch_default_var"
                          r"|batchnorm_backward_(by_diff|compact)|residual_jac"
                          r"|uniform_variance|relu_slope)", source))


def test_sympy_checks_most_display_formulas_not_all():
    """'SymPy (most of the book's display formulas are checked with it,
    the others against PyTorch or NumPy)': the registered checks of
    tests/formula_checks/. Batch norm's running statistics, clipping and
    the batch form of backpropagation, for instance, are checked against
    PyTorch alone, so "every display formula" would be false."""
    assert ("SymPy (most of the book's display formulas are checked with "
            "it, the others against PyTorch or NumPy)") in FLAT
    uses = {}
    for path in sorted((Path(__file__).parent / "formula_checks").glob(
            "[!_]*.py")):
        module = importlib.import_module(f"formula_checks.{path.stem}")
        for label, (_, check_fn) in module.CHECKED.items():
            uses[label] = _uses_sympy(module, check_fn)
    assert sum(uses.values()) > len(uses) / 2                # most
    for label in ("eq-deep-bn-running", "eq-deep-clip", "eq-bp-batch"):
        assert uses[label] is False, label                   # not all
    for label in ("eq-deep-relu-moment", "eq-deep-bn-jacobian"):
        assert uses[label] is True, label


def test_the_directions_link_the_deep_training_chapter():
    """Initialisation and residual connections are derived in the chapter
    on deep networks; the directions and the prerequisites box link it."""
    assert {"chapter-deep"} <= set(references(before_you_start(TEXT)))
    directions = TEXT.split("(outlook-directions)=", 1)[1].split("\n## ")[1]
    linked = set(references(directions))
    assert {"deep-init", "deep-residual"} <= linked <= labels()
    assert "{cite:p}`he2016`" in directions


def test_the_glossary_does_not_say_quantised_training_needs_the_estimator():
    entry = glossary_entry("quantization")
    assert "usually" in entry and "straight-through estimator" in entry
    assert "needs the straight-through estimator" not in entry


def test_the_glossary_does_not_make_every_warm_up_linear():
    """The optimizers chapter names its schedule "linear warm-up": other
    shapes exist, so the glossary's warm-up is usually, not always,
    linear."""
    entry = glossary_entry("warm-up")
    assert "usually linearly" in entry
    assert "**linear warm-up**" in chapter("optimizers")


def test_the_third_answer_on_activation_derivatives():
    """The sigmoid's derivative is at most 1/4 (reached at 0), the
    sigmoid's and tanh's are nearly 0 where they saturate, and ReLU's is 0
    for a negative input."""
    z = np.linspace(-20, 20, 4001)
    sigmoid_slope = activations.sigmoid_grad(z)
    assert sigmoid_slope.max() == 0.25 == activations.sigmoid_grad(0.0)
    saturated = np.array([-15.0, 15.0])
    assert np.all(activations.sigmoid_grad(saturated) < 1e-6)
    assert np.all(activations.tanh_grad(saturated) < 1e-12)
    assert np.all(activations.relu_grad(-np.linspace(0.1, 5, 50)) == 0)
    assert "the sigmoid's derivative is at most 1/4 everywhere" in FLAT
    assert "a ReLU with a negative input) no gradient passes" in FLAT
