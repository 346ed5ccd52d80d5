"""Several styles in one policy: the command, its discriminators, the table.

Small jitted pieces only (the wrappers on the counter environment, one
training step); the whole run is tests/run/test_multi_style.py.
"""

import functools

from brax import envs
from brax.training.agents.ppo import networks as ppo_networks
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import amp_ppo
from amp_ppo.amp import build
from amp_ppo.amp import config as amp_config
from amp_ppo.amp import feature_windows
from amp_ppo.amp import style_command
from amp_ppo.amp import style_metrics
from amp_ppo import motion as motion_lib
from amp_ppo.training import drop_in
from tests import helpers

_STEPS = 40
# Reference frames (step, episode id) of two styles: a start drawn from
# style 'a' begins an episode with id 100 + k, from 'b' with 200 + k.
_FRAMES = {
    'a': np.stack([np.arange(10.0), 100 + np.arange(10.0)], axis=1),
    'b': np.stack([np.arange(10.0), 200 + np.arange(10.0)], axis=1),
}


def _style_of_episode(episode_id):
  return (np.asarray(episode_id) // 100).astype(int) - 1


def _rsi_start_states():
  qpos = np.concatenate(list(_FRAMES.values())).astype(np.float32)
  rows = np.zeros((2, 20), np.float32)
  rows[0, :10] = rows[1, 10:] = 0.1
  return (jnp.asarray(qpos), jnp.zeros_like(qpos), jnp.asarray(rows), None)


def _rollout(env, num_envs, steps=_STEPS, seed=0):
  """States [T+1, N] of `env` under zero actions, from reset."""
  first = env.reset(jax.random.split(jax.random.PRNGKey(seed), num_envs))

  def step(state, unused):
    state = env.step(state, jnp.zeros((num_envs, 1)))
    return state, state

  _, states = jax.jit(lambda s: jax.lax.scan(step, s, (), length=steps))(
      first)
  return jax.tree_util.tree_map(
      lambda a, b: np.concatenate([np.asarray(a)[None], np.asarray(b)]),
      first, states)


def _training_stack(amp, episode_length=50):
  env = amp.wrap_env(helpers.PlacedCounterEnv())
  env = envs.training.wrap(env, episode_length=episode_length)
  return amp.wrap_training_env(env)


def _assert_observation_shows_the_command(states):
  command = np.asarray(states.info[style_command.STYLE_KEY])
  np.testing.assert_array_equal(states.obs[..., :-2], states.pipeline_state.q)
  np.testing.assert_array_equal(states.obs[..., -2:],
                                np.eye(2)[command])


# -- the command in the environment ------------------------------------------


def test_next_style_survives_auto_reset_and_rsi_starts_from_its_clips():
  config = amp_config.AmpConfig(reference_state_init=1.0,
                                style_probabilities={'a': 0.3, 'b': 0.7})
  amp = helpers.make_style_amp(config, _FRAMES,
                               reference_start_states=_rsi_start_states())
  states = _rollout(_training_stack(amp), num_envs=16)
  command = states.info[style_command.STYLE_KEY]
  episode = states.pipeline_state.q[..., 1]
  # Every state, the first ones and those the auto-reset swapped in after
  # an episode ended, belongs to an episode started from its command's
  # clips: the style drawn beneath the auto-reset was the one commanded.
  np.testing.assert_array_equal(_style_of_episode(episode), command)
  assert np.sum(states.done) > 16  # Many auto-resets happened.
  starts = np.asarray(states.done[:-1] > 0)
  assert set(np.unique(command[1:][starts])) == {0, 1}
  _assert_observation_shows_the_command(states)
  # A window is labelled with the command the step was taken under.
  np.testing.assert_array_equal(
      states.info[style_command.WINDOW_STYLE_KEY][1:], command[:-1])


def test_switches_change_the_command_mid_episode_and_label_the_windows():
  config = amp_config.AmpConfig(style_switch_probability=0.3)
  amp = helpers.make_style_amp(config, _FRAMES)
  states = _rollout(_training_stack(amp, episode_length=1000), num_envs=8)
  command = states.info[style_command.STYLE_KEY]
  changed = command[1:] != command[:-1]
  assert changed.any() and not np.all(states.done[:-1][changed] > 0)
  _assert_observation_shows_the_command(states)
  np.testing.assert_array_equal(
      states.info[style_command.WINDOW_STYLE_KEY][1:], command[:-1])
  windows = states.info[feature_windows.WINDOW_KEY]
  assert windows.shape[-2:] == (2, 2)


class _DictCounterEnv(helpers.CounterEnv):
  """Playground-like observations: two vectors and an image."""

  def _observe(self, state):
    q = state.pipeline_state.q
    return state.replace(obs={'state': q,
                              'privileged_state': jnp.concatenate([q, q]),
                              'pixels/view_0': jnp.zeros((2, 2, 1))})

  def reset(self, rng):
    return self._observe(super().reset(rng))

  def step(self, state, action):
    return self._observe(super().step(state, action))


def test_the_one_hot_goes_into_every_vector_key_of_dict_observations():
  styles = style_command.make_styles(['a', 'b', 'c'], None, 0.0, None)
  env = style_command.StyleCommandWrapper(
      envs.training.wrap(_DictCounterEnv(), episode_length=20), styles)
  states = _rollout(env, num_envs=6, steps=12)
  one_hot = np.eye(3)[states.info[style_command.STYLE_KEY]]
  q = states.pipeline_state.q
  np.testing.assert_array_equal(states.obs['state'],
                                np.concatenate([q, one_hot], -1))
  np.testing.assert_array_equal(states.obs['privileged_state'],
                                np.concatenate([q, q, one_hot], -1))
  assert states.obs['pixels/view_0'].shape[-3:] == (2, 2, 1)
  # The same observation a deployed policy is given.
  np.testing.assert_array_equal(
      amp_ppo.commanded_observation(
          {'state': q[-1], 'privileged_state': np.concatenate([q, q], -1)[-1]},
          states.info[style_command.STYLE_KEY][-1], ['a', 'b', 'c'])['state'],
      states.obs['state'][-1])


def test_evaluation_commands_the_styles_in_turn_for_the_whole_rollout():
  styles = style_command.make_styles(['a', 'b'], {'a': 1.0, 'b': 0.0}, 0.5,
                                     None)
  env = style_command.StyleCommandWrapper(
      envs.training.wrap(helpers.CounterEnv(), episode_length=20), styles,
      evaluation=True)
  states = _rollout(env, num_envs=5, steps=12)
  np.testing.assert_array_equal(states.info[style_command.STYLE_KEY],
                                np.tile([0, 1, 0, 1, 0], (13, 1)))


class _GaitCounterEnv(helpers.CounterEnv):
  """An environment that draws its own style command into info['gait']."""

  def reset(self, rng):
    state = super().reset(rng)
    return state.replace(info={**state.info, 'gait': (
        state.pipeline_state.q[1] % 2).astype(jnp.int32)})

  def step(self, state, action):
    state = super().step(state, action)
    gait = jnp.where(state.pipeline_state.q[0] == 3, 1 - state.info['gait'],
                     state.info['gait'])
    return state.replace(info={**state.info, 'gait': gait})


def test_an_environment_command_labels_the_windows_and_adds_no_one_hot():
  styles = style_command.make_styles(['a', 'b'], None, 0.0, 'gait')
  env = style_command.StyleCommandWrapper(
      envs.training.wrap(_GaitCounterEnv(), episode_length=20), styles)
  states = _rollout(env, num_envs=4, steps=12)
  np.testing.assert_array_equal(states.obs, states.pipeline_state.q)
  gait = states.info['gait']
  np.testing.assert_array_equal(
      states.info[style_command.WINDOW_STYLE_KEY][1:], gait[:-1])


def test_commanded_observation_by_name_index_and_batch():
  obs = np.arange(6.0).reshape(2, 3)
  got = amp_ppo.commanded_observation(obs, 'fast', ['slow', 'fast'])
  np.testing.assert_array_equal(got, [[0, 1, 2, 0, 1], [3, 4, 5, 0, 1]])
  got = amp_ppo.commanded_observation(obs, np.array([0, 1]), ['s', 'f'])
  np.testing.assert_array_equal(got[:, -2:], [[1, 0], [0, 1]])
  with pytest.raises(ValueError, match="unknown style 'trot'"):
    amp_ppo.commanded_observation(obs, 'trot', ['slow', 'fast'])


# -- the discriminators ---------------------------------------------------------


def _style_rollout(num_envs=4, steps=8):
  """Windows whose feature 0 is the style they were commanded (0 or 1)."""
  labels = np.tile(np.arange(num_envs) % 2, (steps, 1)).T  # [B, T]
  windows = np.zeros((num_envs, steps, 2, 2), np.float32)
  windows[..., 0] = labels[..., None]
  windows[..., 1] = np.random.default_rng(0).normal(size=(num_envs, steps, 2))
  return helpers.amp_rollout(
      jnp.asarray(windows), jnp.ones((num_envs, steps)),
      **{style_command.WINDOW_STYLE_KEY: jnp.asarray(labels, jnp.int32)})


@pytest.mark.parametrize('discriminator', ['per_style', 'conditioned'])
def test_each_style_trains_its_discriminator_and_replay_keeps_labels(
    discriminator):
  config = amp_config.AmpConfig(disc_hidden_layer_sizes=(8,),
                                disc_minibatch_size=8, replay_size=64,
                                disc_learning_rate=1e-2,
                                style_discriminator=discriminator)
  amp = helpers.make_style_amp(config, _FRAMES)
  state = amp.init_state()
  _, new_state, metrics = jax.jit(amp.training_step)(state, _style_rollout())
  kernel = lambda s: s.disc_params['params']['hidden_0']['kernel']
  if discriminator == 'per_style':  # One network per style, each updated.
    assert kernel(state).shape[0] == 2
    for style in range(2):
      assert not np.allclose(kernel(state)[style], kernel(new_state)[style])
  else:  # One network that also reads the style's one-hot.
    assert kernel(state).shape[0] == 2 * 2 + 2
    assert not np.allclose(kernel(state), kernel(new_state))
  buffer = new_state.replay
  count = int(buffer.count)
  assert count == 2 * 2 * 4  # styles x disc minibatches x rollout half
  data, styles = (np.asarray(buffer.data[:count]),
                  np.asarray(buffer.styles[:count]))
  # Each replayed window kept its own label, and both styles are there.
  np.testing.assert_array_equal(data[:, 0, 0], styles)
  assert set(styles) == {0, 1}
  for name in ('a', 'b'):
    for metric in ('accuracy_reference', 'accuracy_policy',
                   'style_reward_mean'):
      assert np.isfinite(float(metrics[f'amp/style/{name}/{metric}']))


def _says_policy_for_a_and_reference_for_b(amp, params):
  """Discriminator params whose logit is -1 under style 'a', +1 under 'b'."""
  params = jax.tree_util.tree_map(jnp.zeros_like, params)
  layers = params['params']
  if not amp.conditioned:  # Style 'b''s network only says "reference".
    layers['logit']['bias'] = layers['logit']['bias'].at[0].set(-1.0).at[
        1].set(1.0)
    return params
  # Hidden units fire on the one-hot of 'b' alone; the logit sums them.
  kernel = layers['hidden_0']['kernel']
  layers['hidden_0']['kernel'] = kernel.at[-1].set(1.0)
  layers['logit']['kernel'] = jnp.full_like(layers['logit']['kernel'],
                                            2.0 / kernel.shape[1])
  layers['logit']['bias'] = jnp.array([-1.0])
  return params


@pytest.mark.parametrize('discriminator', ['per_style', 'conditioned'])
def test_the_style_reward_comes_from_the_commanded_styles_discriminator(
    discriminator):
  config = amp_config.AmpConfig(disc_hidden_layer_sizes=(8,),
                                style_discriminator=discriminator)
  amp = helpers.make_style_amp(config, _FRAMES)
  state = amp.init_state()
  params = _says_policy_for_a_and_reference_for_b(amp, state.disc_params)
  windows = jnp.zeros((2, 4, 2, 2))
  for style, expected in ((0, 0.0), (1, 2.0)):  # lsgan, scale 2
    reward = amp.style_reward(params, state.normalizer, windows,
                              jnp.full((2, 4), style, jnp.int32))
    np.testing.assert_allclose(reward, expected, atol=1e-2)


# -- the references ---------------------------------------------------------------


def _features_reference(tmp_path, name, offset):
  path = str(tmp_path / f'{name}.npz')
  steps = np.arange(12, dtype=np.float32)
  motion_lib.save_reference(
      path, fps=1 / helpers.CounterEnv.dt,
      features=np.stack([steps, np.full_like(steps, offset)], axis=1))
  return path


def test_style_windows_keep_each_styles_clips_apart(tmp_path):
  references = {'a': _features_reference(tmp_path, 'a', 1.0),
                'b': _features_reference(tmp_path, 'b', 2.0)}
  amp = build.build_amp(
      helpers.CounterEnv(),
      amp_config.AmpConfig(style_probabilities={'a': 0.25, 'b': 0.75}),
      references, helpers.counter_features, None, ppo_num_minibatches=2,
      seed=0, wrap_env=True)
  reference = amp.reference
  for style, offset in ((0, 1.0), (1, 2.0)):
    windows = reference.sample_style(jax.random.PRNGKey(style), 50, 2, style)
    np.testing.assert_array_equal(windows[..., 1], offset)
  np.testing.assert_allclose(np.sum(reference.probabilities), 1.0, rtol=1e-6)
  assert amp.styles.names == ('a', 'b')
  assert style_command.WINDOW_STYLE_KEY in amp.extra_fields


def _captured_run(monkeypatch, reference, **overrides):
  """What amp_ppo.train hands the vendored trainer (nothing trains)."""
  captured = {}
  monkeypatch.setattr(drop_in._vendored, 'train',
                      lambda **kwargs: captured.update(kwargs))
  amp_ppo.train(environment=helpers.CounterEnv(), num_timesteps=64,
                episode_length=16, num_envs=8, batch_size=8,
                num_minibatches=2, unroll_length=4,
                save_checkpoint_path='/nonexistent/unused',
                amp_reference=reference,
                amp_feature_fn=helpers.counter_features, **overrides)
  return captured['extension']


def test_a_mapping_of_one_style_is_that_reference_alone(monkeypatch,
                                                        tmp_path):
  path = _features_reference(tmp_path, 'a', 1.0)
  single = _captured_run(monkeypatch, path)
  mapped = _captured_run(monkeypatch, {'walk': path})
  assert mapped.amp.styles is None
  assert mapped.amp.extra_fields == single.amp.extra_fields
  for field in ('frames', 'starts', 'probabilities', 'style_probabilities'):
    np.testing.assert_array_equal(getattr(mapped.amp.reference, field),
                                  getattr(single.amp.reference, field))
  assert mapped.reliability.fingerprint == single.reliability.fingerprint
  jax.tree_util.tree_map(np.testing.assert_array_equal,
                         mapped.amp.init_state(), single.amp.init_state())


class _NoCompilation:
  """Fails the test if anything is lowered for XLA inside the block."""

  def __enter__(self):
    self._start = helpers.LOWERINGS.count
    return self

  def __exit__(self, *exc):
    assert helpers.LOWERINGS.count == self._start, 'compiled before failing'
    return False


@pytest.mark.parametrize('case, message', [
    ('unknown_style', r"names \['trot'\]"),
    ('missing_style', r"misses \['b'\]"),
    ('not_one', 'sum to 0.9'),
    ('negative', '>= 0'),
    ('empty', 'empty mapping'),
    ('bad_name', 'style name'),
    ('info_key_missing', "'gait' is not in the state.info"),
    ('one_style_setting', 'several styles'),
    ('switch', 'style_switch_probability'),
    ('discriminator', 'style_discriminator'),
])
def test_bad_style_input_fails_clearly_before_compiling(case, message,
                                                        tmp_path):
  a, b = (_features_reference(tmp_path, 'a', 1.0),
          _features_reference(tmp_path, 'b', 2.0))
  reference, overrides = {'a': a, 'b': b}, {}
  if case == 'unknown_style':
    overrides = dict(amp_style_probabilities={'a': 0.5, 'b': 0.25,
                                              'trot': 0.25})
  elif case == 'missing_style':
    overrides = dict(amp_style_probabilities={'a': 1.0})
  elif case == 'not_one':
    overrides = dict(amp_style_probabilities={'a': 0.5, 'b': 0.4})
  elif case == 'negative':
    overrides = dict(amp_style_probabilities={'a': 1.5, 'b': -0.5})
  elif case == 'empty':
    reference = {}
  elif case == 'bad_name':
    reference = {'a/b': a, 'c': b}
  elif case == 'info_key_missing':
    overrides = dict(amp_style_info_key='gait')
  elif case == 'one_style_setting':
    reference, overrides = a, dict(amp_style_switch_probability=0.1)
  elif case == 'switch':
    overrides = dict(amp_style_switch_probability=1.5)
  elif case == 'discriminator':
    overrides = dict(amp_style_discriminator='shared')
  with _NoCompilation(), pytest.raises(ValueError, match=message):
    amp_ppo.train(
        environment=helpers.CounterEnv(), num_timesteps=64,
        episode_length=16, num_envs=8, batch_size=8, num_minibatches=2,
        unroll_length=4, amp_reference=reference,
        amp_feature_fn=helpers.counter_features,
        network_factory=functools.partial(
            ppo_networks.make_ppo_networks, policy_hidden_layer_sizes=(8,),
            value_hidden_layer_sizes=(8,)),
        **overrides)


# -- the table ---------------------------------------------------------------------


def _windows(mean, n=400, seed=0):
  return np.random.default_rng(seed).normal(mean, 0.1, size=(n, 2, 3))


def test_an_obeyed_command_has_a_small_diagonal_and_no_warning():
  references = {'slow': _windows(0.0), 'fast': _windows(1.0, seed=1)}
  table = style_metrics.style_table(
      {'slow': _windows(0.0, seed=2), 'fast': _windows(1.0, seed=3)},
      references)
  for name, row in table.items():
    other = 'fast' if name == 'slow' else 'slow'
    assert row[name] < row[other] / 3
  assert style_metrics.ignored_commands(table) == []
  assert all(r < 1 / 3 for r in style_metrics.command_ratios(table).values())
  separation = style_metrics.reference_separation(references)
  assert separation['slow']['slow'] == 0.0 < separation['slow']['fast']
  # One unit for every entry: the references are as far from each other.
  assert separation['slow']['fast'] == pytest.approx(
      separation['fast']['slow'])
