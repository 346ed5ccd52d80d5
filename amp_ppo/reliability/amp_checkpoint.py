"""The AMP state in checkpoints: saved beside Brax's policy, restored for a
warm start or from `restore_params`.

The AMP state (discriminator, its optimiser, feature normaliser, replay) is
an orbax checkpoint in `amp_state/` inside Brax's step directory; a step
directory without it is a PPO-only checkpoint.
"""

import os
from typing import Any, Optional

from absl import logging

from amp_ppo.amp import motion_prior
from amp_ppo.reliability import checkpoint

DIRECTORY = checkpoint.AMP_STATE
_MISMATCH_HINT = ('use the AMP settings (features, history length, replay '
                  'size, discriminator layers) it was trained with, or '
                  'warm-start the policy only from a PPO checkpoint')


def save(step_dir: str, state: motion_prior.AmpState) -> None:
  """Saves the AMP state into a Brax checkpoint's step directory."""
  checkpoint.save(os.path.join(step_dir, DIRECTORY),
                  {'amp_state': checkpoint.flatten(state)}, {})


def restore(state: motion_prior.AmpState, checkpoint_path: Optional[str],
            restore_params: Optional[Any]) -> motion_prior.AmpState:
  """AMP state to start from: restore_params, a checkpoint, or fresh."""
  if restore_params is not None and len(restore_params) > 3:
    logging.info('AMP: continuing from the AMP state in restore_params.')
    return checkpoint.restore_like(
        state, checkpoint.flatten(restore_params[3]), replicated=False,
        what='The AMP state in restore_params[3]', hint=_MISMATCH_HINT)
  if restore_params is None and checkpoint_path is not None:
    path = os.path.join(os.fspath(checkpoint_path), DIRECTORY)
    if os.path.isdir(path):
      logging.info('AMP: restoring discriminator state from %s', path)
      return load(state, path)
  if checkpoint_path is not None or restore_params is not None:
    logging.info('AMP: warm start from a PPO-only policy; the '
                 'discriminator starts fresh.')
  return state


def load(fresh: motion_prior.AmpState, directory: str,
         replicated: bool = False) -> motion_prior.AmpState:
  """The AMP state saved at `directory`, checked against this run's `fresh`.

  Placed like `fresh`, which with `replicated` has a leading device axis.
  """
  trees, _ = checkpoint.load(directory)
  return checkpoint.restore_like(
      fresh, trees['amp_state'], replicated=replicated,
      what=f'The AMP state in {directory}', hint=_MISMATCH_HINT)
