"""What keeps the whole suite inside CI's budget: ``make test`` runs it in
pytest-xdist workers (the scheduler in ``conftest.py`` keeps each module
of ``ONE_WORKER`` on one worker and spreads every other test, and the
workers share one book build), and CI takes no screenshots."""

import threading
import time
import types

import browser_helpers
import conftest
import pytest


class FakeConfig:
    """What pytest-xdist's scheduler reads of the configuration."""

    option = types.SimpleNamespace(loadscopereorder=True)

    def __init__(self, dist="load", workers=2):
        self.values = {"dist": dist, "tx": [f"{workers}*popen"]}

    def getvalue(self, name):
        return self.values[name]


class FakeWorker:
    """A worker that records the tests it is sent."""

    def __init__(self, name):
        self.name, self.sent, self.shutting_down = name, [], False
        self.gateway = types.SimpleNamespace(id=name)

    def send_runtest_some(self, indices):
        self.sent += indices

    def shutdown(self):
        self.shutting_down = True


def run(ids, workers=2):
    """Schedule ``ids`` on fake workers that finish their tests in turn;
    the name of the worker that ran each test."""
    sched = conftest.pytest_xdist_make_scheduler(FakeConfig(workers=workers),
                                                 None)
    nodes = [FakeWorker(f"gw{i}") for i in range(workers)]
    for node in nodes:
        sched.add_node(node)
    for node in nodes:
        sched.add_node_collection(node, ids)
    sched.schedule()
    ran, done = {}, {node.name: 0 for node in nodes}
    while sched.has_pending:
        for node in nodes:  # each worker finishes its next test
            if done[node.name] < len(node.sent):
                index = node.sent[done[node.name]]
                done[node.name] += 1
                ran[ids[index]] = node.name
                sched.mark_test_complete(node, index)
    assert sorted(ran) == sorted(ids), "a test was never run"
    return ran


def test_one_worker_modules_stay_on_one_worker_and_the_rest_spread():
    grouped = sorted(conftest.ONE_WORKER)[0]
    ids = ([f"tests/test_a.py::test_{i}" for i in range(20)]
           + [f"{grouped}::test_{i}[{i}]" for i in range(10)]
           + [f"tests/test_b.py::test_{i}" for i in range(20)])
    ran = run(ids)
    assert len({ran[i] for i in ids if i.startswith(grouped)}) == 1
    for module in ("tests/test_a.py", "tests/test_b.py"):
        assert {ran[i] for i in ids if i.startswith(module)} == {"gw0",
                                                                 "gw1"}


def test_a_pages_checks_run_together_in_order_and_pages_spread():
    """test_a11y's checks of one book page share a loaded page: they must
    run on one worker, in their collection order (axe in light mode
    first, on the page as loaded); different pages go to both workers."""
    module = sorted(conftest.ONE_WORKER_PER_PAGE)[0]
    pages = ["index.html", "book/a.html", "book/b-c.html", "book/d.html",
             "book/e.html"]  # an odd number: no round-robin pattern
    ids = [f"{module}::test_{check}[{page}{suffix}]"
           for check, suffix in (("axe", "-light"), ("axe", "-dark"),
                                 ("keys", ""), ("fit", "-phone-viewport0"))
           for page in pages]
    ran = run(ids)
    for page in pages:
        mine = [i for i in ids if f"[{page}-" in i or f"[{page}]" in i]
        assert len(mine) == 4 and len({ran[i] for i in mine}) == 1, page
        assert [i for i in ran if i in mine] == mine, page  # in order
    assert set(ran.values()) == {"gw0", "gw1"}


def test_the_one_worker_modules_exist():
    """A renamed module would silently lose its grouping."""
    for module in conftest.ONE_WORKER | conftest.ONE_WORKER_PER_PAGE:
        assert (conftest.REPO / module).is_file(), module


@pytest.mark.parametrize("dist", ["loadfile", "loadscope", "worksteal"])
def test_another_dist_mode_asked_for_is_left_to_pytest_xdist(dist):
    assert conftest.pytest_xdist_make_scheduler(FakeConfig(dist), None) \
        is None


def test_make_test_runs_one_worker_per_core():
    makefile = (conftest.REPO / "Makefile").read_text()
    rule = makefile[makefile.index("\ntest:"):].split("\n\n")[0]
    assert "$(XDIST)" in rule
    assert "XDIST := --numprocesses auto\n" in makefile


def test_the_workers_share_one_build(tmp_path):
    """Three workers ask for the book at once: one builds it while the
    others wait, and all get its result."""
    builds = []

    def build(src):
        builds.append(src)
        time.sleep(0.3)  # the others arrive while it builds
        return conftest.BuiltBook(source=src, html=src / "_build" / "html",
                                  returncode=0, log="built\nok",
                                  seconds=12.5)

    got = []
    workers = [threading.Thread(
        target=lambda: got.append(conftest.build_once(tmp_path, build)))
        for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert builds == [tmp_path / "book-src"]
    assert got == [conftest.BuiltBook(
        source=tmp_path / "book-src",
        html=tmp_path / "book-src" / "_build" / "html", returncode=0,
        log="built\nok", seconds=12.5)] * 3


class FakeTarget:
    def __init__(self):
        self.taken = []

    def screenshot(self, path, **kwargs):
        self.taken.append(path)


@pytest.mark.parametrize("ci,asked,taken", [
    ("", None, True), ("true", None, False), ("true", "1", True)])
def test_screenshots_are_taken_outside_ci_or_when_asked_for(
        monkeypatch, tmp_path, ci, asked, taken):
    monkeypatch.setattr(browser_helpers, "SCREENSHOTS", tmp_path)
    monkeypatch.setenv("CI", ci)
    if asked is None:
        monkeypatch.delenv("CALC_NN_SCREENSHOTS", raising=False)
    else:
        monkeypatch.setenv("CALC_NN_SCREENSHOTS", asked)
    target = FakeTarget()
    path = browser_helpers.screenshot(target, "phone/x.png")
    assert path == tmp_path / "phone" / "x.png"
    assert target.taken == ([str(path)] if taken else [])
