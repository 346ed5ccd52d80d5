"""pytest setup shared by every test file under tests/.

Enables JAX's persistent compilation cache so an XLA program is compiled once
and then reused: by the second trainer of a parity pair (upstream Brax and
amp_ppo lower the same configuration to the same program), by subprocesses that
read `JAX_COMPILATION_CACHE_DIR`, and by later test runs. A cached executable
is the same binary as a fresh compile, so results are unaffected.

An existing `JAX_COMPILATION_CACHE_DIR` is respected; otherwise the cache lives
in the system temp directory.
"""

import os
import tempfile

import jax

_CACHE_DIR_NAME = 'amp_ppo_jax_cache'
if hasattr(os, 'getuid'):  # The temp directory may be shared between users.
  _CACHE_DIR_NAME += f'_{os.getuid()}'

jax.config.update(
    'jax_compilation_cache_dir',
    os.environ.get('JAX_COMPILATION_CACHE_DIR')
    or os.path.join(tempfile.gettempdir(), _CACHE_DIR_NAME))
jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)
