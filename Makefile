# Quick start: `make demo` trains the bundled default demo; `make test` runs
# the test suite. Both create .venv and install what they need first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test

$(INSTALLED): setup.py third_party/brax_ppo_vendored/UPSTREAM.json
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,playground,motion]"
	touch $(INSTALLED)

demo: $(INSTALLED)
	$(BIN)/python -m amp_ppo.main

# Two pytest processes: one running the whole suite crashed inside XLA at
# the same test, 83 % in, most likely past the kernel's limit of memory
# mappings per process (BUILD_NOTES, "Compilation cache and the test
# processes"); the training-run tests get a process of their own.
test: $(INSTALLED)
	$(BIN)/python -m amp_ppo.vendor check
	$(BIN)/python -m pytest tests -q --durations=5 \
	    --ignore=tests/integration --ignore=tests/run
	$(BIN)/python -m pytest tests/integration tests/run -q --durations=10
