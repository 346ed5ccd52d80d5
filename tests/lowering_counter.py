"""One process-wide count of XLA lowerings, for no-recompilation tests."""

import jax


class LoweringCounter:
  """Counts XLA lowerings (each one is a compilation or a cache lookup)."""

  def __init__(self):
    self.count = 0
    jax.monitoring.register_event_duration_secs_listener(self._on_event)

  def _on_event(self, name, *unused_args, **unused_kwargs):
    if 'jaxpr_to_mlir_module' in name:
      self.count += 1


# Tests compare counts before and after, so one listener serves them all.
LOWERINGS = LoweringCounter()
