# tiandi — two commands: `make demo` and `make test`. Both set everything up first.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: demo test setup system-deps lint typecheck pytest bench lock clean

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
	$(BIN)/python -m bench.bench_scale --sizes 2048 4096 8192

# requirements.lock from pyproject.toml (incl. the dev extra) with pip-tools, in a venv of its
# own. Existing pins are kept (no --upgrade): delete a line to let that package move. pip reads
# this machine's pip config, whose find-links holds the CPU build of torch (torch==2.13.0+cpu).
LOCK_VENV := .venv-lock
lock:
	test -x $(LOCK_VENV)/bin/pip-compile || { $(PY) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/pip install --quiet pip-tools==7.6.2; }
	$(LOCK_VENV)/bin/pip-compile --quiet --annotation-style=line --extra=dev --no-emit-find-links --no-emit-index-url --output-file=requirements.lock --strip-extras pyproject.toml

clean:
	rm -rf var demo-out .pytest_cache .mypy_cache .ruff_cache
