# Everything a fresh machine needs comes from this file and pyproject.toml.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv nodered test check demo bench bench-hunt lint lab clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The low-code pilot (pilots/shop-orders.toml) runs Node-RED, pinned by its
# lockfile; npm runs only when node_modules is missing or the lockfile changed.
NODERED := workflows/shop-orders-nodered
NODERED_STAMP := $(NODERED)/node_modules/.installed

nodered: $(NODERED_STAMP)

$(NODERED_STAMP): $(NODERED)/package.json $(NODERED)/package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: install Node.js 18 or newer with npm (Debian: apt-get install nodejs npm)" >&2; exit 1; }
	cd $(NODERED) && npm ci --no-audit --no-fund --loglevel=error
	touch $(NODERED_STAMP)

# The suite and the demo start hundreds of Python processes (CLI commands,
# workflows, partners): with bytecode caching off, each one compiles the
# harness from source again (about 130 CPU-seconds over the suite here).
unexport PYTHONDONTWRITEBYTECODE

# Six workers on two cores: drills spend much of their time waiting (timeouts,
# Retry-After, quiet periods, broker redeliveries), and six keep both cores busy
# where four left a third of them idle. TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 6
# The suite's pilot drills keep their runs out of the checkout (tests/test_install.py
# checks nothing in it changes while it runs); the last suite's runs stay here.
PILOT_RUNS ?= $(or $(TMPDIR),/tmp)/chaoslab-make-test-runs
# --dist loadgroup: tests marked xdist_group (a shared review, a pilot's
# scenarios on one standing stage) run on one worker, so they share it.
# --no-loadscope-reorder: work goes out longest first, as tests/conftest.py
# orders it (xdist would order groups by their number of tests).
# (pytest-xdist 3.8 under pytest 9.2 ignores the groups; see docs/regression.md.)
test: venv nodered
	rm -rf "$(PILOT_RUNS)"
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder --pilots pilots --pilots-reports "$(PILOT_RUNS)"

# The inner loop: everything not marked slow, and no pilot drills (under a minute).
check: venv
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder -m "not slow"

demo: venv nodered
	$(PY) -m harness.demo

# Each benchmark prints its figures next to a baseline measured in the same run.
bench: venv
	@for b in proxy replay review; do echo "== benchmarks/$$b.py"; $(PY) benchmarks/$$b.py || exit 1; done

# Two minutes: hunt schedules per minute, a fresh drill per schedule vs standing stages.
bench-hunt: venv
	$(PY) benchmarks/hunt.py

lint: venv
	$(VENV)/bin/ruff check harness workflows tests benchmarks
	$(VENV)/bin/ruff format --check harness workflows tests benchmarks
	$(VENV)/bin/mypy

# JupyterLab on the pilot review (jupytext opens the .py notebooks as notebooks).
# As root (containers, CI images) JupyterLab refuses to start without --allow-root.
LAB_ROOT = $(shell [ "$$(id -u)" -eq 0 ] && echo --allow-root)
# JupyterLab gets a virtualenv of its own: installed beside the test tools it
# adds about two seconds to every process that imports nbformat (reviews,
# tests), through jsonschema's format checkers.
LAB_VENV := .venv-lab
LAB_STAMP := $(LAB_VENV)/.installed
$(LAB_STAMP): pyproject.toml
	$(PYTHON) -m venv $(LAB_VENV)
	$(LAB_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LAB_VENV)/bin/python -m pip install --quiet -e '.[test,lab]'
	touch $(LAB_STAMP)

lab: $(LAB_STAMP)
	$(LAB_VENV)/bin/jupyter lab $(LAB_ROOT) notebooks/pilot_review.py

clean:
	rm -rf $(VENV) $(LAB_VENV) reports/runs reports/hunts
