# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
PYTEST_ARGS ?=
# Test workers (pytest-xdist) for every tier but the system one: the tests mostly wait on daemons and
# peers, so two workers on two cores halve the wall time (tests/conftest.py keeps the heaviest files
# apart).  The system tier builds the .deb and boots containers: it runs after, on its own.
TEST_WORKERS ?= 2

.PHONY: run run-deps run-venv test unit integration e2e system deps venv lock lint deb bench clean

run: run-deps run-venv         ## set up and run the daemons in the foreground
	$(BIN)/vodtender run $(ARGS)

run-deps:                      ## the Debian packages the running service needs (ffmpeg), not the test tools
	scripts/install-deps --service

test: deps venv lint           ## set up and run every test tier
	$(BIN)/python -m pytest -n $(TEST_WORKERS) -m "not system" --durations=25 $(PYTEST_ARGS)
	$(BIN)/python -m pytest -m system --durations=10 $(PYTEST_ARGS)

unit integration e2e system: venv  ## one tier (markers come from the folder: tests/unit, tests/integration/e2e, ...)
	$(BIN)/python -m pytest -m $@ $(PYTEST_ARGS)

deps:                          ## Debian packages (real peers, build tools)
	scripts/install-deps

# Exactly the locks, each package checked against its hashes (scripts/lock writes them): a new venv
# (--clear: none left from an older lock), pip and setuptools first, then the service's and the
# tests' packages built with those (no isolated build fetching its own), then the project itself,
# editable; its dependencies are all in the lock already.
define fresh-venv
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/pip install -q --require-hashes -r requirements-build.lock
	$(BIN)/pip install -q --require-hashes --no-build-isolation -r $(1)
	$(BIN)/pip install -q --no-build-isolation --no-deps -e .
endef

venv: $(BIN)/.installed
$(BIN)/.installed: pyproject.toml requirements-build.lock requirements-test.lock
	$(call fresh-venv,requirements-test.lock)
	touch $@

# `make run`'s venv: the service's lock alone (what the .deb installs), no test tools; a venv
# `make venv` made (it has them all) is only brought up to date, by its own rule.
run-venv: $(BIN)/.service-installed
$(BIN)/.service-installed: pyproject.toml requirements-build.lock requirements.lock $(wildcard $(BIN)/.installed)
	$(if $(wildcard $(BIN)/.installed),,$(call fresh-venv,requirements.lock))
	touch $@

lock:                          ## refresh the locks after a change to pyproject.toml's dependencies
	scripts/lock $(ARGS)

lint: venv                     ## the rules, the format and the types, as CI checks them
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

deb:                           ## build vodtender_*.deb from a clean copy of the tree (prints its path, under /var/tmp)
	packaging/build-deb

bench: venv
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .mypy_cache .hypothesis
