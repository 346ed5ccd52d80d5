"""benchmarks/throughput.py runs end to end at a tiny size on a CPU.

Inverted pendulum with a handful of environments, AMP off and on taking
turns, then one round of compile-only child processes. Asserts that the
script finishes and prints its throughput ratio and its compile-time table
with finite figures that agree with each other; no speeds are checked.
"""

import re

from tests.benchmarks import tables


def test_throughput_benchmark_prints_the_compile_time_ratio():
  output = tables.run_benchmark('throughput.py', [
      '--env', 'inverted_pendulum', '--num_envs', '8', '--batch_size', '8',
      '--num_minibatches', '2', '--unroll_length', '4',
      '--num_updates_per_batch', '1', '--reference_steps', '60', '--epochs',
      '2', '--compile_rounds', '1'])
  assert re.search(r'AMP on \(defaults\) / AMP off, env steps/s: \d', output)

  rows = {r['variant']: r for r in next(
      t for t in tables.markdown_tables(output)
      if t and 'CPU s per round' in t[0])}
  assert sorted(rows) == ['off', 'on']
  for row in rows.values():
    assert tables.number(row['CPU s (median)']) > 0
    assert 0 < tables.number(row['of which tracing + lowering']) < (
        tables.number(row['wall s (median)']))
  assert tables.number(rows['off']['ratio, CPU s']) == 1.0
  ratio = tables.number(rows['on']['ratio, CPU s'])
  medians = [tables.number(rows[v]['CPU s (median)']) for v in ('on', 'off')]
  assert abs(ratio - medians[0] / medians[1]) < 0.05
  match = re.search(r'AMP on \(defaults\) / AMP off, compile CPU s: '
                    r'([\d.]+)\. Target <= 1\.30: (met|NOT met)\.', output)
  assert match and float(match.group(1)) == ratio
