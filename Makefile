# Every target works from a fresh clone: the virtualenv is created and filled on first use.
#   make test              ruff check, ruff format --check, mypy, then pytest on the newest Airflow 3.3.x (.venv)
#   make test-airflow-3.1  the same tests (without lint) on the lowest supported Airflow, 3.1.0 (.venv-af31)
#   make demo              run the rtk_scheduled_recording DAG end to end on the embedded emulator
#   make bench             benchmarks (benchmarks/README.md)

PYTHON ?= python3
VENV ?= .venv
AIRFLOW_VERSION ?= 3.3.2
# For an older Airflow, resolve dependencies as of its release (uv --exclude-newer), as its constraints would.
EXCLUDE_NEWER ?=
# RTK_LINT=0 skips lint (GNU Make predefines LINT, so the switch has a name of its own).
RTK_LINT ?= 1
PYTEST_ARGS ?=
# The suite runs on pytest-xdist workers, one per core up to 4; each worker has its own emulators and Airflow
# home. PYTEST_WORKERS= runs it in one process.
PYTEST_WORKERS ?= -n auto --maxprocesses=4

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(AIRFLOW_VERSION)
export AIRFLOW__CORE__LOAD_EXAMPLES := False

.PHONY: test test-airflow-3.1 lint demo bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python $(if $(EXCLUDE_NEWER),--exclude-newer $(EXCLUDE_NEWER)) \
		-e '.[test]' "apache-airflow==$(AIRFLOW_VERSION)"
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# pytest exits 5 when it collected no test: a test target that ran nothing fails like any other.
test: $(STAMP)
ifeq ($(RTK_LINT),1)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
endif
	$(BIN)/python -m pytest $(PYTEST_WORKERS) $(PYTEST_ARGS)

test-airflow-3.1:
	$(MAKE) --no-print-directory test VENV=.venv-af31 AIRFLOW_VERSION=3.1.0 EXCLUDE_NEWER=2025-10-05T00:00:00Z RTK_LINT=0

demo: $(STAMP)
	$(BIN)/python example_dags/run_demo.py

bench: $(STAMP)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[test,bench]'
	$(BIN)/python -m benchmarks

clean:
	rm -rf .venv .venv-af31 .venv-e2e .venv-py3.12 .venv-py3.13 dist .demo .e2e .ci-output .pytest_cache \
		.mypy_cache .ruff_cache

# make e2e: the provider in a real distributed Airflow 3.3 (CeleryExecutor, PostgreSQL, Redis, two
# triggerers, two workers) under load and faults, plus the connection form in headless Chromium
# (tests/e2e/, figures in .e2e/figures.json; logs and screenshots in .e2e/). Installs Debian's
# postgresql, redis-server, chromium and chromium-driver when missing. Not part of `make test`.
E2E_VENV ?= .venv-e2e
E2E_ARGS ?=
E2E_STAMP := $(E2E_VENV)/.installed-$(AIRFLOW_VERSION)

$(E2E_STAMP): pyproject.toml
	test -x $(E2E_VENV)/bin/python || $(PYTHON) -m venv $(E2E_VENV)
	$(E2E_VENV)/bin/python -m pip install --quiet --upgrade pip uv
	$(E2E_VENV)/bin/uv pip install --quiet --python $(E2E_VENV)/bin/python \
		-e '.[e2e]' "apache-airflow[celery]==$(AIRFLOW_VERSION)"
	touch $@

.PHONY: e2e
e2e: $(E2E_STAMP)
	$(E2E_VENV)/bin/python -m pytest tests/e2e -p no:cacheprovider -v -s --timeout=1800 $(E2E_ARGS)

# make dist: the sdist and the wheel in dist/ (uv build: the sdist, then the wheel built from it), checked:
# twine check --strict, then .ci/check_dist.py (the wheel holds the whole package, py.typed, the pytest
# plugin, the entry points and the LICENSE; the sdist the docs and the usual files).
.PHONY: dist
dist: $(STAMP)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[test,dist]' "apache-airflow==$(AIRFLOW_VERSION)"
	rm -rf dist
	$(BIN)/uv build --quiet --out-dir dist
	$(BIN)/twine check --strict dist/*
	$(BIN)/python .ci/check_dist.py dist

# make wheel-smoke: from a fresh clone of this commit, `make dist`, then the README's quickstart as written
# (the built wheel, not editable, in a new virtualenv with Airflow pinned and constrained), then the
# provider's listing, the emulator's HTTP answers and a user's DAG test with the shipped fixtures
# (.ci/wheel-smoke; SMOKE_KEEP=1 keeps its folder).
.PHONY: wheel-smoke
wheel-smoke:
	.ci/wheel-smoke

# make test-py3.12 / test-py3.13: the fast tiers and the DAG tests (TEST_PY_PATHS) on another Python, with
# Airflow $(AIRFLOW_VERSION), in .venv-py3.X; the interpreter is found by .ci/find-python (PATH, pyenv, uv).
TEST_PY_PATHS ?= tests/core tests/hooks tests/example_dags tests/test_user_dag_example.py \
	tests/operators/test_recording_dags.py tests/operators/download/test_dags.py
.PHONY: test-py3.12 test-py3.13
test-py3.12 test-py3.13: test-py%:
	py="$$(.ci/find-python $*)" && $(MAKE) --no-print-directory test VENV=.venv-py$* PYTHON="$$py" \
		RTK_LINT=0 PYTEST_ARGS="$(TEST_PY_PATHS)"
