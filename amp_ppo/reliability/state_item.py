"""An extension's state as a checkpoint item: saved beside Brax's policy,
restored for a warm start (a checkpoint or `restore_params`) or a resume.

The component that owns the state (AMP: discriminator, its optimiser,
feature normaliser, replay) declares the item's name, the directory inside
Brax's step directory, and a hint for a checkpoint that does not fit; this
module saves and checks it as one orbax checkpoint. A step directory without
the item is a PPO-only checkpoint.
"""

import dataclasses
import os
from typing import Any, Optional

from absl import logging

from amp_ppo.reliability import checkpoint


@dataclasses.dataclass(frozen=True)
class StateItem:
  """How an extension state is checkpointed.

  Attributes:
    name: directory inside Brax's step directory, and the orbax item name.
    description: what it is, for messages ('the AMP state').
    mismatch_hint: what to do when a saved state does not fit this run.
  """
  name: str
  description: str
  mismatch_hint: str

  def save(self, step_dir: str, state: Any) -> None:
    """Saves the state into a Brax checkpoint's step directory."""
    checkpoint.save(os.path.join(step_dir, self.name),
                    {self.name: checkpoint.flatten(state)}, {})

  def load(self, fresh: Any, directory: str, replicated: bool = False) -> Any:
    """The state saved at `directory`, checked against this run's `fresh`.

    Placed like `fresh`, which with `replicated` has a leading device axis.
    """
    trees, _ = checkpoint.load(directory)
    return checkpoint.restore_like(
        fresh, trees[self.name], replicated=replicated,
        what=f'{self.description.capitalize()} in {directory}', hint=self.mismatch_hint)

  def warm_start(self, state: Any, checkpoint_path: Optional[str],
                 restore_params: Optional[Any]) -> Any:
    """The state to start from: restore_params[3], a checkpoint, or fresh."""
    if restore_params is not None and len(restore_params) > 3:
      logging.info('Continuing from %s in restore_params.', self.description)
      return checkpoint.restore_like(
          state, checkpoint.flatten(restore_params[3]), replicated=False,
          what=f'{self.description.capitalize()} in restore_params[3]',
          hint=self.mismatch_hint)
    if restore_params is None and checkpoint_path is not None:
      path = os.path.join(os.fspath(checkpoint_path), self.name)
      if os.path.isdir(path):
        logging.info('Restoring %s from %s', self.description, path)
        return self.load(state, path)
    if checkpoint_path is not None or restore_params is not None:
      logging.info('Warm start from a PPO-only policy; %s starts fresh.',
                   self.description)
    return state
