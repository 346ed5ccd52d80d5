"""The trainer's training epoch compiled ahead of time, and its XLA memory.

Shared by gpu.py (the epochs it runs), memory.py (epochs compiled and not
run) and throughput.py (compile-only child processes):

- `capture_training_epoch`: within it, the vendored trainer's pmapped
  `training_epoch` is lowered and compiled at its first call
  (`jax.pmap(...).lower(*args).compile()`), timed, and analysed; then the
  executable runs, or `Captured` stops the training run. The vendored
  trainer is not modified: `jax.pmap` is wrapped for the duration.
- `EpochMemory`: XLA's memory analysis of one compiled epoch, per device.
- `memory_table`: AMP off against on, as markdown.

Importing this module imports neither JAX nor bench_lib: scripts that force
a device count import it before JAX.
"""

import contextlib
import dataclasses
import math
import threading
import time
from typing import Dict, List

# 12 GB, the consumer GPU the humanoid config is sized for.
BUDGET_BYTES = 12e9


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
def capture_training_epoch(sink: Dict[str, EpochMemory], run: bool):
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
             cpu_seconds: float) -> EpochMemory:
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


@dataclasses.dataclass
class MemoryRow:
  """One task's training epoch, AMP off and on, at one environment count."""
  task: str
  num_envs: int
  off: EpochMemory
  on: EpochMemory
  seconds: float


def gib(nbytes: float) -> str:
  return 'n/a' if nbytes is None or not math.isfinite(nbytes) else (
      f'{nbytes / 2**30:.2f}')


def _mib(nbytes: float) -> str:
  return f'{nbytes / 2**20:,.1f}'


def memory_table(rows: List[MemoryRow]) -> str:
  """What AMP adds to each row's epoch, in MiB, as markdown."""
  from benchmarks import bench_lib  # pylint: disable=g-import-not-at-top
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
        'yes' if r.on.total <= BUDGET_BYTES else 'NO',
        f'{r.off.compile_seconds:.0f} / {r.on.compile_seconds:.0f}',
    ])
  return bench_lib.markdown_table(
      ['task', 'envs', 'PPO epoch total MiB', 'AMP epoch total MiB',
       'AMP adds MiB', 'of which arguments', 'of which temporaries',
       'AMP state MiB', 'of which replay', 'AMP total GB',
       'fits 12 GB', 'compile s PPO / AMP'], cells)
