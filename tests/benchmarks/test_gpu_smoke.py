"""benchmarks/gpu.py runs end to end at a tiny size on a CPU.

One task (Playground Go1 through Playground's own train call), tiny networks
and sizes, AMP off and on taking turns, as the full GPU run does. Asserts
that the script finishes and prints its tables with finite figures; no
speeds are checked.
"""

import math

import pytest

from tests.benchmarks import tables

pytest.importorskip('mujoco_playground')

def test_gpu_benchmark_runs_tiny_and_prints_finite_tables():
  output = tables.run_benchmark('gpu.py', [
      '--tiny', '--tasks', 'go1', '--epochs', '2', '--steps_per_epoch', '1'])

  (summary,) = tables.table_rows(output, 'task')
  assert summary['task'] == 'go1' and summary['envs'] == '8'
  for column in ('PPO env steps/s', 'AMP env steps/s',
                 'AMP/PPO (per-round median)', 'AMP/PPO per CPU s',
                 'PPO compile s', 'AMP compile s', 'compile ratio'):
    value = tables.number(summary[column])
    assert math.isfinite(value) and value > 0, (column, value)
  assert summary['finite metrics'] == 'yes'
  # No memory_stats on the CPU backend: said so, not made up.
  assert summary['peak device GiB (process, so far)'] == 'n/a'

  memory_rows = [r for r in tables.table_rows(output.split('XLA memory analysis')[
      -1], 'task')]
  (memory,) = memory_rows
  ppo_total = tables.number(memory['PPO epoch total MiB'])
  amp_total = tables.number(memory['AMP epoch total MiB'])
  assert 0 < ppo_total < amp_total
  assert tables.number(memory['AMP state MiB']) >= tables.number(memory['of which replay'])
  assert tables.number(memory['of which replay']) > 0
  assert memory['fits 12 GB'] == 'yes'
