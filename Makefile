# The one entry point: make run, make test, make lint, make bench.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --disable-pip-version-check -q -c constraints.txt

.PHONY: run test lint bench demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Runtime dependencies only: what `make run` needs on a fresh machine.
$(VENV)/.installed-run: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e .
	touch $@

# Plus the test, lint and browser-test tools.
$(VENV)/.installed-dev: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e '.[dev]'
	touch $@ $(VENV)/.installed-run

# Plus PySpark for RERATE_ENGINE=spark and its tests (Java 17 needed; .ci/run).
$(VENV)/.installed-spark: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e '.[dev,spark]'
	touch $@ $(VENV)/.installed-dev $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/rerate db upgrade
	$(BIN)/rerate demo --if-empty
	$(BIN)/rerate serve

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .rerate .pytest_cache .mypy_cache .ruff_cache
