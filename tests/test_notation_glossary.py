"""The notation page and the glossary: linked from where readers start,
and pointing to where each term is introduced.

The build (-n -W) already fails on a link to a missing label; these tests
check what it cannot: that the links exist at all, in the right places.
"""

import re
from pathlib import Path

import pytest
from chapter_text import prose as chapter_prose
from conftest import toc_files

from calc_nn import optim

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CHAPTERS = ["calculus", "forward", "activations", "losses", "optimizers",
            "backprop", "cnn", "digits"]
GLOSSARY = re.search(r"```\{glossary\}\n(.*?)\n```",
                     (BOOK / "glossary.md").read_text(), re.S).group(1)
ENTRIES = {block.split("\n")[0]: block
           for block in GLOSSARY.strip().split("\n\n")}
LABELS = {m for p in BOOK.glob("*.md")
          for m in re.findall(r"^\((\S+)\)=$", p.read_text(), re.M)}


def test_notation_page_sits_with_the_appendices_and_calculus_comes_first():
    pages = toc_files()
    assert pages.index("book/calculus") < pages.index("book/forward")
    assert pages.index("book/notation") == pages.index("book/glossary") - 1
    assert pages.index("book/notation") > pages.index("book/digits")


def test_the_preface_links_the_notation_page():
    assert "{doc}`notation`" in (BOOK / "preface.md").read_text()


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapter_links_the_notation_in_its_first_paragraph(chapter):
    text = (BOOK / f"{chapter}.md").read_text()
    after_title = text.split("\n# ", 1)[1].split("\n", 1)[1].lstrip("\n")
    first_paragraph = after_title.split("\n\n", 1)[0]
    assert "{ref}`notation`" in first_paragraph


def test_notation_states_the_choices_the_chapters_follow():
    text = (BOOK / "notation.md").read_text()
    for needle in (r"\| \$L\$ \| the loss", r"\| \$K\$ \| number of classes",
                   r"\| \$N\$ \| batch size", r"C_\{\\mathrm\{out\}\}\$ \| "
                   r"output channels", r"\$n_H\$, \$n_W\$ \| height and width",
                   r"count from 1 in formulas",
                   r"\\delta\^l = \\partial L / \\partial z\^l",
                   r"\| \$B\$, \$\\mathcal B\$ \| a minibatch's size",
                   r"\| \$\\tau\$ \| the damping",
                   r"\$N\$\n\(the batch of one forward pass; the whole "
                   r"data set"):
        assert re.search(needle, text), needle


def test_notation_lists_the_deep_chapters_symbols():
    """Batch normalization's and dropout's letters, which the deep chapter
    uses and other chapters use otherwise (gamma, beta, p)."""
    text = (BOOK / "notation.md").read_text()
    deep = (BOOK / "deep.md").read_text()
    for symbol, meaning in ((r"\gamma$", "batch normalization's scale"),
                            (r"\beta$", "batch normalization's shift"),
                            (r"\rho$", "running-statistics rate"),
                            ("s_B$", "per feature"),
                            ("k_i$", "mask"),
                            ("$p$ (dropout)", "dropping a unit")):
        row = re.search(rf"^\| [^|]*{re.escape(symbol)}[^|]*\|[^\n]*"
                        rf"{re.escape(meaning)}", text, re.M)
        assert row, (symbol, meaning)
    for symbol in (r"\gamma", r"\beta", r"\rho", "s_B", "k_i"):
        assert symbol in deep, symbol  # still the chapter's letters


@pytest.mark.parametrize("term", sorted(ENTRIES))
def test_glossary_entry_is_bilingual_and_links_its_introduction(term):
    body = ENTRIES[term]
    assert re.search(r"[\u4e00-\u9fff]", body), "give the Chinese term"
    refs = re.findall(r"\{ref\}`(?:[^`<]*<)?([^`>]+)>?`", body)
    assert refs, "link to where the term is introduced"
    assert all(r in LABELS for r in refs), refs


@pytest.mark.parametrize("term, label", [
    ("derivative", "calc-derivative"), ("partial derivative", "calc-gradient"),
    ("gradient", "calc-gradient"), ("directional derivative",
                                    "calc-gradient"),
    ("Jacobian", "calc-jacobian"), ("chain rule", "calc-chain-rule"),
    ("vector-Jacobian product", "calc-vjp"), ("Hessian", "calc-hessian"),
    ("Taylor expansion", "calc-hessian"), ("convex function",
                                           "calc-convexity"),
    ("finite differences", "calc-finite-differences"),
    ("machine epsilon", "calc-finite-differences"),
    ("gradient check", "calc-gradient-check"),
])
def test_calculus_terms_link_to_their_section(term, label):
    assert label in ENTRIES[term]


def test_every_term_the_book_links_is_in_the_glossary():
    used = {" ".join(m.split("<")[-1].rstrip(">").split()).lower()
            for p in BOOK.glob("*.md")
            for m in re.findall(r"\{term\}`([^`]+)`", p.read_text())}
    assert used <= {t.lower() for t in ENTRIES}, used - {
        t.lower() for t in ENTRIES}


def test_epoch_is_defined_where_the_book_first_uses_it():
    """In reading order, the first "epoch" of the prose (code cells left
    out) is its bold definition, and the glossary links that section."""
    for page in toc_files():
        prose = chapter_prose((ROOT / f"{page}.md").read_text())
        if "epoch" in prose.lower():
            break
    first = prose.lower().index("epoch")
    assert prose[first - 2:first + 7] == "**epoch**", (page, prose[
        first - 80:first + 40])
    label = re.findall(r"^\((\S+)\)=$", prose[:first], re.M)[-1]
    entry = ENTRIES["epoch"]
    assert f"{{ref}}`{label}`" in entry, (label, entry)


# Where each term is first defined, in reading order --------------------

PAGES = [p for p in toc_files()
         if p.split("/")[-1] not in ("preface", "notation", "glossary",
                                     "references")]


def _sections(page):
    """(enclosing labels, outermost first, None for a heading without
    label; text of the block) for every paragraph of the prose of a page,
    code cells left out."""
    text = chapter_prose((ROOT / f"{page}.md").read_text())
    scope, label = [], None
    for block in text.split("\n\n"):
        for line in block.split("\n"):
            found = re.fullmatch(r"\((\S+)\)=", line)
            heading = re.match(r"(#+) ", line)
            if found:  # a label before a paragraph or a heading
                label = found.group(1)
                scope.append((label, 9))
            elif heading:
                level = len(heading.group(1))
                if scope and scope[-1] == (label, 9):
                    scope.pop()
                else:
                    label = None
                scope = [s for s in scope if s[1] < level] + [(label, level)]
                label = None
        yield [name for name, _ in scope], " ".join(block.split())


def first_definition(term):
    """The labels enclosing the first place, in reading order, where the
    term is in bold, or marked {term} in a section (not in a chapter's
    introduction, which only announces it); None if nowhere."""
    word = re.escape(term).replace(r"\ ", " ")
    bold = rf"\*\*(?:\{{term\}}`(?:[^`<]*<)?)?{word}s?(?:>?`)?\.?\*\*"
    role = rf"\{{term\}}`(?:[^`<]*<)?{word}>?`"
    for page in PAGES:
        for scope, block in _sections(page):
            if (re.search(bold, block, re.I)
                    or len(scope) > 1 and re.search(role, block, re.I)):
                return scope
    return None


def _links(term):
    return re.findall(r"\{ref\}`(?:[^`<]*<)?([^`>]+)>?`", ENTRIES[term])


FIRST = {term: first_definition(term) for term in ENTRIES}
# terms the search cannot find in bold (another word form, a heading, an
# abbreviation): their links are checked by the table below or by the
# test of their chapter
NOT_FOUND = {
    "1×1 convolution", "He initialization", "Xavier initialization",
    "batch normalization", "convolutional neural network",
    "cross-entropy", "dying ReLU", "forward propagation",
    "generalization gap", "initialization", "loss function",
    "mean squared error", "negative log-likelihood", "overfitting",
    "preconditioning", "quantization", "saturation",
    "stochastic gradient descent", "translation equivariance",
    "validation set", "warm-up"}


def test_the_terms_the_search_cannot_find_are_the_known_ones():
    assert {t for t, scope in FIRST.items() if scope is None} == NOT_FOUND


@pytest.mark.parametrize("term", sorted(set(ENTRIES) - NOT_FOUND))
def test_glossary_entry_links_the_section_of_its_first_definition(term):
    """A reader who looks a term up lands where the book defines it first:
    the innermost labelled section around the first bold (or {term}) use,
    or, when that section has no label, a labelled one around it."""
    scope = FIRST[term]
    named = [s for s in scope if s]
    allowed = named if scope[-1] is None or len(scope) == 1 else named[1:]
    assert set(_links(term)) & set(allowed), (term, scope, _links(term))


@pytest.mark.parametrize("term, label", [
    # defined before the chapter named after them, in reading order
    ("activation function", "fwd-neuron"), ("sigmoid", "fwd-neuron"),
    ("tanh", "fwd-neuron"), ("ReLU", "fwd-neuron"),
    ("softmax", "fwd-network"), ("logits", "fwd-network"),
    ("gradient descent", "chapter-losses"),
    ("learning rate", "chapter-losses"),
    ("He initialization", "bp-vanishing"),
    ("Xavier initialization", "bp-vanishing"),
    ("initialization", "bp-vanishing"),
    # defined in a section, not at the top of the chapter
    ("batch", "fwd-batch"), ("weight", "fwd-layers"), ("bias", "fwd-layers"),
    ("neuron", "fwd-layers"), ("fully connected layer", "fwd-layers"),
    ("automatic differentiation", "bp-graphs"),
    ("Adam", "opt-rmsprop-adam"), ("AdamW", "opt-weight-decay"),
    ("weight decay", "opt-weight-decay"),
    ("vanishing gradient", "act-vanishing"),
    ("exploding gradient", "act-vanishing"),
    ("stride", "cnn-cross-correlation"),
    ("vector-Jacobian product", "calc-layout"),
    # word forms the search above does not match (British spelling, verbs)
    ("batch normalization", "deep-batchnorm"), ("saturation", "act-four"),
    ("overfitting", "digits-overfitting"),
    ("generalization gap", "digits-overfitting"),
    ("translation equivariance", "cnn-equivariance"),
    ("preconditioning", "opt-preconditioning"),
    ("stochastic gradient descent", "opt-minibatch"),
    ("quantization", "outlook-directions"),  # "Quantised networks"
])
def test_term_links_where_it_is_first_defined(term, label):
    assert label in _links(term), (term, _links(term))


@pytest.mark.parametrize("term", [
    "activation", "broadcasting", "condition number", "decision boundary",
    "entropy", "error", "flattening", "generalization gap", "hidden layer",
    "initialization", "Kullback–Leibler divergence", "Leaky ReLU",
    "negative log-likelihood", "parameter", "pooling", "saturation",
    "temperature", "topological order"])
def test_terms_the_chapters_define_in_bold_are_in_the_glossary(term):
    assert term in ENTRIES


@pytest.mark.parametrize("term, pinyin", [
    ("Hessian", "hēisài jǔzhèn"),  # 黑塞, as in Hermann Hesse
    ("tanh", "shuāngqū zhèngqiè hánshù"),
    ("pre-activation", "yù jīhuó"),
])
def test_pinyin_is_complete_and_right(term, pinyin):
    assert pinyin in ENTRIES[term]


def test_cosine_annealing_entry_uses_the_chapters_letters():
    optimizers = (BOOK / "optimizers.md").read_text()
    assert "a cosine over $T$ steps" in optimizers
    assert "over $T$ steps" in ENTRIES["cosine annealing"]
    assert "T_{\\max}" not in ENTRIES["cosine annealing"]


def test_xavier_entry_says_for_which_widths_it_keeps_the_variance():
    """Xavier's variance keeps activations and gradients level only
    between layers of equal width, as the backprop chapter says."""
    assert "layers of equal width" in (BOOK / "backprop.md").read_text()
    entry = " ".join(ENTRIES["Xavier initialization"].split())
    assert "between layers of equal width" in entry


def test_momentum_entry_uses_pytorchs_buffer_as_the_chapter_does():
    optimizers = (BOOK / "optimizers.md").read_text()
    assert "b_{t+1} &= \\mu b_t + \\nabla_\\theta L(\\theta_t)" in optimizers
    assert "b_t = \\mu b_{t-1} + g_t" in ENTRIES["momentum"]


NOTATION = (BOOK / "notation.md").read_text()
TWO_MEANINGS = " ".join(
    NOTATION[NOTATION.index("A few letters keep two meanings"):].split())


@pytest.mark.parametrize("row, chapters", [
    (r"\| \$w\$ \| the weight vector of one neuron", ("forward",
                                                       "activations")),
    (r"\| \$J_f\$ \| the Jacobian", ("calculus",)),
    (r"\| \$G\$ \| the upstream gradient", ("calculus", "backprop", "cnn")),
    (r"\| \$\\bar v\$ \| the adjoint", ("backprop",)),
    (r"\| \$m_t\$, \$v_t\$ \| running means", ("optimizers",)),
    (r"\| \$b_t\$ \| PyTorch's momentum buffer", ("optimizers",)),
    (r"\| \$s_t\$ \| AdaGrad's sum", ("optimizers",)),
    (r"\| \$T\$ \| the temperature", ("activations", "optimizers")),
    (r"\| \$d\$ \| a filter", ("cnn", "optimizers")),
    (r"\| \$n_\{in\}\$, \$n_\{out\}\$ \| a layer's numbers of inputs",
     ("backprop", "deep")),
    (r"\| \$M\$ \| the number of values a mean runs over", ("losses",
                                                          "deep")),
    (r"\| \$n_k\$ \| number of training samples of class", ("losses",)),
])
def test_notation_lists_symbols_the_chapters_share(row, chapters):
    assert re.search(row, NOTATION, re.M), row
    letter = re.search(r"\$([^$]+)\$", row.replace("\\", "")).group(1)
    for chapter in chapters:  # still the chapters' letters
        text = (BOOK / f"{chapter}.md").read_text()
        needle = letter if len(letter) > 1 else rf"\${letter}(?![A-Za-z])"
        assert re.search(needle, text), (letter, chapter)


@pytest.mark.parametrize("needle", [
    r"$\gamma$ (the focal loss's focusing parameter; batch "
    "normalization's scale; step decay's factor)",
    "$H$ (the Hessian; the entropy", "$T$ (the temperature",
    "$b$ (a bias; with the step index, PyTorch's momentum buffer",
    "$n$ (a layer's number of inputs; the number of parameters in "
    "{ref}`chapter-optimizers`)",
    "$m$ and $s$ (outputs of a layer, and the stride",
    "dropout's mask",
    "$s$ is also a standard deviation in {ref}`chapter-losses`",
    "$M$ (a number of values averaged; the matrix of one momentum step",
    r"$\mu$ is also the mean of a distribution in {ref}`chapter-losses`",
    r"$\theta$ (the parameters; the angle between a direction and the "
    "gradient in {ref}`chapter-calculus`)",
])
def test_two_meanings_paragraph_names_every_shared_letter(needle):
    assert needle in TWO_MEANINGS


def test_standard_error_entry_uses_the_digits_chapters_letters():
    formula = r"\sqrt{\frac{\hat p (1 - \hat p)}{N_{\mathrm{val}}}}"
    assert formula in (BOOK / "digits.md").read_text()
    assert r"\sqrt{\hat p(1-\hat p)/N_{\mathrm{val}}}" in ENTRIES[
        "standard error"]


def test_initialization_entries_use_the_chapters_fan_in():
    for term in ("He initialization", "Xavier initialization"):
        assert "n_{in}" in ENTRIES[term] and r"\text" not in ENTRIES[term]
    assert "2 / n_{in}" in (BOOK / "backprop.md").read_text()


def test_the_warm_up_fraction_is_psi_in_the_notation_and_the_chapter():
    """The warm-up's starting fraction has a letter of its own (it was s,
    the stride's and AdaGrad's letter), the same in the table, in the
    chapter's formula and in calc_nn's docstrings."""
    assert re.search(r"^\| \$\\psi\$ \| the fraction of \$\\eta\$ a "
                     r"linear warm-up starts from", NOTATION, re.M)
    optimizers = (BOOK / "optimizers.md").read_text()
    assert r"from a fraction $\psi$ of" in optimizers
    for function in (optim.linear_lr, optim.warmup_cosine_lr):
        doc = function.__doc__
        assert r":math:`\psi` = ``start_factor``" in doc
        assert ":math:`s`" not in doc
