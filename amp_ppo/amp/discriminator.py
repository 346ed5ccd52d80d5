"""The AMP discriminator: a ReLU MLP from normalised feature windows to a logit."""

from typing import Sequence

from brax.training.acme import running_statistics
import flax.linen as nn
import jax
import jax.numpy as jnp

OUTPUT_LAYER = 'logit'


def _small_uniform(scale: float):
  """Uniform in [-scale, scale]: a near-zero initial logit everywhere.

  Starting at d ~ 0 puts both classes at the decision boundary, so early style
  rewards carry no arbitrary preference.
  """

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -scale, scale)

  return init


class Discriminator(nn.Module):
  """Maps a flattened window of normalised features [..., D] to logits [...]."""

  hidden_layer_sizes: Sequence[int]
  output_init_scale: float = 1e-3

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for i, size in enumerate(self.hidden_layer_sizes):
      x = nn.relu(nn.Dense(size, name=f'hidden_{i}')(x))
    logit = nn.Dense(1, kernel_init=_small_uniform(self.output_init_scale),
                     name=OUTPUT_LAYER)(x)
    return logit[..., 0]


def normalize_windows(windows: jax.Array,
                      normalizer: running_statistics.RunningStatisticsState,
                      clip: float, enabled: bool) -> jax.Array:
  """Normalises raw windows [..., H, F] per frame; returns them flat [..., H*F].

  Only raw features ever reach the normaliser's statistics; this function
  reads them and never updates them.
  """
  if enabled:
    windows = running_statistics.normalize(windows, normalizer,
                                           max_abs_value=clip)
  return jnp.reshape(windows, windows.shape[:-2] + (-1,))


def output_kernel(params) -> jax.Array:
  return params['params'][OUTPUT_LAYER]['kernel']


def kernels(params):
  return [layer['kernel'] for layer in params['params'].values()]
