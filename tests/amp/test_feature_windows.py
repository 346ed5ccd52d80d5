"""Feature windows: taken before the auto-reset, never across two episodes.

The counter env's features are (step in episode, episode id), so a window
that does not count up by one within one episode id has joined two episodes.
Each case runs through Brax's and MuJoCo Playground's training wrappers.
"""

from brax import envs
import flax
import jax
import jax.numpy as jnp
from mujoco_playground._src import mjx_env
from mujoco_playground._src import wrapper as playground_wrapper
import numpy as np
import pytest

from amp_ppo.amp import config as amp_config
from amp_ppo.amp import feature_windows
from amp_ppo.amp import features
from tests import helpers

_NUM_ENVS = 8
_NUM_STEPS = 40
_EPISODE_LENGTH = 7  # Shorter than some episodes: truncation happens too.


class _BlindCounterEnv(helpers.CounterEnv):
  """Observations leave out the step: an episode's first and last agree."""

  def reset(self, rng):
    state = super().reset(rng)
    return state.replace(obs=jnp.zeros(2))

  def step(self, state, action):
    return super().step(state, action).replace(obs=jnp.zeros(2))


class _PlaygroundCounterEnv(helpers.CounterEnv):
  """A counter env with Playground's state (`data` for physics)."""

  def __init__(self, counter: helpers.CounterEnv):
    self._counter = counter

  def reset(self, rng):
    return _to_playground(self._counter.reset(rng))

  def step(self, state, action):
    brax_state = envs.State(pipeline_state=state.data, obs=state.obs,
                            reward=state.reward, done=state.done,
                            metrics=state.metrics, info=state.info)
    return _to_playground(self._counter.step(brax_state, action))


def _to_playground(state):
  return mjx_env.State(data=state.pipeline_state, obs=state.obs,
                       reward=state.reward, done=state.done,
                       metrics=state.metrics, info=state.info)


class _ObservationNoise(envs.Wrapper):
  """Above the auto-reset (as a wrap_env_fn would put it): noisy obs."""

  def reset(self, rng):
    state = self.env.reset(rng)
    return state.replace(obs=state.obs + 0.01)

  def step(self, state, action):
    state = self.env.step(state, action)
    return state.replace(obs=state.obs + 0.01 * jnp.sin(state.obs))


def _brax_wrap(env, **kwargs):
  return envs.training.wrap(env, **kwargs)


def _playground_wrap(env, **kwargs):
  return playground_wrapper.wrap_for_brax_training(env, **kwargs)


def _windows(raw, wrap, history_length, info_key=None, noisy=False,
             action_repeat=1):
  """[T, N, H, 2] windows, [T, N] validity (or None) and done flags."""
  frame_fn = features.frame_fn_for(
      raw, None if info_key else helpers.counter_features, info_key)
  env = wrap(feature_windows.AmpFeatureWrapper(raw, frame_fn, history_length),
             episode_length=_EPISODE_LENGTH, action_repeat=action_repeat)
  if noisy:
    env = _ObservationNoise(env)
  env = feature_windows.EpisodeStartMarker(env)
  state = jax.jit(env.reset)(jax.random.split(jax.random.PRNGKey(0),
                                              _NUM_ENVS))

  def step(state, _):
    state = env.step(state, jnp.zeros((_NUM_ENVS, 1)))
    return state, (state.info[feature_windows.WINDOW_KEY],
                   state.info.get(feature_windows.WINDOW_VALID_KEY), state.done)

  _, (windows, valid, done) = jax.jit(
      lambda s: jax.lax.scan(step, s, (), _NUM_STEPS))(state)
  return (np.asarray(windows), None if valid is None else np.asarray(valid),
          np.asarray(done))


def _assert_inside_episodes(windows, done):
  assert done.sum() > _NUM_ENVS  # many resets happened
  steps, episode_ids = windows[..., 0], windows[..., 1]
  np.testing.assert_array_equal(
      episode_ids, np.broadcast_to(episode_ids[..., :1], episode_ids.shape))
  gaps = np.diff(steps, axis=-1)
  # The newest frame always follows the one before it by exactly one step.
  np.testing.assert_array_equal(gaps[..., -1], 1.0)
  # Older gaps are 1, or 0 where the episode's first frame pads the history;
  # padding only ever precedes real frames, in windows that start at the
  # episode's first frame.
  assert np.all((gaps == 0) | (gaps == 1))
  padded = gaps == 0
  assert np.all(np.diff(padded.astype(int), axis=-1) <= 0)
  assert np.all(steps[padded.any(-1)][:, 0] == 0)


_WRAPS = [pytest.param(_brax_wrap, id='brax'),
          pytest.param(_playground_wrap, id='playground')]


def _raw(wrap, blind=False):
  counter = _BlindCounterEnv() if blind else helpers.CounterEnv()
  return _PlaygroundCounterEnv(counter) if wrap is _playground_wrap else counter


@pytest.mark.parametrize('wrap', _WRAPS)
@pytest.mark.parametrize('history,action_repeat,info_key', [
    pytest.param(2, 1, None, id='pair'),
    pytest.param(3, 1, None, id='history3'),
    pytest.param(4, 2, None, id='history4_action_repeat'),
    pytest.param(2, 1, 'counter_features', id='pair_from_info'),
    pytest.param(3, 1, 'counter_features', id='history3_from_info')])
def test_windows_stay_inside_one_episode(wrap, history, action_repeat,
                                         info_key):
  windows, _, done = _windows(_raw(wrap), wrap, history, info_key,
                              action_repeat=action_repeat)
  assert windows.shape == (_NUM_STEPS, _NUM_ENVS, history, 2)
  _assert_inside_episodes(windows, done)


@pytest.mark.parametrize('wrap', _WRAPS)
def test_terminal_frame_is_taken_before_reset(wrap):
  windows, _, done = _windows(_raw(wrap), wrap, 2)
  terminal_next_steps = windows[..., 1, 0][done.astype(bool)]
  # Without the pre-reset frame these would be 0, the reset state's step.
  assert np.all(terminal_next_steps >= 5)


@pytest.mark.parametrize('wrap', _WRAPS)
@pytest.mark.parametrize('history,info_key', [
    pytest.param(3, None, id='history3'),
    pytest.param(2, 'counter_features', id='pair_from_info')])
def test_first_obs_equal_to_terminal_obs_still_restarts(wrap, history,
                                                        info_key):
  windows, _, done = _windows(_raw(wrap, blind=True), wrap, history, info_key)
  _assert_inside_episodes(windows, done)


@pytest.mark.parametrize('wrap', _WRAPS)
@pytest.mark.parametrize('history,info_key', [
    pytest.param(3, None, id='history3'),
    pytest.param(2, 'counter_features', id='pair_from_info'),
    pytest.param(4, None, id='history4')])
def test_noisy_observations_do_not_look_like_restarts(wrap, history,
                                                      info_key):
  windows, _, done = _windows(_raw(wrap), wrap, history, info_key,
                              noisy=True)
  _assert_inside_episodes(windows, done)
  # Not every window restarted: most carry real history.
  if history > 2:
    gaps = np.diff(windows[..., 0], axis=-1)
    assert np.mean(np.all(gaps == 1, axis=-1)) > 0.5


@pytest.mark.parametrize('wrap', _WRAPS)
def test_padded_windows_are_marked_invalid(wrap):
  windows, valid, _ = _windows(_raw(wrap), wrap, 4)
  gaps = np.diff(windows[..., 0], axis=-1)
  np.testing.assert_array_equal(valid, np.all(gaps == 1, axis=-1))
  assert 0 < valid.mean() < 1


def test_pairs_need_no_validity_mask():
  _, valid, _ = _windows(helpers.CounterEnv(), _brax_wrap, 2)
  assert valid is None


@pytest.mark.parametrize('history', [2, 3])
def test_history_without_the_marker_is_refused(history):
  raw = helpers.CounterEnv()
  env = envs.training.wrap(
      feature_windows.AmpFeatureWrapper(raw, lambda s: s.pipeline_state.q,
                                        history),
      episode_length=_EPISODE_LENGTH)
  state = env.reset(jax.random.split(jax.random.PRNGKey(0), 2))
  with pytest.raises(ValueError, match='EpisodeStartMarker'):
    jax.eval_shape(env.step, state, jnp.zeros((2, 1)))


def test_playground_full_reset_is_refused():
  amp = helpers.make_amp(amp_config.AmpConfig(history_length=3).validate(),
                         np.zeros((8, 2)))
  env = _playground_wrap(
      feature_windows.AmpFeatureWrapper(_raw(_playground_wrap),
                                        lambda s: s.data.q, 3),
      episode_length=_EPISODE_LENGTH, full_reset=True)
  with pytest.raises(ValueError, match='full_reset=True'):
    amp.wrap_training_env(env)


@flax.struct.dataclass
class _Gain:
  """A stand-in physics model: the only thing randomised is its gain."""
  gain: jax.Array


class _GainRewardCounterEnv(helpers.CounterEnv):
  """Pays its model's gain, so rewards show which model each env stepped."""

  def __init__(self):
    self.sys = _Gain(gain=jnp.zeros(()))

  def step(self, state, action):
    return super().step(state, action).replace(reward=self.sys.gain)


class _PlaygroundGainRewardCounterEnv(_PlaygroundCounterEnv):
  """The same with Playground's model attribute (`_mjx_model`)."""

  def __init__(self):
    super().__init__(helpers.CounterEnv())
    self._mjx_model = _Gain(gain=jnp.zeros(()))

  @property
  def mjx_model(self):
    return self._mjx_model

  def step(self, state, action):
    return super().step(state, action).replace(reward=self._mjx_model.gain)


def _one_gain_per_env(model):
  return (model.replace(gain=jnp.arange(_NUM_ENVS, dtype=jnp.float32)),
          _Gain(gain=0))


@pytest.mark.parametrize('raw_class, wrap, model_name', [
    (_GainRewardCounterEnv, _brax_wrap, 'sys'),
    (_PlaygroundGainRewardCounterEnv, _playground_wrap, '_mjx_model'),
])
@pytest.mark.parametrize('history', [2, 3])
def test_domain_randomisation_cannot_bypass_the_recorder(raw_class, wrap,
                                                         model_name, history):
  # Brax's and Playground's randomising vmap wrappers step
  # `self.env.unwrapped`, which would skip a plain wrapper.
  raw = raw_class()
  recorder = feature_windows.AmpFeatureWrapper(raw, lambda s: s.obs, history)
  env = feature_windows.EpisodeStartMarker(wrap(
      recorder, episode_length=_EPISODE_LENGTH,
      randomization_fn=_one_gain_per_env))
  state = env.reset(jax.random.split(jax.random.PRNGKey(0), _NUM_ENVS))

  def step(state, _):
    state = env.step(state, jnp.zeros((_NUM_ENVS, 1)))
    return state, (state.info[feature_windows.WINDOW_KEY], state.reward,
                   state.done)

  _, (windows, reward, done) = jax.tree_util.tree_map(
      np.asarray, jax.lax.scan(step, state, (), _NUM_STEPS))
  _assert_inside_episodes(windows, done)
  # Each env stepped its own randomised model, through the recorder...
  np.testing.assert_array_equal(
      reward, np.broadcast_to(np.arange(_NUM_ENVS), reward.shape))
  # ...which was set on the raw environment and put back there afterwards.
  assert float(getattr(raw, model_name).gain) == 0.0
  assert model_name not in vars(recorder)


@pytest.mark.parametrize('raw_class, wrap', [
    (_GainRewardCounterEnv, _brax_wrap),
    (_PlaygroundGainRewardCounterEnv, _playground_wrap),
])
@pytest.mark.parametrize('history', [2, 3])
def test_evaluation_recorder_runs_under_domain_randomisation(raw_class, wrap,
                                                             history):
  # The eval env has no marker above its auto-reset; a flag-setting wrapper
  # there was skipped by the randomising vmap, which steps `unwrapped`.
  recorder = feature_windows.AmpFeatureWrapper(
      raw_class(), lambda s: s.obs, history, first_episode_only=True)
  env = wrap(recorder, episode_length=_EPISODE_LENGTH,
             randomization_fn=_one_gain_per_env)
  state = env.reset(jax.random.split(jax.random.PRNGKey(0), _NUM_ENVS))

  def step(state, _):
    state = env.step(state, jnp.zeros((_NUM_ENVS, 1)))
    return state, (state.info[feature_windows.WINDOW_KEY], state.done)

  _, (windows, done) = jax.tree_util.tree_map(
      np.asarray, jax.lax.scan(step, state, (), _EPISODE_LENGTH))
  first_episode = feature_windows.first_episode_mask(done)  # [T, N]
  assert first_episode.all(axis=0).sum() < _NUM_ENVS  # some episodes ended
  # Within each first episode: consecutive steps, padded only at its start.
  steps = windows[..., 0]  # [T, N, H]
  expected = np.broadcast_to(np.arange(_EPISODE_LENGTH)[:, None, None] +
                             np.arange(2 - history, 2), steps.shape)
  np.testing.assert_array_equal(steps[first_episode],
                                np.maximum(expected, 0)[first_episode])


def test_the_first_episode_ends_with_its_terminal_step():
  done = np.array([[0, 0, 1, 0, 1], [0, 0, 0, 0, 0]], bool)  # [N, T]
  first = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
  np.testing.assert_array_equal(
      feature_windows.first_episode_mask(done, axis=1), first)
  # Time first and float flags, as Brax's evaluation hands them over.
  np.testing.assert_array_equal(
      feature_windows.first_episode_mask(jnp.asarray(done.T, jnp.float32)),
      first.T)
