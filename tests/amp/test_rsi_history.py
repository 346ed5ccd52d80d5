"""With reference state init, a long window starts with the reference's past."""

from brax import envs
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from amp_ppo.amp import build
from amp_ppo.amp import config as amp_config
from amp_ppo.amp import feature_windows
from amp_ppo.amp import features
from amp_ppo.amp import reference_state_init
from amp_ppo import motion as motion_lib
from amp_ppo.demos import cartpole_sway

_NUM_ENVS = 4
_NUM_STEPS = 12
_EPISODE_LENGTH = 5


def _amp(history_length, fraction):
  raw = envs.get_environment(cartpole_sway.ENV_NAME, backend='positional')
  config = amp_config.AmpConfig(history_length=history_length,
                                reference_state_init=fraction)
  amp = build.build_amp(raw, config, cartpole_sway.BUNDLED_REFERENCE,
                        feature_fn=None, info_feature_key=None,
                        ppo_num_minibatches=1, seed=0, wrap_env=True)
  env = amp.wrap_training_env(envs.training.wrap(
      amp.wrap_env(raw), episode_length=_EPISODE_LENGTH))
  return amp, env


def _rollout(env):
  state = env.reset(jax.random.split(jax.random.PRNGKey(0), _NUM_ENVS))

  def step(state, _):
    state = env.step(state, jnp.zeros((_NUM_ENVS, 1)))
    return state, (state.info[feature_windows.WINDOW_KEY],
                   state.info[feature_windows.WINDOW_VALID_KEY], state.done)

  _, out = jax.jit(lambda s: jax.lax.scan(step, s, (), _NUM_STEPS))(state)
  return jax.tree_util.tree_map(np.asarray, out)


def _reference_index(frames, frame):
  matches = np.flatnonzero(np.all(np.isclose(frames, frame, atol=1e-5), -1))
  return matches


def test_episodes_from_the_reference_start_with_its_past():
  amp, env = _amp(history_length=3, fraction=1.0)
  windows, valid, done = _rollout(env)
  assert np.all(valid)  # no padding: every start has its past
  reference = np.asarray(amp.reference.frames)
  starts = np.concatenate([np.ones((1, _NUM_ENVS), bool), done[:-1] > 0])
  assert starts[1:].sum() >= _NUM_ENVS  # auto-resets happened
  for window in windows[starts]:
    # The frame before the start frame is its predecessor in the reference.
    before = _reference_index(reference, window[0])
    start = _reference_index(reference, window[1])
    assert before.size and start.size
    assert set(before + 1) & set(start)


def test_episodes_from_the_environments_own_reset_are_padded():
  _, env = _amp(history_length=3, fraction=0.0)
  windows, valid, done = _rollout(env)
  starts = np.concatenate([np.ones((1, _NUM_ENVS), bool), done[:-1] > 0])
  assert not np.any(valid[starts])
  assert np.all(valid[~starts])
  np.testing.assert_array_equal(windows[starts][:, 0], windows[starts][:, 1])


def test_start_frames_have_their_past_in_the_same_clip():
  amp, _ = _amp(history_length=4, fraction=1.0)
  qpos, qvel, probabilities, history = amp._reference_start_states  # pylint: disable=protected-access
  reference = np.asarray(amp.reference.frames)
  raw = envs.get_environment(cartpole_sway.ENV_NAME, backend='positional')
  motion = motion_lib.resample(
      motion_lib.load_reference(cartpole_sway.BUNDLED_REFERENCE),
      float(raw.dt))
  clip_lengths = [clip.num_frames for clip in motion.clips]
  # Each clip's first two frames have no past of two frames in that clip.
  offsets = np.cumsum([0] + clip_lengths[:-1])
  expected = np.concatenate([offset + np.arange(2, length)
                             for offset, length in zip(offsets, clip_lengths)])
  assert qpos.shape[0] == expected.size
  assert history.shape == (expected.size, 2, amp.feature_size)
  assert np.isclose(float(jnp.sum(probabilities)), 1.0, atol=1e-6)
  start_features = np.asarray(jax.vmap(features.default_feature_fn(raw))(
      qpos, qvel))
  np.testing.assert_allclose(start_features, reference[expected], atol=1e-5)
  np.testing.assert_allclose(
      history, reference[expected[:, None] + np.array([-2, -1])], atol=1e-5)


def test_reference_state_init_without_an_auto_reset_is_refused():
  raw = envs.get_environment(cartpole_sway.ENV_NAME, backend='positional')
  frames = jnp.zeros((3, 2))
  env = envs.training.VmapWrapper(
      reference_state_init.ReferenceStateInitWrapper(
          raw, 1.0, frames, frames, jnp.full((3,), 1 / 3)))
  state = jax.eval_shape(env.reset,
                         jax.random.split(jax.random.PRNGKey(0), 2))
  with pytest.raises(ValueError, match='auto-reset'):
    jax.eval_shape(env.step, state, jnp.zeros((2, 1)))


@pytest.mark.parametrize('history_length', [2, 3])
def test_windows_start_from_the_state_that_was_stepped(history_length):
  # The recorder keeps frames instead of recomputing them; at an auto-reset
  # the first frame must be the one of the start reference state init drew
  # for that episode (it redraws at every step), not of an earlier draw.
  _, env = _amp(history_length=history_length, fraction=1.0)
  feature_fn = features.default_feature_fn(
      envs.get_environment(cartpole_sway.ENV_NAME, backend='positional'))
  state = env.reset(jax.random.split(jax.random.PRNGKey(0), _NUM_ENVS))

  def step(state, _):
    stepped_from = jax.vmap(feature_fn)(state.pipeline_state.q,
                                        state.pipeline_state.qd)
    state = env.step(state, jnp.zeros((_NUM_ENVS, 1)))
    return state, (state.info[feature_windows.WINDOW_KEY], stepped_from,
                   state.done)

  _, (windows, stepped_from, done) = jax.tree_util.tree_map(
      np.asarray, jax.jit(lambda s: jax.lax.scan(step, s, (), _NUM_STEPS))(
          state))
  assert done.sum() >= _NUM_ENVS  # auto-resets happened
  np.testing.assert_allclose(windows[:, :, -2], stepped_from, atol=1e-5)


def test_the_recorder_refuses_reference_state_init_without_frames():
  raw = envs.get_environment(cartpole_sway.ENV_NAME, backend='positional')
  frames = jnp.zeros((3, 2))
  rsi = reference_state_init.ReferenceStateInitWrapper(
      raw, 1.0, frames, frames, jnp.full((3,), 1 / 3))
  with pytest.raises(ValueError, match='frame_fn'):
    feature_windows.AmpFeatureWrapper(rsi, lambda s: s.pipeline_state.q, 2)
