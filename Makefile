# Two commands for a fresh machine: `make demo` and `make test` (see README).
# Python 3.11+: the first of these that is new enough, unless PYTHON=... is given.
PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; exit; }; \
	done; echo python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# pytest exits 5 when it collected nothing: for us that is a failure, and exit codes pass through as they are.
PYTEST := $(PY) -m pytest
# This checkout's own settings (KEY=value lines, the environment wins); `make demo` turns development mode on there.
SITE_ENV := $(or $(DC43_SITE_ENV),$(or $(DC43_VAR_DIR),var)/site.env)

.PHONY: demo demo-cluster site-env test install prereqs lint format test-fast test-spark test-browser bench clean

$(STAMP): pyproject.toml
	@PYTHON=$(PYTHON) scripts/prereqs.sh
	@echo "==> creating $(VENV) with $(PYTHON) and installing the site (versions pinned in pyproject.toml)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -qq --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

prereqs:
	@PYTHON=$(PYTHON) scripts/prereqs.sh

site-env:
	@if [ ! -f "$(SITE_ENV)" ]; then \
		mkdir -p "$(dir $(SITE_ENV))" && echo "DEBUG=true" > "$(SITE_ENV)" && \
		echo "==> development mode for this checkout: wrote DEBUG=true to $(SITE_ENV) (a production site has no such file)"; \
	fi

demo: install site-env
	@PYTHON=$(PYTHON) scripts/prereqs.sh
	@echo "==> migrating the database (the three demo contracts load with the migrations)"
	@$(PY) manage.py migrate --noinput
	@$(PY) manage.py load_demo_contracts
	@echo "==> making sure an admin account exists"
	@$(PY) manage.py ensure_admin
	@echo "==> starting the site on http://$(HOST):$(PORT)/ (HTTP and websockets; Ctrl-C stops it)"
	@$(PY) manage.py runserver $(HOST):$(PORT)

# The Procfile's processes: a Spark master and worker, two web processes over Redis, a runner worker (docs/deploy.md).
demo-cluster: install site-env
	@PYTHON=$(PYTHON) scripts/prereqs.sh redis
	@PYTHON=$(PY) scripts/demo-cluster.sh

lint: install
	@echo "==> ruff: lint and format check (configured in pyproject.toml)"
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .

format: install
	@$(VENV)/bin/ruff check --fix .
	@$(VENV)/bin/ruff format .

test: install lint
	@PYTHON=$(PYTHON) scripts/prereqs.sh redis
	@echo "==> tests: contracts, registry, settings, pages, Spark and consumers (everything but the browser)"
	@$(PYTEST) -m "not browser"
	@scripts/browser-tests.sh $(PY)

test-fast: install
	@echo "==> tests without Spark, a browser or other processes"
	@$(PYTEST) -m "not spark and not browser and not process"

test-spark: install
	@$(PYTEST) -m spark

test-browser: install
	@scripts/browser-tests.sh $(PY)

bench: install
	@echo "==> installing the benchmark peers (the bench extra: Databricks Labs DQX, pandas)"
	@$(PY) -m pip install -qq --disable-pip-version-check -e '.[dev,bench]'
	@$(PY) bench/run_all.py

clean:
	rm -rf var/data var/checkpoints var/test-artifacts
