"""Runs the unmodified upstream Brax PPO trainer on JAX 0.10, for comparison.

Brax 0.14.2's `brax.training.agents.ppo.train.train` calls
`jax.device_put_replicated`, which JAX 0.10 removed, so upstream PPO raises
`AttributeError` on this JAX. The vendored trainer calls
`amp_ppo.jax_compat.device_put_replicated` instead. To compare the two, this
module supplies the missing function on the `jax` module only for the duration
of an upstream call and removes it again afterwards; Brax's files are never
touched.

The module also holds the comparison helpers used by the parity tests and by
`multidevice_parity_script.py`: bitwise comparison of pytrees and comparison of
metrics dicts that skips timing-dependent entries.
"""

import contextlib
from typing import Any, Iterator, List, Mapping

from amp_ppo import jax_compat
from brax.training.agents.ppo import train as brax_ppo_train
import jax
import numpy as np

_SHIMMED_NAME = 'device_put_replicated'
_ABSENT = object()

# Metrics whose values depend on wall-clock time rather than on the
# computation: their keys must match, their values cannot.
TIMING_METRIC_SUFFIXES = ('sps', 'walltime', 'epoch_eval_time')


@contextlib.contextmanager
def device_put_replicated_shim() -> Iterator[None]:
  """Temporarily sets `jax.device_put_replicated` to the amp_ppo replacement.

  Whatever the attribute was before (normally absent on JAX 0.10) is put back
  on exit, including when the body raises.

  Yields:
    None.
  """
  previous = vars(jax).get(_SHIMMED_NAME, _ABSENT)
  setattr(jax, _SHIMMED_NAME, jax_compat.device_put_replicated)
  try:
    yield
  finally:
    if previous is _ABSENT:
      delattr(jax, _SHIMMED_NAME)
    else:
      setattr(jax, _SHIMMED_NAME, previous)


def shim_is_active() -> bool:
  """Whether `jax.device_put_replicated` currently resolves to anything."""
  return hasattr(jax, _SHIMMED_NAME)


def train(*args, **kwargs):
  """Calls upstream `brax...ppo.train.train` with the shim in place.

  Args:
    *args: positional arguments of Brax `ppo.train`.
    **kwargs: keyword arguments of Brax `ppo.train`.

  Returns:
    Whatever upstream returns: (make_policy, params, metrics).
  """
  with device_put_replicated_shim():
    return brax_ppo_train.train(*args, **kwargs)


def tree_differences(expected: Any, actual: Any) -> List[str]:
  """Lists every way in which `actual` is not bitwise identical to `expected`.

  Trees must have the same structure (including container and node types);
  each pair of leaves must have the same dtype and shape, compare equal with
  `np.array_equal`, and have the same bytes (which also tells -0.0 from 0.0
  and compares NaN payloads).

  Args:
    expected: reference pytree.
    actual: pytree to check.

  Returns:
    Human-readable descriptions of the differences; empty if identical.
  """
  expected_leaves, expected_def = jax.tree_util.tree_flatten_with_path(
      expected)
  actual_leaves, actual_def = jax.tree_util.tree_flatten_with_path(actual)
  if expected_def != actual_def:
    return [f'tree structure differs:\n  {expected_def}\nvs\n  {actual_def}']
  differences = []
  for (path, want), (_, got) in zip(expected_leaves, actual_leaves):
    name = jax.tree_util.keystr(path) or '<root>'
    want, got = np.asarray(want), np.asarray(got)
    if want.dtype != got.dtype:
      differences.append(f'{name}: dtype {want.dtype} != {got.dtype}')
    elif want.shape != got.shape:
      differences.append(f'{name}: shape {want.shape} != {got.shape}')
    elif not np.array_equal(want, got) or want.tobytes() != got.tobytes():
      unequal = int(np.sum(want != got))
      differences.append(
          f'{name}: {unequal} of {want.size} elements differ, e.g. expected'
          f' {want.ravel()[:4]} got {got.ravel()[:4]}')
  return differences


def is_timing_metric(key: str) -> bool:
  return key.endswith(TIMING_METRIC_SUFFIXES)


def metrics_differences(expected: Mapping[str, Any],
                        actual: Mapping[str, Any]) -> List[str]:
  """Compares two metrics dicts: same keys, bitwise-equal non-timing values."""
  if set(expected) != set(actual):
    return [
        f'metric keys differ: only in expected'
        f' {sorted(set(expected) - set(actual))}, only in actual'
        f' {sorted(set(actual) - set(expected))}'
    ]
  differences = []
  for key in sorted(expected):
    if is_timing_metric(key):
      continue
    differences.extend(
        f'{key}: {d}' for d in tree_differences(expected[key], actual[key]))
  return differences
