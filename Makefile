# Everything a developer or CI runs goes through one target here. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENDOR := static/vendor

.PHONY: help install run test test-multihost test-fast lint fmt typecheck check migrate migration downgrade seed seed-bulk clean browser nginx screenshots

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[1m%-12s\033[0m %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

$(VENDOR)/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/htmx.min.js
	cp node_modules/htmx-ext-ws/dist/ws.min.js $(VENDOR)/htmx-ext-ws.min.js
	cp node_modules/@picocss/pico/css/pico.min.css $(VENDOR)/pico.min.css
	@touch $@

install: $(VENV)/.installed $(VENDOR)/.installed ## Create .venv, install Python and front-end packages

run: install ## Run the whole product: embedded PostgreSQL + Redis (unless URLs are set), web, worker, cron
	$(PY) -m blog.devserver

browser: ## Make sure Debian's Chromium is there for the browser tests (installs it when we can)
	@bash scripts/ensure-chromium

nginx: ## Make sure Debian's nginx is there for the deploy/ tests (installs it when we can)
	@bash scripts/ensure-nginx

test: install browser nginx ## Run the whole test suite (embedded services, or TEST_DATABASE_URL / TEST_REDIS_URL)
	$(PY) -m pytest $(PYTEST_ARGS)

test-multihost: install nginx ## Only the multi-host test: the product on network namespaces behind nginx (root)
	$(PY) -m pytest tests/multihost $(PYTEST_ARGS)

test-fast: install ## Run the suite without the browser tests
	$(PY) -m pytest -m 'not e2e' $(PYTEST_ARGS)

lint: install ## ruff check + ruff format --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: install ## Format and autofix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: install ## mypy on blog/
	$(VENV)/bin/mypy

check: lint typecheck test ## Everything CI cares about

migrate: install ## Apply migrations to the configured (or embedded) database
	$(PY) -m blog.devserver --migrate-only

migration: install ## Autogenerate a migration: make migration m="add posts"
	$(PY) -m blog.devserver --flask db migrate -m "$(m)"

downgrade: install ## Undo the newest migration
	$(PY) -m blog.devserver --flask db downgrade

seed: install ## Create the demo data (idempotent)
	$(PY) -m blog.devserver --flask seed-demo

screenshots: install browser ## The gallery: main pages at 1280/390 px, light/dark, into docs/screenshots/ (BLOG_URL=… to shoot a running site)
	$(PY) scripts/screenshots.py $(if $(BLOG_URL),--url $(BLOG_URL))

# Bulk data for benchmarks: make seed-bulk ARGS="--users 100000 --posts 1000000" (--seed N,
# --append; see `make seed-bulk ARGS=--help`). On the embedded PostgreSQL unless DATABASE_URL is set.
seed-bulk: install ## Fill an empty database with volume through COPY (default 200 users, 20,000 posts)
	$(PY) -m blog.devserver --migrate-only
	$(PY) -m blog.devserver --flask seed-bulk $(ARGS)

clean: ## Remove .venv, node_modules, static/vendor (keeps var/ data)
	rm -rf $(VENV) node_modules $(VENDOR) .pytest_cache .mypy_cache .ruff_cache
