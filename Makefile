# The two commands: `make run` and `make test`. Everything else is set up by them.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check --quiet

.PHONY: run test test-fast migrate bench clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt node_modules/.installed
	$(PIP) install -r requirements-dev.txt
	touch $@

# axe-core, for the browser tests' accessibility check (package.json); nothing of it is served.
node_modules/.installed: package.json
	npm install --no-audit --no-fund --silent
	touch $@

run: $(VENV)/.installed
	$(PY) -m webhook_app.run_local

migrate: $(VENV)/.installed
	$(PY) -m jobs.migrate

test: $(VENV)/.installed-dev
	$(PY) -m pytest $(PYTEST_ARGS)

# Everything but the tests marked slow (browsers, nginx, subprocesses, stopped servers): under a minute.
test-fast: $(VENV)/.installed-dev
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache

bench-dashboard: $(VENV)/.installed-dev
	$(PY) -m bench.dashboard

# Every benchmark (bench/run.py): makes bench/.venv for the reference systems, names missing tools.
# BENCH_ARGS=--quick for a smoke run, BENCH_ARGS="--only drain,latency" for some.
bench: $(VENV)/.installed-dev
	$(PY) -m bench.run $(BENCH_ARGS)
