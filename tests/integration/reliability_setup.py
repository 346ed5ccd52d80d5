"""The small AMP run shared by test_reliability.py and its kill script."""

import functools

from brax import envs
from brax.training.agents.ppo import networks as ppo_networks
import jax
import jax.numpy as jnp

from tests import helpers

# batch_size x unroll_length x num_minibatches
ENV_STEPS_PER_TRAINING_STEP = 8 * 4 * 2
# Four loop iterations of one training step each, a checkpoint after each.
ITERATIONS = 4
CHECKPOINT_STEPS = tuple(ENV_STEPS_PER_TRAINING_STEP * (i + 1)
                         for i in range(ITERATIONS))
# Environment steps each of the 8 environments takes per iteration.
STEPS_PER_ENV_PER_ITERATION = 2 * 4


def train_kwargs(reference_path, **overrides):
  """amp_ppo.train arguments of the shared run; `overrides` replace them."""
  kwargs = dict(
      environment=helpers.CounterEnv(),
      num_timesteps=ITERATIONS * ENV_STEPS_PER_TRAINING_STEP,
      episode_length=16, num_envs=8, batch_size=8, num_minibatches=2,
      unroll_length=4, num_evals=ITERATIONS + 1, num_eval_envs=4, seed=5,
      # mean_kernel_init_fn spelled out (the same initialiser as the
      # default's): Brax's checkpoint.load_policy cannot rebuild a network
      # whose config holds None there.
      network_factory=functools.partial(
          ppo_networks.make_ppo_networks, policy_hidden_layer_sizes=(8,),
          value_hidden_layer_sizes=(8,),
          mean_kernel_init_fn=jax.nn.initializers.lecun_uniform),
      amp_reference=reference_path,
      amp_feature_fn=helpers.counter_features,
      amp_disc_hidden_layer_sizes=(8,), amp_disc_minibatch_size=8,
      amp_replay_size=64)
  if reference_path is None:
    kwargs = {k: v for k, v in kwargs.items() if not k.startswith('amp_')}
  kwargs.update(overrides)
  return kwargs


class PoisonedCounterEnv(helpers.CounterEnv):
  """CounterEnv that turns NaN once it has taken `after` steps.

  A step counter in `state.info` survives auto-resets, so the poison starts
  at a known point of training: in the reward (the task reward turns NaN) or
  in qd (the AMP features of `poisoned_features` turn NaN).
  """

  def __init__(self, after: int, target: str):
    self._after = after
    self._target = target

  def reset(self, rng: jax.Array) -> envs.State:
    state = super().reset(rng)
    return state.replace(info={**state.info, 'total_steps': jnp.zeros(())})

  def step(self, state: envs.State, action: jax.Array) -> envs.State:
    total = state.info['total_steps'] + 1
    state = super().step(state, action)
    poison = jnp.where(total > self._after, jnp.nan, 0.0)
    if self._target == 'reward':
      state = state.replace(reward=state.reward + poison)
    else:
      physics = state.pipeline_state
      state = state.replace(pipeline_state=physics.replace(qd=physics.qd +
                                                           poison))
    return state.replace(info={**state.info, 'total_steps': total})


def poisoned_features(q: jax.Array, qd: jax.Array) -> jax.Array:
  return q + qd
