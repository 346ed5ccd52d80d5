"""benchmarks/gpu.py's figures and tables, from synthetic epochs.

The script trains at GPU sizes (`python -m benchmarks.gpu`, or `--tiny` on a
CPU in a few minutes); what it computes from its runs is checked here on
numbers chosen by hand. The epoch capture it measures memory with is
tests/benchmarks/test_compiled_epoch.py's, the turn-taking runner
tests/benchmarks/test_bench_lib.py's.
"""

import math

import pytest

from benchmarks import bench_lib
from benchmarks import compiled_epoch
from benchmarks import gpu
from benchmarks import gpu_tasks
from tests.benchmarks import tables


def _result(spec, sps, cpu_seconds, first_epoch_compile, finite=True):
  """A RunResult with one epoch per entry of `sps` (the first compiles)."""
  result = bench_lib.RunResult(variant=bench_lib.Variant.parse(spec),
                               setup_seconds=3.0)
  for rate, cpu in zip(sps, cpu_seconds):
    result.epochs.append(bench_lib.Epoch(
        seconds=1000 / rate, sps=rate, cpu_seconds=cpu,
        metrics={'training/sps': rate,
                 'training/entropy_loss': 0.1 if finite else math.nan}))
  result.compile_spans['first epoch'] = [(0.0, first_epoch_compile)]
  return result


def _memory(total):
  return compiled_epoch.EpochMemory(
      arguments=total, outputs=0, aliased=0, temporaries=0, code=0,
      amp_state=0, replay=0, compile_seconds=1.0, lower_seconds=0.5,
      compile_cpu_seconds=1.0)


def _task():
  return gpu_tasks.Task(
      name='go1', description='Playground Go1', environment=None,
      reference_path='', ppo_args={'num_envs': 8}, amp_args={})


def _task_result(on_finite=True):
  off = _result('off', [10.0, 100.0, 100.0, 100.0], [9.0, 2.0, 2.0, 2.0],
                first_epoch_compile=20.0)
  on = _result('on', [8.0, 90.0, 99.0, 80.0], [11.0, 2.5, 2.0, 4.0],
               first_epoch_compile=30.0, finite=on_finite)
  return gpu.task_result(
      _task(), [off, on], {'bench-off': _memory(100), 'bench-on': _memory(300)},
      seconds=60.0, memory_before={}, memory_after={})


def test_ratios_are_per_round_medians_of_the_steady_epochs():
  result = _task_result()
  # Rounds 2..4: 0.90, 0.99, 0.80 of AMP off's env steps/s.
  assert result.ratio == pytest.approx(0.90)
  # Per CPU second: 2.0/2.5, 2.0/2.0, 2.0/4.0.
  assert result.cpu_ratio == pytest.approx(0.80)
  assert result.compile_ratio == pytest.approx(1.5)
  assert (result.epoch_memory.off.total,
          result.epoch_memory.on.total) == (100, 300)


def test_summary_table_judges_the_target_and_says_what_it_cannot_know():
  (row,) = tables.table_rows(gpu.summary_table([_task_result()], 0.95),
                             'task')
  assert row['envs'] == '8'
  assert tables.number(row['PPO env steps/s']) == 100
  assert tables.number(row['AMP env steps/s']) == 90
  assert row['AMP/PPO (per-round median)'] == '0.900'
  assert row['target >= 0.95'] == 'NOT met'
  assert row['compile ratio'] == '1.50'
  assert row['finite metrics'] == 'yes'
  # No memory_stats on a CPU backend: said so, not made up.
  assert row['peak device GiB (process, so far)'] == 'n/a'
  (row,) = tables.table_rows(gpu.summary_table([_task_result()], 0.9),
                             'task')
  assert row['target >= 0.90'] == 'met'
  (row,) = tables.table_rows(
      gpu.summary_table([_task_result(on_finite=False)], 0.9), 'task')
  assert row['finite metrics'] == 'NO'


def test_task_table_gives_each_variant_its_steady_range():
  off, on = tables.table_rows(gpu.task_table(_task_result()), 'AMP')
  assert (off['AMP'], on['AMP']) == ('off', 'on')
  assert on['env steps/s (median)'] == '90'
  assert on['min-max'] == '80-99'
  assert tables.number(on['compile s (first epoch, jax.monitoring)']) == 30
  assert on['compiled in epochs 2..N'] == 'nothing'


@pytest.mark.parametrize('argv, message', [
    (['--tasks', 'go1,walker'], "unknown tasks ['walker']"),
    (['--epochs', '1'], 'epoch 1 compiles'),
])
def test_wrong_arguments_stop_before_anything_is_built(argv, message, capsys):
  with pytest.raises(SystemExit):
    gpu.parse_args(argv)
  assert message in capsys.readouterr().err
