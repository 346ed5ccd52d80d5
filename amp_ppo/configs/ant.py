"""Brax ant with AMP: sized for one GPU, or for a CPU with the `cpu` preset.

PPO settings are Brax's published ant hyperparameters. The reference is the
bundled scripted trot (amp_ppo/motion/data/ant_gait.npz, made by
amp_ppo/demos/ant_gait.py); give your own motion with
`--config.reference=path/to/motion.npz`.

Presets:
  cpu    the 'spring' backend, 256 envs, 20 s episodes and 3M steps (about
         7 minutes with AMP on 2 cores): what benchmarks/style.py and
         benchmarks/imitation.py train on a CPU. With the default task and
         style weights (0.5 / 0.5) the forward reward dominates within 3M
         steps; task weight 0 imitates the trot (benchmarks/RESULTS.md).
  smoke  one tiny iteration on a CPU, for tests.
"""

import ml_collections

from amp_ppo.configs import common
from amp_ppo.demos import ant_gait


def get_config(preset: str = '') -> ml_collections.ConfigDict:
  config = common.base_config()
  config.env.update(dict(suite='brax', name='ant', backend='mjx'))
  config.reference = ant_gait.BUNDLED_REFERENCE
  config.ppo = ml_collections.ConfigDict(dict(
      num_timesteps=50_000_000, num_evals=10, reward_scaling=10.0,
      episode_length=1000, normalize_observations=True, action_repeat=1,
      unroll_length=5, num_minibatches=32, num_updates_per_batch=4,
      discounting=0.97, learning_rate=3e-4, entropy_cost=1e-2, num_envs=4096,
      batch_size=2048, seed=1))
  config.amp = common.gpu_amp_section()
  if preset == 'cpu':
    return _cpu(config)
  # On a CPU, 'spring' compiles about twice as fast as 'mjx'.
  return common.apply_gpu_preset(config, preset, 'ant',
                                 smoke_backend='spring', other_presets=('cpu',))


def _cpu(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Small batches and many updates: a walking gait within 3M steps."""
  config.env.backend = ant_gait.ENV_BACKEND
  config.ppo.update(dict(
      num_timesteps=3_000_000, num_evals=5, episode_length=400,
      num_envs=256, batch_size=256, num_minibatches=8, unroll_length=10,
      num_updates_per_batch=4))  # 20,480 env steps per training step
  config.network.policy_hidden_layer_sizes = (64, 64)
  config.network.value_hidden_layer_sizes = (128, 128)
  config.amp.update(dict(
      disc_hidden_layer_sizes=(256, 256),
      disc_learning_rate=3e-4,
      # Between the paper's 10 and the cart-pole demo's 0.1 (features of
      # 10 dimensions there, 53 here).
      gradient_penalty_weight=1.0,
      reference_state_init=0.5,
      replay_size=65_536))
  config.evaluation.num_steps = 400
  return config
