# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=
# The suite runs its files on two workers (one file per worker, so module fixtures such as the fault
# suite's demo are set up once): 13 instead of 26 minutes of tests on this machine kind, which keeps a
# clean-clone run under CI's 20-minute budget.  TEST_WORKERS=0 runs it in one process (to tell a timing
# fault of two busy workers from a real one).
TEST_WORKERS ?= 2

.PHONY: venv demo lint test test-fast bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## venv: the virtualenv, plus Debian's chromium for the browser tests (installed once, idempotent).
venv: $(STAMP)
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

## demo: embedded Postgres + broker, migrations, every service under one supervisor; prints the URL.
demo: venv
	$(BIN)/python -m oceanwatch.runtime.demo

## lint: ruff (lint and format) and mypy (strict on the core; pyproject.toml says which rules), before any test runs.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy oceanwatch

## test: a throwaway embedded stack on free ports (or DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS), then pytest.
test: lint
	$(BIN)/python -m oceanwatch.runtime.stack run --data-dir .data/test --fresh --free-ports -- \
		$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

## test-fast: the unit tests only (no servers, no browser, no fault suite): seconds, not minutes.
test-fast: lint
	$(BIN)/python -m pytest -m "not integration and not browser and not fault" $(PYTEST_ARGS)

## bench: every benchmark in benchmarks/, each printing JSON.
bench: venv
	$(BIN)/python -m oceanwatch.runtime.stack run --data-dir .data/bench --fresh --free-ports -- \
		$(BIN)/python -m benchmarks

clean:
	rm -rf .data/test .data/bench
