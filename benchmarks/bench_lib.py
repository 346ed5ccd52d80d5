"""Shared pieces of the amp_ppo benchmarks.

- `record_reference`: a short reference motion made by the environment
  itself under a scripted periodic joint-angle controller, saved with
  `amp_ppo.motion.save_reference`.
- `ppo_arguments`: the PPO settings and networks of amp_ppo/configs/ant.py
  (Brax's published ant hyperparameters), with the sizes the benchmarks vary.
- `run_interleaved`: trains several variants (AMP off, AMP on, ...) in one
  process, one thread each, taking turns epoch by epoch (off, on, off, on,
  ...), so that load from other jobs on a shared machine hits every variant
  alike. Only the variant whose turn it is runs; the others wait on a
  condition variable and use no CPU. Each variant compiles once, in its first
  turn, and reuses the executable afterwards.

Importing this module imports JAX: set XLA_FLAGS before importing it.
"""

import dataclasses
import math
import os
import platform
import resource
import statistics
import subprocess
import threading
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

# Compilation events of jax.monitoring; their spans are merged per variant
# and phase.
_COMPILE_EVENTS = (
    '/jax/core/compile/jaxpr_trace_duration',
    '/jax/core/compile/jaxpr_to_mlir_module_duration',
    '/jax/core/compile/backend_compile_duration',
)

# Phases of a run, for attributing compilations.
_PHASES = ('setup', 'first epoch', 'steady', 'end')

# Thread stack for tracing the training epoch (deeply nested Python calls).
_THREAD_STACK_BYTES = 256 * 1024 * 1024


# --------------------------------------------------------------- reference


def record_reference(env, path: str, num_steps: int = 400,
                     frequency_hz: float = 1.5, amplitude: float = 0.6,
                     kp: float = 2.0, kd: float = 0.1,
                     seed: int = 0) -> Dict[str, Any]:
  """Records (q, qd) of `env` under a periodic joint-angle controller.

  Every actuated joint tracks a sinusoid around the middle of its range
  (`amplitude` of the half range; +-0.5 rad for unlimited joints) with a PD
  law clipped to the action range. Consecutive actuators (hip, ankle of one
  leg) are a quarter period apart and consecutive legs half a period, which
  on the ant is a trot. amp_ppo's recorder rolls it out and ends the clip
  before the first terminal state.

  Args:
    env: a Brax PipelineEnv (unwrapped).
    path: where to write the reference .npz.
    num_steps: control steps to record (frames are num_steps + 1 at most).
    frequency_hz: gait frequency.
    amplitude: fraction of each joint's half range.
    kp: proportional gain, in actions per radian.
    kd: derivative gain, in actions per rad/s.
    seed: reset key.

  Returns:
    A summary: frames, seconds, fps and whether the episode ended early.
  """
  # Imported here: amp_ppo imports Brax's trainer, which the callers of the
  # other helpers may not need.
  from amp_ppo import motion as motion_lib  # pylint: disable=g-import-not-at-top
  from amp_ppo.demos import recorder  # pylint: disable=g-import-not-at-top

  system = env.sys
  q_id = np.asarray(system.actuator.q_id)
  qd_id = np.asarray(system.actuator.qd_id)
  low = np.asarray(system.dof.limit[0])[qd_id]
  high = np.asarray(system.dof.limit[1])[qd_id]
  unlimited = ~(np.isfinite(low) & np.isfinite(high))
  low = np.where(unlimited, -0.5, low)
  high = np.where(unlimited, 0.5, high)
  middle = (low + high) / 2
  swing = amplitude * (high - low) / 2
  index = np.arange(len(q_id))
  phases = np.pi * ((index // 2) % 2) + np.pi / 2 * (index % 2)
  action_low, action_high = (np.asarray(r) for r in
                             np.asarray(system.actuator.ctrl_range).T)

  def controller(state, t, unused_input):
    q, qd = state.pipeline_state.q, state.pipeline_state.qd
    target = middle + swing * jnp.sin(
        2 * jnp.pi * frequency_hz * t * env.dt + phases)
    return jnp.clip(kp * (target - q[q_id]) - kd * qd[qd_id], action_low,
                    action_high)

  recording = recorder.record(env, controller,
                              jax.random.PRNGKey(seed)[None], num_steps)
  arrays = recording.reference()
  motion_lib.save_reference(path, **arrays)
  frames = len(arrays['qpos'])
  return dict(frames=frames, seconds=(frames - 1) / arrays['fps'],
              fps=arrays['fps'], ended_early=bool(recording.ended()[0]))


# ---------------------------------------------------------- configuration


def ant_config():
  """amp_ppo/configs/ant.py's GPU config, the source of the PPO settings."""
  # Imported here so that callers control when JAX and Brax are imported.
  from amp_ppo.configs import ant  # pylint: disable=g-import-not-at-top
  return ant.get_config()


def ppo_arguments(num_envs: int, batch_size: int, steps_per_epoch: int,
                  epochs: int, devices: Optional[int],
                  overrides: Optional[Dict[str, Any]] = None
                  ) -> Dict[str, Any]:
  """Keyword arguments of `amp_ppo.train` for `epochs` timed epochs.

  Settings not given here come from `ant_config()`: its `ppo` section and its
  policy and value networks.

  Args:
    num_envs: parallel environments (over all devices).
    batch_size: Brax's batch_size (trajectories per PPO minibatch).
    steps_per_epoch: PPO training steps (rollout + update) per epoch.
    epochs: training epochs, the compiling first one included.
    devices: max_devices_per_host (None: all local devices).
    overrides: replace any of the ant config's PPO settings.

  Returns:
    The arguments, without environment and callbacks.
  """
  from amp_ppo.run import experiment  # pylint: disable=g-import-not-at-top

  config = ant_config()
  args = dict(config.ppo.to_dict(), **(overrides or {}))
  env_steps = env_steps_per_training_step(args, batch_size)
  args.update(
      num_envs=num_envs,
      batch_size=batch_size,
      num_timesteps=epochs * steps_per_epoch * env_steps,
      num_evals=epochs + 1,  # Brax trains num_evals - 1 epochs.
      run_evals=False,       # Training throughput only.
      max_devices_per_host=devices,
      network_factory=experiment.network_factory(config.network),
  )
  return args


def env_steps_per_training_step(args: Dict[str, Any],
                                batch_size: Optional[int] = None) -> int:
  batch_size = batch_size or args['batch_size']
  return (batch_size * args['unroll_length'] * args['num_minibatches'] *
          args['action_repeat'])


def parse_setting(text: str) -> Any:
  """'256x256' -> (256, 256), '4' -> 4, '0.5' -> 0.5, 'None' -> None,
  anything else -> itself (a str)."""
  if text in ('None', 'none'):
    return None
  if text in ('True', 'true'):
    return True
  if text in ('False', 'false'):
    return False
  if 'x' in text:
    return tuple(int(part) for part in text.split('x'))
  for kind in (int, float):
    try:
      return kind(text)
    except ValueError:
      pass
  return text  # e.g. loss=bce, style_discriminator=conditioned


@dataclasses.dataclass(frozen=True)
class Variant:
  """One configuration to train: AMP off, or on with some settings.

  `spec` is 'off' or 'on', optionally followed by ':name=value' items; a
  name that is a field of amp_ppo.amp.config.AmpConfig sets `amp_<name>`,
  `styles=N` trains N styles in one policy (each on the same reference: the
  cost of the command and the discriminators, not of learning them), any
  other name is passed to amp_ppo.train as is (e.g. check_finite=True).
  """
  spec: str
  amp: bool
  arguments: Tuple[Tuple[str, Any], ...]

  @classmethod
  def parse(cls, spec: str) -> 'Variant':
    from amp_ppo.amp import config as amp_config  # pylint: disable=g-import-not-at-top

    head, *items = spec.split(':')
    if head not in ('off', 'on'):
      raise ValueError(f'variant {spec!r}: start with off or on.')
    amp_fields = {f.name for f in dataclasses.fields(amp_config.AmpConfig)}
    arguments = []
    for item in items:
      name, sep, value = item.partition('=')
      if not sep:
        raise ValueError(f'variant {spec!r}: {item!r} is not name=value.')
      if name in amp_fields or name == _STYLES:
        if head == 'off':
          raise ValueError(f'variant {spec!r}: AMP setting {name} with AMP '
                           'off.')
        name = name if name == _STYLES else 'amp_' + name
      arguments.append((name, parse_setting(value)))
    return cls(spec=spec, amp=head == 'on', arguments=tuple(arguments))

  def train_arguments(self, reference_path: str) -> Dict[str, Any]:
    args = dict(self.arguments)
    styles = args.pop(_STYLES, 1)
    if self.amp:
      args['amp_reference'] = reference_path
      if styles > 1:
        args['amp_reference'] = {f'style_{i}': reference_path
                                 for i in range(styles)}
    return args


# A variant's item for several styles in one policy (Variant).
_STYLES = 'styles'


# ---------------------------------------------------------------- runner


class Baton:
  """Round-robin turns among named threads; one holds the baton at a time."""

  def __init__(self, names: Sequence[str]):
    self._order = list(names)
    self._active = set(names)
    self._turn = 0
    self._condition = threading.Condition()

  @property
  def holder(self) -> Optional[str]:
    return self._order[self._turn] if self._active else None

  def wait(self, name: str) -> None:
    with self._condition:
      self._condition.wait_for(lambda: self.holder == name)

  def pass_on(self, name: str) -> None:
    with self._condition:
      assert self.holder == name, (self.holder, name)
      self._advance()

  def retire(self, name: str) -> None:
    with self._condition:
      was_holder = self.holder == name
      self._active.discard(name)
      if was_holder and self._active:
        self._advance()
      self._condition.notify_all()

  def _advance(self) -> None:
    for offset in range(1, len(self._order) + 1):
      turn = (self._turn + offset) % len(self._order)
      if self._order[turn] in self._active:
        self._turn = turn
        break
    self._condition.notify_all()


@dataclasses.dataclass
class Epoch:
  seconds: float      # Brax's epoch time: env steps / training/sps
  sps: float          # Brax's training/sps
  cpu_seconds: float  # this process's CPU time (user + system) in the turn
  metrics: Dict[str, float]


def _cpu_seconds() -> float:
  usage = resource.getrusage(resource.RUSAGE_SELF)
  return usage.ru_utime + usage.ru_stime


@dataclasses.dataclass
class RunResult:
  """What one variant's training run did."""
  variant: Variant
  env_steps_per_epoch: int = 0
  setup_seconds: float = math.nan  # train() call to its first epoch
  epochs: List[Epoch] = dataclasses.field(default_factory=list)
  # Compilation spans (trace, lowering, XLA compile) per phase: 'setup'
  # (train() call to the first epoch), 'first epoch' (until its
  # progress_fn), 'steady' (epochs 2..N, until the last progress_fn), 'end'
  # (after it: Brax's final replication check and unpmap). Nested spans
  # (inner jits traced inside outer ones) are merged.
  compile_spans: Dict[str, List[Tuple[float, float]]] = dataclasses.field(
      default_factory=lambda: {phase: [] for phase in _PHASES})
  # Functions XLA compiled per phase (jax.monitoring's fun_name).
  compiled: Dict[str, List[str]] = dataclasses.field(
      default_factory=lambda: {phase: [] for phase in _PHASES})
  params: Any = None
  error: Optional[BaseException] = None
  phase: str = 'setup'

  @property
  def steady(self) -> List[Epoch]:
    return self.epochs[1:]

  @property
  def steady_sps(self) -> float:
    return statistics.median(e.sps for e in self.steady)

  @property
  def steady_seconds(self) -> float:
    return statistics.median(e.seconds for e in self.steady)

  @property
  def steady_cpu_seconds(self) -> float:
    return statistics.median(e.cpu_seconds for e in self.steady)

  def compile_seconds(self, phase: str) -> float:
    """Wall time spent tracing, lowering and compiling in `phase`."""
    total, reach = 0.0, -math.inf
    for start, end in sorted(self.compile_spans[phase]):
      if end > reach:
        total += end - max(start, reach)
        reach = end
    return total

  @property
  def steady_compiles(self) -> List[str]:
    """What XLA compiled during epochs 2..N: nothing, unless recompiling."""
    return self.compiled['steady']

  @property
  def compile_estimate(self) -> float:
    """First epoch's time minus a steady epoch's."""
    return self.epochs[0].seconds - self.steady_seconds


_LISTENER_LOCK = threading.Lock()
_RESULTS_BY_THREAD: Dict[str, RunResult] = {}
_LISTENER_INSTALLED = False


def _compile_listener(event: str, start: float, end: float,
                      **kwargs) -> None:
  if event not in _COMPILE_EVENTS:
    return
  result = _RESULTS_BY_THREAD.get(threading.current_thread().name)
  if result is not None:
    result.compile_spans[result.phase].append((start, end))
    if event == _COMPILE_EVENTS[-1]:
      result.compiled[result.phase].append(str(kwargs.get('fun_name', '?')))


def _install_listener() -> None:
  global _LISTENER_INSTALLED
  with _LISTENER_LOCK:
    if not _LISTENER_INSTALLED:
      jax.monitoring.register_event_time_span_listener(_compile_listener)
      _LISTENER_INSTALLED = True


def run_interleaved(environment, variants: Sequence[Variant],
                    ppo_args: Dict[str, Any], reference_path: str,
                    epochs: int, log=print) -> List[RunResult]:
  """Trains each variant for `epochs` epochs, taking turns epoch by epoch.

  Order: variant 1 epoch 1 (compiles), variant 2 epoch 1 (compiles), ...,
  variant 1 epoch 2, variant 2 epoch 2, ... Epoch times are Brax's own
  (`training/sps`, measured around each jitted epoch).

  Args:
    environment: the Brax environment, shared (it is stateless).
    variants: configurations; names must be unique.
    ppo_args: `ppo_arguments(...)` for `epochs` epochs.
    reference_path: reference .npz for variants with AMP on.
    epochs: epochs per variant (must match ppo_args).
    log: where progress lines go.

  Returns:
    One RunResult per variant, in order.

  Raises:
    RuntimeError: a variant's training run failed (after all have stopped).
  """
  # Imported here: amp_ppo.train imports the vendored Brax trainer.
  import amp_ppo  # pylint: disable=g-import-not-at-top

  _install_listener()
  names = [v.spec for v in variants]
  if len(set(names)) != len(names):
    raise ValueError(f'variants must be unique: {names}')
  baton = Baton(names)
  results = [RunResult(variant=v) for v in variants]
  env_steps = env_steps_per_training_step(ppo_args)
  steps_per_epoch = ppo_args['num_timesteps'] // (epochs * env_steps)

  def run(result: RunResult) -> None:
    name = result.variant.spec
    baton.wait(name)
    started = time.perf_counter()
    # CPU time of the whole process: only the baton holder runs.
    turn_cpu = [_cpu_seconds()]

    def policy_params_fn(step, *unused_args):
      if step == 0 and result.phase == 'setup':
        result.setup_seconds = time.perf_counter() - started
        result.phase = 'first epoch'
        turn_cpu[0] = _cpu_seconds()

    def progress_fn(step, metrics):
      del step
      sps = float(metrics['training/sps'])
      result.epochs.append(Epoch(
          seconds=steps_per_epoch * env_steps / sps, sps=sps,
          cpu_seconds=_cpu_seconds() - turn_cpu[0],
          metrics={k: float(np.mean(v)) for k, v in metrics.items()}))
      result.phase = 'steady' if len(result.epochs) < epochs else 'end'
      log(f'  {name:<28} epoch {len(result.epochs)}/{epochs}: '
          f'{sps:10.0f} env steps/s, {result.epochs[-1].seconds:6.1f} s, '
          f'{result.epochs[-1].cpu_seconds:6.1f} CPU s')
      if len(result.epochs) < epochs:
        baton.pass_on(name)
        baton.wait(name)
        turn_cpu[0] = _cpu_seconds()

    try:
      _, params, _ = amp_ppo.train(
          environment=environment, **ppo_args,
          **result.variant.train_arguments(reference_path),
          progress_fn=progress_fn, policy_params_fn=policy_params_fn)
      result.params = params
    except BaseException as e:  # pylint: disable=broad-except
      result.error = e
    finally:
      baton.retire(name)

  previous_stack = threading.stack_size(_THREAD_STACK_BYTES)
  threads = []
  try:
    for result in results:
      result.env_steps_per_epoch = steps_per_epoch * env_steps
      thread = threading.Thread(target=run, args=(result,),
                                name=f'bench-{result.variant.spec}')
      _RESULTS_BY_THREAD[thread.name] = result
      threads.append(thread)
      thread.start()
  finally:
    threading.stack_size(previous_stack)
  for thread in threads:
    thread.join()
  failed = [r for r in results if r.error is not None]
  if failed:
    raise RuntimeError(
        'training failed for ' + ', '.join(r.variant.spec for r in failed)
    ) from failed[0].error
  for result in results:
    if len(result.epochs) != epochs:
      raise RuntimeError(f'{result.variant.spec}: {len(result.epochs)} epochs '
                         f'reported, expected {epochs}.')
  return results


def paired_ratios(results: Sequence[RunResult], numerator: int,
                  denominator: int, cpu: bool = False) -> List[float]:
  """Per-round throughput ratios of two variants over their steady epochs.

  Args:
    results: from run_interleaved.
    numerator: index of the variant on top of the ratio.
    denominator: index of the variant below (the baseline).
    cpu: throughput per CPU second instead of per wall-clock second.
  """
  pairs = zip(results[numerator].steady, results[denominator].steady)
  if cpu:
    return [b.cpu_seconds / a.cpu_seconds for a, b in pairs]
  return [a.sps / b.sps for a, b in pairs]


# ----------------------------------------------------------------- output


def print_machine_and_wall_time(machine: Dict[str, Any], started: float,
                                root: str) -> None:
  """The footer of the experiment benchmarks: where, how long, which runs."""
  print()
  print('Machine: ' + '; '.join(f'{k} {v}' for k, v in machine.items()))
  print(f'Total wall time: {time.time() - started:.0f} s; runs in {root}')
  print()


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]
                   ) -> str:
  cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
  widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
  lines = ['| ' + ' | '.join(c.ljust(w) for c, w in zip(row, widths)) + ' |'
           for row in cells]
  lines.insert(1, '|' + '|'.join('-' * (w + 2) for w in widths) + '|')
  return '\n'.join(lines)


def prepare_experiments() -> Dict[str, str]:
  """Shares amp_ppo.main's compilation cache; returns machine_description().

  For the scripts that run whole experiments (style.py, imitation.py).
  """
  from amp_ppo import main as amp_main  # pylint: disable=g-import-not-at-top
  amp_main.enable_compilation_cache(amp_main.DEFAULT_JAX_CACHE_DIR)
  return machine_description()


def machine_description() -> Dict[str, str]:
  """nproc, CPU model, RAM, load, versions."""
  import brax  # pylint: disable=g-import-not-at-top

  cpu = 'unknown'
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if line.startswith('model name'):
          cpu = line.split(':', 1)[1].strip()
          break
  except OSError:
    pass
  ram = 'unknown'
  try:
    with open('/proc/meminfo') as f:
      for line in f:
        if line.startswith('MemTotal'):
          ram = f'{int(line.split()[1]) / 1024**2:.1f} GiB'
          break
  except OSError:
    pass
  load = ', '.join(f'{x:.2f}' for x in os.getloadavg())
  return {
      'nproc': str(os.cpu_count()),
      'cpu': cpu,
      'ram': ram,
      'load average (1, 5, 15 min) at start': load,
      'python': platform.python_version(),
      'jax': jax.__version__,
      'brax': brax.__version__,
      'jax devices': f'{jax.device_count()} x {jax.devices()[0].platform}',
      'git': _git_state(),
  }


def _git_state() -> str:
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  try:
    head = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=root,
                          capture_output=True, text=True, check=True
                          ).stdout.strip()
    dirty = subprocess.run(['git', 'status', '--porcelain',
                            '--untracked-files=no'], cwd=root,
                           capture_output=True, text=True, check=True
                           ).stdout.split('\n')
  except (OSError, subprocess.CalledProcessError):
    return 'unknown'
  modified = [line[3:] for line in dirty if line.strip()]
  if modified:
    return f'{head} + uncommitted changes in {", ".join(modified)}'
  return head


def finite_metrics(metrics: Dict[str, float]) -> Tuple[bool, List[str]]:
  bad = [k for k, v in metrics.items() if not math.isfinite(v)]
  return not bad, bad


def add_playground_run_arguments(parser) -> None:
  """The flags of a script that trains one Playground task at GPU or tiny
  size: --num_timesteps, --impl, --tiny, --workdir."""
  parser.add_argument('--num_timesteps', type=int, default=None,
                      help='default: the published setting')
  parser.add_argument('--impl', choices=('jax', 'warp'), default='jax',
                      help="Playground's MJX implementation")
  parser.add_argument('--tiny', action='store_true',
                      help='tiny networks and sizes, for a CPU')
  parser.add_argument('--workdir', default=None)
