# `make demo` and `make test` do everything on a fresh machine: virtualenv, pinned
# dependencies, etcd and the resource agents when missing, then the demo or the tests.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup demo test lint bench clean

$(VENV)/.installed: pyproject.toml requirements.lock scripts/install-deps.sh
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	bash scripts/install-deps.sh $(VENV)
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/vigil demo

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy

# `make drill`: the whole failure-drill suite against network-namespace labs (root).
# Report: $(DRILL_REPORT)/report.html (and .md, results.json). See docs/drills.md.
DRILL_REPORT ?= drill-report
.PHONY: drill
drill: setup
	$(VENV)/bin/vigil drill run --suite --report $(DRILL_REPORT)

bench: setup
	$(PY) bench/failover.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
