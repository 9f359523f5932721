# `make test` is the README's test command and what .ci/run runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: test install lint bench-quick sandbox

# Runs the PostgreSQL tests too: against TEST_POSTGRES_URL when set, else against a
# throwaway cluster when PostgreSQL's binaries are installed (scripts/run-tests).
test: install lint
	./scripts/run-tests $(BIN)/pytest $(PYTEST_ARGS)

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

lint: install
	$(BIN)/ruff check bot store testing tests bench scripts
	$(BIN)/ruff format --check bot store testing tests bench scripts
	$(BIN)/mypy

bench-quick: install
	$(BIN)/python -m bench --quick

sandbox: install
	$(BIN)/simsid-bot sandbox
