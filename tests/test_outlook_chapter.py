"""The chapter "Applications and outlook": the claims of its answers and
exercises, and its prerequisites box."""

import re
from pathlib import Path

import numpy as np
import torch
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
    assert "two million forward passes per finite-difference gradient" in flat


def test_four_questions_of_the_cnn_document_as_the_preface_says():
    """The answers section rewrites the CNN document's §8, its four
    questions (the NN document has none), and the preface's chapter map
    says so."""
    section = TEXT.split("## Questions and answers")[1].split("\n## ")[0]
    assert "{cite:t}`cnn-calculus-doc{§8}` ends with four questions" in \
        " ".join(section.split())
    questions = re.findall(r"^\*\*(.+\?)\*\*$", section, re.M)
    assert len(questions) == 4, questions
    preface = (Path(__file__).parents[1] / "book" / "preface.md").read_text()
    row = re.search(r"^\| \{doc\}`outlook` \| (.*?) \|", preface, re.M)
    assert ("the four questions of {cite:t}`cnn-calculus-doc{§8}` "
            "answered") in row.group(1)
