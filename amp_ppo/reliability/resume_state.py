"""The resume state: what exact resume needs beyond Brax's checkpoint.

Brax's checkpoint holds only (observation normaliser, policy, value) params:
enough to warm-start a policy, not to continue a run exactly. Exact resume
also needs PPO's optimiser state, the environment states, the host-side PRNG
keys, the loop position and, with AMP, the AMP state. This module saves all
of that but the AMP state (in `amp_state/` beside it, not duplicated) as
`resume_state/` inside Brax's step directory, with orbax, last: a step
directory holding it is complete (see amp_ppo/reliability/checkpoint.py for
the layout and format).

It holds a configuration fingerprint, and resuming with a different
configuration fails with a list of the differences, and the orbax commit
time of the step directory's AMP state, which must match.
"""

import dataclasses
import enum
import functools
import hashlib
import os
import types
from typing import Any, Dict, List, Tuple

from absl import logging
import jax
import numpy as np

from amp_ppo.reliability import checkpoint


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


# How deep `settings` follows objects held by objects (an environment's
# wrapped environment, a config inside it).
_SETTINGS_DEPTH = 3


def settings(value: Any, name: str) -> Dict[str, str]:
  """`name` -> description, one entry per setting of an object.

  An environment is what its attributes make it (reward weights, command
  ranges, a Playground config, the physics model), so each becomes an entry
  named by its path (`environment._config.reward_config.scales.tracking`),
  and a resume with another value names it. Configs and dicts are followed
  key by key, objects (a Brax or MJX model too) attribute by attribute, a
  pytree of arrays deeper than that is one digest, everything else is
  `describe`d.
  """
  found = {}
  _collect_settings(value, name, _SETTINGS_DEPTH, found)
  return found


def _collect_settings(value: Any, name: str, depth: int,
                      found: Dict[str, str]) -> None:
  if hasattr(value, 'to_dict') and callable(value.to_dict):
    value = value.to_dict()  # ml_collections.ConfigDict
  if isinstance(value, dict) and depth > 0:
    found[name] = 'dict'
    for key, item in value.items():
      _collect_settings(item, f'{name}.{key}', depth, found)
    return
  attributes = getattr(value, '__dict__', None)
  if (attributes is not None and depth > 0 and not callable(value) and
      not isinstance(value, (type, enum.Enum, types.ModuleType))):
    found[name] = describe(value)  # Its class.
    for key in sorted(attributes):
      _collect_settings(attributes[key], f'{name}.{key}', depth - 1, found)
    return
  leaves = _array_leaves(value)
  if leaves is not None:  # Deeper than followed: one digest.
    digest = hashlib.sha256()
    for leaf in leaves:
      digest.update(f'{leaf.shape}{leaf.dtype}'.encode())
      digest.update(np.ascontiguousarray(leaf).tobytes())
    found[name] = f'pytree of {len(leaves)} arrays:{digest.hexdigest()[:16]}'
  elif isinstance(value, types.ModuleType):
    found[name] = value.__name__
  else:
    found[name] = describe(value)


def _array_leaves(value: Any):
  """The leaves of a pytree of arrays (a dataclass of them), else None."""
  if isinstance(value, (np.ndarray, jax.Array)) or not (
      dataclasses.is_dataclass(value) or hasattr(value, 'tree_flatten')):
    return None
  leaves = jax.tree_util.tree_leaves(value)
  if not leaves or not all(isinstance(leaf, (np.ndarray, np.generic,
                                             jax.Array)) for leaf in leaves):
    return None
  return [np.asarray(leaf) for leaf in leaves]


def fingerprint_differences(saved: Dict[str, str],
                            current: Dict[str, str]) -> List[str]:
  lines = []
  for name in sorted(set(saved) | set(current)):
    before, now = saved.get(name, '(absent)'), current.get(name, '(absent)')
    if before != now:
      lines.append(f'{name}: checkpoint {before}, now {now}')
  return lines


# -- the resume state of a step directory -----------------------------------


def write(step_dir: str, trees: Dict[str, checkpoint.Leaves],
          meta: Dict[str, Any], per_process: Tuple[str, ...] = ()) -> None:
  """Saves the resume state, the last part of the step directory.

  With several processes every process calls it; `per_process` names the
  trees each process saves its own values of (see `checkpoint.save`).
  """
  checkpoint.save(os.path.join(step_dir, checkpoint.RESUME_STATE), trees,
                  meta, per_process=per_process)


def read(step_dir: str) -> Tuple[Dict[str, checkpoint.Leaves],
                                 Dict[str, Any]]:
  """(pytrees, JSON values) of the step directory's resume state."""
  return checkpoint.load(os.path.join(step_dir, checkpoint.RESUME_STATE))


def find_latest(path: str) -> Tuple[str, Dict[str, checkpoint.Leaves],
                                    Dict[str, Any]]:
  """The newest complete checkpoint at `path` and its resume state.

  Args:
    path: a `save_checkpoint_path` (the newest complete step directory whose
      resume state reads back is taken; newer ones were interrupted mid-save
      or are damaged, and are skipped with a warning), or one step directory.

  Returns:
    (step directory, pytrees, JSON values).

  Raises:
    ValueError: no complete checkpoint is there, or the newest one was
      written by an amp_ppo before orbax.
  """
  path = os.fspath(path)
  if not os.path.isdir(path):
    raise ValueError(f'resume_checkpoint_path={path!r} is not a directory.')
  candidates = [path] + [d for _, d in checkpoint.step_directories(path)][::-1]
  skipped = []
  for step_dir in candidates:
    checkpoint.check_layout(step_dir)
    if not checkpoint.is_complete(step_dir):
      if step_dir != path:
        skipped.append(f'{step_dir} (incomplete: no {checkpoint.RESUME_STATE}'
                       '/)')
      continue
    try:
      trees, meta = read(step_dir)
    except ValueError as e:
      skipped.append(f'{step_dir} ({e})')
      continue
    if skipped:
      logging.warning('Resuming from %s; skipped newer step directories: %s',
                      step_dir, '; '.join(skipped))
    return step_dir, trees, meta
  raise ValueError(
      f'resume_checkpoint_path={path!r} holds no complete amp_ppo checkpoint '
      f'(a step directory with {checkpoint.RESUME_STATE}/). Checkpoints are '
      'written with save_checkpoint_path, and hold the full training state '
      'with AMP or with save_resume_state=True.' +
      (' Skipped: ' + '; '.join(skipped) if skipped else ''))
