"""benchmarks/throughput.py's ratios, tables and compile-only children.

The script trains the ant (`python -m benchmarks.throughput`); what it
computes from its runs is checked here on numbers chosen by hand, and the
command line of its compile-only children on the parser itself. The epoch
capture those children use is tests/benchmarks/test_compiled_epoch.py's,
the turn-taking runner tests/benchmarks/test_bench_lib.py's.
"""

import pytest

from benchmarks import bench_lib
from benchmarks import throughput
from tests.benchmarks import tables


def _figure(cpu_seconds, seconds, lower_seconds):
  return dict(cpu_seconds=cpu_seconds, seconds=seconds,
              lower_seconds=lower_seconds)


def _variants(*specs):
  return [bench_lib.Variant.parse(spec) for spec in specs]


def test_compile_ratio_is_the_ratio_of_the_medians():
  figures = {'off': [_figure(10.0, 8.0, 2.0), _figure(12.0, 9.0, 3.0),
                     _figure(11.0, 10.0, 2.0)],
             'on': [_figure(14.0, 12.0, 4.0), _figure(16.5, 11.0, 3.0),
                    _figure(30.0, 13.0, 5.0)]}
  report = throughput.compile_ratio_report(
      figures, _variants('off', 'on'), baseline=0, target=1.3)
  rows = {r['variant']: r for r in tables.table_rows(report, 'variant')}
  assert rows['off']['CPU s per round'] == '10.0, 12.0, 11.0'
  assert rows['off']['ratio, CPU s'] == '1.000'
  assert tables.number(rows['on']['CPU s (median)']) == 16.5
  assert tables.number(rows['on']['of which tracing + lowering']) == 4.0
  assert rows['on']['ratio, CPU s'] == '1.500'   # 16.5 / 11
  assert rows['on']['ratio, wall s'] == '1.333'  # 12 / 9
  assert ('AMP on (defaults) / AMP off, compile CPU s: 1.500. Target <= '
          '1.30: NOT met.') in report
  assert 'Target <= 1.60: met.' in throughput.compile_ratio_report(
      figures, _variants('off', 'on'), baseline=0, target=1.6)


def test_only_the_default_amp_variant_is_judged_against_the_target():
  figures = {'off': [_figure(10.0, 8.0, 2.0)],
             'on:disc_hidden_layer_sizes=8x8': [_figure(11.0, 9.0, 2.0)]}
  report = throughput.compile_ratio_report(
      figures, _variants('off', 'on:disc_hidden_layer_sizes=8x8'),
      baseline=0, target=1.3)
  assert len(tables.table_rows(report, 'variant')) == 2
  assert 'Target' not in report


def test_a_compile_only_child_compiles_the_parents_configuration():
  args = throughput.parse_args([
      '--env', 'inverted_pendulum', '--num_envs', '8', '--batch_size', '8',
      '--num_minibatches', '2', '--unroll_length', '4', '--epochs', '3',
      '--reference_steps', '60', '--steps_per_epoch', '2'])
  spec = 'on:disc_hidden_layer_sizes=8x8'
  child = throughput.parse_args(throughput._child_argv(args, spec))  # pylint: disable=protected-access
  assert vars(child) == {**vars(args), 'compile_only': spec}


def _result(spec, sps, cpu_seconds):
  result = bench_lib.RunResult(variant=bench_lib.Variant.parse(spec),
                               setup_seconds=2.0)
  for rate, cpu in zip(sps, cpu_seconds):
    result.epochs.append(bench_lib.Epoch(seconds=100 / rate, sps=rate,
                                         cpu_seconds=cpu, metrics={}))
  return result


def test_throughput_table_pairs_epochs_that_ran_back_to_back():
  results = [_result('off', [10.0, 100.0, 110.0, 90.0], [9.0, 1.0, 1.0, 1.0]),
             _result('on', [8.0, 50.0, 99.0, 90.0], [9.0, 2.0, 1.0, 1.5])]
  text = throughput.result_tables(results, baseline=0)
  rows = {r['variant']: r for r in tables.table_rows(text, 'variant')}
  on = rows['on']
  assert on['per-round ratios'] == '0.50, 0.90, 1.00'
  assert on['ratio, per-round median'] == '0.900'
  assert on['ratio of medians'] == f'{90 / 100:.3f}'
  assert on['CPU-time ratio, per-round median'] == f'{1 / 1.5:.3f}'
  assert rows['off']['per-round ratios'] == '-'


@pytest.mark.parametrize('metrics, expected', [
    ({'training/sps': 1.0}, 'off: final metrics all finite'),
    ({'training/sps': float('inf')},
     'off: final metrics NON-FINITE: training/sps'),
])
def test_check_lines_name_non_finite_metrics(metrics, expected):
  result = _result('off', [1.0, 1.0], [1.0, 1.0])
  result.epochs[-1].metrics = metrics
  assert throughput.amp_check_lines([result]) == expected
