"""amp_ppo's part of a Brax checkpoint step directory, saved with orbax.

Brax writes each checkpoint as `<save_checkpoint_path>/<step:012d>/`: an
orbax PyTree checkpoint of the (normaliser, policy, value) params plus
`ppo_network_config.json`. amp_ppo adds, inside it and after Brax's files:

  <item>/        an extension's state, e.g. amp_state/ with AMP:
                 discriminator, its optimiser, feature normaliser, replay
                 (`amp_ppo.reliability.state_item`);
  resume_state/  with the resume state: the rest of the training loop
                 (`amp_ppo.reliability.resume_state`); written last.

Each is one orbax checkpoint of two items, `arrays` (PyTree) and `meta`
(JSON), committed by orbax's atomic rename of its temporary directory; a
step directory is complete once `resume_state/` exists. Pytrees are stored
as their leaves by key path (`jax.tree_util.keystr`), so any pytree
round-trips (Brax and MJX states, `info` dicts, typed PRNG keys through
`key_data`) and a mismatch on restore names the field. Nothing is pickled.

With several processes (jax.distributed), see
amp_ppo/reliability/multiprocess.py: an extension's state is saved by
process 0 alone, resume_state/ by every process together, each contributing
its own environment states and keys.
"""

import os
import re
import shutil
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from orbax import checkpoint as ocp

from amp_ppo.reliability import multiprocess

RESUME_STATE = 'resume_state'
# 3: the resume state names the extension's state item generically.
FORMAT_VERSION = 3
_STEP_NAME = re.compile(r'^[0-9]{12,}$')  # Brax's f'{step:012d}'
# A pruned step directory is renamed to this prefix, then deleted.
_DELETING = '.deleting-'
# Before orbax (format 1), the same state was two msgpack files.
_OLD_FILES = ('resume_state.msgpack', 'amp_state.msgpack')


# -- step directories ------------------------------------------------------


def step_directories(path: str) -> List[Tuple[int, str]]:
  """(step, path) of Brax's step directories below `path`, oldest first."""
  if not os.path.isdir(path):
    return []
  found = [(int(name), os.path.join(path, name)) for name in os.listdir(path)
           if _STEP_NAME.match(name) and
           os.path.isdir(os.path.join(path, name))]
  return sorted(found)


def is_complete(step_dir: str) -> bool:
  """Whether every part of the step directory's save was committed."""
  # The resume state is saved last, and orbax renames it into place only
  # once all of it is written.
  return os.path.isdir(os.path.join(step_dir, RESUME_STATE))


def check_layout(step_dir: str) -> None:
  """Refuses a step directory that an amp_ppo before orbax wrote into."""
  for name in _OLD_FILES:
    path = os.path.join(step_dir, name)
    if os.path.exists(path):
      raise ValueError(
          f'{path} was written by an earlier amp_ppo, which saved its state '
          'as msgpack files; this one reads orbax checkpoints such as '
          f'{RESUME_STATE}/. Continue that run with the '
          'amp_ppo version that wrote it, or warm-start the policy only: '
          'restore_params=brax.training.agents.ppo.checkpoint.load('
          f'{step_dir!r}) (the discriminator then starts fresh).')


def prune(path: str, keep: int, current: str) -> None:
  """Deletes the oldest complete step directories beyond the newest `keep`.

  Incomplete ones are left alone, and so is `current` (the one just
  written), even when an abandoned run left newer ones.

  Args:
    path: a save_checkpoint_path.
    keep: how many complete step directories to keep.
    current: the step directory this run just completed.
  """
  for name in os.listdir(path):  # Left by a prune that was interrupted.
    if name.startswith(_DELETING):
      shutil.rmtree(os.path.join(path, name), ignore_errors=True)
  complete = [p for _, p in step_directories(path) if is_complete(p)]
  for step_dir in complete[:-keep]:
    if step_dir != current:
      # Renamed first, atomically: never a half-deleted step directory.
      doomed = os.path.join(path, _DELETING + os.path.basename(step_dir))
      os.replace(step_dir, doomed)
      shutil.rmtree(doomed)


# -- pytrees ---------------------------------------------------------------


class Leaves(NamedTuple):
  """A host copy of a pytree's leaves, by key path."""
  arrays: Dict[str, np.ndarray]
  key_impls: Dict[str, str]  # typed PRNG key leaves: their implementation
  # Saved by several processes, each its own values: every array has a
  # leading axis over processes, and a restore takes this process's row.
  per_process: bool = False


def _is_key_array(x) -> bool:
  return isinstance(x, jax.Array) and jax.dtypes.issubdtype(
      x.dtype, jax.dtypes.prng_key)


def flatten(tree: Any) -> Leaves:
  """Host copy of `tree`'s leaves."""
  arrays, key_impls = {}, {}
  with_paths = jax.tree_util.tree_flatten_with_path(tree)[0]
  for path, leaf in with_paths:
    name = jax.tree_util.keystr(path)
    if _is_key_array(leaf):
      key_impls[name] = str(jax.random.key_impl(leaf))
      leaf = jax.random.key_data(leaf)
    arrays[name] = np.asarray(jax.device_get(leaf))
  if len(arrays) != len(with_paths):
    raise ValueError('Leaves of this pytree share a key path; it cannot be '
                     'saved by key path.')
  return Leaves(arrays, key_impls)


def this_process(saved: Leaves) -> Leaves:
  """This process's values: its row of leaves saved per process."""
  if not saved.per_process:
    return saved
  row = jax.process_index()
  return Leaves({name: value[row] for name, value in saved.arrays.items()},
                saved.key_impls)


def restore_like(template: Any, saved: Leaves, *, replicated: bool,
                 what: str, hint: str) -> Any:
  """`template` with its leaves replaced by the saved ones.

  Each restored leaf takes the template leaf's placement and sharding, so
  the jitted epoch sees exactly what it would in a fresh run and does not
  compile again.

  Args:
    template: this run's fresh pytree (device arrays).
    saved: what `flatten` (or `load`) gave.
    replicated: the template carries a leading device axis that the saved
      leaves lack (one copy of a replicated state was saved).
    what: names the saved state in errors, e.g. "The checkpoint's training
      state".
    hint: how to fix a mismatch.

  Returns:
    The restored pytree.

  Raises:
    ValueError: the structure, a shape or a dtype differs; the first
      differing field is named.
  """
  saved = this_process(saved)
  with_paths, treedef = jax.tree_util.tree_flatten_with_path(template)
  names = [jax.tree_util.keystr(path) for path, _ in with_paths]
  if set(names) != set(saved.arrays):
    missing = sorted(set(names) - set(saved.arrays))[:5]
    extra = sorted(set(saved.arrays) - set(names))[:5]
    raise ValueError(
        f'{what} has a different structure from this run\'s (fields only in '
        f'this run: {missing}; only in the saved state: {extra}); {hint}.')
  leaves = []
  for name, (_, fresh) in zip(names, with_paths):
    value = saved.arrays[name]
    is_key = _is_key_array(fresh)
    fresh_data = jax.random.key_data(fresh) if is_key else jnp.asarray(fresh)
    want_shape = fresh_data.shape[1:] if replicated else fresh_data.shape
    if (value.shape != want_shape or value.dtype != fresh_data.dtype or
        is_key != (name in saved.key_impls)):
      raise ValueError(
          f'{what} does not fit this run: {name or "(root)"} is saved as '
          f'{value.dtype}{list(value.shape)}, this run has '
          f'{fresh_data.dtype}{list(want_shape)}; {hint}.')
    if replicated:
      value = np.broadcast_to(value, fresh_data.shape)
    if is_key:
      value = jax.random.wrap_key_data(value, impl=saved.key_impls[name])
    leaves.append(jax.device_put(value, getattr(fresh, 'sharding', None)))
  return jax.tree_util.tree_unflatten(treedef, leaves)


def _checkpointer(options: Optional[ocp.options.MultiprocessingOptions] = None
                 ) -> ocp.Checkpointer:
  """Orbax's checkpointer of this format; by default this process alone."""
  if options is None:
    options = multiprocess.only_this_process()
  # Handlers named up front: reading metadata then needs no guessing, which
  # orbax would log a warning for at every save.
  return ocp.Checkpointer(
      ocp.CompositeCheckpointHandler(
          arrays=ocp.PyTreeCheckpointHandler(multiprocessing_options=options),
          meta=ocp.JsonCheckpointHandler(multiprocessing_options=options),
          composite_options=ocp.CompositeOptions(
              multiprocessing_options=options)),
      multiprocessing_options=options)


def save(directory: str, trees: Dict[str, Leaves], meta: Dict[str, Any],
         per_process: Tuple[str, ...] = ()) -> None:
  """Saves pytrees and JSON values as one orbax checkpoint at `directory`.

  With several processes: without `per_process`, only process 0 calls it
  and saves alone; with it, every process calls it at the same point with
  trees of the same structure, and saves its own rows of those trees (a
  leading process axis), while the other trees and `meta`, identical on
  every process, are written from process 0.

  Args:
    directory: where the checkpoint goes (orbax's atomic commit).
    trees: named host copies of pytrees (`flatten`).
    meta: JSON values.
    per_process: names of the trees whose values differ between processes.
  """
  together = jax.process_count() > 1 and bool(per_process)
  if jax.process_count() > 1 and not together and jax.process_index() != 0:
    # Orbax writes NumPy arrays from process 0 only.
    raise RuntimeError(f'Only process 0 saves {directory}.')
  if together:
    trees = {name: Leaves({path: _process_rows(value)
                           for path, value in tree.arrays.items()},
                          tree.key_impls, per_process=True)
             if name in per_process else tree for name, tree in trees.items()}
  # Orbax cannot save zero-size arrays (MJX states hold several); they have
  # no values, so their shape and dtype go into the JSON part.
  arrays = {name: {path: value for path, value in tree.arrays.items()
                   if value.size} for name, tree in trees.items()}
  layout = {name: {'key_impls': tree.key_impls,
                   'empty': {path: [list(value.shape), value.dtype.name]
                             for path, value in tree.arrays.items()
                             if not value.size}}
            for name, tree in trees.items()}
  for name, tree in trees.items():
    if tree.per_process:
      layout[name]['per_process'] = True
  options = ocp.options.MultiprocessingOptions() if together else None
  _checkpointer(options).save(
      os.path.abspath(directory),
      ocp.args.Composite(
          arrays=ocp.args.PyTreeSave(arrays),
          meta=ocp.args.JsonSave(
              {'format': FORMAT_VERSION, 'trees': layout, **meta})))


def load(directory: str) -> Tuple[Dict[str, Leaves], Dict[str, Any]]:
  """(pytrees, JSON values) of a checkpoint written by `save`.

  Raises:
    ValueError: it is not an intact checkpoint of this format.
  """
  directory = os.path.abspath(directory)
  checkpointer = _checkpointer()
  try:
    shapes = checkpointer.metadata(directory).item_metadata['arrays']
    restored = checkpointer.restore(directory, ocp.args.Composite(
        arrays=ocp.args.PyTreeRestore(restore_args=jax.tree_util.tree_map(
            lambda _: ocp.RestoreArgs(restore_type=np.ndarray), shapes)),
        meta=ocp.args.JsonRestore()))
  except Exception as e:  # Orbax and tensorstore raise many unrelated types.
    raise ValueError(f'{directory} is unreadable: {e}') from e
  meta = restored['meta']
  version = meta.get('format') if isinstance(meta, dict) else None
  if version != FORMAT_VERSION:
    raise ValueError(f'{directory} has format {version!r}, this amp_ppo '
                     f'reads format {FORMAT_VERSION}.')
  trees = {}
  for name, layout in meta.pop('trees').items():
    arrays = dict(restored['arrays'].get(name) or {})
    for path, (shape, dtype) in layout['empty'].items():
      arrays[path] = np.zeros(shape, jnp.dtype(dtype))
    trees[name] = Leaves(arrays, layout['key_impls'],
                         per_process=layout.get('per_process', False))
  return trees, meta


def _process_rows(value: np.ndarray) -> Any:
  """[processes, ...]: every process's `value`, each from its own process."""
  if not value.size:  # Not saved (see `save`); only its shape is recorded.
    return np.zeros((jax.process_count(),) + value.shape, value.dtype)
  return multiprocess.stack_processes(value)


def commit_time(directory: str) -> Optional[int]:
  """Orbax's commit time (ns) of the checkpoint at `directory`: its identity.

  A copy keeps it, so two directories with the same commit time hold the
  same save.
  """
  try:
    return _checkpointer().metadata(
        os.path.abspath(directory)).commit_timestamp_nsecs
  except (FileNotFoundError, ValueError):
    return None
