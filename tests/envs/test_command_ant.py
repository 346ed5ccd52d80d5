"""The command-tracking ant (amp_ppo/envs/command_ant.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from amp_ppo import envs as amp_envs
from amp_ppo.envs import command_ant


@pytest.fixture(scope='module')
def env():
  return amp_envs.get_environment('command_ant')


def test_commands_are_drawn_per_episode_across_the_trot_range(env):
  states = jax.jit(jax.vmap(env.reset))(jax.random.split(
      jax.random.PRNGKey(0), 256))
  commands = np.asarray(states.info[command_ant.COMMAND_KEY])
  low, high = command_ant.COMMAND_RANGE
  assert commands.min() >= low and commands.max() <= high
  assert commands.min() < low + 0.01 and commands.max() > high - 0.01
  # Observed: the ant's observation, then the command and averaged speed.
  np.testing.assert_allclose(states.obs[:, -2], commands)
  assert env.observation_size == states.obs.shape[1] == 27 + 2


def test_tracking_reward_is_bounded_and_peaks_at_the_command():
  velocity = jnp.linspace(-3.0, 3.0, 601)
  reward = np.asarray(command_ant.tracking_reward(velocity, 0.25))
  assert reward.min() >= 0 and reward.max() <= 1
  assert float(velocity[np.argmax(reward)]) == pytest.approx(0.25)
  assert float(command_ant.tracking_reward(0.35, 0.25)) == pytest.approx(
      np.exp(-1))


def test_step_reward_is_tracking_plus_scaled_ant_terms(env):
  state = jax.jit(env.reset)(jax.random.PRNGKey(1))
  step = jax.jit(env.step)
  action = 0.5 * jnp.ones(env.action_size)
  for _ in range(3):
    previous = state.info[command_ant.VELOCITY_KEY]
    state = step(state, action)
    tracking = float(state.metrics['reward_tracking'])
    assert 0 < tracking <= 1
    expected = (tracking + command_ant.ALIVE_BONUS -
                command_ant.CTRL_COST_WEIGHT * float(jnp.sum(action ** 2)))
    assert float(state.reward) == pytest.approx(expected, rel=1e-5)
    alpha = float(env.dt) / command_ant.VELOCITY_TIME_CONSTANT
    assert float(state.info[command_ant.VELOCITY_KEY]) == pytest.approx(
        (1 - alpha) * float(previous) +
        alpha * float(state.metrics['x_velocity']), rel=1e-5, abs=1e-6)
  assert command_ant.ALIVE_BONUS < 1 and command_ant.CTRL_COST_WEIGHT < 0.5


def test_every_command_is_near_a_reference_clip_speed():
  """The commands ask for speeds the multi-speed trot shows (module doc)."""
  from amp_ppo import motion as motion_lib  # pylint: disable=g-import-not-at-top
  from amp_ppo.demos import ant_gait  # pylint: disable=g-import-not-at-top
  clips = motion_lib.load_reference(ant_gait.SPEEDS_REFERENCE).clips
  speeds = np.sort([clip.qvel[:, 0].mean() for clip in clips])
  low, high = command_ant.COMMAND_RANGE
  commands = np.linspace(low, high, 101)
  nearest = np.abs(commands[:, None] - speeds[None]).min(axis=1)
  # Within a sigma of the tracking reward: a clip's speed earns > exp(-1).
  assert nearest.max() < command_ant.TRACKING_SIGMA, nearest.max()
  assert speeds[0] <= low + 0.01 and speeds[-1] >= high
