# Everything a fresh machine needs comes from this file and pyproject.toml.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv test demo bench bench-hunt lint lab clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Four workers: see pyproject.toml's test extra. TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 4
test: venv
	$(PY) -m pytest -q -n $(TEST_WORKERS) --pilots pilots

demo: venv
	$(PY) -m harness.demo

# Each benchmark prints its figures next to a baseline measured in the same run.
bench: venv
	@for b in proxy replay review; do echo "== benchmarks/$$b.py"; $(PY) benchmarks/$$b.py || exit 1; done

# Minutes, not seconds: five seeded hunts against the naive workflow.
bench-hunt: venv
	$(PY) benchmarks/hunt.py

lint: venv
	$(VENV)/bin/ruff check harness workflows tests benchmarks
	$(VENV)/bin/mypy

lab: venv
	$(PY) -m pip install --quiet -e '.[test,lab]'
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf $(VENV) reports/runs reports/hunts
