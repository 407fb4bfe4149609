# Kehu — two commands for a fresh machine:
#   make demo   set up .venv, generate the demo company, import it through `kehu import`, run, serve
#   make test   set up .venv (with test tools, PostgreSQL and Spark wheels) and run the whole test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
KEHU   := $(VENV)/bin/kehu

.PHONY: demo test lint venv clean

$(VENV)/.installed-base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip setuptools wheel
	$(PIP) install --quiet -e '.[postgres,churn]'
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed-base
	$(PIP) install --quiet -e '.[postgres,spark,churn,test]'
	touch $@

venv: $(VENV)/.installed-base

demo: $(VENV)/.installed-base
	$(KEHU) demo $(DEMO_ARGS)

test: $(VENV)/.installed-test
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) .kehu .pytest_cache .mypy_cache .ruff_cache
