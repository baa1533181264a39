# Streaming Completions Lab: `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The tutorial and its tests run on the embedded (offline) backend unless told otherwise:
# `make lab TUTORIAL_BACKEND=auto` picks OPENAI_BASE_URL / OPENAI_API_KEY when set.
TUTORIAL_BACKEND ?= embedded
export TUTORIAL_BACKEND
LAB_ARGS ?=
# JupyterLab refuses to run as root (containers, CI) unless told it may.
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install lab test lint typecheck pytest notebooks bench clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-10s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV) || { echo "Could not create $(VENV): on Debian or Ubuntu, install python3-venv first." >&2; exit 1; }

# Reinstalls whenever pyproject.toml changes.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@# An editable install skips pyproject's data-files: put the JupyterLab setting in place.
	install -D -m 644 jupyter-settings/overrides.d/streaming-completions-lab.json \
		$(VENV)/share/jupyter/lab/settings/overrides.d/streaming-completions-lab.json
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install the tutorial with its test tools

lab: $(STAMP) ## Launch JupyterLab on the notebooks (embedded backend); extra args via LAB_ARGS="..."
	$(VENV)/bin/jupyter lab notebooks/01_plain_response.ipynb $(LAB_ROOT) $(LAB_ARGS)

lint: $(STAMP) ## ruff check
	$(VENV)/bin/ruff check .

typecheck: $(STAMP) ## mypy --strict on helpers
	$(VENV)/bin/mypy helpers

pytest: $(STAMP) ## The pytest suites (unit, server, nbval replay, browser)
	$(PY) -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest ## Set up and run the whole test suite

notebooks: $(STAMP) ## Regenerate every committed notebook output on the embedded backend
	$(PY) -m helpers notebooks

bench: $(STAMP) ## Run the benchmarks and print their figures
	$(PY) -m bench

clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
