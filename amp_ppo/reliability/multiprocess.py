"""Checkpoints when several JAX processes train together (jax.distributed).

Brax's trainer saves on process 0 only (`if process_id != 0: continue`), but
an orbax checkpointer synchronises every process when it saves, by default
with a collective over all devices. Process 0 then waits in orbax while the
others wait in the next epoch's collectives: both hang, leaving an empty step
directory (upstream Brax 0.14.2 has the same code). Besides, orbax refuses to
save the host-local device arrays that `_unpmap` gives once there are several
processes. So, with several processes:

  Brax's part and amp_state/  are saved by process 0 alone (`save_policy`,
      `checkpoint.save` without per-process trees): host (NumPy) copies,
      orbax told that no other process takes part, so nobody waits for
      anybody. They are replicated, so process 0's copy is the whole state.
  resume_state/  is saved by every process together, as orbax's multi-process
      save: the replicated training state once (orbax writes NumPy arrays
      from process 0), each process's own environment states and PRNG keys
      as its row of arrays with a leading process axis (`stack_processes`).
      Orbax commits it, once, after every process has written its rows, so
      the step directory is complete only when every part is on disk.

Reading is process-local: every process reads the (shared) files itself.
With one process nothing here changes what is saved or how.
"""

import contextlib
import hashlib
from typing import Any, Callable

from brax.training import checkpoint as brax_checkpoint
import jax
from jax.experimental import multihost_utils
import numpy as np
from orbax import checkpoint as ocp

_PROCESS_AXIS = 'processes'


def only_this_process() -> ocp.options.MultiprocessingOptions:
  """Orbax options under which this process saves or reads alone.

  With one process, orbax's defaults: single-process checkpoints stay exactly
  as they were.
  """
  if jax.process_count() == 1:
    return ocp.options.MultiprocessingOptions()
  me = jax.process_index()
  return ocp.options.MultiprocessingOptions(primary_host=me,
                                            active_processes={me})


class _OrbaxForThisProcess:
  """`orbax.checkpoint` as Brax's `checkpoint.save` sees it: its
  `PyTreeCheckpointer()` synchronises with no other process."""

  def __init__(self, module):
    self._module = module

  def __getattr__(self, name):
    return getattr(self._module, name)

  def PyTreeCheckpointer(self):  # pylint: disable=invalid-name
    options = only_this_process()
    # The handler settings of ocp.PyTreeCheckpointer()'s defaults.
    return self._module.Checkpointer(
        self._module.PyTreeCheckpointHandler(
            use_ocdbt=True, use_zarr3=False, use_compression=True,
            multiprocessing_options=options),
        multiprocessing_options=options)


@contextlib.contextmanager
def _brax_saves_alone():
  original = brax_checkpoint.ocp
  brax_checkpoint.ocp = _OrbaxForThisProcess(original)
  try:
    yield
  finally:
    brax_checkpoint.ocp = original


def save_policy(save: Callable[..., Any], path: Any, step: int, params: Any,
                config: Any) -> None:
  """Brax's policy checkpoint `save(path, step, params, config)`.

  With one process, exactly Brax's call. With several, called by process 0
  alone: the params as host copies (`_host_copy`), and Brax's orbax
  checkpointer told that no other process takes part (which Brax's save
  does not let a caller say).

  Args:
    save: `brax.training.agents.ppo.checkpoint.save`.
    path: save_checkpoint_path.
    step: environment steps (the step directory's name).
    params: (normaliser, policy, value) params of one device.
    config: Brax's network config of the checkpoint.
  """
  if jax.process_count() == 1:
    save(path, step, params, config)
    return
  if jax.process_index() != 0:
    raise RuntimeError('Only process 0 saves the policy checkpoint.')
  with _brax_saves_alone():
    save(path, step, _host_copy(params), config)


def _host_copy(tree: Any) -> Any:
  """`tree` as tuples, dicts and NumPy arrays, with the same key paths.

  Orbax refuses device arrays that are local to one of several processes,
  and a NumPy copy of the same pytree does not stay NumPy: Brax's `UInt64`
  turns its fields back into device arrays when it is rebuilt. Orbax records
  the same key paths (Brax's `checkpoint.load` reads the same pytree back).
  """
  children = jax.tree_util.tree_flatten_with_path(
      tree, is_leaf=lambda x: x is not tree)[0]
  if children and not children[0][0]:  # A leaf.
    return np.asarray(tree) if isinstance(tree, jax.Array) else tree
  if children and all(isinstance(path[0], jax.tree_util.SequenceKey)
                      for path, _ in children):
    return tuple(_host_copy(child) for _, child in children)
  names = {jax.tree_util.DictKey: lambda k: k.key,
           jax.tree_util.GetAttrKey: lambda k: k.name}
  return {names[type(path[0])](path[0]): _host_copy(child)
          for path, child in children}


def stack_processes(local: np.ndarray) -> jax.Array:
  """One global array [processes, ...]; row p is process p's `local`.

  Every process must call it, with arrays of the same shape and dtype. Row p
  lives on process p's first device, so orbax's multi-process save writes
  each row from the process that owns it.
  """
  devices = np.array([jax.local_devices(process_index=p)[0]
                      for p in range(jax.process_count())])
  sharding = jax.sharding.NamedSharding(
      jax.sharding.Mesh(devices, (_PROCESS_AXIS,)),
      jax.sharding.PartitionSpec(_PROCESS_AXIS))
  return jax.make_array_from_process_local_data(sharding, local[None])


def check_same_on_every_process(value: str, what: str) -> None:
  """Raises on every process unless all of them pass the same `value`.

  Every process must call it at the same point (it is a collective).
  """
  if jax.process_count() == 1:
    return
  digest = np.frombuffer(hashlib.sha256(value.encode()).digest(),
                         dtype=np.uint8).astype(np.int32)
  values = multihost_utils.process_allgather(digest)
  if not (values == values[:1]).all():
    raise ValueError(
        f'The {jax.process_count()} processes disagree on {what}; this '
        f'process (index {jax.process_index()}) has {value!r}. Every process '
        'must see the same checkpoint directory (a shared file system).')
