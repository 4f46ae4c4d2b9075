# Two entry points a new user needs: `make run` and `make test`.
# Each builds its own virtualenv in .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU build of torch; an unpinned torch would pull a multi-GB CUDA build.
TORCH_PIN ?= torch==2.13.0
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: run test lint typecheck venv clean bench

$(BIN)/gateway: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH_PIN)"
	$(BIN)/pip install -q -e ".[models,dev]"
	touch $(BIN)/gateway

venv: $(BIN)/gateway

run: venv
	$(BIN)/gateway serve --host $(HOST) --port $(PORT)

lint: venv
	$(BIN)/ruff check gateway models loadtest tests
	$(BIN)/ruff format --check gateway models loadtest tests

typecheck: venv
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
