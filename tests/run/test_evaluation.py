"""Tests of amp_ppo.run.evaluation: returns and windows of policy rollouts."""

import jax
import jax.numpy as jnp
import numpy as np

from amp_ppo.run import evaluation
from tests import helpers


def _still_policy(obs, key):
  del key
  return jnp.zeros(obs.shape[:-1] + (1,)), {}


def _counter_rollout(num_steps=12):
  env = helpers.CounterEnv()
  frame_fn = lambda state: state.pipeline_state.q
  return evaluation.policy_rollout(env, _still_policy, frame_fn,
                                   jax.random.PRNGKey(3), num_envs=6,
                                   num_steps=num_steps)


def test_returns_count_only_the_steps_of_each_episode():
  # The counter env pays 1 per step of a still policy and ends its episode
  # after 5 + (episode id % 4) steps, all shorter than the rollout.
  rollout = _counter_rollout()
  lengths = 5 + rollout.frames[:, 0, 1] % 4
  np.testing.assert_array_equal(rollout.episode_lengths(), lengths)
  np.testing.assert_array_equal(rollout.episode_returns(), lengths)


def test_a_rollout_that_never_ends_counts_every_step():
  rollout = evaluation.Rollout(
      frames=np.zeros((1, 4, 1)), rewards=np.ones((1, 3)),
      done=np.zeros((1, 4), bool), first_env_states=None)
  assert rollout.episode_returns()[0] == 3
  assert rollout.episode_lengths()[0] == 3


def test_a_three_step_episode_returns_three():
  done = np.array([[False, False, False, True, False, False]])
  rollout = evaluation.Rollout(
      frames=np.zeros((1, 6, 1)), rewards=np.ones((1, 5)), done=done,
      first_env_states=None)
  assert rollout.episode_returns()[0] == 3
  assert rollout.episode_lengths()[0] == 3


def test_windows_stay_inside_one_episode():
  rollout = _counter_rollout()
  for history_length in (2, 3):
    windows = rollout.windows(history_length)
    steps, episodes = windows[..., 0], windows[..., 1]
    np.testing.assert_array_equal(np.diff(steps, axis=1), 1)
    assert np.all(episodes == episodes[:, :1])
    # Every window of every episode is there, the terminal one included.
    lengths = 5 + rollout.frames[:, 0, 1] % 4
    assert len(windows) == int(np.sum(lengths - history_length + 2))


def test_action_repeat_holds_each_action_for_that_many_env_steps():
  # The counter env pays 1 - a^2; this policy's action is the step count it
  # observes, so the reward shows which step's observation chose the action.
  def counting_policy(obs, key):
    del key
    return obs[..., :1], {}

  env = helpers.CounterEnv()
  rollout = evaluation.policy_rollout(
      env, counting_policy, lambda state: state.pipeline_state.q,
      jax.random.PRNGKey(0), num_envs=2, num_steps=3, action_repeat=2)
  assert rollout.frames.shape[1] == 3 * 2 + 1  # every environment step
  np.testing.assert_array_equal(rollout.frames[:, :, 0],
                                np.broadcast_to(np.arange(7), (2, 7)))
  # Actions chosen at steps 0, 2, 4, each held for two environment steps.
  np.testing.assert_array_equal(
      rollout.rewards, np.broadcast_to([1, 1, -3, -3, -15, -15], (2, 6)))
