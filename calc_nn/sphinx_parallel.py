"""Execute the book's chapters in parallel before Sphinx reads them.

myst-nb's ``cache`` mode executes each chapter when Sphinx reads it, one
after the other, and jupyter-book 1.x has no option to read in parallel.
This extension runs first (``env-before-read-docs``): it reads every chapter
that Sphinx is about to read exactly as myst-nb will (the same
``source-read`` handlers, the same reader), executes those the cache does
not hold in ``CALC_NN_BUILD_JOBS`` worker processes (default: every core),
and stores the results in myst-nb's jupyter-cache. myst-nb then finds them
there. A chapter that fails is left alone: myst-nb executes it again and
reports the error as usual.

At the end of the build it logs one line per executed chapter with its
execution time, slowest first (``execution times:``), the numbers the
build-time budget is read from.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import time
from pathlib import Path

from sphinx.util import logging

LOGGER = logging.getLogger(__name__)
JOBS_ENV = "CALC_NN_BUILD_JOBS"


def _execute(path: str, notebook, timeout, allow_errors):
    """Worker: execute one notebook in its own folder (as myst-nb does).

    Once the last cell has run its kernel is killed, not asked to shut
    down: in ipykernel 7.2 a shutdown request races with the closing of
    the kernel's output socket and now and then prints "ERROR:tornado.
    general:Uncaught exception in ZMQStream callback" into the build log
    (fixed in ipykernel 7.3, ipython/ipykernel#1518, whose TCP warning
    keeps us on 7.2). The outputs are all collected by then.
    """
    from jupyter_cache.executors.utils import single_nb_execution

    result = single_nb_execution(notebook, cwd=str(Path(path).parent),
                                 timeout=timeout, allow_errors=allow_errors,
                                 meta_override=True,
                                 shutdown_kernel="immediate")
    return result.nb, result.time, result.exc_string


def _read_notebook(app, env, docname):
    """The notebook myst-nb will build from ``docname``, or None."""
    from myst_nb.core.read import create_nb_reader

    path = env.doc2path(docname)
    text = [Path(path).read_text(encoding="utf-8")]
    app.emit("source-read", docname, text)
    reader = create_nb_reader(str(path), env.myst_config, env.mystnb_config,
                              text[0])
    if reader is None:
        return None, None, None
    return path, reader.read(text[0]), reader.read_fmt


def _to_execute(app, env, docnames, cache):
    """``(docname, path, notebook, read_fmt)`` of the chapters with code
    that the cache does not hold."""
    todo = []
    for docname in sorted(docnames):
        path, notebook, read_fmt = _read_notebook(app, env, docname)
        if notebook is None or not any(
                c.cell_type == "code" for c in notebook.cells):
            continue
        try:
            cache.match_cache_notebook(notebook)
        except KeyError:
            todo.append((docname, path, notebook, read_fmt))
    return todo


def execute_in_parallel(app, env, docnames):
    """``env-before-read-docs``: fill the cache with the chapters to read."""
    config = env.mystnb_config
    jobs = int(os.environ.get(JOBS_ENV, os.cpu_count() or 1))
    if config.execution_mode != "cache" or jobs < 2 or len(docnames) < 2:
        return
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(config.execution_cache_path or ".jupyter_cache")
    todo = _to_execute(app, env, docnames, cache)
    if len(todo) < 2:
        return
    LOGGER.info(f"executing {len(todo)} chapters in {jobs} processes")
    start = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(
            max_workers=min(jobs, len(todo)), mp_context=context) as pool:
        futures = {
            pool.submit(_execute, str(path), notebook,
                        config.execution_timeout,
                        config.execution_allow_errors): (docname, path, fmt)
            for docname, path, notebook, fmt in todo}
        for future in concurrent.futures.as_completed(futures):
            docname, path, read_fmt = futures[future]
            executed, seconds, error = future.result()
            if error is not None:
                LOGGER.info(f"{docname}: failed in a worker; myst-nb "
                            f"executes it again and reports the error")
                continue
            record = cache.add_nb_to_project(str(path), read_data=read_fmt)
            cache.cache_notebook_bundle(
                CacheBundleIn(executed, record.uri,
                              data={"execution_seconds": seconds}),
                check_validity=False, overwrite=True)
            LOGGER.info(f"{docname}: executed in {seconds:.1f} s "
                        f"(in parallel)")
    LOGGER.info(f"parallel execution took "
                f"{time.perf_counter() - start:.1f} s")


def log_execution_times(app, exception):
    """``build-finished``: each chapter's execution time, slowest first."""
    if exception is not None:
        return
    from myst_nb.sphinx_ import NbMetadataCollector

    times = {}
    for docname in app.env.found_docs:
        data = NbMetadataCollector.get_exec_data(app.env, docname) or {}
        if data.get("runtime") is not None:
            times[docname] = data["runtime"]
    if times:
        rows = ", ".join(f"{d} {t:.1f} s" for d, t in
                         sorted(times.items(), key=lambda kv: -kv[1]))
        LOGGER.info(f"execution times: {rows}")


def setup(app):
    app.connect("env-before-read-docs", execute_in_parallel)
    app.connect("build-finished", log_execution_times)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
