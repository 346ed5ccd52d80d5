"""Discriminator losses, rewards, replay and one AMP training step."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from amp_ppo.amp import config as amp_config
from amp_ppo.amp import discriminator
from amp_ppo.amp import losses
from amp_ppo.amp import replay
from tests import helpers

_LOSSES = pytest.mark.parametrize('loss', ['lsgan', 'bce'])


# ------------------------------------------------------- losses and rewards


@_LOSSES
def test_reward_is_zero_for_policy_like_and_grows_toward_reference(loss):
  reward = losses.reward_fn(loss)
  values = reward(jnp.linspace(-6.0, 1.0, 50))
  assert np.all(np.diff(values) >= 0)
  assert np.all(values >= 0)
  # Strictly increasing between the two LSGAN targets.
  assert np.all(np.diff(reward(jnp.linspace(-0.99, 1.0, 50))) > 0)


def test_lsgan_targets_match_reward():
  # Trained toward -1 on policy samples: such samples earn nothing; the
  # reference target earns the maximum, 1.
  assert float(losses.lsgan_reward(losses.LSGAN_POLICY_TARGET)) == 0.0
  assert float(losses.lsgan_reward(losses.LSGAN_REFERENCE_TARGET)) == 1.0
  # d = 0 (undecided) must not pay the 0.75 of a 0/1-target scheme.
  assert float(losses.lsgan_reward(0.0)) == pytest.approx(0.75, abs=5e-8)
  assert float(losses.lsgan_reward(-0.99)) < 0.01


@_LOSSES
def test_loss_minimum_separates_the_classes(loss):
  loss_fn = losses.loss_fn(loss)
  reward = losses.reward_fn(loss)
  # Gradient descent on one logit per class must push reference up and
  # policy down, so the trained reward ranks reference above policy.
  d_ref, d_pol = jnp.zeros(()), jnp.zeros(())
  grad = jax.grad(loss_fn, argnums=(0, 1))
  for _ in range(200):
    g_ref, g_pol = grad(d_ref, d_pol)
    d_ref, d_pol = d_ref - 0.5 * g_ref, d_pol - 0.5 * g_pol
  assert float(reward(d_ref)) > float(reward(d_pol)) + 0.5
  acc_ref, acc_pol = losses.accuracy(d_ref[None], d_pol[None])
  assert (float(acc_ref), float(acc_pol)) == (1.0, 1.0)


def test_bce_reward_is_bounded():
  assert float(losses.bce_reward(100.0)) == pytest.approx(-np.log(1e-4),
                                                          abs=5e-5)
  assert np.isfinite(losses.bce_reward(jnp.inf))


def test_r1_penalty_of_linear_discriminator_is_weight_norm():
  w = jnp.array([3.0, -4.0])
  penalty = losses.r1_gradient_penalty(lambda x: jnp.dot(w, x),
                                       jnp.ones((5, 2)))
  assert float(penalty) == pytest.approx(25.0, abs=5e-6)


# ------------------------------------------------------------------ replay


def test_replay_fills_in_order_then_overwrites_blocks():
  buffer = replay.init(10, (2, 1))
  windows = lambda start, n: jnp.arange(start, start + n, dtype=jnp.float32)[
      :, None, None] * jnp.ones((1, 2, 1))
  buffer = replay.insert(buffer, windows(0, 4), jax.random.PRNGKey(0))
  assert int(buffer.count) == 4
  np.testing.assert_array_equal(buffer.data[:4, 0, 0], [0, 1, 2, 3])
  buffer = replay.insert(buffer, windows(4, 8), jax.random.PRNGKey(1))
  assert int(buffer.count) == 10
  # All 12 inserted values: slots 0..9 filled, two oldest overwritten.
  np.testing.assert_array_equal(
      np.sort(buffer.data[:, 0, 0]), [2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
  full = buffer
  buffer = replay.insert(buffer, windows(100, 3), jax.random.PRNGKey(2))
  assert int(buffer.count) == 10
  changed = np.asarray(buffer.data[:, 0, 0] != full.data[:, 0, 0])
  assert changed.sum() == 3
  assert sorted(np.asarray(buffer.data[changed, 0, 0])) == [100, 101, 102]


def test_replay_samples_only_filled_slots():
  buffer = replay.init(100, (2, 1))
  buffer = replay.insert(buffer, jnp.ones((3, 2, 1)), jax.random.PRNGKey(0))
  sample = replay.sample(buffer, jax.random.PRNGKey(1), 500)
  np.testing.assert_array_equal(sample, 1.0)  # never an empty (zero) slot


# ----------------------------------------------------------- training step


def _small_amp(reference_frames, **settings):
  """An Amp with an 8-unit discriminator trained on minibatches of 8."""
  config = amp_config.AmpConfig(disc_hidden_layer_sizes=(8,),
                                disc_minibatch_size=8, **settings).validate()
  return helpers.make_amp(config, reference_frames)


class _Batch(NamedTuple):
  reference_frames: np.ndarray  # [64, 3], around 100 with spread 10
  windows: jax.Array            # [8, 4, 2, 3] policy windows, around 0
  task_reward: jax.Array        # [8, 4]


@pytest.fixture
def batch():
  rng = np.random.default_rng(0)
  return _Batch(
      reference_frames=100.0 + 10.0 * rng.standard_normal((64, 3)),
      windows=jnp.asarray(rng.standard_normal((8, 4, 2, 3)), jnp.float32),
      task_reward=jnp.asarray(rng.uniform(size=(8, 4)), jnp.float32))


@_LOSSES
def test_reward_comes_from_discriminator_live_during_rollout(batch, loss):
  config = amp_config.AmpConfig(
      loss=loss, task_weight=0.3, style_weight=0.7, style_reward_scale=2.0,
      disc_hidden_layer_sizes=(16,), disc_minibatch_size=8,
      disc_learning_rate=1e-2, replay_size=64).validate()
  amp = helpers.make_amp(config, batch.reference_frames)
  state = amp.init_state()
  data, new_state, _ = amp.training_step(
      state, helpers.amp_rollout(batch.windows, batch.task_reward))
  live_logits = amp.logits(state.disc_params, state.normalizer, batch.windows)
  expected = 0.3 * batch.task_reward + 0.7 * 2.0 * losses.reward_fn(loss)(
      live_logits)
  np.testing.assert_allclose(data.reward, expected, rtol=1e-5, atol=1e-6)
  # The discriminator did update, so a reward from the updated one differs.
  updated_logits = amp.logits(new_state.disc_params, new_state.normalizer,
                              batch.windows)
  assert float(jnp.abs(updated_logits - live_logits).max()) > 1e-4


def test_normaliser_sees_raw_features_only(batch):
  amp = _small_amp(np.full((16, 3), 50.0), replay_size=0)
  state = amp.init_state()
  windows = jnp.full((8, 4, 2, 3), -10.0)
  _, state, _ = amp.training_step(
      state, helpers.amp_rollout(windows, batch.task_reward))
  # 64 policy windows x 2 frames at -10, discriminator batches of 8 x 2
  # reference frames per minibatch (2 minibatches) at 50.
  n_policy, n_reference = 8 * 4 * 2, 2 * 8 * 2
  expected = (-10.0 * n_policy + 50.0 * n_reference) / (n_policy +
                                                        n_reference)
  # Fed normalised data, the mean would sit near 0 instead.
  np.testing.assert_allclose(state.normalizer.mean, expected, rtol=1e-5)


def test_replay_is_filled_and_used(batch):
  amp = _small_amp(batch.reference_frames, replay_size=32)
  state = amp.init_state()
  data = helpers.amp_rollout(batch.windows, batch.task_reward)
  _, state, metrics = amp.training_step(state, data)
  # 2 minibatches x 4 rollout windows each went into the buffer.
  assert int(state.replay.count) == 8
  stored = np.asarray(state.replay.data[:8]).reshape(8, -1)
  rollout = np.asarray(batch.windows).reshape(32, -1)
  for row in stored:
    assert np.any(np.all(rollout == row, axis=1))
  assert float(metrics['amp/replay_fill']) == pytest.approx(8 / 32, abs=5e-8)
  # Replayed samples enter the next update: a buffer of distinctive
  # windows changes the policy-side discriminator output.
  poisoned = state.replace(replay=state.replay.replace(
      data=jnp.full_like(state.replay.data, 1e3)))
  _, _, clean_metrics = amp.training_step(state, data)
  _, _, poisoned_metrics = amp.training_step(poisoned, data)
  assert abs(float(clean_metrics['amp/d_policy']) -
             float(poisoned_metrics['amp/d_policy'])) > 1e-5


def test_gradient_penalty_is_on_normalised_inputs(batch):
  amp = _small_amp(batch.reference_frames, replay_size=0)
  state = amp.init_state()
  _, state, _ = amp.training_step(
      state, helpers.amp_rollout(batch.windows, batch.task_reward))
  reference = amp.reference.sample(jax.random.PRNGKey(3), 8, 2)
  _, metrics = amp._loss(state.disc_params, state.normalizer, reference,
                         jnp.asarray(batch.windows[:2].reshape(8, 2, 3)),
                         jax.random.PRNGKey(0))
  normalized = discriminator.normalize_windows(
      reference, state.normalizer, amp.config.feature_clip, True)
  expected = losses.r1_gradient_penalty(
      lambda x: amp.network.apply(state.disc_params, x), normalized)
  assert float(metrics['amp/grad_penalty']) == pytest.approx(float(expected),
                                                             abs=5e-7)


def test_metrics_cover_discriminator_health(batch):
  amp = _small_amp(batch.reference_frames)
  _, _, metrics = amp.training_step(
      amp.init_state(), helpers.amp_rollout(batch.windows, batch.task_reward))
  for name in ('disc_loss', 'grad_penalty', 'accuracy_reference',
               'accuracy_policy', 'd_reference', 'd_policy',
               'style_reward_mean', 'style_reward_std', 'task_reward_mean',
               'style_share', 'replay_fill'):
    assert f'amp/{name}' in metrics
    assert np.isfinite(metrics[f'amp/{name}'])


# ------------------------------------------------------------------ config


@pytest.mark.parametrize(
    'setting',
    [dict(loss='wgan'), dict(style_weight=-1.0),
     dict(task_weight=float('nan')), dict(task_weight=0.0, style_weight=0.0),
     dict(disc_learning_rate=0.0), dict(disc_hidden_layer_sizes=()),
     dict(disc_hidden_layer_sizes=(0,)), dict(disc_num_minibatches=0),
     dict(disc_minibatch_size=1), dict(replay_size=-5),
     dict(history_length=1), dict(reference_state_init=1.5),
     dict(feature_clip=0.0)],
    ids=lambda setting: ','.join(f'{k}={v}' for k, v in setting.items()))
def test_invalid_settings_are_named(setting):
  name = next(iter(setting))
  with pytest.raises(ValueError, match=name):
    amp_config.AmpConfig(**setting).validate()
