"""Brax ant with AMP, sized for one GPU.

PPO settings are Brax's published ant hyperparameters. The default reference
is a synthetic placeholder (open-loop periodic actions, see
amp_ppo/demos/synthetic.py); give real motion with
`--config.reference=path/to/motion.npz`.

Presets: `smoke` runs one tiny iteration on a CPU (with the 'spring'
backend, which compiles fastest there).
"""

import ml_collections

from amp_ppo.configs import common


def get_config(preset: str = '') -> ml_collections.ConfigDict:
  config = common.base_config()
  config.env.update(dict(suite='brax', name='ant', backend='mjx'))
  config.ppo = ml_collections.ConfigDict(dict(
      num_timesteps=50_000_000, num_evals=10, reward_scaling=10.0,
      episode_length=1000, normalize_observations=True, action_repeat=1,
      unroll_length=5, num_minibatches=32, num_updates_per_batch=4,
      discounting=0.97, learning_rate=3e-4, entropy_cost=1e-2, num_envs=4096,
      batch_size=2048, seed=1))
  config.amp = common.amp_section(replay_size=200_000)
  return _apply_preset(config, preset)


def _apply_preset(config, preset):
  if preset in ('', 'gpu'):
    return config
  if preset == 'smoke':
    # On a CPU, 'spring' compiles about twice as fast as 'mjx'.
    config.env.backend = 'spring'
    common.smoke_ppo(config.ppo)
    common.smoke_network(config)
    return config
  raise ValueError(f"unknown preset {preset!r} of the ant config; use '' or "
                   "'smoke'.")
