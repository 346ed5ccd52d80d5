"""A fixed-size replay buffer of past policy feature windows, all on device.

Filled in order until full, then each insertion overwrites a contiguous block
at a random position, so old transitions survive for a random time rather
than a fixed one. Insertions must be identical on every device (callers
all-gather first and pass a replicated key) so the buffer stays replicated.
"""

import flax
import jax
import jax.numpy as jnp


@flax.struct.dataclass
class ReplayBuffer:
  data: jax.Array   # [capacity, H, F]
  count: jax.Array  # int32 scalar: filled slots, <= capacity


def init(capacity: int, window_shape) -> ReplayBuffer:
  return ReplayBuffer(
      data=jnp.zeros((capacity,) + tuple(window_shape), jnp.float32),
      count=jnp.zeros((), jnp.int32))


def capacity(buffer: ReplayBuffer) -> int:
  return buffer.data.shape[0]


def insert(buffer: ReplayBuffer, windows: jax.Array,
           key: jax.Array) -> ReplayBuffer:
  """Writes windows [N, H, F]; N may exceed the free space."""
  size = capacity(buffer)
  n = windows.shape[0]
  if n > size:  # Only the last `size` windows could survive anyway.
    windows, n = windows[-size:], size
  random_start = jax.random.randint(key, (), 0, size)
  start = jnp.where(buffer.count < size, buffer.count, random_start)
  slots = (start + jnp.arange(n)) % size
  return ReplayBuffer(
      data=buffer.data.at[slots].set(windows),
      count=jnp.minimum(buffer.count + n, size).astype(jnp.int32))


def sample(buffer: ReplayBuffer, key: jax.Array, n: int) -> jax.Array:
  """Draws n windows uniformly from the filled slots; needs count > 0."""
  idx = jax.random.randint(key, (n,), 0, jnp.maximum(buffer.count, 1))
  return buffer.data[idx]
