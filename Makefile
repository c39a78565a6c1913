# cartsim: `make demo` sets everything up and runs the quickstart; `make test` runs the test suite.
# Both create .venv on first use and only reinstall when pyproject.toml changes.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
DEMO_OUT := results/quickstart

# Optional dependency groups (pyproject.toml) that `make test` installs, comma-separated.
EXTRAS := dev,viz,dask,calibration

# Stamps of what is installed in $(VENV), redone when pyproject.toml changes: cartsim alone (all
# `make demo` needs), cartsim with $(EXTRAS) (for tests), cartsim with the browser page, and the
# page's browser files for offline use.
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
VIZ_STAMP := $(VENV)/.installed-viz
ASSETS_STAMP := $(VENV)/.viz-assets

# A Python >= 3.12: $(PYTHON) if given, else python3.12 / python3.13 / python3 on PATH, else pyenv's.
FIND_PYTHON = scripts/find-python

.PHONY: demo test venv viz viz-assets chromium params clean help bench validation-report

help:
	@echo "make demo        set up .venv, run configs/quickstart.yaml into $(DEMO_OUT)/"
	@echo "make test        set up .venv (with $(EXTRAS)), Chromium and the page's files; run all tests"
	@echo "make viz         serve the teaching page at http://127.0.0.1:8765/ (works offline)"
	@echo "make viz-assets  fetch the page's browser files once (needs npm), for use without internet"
	@echo "make bench       run the speed benchmarks in benchmarks/"
	@echo "make params      regenerate docs/parameters.md from the config schema"
	@echo "make validation-report  rerun the validation scenarios at realistic scale into docs/validation.md (~15 min)"
	@echo "make clean       remove .venv and results/"

$(PY):
	@py="$$($(FIND_PYTHON))" || exit 1; \
	echo "creating $(VENV) with $$py"; \
	"$$py" -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	@touch $@

$(TEST_STAMP): pyproject.toml Makefile | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	@touch $@ $(STAMP)

$(VIZ_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[viz]'
	@touch $@ $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/cartsim run configs/quickstart.yaml --out $(DEMO_OUT)

# Debian's Chromium for the browser test (the test drives it with Playwright; Playwright's own
# browser download is never used).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; \
	  elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; \
	  else echo "error: the browser test needs Chromium. As root, run: apt-get update && apt-get install -y chromium" >&2; exit 1; fi; \
	  echo "installing Debian's chromium"; \
	  $$sudo apt-get update -qq && $$sudo apt-get install -y -qq chromium >/dev/null || exit 1; \
	  command -v chromium >/dev/null 2>&1 || { echo "error: chromium was installed but is not on the PATH" >&2; exit 1; }; }

# The page's browser files, fetched once with npm into Solara's asset cache in $(VENV).
$(ASSETS_STAMP): $(VIZ_STAMP)
	$(VENV)/bin/cartsim viz --prepare-offline
	@touch $@

viz-assets: $(ASSETS_STAMP)

viz: $(VIZ_STAMP) $(ASSETS_STAMP)
	$(VENV)/bin/cartsim viz

test: $(TEST_STAMP) chromium $(ASSETS_STAMP)
	$(PY) -m pytest -n 2 --dist loadfile

bench: $(STAMP) $(VIZ_STAMP)
	$(PY) benchmarks/bench_core.py
	$(PY) benchmarks/bench_viz.py
	$(PY) benchmarks/bench_engine.py
	$(PY) benchmarks/bench_fields.py

params: $(STAMP)
	$(VENV)/bin/cartsim params > docs/parameters.md

clean:
	rm -rf $(VENV) results

validation-report: $(STAMP)
	$(VENV)/bin/cartsim validation-report --out docs --scale realistic
