"""Brax's evaluator, compiled once instead of twice.

Brax's `acting.Evaluator` donates the eval state its unroll returns to the
next call. The state from `reset` and the state the unroll returns differ
in weak types (the reward is weak after reset and strong after a step; the
truncation and episode-done flags the other way round), so the unroll's
second call compiles it again: 12 to 60 s on a CPU, and again on every
resumed run. Making every leaf strongly typed on both sides keeps one
signature; the values, and so the metrics, are unchanged.
"""

from typing import Any, Type

from brax.training import acting
import jax
from jax import lax


def _strongly_typed(tree: Any) -> Any:
  return jax.tree.map(lambda x: lax.convert_element_type(x, x.dtype), tree)


def compiles_once(
    evaluator_class: Type[acting.Evaluator]) -> Type[acting.Evaluator]:
  """A subclass of `evaluator_class` whose unroll compiles at its first call."""

  class CompilesOnce(evaluator_class):

    def __init__(self, *args, **kwargs):
      super().__init__(*args, **kwargs)
      unroll = self._generate_eval_unroll
      self._generate_eval_unroll = jax.jit(
          lambda state, params, key: _strongly_typed(unroll(state, params,
                                                            key)),
          donate_argnums=(0,), keep_unused=True)
      self._eval_state_to_donate = _strongly_typed(
          self._eval_state_to_donate)

  CompilesOnce.__name__ = CompilesOnce.__qualname__ = (
      f'CompilesOnce{evaluator_class.__name__}')
  return CompilesOnce
