"""MuJoCo Playground locomotion robots with AMP, sized for one GPU.

Needs MuJoCo Playground (`pip install playground`); without it
`python -m amp_ppo.main` stops with a message saying so. The environment is
`mujoco_playground.registry.load(env.name, config_overrides=env.kwargs)`,
with its robots read from the Menagerie that `env.menagerie_root`, the
MENAGERIE_ROOT environment variable or the Menagerie asset packages name
(amp_ppo/robots/menagerie.py); Brax training uses Playground's own
`wrapper.wrap_for_brax_training` and domain randomiser. PPO settings are
Playground 0.2.0's published ones for each robot
(`locomotion_params.brax_ppo_config`); the policy sees the 'state'
observation and the value function the 'privileged_state'.

The default reference is a synthetic placeholder (see
amp_ppo/demos/synthetic.py); give real motion with
`--config.reference`, e.g. dog_trot converted to Go1 by `python -m
amp_ppo.motion convert` (README, "Real motion").

Presets (`--config=amp_ppo/configs/playground.py:PRESET`):
  '' or 'go1'        Go1JoystickFlatTerrain on one GPU;
  'humanoid'         BerkeleyHumanoidJoystickFlatTerrain on one GPU;
  'g1', 't1'         G1JoystickFlatTerrain (Unitree G1),
                     T1JoystickFlatTerrain (Booster T1) on one GPU;
  'smoke', 'go1_smoke', 'humanoid_smoke', 'g1_smoke', 't1_smoke'  the same,
                     one tiny iteration on a CPU.
"""

import ml_collections

from amp_ppo.configs import common

# Playground 0.2.0's `locomotion_params.brax_ppo_config(name)`, less the
# network sizes (below); tests/configs checks that they still agree.
PUBLISHED_PPO = {
    'Go1JoystickFlatTerrain': dict(
        num_timesteps=200_000_000, num_evals=10, reward_scaling=1.0,
        episode_length=1000, normalize_observations=True, action_repeat=1,
        unroll_length=20, num_minibatches=32, num_updates_per_batch=4,
        discounting=0.97, learning_rate=3e-4, entropy_cost=1e-2,
        num_envs=8192, batch_size=256, max_grad_norm=1.0,
        num_resets_per_eval=10),
    'BerkeleyHumanoidJoystickFlatTerrain': dict(
        num_timesteps=150_000_000, num_evals=15, reward_scaling=1.0,
        episode_length=1000, normalize_observations=True, action_repeat=1,
        unroll_length=20, num_minibatches=32, num_updates_per_batch=4,
        discounting=0.97, learning_rate=3e-4, entropy_cost=5e-3,
        num_envs=8192, batch_size=256, max_grad_norm=1.0,
        clipping_epsilon=0.2, num_resets_per_eval=10),
    # G1 and T1 share theirs.
    **{name: dict(
        num_timesteps=200_000_000, num_evals=20, reward_scaling=1.0,
        episode_length=1000, normalize_observations=True, action_repeat=1,
        unroll_length=20, num_minibatches=32, num_updates_per_batch=4,
        discounting=0.97, learning_rate=3e-4, entropy_cost=5e-3,
        num_envs=8192, batch_size=256, max_grad_norm=1.0,
        clipping_epsilon=0.2, num_resets_per_eval=1)
       for name in ('G1JoystickFlatTerrain', 'T1JoystickFlatTerrain')},
}
PUBLISHED_NETWORK = dict(policy_hidden_layer_sizes=(512, 256, 128),
                         value_hidden_layer_sizes=(512, 256, 128),
                         policy_obs_key='state',
                         value_obs_key='privileged_state')
_ROBOTS = {'go1': 'Go1JoystickFlatTerrain',
           'humanoid': 'BerkeleyHumanoidJoystickFlatTerrain',
           'g1': 'G1JoystickFlatTerrain',
           't1': 'T1JoystickFlatTerrain'}


def get_config(preset: str = '') -> ml_collections.ConfigDict:
  robot, _, size = preset.partition('_')
  if preset == 'smoke':
    robot, size = 'go1', 'smoke'
  robot = robot or 'go1'
  if robot not in _ROBOTS or size not in ('', 'smoke'):
    known = ("'', 'go1', 'humanoid', 'g1', 't1', 'smoke', 'go1_smoke', "
             "'humanoid_smoke', 'g1_smoke', 't1_smoke'")
    raise ValueError(f'unknown preset {preset!r} of the playground config; '
                     f'use one of {known}.')
  name = _ROBOTS[robot]
  config = common.base_config()
  # randomize: train with Playground's domain randomiser for the robot.
  config.env.update(dict(suite='playground', name=name, backend='',
                         menagerie_root='', randomize=True))
  config.network = ml_collections.ConfigDict(dict(PUBLISHED_NETWORK))
  config.ppo = ml_collections.ConfigDict(dict(PUBLISHED_PPO[name], seed=1))
  config.amp = common.gpu_amp_section()
  return common.apply_gpu_preset(config, size, 'playground')
