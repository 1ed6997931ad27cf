# promo: `make run` serves the demo on http://127.0.0.1:8000, `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROMO := $(BIN)/promo
STAMP := $(VENV)/.installed

.PHONY: install run serve test test-pg tour screenshots bench bench-tools clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Install, migrate, load the demo data and train the models (first time only), create
## demo keys and web app accounts (first time only), serve.
run: install
	$(PROMO) db upgrade
	$(PROMO) demo load --if-empty
	$(PROMO) train --if-missing
	$(PROMO) keys demo
	$(PROMO) users demo
	$(MAKE) --no-print-directory serve

serve: install
	@echo "promo: serving on http://$${PROMO_BIND:-127.0.0.1:8000} (API docs at /docs); Ctrl-C stops"
	$(BIN)/gunicorn -c config/gunicorn.conf.py

## The whole suite on SQLite.
test: install
	$(BIN)/pytest -q

## The whole suite on a throwaway PostgreSQL cluster.
test-pg: install
	.ci/with-postgres $(BIN)/pytest -q

## The README's tour, as written, against a real server on the demo data (a fresh SQLite
## database: migrate, load, train, then the tour twice; about 4 minutes).
tour: install
	$(BIN)/python -m tests.readme_tour

## The web app's screenshots in docs/screenshots, taken by its browser test (needs Debian's
## chromium: apt-get install chromium).
screenshots: install
	PROMO_SCREENSHOTS=1 $(BIN)/pytest -q tests/browser -k build_refuse

## Benchmarks on SQLite (see docs/benchmarks.md for PostgreSQL and the figures).
bench: install bench-tools
	$(BIN)/python bench/demo_load.py
	$(BIN)/python bench/stock.py
	$(BIN)/python bench/stock_sqlite_layout.py
	$(BIN)/python bench/personalisation.py
	$(BIN)/python bench/cli_startup.py
	$(BIN)/python bench/offers.py

## Tools the benchmarks need beyond the virtualenv: wrk (bench/offers.py), from Debian.
bench-tools:
	command -v wrk >/dev/null || apt-get install -y wrk

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
