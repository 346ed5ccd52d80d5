"""What one AMP training step does with padded windows, action_repeat and
the gradient penalty's weight."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from amp_ppo.amp import config as amp_config
from amp_ppo.amp import feature_windows
from tests import helpers

_B, _T, _H, _F = 8, 4, 3, 2
_PADDING_VALUE = 1000.0  # far from everything else: easy to spot


def _batch():
  """Windows around 0, reference around 5, the first step of each row padded.

  Returns (reference frames [64, F], policy windows [B, T, H, F], validity
  [B, T], task reward [B, T]).
  """
  rng = np.random.default_rng(0)
  reference = 5.0 + rng.standard_normal((64, _F))
  windows = rng.standard_normal((_B, _T, _H, _F))
  valid = np.ones((_B, _T), bool)
  valid[:, 0] = False
  windows[:, 0] = _PADDING_VALUE
  task = rng.uniform(size=(_B, _T))
  return (reference, jnp.asarray(windows, jnp.float32), jnp.asarray(valid),
          jnp.asarray(task, jnp.float32))


def _config(**overrides):
  settings = dict(history_length=_H, disc_hidden_layer_sizes=(8,),
                  disc_minibatch_size=8, replay_size=64)
  settings.update(overrides)
  return amp_config.AmpConfig(**settings).validate()


def _step(amp, windows, valid, task):
  extras = {}
  if valid is not None:
    extras[feature_windows.WINDOW_VALID_KEY] = valid
  data = helpers.amp_rollout(windows, task, **extras)
  return amp.training_step(amp.init_state(), data)


def test_padded_windows_train_nothing_and_earn_the_mean_style():
  reference, windows, valid, task = _batch()
  amp = helpers.make_amp(_config(task_weight=0.0, style_weight=1.0),
                         reference)
  data, state, metrics = _step(amp, windows, valid, task)
  # The normaliser saw only real frames: reference around 5, policy around 0.
  assert float(jnp.max(state.normalizer.mean)) < 10.0
  # The replay holds only real policy windows.
  filled = np.asarray(state.replay.data[:int(state.replay.count)])
  assert filled.size and np.all(np.abs(filled) < 100.0)
  # Padded steps earn the mean style reward of the real ones.
  style = np.asarray(data.reward)
  np.testing.assert_allclose(style[:, 0], style[:, 1:].mean(), rtol=1e-5)
  assert float(metrics['amp/valid_window_fraction']) == pytest.approx(0.75)


def test_without_the_mask_padding_would_leak_in():
  # The premise of the test above: the same batch unmasked does reach the
  # normaliser and the replay.
  reference, windows, _, task = _batch()
  amp = helpers.make_amp(_config(history_length=_H), reference)
  amp.masks_padding = False
  _, state, _ = _step(amp, windows, None, task)
  assert float(jnp.max(state.normalizer.mean)) > 10.0


@pytest.mark.parametrize('action_repeat', [2, 3])
def test_style_reward_counts_every_repeated_substep(action_repeat):
  reference, windows, valid, task = _batch()
  config = _config(task_weight=0.3, style_weight=0.7)
  once = helpers.make_amp(config, reference)
  repeated = helpers.make_amp(config, reference, action_repeat=action_repeat)
  data_once, _, _ = _step(once, windows, valid, task)
  data_repeated, _, _ = _step(repeated, windows, valid, task)
  style_once = data_once.reward - 0.3 * task
  style_repeated = data_repeated.reward - 0.3 * task
  np.testing.assert_allclose(style_repeated, action_repeat * style_once,
                             rtol=1e-5, atol=1e-6)


def test_gradient_penalty_weight_is_relative_to_the_mean_of_both_losses():
  # config.py: w here weighs the R1 term against the mean of the reference
  # and policy losses, so w=10 is IsaacGymEnvs' 5 and the paper's 20.
  reference, windows, _, _ = _batch()
  config = _config(history_length=2, gradient_penalty_weight=10.0,
                   logit_reg_weight=0.0, weight_decay=0.0)
  amp = helpers.make_amp(config, reference)
  state = amp.init_state()
  ref = amp.reference.sample(jax.random.PRNGKey(1), 16, 2)
  pol = jnp.reshape(windows[:, 1:, 1:], (-1, 2, _F))[:16]
  total, metrics = amp._loss(state.disc_params, state.normalizer, ref,  # pylint: disable=protected-access
                             pol, jax.random.PRNGKey(0))
  d_ref = amp.logits(state.disc_params, state.normalizer, ref)
  d_pol = amp.logits(state.disc_params, state.normalizer, pol)
  reference_loss = jnp.mean(jnp.square(d_ref - 1.0))
  policy_loss = jnp.mean(jnp.square(d_pol + 1.0))
  penalty = metrics['amp/grad_penalty']
  isaacgym_form = 0.5 * (reference_loss + policy_loss) + 5.0 * penalty
  paper_form_with_20 = (reference_loss + policy_loss) + 0.5 * 20.0 * penalty
  np.testing.assert_allclose(total, isaacgym_form, rtol=1e-5)
  np.testing.assert_allclose(2 * total, paper_form_with_20, rtol=1e-5)
  assert float(penalty) > 0


def test_input_noise_acts_on_discriminator_updates_only():
  reference, windows, _, _ = _batch()
  ref_key = jax.random.PRNGKey(1)
  results = {}
  for noise in (0.0, 0.5):
    amp = helpers.make_amp(_config(history_length=2, disc_input_noise=noise),
                           reference)
    state = amp.init_state()
    ref = amp.reference.sample(ref_key, 16, 2)
    pol = jnp.reshape(windows[:, 1:, 1:], (-1, 2, _F))[:16]
    loss = [amp._loss(state.disc_params, state.normalizer, ref, pol,  # pylint: disable=protected-access
                      jax.random.PRNGKey(k))[0] for k in (0, 1)]
    reward = amp.style_reward(state.disc_params, state.normalizer,
                              jnp.asarray(windows[:, 1:, 1:]))
    results[noise] = loss, reward
  (clean, clean_reward), (noisy, noisy_reward) = results[0.0], results[0.5]
  assert float(clean[0]) == float(clean[1])  # no noise: the key is unused
  assert float(noisy[0]) != float(noisy[1])
  assert abs(float(noisy[0]) - float(clean[0])) > 1e-6
  np.testing.assert_array_equal(noisy_reward, clean_reward)


def test_negative_input_noise_is_refused():
  with pytest.raises(ValueError, match='disc_input_noise'):
    _config(disc_input_noise=-0.1)
