# journeyprobe: `make demo` runs the demo, `make test` runs the tests. Both set up .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup system-deps demo test lint bench clean

system-deps:
	bash .ci/install-system-deps

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: system-deps $(STAMP)

demo: setup
	$(BIN)/journeyprobe demo

test: setup lint
	$(BIN)/journeyprobe validate journeys/
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check agent exporters journeys tests bench
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
