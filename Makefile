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

# A new folder each time (amp_runs/default, then default-2, -3, ...), so that
# a second make demo trains again instead of refusing the first run's folder.
demo: $(INSTALLED)
	$(BIN)/python -m amp_ppo.main --new_workdir

# Two pytest worker processes (pytest-xdist), a test file each at a time:
# the 2 cores compile two files' training runs side by side, and no process
# holds the whole suite's compiled code (one process for everything crashed
# inside XLA 83 % in, most likely past the kernel's limit of memory mappings
# per process; BUILD_NOTES, "Compilation cache and the test processes").
#
# The two processes, and the subprocesses tests start, share one JAX
# compilation cache that starts empty in a new folder and is removed at the
# end: a program compiled once (the two trainers of a parity pair, a run and
# its resumed continuation) is read back by the other tests that compile it
# again. AMP_PPO_TEST_JAX_CACHE=DIR keeps it in DIR across runs instead.
test: $(INSTALLED)
	$(BIN)/python -m amp_ppo.vendor check
	@cache="$${AMP_PPO_TEST_JAX_CACHE:-$$(mktemp -d -t amp_ppo_test_jax_cache.XXXXXX)}"; \
	  echo "JAX compilation cache for this run: $$cache"; \
	  AMP_PPO_TEST_JAX_CACHE="$$cache" $(BIN)/python -m pytest tests -q -n 2 \
	    --dist loadfile --durations=15; status=$$?; \
	  if [ -z "$$AMP_PPO_TEST_JAX_CACHE" ]; then rm -rf "$$cache"; fi; \
	  exit $$status
