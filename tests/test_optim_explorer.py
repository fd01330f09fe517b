"""The optimizer explorer of the chapter "Gradient descent and optimizers":
divergence reported on the plot (slow escapes included), and the live-only
controls (beta2, steps, start point, optimizer line-up) that drive the
FigureWidget in a kernel without changing the static site's grid."""

import json

import numpy as np
import plotly.graph_objects as go
import pytest

from calc_nn import landscapes, optim
from calc_nn.plots import optimizer_figures as plots
from calc_nn.widgets import Slider, explore

BOWL_LRS = [0.01, 0.03, 0.1, 0.3, 0.6, 1.0, 1.5, 1.9, 2.1, 3.0]


# ----------------------------------------------------------------- divergence

def test_slow_divergence_is_caught_by_the_loss_growth_rule():
    """GD on the bowl at lr = 2.1 grows its loss by about 1.21 per step and
    reaches ~5.8e6 after 80 steps while staying inside the box |theta| <=
    1e6: the loss rule reports the first step whose loss exceeds
    1e4 * max(|L0|, 1)."""
    land = landscapes.quadratic(10.0)
    plain = optim.run(optim.gd_step, land.grad, land.start, 80, lr=2.1)
    assert plain.diverged_at is None  # the box alone misses it
    losses = land.loss(plain.path)
    assert losses[-1] > 5e6
    limit = 1e4 * max(abs(losses[0]), 1.0)
    expected = int(np.argmax(losses > limit))
    assert 30 < expected < 80

    res = optim.run(optim.gd_step, land.grad, land.start, 80, lr=2.1,
                    loss_fn=land.loss)
    assert res.diverged_at == expected
    np.testing.assert_array_equal(res.path[:expected], plain.path[:expected])
    assert np.all(np.isnan(res.path[expected:]))
    assert optim.diverged_at(res.path) == expected

    # a loss function of one point at a time gives the same answer
    one = optim.run(optim.gd_step, land.grad, land.start, 80, lr=2.1,
                    loss_fn=lambda p: float(land.loss(np.asarray(p))[()]),
                    max_growth=1e4)
    assert one.diverged_at == expected
    # a larger factor reports a later step, a converging run none
    later = optim.run(optim.gd_step, land.grad, land.start, 80, lr=2.1,
                      loss_fn=land.loss, max_growth=1e5)
    assert later.diverged_at > expected
    ok = optim.run(optim.gd_step, land.grad, land.start, 80, lr=1.9,
                   loss_fn=land.loss)
    assert ok.diverged_at is None


@pytest.mark.parametrize("growth", [0, -1.0, np.nan])
def test_bad_max_growth_names_the_argument(growth):
    land = landscapes.quadratic(10.0)
    with pytest.raises(ValueError, match="max_growth"):
        optim.run(optim.gd_step, land.grad, land.start, 5, lr=0.1,
                  loss_fn=land.loss, max_growth=growth)


def test_the_box_still_wins_when_it_is_first():
    """A run that leaves the box before its loss grows reports the box's
    step (the loss rule only looks at the rows kept)."""
    land = landscapes.quadratic(10.0)
    res = optim.run(optim.gd_step, land.grad, land.start, 80, lr=3.0,
                    bound=10.0, loss_fn=land.loss, max_growth=1e12)
    box = optim.run(optim.gd_step, land.grad, land.start, 80, lr=3.0,
                    bound=10.0)
    assert res.diverged_at == box.diverged_at is not None


def _gd_annotations(fig):
    return [a.text for a in fig.layout.annotations if "diverged" in a.text]


def test_slowly_diverging_run_says_so_on_the_plot():
    fig = plots.optimizer_explorer("quadratic", 2.1, 0.5, n_steps=80)
    title = fig.layout.title.text
    assert "GD diverged at step 50" in title, title
    assert _gd_annotations(fig) == ["GD diverged at step 50"]
    gd = next(t for t in fig.data if t.name == "GD" and t.mode ==
              "lines+markers")
    assert np.isfinite(np.asarray(gd.x, float)).sum() == 50  # not blank


@pytest.mark.parametrize("landscape, lrs, n_steps", [
    ("quadratic", BOWL_LRS, 80),
    ("rosenbrock", [1e-4, 1e-3, 2e-3, 5e-3, 1e-2, 0.1], 100),
    ("himmelblau", [0.001, 0.03, 0.1, 0.3], 80),
])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_every_run_is_drawn_and_every_divergence_is_named(
        landscape, lrs, n_steps, momentum):
    """Never a blank plot: each path has at least its start point, and each
    diverged run has its "diverged at step k" in the title and an arrow."""
    for lr in lrs:
        runs = plots.explorer_runs(landscape, lr, momentum, n_steps=n_steps)
        fig = plots.optimizer_explorer(landscape, lr, momentum,
                                       n_steps=n_steps)
        notes = _gd_annotations(fig)
        for name, res in runs.items():
            label = plots.OPTIMIZER_LABELS[name]
            path = next(t for t in fig.data if t.name == label)
            assert np.isfinite(np.asarray(path.x, float)).any()
            if res.diverged:
                text = f"{label} diverged at step {res.diverged_at}"
                assert text in fig.layout.title.text
                assert text in notes
                assert res.diverged_at >= 1
            else:
                # a run reported as fine stays near the window
                assert np.abs(res.path).max() < 100 * 3.0 + 1e-9


# ----------------------------------------------------------------- controls

def _bowl(mode):
    return explore(
        lambda lr, momentum, **live: plots.explorer_figure(
            "quadratic", lr, momentum, **live),
        [Slider("lr", BOWL_LRS, default=0.3),
         Slider("momentum", [0.0, 0.5, 0.9], default=0.5),
         *plots.live_controls("quadratic", n_steps=80)],
        mode=mode)


def _same_figure(fw, fig):
    for shown, want in zip(fw.data, fig.data):
        assert shown.name == want.name
        assert shown.visible == want.visible or (
            shown.visible in (None, True) and want.visible in (None, True))
        if want.type == "scatter":
            for axis in ("x", "y"):
                a, b = getattr(shown, axis), getattr(want, axis)
                if b is None:
                    assert a is None
                else:
                    np.testing.assert_allclose(np.asarray(a, float),
                                               np.asarray(b, float))
    assert fw.layout.title.text == fig.layout.title.text


def test_live_only_controls_do_not_change_the_static_site():
    """The static figure has the same two sliders (lr x momentum = 30
    states) as without the live controls, and its default state is the
    figure with the live controls at their defaults."""
    fig = _bowl("static")
    assert isinstance(fig, go.Figure)
    assert [(c["kind"], c["name"]) for c in fig.layout.meta["calc_nn"][
        "controls"]] == [("slider", "lr"), ("slider", "momentum")]
    assert len(fig.layout.meta["calc_nn"]["states"]) == 30
    plain = plots.optimizer_explorer("quadratic", 0.3, 0.5, n_steps=80)
    assert fig.layout.title.text == plain.layout.title.text
    for a, b in zip(fig.data, plain.data):
        assert json.dumps(a.to_plotly_json().get("y"), default=str) == \
            json.dumps(b.to_plotly_json().get("y"), default=str)


@pytest.mark.parametrize("name, value, kwargs", [
    ("beta2", 0.9, dict(beta2=0.9)),
    ("n_steps", 300, dict(n_steps=300)),
    ("x0", 1.5, dict(x0=1.5)),
    ("y0", -2.0, dict(y0=-2.0)),
    ("lineup", "GD vs momentum", dict(lineup="GD vs momentum")),
    ("lineup", "variants",
     dict(lineup="variants")),
])
def test_each_live_control_redraws_the_figure_widget(name, value, kwargs):
    box = _bowl("live")
    assert set(box.controls) == {"lr", "momentum", "beta2", "n_steps", "x0",
                                 "y0", "lineup"}
    fw = box.figure
    before = [np.asarray(t.x, float).copy() for t in fw.data
              if t.type == "scatter" and t.x is not None]
    box.controls[name].value = value
    settings = dict(lr=0.3, momentum=0.5, n_steps=80)
    settings.update(kwargs)
    want = plots.explorer_figure("quadratic", **settings)
    _same_figure(fw, want)
    after = [np.asarray(t.x, float) for t in fw.data
             if t.type == "scatter" and t.x is not None]
    changed = [not (a.shape == b.shape and np.allclose(a, b, equal_nan=True))
               for a, b in zip(before, after)]
    if name == "lineup" and value == "GD vs momentum":
        # same runs; RMSprop and Adam are hidden
        hidden = [t.name for t in fw.data if t.visible is False]
        assert sorted(set(hidden) - {"quadratic"}) == ["Adam", "RMSprop"]
    elif name == "beta2":
        assert any(changed)  # Adam's path
        assert "β₂ = 0.9" in fw.layout.title.text
    else:
        assert any(changed)
    if name == "n_steps":
        assert list(fw.layout.xaxis2.range) == [0, 300]
    if name in ("x0", "y0"):
        start = next(t for t in fw.data if t.name == "start")
        assert (start.x[0], start.y[0]) == (
            kwargs.get("x0", -2.5), kwargs.get("y0", 1.0))


def test_lineup_and_shown_errors_name_the_argument():
    with pytest.raises(ValueError, match="lineup"):
        plots.explorer_figure("quadratic", 0.1, lineup="everything")
    with pytest.raises(ValueError, match="shown"):
        plots.optimizer_explorer("quadratic", 0.1, shown=("adamw",))
    with pytest.raises(ValueError, match="n_steps"):
        plots.live_controls("quadratic", n_steps=7)


def test_live_controls_contain_the_start_and_defaults():
    for name in ("quadratic", "rosenbrock", "himmelblau"):
        land = landscapes.get(name)
        controls = {c.name: c for c in plots.live_controls(name)}
        assert all(c.live_only for c in controls.values())
        assert controls["x0"].default == land.start[0]
        assert controls["y0"].default == land.start[1]
        assert min(controls["x0"].values) == land.x_range[0]
        assert max(controls["y0"].values) == land.y_range[1]
    assert "x0" not in {c.name for c in plots.live_controls(start=False)}


# ----------------------------------------------------------------- run_many

ALL_RUNS = [(optim.gd_step, dict(lr=2e-3)),
            (optim.momentum_step, dict(lr=1e-3, momentum=0.9)),
            (optim.nesterov_step, dict(lr=1e-3, momentum=0.5)),
            (optim.rmsprop_step, dict(lr=1e-2)),
            (optim.adagrad_step, dict(lr=0.1)),
            (optim.adam_step, dict(lr=5e-2, betas=(0.8, 0.99))),
            (optim.adamw_step, dict(lr=5e-2, weight_decay=0.1)),
            (optim.gd_step, dict(lr=5e-3))]   # diverges on Rosenbrock


@pytest.mark.parametrize("name", ["quadratic", "rosenbrock", "himmelblau",
                                  "saddle"])
@pytest.mark.parametrize("with_loss", [False, True])
def test_run_many_equals_separate_runs_bit_for_bit(name, with_loss):
    land = landscapes.get(name)
    extra = dict(loss_fn=land.loss) if with_loss else {}
    many = optim.run_many(ALL_RUNS, land.grad, land.start, 300, bound=50.0,
                          vectorized=True, **extra)
    assert len(many) == len(ALL_RUNS)
    for (step, hyper), res in zip(ALL_RUNS, many):
        one = optim.run(step, land.grad, land.start, 300, bound=50.0,
                        **extra, **hyper)
        assert res.diverged_at == one.diverged_at
        np.testing.assert_array_equal(res.path, one.path)
    if name == "rosenbrock":
        assert many[-1].diverged and not many[0].diverged


def test_run_many_takes_a_point_by_point_gradient_and_checks_input():
    land = landscapes.quadratic(10.0)
    calls = []

    def grad(theta):
        theta = np.asarray(theta)
        calls.append(theta.shape)
        if theta.ndim != 1:
            raise_shape = np.zeros(3)  # wrong shape: forces row by row
            return raise_shape
        return land.grad(theta)

    runs = [(optim.gd_step, dict(lr=0.5)), (optim.adam_step, dict(lr=0.1))]
    many = optim.run_many(runs, grad, land.start, 20)
    for (step, hyper), res in zip(runs, many):
        np.testing.assert_array_equal(
            res.path, optim.trajectory(step, land.grad, land.start, 20,
                                       **hyper))
    with pytest.raises(ValueError, match="lr"):
        optim.run_many([(optim.gd_step, dict(lr=-1.0))], land.grad,
                       land.start, 5)
    with pytest.raises(TypeError, match="pairs"):
        optim.run_many([optim.gd_step], land.grad, land.start, 5)
    with pytest.raises(ValueError, match="at least one"):
        optim.run_many([], land.grad, land.start, 5)
    with pytest.raises(ValueError, match="theta0"):
        optim.run_many(runs, land.grad, [1.0, 2.0, 3.0], 5, dim=2)
    with pytest.raises(ValueError, match="n_steps"):
        optim.run_many(runs, land.grad, land.start, -1)


def test_explorer_runs_with_noise_give_each_optimizer_the_same_noise():
    """Noisy gradients are drawn per run (not batched), so every optimizer
    sees the same noise sequence: GD and momentum 0 coincide."""
    runs = plots.explorer_runs("saddle", 0.05, 0.0, ("gd", "momentum"),
                               n_steps=50, noise=0.3)
    np.testing.assert_array_equal(runs["gd"].path, runs["momentum"].path)
