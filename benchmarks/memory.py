r"""Device memory AMP adds, from XLA's analysis of the compiled training epoch.

No GPU needed: for each task (see gpu.py) and environment count, AMP off and
on, `amp_ppo.train` runs as far as its first training epoch (the environment
is reset at full size), and the pmapped `training_epoch` of the vendored
trainer is lowered and compiled instead of run
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
backend's own compile.

  python benchmarks/memory.py                     # the full table
  python benchmarks/memory.py --tasks go1 --num_envs 2048 --tiny
"""

import argparse
import contextlib
import dataclasses
import math
import os
import sys
import tempfile
import threading
import time
from typing import Any, Dict, List, Optional

import gpu

# 12 GB, the consumer GPU the humanoid config is sized for.
_BUDGET_BYTES = 12e9


def parse_args(argv=None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      description=__doc__.split('\n\n')[0],
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  parser.add_argument('--tasks', default='go1,humanoid,brax_humanoid',
                      help=f'comma-separated, of {", ".join(gpu.TASKS)}')
  parser.add_argument('--num_envs', default='2048,8192',
                      help='comma-separated environment counts')
  parser.add_argument('--tiny', action='store_true',
                      help="tiny networks and sizes (the smoke test's)")
  args = parser.parse_args(argv)
  args.tasks = [t for t in args.tasks.split(',') if t]
  args.num_envs = [int(n) for n in args.num_envs.split(',') if n]
  unknown = sorted(set(args.tasks) - set(gpu.TASKS))
  if unknown:
    parser.error(f'unknown tasks {unknown}; use {", ".join(gpu.TASKS)}')
  return args


class Captured(Exception):
  """Raised in place of the first training epoch once it is compiled."""


@dataclasses.dataclass
class EpochMemory:
  """XLA's memory analysis of one compiled training epoch (per device)."""
  arguments: int
  outputs: int
  aliased: int
  temporaries: int
  code: int
  amp_state: int      # bytes of the AMP state in the arguments (0: AMP off)
  replay: int         # of which the replay buffer
  compile_seconds: float      # wall: tracing, lowering and XLA compile
  lower_seconds: float        # of which tracing and lowering to StableHLO
  compile_cpu_seconds: float  # the process's CPU seconds for all of it

  @property
  def total(self) -> int:
    return self.arguments + self.outputs - self.aliased + self.temporaries


def _nbytes(tree) -> int:
  import jax  # pylint: disable=g-import-not-at-top
  return int(sum(getattr(x, 'nbytes', 0) for x in jax.tree_util.tree_leaves(
      tree)))


@contextlib.contextmanager
def capture_training_epoch(sink: Dict[str, 'EpochMemory'], run: bool):
  """Within: the vendored trainer's pmapped epoch is compiled ahead of time.

  At the first call of the pmapped function named `training_epoch`, it is
  lowered and compiled with the call's arguments, and
  `sink[thread name]` receives the executable's EpochMemory. Then, with
  `run`, that executable runs this call and every later one (a call with
  other shapes raises instead of recompiling); without, `Captured` is
  raised in place of running it.

  Args:
    sink: receives one EpochMemory per thread that compiled an epoch.
    run: run the epoch, or stop the training run once it is compiled.
  """
  import jax  # pylint: disable=g-import-not-at-top

  real_pmap = jax.pmap

  def pmap(fun, *args, **kwargs):
    mapped = real_pmap(fun, *args, **kwargs)
    if getattr(fun, '__name__', '') != 'training_epoch':
      return mapped
    executable = []

    def compile_ahead(training_state, env_state, key):
      if not executable:
        started, started_cpu = time.perf_counter(), time.process_time()
        lowered = mapped.lower(training_state, env_state, key)
        lowered_at = time.perf_counter()
        compiled = lowered.compile()
        sink[threading.current_thread().name] = _analyse(
            compiled, training_state, time.perf_counter() - started,
            lower_seconds=lowered_at - started,
            cpu_seconds=time.process_time() - started_cpu)
        if not run:
          raise Captured()
        executable.append(compiled)
      return executable[0](training_state, env_state, key)

    return compile_ahead

  jax.pmap = pmap
  try:
    yield
  finally:
    jax.pmap = real_pmap


def _analyse(compiled, training_state, seconds: float, lower_seconds: float,
             cpu_seconds: float) -> 'EpochMemory':
  import jax  # pylint: disable=g-import-not-at-top
  analysis = compiled.memory_analysis()
  devices = max(jax.local_device_count(), 1)
  amp_state = getattr(training_state, 'amp', None)
  # The arrays given are stacked over devices; per device, divide.
  return EpochMemory(
      arguments=int(analysis.argument_size_in_bytes),
      outputs=int(analysis.output_size_in_bytes),
      aliased=int(analysis.alias_size_in_bytes),
      temporaries=int(analysis.temp_size_in_bytes),
      code=int(analysis.generated_code_size_in_bytes),
      amp_state=_nbytes(amp_state) // devices if amp_state else 0,
      replay=_nbytes(amp_state.replay) // devices if amp_state else 0,
      compile_seconds=seconds, lower_seconds=lower_seconds,
      compile_cpu_seconds=cpu_seconds)


def epoch_memory(task: 'gpu.Task', amp: bool) -> EpochMemory:
  """Compiles `task`'s first training epoch, AMP off or on, and analyses it."""
  import amp_ppo  # pylint: disable=g-import-not-at-top

  sink = {}
  args = dict(task.ppo_args, max_devices_per_host=1)
  if amp:
    args.update(task.amp_args, amp_reference=task.reference_path)
  with capture_training_epoch(sink, run=False):
    try:
      amp_ppo.train(environment=task.environment, **args)
    except Captured:
      pass
  if not sink:
    raise RuntimeError(f'{task.name}: the training epoch was never called.')
  return sink[threading.current_thread().name]


@dataclasses.dataclass
class MemoryRow:
  task: str
  num_envs: int
  off: EpochMemory
  on: EpochMemory
  seconds: float


def task_memory(task: 'gpu.Task', log=print) -> MemoryRow:
  started = time.perf_counter()
  off = epoch_memory(task, amp=False)
  log(f'  {task.name}, {task.ppo_args["num_envs"]} envs, AMP off: epoch '
      f'compiled in {off.compile_seconds:.1f} s, {gpu.gib(off.total)} GiB')
  on = epoch_memory(task, amp=True)
  log(f'  {task.name}, {task.ppo_args["num_envs"]} envs, AMP on: epoch '
      f'compiled in {on.compile_seconds:.1f} s, {gpu.gib(on.total)} GiB')
  return MemoryRow(task=task.name, num_envs=task.ppo_args['num_envs'],
                   off=off, on=on, seconds=time.perf_counter() - started)


def _mib(nbytes: float) -> str:
  return f'{nbytes / 2**20:,.1f}'


def memory_table(rows: List[MemoryRow]) -> str:
  import bench_lib  # pylint: disable=g-import-not-at-top
  cells = []
  for r in rows:
    added = r.on.total - r.off.total
    cells.append([
        r.task, r.num_envs,
        _mib(r.off.total), _mib(r.on.total), _mib(added),
        _mib(r.on.arguments - r.off.arguments),
        _mib(r.on.temporaries - r.off.temporaries),
        _mib(r.on.amp_state), _mib(r.on.replay),
        f'{r.on.total / 1e9:.2f}',
        'yes' if r.on.total <= _BUDGET_BYTES else 'NO',
        f'{r.off.compile_seconds:.0f} / {r.on.compile_seconds:.0f}',
    ])
  return bench_lib.markdown_table(
      ['task', 'envs', 'PPO epoch total MiB', 'AMP epoch total MiB',
       'AMP adds MiB', 'of which arguments', 'of which temporaries',
       'AMP state MiB', 'of which replay', 'AMP total GB',
       'fits 12 GB', 'compile s PPO / AMP'], cells)


def main(argv=None) -> int:
  args = parse_args(argv)
  import bench_lib  # pylint: disable=g-import-not-at-top

  machine = bench_lib.machine_description()
  print('machine: ' + '; '.join(f'{k} {v}' for k, v in machine.items()))
  print(f'command: python benchmarks/memory.py {" ".join(argv or sys.argv[1:])}')
  started = time.perf_counter()
  rows = []
  with tempfile.TemporaryDirectory(prefix='amp_memory_') as workdir:
    for name in args.tasks:
      for num_envs in args.num_envs:
        task = gpu.make_task(name, workdir, num_envs, epochs=2,
                             steps_per_epoch=1, tiny=args.tiny)
        if num_envs == args.num_envs[0]:
          print(f'config: {gpu.describe(task)}')
        rows.append(task_memory(task))
        sys.stdout.flush()
  print()
  print(f'XLA memory analysis of the compiled training epoch, per device '
        f'(1 device; wall time {(time.perf_counter() - started) / 60:.1f} '
        'min). "epoch total" = arguments + outputs - aliased (donated) + '
        'temporaries:')
  print()
  print(memory_table(rows))
  for r in rows:
    for label, m in (('off', r.off), ('on', r.on)):
      if not all(math.isfinite(x) for x in (m.total, m.arguments)):
        raise RuntimeError(f'{r.task} {label}: non-finite figures')
  return 0


if __name__ == '__main__':
  sys.exit(main())
