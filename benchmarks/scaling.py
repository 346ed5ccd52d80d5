r"""AMP off and on with 1, 2 and 4 pmap devices, checking the runs stay correct.

Each device count runs in its own subprocess, with
XLA_FLAGS=--xla_force_host_platform_device_count=N set before JAX is
imported, and trains the configuration of throughput.py (same flags) with
AMP off and on, taking turns epoch by epoch, on N devices
(max_devices_per_host=N). A run is correct when it completes (Brax asserts at
the end that the training state, AMP state included, is identical on every
device), every final metric and the returned AMP state are finite, and the
AMP replay holds exactly the windows inserted (every device inserts the
windows of all devices: disc_num_minibatches * disc_minibatch_size / 2 * N
per training step, up to the capacity).

On a CPU, forced devices are slices of the same cores: they add no compute.
Steps/s may still grow with N when one device leaves cores idle, up to the
number of cores; the figures show what splitting costs and how busy the
cores are, not what more devices would gain.

  python -m benchmarks.scaling                 # 1, 2, 4 devices
  python -m benchmarks.scaling --device_counts 1,2 --epochs 3
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

from benchmarks import throughput

_RESULT_PREFIX = 'RESULT '


def parse_args(argv=None) -> argparse.Namespace:
  parser = throughput.training_parser(__doc__)
  parser.add_argument('--epochs', type=int, default=3,
                      help='epochs per variant and device count, the '
                      'compiling first included')
  parser.add_argument('--device_counts', default='1,2,4')
  parser.add_argument('--child', action='store_true',
                      help='internal: run one device count (--devices)')
  return parser.parse_args(argv)


def child(args: argparse.Namespace) -> int:
  """Trains AMP off and on with args.devices devices; prints a RESULT line."""
  throughput.force_host_devices(args.devices)
  # Imported after the device count is set.
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  from benchmarks import bench_lib  # pylint: disable=g-import-not-at-top
  from amp_ppo.amp import config as amp_config  # pylint: disable=g-import-not-at-top

  if jax.local_device_count() != args.devices:
    raise SystemExit(f'expected {args.devices} devices, JAX has '
                     f'{jax.local_device_count()}')
  variants = [bench_lib.Variant.parse('off'), bench_lib.Variant.parse('on')]
  with tempfile.TemporaryDirectory(prefix='amp_scaling_') as workdir:
    environment, reference_path, ppo_args = throughput.prepare(args, workdir)
    results = bench_lib.run_interleaved(environment, variants, ppo_args,
                                        reference_path, args.epochs)
  off, on = results
  defaults = amp_config.AmpConfig()
  disc_steps = defaults.disc_num_minibatches or ppo_args['num_minibatches']
  per_step = disc_steps * (defaults.disc_minibatch_size // 2) * args.devices
  training_steps = args.epochs * args.steps_per_epoch
  amp_state = on.params[3]
  leaves = jax.tree_util.tree_leaves(jax.device_get(amp_state))
  report = {
      'devices': args.devices,
      'jax_devices': jax.local_device_count(),
      'off_sps': off.steady_sps,
      'on_sps': on.steady_sps,
      'off_epoch_sps': [e.sps for e in off.epochs],
      'on_epoch_sps': [e.sps for e in on.epochs],
      'round_ratios': bench_lib.paired_ratios(results, 1, 0),
      'cpu_ratios': bench_lib.paired_ratios(results, 1, 0, cpu=True),
      'off_cpu': off.steady_cpu_seconds,
      'on_cpu': on.steady_cpu_seconds,
      'off_cores': statistics.median(e.cpu_seconds / e.seconds
                                     for e in off.steady),
      'on_cores': statistics.median(e.cpu_seconds / e.seconds
                                    for e in on.steady),
      'off_compile': off.compile_seconds('first epoch'),
      'on_compile': on.compile_seconds('first epoch'),
      'off_finite': bench_lib.finite_metrics(off.epochs[-1].metrics)[0],
      'on_finite': bench_lib.finite_metrics(on.epochs[-1].metrics)[0],
      'amp_state_finite': all(
          bool(np.all(np.isfinite(x))) for x in leaves
          if np.issubdtype(np.asarray(x).dtype, np.inexact)),
      'replay_count': int(amp_state.replay.count),
      'replay_capacity': int(amp_state.replay.data.shape[0]),
      'replay_expected': min(training_steps * per_step,
                             defaults.replay_size),
      'replay_fill_metric': on.epochs[-1].metrics['training/amp/replay_fill'],
      'steady_compiles': off.steady_compiles + on.steady_compiles,
  }
  print(_RESULT_PREFIX + json.dumps(report), flush=True)
  return 0


def run_child(args: argparse.Namespace, devices: int, argv) -> dict:
  """Runs one device count in a subprocess; echoes its output."""
  env = dict(os.environ)
  flags = [f for f in env.get('XLA_FLAGS', '').split()
           if not f.startswith('--xla_force_host_platform_device_count')]
  env['XLA_FLAGS'] = ' '.join(
      flags + [f'--xla_force_host_platform_device_count={devices}'])
  command = [sys.executable, '-m', 'benchmarks.scaling', '--child',
             '--devices', str(devices)] + list(argv)
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  process = subprocess.Popen(command, env=env, cwd=root,
                             stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
  report = None
  for line in process.stdout:
    if line.startswith(_RESULT_PREFIX):
      report = json.loads(line[len(_RESULT_PREFIX):])
    elif 'warn' not in line.lower():
      print(f'  [{devices} device(s)] {line.rstrip()}', flush=True)
  if process.wait() != 0 or report is None:
    return {'devices': devices, 'failed': True,
            'returncode': process.returncode}
  return report


def _forward_flags(args: argparse.Namespace) -> list:
  names = ('env', 'backend', 'num_envs', 'batch_size', 'num_minibatches',
           'unroll_length', 'num_updates_per_batch', 'steps_per_epoch',
           'reference_steps', 'epochs')
  out = []
  for name in names:
    if getattr(args, name) is not None:  # None: the child's default too.
      out += [f'--{name}', str(getattr(args, name))]
  return out


def main(argv=None) -> int:
  args = parse_args(argv)
  if args.child:
    return child(args)
  if args.epochs < 2:
    raise SystemExit('--epochs must be >= 2: epoch 1 compiles.')
  counts = [int(c) for c in args.device_counts.split(',')]
  for count in counts:
    if args.num_envs % count:
      raise SystemExit(f'--num_envs {args.num_envs} is not divisible by '
                       f'{count} devices.')
  # The parent needs no forced devices: importing JAX here is harmless.
  from benchmarks import bench_lib  # pylint: disable=g-import-not-at-top

  machine = bench_lib.machine_description()
  print('machine: ' + '; '.join(
      f'{k} {v}' for k, v in machine.items() if k != 'jax devices'))
  started = time.perf_counter()
  reports = []
  for count in counts:
    print(f'{count} device(s):', flush=True)
    reports.append(run_child(args, count, _forward_flags(args)))
  total = time.perf_counter() - started

  rows = []
  base = next((r for r in reports if r['devices'] == 1 and
               not r.get('failed')), None)
  all_ok = True
  for r in reports:
    if r.get('failed'):
      all_ok = False
      rows.append([r['devices'], 'FAILED (exit code '
                   f'{r["returncode"]})'] + [''] * 11)
      continue
    correct = (r['off_finite'] and r['on_finite'] and r['amp_state_finite']
               and r['replay_count'] == r['replay_expected'] and
               math.isclose(r['replay_fill_metric'],
                            r['replay_count'] / r['replay_capacity'],
                            rel_tol=1e-5))
    all_ok &= correct
    rows.append([
        r['devices'],
        f'{r["off_sps"]:,.0f}',
        f'{r["on_sps"]:,.0f}',
        f'{r["on_sps"] / r["off_sps"]:.3f}',
        ', '.join(f'{x:.3f}' for x in r['round_ratios']),
        f'{r["off_cpu"]:.1f} / {r["on_cpu"]:.1f}',
        f'{r["off_cores"]:.2f} / {r["on_cores"]:.2f}',
        f'{statistics.median(r["cpu_ratios"]):.3f}',
        f'{r["off_sps"] / base["off_sps"]:.2f} / '
        f'{r["on_sps"] / base["on_sps"]:.2f}' if base else '-',
        f'{r["off_compile"]:.0f} / {r["on_compile"]:.0f}',
        f'{"yes" if r["off_finite"] else "NO"} / '
        f'{"yes" if r["on_finite"] and r["amp_state_finite"] else "NO"}',
        f'{r["replay_count"]:,} / {r["replay_capacity"]:,} '
        f'(expected {r["replay_expected"]:,})',
        'completed, replicated; compiled in epochs 2..N: ' + (
            ', '.join(r['steady_compiles']) or 'nothing'),
    ])
  print()
  config = throughput.describe_config(args, throughput.ppo_arguments(args),
                                      devices='N devices')
  print(f'pmap scaling on forced CPU devices ({config}); wall time '
        f'{total / 60:.1f} min')
  print()
  print(bench_lib.markdown_table(
      ['devices', 'off env steps/s', 'on env steps/s', 'on/off',
       'per-round on/off', 'CPU s per epoch (off / on)',
       'cores busy (off / on)',
       'on/off per CPU s (per-round median)', 'vs 1 device (off / on)',
       'compile s (off / on)', 'finite (off / on)',
       'AMP replay count / capacity', 'run'], rows))
  print()
  print(f'Note: this machine has {os.cpu_count()} CPU cores, and forced XLA '
        'host devices are slices of them: more devices add no compute. A '
        'speed-up with N here only means the cores are kept busier ("cores '
        'busy" = CPU s / wall s per epoch; one CPU device does not use all '
        'cores all the time); it ends when all cores are busy and says '
        'nothing about real devices. AMP\'s discriminator update is per '
        'device (disc_num_minibatches steps of disc_minibatch_size reference '
        '+ policy windows on every device, gradients averaged), so its total '
        'work grows with N while PPO\'s is split: compare the CPU seconds.')
  print(f'All runs correct: {"yes" if all_ok else "NO"}')
  return 0 if all_ok else 1


if __name__ == '__main__':
  sys.exit(main())
