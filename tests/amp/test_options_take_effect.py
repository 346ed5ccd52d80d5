"""Each discriminator option changes what it says it changes.

An option that the code reads nowhere would pass every other test; each test
here fails if its option is ignored. They call the discriminator loss and
the normalisation directly, with a 4-unit network on a handful of windows.
"""

from brax.training.acme import running_statistics
from brax.training.acme import specs
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from amp_ppo.amp import config as amp_config
from amp_ppo.amp import discriminator
from amp_ppo.amp import motion_prior
from tests import helpers

_H, _F = 2, 3  # window: frames, features per frame


def _amp(**settings) -> motion_prior.Amp:
  config = amp_config.AmpConfig(disc_hidden_layer_sizes=(4,),
                                disc_minibatch_size=4, replay_size=0,
                                **settings).validate()
  return helpers.make_amp(config, np.zeros((8, _F)))


def _params(amp: motion_prior.Amp):
  """The network's parameters with O(1) entries, so each L2 term is O(1).

  At init the output kernel is within 1e-3 of 0, where its term would be
  lost in float32 rounding of the rest of the loss.
  """
  init = amp.init_state().disc_params
  leaves, tree = jax.tree_util.tree_flatten(init)
  rng = np.random.default_rng(0)
  return jax.tree_util.tree_unflatten(tree, [
      jnp.asarray(rng.normal(size=leaf.shape), jnp.float32)
      for leaf in leaves])


def _normalizer(mean: float = 0.0, spread: float = 1.0):
  """Running statistics of 64 frames around `mean` with std about `spread`."""
  state = running_statistics.init_state(
      specs.Array((_F,), jnp.dtype('float32')))
  if (mean, spread) == (0.0, 1.0):
    return state  # exactly mean 0, std 1
  rng = np.random.default_rng(1)
  frames = mean + spread * rng.standard_normal((64, _F))
  return running_statistics.update(state, jnp.asarray(frames, jnp.float32))


def _windows(seed: int, scale: float = 1.0, offset: float = 0.0):
  rng = np.random.default_rng(seed)
  return jnp.asarray(offset + scale * rng.standard_normal((4, _H, _F)),
                     jnp.float32)


def _loss_and_grads(amp, params, normalizer, reference, policy):
  """The loss the discriminator's update differentiates, and its gradient."""
  loss = amp._loss  # pylint: disable=protected-access
  (total, metrics), grads = jax.value_and_grad(loss, has_aux=True)(
      params, normalizer, reference, policy, jax.random.PRNGKey(0))
  assert float(metrics[motion_prior.DISC_TOTAL_LOSS]) == float(total)
  return float(total), metrics, grads


def _flat(windows):
  return jnp.reshape(windows, windows.shape[:-2] + (-1,))


# ------------------------------------------------ L2 terms of the loss


@pytest.mark.parametrize('option,layers', [
    ('logit_reg_weight', (discriminator.OUTPUT_LAYER,)),
    ('weight_decay', ('hidden_0', discriminator.OUTPUT_LAYER)),
])
def test_l2_weight_adds_its_term_to_the_loss_and_gradient(option, layers):
  off = _amp(logit_reg_weight=0.0, weight_decay=0.0)
  on = _amp(**dict(dict(logit_reg_weight=0.0, weight_decay=0.0),
                   **{option: 0.3}))
  params = _params(off)
  arguments = (params, _normalizer(), _windows(2), _windows(3))
  total_off, _, grads_off = _loss_and_grads(off, *arguments)
  total_on, _, grads_on = _loss_and_grads(on, *arguments)

  kernels = [params['params'][layer]['kernel'] for layer in layers]
  squares = sum(float(jnp.sum(jnp.square(kernel))) for kernel in kernels)
  assert squares > 1.0  # the term is not lost in rounding
  assert total_on - total_off == pytest.approx(0.3 * squares, rel=1e-4)
  # It reaches the update: d/dK of 0.3 * |K|^2 on those kernels, and no
  # other parameter's gradient moves.
  for layer, parameters in params['params'].items():
    for name, value in parameters.items():
      difference = (grads_on['params'][layer][name]
                    - grads_off['params'][layer][name])
      expected = (2 * 0.3 * value if name == 'kernel' and layer in layers
                  else jnp.zeros_like(value))
      np.testing.assert_allclose(difference, expected, rtol=1e-4, atol=1e-5,
                                 err_msg=f'{layer}/{name}')


# ------------------------------------------------------ normalisation


def test_normalize_windows_standardises_only_when_enabled():
  normalizer = _normalizer(mean=100.0, spread=10.0)
  windows = _windows(4, scale=10.0, offset=100.0)
  raw = discriminator.normalize_windows(windows, normalizer, 5.0, False)
  np.testing.assert_array_equal(raw, _flat(windows))
  standard = discriminator.normalize_windows(windows, normalizer, 5.0, True)
  expected = (windows - normalizer.mean) / normalizer.std
  assert float(jnp.abs(expected).max()) < 5.0  # no clipping involved
  np.testing.assert_allclose(standard, _flat(expected), rtol=1e-5,
                             atol=1e-5)


@pytest.mark.parametrize('normalize', [False, True])
def test_normalize_features_decides_what_the_network_sees(normalize):
  amp = _amp(normalize_features=normalize)
  params = _params(amp)
  normalizer = _normalizer(mean=100.0, spread=10.0)
  reference = _windows(5, scale=10.0, offset=100.0)
  policy = _windows(6, scale=10.0, offset=100.0)
  inputs = ((lambda w: w) if not normalize else
            (lambda w: (w - normalizer.mean) / normalizer.std))

  def network(windows):
    return amp.network.apply(params, _flat(inputs(windows)))

  # Where the style reward comes from ...
  np.testing.assert_allclose(amp.logits(params, normalizer, reference),
                             network(reference), rtol=1e-5, atol=1e-5)
  # ... and what the discriminator is trained on.
  _, metrics, _ = _loss_and_grads(amp, params, normalizer, reference, policy)
  assert float(metrics[motion_prior.D_REFERENCE]) == pytest.approx(
      float(jnp.mean(network(reference))), rel=1e-5, abs=1e-5)
  assert float(metrics[motion_prior.D_POLICY]) == pytest.approx(
      float(jnp.mean(network(policy))), rel=1e-5, abs=1e-5)


# ------------------------------------------------------------- clipping


def test_normalize_windows_clips_at_feature_clip():
  windows = jnp.asarray([[[-100.0, 0.5, 3.0], [100.0, -1.5, -2.5]]])
  clipped = discriminator.normalize_windows(windows, _normalizer(), 2.0, True)
  np.testing.assert_array_equal(clipped,
                                [[-2.0, 0.5, 2.0, 2.0, -1.5, -2.0]])


def test_feature_clip_bounds_what_the_network_sees():
  amp = _amp(feature_clip=2.0)
  params = _params(amp)
  normalizer = _normalizer()  # mean 0, std 1: normalised == raw
  far = _windows(7, scale=100.0)
  far = far + 3.0 * jnp.sign(far)  # every value beyond the clip
  at_clip = jnp.clip(far, -2.0, 2.0)
  np.testing.assert_allclose(amp.logits(params, normalizer, far),
                             amp.network.apply(params, _flat(at_clip)),
                             rtol=1e-5, atol=1e-5)
  _, far_metrics, _ = _loss_and_grads(amp, params, normalizer, far, far)
  _, clip_metrics, _ = _loss_and_grads(amp, params, normalizer, at_clip,
                                       at_clip)
  for name in (motion_prior.D_REFERENCE, motion_prior.D_POLICY):
    assert float(far_metrics[name]) == pytest.approx(
        float(clip_metrics[name]), rel=1e-5, abs=1e-5)
  # Unclipped inputs 50 times larger would give other logits.
  assert not np.allclose(amp.network.apply(params, _flat(far)),
                         amp.network.apply(params, _flat(at_clip)))
