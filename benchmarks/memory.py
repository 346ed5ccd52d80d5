r"""Device memory AMP adds, from XLA's analysis of the compiled training epoch.

No GPU needed: for each task (see gpu_tasks.py) and environment count, AMP
off and on, `amp_ppo.train` runs as far as its first training epoch (the
environment is reset at full size), and the pmapped `training_epoch` of the
vendored trainer is lowered and compiled instead of run
(`jax.pmap(...).lower(*args).compile().memory_analysis()`), then the run is
stopped. Nothing trains and the vendored trainer is not modified: `jax.pmap`
is wrapped for the duration of the call, and only the function named
`training_epoch` is captured.

Per device and per epoch call, XLA's buffer assignment gives the bytes of
the arguments (training state with the AMP state and its replay buffer,
environment states, key), outputs, outputs aliased to donated arguments, and
temporaries. The epoch's peak is at most arguments + outputs - aliased +
temporaries; that is what the table calls "epoch total". Outside the epoch a
run holds little more (the evaluator's states with run_evals, a second copy
of the params being logged). On a CPU the figures are the CPU backend's
buffer assignment: a GPU compile fuses differently, so its temporaries
differ, while arguments and outputs (the states, the replay) are the same
arrays. gpu.py prints the same table for the epochs it runs, from the
backend's own compile. The capture and the table are compiled_epoch.py's,
the tasks gpu_tasks.py's. From the repository root:

  python -m benchmarks.memory                     # the full table
  python -m benchmarks.memory --tasks go1 --num_envs 2048 --tiny
"""

import argparse
import math
import sys
import tempfile
import threading
import time

from benchmarks import compiled_epoch
from benchmarks import gpu_tasks


def parse_args(argv=None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      description=__doc__.split('\n\n')[0],
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  parser.add_argument('--tasks', default='go1,humanoid,brax_humanoid',
                      help=f'comma-separated, of {", ".join(gpu_tasks.TASKS)}')
  parser.add_argument('--num_envs', default='2048,8192',
                      help='comma-separated environment counts')
  parser.add_argument('--tiny', action='store_true',
                      help='tiny networks and sizes, for a CPU')
  args = parser.parse_args(argv)
  args.tasks = [t for t in args.tasks.split(',') if t]
  args.num_envs = [int(n) for n in args.num_envs.split(',') if n]
  unknown = sorted(set(args.tasks) - set(gpu_tasks.TASKS))
  if unknown:
    parser.error(f'unknown tasks {unknown}; use {", ".join(gpu_tasks.TASKS)}')
  return args


def epoch_memory(task: gpu_tasks.Task,
                 amp: bool) -> compiled_epoch.EpochMemory:
  """Compiles `task`'s first training epoch, AMP off or on, and analyses it."""
  import amp_ppo  # pylint: disable=g-import-not-at-top

  sink = {}
  args = dict(task.ppo_args, max_devices_per_host=1)
  if amp:
    args.update(task.amp_args, amp_reference=task.reference_path)
  with compiled_epoch.capture_training_epoch(sink, run=False):
    try:
      amp_ppo.train(environment=task.environment, **args)
    except compiled_epoch.Captured:
      pass
  if not sink:
    raise RuntimeError(f'{task.name}: the training epoch was never called.')
  return sink[threading.current_thread().name]


def task_memory(task: gpu_tasks.Task,
                log=print) -> compiled_epoch.MemoryRow:
  started = time.perf_counter()
  off = epoch_memory(task, amp=False)
  num_envs = task.ppo_args['num_envs']
  log(f'  {task.name}, {num_envs} envs, AMP off: epoch compiled in '
      f'{off.compile_seconds:.1f} s, {compiled_epoch.gib(off.total)} GiB')
  on = epoch_memory(task, amp=True)
  log(f'  {task.name}, {num_envs} envs, AMP on: epoch compiled in '
      f'{on.compile_seconds:.1f} s, {compiled_epoch.gib(on.total)} GiB')
  return compiled_epoch.MemoryRow(task=task.name, num_envs=num_envs, off=off,
                                  on=on,
                                  seconds=time.perf_counter() - started)


def main(argv=None) -> int:
  args = parse_args(argv)
  from benchmarks import bench_lib  # pylint: disable=g-import-not-at-top

  machine = bench_lib.machine_description()
  print('machine: ' + '; '.join(f'{k} {v}' for k, v in machine.items()))
  print(f'command: python -m benchmarks.memory '
        f'{" ".join(argv or sys.argv[1:])}')
  started = time.perf_counter()
  rows = []
  with tempfile.TemporaryDirectory(prefix='amp_memory_') as workdir:
    for name in args.tasks:
      for num_envs in args.num_envs:
        task = gpu_tasks.make_task(name, workdir, num_envs, epochs=2,
                                   steps_per_epoch=1, tiny=args.tiny)
        if num_envs == args.num_envs[0]:
          print(f'config: {gpu_tasks.describe(task)}')
        rows.append(task_memory(task))
        sys.stdout.flush()
  print()
  print(f'XLA memory analysis of the compiled training epoch, per device '
        f'(1 device; wall time {(time.perf_counter() - started) / 60:.1f} '
        'min). "epoch total" = arguments + outputs - aliased (donated) + '
        'temporaries:')
  print()
  print(compiled_epoch.memory_table(rows))
  for r in rows:
    for label, m in (('off', r.off), ('on', r.on)):
      if not all(math.isfinite(x) for x in (m.total, m.arguments)):
        raise RuntimeError(f'{r.task} {label}: non-finite figures')
  return 0


if __name__ == '__main__':
  sys.exit(main())
