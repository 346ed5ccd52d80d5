"""Stops training at the first NaN or inf, without a host round trip per step.

Inside the jitted training step, the checked quantities (those an extension
component declares, such as AMP's rewards and discriminator losses, then the
reward PPO trains on, the PPO losses and PPO's gradient norm; every other
training metric as one more) are each reduced to one flag: did this quantity hold a
non-finite value during this training step? The epoch turns the flag series
into two numbers, the first bad training step (the earliest over devices, or
-1) and a bitmask of the quantities bad at that step, and returns them with
the epoch's metrics, which Brax already fetches to the host once per epoch.
The host then raises `NonFiniteError` before the epoch's checkpoint is
written, so the last checkpoint on disk is the last good one.

A metric that is a mean is non-finite exactly when one of the values it
averages is (or when finite values overflow float32, which is itself a
failure), so the per-step flags need no second pass over the raw data.
"""

from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

# Metric-name prefix of the per-quantity flags; they are removed from the
# metrics before progress_fn sees them.
FLAG_PREFIX = 'nonfinite/'
# The epoch reports two numbers: the first bad training step (-1 if none)
# and a bitmask of the quantities bad at that step (bit i: the i-th checked
# quantity).
FIRST_BAD_STEP = FLAG_PREFIX + 'first_step'
BAD_QUANTITIES = FLAG_PREFIX + 'quantities'
# Name of the flag for the reward PPO trains on (task and style mixed).
REWARD = 'reward'
# Name of the metric holding the global norm of PPO's gradient.
PPO_GRAD_NORM = 'grad_norm'
# Any other training metric.
OTHER = '(other)'

# PPO's own checked quantities, name -> description, in the order a NaN
# usually reaches them: the quantity reported is the earliest in the checked
# order among those that went bad at the first bad training step.
# Components' quantities (`quantities`) come first; every other metric is
# checked as OTHER.
PPO_QUANTITIES = {
    REWARD: 'the reward PPO trains on',
    'total_loss': 'the PPO loss',
    'policy_loss': 'the PPO policy loss',
    'v_loss': 'the PPO value loss',
    'entropy_loss': 'the PPO entropy loss',
    PPO_GRAD_NORM: "PPO's gradient",
    OTHER: 'a training metric',
}
# So that the bitmask is exact in float32.
_MAX_QUANTITIES = 24


def quantities(*component_quantities: Mapping[str, str]) -> Dict[str, str]:
  """The checked quantities in order: the components' first, then PPO's."""
  checked = {}
  for declared in component_quantities + (PPO_QUANTITIES,):
    checked.update(declared)
  if len(checked) > _MAX_QUANTITIES:
    raise ValueError(f'{len(checked)} checked quantities; at most '
                     f'{_MAX_QUANTITIES} fit the float32 bitmask.')
  return checked


class NonFiniteError(FloatingPointError):
  """A training quantity became NaN or inf; training stopped.

  Attributes:
    quantity: metric name of the first bad quantity, e.g.
      'total_loss' or a component's quantity (without 'training/').
    quantities: every quantity that was non-finite at that training step.
    env_steps: (first, end) environment steps of the bad training step.
    last_checkpoint: the last complete checkpoint directory, or None.
  """

  def __init__(self, message: str, quantity: str, quantities: Sequence[str],
               env_steps: Tuple[int, int], last_checkpoint: Optional[str]):
    super().__init__(message)
    self.quantity = quantity
    self.quantities = tuple(quantities)
    self.env_steps = env_steps
    self.last_checkpoint = last_checkpoint


def _display(name: str) -> str:
  return 'other training metrics' if name == OTHER else f'training/{name}'


def with_grad_norm(metrics: Dict[str, jax.Array],
                   grads: Any) -> Dict[str, jax.Array]:
  """Adds the global norm of PPO's gradient to a minibatch's metrics."""
  return {**metrics, PPO_GRAD_NORM: optax.global_norm(grads)}


def _is_bad(value: jax.Array) -> jax.Array:
  return jnp.any(~jnp.isfinite(value))


def step_flags(metrics: Mapping[str, jax.Array], reward: jax.Array,
               checked: Mapping[str, str] = PPO_QUANTITIES
               ) -> Dict[str, jax.Array]:
  """Metrics of one training step plus a 0/1 non-finite flag per quantity."""
  bad = {REWARD: _is_bad(reward)}
  others = []
  for name, value in metrics.items():
    if not jnp.issubdtype(jnp.result_type(value), jnp.inexact):
      continue
    if name in checked:
      bad[name] = _is_bad(value)
    else:
      others.append(_is_bad(value))
  if others:
    bad[OTHER] = jnp.any(jnp.stack(others))
  flags = {FLAG_PREFIX + name: flag.astype(jnp.float32)
           for name, flag in bad.items()}
  return {**metrics, **flags}


def first_bad_steps(metrics: Dict[str, jax.Array], axis_name: Optional[str],
                    checked: Mapping[str, str] = PPO_QUANTITIES
                    ) -> Dict[str, jax.Array]:
  """Replaces the flag series [T] by FIRST_BAD_STEP and BAD_QUANTITIES.

  Runs inside the pmapped epoch. The first bad step is the earliest over
  devices and the bitmask the union over devices at that step, so every
  device holds the same two numbers, and the device mean Brax takes of every
  metric keeps them. Two numbers rather than one per quantity: each metric
  costs Brax an eager cross-device mean per epoch.

  Args:
    metrics: the epoch's stacked training-step metrics.
    axis_name: the pmap axis, or None outside pmap.
    checked: the checked quantities in order (`quantities`).

  Returns:
    `metrics` with the flags replaced by the two numbers.
  """
  reduced = {k: v for k, v in metrics.items()
             if not k.startswith(FLAG_PREFIX)}
  order = list(checked)
  names = [n for n in order if FLAG_PREFIX + n in metrics]
  flags = jnp.stack([metrics[FLAG_PREFIX + n] > 0 for n in names])  # [Q, T]
  num_steps = flags.shape[1]
  any_bad = jnp.any(flags, axis=0)
  first = jnp.where(jnp.any(any_bad), jnp.argmax(any_bad), num_steps)
  if axis_name is not None:
    first = jax.lax.pmin(first, axis_name)
  bits = jnp.take(flags, jnp.minimum(first, num_steps - 1), axis=1)
  bits = (bits & (first < num_steps)).astype(jnp.int32)
  if axis_name is not None:
    bits = jax.lax.pmax(bits, axis_name)
  weights = jnp.array([2**order.index(n) for n in names], jnp.int32)
  reduced[FIRST_BAD_STEP] = jnp.where(first == num_steps, -1, first).astype(
      jnp.float32)
  reduced[BAD_QUANTITIES] = jnp.sum(bits * weights).astype(jnp.float32)
  return reduced


def check_epoch(metrics: Dict[str, Any], end_step: int, steps_per_epoch: int,
                env_steps_per_step: int, last_checkpoint: Optional[str],
                checked: Mapping[str, str] = PPO_QUANTITIES
                ) -> Dict[str, Any]:
  """Raises NonFiniteError if the epoch saw a NaN or inf; drops the flags.

  Args:
    metrics: the epoch's metrics as Brax reports them ('training/...').
    end_step: environment steps after the epoch.
    steps_per_epoch: training steps in the epoch.
    env_steps_per_step: environment steps per training step.
    last_checkpoint: directory of the last complete checkpoint, for the
      message.
    checked: the checked quantities in order (`quantities`).

  Returns:
    `metrics` without the flags.
  """
  prefix = 'training/' + FLAG_PREFIX
  clean = {k: v for k, v in metrics.items() if not k.startswith(prefix)}
  if 'training/' + FIRST_BAD_STEP not in metrics:
    return clean
  # One transfer; both were computed with the metrics that Brax has already
  # waited for.
  first, mask = jax.device_get((metrics['training/' + FIRST_BAD_STEP],
                                metrics['training/' + BAD_QUANTITIES]))
  first, mask = int(np.asarray(first)), int(np.asarray(mask))
  if first < 0:
    return clean
  at_first = [n for i, n in enumerate(checked) if mask >> i & 1]
  quantity = at_first[0]
  start = end_step - steps_per_epoch * env_steps_per_step
  env_steps = (start + first * env_steps_per_step,
               start + (first + 1) * env_steps_per_step)
  where = (f'the last complete checkpoint, {last_checkpoint}, is unchanged'
           if last_checkpoint else 'no checkpoint had been written yet')
  others = ''
  if len(at_first) > 1:
    others = (' Also non-finite in that training step: ' +
              ', '.join(_display(n) for n in at_first[1:]) + '.')
  message = (
      f'amp_ppo: {checked[quantity]} ({_display(quantity)}) became NaN '
      'or inf in the '
      f'training step covering environment steps {env_steps[0]}..'
      f'{env_steps[1] - 1}.{others} Training stopped before writing this '
      f'epoch\'s checkpoint; {where}. Common causes: an environment that '
      'returns NaN observations or rewards (check the simulation for '
      'blow-ups), a learning rate that is too high, or, with AMP, a '
      'discriminator without enough gradient penalty '
      '(amp_gradient_penalty_weight).')
  raise NonFiniteError(message, quantity, at_first, env_steps,
                       last_checkpoint)
