"""pytest setup shared by every test file under tests/.

JAX's persistent compilation cache is on when `AMP_PPO_TEST_JAX_CACHE`
names a directory, as `make test` does with a new, empty one for each run
(BUILD_NOTES, "Compilation cache and the test processes"). Programs are then
compiled once per run and read back wherever they recur: the second trainer
of a parity pair (upstream Brax and amp_ppo lower the same configuration to
the same program), a run and its resumed continuation, subprocess tests
(they inherit `JAX_COMPILATION_CACHE_DIR`). A cached executable is the same
binary as a fresh compile, so results are unaffected. Without the variable
(a bare `pytest`), nothing is cached.
"""

import gc
import os

import jax
import pytest

from amp_ppo.robots import gl_backend

# mujoco reads MUJOCO_GL when first imported, so the backend that renders is
# chosen here, before any test module imports mujoco; pytest's workers and
# subprocess tests inherit the answer.
gl_backend.choose()

_CACHE_DIR = os.environ.get('AMP_PPO_TEST_JAX_CACHE', '')

if _CACHE_DIR:
  os.environ['JAX_COMPILATION_CACHE_DIR'] = _CACHE_DIR  # for subprocesses
  jax.config.update('jax_compilation_cache_dir', _CACHE_DIR)
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.1)
else:
  os.environ.pop('JAX_COMPILATION_CACHE_DIR', None)
  jax.config.update('jax_enable_compilation_cache', False)


@pytest.fixture(scope='module', autouse=True)
def _release_compiled_programs():
  """Drops JAX's in-memory compiled programs after each test file.

  XLA maps memory for every executable the jit caches keep alive, and a
  worker past the kernel's 65,530 mappings crashes inside XLA (BUILD_NOTES,
  "Compilation cache and the test processes"); a later file that compiles
  the same program reads it back from the run's compilation cache.
  """
  yield
  jax.clear_caches()
  gc.collect()
