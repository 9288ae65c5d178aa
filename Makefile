# Two commands do all set-up: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
BIN := $(VENV)/bin
VENDOR := src/wangge/web/static/vendor

.PHONY: demo test install lint bench clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

$(BIN)/wangge: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen
	@touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

$(VENDOR)/.stamp: node_modules/.package-lock.json
	mkdir -p $(VENDOR)/leaflet $(VENDOR)/echarts $(VENDOR)/htmx
	cp -r node_modules/leaflet/dist/. $(VENDOR)/leaflet/
	cp node_modules/echarts/dist/echarts.min.js $(VENDOR)/echarts/
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/htmx/
	@touch $@

install: $(BIN)/wangge $(VENDOR)/.stamp

demo: install
	$(BIN)/wangge demo

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/divisions.py
	$(BIN)/python bench/locate.py
	$(BIN)/python bench/stream.py
	$(BIN)/python bench/intake.py  # PostgreSQL and wrk (apt-get install wrk)
	$(BIN)/python bench/intake_floor.py
	$(BIN)/python bench/fanout.py
	$(BIN)/python bench/registry_load.py
	$(BIN)/python bench/registry_query.py

clean:
	rm -rf $(VENV) .tools node_modules $(VENDOR) var
