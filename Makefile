# tiandi — two commands: `make demo` and `make test`. Both set everything up first.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: demo test setup system-deps lint typecheck pytest bench clean

setup: system-deps $(STAMP)

system-deps:
	@bash scripts/install-system-deps.sh

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev]' 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	touch $(STAMP)

demo: setup
	$(BIN)/tiandi demo $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check tiandi tests bench scripts
	$(BIN)/ruff format --check tiandi tests bench scripts

typecheck: $(STAMP)
	$(BIN)/mypy tiandi

# pytest exit 5 (nothing collected) must not count as green.
pytest: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

test: setup lint typecheck pytest

# Benchmarks print figures (ratios against a floor measured in the same run); not tests.
bench: setup
	$(BIN)/python -m bench.bench_composite --sizes 2048 4096
	$(BIN)/python -m bench.bench_catalog_search

clean:
	rm -rf var demo-out .pytest_cache .mypy_cache .ruff_cache
