"""Recording a policy as a reference holds its actions as training does."""

from brax import envs
import jax.numpy as jnp
import numpy as np

from amp_ppo.run import record


def _still_policy(obs, key):
  del key
  return jnp.zeros(obs.shape[:-1] + (1,)), {}


def test_each_action_is_held_action_repeat_environment_steps():
  env = envs.get_environment('inverted_pendulum', backend='positional')
  once = record.record_motion(env, _still_policy, num_clips=1, num_steps=12,
                              seed=0)
  held = record.record_motion(env, _still_policy, num_clips=1, num_steps=4,
                              seed=0, action_repeat=3)
  # A frame every environment step: 4 actions held 3 steps each are the
  # same 12 environment steps as 12 single actions.
  assert held['fps'] == once['fps'] == 1.0 / float(env.dt)
  np.testing.assert_allclose(held['qpos'], once['qpos'], atol=1e-6)
  np.testing.assert_allclose(held['qvel'], once['qvel'], atol=1e-6)
  assert held['qpos'].shape[0] == 13
