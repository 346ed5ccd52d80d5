"""AMP with MuJoCo Playground environments and their Brax training wrapper.

Runs when the optional `playground` package is installed (`pip install
-e .[playground]`, as .ci/run does).
"""

import functools

from brax.training.agents.ppo import networks as ppo_networks
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import amp_ppo
from amp_ppo.amp import feature_windows
from amp_ppo.amp import features
from amp_ppo import motion as motion_lib

mujoco_playground = pytest.importorskip('mujoco_playground')
from mujoco_playground import registry  # pylint: disable=g-import-not-at-top,wrong-import-position
from mujoco_playground import wrapper  # pylint: disable=g-import-not-at-top,wrong-import-position
from mujoco_playground._src import mjx_env  # pylint: disable=g-import-not-at-top,wrong-import-position

_ENV_NAME = 'CartpoleBalance'


@pytest.fixture(scope='module')
def env():
  return registry.load(_ENV_NAME)


def _sway_reference(env, path):
  t = np.arange(100) * env.dt
  qpos = np.stack([0.3 * np.sin(2 * np.pi * t), 0.02 * np.sin(2 * np.pi * t)],
                  axis=1).astype(np.float32)
  qvel = np.gradient(qpos, env.dt, axis=0).astype(np.float32)
  motion_lib.save_reference(path, fps=1 / env.dt, qpos=qpos, qvel=qvel)
  return path


def test_windows_do_not_span_playground_auto_resets(env):
  feature_fn = features.default_feature_fn(env)
  frame_fn = features.frame_fn_for(env, None, None)
  wrapped = feature_windows.EpisodeStartMarker(wrapper.wrap_for_brax_training(
      feature_windows.AmpFeatureWrapper(env, frame_fn, 2),
      episode_length=4))
  num_envs, num_steps = 2, 10

  def rollout(key):
    state = wrapped.reset(jax.random.split(key, num_envs))

    def step(state, _):
      next_state = wrapped.step(state, jnp.zeros((num_envs, 1)))
      start = jax.vmap(feature_fn)(state.data.qpos, state.data.qvel)
      return next_state, (next_state.info[feature_windows.WINDOW_KEY], start,
                          next_state.done)

    return jax.lax.scan(step, state, (), num_steps)[1]

  windows, starts, done = jax.tree_util.tree_map(
      np.asarray, jax.jit(rollout)(jax.random.PRNGKey(0)))
  assert done.sum() >= num_envs * 2  # truncations at steps 4 and 8
  # Every window starts at the state the step started from (the reset state
  # after an auto-reset), never at the previous episode's last state.
  np.testing.assert_allclose(windows[:, :, 0], starts, atol=1e-5)
  after_reset = done[:-1].astype(bool)
  last_frames, next_first = windows[:-1, :, 1], windows[1:, :, 0]
  assert np.abs(last_frames[after_reset] - next_first[after_reset]).max() > 1e-3


def test_amp_trains_with_wrap_for_brax_training(env, tmp_path):
  progress = []
  _, params, _ = amp_ppo.train(
      environment=env, wrap_env_fn=wrapper.wrap_for_brax_training,
      num_timesteps=2 * 8 * 4 * 2, episode_length=20, num_envs=8,
      batch_size=8, num_minibatches=2, unroll_length=4, num_evals=2,
      # Training only: Playground's evaluation runs in
      # test_playground_locomotion.py's published calls.
      run_evals=False,
      network_factory=functools.partial(
          ppo_networks.make_ppo_networks, policy_hidden_layer_sizes=(8,),
          value_hidden_layer_sizes=(8,)),
      progress_fn=lambda step, metrics: progress.append(metrics),
      amp_reference=_sway_reference(env, str(tmp_path / 'sway.npz')),
      amp_disc_hidden_layer_sizes=(8,), amp_disc_minibatch_size=8,
      amp_replay_size=64)
  assert int(params[3].replay.count) == 2 * 8
  amp_metrics = {k: float(v) for k, v in progress[-1].items()
                 if k.startswith('training/amp/')}
  assert len(amp_metrics) >= 11
  assert all(np.isfinite(v) for v in amp_metrics.values())


def test_reference_state_init_refuses_a_reset_without_one_start(tmp_path):
  # Reference state init puts the physics state that the reset builds at a
  # reference frame; a reset that builds two has no single one to place.
  env = registry.load(_ENV_NAME)
  own_reset = env.reset

  def reset_building_twice(rng):
    mjx_env.make_data(env.mj_model)
    return own_reset(rng)

  env.reset = reset_building_twice
  with pytest.raises(ValueError, match='called mujoco_playground '
                     'mjx_env.make_data 2 times'):
    amp_ppo.train(environment=env, wrap_env_fn=wrapper.wrap_for_brax_training,
                  num_timesteps=64, episode_length=20, num_envs=8,
                  batch_size=8, num_minibatches=2,
                  amp_reference=_sway_reference(env, str(tmp_path / 'r.npz')),
                  amp_reference_state_init=0.5)
