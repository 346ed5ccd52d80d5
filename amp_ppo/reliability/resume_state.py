"""Full training-state checkpoints for exact resume.

Brax's checkpoint holds only (observation normaliser, policy, value) params:
enough to warm-start a policy, not to continue a run exactly. Exact resume
also needs PPO's optimiser state, the environment states, the host-side PRNG
keys, the loop position and, with AMP, the discriminator, its optimiser, the
feature normaliser and the replay buffer. This module stores all of that in
`resume_state.msgpack` inside Brax's step directory
`<save_checkpoint_path>/<step:012d>/`.

The file is written last, atomically, after every other file of the step
directory has been fsynced, so its presence marks the step directory as a
complete checkpoint. It holds a configuration fingerprint, and resuming with
a different configuration fails with a list of the differences. The AMP
state is not duplicated: the file records the sha256 of the step directory's
`amp_state.msgpack`, which must match.

Format: MAGIC, then the sha256 of the body, then the body: flax msgpack (never
pickle) of a dict of plain values and NumPy arrays. Pytrees are stored as
their leaves plus the leaves' key paths, so any pytree (Brax and MJX states,
`info` dicts) round-trips and a structure mismatch is named precisely.
"""

import enum
import functools
import hashlib
import json
import os
import re
from typing import Any, Dict, List, Tuple

from absl import logging
import flax.serialization
import jax
import numpy as np

from amp_ppo import atomic_file

RESUME_FILE = 'resume_state.msgpack'
FORMAT_VERSION = 1
_MAGIC = b'amp_ppo resume state\n'
_DIGEST_SIZE = 32  # sha256
_STEP_DIR = re.compile(r'^\d{12}$')  # Brax's f'{step:012d}'


# -- configuration fingerprint ---------------------------------------------


def describe(value: Any) -> str:
  """A stable, process-independent description of an argument's value."""
  if value is None or isinstance(value, (bool, int, float, str, bytes)):
    return repr(value)
  if isinstance(value, enum.Enum):
    return f'{type(value).__qualname__}.{value.name}'
  if isinstance(value, (tuple, list)):
    return '(' + ', '.join(describe(v) for v in value) + ')'
  if isinstance(value, dict):
    return '{' + ', '.join(f'{describe(k)}: {describe(v)}'
                           for k, v in sorted(value.items(), key=str)) + '}'
  if isinstance(value, functools.partial):
    parts = [describe(value.func)] + [describe(a) for a in value.args] + [
        f'{k}={describe(v)}' for k, v in sorted(value.keywords.items())]
    return 'partial(' + ', '.join(parts) + ')'
  if isinstance(value, (np.ndarray, np.generic, jax.Array)):
    array = np.asarray(value)
    digest = hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()
    return f'array{array.shape}:{array.dtype}:{digest[:16]}'
  if isinstance(value, os.PathLike):
    return repr(os.fspath(value))
  if callable(value) and hasattr(value, '__qualname__'):
    return f'{getattr(value, "__module__", "?")}.{value.__qualname__}'
  kind = type(value)
  return f'<{kind.__module__}.{kind.__qualname__}>'


def fingerprint_differences(saved: Dict[str, str],
                            current: Dict[str, str]) -> List[str]:
  lines = []
  for name in sorted(set(saved) | set(current)):
    before, now = saved.get(name, '(absent)'), current.get(name, '(absent)')
    if before != now:
      lines.append(f'{name}: checkpoint {before}, now {now}')
  return lines


# -- pytrees as leaves + key paths -----------------------------------------


def _is_key_array(x) -> bool:
  return isinstance(x, jax.Array) and jax.dtypes.issubdtype(
      x.dtype, jax.dtypes.prng_key)


def flatten(tree: Any) -> Dict[str, Any]:
  """Host copy of a pytree as {'paths', 'leaves', 'key_impls'}."""
  with_paths, _ = jax.tree_util.tree_flatten_with_path(tree)
  paths, leaves, key_impls = [], {}, {}
  for i, (path, leaf) in enumerate(with_paths):
    paths.append(jax.tree_util.keystr(path))
    if _is_key_array(leaf):
      key_impls[str(i)] = str(jax.random.key_impl(leaf))
      leaf = jax.random.key_data(leaf)
    leaves[str(i)] = np.asarray(jax.device_get(leaf))
  return {'paths': json.dumps(paths), 'leaves': leaves,
          'key_impls': key_impls}


def restore_like(template: Any, flat: Dict[str, Any], replicated: bool,
                 what: str) -> Any:
  """`template` with its leaves replaced by the saved ones.

  Each restored leaf takes the template leaf's dtype, device placement and
  sharding, so the jitted epoch sees exactly what it would in a fresh run and
  does not compile again.

  Args:
    template: the fresh pytree of this run (device arrays).
    flat: what `flatten` stored.
    replicated: the template carries a leading device axis that the saved
      leaves lack (one copy of a replicated state was stored).
    what: name of the state, for error messages.

  Returns:
    The restored pytree.
  """
  with_paths, treedef = jax.tree_util.tree_flatten_with_path(template)
  paths = [jax.tree_util.keystr(p) for p, _ in with_paths]
  saved_paths = json.loads(flat['paths'])
  if paths != saved_paths:
    missing = sorted(set(paths) - set(saved_paths))[:5]
    extra = sorted(set(saved_paths) - set(paths))[:5]
    raise ValueError(
        f'The checkpoint\'s {what} has a different structure from this '
        f'run\'s (fields only in this run: {missing}; only in the checkpoint: '
        f'{extra}); resume with the environment, wrappers and networks it was '
        'written with.')
  key_impls = flat.get('key_impls', {})
  leaves = []
  for i, (path, fresh) in enumerate(with_paths):
    value = flat['leaves'][str(i)]
    is_key = _is_key_array(fresh)
    fresh_data = jax.random.key_data(fresh) if is_key else fresh
    want_shape = fresh_data.shape[1:] if replicated else fresh_data.shape
    if (value.shape != want_shape or value.dtype != fresh_data.dtype or
        is_key != (str(i) in key_impls)):
      raise ValueError(
          f'The checkpoint\'s {what}{jax.tree_util.keystr(path)} is '
          f'{value.dtype}{list(value.shape)}, but this run has '
          f'{fresh_data.dtype}{list(want_shape)}; resume with the settings '
          'and number of devices the checkpoint was written with.')
    if replicated:
      value = np.broadcast_to(value, fresh_data.shape)
    if is_key:
      value = jax.random.wrap_key_data(value, impl=key_impls[str(i)])
    leaves.append(jax.device_put(value, fresh.sharding))
  return jax.tree_util.tree_unflatten(treedef, leaves)


# -- the file --------------------------------------------------------------


def encode(payload: Dict[str, Any]) -> bytes:
  body = flax.serialization.msgpack_serialize(payload)
  return _MAGIC + hashlib.sha256(body).digest() + body


def decode(data: bytes, source: str) -> Dict[str, Any]:
  """The payload of a resume file; ValueError if it is not an intact one."""
  header = len(_MAGIC) + _DIGEST_SIZE
  if len(data) < header or not data.startswith(_MAGIC):
    raise ValueError(f'{source} is not an amp_ppo resume state file.')
  digest, body = data[len(_MAGIC):header], data[header:]
  if hashlib.sha256(body).digest() != digest:
    raise ValueError(f'{source} is corrupt (checksum mismatch).')
  try:
    payload = flax.serialization.msgpack_restore(body)
  except Exception as e:  # msgpack raises several unrelated types.
    raise ValueError(f'{source} is unreadable: {e}') from e
  if not isinstance(payload, dict):
    raise ValueError(f'{source} is not an amp_ppo resume state file.')
  if payload.get('format') != FORMAT_VERSION:
    raise ValueError(
        f'{source} has resume format {payload.get("format")!r}, this amp_ppo '
        f'reads format {FORMAT_VERSION}.')
  return payload


def write(step_dir: str, payload: Dict[str, Any]) -> str:
  """Writes the completion marker of `step_dir`; everything else first."""
  atomic_file.fsync_tree(step_dir)
  path = os.path.join(step_dir, RESUME_FILE)
  atomic_file.atomic_write_bytes(path, encode(payload))
  return path


def read(step_dir: str) -> Dict[str, Any]:
  path = os.path.join(step_dir, RESUME_FILE)
  with open(path, 'rb') as f:
    return decode(f.read(), path)


def step_directories(path: str) -> List[str]:
  """Brax step directories below `path`, newest (highest step) first."""
  names = [n for n in os.listdir(path) if _STEP_DIR.match(n) and
           os.path.isdir(os.path.join(path, n))]
  return [os.path.join(path, n) for n in sorted(names, reverse=True)]


def find_latest(path: str) -> Tuple[str, Dict[str, Any]]:
  """The newest complete checkpoint at `path` and its payload.

  Args:
    path: a `save_checkpoint_path` (the newest step directory holding an
      intact resume file is taken; newer ones without it were interrupted
      mid-save and are skipped), or one step directory.

  Returns:
    (step directory, payload).

  Raises:
    ValueError: no complete checkpoint is there.
  """
  path = os.fspath(path)
  if not os.path.isdir(path):
    raise ValueError(f'resume_checkpoint_path={path!r} is not a directory.')
  if os.path.exists(os.path.join(path, RESUME_FILE)):
    return path, read(path)
  skipped = []
  for step_dir in step_directories(path):
    if not os.path.exists(os.path.join(step_dir, RESUME_FILE)):
      skipped.append(f'{step_dir} (incomplete: no {RESUME_FILE})')
      continue
    try:
      payload = read(step_dir)
    except (OSError, ValueError) as e:
      skipped.append(f'{step_dir} ({e})')
      continue
    if skipped:
      logging.warning('Resuming from %s; skipped newer step directories: %s',
                      step_dir, '; '.join(skipped))
    return step_dir, payload
  raise ValueError(
      f'resume_checkpoint_path={path!r} holds no complete amp_ppo checkpoint '
      f'(a step directory with {RESUME_FILE}). Checkpoints are written with '
      'save_checkpoint_path, and hold the full training state with AMP or '
      'with save_resume_state=True.' +
      (' Skipped: ' + '; '.join(skipped) if skipped else ''))


def file_sha256(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def remove_stale_temp_files(step_dir: str) -> None:
  """Deletes temp files that an interrupted save left in `step_dir`."""
  for name in os.listdir(step_dir):
    if name.startswith(atomic_file.TEMP_PREFIX):
      try:
        os.remove(os.path.join(step_dir, name))
      except OSError:
        pass
