"""Feature windows are taken before auto-reset and never span two episodes."""

from absl.testing import parameterized
from brax import envs
import jax
import jax.numpy as jnp
import numpy as np

from amp_ppo.amp import features
from tests import helpers

_NUM_ENVS = 8
_NUM_STEPS = 40
_EPISODE_LENGTH = 7  # Shorter than some episodes: truncation happens too.


def _windows(history_length, action_repeat=1, info_key=None):
  """Rolls the counter env through Brax's training wrappers; [T, N, H, 2]."""
  raw = helpers.CounterEnv()
  frame_fn, from_info = features.frame_fn_for(
      raw, None if info_key else helpers.counter_features, info_key)
  env = envs.training.wrap(
      features.AmpFeatureWrapper(raw, frame_fn, history_length, from_info),
      episode_length=_EPISODE_LENGTH, action_repeat=action_repeat)
  state = jax.jit(env.reset)(jax.random.split(jax.random.PRNGKey(0),
                                              _NUM_ENVS))

  def step(state, _):
    state = env.step(state, jnp.zeros((_NUM_ENVS, 1)))
    return state, (state.info[features.WINDOW_KEY], state.done)

  _, (windows, done) = jax.jit(
      lambda s: jax.lax.scan(step, s, (), _NUM_STEPS))(state)
  return np.asarray(windows), np.asarray(done)


class WindowTest(parameterized.TestCase):

  @parameterized.named_parameters(
      ('pair', 2, 1, None),
      ('history3', 3, 1, None),
      ('history4_action_repeat', 4, 2, None),
      ('pair_from_info', 2, 1, 'counter_features'),
      ('history3_from_info', 3, 1, 'counter_features'),
  )
  def test_windows_stay_inside_one_episode(self, history, action_repeat,
                                           info_key):
    windows, done = _windows(history, action_repeat, info_key)
    self.assertEqual(windows.shape, (_NUM_STEPS, _NUM_ENVS, history, 2))
    self.assertGreater(done.sum(), _NUM_ENVS)  # many resets happened
    steps, episode_ids = windows[..., 0], windows[..., 1]
    np.testing.assert_array_equal(
        episode_ids, np.broadcast_to(episode_ids[..., :1], episode_ids.shape))
    gaps = np.diff(steps, axis=-1)
    # The newest frame always follows the one before it by exactly one step.
    np.testing.assert_array_equal(gaps[..., -1], 1.0)
    # Older gaps are 1, or 0 where a fresh episode's start frame pads the
    # history; padding only ever precedes real frames.
    self.assertTrue(np.all((gaps == 0) | (gaps == 1)))
    padded = gaps == 0
    self.assertTrue(np.all(np.diff(padded.astype(int), axis=-1) <= 0))
    # Padding happens exactly when the window starts at the episode's frame 0.
    np.testing.assert_array_equal(padded.any(-1),
                                  (steps[..., 0] == 0) & padded.any(-1))

  def test_terminal_frame_is_taken_before_reset(self):
    windows, done = _windows(2)
    terminal_next_steps = windows[..., 1, 0][done.astype(bool)]
    # Without the pre-reset frame these would be 0, the reset state's step.
    self.assertTrue(np.all(terminal_next_steps >= 5))


class DefaultFeatureTest(parameterized.TestCase):

  @parameterized.parameters('inverted_pendulum', 'ant')
  def test_features_depend_on_q_and_qd_only(self, env_name):
    # Positional Brax carries body transforms that drift from forward
    # kinematics of q; features must not read them, or reference frames
    # (which have only q and qd) and policy states would disagree.
    env = envs.get_environment(env_name, backend='positional')
    feature_fn = features.default_feature_fn(env)
    frame_fn, _ = features.frame_fn_for(env, None, None)
    state = jax.jit(env.reset)(jax.random.PRNGKey(1))
    for _ in range(3):
      state = jax.jit(env.step)(state, jnp.full((env.action_size,), 0.3))
    from_policy = frame_fn(state)
    rebuilt = env.pipeline_init(state.pipeline_state.q,
                                state.pipeline_state.qd)
    drift = np.abs(rebuilt.x.pos - state.pipeline_state.x.pos).max()
    self.assertGreater(drift, 1e-5)  # the trap exists in this backend
    from_reference = feature_fn(state.pipeline_state.q,
                                state.pipeline_state.qd)
    np.testing.assert_array_equal(from_policy, from_reference)
    self.assertTrue(np.all(np.isfinite(from_policy)))

  def test_free_root_features_ignore_heading(self):
    env = envs.get_environment('ant', backend='positional')
    feature_fn = jax.jit(features.default_feature_fn(env))
    q = np.array(env.sys.init_q)
    qd = np.zeros(env.sys.qd_size())
    qd[0] = 1.0  # moving along the facing direction
    turned_q, turned_qd = q.copy(), qd.copy()
    angle = 1.1  # yaw the whole robot, velocity included
    turned_q[3:7] = [np.cos(angle / 2), 0, 0, np.sin(angle / 2)]
    turned_qd[:2] = [np.cos(angle), np.sin(angle)]
    np.testing.assert_allclose(feature_fn(q, qd),
                               feature_fn(turned_q, turned_qd), atol=1e-4)

  def test_quaternion_starts(self):
    ant = envs.get_environment('ant', backend='positional')
    self.assertEqual(list(features.quaternion_starts(ant.sys)), [3])
    pendulum = envs.get_environment('inverted_pendulum')
    self.assertEqual(list(features.quaternion_starts(pendulum.sys)), [])
