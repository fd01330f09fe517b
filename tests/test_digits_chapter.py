"""The claims of book/digits.md, checked with the chapter's own code.

The chapter's code cells are executed here (figures, ``display`` and
myst-nb's ``glue`` replaced by recorders), in order, with the chapter's
settings: the numbers it glues into its prose are the numbers these tests
read. Each sentence that states a comparison or a trend is asserted for
the chapter's seed and, where it depends on the random initialisation,
batches or dropout masks, for other seeds too (the runs the prose rests
on are re-executed with ``SEED`` changed; the data split stays the
chapter's).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import io
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SHARED_MNIST

CHAPTER = Path(__file__).resolve().parents[1] / "book" / "digits.md"
CELL = re.compile(r"^```\{code-cell\} ipython3\n(.*?)^```$", re.S | re.M)
#: the extra seeds of the claims that depend on the random draws: one for
#: the expensive runs (the training runs and the ablation), two for the
#: curvature study
SEEDS = (1, 2)

pytestmark = pytest.mark.skipif(
    not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").exists(),
    reason="the MNIST test set is not beside the repository")


def cells() -> list[str]:
    """The source of every code cell, without its ``:tags:`` header."""
    out = []
    for body in CELL.findall(CHAPTER.read_text()):
        lines = body.splitlines()
        while lines and (lines[0].startswith(":") or not lines[0].strip()):
            lines.pop(0)
        out.append("\n".join(lines))
    return out


def cell(start: str) -> str:
    """The one code cell whose source starts with ``start``."""
    found = [c for c in cells() if c.startswith(start)]
    assert len(found) == 1, f"{len(found)} cells start with {start!r}"
    return found[0]


class _Figure:
    def show(self):
        return None


class _Plots:
    """Stands in for calc_nn.plots.digits_figures: figures are drawn by
    the build and tested in test_train.py and test_figures.py."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: _Figure()


@contextlib.contextmanager
def _one_blas_thread():
    """OpenBLAS on one thread while the chapter runs, as in the chapter
    (which sets it before NumPy is imported; here NumPy is loaded
    already). On a busy machine, BLAS threads that wait for each other
    double the time. Nothing happens with another BLAS."""
    libs = sorted((Path(np.__file__).parent.parent / "numpy.libs").glob(
        "libscipy_openblas*.so"))
    try:
        blas = ctypes.CDLL(str(libs[0]))
        get = blas.scipy_openblas_get_num_threads64_
        set_ = blas.scipy_openblas_set_num_threads64_
    except (IndexError, OSError, AttributeError):
        yield
        return
    before = get()
    set_(ctypes.c_int(1))
    try:
        yield
    finally:
        set_(ctypes.c_int(before))


def _run(namespace: dict, source: str) -> None:
    exec(compile(source, str(CHAPTER), "exec"), namespace)


@pytest.fixture(scope="module")
def chapter(monkeypatch_module):
    """The namespace of the chapter after running all its code cells, with
    ``glued`` (name -> value) and ``seed_runs(seed)``."""
    monkeypatch_module.setenv("CALC_NN_MNIST_DIRS", str(SHARED_MNIST))
    monkeypatch_module.setenv("CALC_NN_DOWNLOAD", "0")
    threads = torch.get_num_threads()
    namespace: dict = {"__name__": "digits_chapter"}
    sources = cells()
    _run(namespace, sources[0])  # the imports
    glued: dict = {}
    namespace.update(
        glue=lambda name, value, display=True: glued.__setitem__(name,
                                                                 value),
        display=lambda *args, **kwargs: None,
        digit_plots=_Plots(),
        explore=lambda *args, **kwargs: _Figure())
    printed = {}  # the first line of a cell -> what it printed
    with _one_blas_thread():
        for source in sources[1:]:
            with contextlib.redirect_stdout(io.StringIO()) as out:
                _run(namespace, source)
            printed[source.splitlines()[0]] = out.getvalue()
    namespace.update(glued=glued, printed=printed)
    yield namespace
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def _again(chapter: dict, seed: int, starts: list[str]) -> dict:
    """A copy of the chapter's namespace with ``SEED = seed``, after running
    the cells that start with ``starts`` again; its glued values."""
    namespace = dict(chapter)
    glued: dict = {}
    namespace.update(SEED=seed, glue=lambda name, value, display=True:
                     glued.__setitem__(name, value))
    # the PyTorch MLP's initial weights for this seed, as the training
    # cell makes them (the curvature study compares with them)
    namespace["init_state"] = chapter["he_init_"](
        chapter["Net"](), seed).state_dict()
    with _one_blas_thread():
        for start in starts:
            _run(namespace, cell(start))
    namespace["glued"] = glued
    return namespace


MAIN_RUNS = ["net_sgd = he_init_(Net(), SEED)",
             "cnn_torch = he_init_(CNN(CNN_CHANNELS), SEED)",
             "hist_cnn_torch = train.fit_torch(", "def scores(logits, y):",
             "ce_mlp, ok_mlp = finals", "def gap(hist):"]
ABLATION = ["ablation = {name: run_variant(name, SEED)",
            "base_hist, base_ce, base_ok = ablation"]
CURVATURE = ["N_CURVE, GD_STEPS, RATIOS", "curve_runs = {}",
             "def rises(values):"]


@pytest.fixture(scope="module")
def rerun(chapter):
    """``rerun(seed, part)``: the glued values of ``part`` ("main",
    "ablation", "curvature") for another seed, computed once."""
    parts = {"main": MAIN_RUNS, "ablation": ABLATION,
             "curvature": CURVATURE}

    @functools.cache
    def run(seed, part):
        return _again(chapter, seed, parts[part])
    return run


def _settings(chapter):
    return {k: chapter[k] for k in ("SEED", "N_TRAIN", "EPOCHS", "N_SMALL",
                                    "EPOCHS_SMALL", "FULL_RUN")}


def test_the_chapter_runs_with_its_stated_settings(chapter):
    assert _settings(chapter) == dict(SEED=0, N_TRAIN=4000, EPOCHS=5,
                                      N_SMALL=500, EPOCHS_SMALL=15,
                                      FULL_RUN=False)
    assert chapter["OFFLINE"]
    assert chapter["glued"]["digits-n-train"] == 4000
    assert chapter["glued"]["digits-n-val"] == 2000
    # the data never overlap: 8,000 + 2,000 distinct test digits
    assert len(chapter["X_pool"]) == 8000


def test_every_glued_name_is_used_in_the_prose_and_glued(chapter):
    text = CHAPTER.read_text()
    used = set(re.findall(r"\{glue:(?:text|md)\}`([\w-]+)", text))
    glued = set(chapter["glued"])
    assert used <= glued, sorted(used - glued)
    assert glued <= used, f"glued but not used: {sorted(glued - used)}"


# ------------------------------------------------------ the two twins

def test_calc_nn_twins_follow_pytorch_step_for_step(chapter):
    g = chapter["glued"]
    assert g["digits-mlp-grad-gap"] < 1e-6
    # float32 rounding in a different order of additions, grown over the
    # steps: far below the change of the loss itself
    assert g["digits-mlp-twin-gap"] < 1e-3
    assert g["digits-mlp-steps"] == 160
    assert g["digits-cnn-twin-gap"] < 1e-3
    assert g["digits-cnn-steps"] == 32
    # after the first epoch both CNNs classify the same validation digits
    assert g["digits-cnn-acc-np-1"] == pytest.approx(
        g["digits-cnn-acc-torch-1"], abs=1 / 2000 + 1e-12)
    # "disagree on a few digits": under 0.5% of them
    assert g["digits-twin-disagree"] <= 10
    assert g["digits-cnn-time-ratio"] > 0


def test_he_initialisation_spreads_the_logits(chapter):
    g = chapter["glued"]
    assert g["digits-logit-std-he"] > 5 * g["digits-logit-std-default"]


def test_the_cnn_has_sixty_times_fewer_parameters(chapter):
    g = chapter["glued"]
    assert g["digits-n-mlp"] == 535_818 and g["digits-n-cnn"] == 9_098
    assert round(g["digits-param-ratio"]) == 59


# ------------------------------------------- standard errors, comparisons

def _main_claims(g):
    # the CNN is more accurate, beyond twice the paired SE, and its
    # validation loss lower; Adam beats SGD; SGD's training loss is higher
    assert g["digits-d-acc"] > 2 * g["digits-se-d-acc"] > 0
    assert "more than twice" in g["digits-d-acc-verdict"].data
    assert g["digits-d-loss"] > 2 * g["digits-se-d-loss"] > 0
    assert "more than twice" in g["digits-d-loss-verdict"].data
    assert g["digits-d-opt"] > 2 * g["digits-se-d-opt"] > 0
    assert "more than twice" in g["digits-d-opt-verdict"].data
    # the paired SE is smaller than the unpaired one
    assert g["digits-se-d-acc"] < g["digits-se-unpaired"]
    # the MLP's generalisation gap is more than twice the CNN's
    assert g["digits-gap-mlp"] > 2 * g["digits-gap-cnn"]
    # "an accuracy ... about half a point here"
    assert 0.3 < g["digits-se-mlp"] < 0.7 and 0.3 < g["digits-se-cnn"] < 0.7


def test_comparisons_hold_for_the_chapter_seed(chapter):
    g = chapter["glued"]
    _main_claims(g)
    assert g["digits-sgd-final-loss"] > g["digits-adam-final-loss"]


@pytest.mark.parametrize("seed", SEEDS[:1])
def test_comparisons_hold_for_other_seeds(rerun, seed):
    _main_claims(rerun(seed, "main")["glued"])


def test_verdicts_follow_the_two_standard_errors_rule(chapter):
    compared = chapter["compared"]
    assert compared(0.011, 0.005, "x").startswith("more than twice")
    assert compared(-0.011, 0.005, "x").startswith("more than twice")
    assert compared(0.009, 0.005, "x").startswith("less than twice")
    assert "do not tell the two x apart" in compared(0.0, 0.005, "x")


# ------------------------------------------------ overfitting, ablation

def _ablation_claims(namespace):
    g = namespace["glued"]
    epochs = namespace["EPOCHS_SMALL"]
    # the validation loss turns well before the end and rises after it,
    # while the training loss keeps falling to nearly 0
    assert g["digits-turn-epoch"] <= epochs - 5
    assert g["digits-final-val-loss"] > g["digits-turn-loss"] + 0.02
    assert g["digits-final-train-loss"] < 0.01
    base_hist = namespace["base_hist"]
    assert base_hist["loss"][-1] < base_hist["loss"][
        g["digits-turn-epoch"] - 1]
    # "the accuracy changes by less than twice its standard error"
    se = np.sqrt(g["digits-final-acc"] * (1 - g["digits-final-acc"])
                 / len(namespace["y_val"]))
    assert abs(g["digits-final-acc"] - g["digits-turn-acc"]) < 2 * se
    # each variant lowers the final validation loss beyond 2 SE, and moves
    # the lowest point later or flattens the rise after it
    assert g["digits-smallest-drop"] > 2
    turn = int(np.argmin(base_hist["val_loss"]))
    rise = base_hist["val_loss"][-1] - base_hist["val_loss"][turn]
    for name, (hist, _, _) in namespace["ablation"].items():
        if name == "none":
            continue
        best = int(np.argmin(hist["val_loss"]))
        assert best > turn or (hist["val_loss"][-1] - hist["val_loss"][best]
                               < rise), name
    # the sentence about accuracies names exactly the variants beyond 2 SE
    text = g["digits-acc-changes"].data
    mean_and_se = namespace["train"].mean_and_se
    _, _, base_ok = namespace["ablation"]["none"]
    for name, (_, _, ok) in namespace["ablation"].items():
        if name != "none":
            d, se = mean_and_se(ok - base_ok)
            assert (name in text) == (abs(d) > 2 * se), name
    assert ("more than twice" in g["digits-d-bn-verdict"].data) == (
        abs(g["digits-d-bn"]) > 2 * g["digits-se-d-bn"])


def test_overfitting_and_regularisation_for_the_chapter_seed(chapter):
    _ablation_claims(chapter)
    g = chapter["glued"]
    assert g["digits-steps-small"] == 150
    assert g["digits-decay-factor"] == pytest.approx(0.999 ** 150)


@pytest.mark.parametrize("seed", SEEDS[:1])
def test_overfitting_and_regularisation_for_other_seeds(rerun, seed):
    _ablation_claims(rerun(seed, "ablation"))


def test_the_cosine_schedule_reaches_the_loop(chapter):
    """The schedule is the one handed to the loop: its last rate is tiny
    and the history shows a run different from the baseline's."""
    schedule = chapter["VARIANTS"]["cosine schedule"][2]
    steps = chapter["STEPS_SMALL"]
    assert schedule(0) == pytest.approx(1e-3)
    assert schedule(steps - 1) < 1e-6
    base = chapter["ablation"]["none"][0]["step_loss"]
    cosine = chapter["ablation"]["cosine schedule"][0]["step_loss"]
    assert len(base) == len(cosine) == steps
    assert base[0] == cosine[0] and base[-1] != cosine[-1]


# ------------------------------------------------------------- curvature

def _curvature_claims(namespace):
    g = namespace["glued"]
    runs, ratios = namespace["curve_runs"], namespace["RATIOS"]
    rises = namespace["rises"]
    # at half the bound the loss goes down at every step; at four times it
    # goes up at least twice, and more often than at half
    assert rises(runs[ratios[0]]) == 0
    assert g["digits-rises-high"] == rises(runs[ratios[-1]]) >= 2
    # "swinging while it still falls on the whole"
    assert runs[ratios[-1]][-1] < runs[ratios[-1]][0]
    # the first gradient's bound is at least 2 / lambda_max (step 3)
    assert g["digits-bound-ratio"] >= 1
    assert g["digits-two-over-lambda"] == pytest.approx(
        2 / g["digits-lambda"])
    assert g["digits-gd-steps"] == len(runs[ratios[0]]) == 20


def test_curvature_claims_for_the_chapter_seed(chapter):
    _curvature_claims(chapter)
    assert chapter["same"]  # the same initial weights as PyTorch's MLP


@pytest.mark.parametrize("seed", SEEDS)
def test_curvature_claims_for_other_seeds(rerun, seed):
    namespace = rerun(seed, "curvature")
    _curvature_claims(namespace)
    assert namespace["same"]


def test_power_iteration_finds_the_top_eigenvalue_of_the_minibatch(
        chapter):
    """lambda_max of the chapter's minibatch Hessian, against the Rayleigh
    quotient of a few more power iterations with autograd's Hessian-vector
    products (torch), from another start."""
    X = torch.from_numpy(chapter["X_curve"])
    y = torch.from_numpy(chapter["y_curve"])
    mlp = chapter["mlp_he"]
    shapes = [p.shape for p in mlp.params]
    sizes = [p.size for p in mlp.params]

    def loss(theta):
        W1, b1, W2, b2, W3, b3 = (t.reshape(s) for t, s in zip(
            torch.split(theta, sizes), shapes))
        h = torch.relu(torch.relu(X @ W1.T + b1) @ W2.T + b2)
        return torch.nn.functional.cross_entropy(h @ W3.T + b3, y)

    theta = torch.from_numpy(chapter["theta0"])
    v = torch.from_numpy(np.random.default_rng(9).standard_normal(
        theta.shape))
    for _ in range(15):
        v = v / v.norm()
        _, Hv = torch.autograd.functional.hvp(loss, theta, v)
        estimate, v = float(v @ Hv), Hv
    assert chapter["lam"] == pytest.approx(estimate, rel=0.05)


# ------------------------------------------------------------- exercises

def test_exercise_initialisation_ratios(chapter):
    default, he = chapter["ratios_default"], chapter["ratios_he"]
    np.testing.assert_allclose(default, 1 / 6, rtol=0.25)
    np.testing.assert_allclose(he, 1.0, rtol=0.25)


def test_exercise_step_bound_prediction(chapter):
    """The quadratic model predicts the small step's change and misses
    the large one's (the solution's printout)."""
    lam, g0, Hg0 = chapter["lam"], chapter["g0"], chapter["Hg0"]
    loss, theta0 = chapter["minibatch_loss"], chapter["theta0"]
    L0 = loss(theta0)
    for ratio, close in ((0.5, True), (4.0, False)):
        step = ratio * 2 / lam
        predicted = -step * (g0 @ g0) + step ** 2 / 2 * (g0 @ Hg0)
        measured = loss(theta0 - step * g0) - L0
        assert (abs(predicted - measured) < 0.1 * abs(measured)) == close
    chapter["mlp_he"].set_flat(theta0)


def test_exercise_too_large_a_learning_rate(chapter):
    """lr = 10 diverges and says so; lr = 0.1 learns more than lr = 1."""
    out = chapter["printed"]["for lr in (0.1, 1.0, 10.0):"]
    # "below, several times and dozens of times 2 / lambda_max"
    ratios = [lr * chapter["lam"] / 2 for lr in (0.1, 1.0, 10.0)]
    assert ratios[0] < 1 < ratios[1] < 10 < ratios[2] < 100
    accuracies = [float(a) for a in re.findall(r"accuracy ([\d.]+)%", out)]
    assert len(accuracies) == 2 and accuracies[0] > accuracies[1] + 20
    assert "lr=10.0" in out and "training diverged" in out


def test_exercise_pixels_that_never_learn(chapter):
    out = chapter["printed"][cell("dead = np.flatnonzero(").splitlines()[0]]
    assert "their weights unchanged: True" in out
    assert int(out.split()[0]) > 50


def test_the_source_loss_fails_as_the_erratum_says(chapter):
    printed = chapter["printed"]
    out = printed[cell("logits = torch.tensor([[2.0, -1.0, 0.5,")
                  .splitlines()[0]].splitlines()
    assert out[0].split()[-1] == "nan"
    on_probs, log_softmax, reference = (float(line.split()[-1])
                                        for line in out[1:4])
    assert on_probs == pytest.approx(reference, rel=1e-6)
    assert log_softmax == pytest.approx(reference, rel=1e-6)
    large = out[4].split("|")
    assert "nan" in large[0] and np.isfinite(float(large[1].split()[-1]))
    assert "name 'torch' is not defined" in printed["snippet = '''"]
