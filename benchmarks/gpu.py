r"""GPU benchmark: Brax PPO against amp_ppo, AMP off and on, at GPU sizes.

For each task, trains AMP off and AMP on in one process, taking turns epoch
by epoch (bench_lib.run_interleaved, as throughput.py does), and prints env
steps/s of each, the AMP/PPO ratio, the first epoch's compile time and the
peak device memory (`device.memory_stats()`, where the backend has it).

Tasks (--tasks, comma-separated; gpu_tasks.py says what each trains): go1
and humanoid (MuJoCo Playground's robots through Playground's own train
call), brax_humanoid (Brax humanoid, backend mjx). AMP on uses the configs'
AMP section. Only the sizes deviate from the published settings, for timing
(gpu_tasks.py).

The full run, on one GPU (target: AMP/PPO >= 0.95; Playground's published
PPO rates are the PPO reference), sized for 8 minutes on one H200 (not yet
run on one):

  python -m benchmarks.gpu

On a GPU machine, install CUDA JAX into the project's venv first (README,
"On your own GPU"): `pip install -U "jax[cuda13]"` (or cuda12).

A tiny run on a CPU (the same code path with tiny networks and sizes, one
task; a few minutes on 2 cores):

  python -m benchmarks.gpu --tiny --tasks go1 --epochs 2 --steps_per_epoch 1

Each variant's training epoch is compiled ahead of time at its first call
(compiled_epoch.capture_training_epoch: the same compile, done through
`.lower().compile()`, whose executable then runs every epoch), so the XLA
memory analysis of the executable that ran is printed too, per variant.

Run from the repository root.
"""

import argparse
import dataclasses
import math
import statistics
import sys
import tempfile
import time
from typing import Any, Dict, List

from benchmarks import compiled_epoch
from benchmarks import gpu_tasks


def parse_args(argv=None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      description=__doc__.split('\n\n')[0],
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  parser.add_argument('--tasks', default=','.join(gpu_tasks.TASKS),
                      help=f'comma-separated, of {", ".join(gpu_tasks.TASKS)}')
  parser.add_argument('--num_envs', type=int, default=None,
                      help='None: 8192 for the Playground tasks (published), '
                      '4096 for brax_humanoid (its config has 2048)')
  parser.add_argument('--epochs', type=int, default=4,
                      help='epochs per variant, the compiling first included')
  parser.add_argument('--steps_per_epoch', type=int, default=4,
                      help='PPO training steps per epoch')
  parser.add_argument('--target', type=float, default=0.95,
                      help='target ratio of AMP-on to AMP-off env steps/s')
  parser.add_argument('--impl', choices=('jax', 'warp'), default=None,
                      help="Playground's MJX implementation (default: the "
                      "environment's own; 'jax' needs no Warp)")
  parser.add_argument('--tiny', action='store_true',
                      help='tiny networks and sizes, for a CPU smoke test')
  args = parser.parse_args(argv)
  args.tasks = [t for t in args.tasks.split(',') if t]
  unknown = sorted(set(args.tasks) - set(gpu_tasks.TASKS))
  if unknown:
    parser.error(f'unknown tasks {unknown}; use '
                 f'{", ".join(gpu_tasks.TASKS)}')
  if args.epochs < 2:
    parser.error('--epochs must be >= 2: epoch 1 compiles.')
  return args


# --------------------------------------------------------------- variants


def variants(task: gpu_tasks.Task):
  from benchmarks import bench_lib  # pylint: disable=g-import-not-at-top
  return [bench_lib.Variant(spec='off', amp=False, arguments=()),
          bench_lib.Variant(spec='on', amp=True,
                            arguments=tuple(task.amp_args.items()))]


# ---------------------------------------------------------------- memory


def device_memory() -> Dict[str, float]:
  """bytes_in_use and peak_bytes_in_use of device 0 (empty where absent)."""
  import jax  # pylint: disable=g-import-not-at-top
  try:
    stats = jax.local_devices()[0].memory_stats() or {}
  except Exception:  # pylint: disable=broad-except
    stats = {}
  return {k: float(stats[k]) for k in ('bytes_in_use', 'peak_bytes_in_use',
                                       'bytes_limit') if k in stats}


# ------------------------------------------------------------------- run


@dataclasses.dataclass
class TaskResult:
  task: gpu_tasks.Task
  results: List[Any]            # bench_lib.RunResult: off, on
  seconds: float
  memory_before: Dict[str, float]
  memory_after: Dict[str, float]
  epoch_memory: compiled_epoch.MemoryRow  # of the executables run
  ratio: float
  cpu_ratio: float
  compile_ratio: float


def run_task(task: gpu_tasks.Task, epochs: int, log=print) -> TaskResult:
  """Trains AMP off and on, taking turns; their figures."""
  from benchmarks import bench_lib  # pylint: disable=g-import-not-at-top
  memory_before = device_memory()
  started = time.perf_counter()
  compiled = {}
  with compiled_epoch.capture_training_epoch(compiled, run=True):
    results = bench_lib.run_interleaved(task.environment, variants(task),
                                        task.ppo_args, task.reference_path,
                                        epochs, log=log)
  return task_result(task, results, compiled,
                     seconds=time.perf_counter() - started,
                     memory_before=memory_before,
                     memory_after=device_memory())


def task_result(task: gpu_tasks.Task, results, compiled, seconds: float,
                memory_before: Dict[str, float],
                memory_after: Dict[str, float]) -> TaskResult:
  """The ratios of AMP on to off from their runs (bench_lib.RunResult).

  Args:
    task: what was trained.
    results: AMP off's and on's runs, from bench_lib.run_interleaved.
    compiled: each variant's thread name to its compiled epoch's memory.
    seconds: wall time of both runs.
    memory_before: device_memory() before the runs.
    memory_after: device_memory() after them.
  """
  from benchmarks import bench_lib  # pylint: disable=g-import-not-at-top
  off, on = results
  first = 'first epoch'
  return TaskResult(
      task=task, results=results, seconds=seconds,
      memory_before=memory_before, memory_after=memory_after,
      epoch_memory=compiled_epoch.MemoryRow(
          task=task.name, num_envs=task.ppo_args['num_envs'],
          off=compiled['bench-off'], on=compiled['bench-on'],
          seconds=seconds),
      ratio=statistics.median(bench_lib.paired_ratios(results, 1, 0)),
      cpu_ratio=statistics.median(bench_lib.paired_ratios(results, 1, 0,
                                                          cpu=True)),
      compile_ratio=(on.compile_seconds(first) /
                     max(off.compile_seconds(first), 1e-9)))


def task_table(result: TaskResult) -> str:
  from benchmarks import bench_lib  # pylint: disable=g-import-not-at-top
  rows = []
  for r in result.results:
    rows.append([
        r.variant.spec,
        f'{r.steady_sps:,.0f}',
        f'{min(e.sps for e in r.steady):,.0f}-'
        f'{max(e.sps for e in r.steady):,.0f}',
        f'{r.compile_seconds("first epoch"):.1f}',
        f'{r.compile_estimate:.1f}',
        f'{r.setup_seconds:.1f}',
        ', '.join(r.steady_compiles) or 'nothing',
    ])
  return bench_lib.markdown_table(
      ['AMP', 'env steps/s (median)', 'min-max', 'compile s (first epoch, '
       'jax.monitoring)', 'first - steady epoch s', 'setup s',
       'compiled in epochs 2..N'], rows)


def summary_table(task_results: List[TaskResult], target: float) -> str:
  from benchmarks import bench_lib  # pylint: disable=g-import-not-at-top
  rows = []
  for t in task_results:
    off, on = t.results
    finite = all(bench_lib.finite_metrics(r.epochs[-1].metrics)[0]
                 for r in t.results)
    rows.append([
        t.task.name, t.task.ppo_args['num_envs'], f'{off.steady_sps:,.0f}',
        f'{on.steady_sps:,.0f}', f'{t.ratio:.3f}',
        'met' if t.ratio >= target else 'NOT met', f'{t.cpu_ratio:.3f}',
        f'{off.compile_seconds("first epoch"):.1f}',
        f'{on.compile_seconds("first epoch"):.1f}', f'{t.compile_ratio:.2f}',
        compiled_epoch.gib(t.memory_after.get('peak_bytes_in_use',
                                              math.nan)),
        compiled_epoch.gib(t.memory_after.get('bytes_limit', math.nan)),
        'yes' if finite else 'NO', f'{t.seconds:.0f}'])
  return bench_lib.markdown_table(
      ['task', 'envs', 'PPO env steps/s', 'AMP env steps/s',
       'AMP/PPO (per-round median)', f'target >= {target:.2f}',
       'AMP/PPO per CPU s', 'PPO compile s', 'AMP compile s',
       'compile ratio', 'peak device GiB (process, so far)',
       'device limit GiB', 'finite metrics', 'task wall s'], rows)


def main(argv=None) -> int:
  args = parse_args(argv)
  import jax  # pylint: disable=g-import-not-at-top
  from benchmarks import bench_lib  # pylint: disable=g-import-not-at-top

  machine = bench_lib.machine_description()
  print('machine: ' + '; '.join(f'{k} {v}' for k, v in machine.items()))
  print('devices: ' + ', '.join(str(d) for d in jax.local_devices()))
  print(f'command: python -m benchmarks.gpu {" ".join(argv or sys.argv[1:])}')
  started = time.perf_counter()
  task_results, memory_rows = [], []
  with tempfile.TemporaryDirectory(prefix='amp_gpu_bench_') as workdir:
    for name in args.tasks:
      task = gpu_tasks.make_task(name, workdir, args.num_envs,
                                 args.epochs, args.steps_per_epoch,
                                 tiny=args.tiny, impl=args.impl)
      env_steps = bench_lib.env_steps_per_training_step(task.ppo_args)
      print(f'config: {gpu_tasks.describe(task)}; {args.steps_per_epoch} '
            f'training step(s) of {env_steps} env steps per epoch, '
            f'{args.epochs} epochs per variant')
      print('training, AMP off and on taking turns epoch by epoch:')
      result = run_task(task, args.epochs)
      task_results.append(result)
      print()
      print(f'{name} ({result.seconds:.0f} s):')
      print(task_table(result))
      print(f'{name}: AMP/PPO env steps/s {result.ratio:.3f} (per-round '
            f'median; per CPU s {result.cpu_ratio:.3f}); target >= '
            f'{args.target:.2f}: '
            f'{"met" if result.ratio >= args.target else "NOT met"}; '
            f'compile ratio {result.compile_ratio:.2f}; device memory '
            f'{result.memory_after or "n/a (no memory_stats on this backend)"}')
      memory_rows.append(result.epoch_memory)
      print(flush=True)
  print(f'GPU benchmark, wall time {(time.perf_counter() - started) / 60:.1f} '
        'min; steady epochs 2..N, AMP on = the configs\' AMP section:')
  print()
  print(summary_table(task_results, args.target))
  print()
  print('XLA memory analysis of the training epochs that ran, per device '
        '(memory.py\'s table; "epoch total" = arguments + outputs - aliased + '
        f'temporaries; {jax.local_devices()[0].platform} compile):')
  print()
  print(compiled_epoch.memory_table(memory_rows))
  return 0


if __name__ == '__main__':
  sys.exit(main())
