# The two commands a fresh machine needs: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev

.PHONY: demo test test-slow lint typecheck pytest install dev clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP_RUN): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e .
	touch $@

$(STAMP_DEV): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

install: $(STAMP_RUN)
dev: $(STAMP_DEV)

demo: $(STAMP_RUN)
	$(BIN)/loopml demo

lint: $(STAMP_DEV)
	$(BIN)/ruff check src tests bench

typecheck: $(STAMP_DEV)
	$(BIN)/mypy

# `make test` runs the representative suite; tests marked slow (long durability, oracle and
# property runs, the demo five times under load) run with `make test-slow`.
pytest: $(STAMP_DEV)
	$(BIN)/python -m pytest -q -m "not slow"

test-slow: $(STAMP_DEV)
	$(BIN)/python -m pytest -q -m slow

test: lint typecheck pytest

clean:
	rm -rf $(VENV) .loopml .pytest_cache .mypy_cache .ruff_cache
