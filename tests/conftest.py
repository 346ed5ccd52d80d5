"""pytest setup shared by every test file under tests/.

Enables JAX's persistent compilation cache so an XLA program is compiled once
and then reused: by the second trainer of a parity pair (upstream Brax and
amp_ppo lower the same configuration to the same program), by subprocesses that
read `JAX_COMPILATION_CACHE_DIR`, and by later test runs. A cached executable
is the same binary as a fresh compile, so results are unaffected.

An existing `JAX_COMPILATION_CACHE_DIR` is respected (`.ci/run` gives every
CI run a fresh one of its own, so no other process on the machine writes
into it); otherwise the cache lives in the system temp directory.

Programs that compile in under `_MIN_COMPILE_SECONDS` are not written: they
are thousands of one-op eager programs that cost more to serialise than to
compile again, and every write is a call into XLA's executable serialiser,
where a cold-cache run once aborted (BUILD_NOTES, "Compilation cache").
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
_MIN_COMPILE_SECONDS = 0.1
jax.config.update('jax_persistent_cache_min_compile_time_secs',
                  _MIN_COMPILE_SECONDS)
