r"""GPU benchmark: Brax PPO against amp_ppo, AMP off and on, at GPU sizes.

For each task, trains AMP off and AMP on in one process, taking turns epoch
by epoch (bench_lib.run_interleaved, as throughput.py does), and prints env
steps/s of each, the AMP/PPO ratio, the first epoch's compile time and the
peak device memory (`device.memory_stats()`, where the backend has it).

Tasks (--tasks, comma-separated):
  go1            MuJoCo Playground Go1JoystickFlatTerrain, Playground's
                 published PPO settings and networks (amp_ppo/configs/
                 playground.py), its domain randomiser and
                 wrap_for_brax_training: Playground's own train call.
  humanoid       Playground BerkeleyHumanoidJoystickFlatTerrain, the same.
  brax_humanoid  Brax humanoid (backend mjx), amp_ppo/configs/humanoid.py.
AMP on uses the configs' AMP section (`common.gpu_amp_section()`: the
(1024, 512) discriminator, replay 200,000). The reference of a Playground
robot is tests/helpers.write_locomotion_reference's kinematic gait, Brax
humanoid's bench_lib.record_reference's scripted one: throughput does not
depend on what the motion looks like.

Deviations from the published settings, for timing only: run_evals=False,
num_resets_per_eval=0 (Playground resets every environment 10 times per
evaluation, between epochs; it does not change an epoch's throughput), and
num_timesteps/num_evals set so that each variant runs --epochs epochs of
--steps_per_epoch training steps (epoch 1 compiles).

The full run, on one GPU (target: AMP/PPO >= 0.95; Playground's published
PPO rates are the PPO reference), sized for 8 minutes on one H200 (not yet
run on one):

  python benchmarks/gpu.py

The project's H200 machine has Python 3.12 with JAX 0.11 (CUDA), flax, optax
and orbax, but no brax, mujoco, mujoco-mjx, playground, warp-lang or
ml_collections: carry them as cp312 wheels (pip download --no-deps, see
README "GPU benchmark"), put the repository root and third_party/ on
PYTHONPATH (amp_ppo from the tree; setup.py's jax==0.10.2 pin must not be
installed over JAX 0.11) and point MENAGERIE_ROOT at a folder holding
unitree_go1 and berkeley_humanoid. JAX 0.11 is untested with amp_ppo.

A tiny run on a CPU (what tests/benchmarks/test_gpu_smoke.py runs: the same
code path with tiny networks and sizes, one task):

  python benchmarks/gpu.py --tiny --tasks go1 --epochs 2 --steps_per_epoch 1

Each variant's training epoch is compiled ahead of time at its first call
(benchmarks/memory.py's capture_training_epoch: the same compile, done
through `.lower().compile()`, whose executable then runs every epoch), so the
XLA memory analysis of the executable that ran is printed too, per variant.
"""

import argparse
import dataclasses
import functools
import math
import os
import statistics
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
  sys.path.insert(0, _ROOT)  # tests.helpers, for the Playground reference.

PLAYGROUND_TASKS = {'go1': 'Go1JoystickFlatTerrain',
                    'humanoid': 'BerkeleyHumanoidJoystickFlatTerrain'}
TASKS = ('go1', 'humanoid', 'brax_humanoid')

# Tiny sizes for a CPU (the smoke test): one short epoch.
_TINY_PPO = dict(num_envs=8, batch_size=8, num_minibatches=2, unroll_length=4,
                 num_updates_per_batch=1, episode_length=20)
_TINY_NETWORK = dict(policy_hidden_layer_sizes=(8,),
                     value_hidden_layer_sizes=(8,))
_TINY_AMP = dict(disc_hidden_layer_sizes=(16,), disc_minibatch_size=16,
                 replay_size=256)


def parse_args(argv=None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      description=__doc__.split('\n\n')[0],
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  parser.add_argument('--tasks', default=','.join(TASKS),
                      help=f'comma-separated, of {", ".join(TASKS)}')
  parser.add_argument('--num_envs', type=int, default=None,
                      help='None: 8192 for the Playground tasks (published), '
                      '4096 for brax_humanoid (its config has 2048)')
  parser.add_argument('--epochs', type=int, default=4,
                      help='epochs per variant, the compiling first included')
  parser.add_argument('--steps_per_epoch', type=int, default=4,
                      help='PPO training steps per epoch')
  parser.add_argument('--target', type=float, default=0.95,
                      help='target ratio of AMP-on to AMP-off env steps/s')
  parser.add_argument('--tiny', action='store_true',
                      help='tiny networks and sizes, for a CPU smoke test')
  args = parser.parse_args(argv)
  args.tasks = [t for t in args.tasks.split(',') if t]
  unknown = sorted(set(args.tasks) - set(TASKS))
  if unknown:
    parser.error(f'unknown tasks {unknown}; use {", ".join(TASKS)}')
  if args.epochs < 2:
    parser.error('--epochs must be >= 2: epoch 1 compiles.')
  return args


# ------------------------------------------------------------------ tasks


@dataclasses.dataclass
class Task:
  """What amp_ppo.train needs for one task, AMP aside."""
  name: str
  description: str
  environment: Any
  reference_path: str
  ppo_args: Dict[str, Any]   # everything but environment and callbacks
  amp_args: Dict[str, Any]   # amp_<field> keywords of AMP on


def default_num_envs(task: str) -> int:
  return 8192 if task in PLAYGROUND_TASKS else 4096


def make_task(task: str, workdir: str, num_envs: Optional[int],
              epochs: int, steps_per_epoch: int, tiny: bool = False,
              log=print) -> Task:
  """Environment, reference, PPO and AMP arguments of `task`.

  Args:
    task: one of TASKS.
    workdir: where the reference .npz goes.
    num_envs: parallel environments (None: default_num_envs).
    epochs: training epochs per variant, the compiling first included.
    steps_per_epoch: PPO training steps per epoch.
    tiny: tiny networks and sizes (CPU smoke test).
    log: where progress lines go.
  """
  import bench_lib  # pylint: disable=g-import-not-at-top

  started = time.perf_counter()
  if task in PLAYGROUND_TASKS:
    from brax.training.agents.ppo import networks as ppo_networks  # pylint: disable=g-import-not-at-top
    from mujoco_playground import registry  # pylint: disable=g-import-not-at-top
    from mujoco_playground import wrapper  # pylint: disable=g-import-not-at-top
    from amp_ppo.configs import playground  # pylint: disable=g-import-not-at-top
    from amp_ppo.robots import menagerie  # pylint: disable=g-import-not-at-top
    from tests import helpers  # pylint: disable=g-import-not-at-top

    if menagerie.use_menagerie() is None:
      raise SystemExit('no MuJoCo Menagerie: install the asset packages '
                       '(pip install -e .[test,playground]) or set '
                       f'{menagerie.ENV_VAR}.')
    env_name = PLAYGROUND_TASKS[task]
    environment = registry.load(env_name)
    reference_path = helpers.write_locomotion_reference(
        environment, os.path.join(workdir, f'{task}_reference.npz'))
    ppo = dict(playground.PUBLISHED_PPO[env_name])
    network = dict(playground.PUBLISHED_NETWORK)
    extra = dict(randomization_fn=registry.get_domain_randomizer(env_name),
                 eval_env=registry.load(env_name),
                 wrap_env_fn=wrapper.wrap_for_brax_training)
    if tiny:
      network.update(_TINY_NETWORK)
    make_network = functools.partial(ppo_networks.make_ppo_networks,
                                     **network)
    impl = getattr(environment.mjx_model.impl, 'value',
                   environment.mjx_model.impl)
    description = f'Playground {env_name} (impl {impl})'
    amp_section = playground.get_config(task).amp
  elif task == 'brax_humanoid':
    from brax import envs  # pylint: disable=g-import-not-at-top
    from amp_ppo.configs import humanoid  # pylint: disable=g-import-not-at-top
    from amp_ppo.run import experiment  # pylint: disable=g-import-not-at-top

    config = humanoid.get_config()
    backend = config.env.backend
    environment = envs.get_environment('humanoid', backend=backend)
    reference_path = os.path.join(workdir, f'{task}_reference.npz')
    bench_lib.record_reference(environment, reference_path,
                               num_steps=20 if tiny else 200)
    ppo = config.ppo.to_dict()
    if tiny:
      config.network.update(_TINY_NETWORK)
    make_network = experiment.network_factory(config.network)
    extra = {}
    description = f'Brax humanoid (backend {backend})'
    amp_section = config.amp
  else:
    raise ValueError(f'unknown task {task!r}; use one of {TASKS}.')

  ppo.pop('num_timesteps')
  ppo.update(num_envs=num_envs or default_num_envs(task))
  if tiny:
    ppo.update(_TINY_PPO)
    if num_envs:
      ppo['num_envs'] = num_envs
  amp = {name: tuple(v) if isinstance(v, list) else v
         for name, v in amp_section.to_dict().items()}
  if tiny:
    amp.update(_TINY_AMP)
  env_steps = bench_lib.env_steps_per_training_step(ppo)
  ppo.update(extra, num_timesteps=epochs * steps_per_epoch * env_steps,
             num_evals=epochs + 1, run_evals=False, num_resets_per_eval=0,
             network_factory=make_network)
  log(f'{task}: environment and reference ready in '
      f'{time.perf_counter() - started:.1f} s')
  return Task(name=task, description=description, environment=environment,
              reference_path=reference_path, ppo_args=ppo,
              amp_args={f'amp_{k}': v for k, v in amp.items()
                        if v is not None})


def variants(task: Task):
  import bench_lib  # pylint: disable=g-import-not-at-top
  return [bench_lib.Variant(spec='off', amp=False, arguments=()),
          bench_lib.Variant(spec='on', amp=True,
                            arguments=tuple(task.amp_args.items()))]


def describe(task: Task) -> str:
  p = task.ppo_args
  amp = task.amp_args
  return (f'{task.description}: {p["num_envs"]} envs, batch_size '
          f'{p["batch_size"]}, unroll_length {p["unroll_length"]}, '
          f'num_minibatches {p["num_minibatches"]}, num_updates_per_batch '
          f'{p["num_updates_per_batch"]}, networks '
          f'{dict(p["network_factory"].keywords)}; AMP discriminator '
          f'{amp["amp_disc_hidden_layer_sizes"]}, disc_minibatch_size '
          f'{amp["amp_disc_minibatch_size"]}, replay {amp["amp_replay_size"]}')


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


def gib(nbytes: float) -> str:
  return 'n/a' if nbytes is None or not math.isfinite(nbytes) else (
      f'{nbytes / 2**30:.2f}')


# ------------------------------------------------------------------- run


@dataclasses.dataclass
class TaskResult:
  task: Task
  results: List[Any]            # bench_lib.RunResult: off, on
  seconds: float
  memory_before: Dict[str, float]
  memory_after: Dict[str, float]
  epoch_memory: Any             # memory.MemoryRow of the executables run
  ratio: float
  cpu_ratio: float
  compile_ratio: float


def run_task(task: Task, epochs: int, log=print) -> TaskResult:
  import bench_lib  # pylint: disable=g-import-not-at-top
  import memory  # pylint: disable=g-import-not-at-top
  memory_before = device_memory()
  started = time.perf_counter()
  compiled = {}
  with memory.capture_training_epoch(compiled, run=True):
    results = bench_lib.run_interleaved(task.environment, variants(task),
                                        task.ppo_args, task.reference_path,
                                        epochs, log=log)
  seconds = time.perf_counter() - started
  off, on = results
  first = 'first epoch'
  return TaskResult(
      task=task, results=results, seconds=seconds,
      memory_before=memory_before, memory_after=device_memory(),
      epoch_memory=memory.MemoryRow(
          task=task.name, num_envs=task.ppo_args['num_envs'],
          off=compiled['bench-off'], on=compiled['bench-on'],
          seconds=seconds),
      ratio=statistics.median(bench_lib.paired_ratios(results, 1, 0)),
      cpu_ratio=statistics.median(bench_lib.paired_ratios(results, 1, 0,
                                                          cpu=True)),
      compile_ratio=(on.compile_seconds(first) /
                     max(off.compile_seconds(first), 1e-9)))


def task_table(result: TaskResult) -> str:
  import bench_lib  # pylint: disable=g-import-not-at-top
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
  import bench_lib  # pylint: disable=g-import-not-at-top
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
        gib(t.memory_after.get('peak_bytes_in_use', math.nan)),
        gib(t.memory_after.get('bytes_limit', math.nan)),
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
  import bench_lib  # pylint: disable=g-import-not-at-top

  machine = bench_lib.machine_description()
  print('machine: ' + '; '.join(f'{k} {v}' for k, v in machine.items()))
  print('devices: ' + ', '.join(str(d) for d in jax.local_devices()))
  print(f'command: python benchmarks/gpu.py {" ".join(argv or sys.argv[1:])}')
  started = time.perf_counter()
  task_results, memory_rows = [], []
  with tempfile.TemporaryDirectory(prefix='amp_gpu_bench_') as workdir:
    for name in args.tasks:
      task = make_task(name, workdir, args.num_envs, args.epochs,
                       args.steps_per_epoch, tiny=args.tiny)
      print(f'config: {describe(task)}; {args.steps_per_epoch} training '
            f'step(s) of {bench_lib.env_steps_per_training_step(task.ppo_args)}'
            f' env steps per epoch, {args.epochs} epochs per variant')
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
  import memory  # pylint: disable=g-import-not-at-top
  print()
  print('XLA memory analysis of the training epochs that ran, per device '
        '(memory.py; "epoch total" = arguments + outputs - aliased + '
        f'temporaries; {jax.local_devices()[0].platform} compile):')
  print()
  print(memory.memory_table(memory_rows))
  return 0


if __name__ == '__main__':
  sys.exit(main())
