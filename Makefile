# tiandi — two commands: `make demo` and `make test`. Both set everything up first.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: demo serve test setup system-deps lint typecheck pytest bench lock clean stac-venv up down status \
	wheelhouse debs offline-check

# Offline install (a server without internet): TIANDI_OFFLINE=<folder made by `make wheelhouse`
# and `make debs`, default layout dist/> makes setup and stac-venv install wheels from
# <folder>/wheelhouse only (pip --no-index), the review page from the npm cache
# <folder>/npm-cache (npm --offline) and the Debian packages from <folder>/debs.
# pip's own PIP_NO_INDEX / PIP_FIND_LINKS are honoured as well. See docs/operations.md.
TIANDI_OFFLINE ?=
ifneq ($(strip $(TIANDI_OFFLINE)),)
OFFLINE_DIR := $(abspath $(TIANDI_OFFLINE))
PIP_OFFLINE := --no-index --find-links $(OFFLINE_DIR)/wheelhouse
NPM_OFFLINE := --offline --cache $(OFFLINE_DIR)/npm-cache
export TIANDI_OFFLINE
endif

# The review page's map library (OpenLayers) from the npm registry, pinned by the lock file;
# reinstalled when node_modules is missing or older than the lock.
WEB := tiandi/service/web
WEB_STAMP := $(WEB)/node_modules/.package-lock.json

setup: system-deps $(STAMP) $(WEB_STAMP)

$(WEB_STAMP): $(WEB)/package.json $(WEB)/package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: install Debian's nodejs and npm (scripts/install-system-deps.sh), then run make setup again"; exit 1; }
	cd $(WEB) && npm ci $(NPM_OFFLINE) --no-audit --no-fund --loglevel=error
	touch $(WEB_STAMP)

system-deps:
	@bash scripts/install-system-deps.sh

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/pip || $(PY) -m venv $(VENV)
	$(if $(OFFLINE_DIR),$(PY) scripts/check_wheelhouse.py $(OFFLINE_DIR)/wheelhouse requirements.lock)
	$(BIN)/pip install --quiet $(PIP_OFFLINE) -c requirements.lock -e '.[dev]' 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	touch $(STAMP)

# The STAC API server (pypgstac + stac-fastapi-pgstac + uvicorn) runs in an environment of its
# own: pypgstac pins cachetools<6.1, Prefect needs 7.x. The tests start it; so does `make up`.
STAC_VENV := .venv-stac
STAC_STAMP := $(STAC_VENV)/.installed
stac-venv: $(STAC_STAMP)

$(STAC_STAMP): infra/local/requirements-stac.txt
	test -x $(STAC_VENV)/bin/python || $(PY) -m venv $(STAC_VENV)
	$(if $(OFFLINE_DIR),$(PY) scripts/check_wheelhouse.py $(OFFLINE_DIR)/wheelhouse infra/local/requirements-stac.txt)
	$(STAC_VENV)/bin/pip install --quiet $(PIP_OFFLINE) -r infra/local/requirements-stac.txt 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	touch $(STAC_STAMP)

# The real-spectra scene with its disturbances (needs ../shared/data); without that folder:
# make demo DEMO_ARGS="--hand-set-spectra --no-disturbances"
demo: setup
	$(BIN)/tiandi demo $(DEMO_ARGS)

# The service and its review page over the demo's home (var/, where `make demo` records the
# run); prints the URL and a fresh demo token per role. SERVE_ARGS e.g. "--port 8090".
serve: setup
	$(BIN)/tiandi serve --demo-tokens $(SERVE_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check tiandi tests bench scripts
	$(BIN)/ruff format --check tiandi tests bench scripts

typecheck: $(STAMP)
	$(BIN)/mypy tiandi

# pytest exit 5 (nothing collected) must not count as green.
pytest: $(STAMP) $(STAC_STAMP)
	$(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

test: setup lint typecheck pytest

# Benchmarks print figures (ratios against a floor measured in the same run); not tests.
bench: setup
	$(BIN)/python -m bench.bench_composite --sizes 2048 4096
	$(BIN)/python -m bench.bench_catalog_search
	$(BIN)/python -m bench.bench_models
	$(BIN)/python -m bench.bench_scale --sizes 2048 4096 8192 --dist-size 4096 --dist-workers 1 2
	$(BIN)/python -m bench.bench_scale --sizes 8192 --stages floor flow --dates-per-period 12
	$(BIN)/python -m bench.bench_scale --sizes 4096 8192 --stages floor flow --detector integrated-high

# requirements.lock from pyproject.toml (incl. the dev extra) with pip-tools, in a venv of its
# own. Existing pins are kept (no --upgrade): delete a line to let that package move. pip reads
# this machine's pip config, whose find-links holds the CPU build of torch (torch==2.13.0+cpu).
LOCK_VENV := .venv-lock
lock:
	test -x $(LOCK_VENV)/bin/pip-compile || { $(PY) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/pip install --quiet pip-tools==7.6.2; }
	$(LOCK_VENV)/bin/pip-compile --quiet --annotation-style=line --extra=dev --no-emit-find-links --no-emit-index-url --output-file=requirements.lock --strip-extras pyproject.toml

# The local production stack (PostgreSQL/PostGIS + pgstac, stac-fastapi-pgstac, Prefect server,
# work pool and worker, Dask scheduler and workers, tiandi serve) on 127.0.0.1; see
# docs/operations.md. State, logs and pids in var/infra/.
up: setup $(STAC_STAMP)
	@bash infra/local/up.sh

down:
	@bash infra/local/down.sh

status:
	@bash infra/local/status.sh

# The offline bundle (on a machine with internet; same Debian release, Python 3.11, x86_64 as
# the server): wheels of requirements.lock and the STAC server's requirements plus the npm
# cache of the review page into dist/ (TIANDI_OFFLINE to choose), and the Debian packages
# with their dependencies (`make debs`, large). `make offline-check` checks a copied bundle.
wheelhouse:
	bash scripts/offline-bundle.sh python
	bash scripts/offline-bundle.sh npm

debs:
	bash scripts/offline-bundle.sh debs

offline-check:
	$(PY) scripts/check_wheelhouse.py $(or $(OFFLINE_DIR),dist)/wheelhouse requirements.lock infra/local/requirements-stac.txt

clean:
	rm -rf var demo-out .pytest_cache .mypy_cache .ruff_cache
