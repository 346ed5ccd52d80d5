"""Discriminator losses and the style rewards that match them.

Each loss trains the discriminator's logit d toward one target on reference
transitions and another on policy transitions; its reward is 0 at the policy
target and grows toward the reference target, so the policy is paid only for
transitions the discriminator cannot tell from the reference.
"""

from typing import Callable, Optional

import jax
import jax.numpy as jnp

# BCE's reward -log(1 - sigmoid(d)) is unbounded; the anchors cap
# 1 - sigmoid(d) at 1e-4, i.e. the reward at -log(1e-4) ~ 9.21.
_BCE_MIN_FAKE_PROBABILITY = 1e-4

# Targets of the least-squares loss; -1/+1 (not 0/1) so that the policy
# target earns exactly zero reward under max(0, 1 - (d - 1)^2 / 4).
LSGAN_REFERENCE_TARGET = 1.0
LSGAN_POLICY_TARGET = -1.0


def lsgan_loss(reference_logits: jax.Array,
               policy_logits: jax.Array) -> jax.Array:
  return 0.5 * (
      jnp.mean(jnp.square(reference_logits - LSGAN_REFERENCE_TARGET)) +
      jnp.mean(jnp.square(policy_logits - LSGAN_POLICY_TARGET)))


def lsgan_reward(logits: jax.Array) -> jax.Array:
  return jnp.maximum(
      0.0, 1.0 - 0.25 * jnp.square(logits - LSGAN_REFERENCE_TARGET))


def bce_loss(reference_logits: jax.Array,
             policy_logits: jax.Array) -> jax.Array:
  # -log sigmoid(d) = softplus(-d); -log(1 - sigmoid(d)) = softplus(d).
  return 0.5 * (jnp.mean(jax.nn.softplus(-reference_logits)) +
                jnp.mean(jax.nn.softplus(policy_logits)))


def bce_reward(logits: jax.Array) -> jax.Array:
  return jnp.minimum(jax.nn.softplus(logits),
                     -jnp.log(_BCE_MIN_FAKE_PROBABILITY))


_LOSSES = {'lsgan': (lsgan_loss, lsgan_reward), 'bce': (bce_loss, bce_reward)}


def loss_fn(loss: str) -> Callable[[jax.Array, jax.Array], jax.Array]:
  return _LOSSES[loss][0]


def reward_fn(loss: str) -> Callable[[jax.Array], jax.Array]:
  return _LOSSES[loss][1]


def r1_gradient_penalty(logit_fn: Callable[..., jax.Array],
                        normalized_reference: jax.Array,
                        conditions: Optional[jax.Array] = None) -> jax.Array:
  """Mean squared norm of dD/dx at normalised reference inputs [N, D].

  The gradient is taken with respect to the discriminator's actual input (the
  normalised features), not the raw features, and stays differentiable so the
  penalty trains the discriminator's parameters. With `conditions` [N, C]
  (a conditioned discriminator's style one-hot), `logit_fn(x, c)` is
  differentiated in x only.
  """
  if conditions is None:
    grads = jax.vmap(jax.grad(logit_fn))(normalized_reference)  # [N, D]
  else:
    grads = jax.vmap(jax.grad(logit_fn))(normalized_reference, conditions)
  return jnp.mean(jnp.sum(jnp.square(grads), axis=-1))


def accuracy(reference_logits: jax.Array, policy_logits: jax.Array):
  """Fractions classified correctly: d > 0 means reference for both losses."""
  return (jnp.mean((reference_logits > 0).astype(jnp.float32)),
          jnp.mean((policy_logits < 0).astype(jnp.float32)))
