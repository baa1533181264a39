# Streaming Completions Lab: `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The locks pin every package; `make lock` regenerates them from pyproject.toml.
LESSON_LOCK := requirements/lesson.txt
TEST_LOCK := requirements/test.txt
LESSON_STAMP := $(VENV)/.lesson-installed
STAMP := $(VENV)/.installed
# The tutorial and its tests run on the embedded (offline) backend unless told otherwise:
# `make lab TUTORIAL_BACKEND=auto` picks OPENAI_BASE_URL / OPENAI_API_KEY when set.
TUTORIAL_BACKEND ?= embedded
export TUTORIAL_BACKEND
LAB_ARGS ?=
# JupyterLab refuses to run as root (containers, CI) unless told it may.
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
PYTEST_ARGS ?=
LOCK_ARGS := --universal --python-version 3.11 --quiet --custom-compile-command 'make lock'

.DEFAULT_GOAL := help
.PHONY: help install lab test lint typecheck pytest notebooks bench lock clean mutation

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-10s %s\n", $$1, $$2}'

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { echo "$(PYTHON) is missing or older than 3.11: install Python 3.11 or newer, then run make PYTHON=python3.11 (or the newer one's name)." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV) || { echo "Could not create $(VENV): on Debian or Ubuntu, install python3-venv first." >&2; exit 1; }

# The learner's install: the lesson's lock, then the helpers without resolving anything more.
# Reinstalls whenever the lock or pyproject.toml changes.
$(LESSON_STAMP): $(LESSON_LOCK) pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r $(LESSON_LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	@# An editable install skips pyproject's data-files: put the JupyterLab setting in place.
	install -D -m 644 jupyter-settings/overrides.d/streaming-completions-lab.json \
		$(VENV)/share/jupyter/lab/settings/overrides.d/streaming-completions-lab.json
	touch $(LESSON_STAMP)

# The developer's install adds the test tools, pinned by a lock that agrees with the lesson's.
$(STAMP): $(TEST_LOCK) $(LESSON_STAMP)
	$(PY) -m pip install --quiet -r $(TEST_LOCK)
	$(PY) -m pip check
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install the tutorial with its test tools

lab: $(LESSON_STAMP) ## Launch JupyterLab on the notebooks (embedded backend); extra args via LAB_ARGS="..."
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

lock: $(STAMP) ## Regenerate requirements/*.txt from pyproject.toml, keeping the pins that still fit
	$(VENV)/bin/uv pip compile pyproject.toml $(LOCK_ARGS) -o $(LESSON_LOCK)
	$(VENV)/bin/uv pip compile pyproject.toml $(LOCK_ARGS) --extra test -c $(LESSON_LOCK) -o $(TEST_LOCK)
	@echo "Now copy the pins of $(LESSON_LOCK) into environment.yml's pip: section (tests/test_lock.py checks them)."

# mutmut writes into mutants/ and starts afresh each time; the live view is mutated in its frame
# budget only (_take, _wait, _refresh, _push). The score counts timeouts as killed.
mutation: $(STAMP) ## Mutation testing (mutmut, ~10 min, not in `make test`): docs/mutation.md
	$(PY) -m pip install --quiet -e '.[test,mutation]'
	rm -rf mutants
	PYTHONHASHSEED=0 $(VENV)/bin/mutmut run 'helpers.recorder.*' 'helpers.metrics.*' \
		'helpers.server.auth.*' 'helpers.live.x?LiveView?_take*' 'helpers.live.x?LiveView?_wait*' \
		'helpers.live.x?LiveView?_refresh*' 'helpers.live.x?LiveView?_push*'
	$(VENV)/bin/mutmut results
	@$(PY) -c 'import json, pathlib, re; \
	files = {str(m)[8:-5]: json.loads(m.read_text())["exit_code_by_key"] for m in sorted(pathlib.Path("mutants/helpers").rglob("*.py.meta"))}; \
	files["helpers/live.py"] = {k: v for k, v in files["helpers/live.py"].items() if re.search(r"LiveView.(_take|_wait|_refresh|_push)__", k)}; \
	rows = [*files.items(), ("all", {k: v for c in files.values() for k, v in c.items()})]; \
	killed = lambda c: sum(v in (1, 3, 24, -24, 152, 255, 36) for v in c.values()); \
	[print(f"{name:22} {killed(c):4} killed of {len(c):4}  {100 * killed(c) / max(len(c), 1):5.1f} %") for name, c in rows]'

# Optional, not part of `make test`: the notebooks against llama.cpp's real server, written to
# docs/real-engine.md. llama-cpp-python compiles llama.cpp (cmake, a C++ compiler; about 7 minutes
# on 2 cores) into a venv of its own, once per version, so .venv stays exactly as locked.
LLAMA_CPP_VERSION := 0.3.36
LLAMA_VENV := .venv-llama
LLAMA_PY := $(LLAMA_VENV)/bin/python
LLAMA_STAMP := $(LLAMA_VENV)/.installed-$(LLAMA_CPP_VERSION)
LLAMA_MODEL := $(LLAMA_VENV)/tiny-random-llama.gguf
.PHONY: real-engine

$(LLAMA_STAMP):
	$(PYTHON) -m venv $(LLAMA_VENV)
	$(LLAMA_PY) -m pip install --quiet --upgrade pip
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(LLAMA_PY) -m pip install --quiet \
		'llama-cpp-python[server]==$(LLAMA_CPP_VERSION)' gguf==0.19.0
	touch $@

$(LLAMA_MODEL): helpers/tools/tiny_gguf.py $(LLAMA_STAMP)
	$(LLAMA_PY) -m helpers.tools.tiny_gguf $@

real-engine: $(STAMP) $(LLAMA_MODEL) ## Every notebook against llama.cpp's server, into docs/real-engine.md (optional, not part of `make test`)
	$(PY) -m helpers.tools.real_engine --python $(LLAMA_PY) --model $(LLAMA_MODEL)

clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
