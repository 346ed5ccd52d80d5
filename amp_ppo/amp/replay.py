"""A fixed-size replay buffer of past policy feature windows, all on device.

Filled in order until full, then each insertion overwrites a contiguous block
at a random position, so old transitions survive for a random time rather
than a fixed one. Insertions must be identical on every device (callers
all-gather first and pass a replicated key) so the buffer stays replicated.
With several styles each window keeps its style label beside it.
"""

from typing import Optional, Tuple

import flax
import jax
import jax.numpy as jnp


@flax.struct.dataclass
class ReplayBuffer:
  data: jax.Array   # [capacity, H, F]
  count: jax.Array  # int32 scalar: filled slots, <= capacity
  # [capacity] int32 style of each window, with several styles; else None.
  styles: Optional[jax.Array] = None


def init(capacity: int, window_shape, labelled: bool = False) -> ReplayBuffer:
  return ReplayBuffer(
      data=jnp.zeros((capacity,) + tuple(window_shape), jnp.float32),
      count=jnp.zeros((), jnp.int32),
      styles=jnp.zeros((capacity,), jnp.int32) if labelled else None)


def capacity(buffer: ReplayBuffer) -> int:
  return buffer.data.shape[0]


def insert(buffer: ReplayBuffer, windows: jax.Array, key: jax.Array,
           styles: Optional[jax.Array] = None) -> ReplayBuffer:
  """Writes windows [N, H, F] (and their styles [N]); N may exceed the free
  space."""
  size = capacity(buffer)
  n = windows.shape[0]
  if n > size:  # Only the last `size` windows could survive anyway.
    windows, n = windows[-size:], size
    styles = None if styles is None else styles[-size:]
  random_start = jax.random.randint(key, (), 0, size)
  start = jnp.where(buffer.count < size, buffer.count, random_start)
  slots = (start + jnp.arange(n)) % size
  labels = buffer.styles
  if labels is not None:
    labels = labels.at[slots].set(styles)
  return ReplayBuffer(
      data=buffer.data.at[slots].set(windows),
      count=jnp.minimum(buffer.count + n, size).astype(jnp.int32),
      styles=labels)


def sample(buffer: ReplayBuffer, key: jax.Array, n: int) -> jax.Array:
  """Draws n windows uniformly from the filled slots; needs count > 0."""
  idx = jax.random.randint(key, (n,), 0, jnp.maximum(buffer.count, 1))
  return buffer.data[idx]


def sample_style(buffer: ReplayBuffer, key: jax.Array, n: int,
                 style: jax.Array) -> Tuple[jax.Array, jax.Array]:
  """n windows drawn uniformly from the filled slots labelled `style`.

  Returns them and whether the buffer holds any window of that style (when
  it does not, the windows are arbitrary and must not be used).
  """
  filled = jnp.arange(capacity(buffer)) < buffer.count
  mine = (filled & (buffer.styles == style)).astype(jnp.float32)
  count = jnp.sum(mine)
  p = jnp.where(count > 0, mine / jnp.maximum(count, 1.0),
                1.0 / mine.shape[0])
  idx = jax.random.choice(key, mine.shape[0], (n,), p=p)
  return buffer.data[idx], count > 0
