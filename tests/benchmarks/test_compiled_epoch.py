"""benchmarks/compiled_epoch.py: the training epoch compiled ahead of time.

gpu.py, memory.py and throughput.py measure the trainer's epoch through this
capture; here it captures a tiny pmapped function named like the trainer's.
"""

import threading
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import compiled_epoch


class _Amp(NamedTuple):
  disc: jax.Array
  replay: jax.Array


class _TrainingState(NamedTuple):
  params: jax.Array
  amp: _Amp


def _arguments():
  state = _TrainingState(params=jnp.ones((1, 32), jnp.float32),
                         amp=_Amp(disc=jnp.ones((1, 16), jnp.float32),
                                  replay=jnp.ones((1, 64, 4), jnp.float32)))
  return state, jnp.arange(8.0).reshape(1, 8), jax.random.split(
      jax.random.PRNGKey(0), 1)


def training_epoch(training_state, env_state, key):
  del key
  scale = jnp.sum(training_state.amp.replay) + jnp.sum(env_state)
  return training_state._replace(params=training_state.params * scale)


def test_the_epoch_is_compiled_analysed_and_stopped():
  sink = {}
  real_pmap = jax.pmap
  with compiled_epoch.capture_training_epoch(sink, run=False):
    epoch = jax.pmap(training_epoch)
    with pytest.raises(compiled_epoch.Captured):
      epoch(*_arguments())
  assert jax.pmap is real_pmap
  memory = sink[threading.current_thread().name]
  # Per device: the state, env state and key; AMP's share named apart.
  assert memory.arguments >= (32 + 16 + 64 * 4 + 8) * 4
  assert memory.amp_state == (16 + 64 * 4) * 4
  assert memory.replay == 64 * 4 * 4
  assert memory.outputs >= 32 * 4
  assert memory.total == (memory.arguments + memory.outputs - memory.aliased
                          + memory.temporaries)
  assert 0 < memory.lower_seconds < memory.compile_seconds


def test_the_compiled_epoch_runs_as_the_jitted_one_would():
  sink = {}
  expected = jax.pmap(training_epoch)(*_arguments())
  with compiled_epoch.capture_training_epoch(sink, run=True):
    epoch = jax.pmap(training_epoch)
    first = epoch(*_arguments())
    second = epoch(*_arguments())
    # Only the function named training_epoch is captured.
    jax.pmap(lambda x: x + 1)(jnp.zeros((1, 2)))
  assert len(sink) == 1
  for result in (first, second):
    np.testing.assert_array_equal(result.params, expected.params)


def _row(task, off_total_mib, on_total_mib):
  def memory(total_mib, amp_state):
    return compiled_epoch.EpochMemory(
        arguments=int(total_mib * 2**20), outputs=0, aliased=0,
        temporaries=0, code=0, amp_state=amp_state, replay=amp_state // 2,
        compile_seconds=10.0, lower_seconds=2.0, compile_cpu_seconds=12.0)
  return compiled_epoch.MemoryRow(
      task=task, num_envs=8, off=memory(off_total_mib, 0),
      on=memory(on_total_mib, 2**20), seconds=1.0)


def test_memory_table_gives_what_amp_adds_and_the_12_gb_verdict():
  from tests.benchmarks import tables  # pylint: disable=g-import-not-at-top
  rows = tables.table_rows(compiled_epoch.memory_table([
      _row('small', 100.0, 150.5), _row('large', 11_000.0, 11_500.0)]),
                           'task')
  small, large = rows
  assert tables.number(small['AMP adds MiB']) == 50.5
  assert tables.number(small['of which arguments']) == 50.5
  assert tables.number(small['AMP state MiB']) == 1.0
  assert tables.number(small['of which replay']) == 0.5
  assert small['fits 12 GB'] == 'yes'
  assert large['AMP total GB'] == f'{11_500 * 2**20 / 1e9:.2f}'
  assert large['fits 12 GB'] == 'NO'
  assert compiled_epoch.gib(float('nan')) == 'n/a'
  assert compiled_epoch.gib(2**30 * 1.5) == '1.50'
