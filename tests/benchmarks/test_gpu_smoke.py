"""benchmarks/gpu.py runs end to end at a tiny size on a CPU.

One task (Playground Go1 through Playground's own train call), tiny networks
and sizes, AMP off and on taking turns, as the full GPU run does. Asserts
that the script finishes and prints its tables with finite figures; no
speeds are checked.
"""

import math
import os
import re
import subprocess
import sys

import pytest

pytest.importorskip('mujoco_playground')

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
_SCRIPT = os.path.join(_ROOT, 'benchmarks', 'gpu.py')


def _table_rows(output: str, first_header: str):
  """Rows (lists of cells) of the markdown table whose header starts so."""
  lines = output.splitlines()
  start = next(i for i, line in enumerate(lines)
               if line.startswith(f'| {first_header} '))
  header = [c.strip() for c in lines[start].strip('|').split('|')]
  rows = []
  for line in lines[start + 2:]:
    if not line.startswith('|'):
      break
    rows.append(dict(zip(header, (c.strip() for c in
                                  line.strip('|').split('|')))))
  return rows


def _number(cell: str) -> float:
  match = re.fullmatch(r'-?[\d,]*\.?\d+', cell)
  assert match, f'not a number: {cell!r}'
  return float(cell.replace(',', ''))


def test_gpu_benchmark_runs_tiny_and_prints_finite_tables():
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  env.pop('XLA_FLAGS', None)
  completed = subprocess.run(
      [sys.executable, _SCRIPT, '--tiny', '--tasks', 'go1', '--epochs', '2',
       '--steps_per_epoch', '1'],
      cwd=_ROOT, env=env, capture_output=True, text=True, timeout=900,
      check=False)
  output = completed.stdout
  assert completed.returncode == 0, (output[-3000:] +
                                     completed.stderr[-3000:])

  (summary,) = _table_rows(output, 'task')
  assert summary['task'] == 'go1' and summary['envs'] == '8'
  for column in ('PPO env steps/s', 'AMP env steps/s',
                 'AMP/PPO (per-round median)', 'AMP/PPO per CPU s',
                 'PPO compile s', 'AMP compile s', 'compile ratio'):
    value = _number(summary[column])
    assert math.isfinite(value) and value > 0, (column, value)
  assert summary['finite metrics'] == 'yes'
  # No memory_stats on the CPU backend: said so, not made up.
  assert summary['peak device GiB (process, so far)'] == 'n/a'

  memory_rows = [r for r in _table_rows(output.split('XLA memory analysis')[
      -1], 'task')]
  (memory,) = memory_rows
  ppo_total = _number(memory['PPO epoch total MiB'])
  amp_total = _number(memory['AMP epoch total MiB'])
  assert 0 < ppo_total < amp_total
  assert _number(memory['AMP state MiB']) >= _number(memory['of which replay'])
  assert _number(memory['of which replay']) > 0
  assert memory['fits 12 GB'] == 'yes'
