"""Replacements for JAX APIs that Brax 0.14.2 uses but JAX 0.10 removed."""

from typing import Any, Sequence

import jax
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec
import jax.numpy as jnp
import numpy as np


def device_put_replicated(tree: Any, devices: Sequence[jax.Device],
                          axis_name: str = 'i') -> Any:
  """Stacks one copy of every leaf per device, sharded along the new axis.

  Same values and layout as the removed `jax.device_put_replicated`: leaf
  shape [len(devices), ...], shard k on devices[k], ready for `jax.pmap`.
  The mesh axis must carry the name of the pmap axis that will consume the
  tree ('i' in Brax): a pmapped function's outputs are sharded over a mesh
  with that name, and inputs sharded over a differently named mesh make the
  second call recompile the whole function.
  """
  sharding = NamedSharding(Mesh(np.array(devices), (axis_name,)),
                           PartitionSpec(axis_name))

  def replicate(leaf):
    leaf = jnp.asarray(leaf)
    stacked = jnp.broadcast_to(leaf, (len(devices),) + leaf.shape)
    return jax.device_put(stacked, sharding)

  return jax.tree_util.tree_map(replicate, tree)
