"""Brax humanoid with AMP, sized for one GPU.

PPO settings are Brax's published humanoid hyperparameters. The default
reference is a synthetic placeholder (open-loop periodic actions, which make
a humanoid fall; see amp_ppo/demos/synthetic.py): for a real style give
retargeted motion capture with `--config.reference=path/to/motion.npz`.

Presets: `smoke` runs one tiny iteration on a CPU (with the 'spring'
backend, which compiles fastest there).
"""

import ml_collections

from amp_ppo.configs import common


def get_config(preset: str = '') -> ml_collections.ConfigDict:
  config = common.base_config()
  config.env.update(dict(suite='brax', name='humanoid', backend='mjx'))
  config.ppo = ml_collections.ConfigDict(dict(
      num_timesteps=50_000_000, num_evals=10, reward_scaling=0.1,
      episode_length=1000, normalize_observations=True, action_repeat=1,
      unroll_length=10, num_minibatches=32, num_updates_per_batch=8,
      discounting=0.97, learning_rate=3e-4, entropy_cost=1e-3, num_envs=2048,
      batch_size=1024, seed=1))
  config.amp = common.gpu_amp_section()
  # On a CPU, 'spring' compiles about twice as fast as 'mjx'.
  return common.apply_gpu_preset(config, preset, 'humanoid',
                                 smoke_backend='spring')

