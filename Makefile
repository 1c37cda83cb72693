# Two commands for a fresh machine: `make demo` and `make test` (see README).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test install prereqs test-fast test-spark test-browser bench clean

$(STAMP): pyproject.toml
	@PYTHON=$(PYTHON) scripts/prereqs.sh
	@echo "==> creating $(VENV) and installing the site (pinned in pyproject.toml)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: install
	@echo "==> migrating the database (demo contracts load with the migrations)"
	@$(PY) manage.py migrate --noinput
	@$(PY) manage.py load_demo_contracts
	@$(PY) manage.py ensure_admin
	@echo "==> starting the site on http://$(HOST):$(PORT)/ (HTTP and websockets; Ctrl-C stops it)"
	@$(PY) manage.py runserver $(HOST):$(PORT)

test: install
	@scripts/prereqs.sh browser
	@echo "==> tests: contracts, registry, Spark, consumers and views"
	@$(PY) -m pytest -m "not browser"
	@echo "==> tests: real Chromium (own pytest run: Playwright's event loop must not leak into async tests)"
	@$(PY) -m pytest -m browser

test-fast: install
	@$(PY) -m pytest -m "not spark and not browser"

bench: install
	@$(PY) bench/run_all.py

clean:
	rm -rf var/data var/checkpoints var/test-artifacts
