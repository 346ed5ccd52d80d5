"""The tiny PPO run that the parity tests train with both trainers.

Shared by test_brax_parity.py and multidevice_parity_script.py, so the one-
and two-device comparisons train the same configuration.
"""

import functools

from brax.training.agents.ppo import networks as ppo_networks

# 64 environment steps per training step (batch_size * num_minibatches *
# unroll_length), so 128 timesteps are two training steps.
STEPS_PER_TRAINING_STEP = 64

# num_envs must be divisible by the device count; on 2 devices, the 4 * 4
# transitions per device of one training step split into 4 minibatches of 2.
TINY_PPO = dict(
    num_timesteps=2 * STEPS_PER_TRAINING_STEP,
    episode_length=16,
    num_envs=4,
    batch_size=4,
    num_minibatches=4,
    unroll_length=4,
    num_updates_per_batch=2,
    learning_rate=3e-3,
    entropy_cost=1e-2,
    num_eval_envs=4,
    seed=3,
)

HIDDEN_LAYER_SIZES = (8,)


def mlp_networks(**kwargs):
  """Brax's MLP policy and value networks, `HIDDEN_LAYER_SIZES` each."""
  return functools.partial(
      ppo_networks.make_ppo_networks,
      policy_hidden_layer_sizes=HIDDEN_LAYER_SIZES,
      value_hidden_layer_sizes=HIDDEN_LAYER_SIZES,
      **kwargs)
