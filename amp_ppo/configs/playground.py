"""A MuJoCo Playground locomotion task with AMP, sized for one GPU.

Needs MuJoCo Playground (`pip install playground`); without it
`python -m amp_ppo.main` stops with a message saying so. The environment is
`mujoco_playground.registry.load(env.name, config_overrides=env.kwargs)` and
Brax training uses Playground's own `wrapper.wrap_for_brax_training`. PPO
settings follow Playground's published Go1 joystick ones; its policy sees the
'state' observation and its value function the 'privileged_state'.

The default reference is a synthetic placeholder (see
amp_ppo/motion/demos/synthetic.py); give real motion with `--config.reference`.

Presets: `smoke` runs one tiny iteration on a CPU.
"""

import ml_collections

from amp_ppo.configs import common


def get_config(preset: str = '') -> ml_collections.ConfigDict:
  config = common.base_config()
  config.env.update(dict(suite='playground', name='Go1JoystickFlatTerrain',
                         backend=''))
  config.network = ml_collections.ConfigDict(dict(
      policy_hidden_layer_sizes=(128, 128, 128, 128),
      value_hidden_layer_sizes=(256, 256, 256, 256, 256),
      policy_obs_key='state', value_obs_key='privileged_state'))
  config.ppo = ml_collections.ConfigDict(dict(
      num_timesteps=200_000_000, num_evals=10, reward_scaling=1.0,
      episode_length=1000, normalize_observations=True, action_repeat=1,
      unroll_length=20, num_minibatches=32, num_updates_per_batch=4,
      discounting=0.97, learning_rate=3e-4, entropy_cost=1e-2,
      num_envs=8192, batch_size=256, max_grad_norm=1.0, seed=1))
  config.amp = common.gpu_amp_section()
  return common.apply_gpu_preset(config, preset, 'playground')

