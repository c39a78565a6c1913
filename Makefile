# cartsim: `make demo` sets everything up and runs the quickstart; `make test` runs the test suite.
# Both create .venv on first use and only reinstall when pyproject.toml changes.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_OUT := results/quickstart

# A Python >= 3.12: $(PYTHON) if given, else python3.12 / python3.13 / python3 on PATH, else pyenv's.
FIND_PYTHON = scripts/find-python

.PHONY: demo test venv params clean help bench

help:
	@echo "make demo    set up .venv, run configs/quickstart.yaml into $(DEMO_OUT)/"
	@echo "make test    set up .venv and run the whole test suite"
	@echo "make bench   run the speed benchmarks in benchmarks/"
	@echo "make params  regenerate docs/parameters.md from the config schema"
	@echo "make clean   remove .venv and results/"

$(PY):
	@py="$$($(FIND_PYTHON))" || exit 1; \
	echo "creating $(VENV) with $$py"; \
	"$$py" -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/cartsim run configs/quickstart.yaml --out $(DEMO_OUT)

test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile

bench: $(STAMP)
	$(PY) benchmarks/bench_core.py

params: $(STAMP)
	$(VENV)/bin/cartsim params > docs/parameters.md

clean:
	rm -rf $(VENV) results
