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
	$(BIN)/python -m pip install --quiet -e ".[test,playground]"
	touch $(INSTALLED)

demo: $(INSTALLED)
	$(BIN)/python -m amp_ppo.main

# Two pytest processes: one process running the whole suite crashed inside
# XLA (twice, at the same test, 83 % in; BUILD_NOTES, "Compilation cache"),
# while each half passes; the training runs get a process of their own.
test: $(INSTALLED)
	$(BIN)/python -m amp_ppo.vendor check
	$(BIN)/python -m pytest tests -q --durations=5 \
	    --ignore=tests/integration --ignore=tests/run
	$(BIN)/python -m pytest tests/integration tests/run -q --durations=10
