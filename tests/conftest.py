"""pytest setup shared by every test file under tests/.

JAX's persistent compilation cache is off unless `AMP_PPO_TEST_JAX_CACHE`
names a directory: the test process crashed inside XLA twice while writing
or reading it (most likely for want of memory mappings, not because of the
cache; BUILD_NOTES, "Compilation cache and the test processes"), and it was
not re-enabled without a run to show it safe. CI pays for compiling each
parity pair's program twice.

With `AMP_PPO_TEST_JAX_CACHE=DIR`, a developer's repeated runs reuse
compiled programs: the second trainer of a parity pair (upstream Brax and
amp_ppo lower the same configuration to the same program), subprocess tests
(they inherit `JAX_COMPILATION_CACHE_DIR`) and later runs. A cached
executable is the same binary as a fresh compile, so results are
unaffected.
"""

import os

import jax

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
