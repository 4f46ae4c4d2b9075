# Two entry points a new user needs: `make run` and `make test`.
# Each builds its own virtualenv in .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU build of torch; an unpinned torch would pull a multi-GB CUDA build.
TORCH_PIN ?= torch==2.13.0
MOCK_PORT ?= 8000

.PHONY: run mock test prepare lint typecheck venv clean bench

$(BIN)/gateway: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH_PIN)"
	$(BIN)/pip install -q -e ".[models,dev,train]"
	touch $(BIN)/gateway

venv: $(BIN)/gateway

# Host and port come from GATEWAY_HOST / GATEWAY_PORT (or a settings file); the Makefile
# passes no flag that would shadow them. --dev allows the built-in pseudonym key, so a fresh
# checkout runs without secrets; a production deployment sets GATEWAY_PSEUDONYM_KEY instead.
run: venv
	@echo "make run: development mode (--dev); set GATEWAY_PSEUDONYM_KEY and drop --dev in production"
	$(BIN)/gateway serve --dev

# The bundled mock upstream (an OpenAI-compatible stand-in for a model server), for trying
# the gateway without one: run it in a second terminal, then `make run`.
mock: venv
	$(BIN)/python -m loadtest.mock_upstream --port $(MOCK_PORT)

lint: venv
	$(BIN)/ruff check gateway models loadtest tests
	$(BIN)/ruff format --check gateway models loadtest tests

typecheck: venv
	$(BIN)/mypy

# Chromium, Redis and PostgreSQL for the tests; fails with one line naming what is missing.
prepare:
	bash tests/prepare.sh

test: prepare lint typecheck
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
