"""The GPU benchmarks' tasks: environment, reference and training arguments.

Shared by gpu.py (trains each task, AMP off and on) and memory.py (compiles
each task's training epoch):

  go1            MuJoCo Playground Go1JoystickFlatTerrain, Playground's
                 published PPO settings and networks (amp_ppo/configs/
                 playground.py), its domain randomiser and
                 wrap_for_brax_training: Playground's own train call.
  humanoid       Playground BerkeleyHumanoidJoystickFlatTerrain, the same.
  brax_humanoid  Brax humanoid (backend mjx), amp_ppo/configs/humanoid.py.

AMP on uses the configs' AMP section (`common.gpu_amp_section()`: the
(1024, 512) discriminator, replay 200,000). The reference of a Playground
robot is amp_ppo.robots.kinematic_gait's computed gait, Brax humanoid's
bench_lib.record_reference's scripted one: throughput does not depend on
what the motion looks like.

Deviations from the published settings, for timing only: run_evals=False,
num_resets_per_eval=0 (Playground resets every environment 10 times per
evaluation, between epochs; it does not change an epoch's throughput), and
num_timesteps/num_evals set so that each variant runs `epochs` epochs of
`steps_per_epoch` training steps (epoch 1 compiles).

Importing this module imports no JAX.
"""

import dataclasses
import functools
import os
import time
from typing import Any, Dict, Optional

PLAYGROUND_TASKS = {'go1': 'Go1JoystickFlatTerrain',
                    'humanoid': 'BerkeleyHumanoidJoystickFlatTerrain'}
TASKS = ('go1', 'humanoid', 'brax_humanoid')

# Tiny sizes for a CPU: one short epoch.
_TINY_PPO = dict(num_envs=8, batch_size=8, num_minibatches=2, unroll_length=4,
                 num_updates_per_batch=1, episode_length=20)
_TINY_NETWORK = dict(policy_hidden_layer_sizes=(8,),
                     value_hidden_layer_sizes=(8,))
_TINY_AMP = dict(disc_hidden_layer_sizes=(16,), disc_minibatch_size=16,
                 replay_size=256)


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
              log=print, impl: Optional[str] = None) -> Task:
  """Environment, reference, PPO and AMP arguments of `task`.

  Args:
    task: one of TASKS.
    workdir: where the reference .npz goes.
    num_envs: parallel environments (None: default_num_envs).
    epochs: training epochs per variant, the compiling first included.
    steps_per_epoch: PPO training steps per epoch.
    tiny: tiny networks and sizes (CPU smoke run).
    log: where progress lines go.
    impl: Playground's MJX implementation ('jax' or 'warp'); None keeps the
      environment's default.
  """
  from benchmarks import bench_lib  # pylint: disable=g-import-not-at-top

  started = time.perf_counter()
  if task in PLAYGROUND_TASKS:
    from brax.training.agents.ppo import networks as ppo_networks  # pylint: disable=g-import-not-at-top
    from mujoco_playground import registry  # pylint: disable=g-import-not-at-top
    from mujoco_playground import wrapper  # pylint: disable=g-import-not-at-top
    from amp_ppo.configs import playground  # pylint: disable=g-import-not-at-top
    from amp_ppo.robots import kinematic_gait  # pylint: disable=g-import-not-at-top
    from amp_ppo.robots import menagerie  # pylint: disable=g-import-not-at-top

    if menagerie.use_menagerie() is None:
      raise SystemExit('no MuJoCo Menagerie: install the asset packages '
                       '(pip install -e .[test,playground]) or set '
                       f'{menagerie.ENV_VAR}.')
    env_name = PLAYGROUND_TASKS[task]
    overrides = {'impl': impl} if impl else None
    environment = registry.load(env_name, config_overrides=overrides)
    reference_path = kinematic_gait.write_locomotion_reference(
        environment, os.path.join(workdir, f'{task}_reference.npz'))
    ppo = dict(playground.PUBLISHED_PPO[env_name])
    network = dict(playground.PUBLISHED_NETWORK)
    extra = dict(randomization_fn=registry.get_domain_randomizer(env_name),
                 eval_env=registry.load(env_name,
                                        config_overrides=overrides),
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
