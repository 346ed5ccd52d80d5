r"""Training throughput of amp_ppo with AMP off and on, in one process.

Trains the same environment and PPO configuration once per variant (default:
AMP off, and AMP on with default settings), taking turns epoch by epoch
(off, on, off, on, ...; see bench_lib.run_interleaved), and prints env
steps/s of each, their ratio and each variant's compile time.

  python -m benchmarks.throughput                  # ant, spring, 1024 envs
  python -m benchmarks.throughput --epochs 3 --variants off,on,\
on:disc_hidden_layer_sizes=256x256,on:disc_num_minibatches=4

(from the repository root, as every benchmark).

Variants are 'off' or 'on' followed by ':name=value' items: AmpConfig
fields (without the amp_ prefix; tuples as 256x256) or other amp_ppo.train
arguments (e.g. off:check_finite=True).

Figures: env steps/s is Brax's own `training/sps` (environment steps of an
epoch over the wall time of the jitted epoch call, measured in
training_epoch_with_timing); the steady figure is the median over epochs
2..N (epoch 1 compiles). Per-round ratios pair epochs that ran back to back;
the headline ratio is their median (the ratio of the medians is shown too).
The CPU-time ratio uses the process's CPU seconds (user + system) per epoch
instead of wall time, which other jobs' load disturbs less. Compile time is
given three ways: the first epoch's time minus a steady epoch's, the same in
CPU seconds, and the wall time jax.monitoring reports for tracing, lowering
and XLA compilation during the first epoch (nested spans merged). 'setup' is
the time from the train() call to the first epoch (environment, reset and
AMP set-up, with their own compilations).

Those in-process compile times depend on the order: the same epoch compiles
markedly slower (up to 1.6x seen) when another has been compiled before it
in the process. The compile-time ratio is therefore measured apart, after
the throughput runs: `--compile_rounds` rounds of fresh processes, one per
variant and round in turn (off, on, off, on, ...), each of which only
traces, lowers and compiles the first training epoch ahead of time
(compiled_epoch.py's capture) and exits. The ratio is that of the
medians, in CPU seconds of the process (the load of other jobs disturbs
them less) and in wall seconds.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List

DEFAULT_VARIANTS = 'off,on'
# A compile-only child prints its figures on one line after this marker.
_COMPILE_MARKER = 'COMPILE_SECONDS '

# PPO settings that are flags, defaulting to the ant config's.
_PPO_FLAGS = ('num_minibatches', 'unroll_length', 'num_updates_per_batch')

# The repository root, where `python -m benchmarks.throughput` runs.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv=None) -> argparse.Namespace:
  parser = training_parser(__doc__)
  parser.add_argument('--epochs', type=int, default=7,
                      help='epochs per variant, the compiling first included')
  parser.add_argument('--variants', default=DEFAULT_VARIANTS,
                      help='comma-separated variants; the first "off" one is '
                      'the baseline of the ratios')
  parser.add_argument('--target', type=float, default=0.90,
                      help='target ratio of AMP-on to AMP-off env steps/s')
  parser.add_argument('--compile_rounds', type=int, default=3,
                      help='rounds of fresh processes that only compile the '
                      'first epoch, one per variant; 0 skips the '
                      'compile-time ratio')
  parser.add_argument('--compile_target', type=float, default=1.3,
                      help='target ratio of AMP-on to AMP-off compile time')
  parser.add_argument('--compile_only', default=None, help=argparse.SUPPRESS)
  return parser.parse_args(argv)


def training_parser(doc: str) -> argparse.ArgumentParser:
  """A parser with the training flags, shared with profile_amp.py, scaling.py.

  Args:
    doc: the script's docstring; its first paragraph describes the script.
  """
  parser = argparse.ArgumentParser(
      description=doc.split('\n\n')[0],
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  parser.add_argument('--env', default='ant', help='Brax environment name')
  parser.add_argument('--backend', default='spring', help='Brax backend')
  parser.add_argument('--num_envs', type=int, default=1024)
  parser.add_argument('--batch_size', type=int, default=512,
                      help='Brax batch_size; 512 with 1024 envs keeps '
                      "Brax's ant ratio (2048 with 4096 envs): 16 unrolls "
                      'per environment per training step')
  # None: the value of amp_ppo/configs/ant.py, read once JAX may be imported.
  for name in _PPO_FLAGS:
    parser.add_argument(f'--{name}', type=int, default=None,
                        help="None: the value in amp_ppo/configs/ant.py")
  parser.add_argument('--steps_per_epoch', type=int, default=1,
                      help='PPO training steps per epoch')
  parser.add_argument('--devices', type=int, default=1,
                      help='pmap devices (max_devices_per_host); above 1, '
                      'CPU devices are forced with XLA_FLAGS')
  parser.add_argument('--reference_steps', type=int, default=400,
                      help='control steps of the generated reference motion')
  return parser


def force_host_devices(count: int) -> None:
  """Makes XLA's CPU backend expose `count` devices; call before jax import."""
  if 'jax' in sys.modules:
    raise RuntimeError('set the device count before importing jax')
  flags = [f for f in os.environ.get('XLA_FLAGS', '').split()
           if not f.startswith('--xla_force_host_platform_device_count')]
  flags.append(f'--xla_force_host_platform_device_count={count}')
  os.environ['XLA_FLAGS'] = ' '.join(flags)


def ppo_arguments(args: argparse.Namespace):
  """bench_lib.ppo_arguments for the flags; imports JAX."""
  from benchmarks import bench_lib  # pylint: disable=g-import-not-at-top

  return bench_lib.ppo_arguments(
      num_envs=args.num_envs, batch_size=args.batch_size,
      steps_per_epoch=args.steps_per_epoch, epochs=args.epochs,
      devices=args.devices,
      overrides={name: getattr(args, name) for name in _PPO_FLAGS
                 if getattr(args, name) is not None})


def prepare(args: argparse.Namespace, workdir: str, log=print):
  """(environment, reference path, PPO arguments) for the flags."""
  # Imported here: JAX must see XLA_FLAGS first (see force_host_devices).
  from brax import envs  # pylint: disable=g-import-not-at-top
  from benchmarks import bench_lib  # pylint: disable=g-import-not-at-top

  environment = envs.get_environment(args.env, backend=args.backend)
  reference_path = os.path.join(workdir, f'{args.env}_reference.npz')
  started = time.perf_counter()
  info = bench_lib.record_reference(environment, reference_path,
                                    num_steps=args.reference_steps)
  log(f'reference: {info["frames"]} frames at {info["fps"]:g} fps '
      f'({info["seconds"]:.1f} s of scripted periodic gait'
      f'{", cut at a terminal state" if info["ended_early"] else ""}), '
      f'recorded in {time.perf_counter() - started:.1f} s')
  return environment, reference_path, ppo_arguments(args)


def describe_config(args, ppo_args, devices: str = '') -> str:
  from benchmarks import bench_lib  # pylint: disable=g-import-not-at-top

  steps = bench_lib.env_steps_per_training_step(ppo_args)
  network = bench_lib.ant_config().network
  devices = devices or f'{args.devices} device(s)'
  return (
      f'env {args.env} (backend {args.backend}), {args.num_envs} envs, '
      f'{devices}; PPO: batch_size {args.batch_size}, '
      f'unroll_length {ppo_args["unroll_length"]}, num_minibatches '
      f'{ppo_args["num_minibatches"]}, num_updates_per_batch '
      f'{ppo_args["num_updates_per_batch"]}, policy '
      f'{network.policy_hidden_layer_sizes}, value '
      f'{network.value_hidden_layer_sizes}, other settings '
      f'amp_ppo/configs/ant.py\'s; {steps} env steps per training step, '
      f'{args.steps_per_epoch} training step(s) per epoch, {args.epochs} '
      'epochs per variant')


def result_tables(results, baseline: int) -> str:
  """Throughput, compile and per-epoch tables, as markdown."""
  from benchmarks import bench_lib  # pylint: disable=g-import-not-at-top

  base = results[baseline]
  throughput_rows, compile_rows = [], []
  for i, r in enumerate(results):
    sps = [e.sps for e in r.steady]
    pairs = bench_lib.paired_ratios(results, i, baseline)
    cpu_pairs = bench_lib.paired_ratios(results, i, baseline, cpu=True)
    throughput_rows.append([
        r.variant.spec,
        f'{r.steady_sps:,.0f}',
        f'{min(sps):,.0f}-{max(sps):,.0f}',
        f'{r.steady_sps / base.steady_sps:.3f}',
        '-' if i == baseline else ', '.join(f'{x:.2f}' for x in pairs),
        f'{statistics.median(pairs):.3f}',
        f'{r.steady_cpu_seconds:.1f}',
        f'{statistics.median(cpu_pairs):.3f}',
    ])
    compile_rows.append([
        r.variant.spec,
        f'{r.epochs[0].seconds:.1f}',
        f'{r.steady_seconds:.1f}',
        f'{r.compile_estimate:.1f}',
        f'{r.epochs[0].cpu_seconds - r.steady_cpu_seconds:.1f}',
        f'{r.compile_seconds("first epoch"):.1f}',
        f'{r.setup_seconds:.1f} ({r.compile_seconds("setup"):.1f})',
        ', '.join(r.steady_compiles) or 'nothing',
    ])
  tables = [
      f'Throughput (steady epochs 2..N; ratios against "{base.variant.spec}"):',
      bench_lib.markdown_table(
          ['variant', 'env steps/s (median)', 'min-max', 'ratio of medians',
           'per-round ratios', 'ratio, per-round median', 'CPU s per epoch',
           'CPU-time ratio, per-round median'], throughput_rows),
      'Compile time (s):',
      bench_lib.markdown_table(
          ['variant', 'first epoch', 'steady epoch', 'compile: first - steady',
           'compile CPU s: first - steady',
           'compile: jax.monitoring, first epoch',
           'setup (of which compiling)', 'compiled in epochs 2..N'],
          compile_rows),
      'Per epoch, in the order run (env steps/s / CPU s; epoch 1 compiles):',
      bench_lib.markdown_table(
          ['epoch'] + [r.variant.spec for r in results],
          [[k + 1] + [f'{r.epochs[k].sps:,.0f} / {r.epochs[k].cpu_seconds:.1f}'
                      for r in results] for k in range(len(base.epochs))]),
  ]
  return '\n\n'.join(tables)


def amp_check_lines(results) -> str:
  """Final-epoch sanity of each variant: finiteness and AMP replay fill."""
  from benchmarks import bench_lib  # pylint: disable=g-import-not-at-top

  lines = []
  for r in results:
    metrics = r.epochs[-1].metrics
    finite, bad = bench_lib.finite_metrics(metrics)
    text = (f'{r.variant.spec}: final metrics '
            f'{"all finite" if finite else "NON-FINITE: " + ", ".join(bad)}')
    if r.variant.amp:
      text += (f'; disc_loss {metrics["training/amp/disc_loss"]:.3f}, '
               f'style_reward_mean '
               f'{metrics["training/amp/style_reward_mean"]:.3f}, '
               f'replay_fill {metrics["training/amp/replay_fill"]:.3f}')
    lines.append(text)
  return '\n'.join(lines)


def _compile_child(args: argparse.Namespace) -> int:
  """Compiles the first epoch of one variant ahead of time; prints figures."""
  import jax  # pylint: disable=g-import-not-at-top
  import amp_ppo  # pylint: disable=g-import-not-at-top
  from benchmarks import bench_lib  # pylint: disable=g-import-not-at-top
  from benchmarks import compiled_epoch  # pylint: disable=g-import-not-at-top

  # A persistent cache would turn the second round into a cache read.
  jax.config.update('jax_enable_compilation_cache', False)
  variant = bench_lib.Variant.parse(args.compile_only)
  sink = {}
  with tempfile.TemporaryDirectory(prefix='amp_bench_') as workdir:
    environment, reference_path, ppo_args = prepare(
        args, workdir, log=lambda *_: None)
    with compiled_epoch.capture_training_epoch(sink, run=False):
      try:
        amp_ppo.train(environment=environment, **ppo_args,
                      **variant.train_arguments(reference_path))
      except compiled_epoch.Captured:
        pass
  (epoch,) = sink.values()
  print(_COMPILE_MARKER + json.dumps(dict(
      seconds=epoch.compile_seconds, lower_seconds=epoch.lower_seconds,
      cpu_seconds=epoch.compile_cpu_seconds)), flush=True)
  return 0


def _child_argv(args: argparse.Namespace, spec: str):
  """The training flags of this run, for a compile-only child of `spec`."""
  argv = [f'--env={args.env}', f'--backend={args.backend}',
          f'--num_envs={args.num_envs}', f'--batch_size={args.batch_size}',
          f'--steps_per_epoch={args.steps_per_epoch}',
          f'--devices={args.devices}', f'--epochs={args.epochs}',
          f'--reference_steps={args.reference_steps}',
          f'--compile_only={spec}']
  argv += [f'--{name}={getattr(args, name)}' for name in _PPO_FLAGS
           if getattr(args, name) is not None]
  return argv


def compile_ratios(args: argparse.Namespace, variants, baseline: int,
                   log=print) -> str:
  """Runs the compile-only rounds (see the module doc); a markdown report."""
  figures = {v.spec: [] for v in variants}
  for round_index in range(args.compile_rounds):
    for variant in variants:
      completed = subprocess.run(
          [sys.executable, '-m', 'benchmarks.throughput'] +
          _child_argv(args, variant.spec), cwd=_ROOT,
          capture_output=True, text=True, check=False)
      lines = [line for line in completed.stdout.splitlines()
               if line.startswith(_COMPILE_MARKER)]
      if completed.returncode or not lines:
        raise RuntimeError(
            f'compile-only run of {variant.spec!r} failed '
            f'(exit {completed.returncode}):\n{completed.stderr[-3000:]}')
      figure = json.loads(lines[-1][len(_COMPILE_MARKER):])
      figures[variant.spec].append(figure)
      log(f'compile round {round_index + 1}/{args.compile_rounds} '
          f'{variant.spec}: {figure["seconds"]:.1f} s, '
          f'{figure["cpu_seconds"]:.1f} CPU s')
  return compile_ratio_report(figures, variants, baseline,
                              args.compile_target)


def compile_ratio_report(figures: Dict[str, List[Dict[str, float]]],
                         variants, baseline: int, target: float) -> str:
  """The compile-time table and verdict, as markdown.

  Args:
    figures: per variant spec, one figure per round: the child's `seconds`
      (wall), `lower_seconds` (of which tracing and lowering) and
      `cpu_seconds`.
    variants: bench_lib.Variant of each spec, in order.
    baseline: index of the variant the ratios divide by.
    target: the most AMP on (defaults) may take, as a ratio of CPU seconds.
  """
  from benchmarks import bench_lib  # pylint: disable=g-import-not-at-top

  median = lambda spec, key: statistics.median(f[key] for f in figures[spec])
  base = variants[baseline].spec
  rounds = len(figures[base])
  rows = []
  for variant in variants:
    spec = variant.spec
    rows.append([
        spec,
        ', '.join(f'{f["cpu_seconds"]:.1f}' for f in figures[spec]),
        f'{median(spec, "cpu_seconds"):.1f}',
        f'{median(spec, "seconds"):.1f}',
        f'{median(spec, "lower_seconds"):.1f}',
        f'{median(spec, "cpu_seconds") / median(base, "cpu_seconds"):.3f}',
        f'{median(spec, "seconds") / median(base, "seconds"):.3f}'])
  lines = [
      f'Compile time of the first training epoch, {rounds} fresh process(es) '
      'per variant, taking turns (ratios of medians against '
      f'"{base}"):', '',
      bench_lib.markdown_table(
          ['variant', 'CPU s per round', 'CPU s (median)', 'wall s (median)',
           'of which tracing + lowering', 'ratio, CPU s', 'ratio, wall s'],
          rows)]
  for variant in variants:
    if variant.spec == 'on':
      ratio = median('on', 'cpu_seconds') / median(base, 'cpu_seconds')
      verdict = 'met' if ratio <= target else 'NOT met'
      lines += ['', f'AMP on (defaults) / AMP off, compile CPU s: '
                f'{ratio:.3f}. Target <= {target:.2f}: {verdict}.']
  return '\n'.join(lines)


def main(argv=None) -> int:
  args = parse_args(argv)
  if args.epochs < 2:
    raise SystemExit('--epochs must be >= 2: epoch 1 compiles.')
  if args.devices > 1:
    force_host_devices(args.devices)
  if args.compile_only:
    return _compile_child(args)
  # Imported after the device count is set.
  from benchmarks import bench_lib  # pylint: disable=g-import-not-at-top

  machine = bench_lib.machine_description()
  print('machine: ' + '; '.join(f'{k} {v}' for k, v in machine.items()))
  variants = [bench_lib.Variant.parse(v) for v in args.variants.split(',')]
  baseline = next((i for i, v in enumerate(variants) if not v.amp), None)
  if baseline is None:
    raise SystemExit('--variants needs an "off" variant as the baseline.')
  started = time.perf_counter()
  with tempfile.TemporaryDirectory(prefix='amp_bench_') as workdir:
    environment, reference_path, ppo_args = prepare(args, workdir)
    config = describe_config(args, ppo_args)
    print('config: ' + config)
    print('training, variants taking turns epoch by epoch:')
    results = bench_lib.run_interleaved(environment, variants, ppo_args,
                                        reference_path, args.epochs)
  total = time.perf_counter() - started

  print()
  print(amp_check_lines(results))
  print()
  print(f'AMP overhead benchmark ({config}); wall time {total / 60:.1f} min')
  print()
  print(result_tables(results, baseline))
  base = results[baseline]
  for r in results:
    if r.variant.spec == 'on':
      index = results.index(r)
      ratio = statistics.median(
          bench_lib.paired_ratios(results, index, baseline))
      cpu_ratio = statistics.median(
          bench_lib.paired_ratios(results, index, baseline, cpu=True))
      per_step = (r.steady_seconds - base.steady_seconds) / (
          args.steps_per_epoch)
      per_step_cpu = (r.steady_cpu_seconds - base.steady_cpu_seconds) / (
          args.steps_per_epoch)
      verdict = 'met' if ratio >= args.target else 'NOT met'
      print()
      print(f'AMP on (defaults) / AMP off, env steps/s: {ratio:.3f} '
            f'(per-round median; ratio of medians '
            f'{r.steady_sps / base.steady_sps:.3f}; per CPU second '
            f'{cpu_ratio:.3f}). Target >= {args.target:.2f}: {verdict}. AMP '
            f'adds {per_step:.1f} s ({per_step_cpu:.1f} CPU s) per training '
            f'step to {base.steady_seconds / args.steps_per_epoch:.1f} s '
            f'({base.steady_cpu_seconds / args.steps_per_epoch:.1f} CPU s) '
            'without AMP.')
  if args.compile_rounds:
    print()
    print(compile_ratios(args, variants, baseline,
                         log=lambda line: print(line, flush=True)))
  return 0


if __name__ == '__main__':
  sys.exit(main())
