"""Fitting a reference to the environment, and its feature windows.

A window is history_length consecutive frames of one clip: the discriminator
sees reference motion only as such windows, so every clip must hold one and
match the environment's frame widths.
"""

import operator
from typing import Dict, Optional, Tuple

import numpy as np

from amp_ppo.motion import clips


def validate_for_env(motion: clips.ReferenceMotion, *, nq: Optional[int],
                     nv: Optional[int], feature_size: Optional[int],
                     history_length: int) -> None:
  """Checks the reference fits the environment; call after `resample`.

  State references are checked against nq and nv, feature references against
  feature_size (the other sizes are ignored). Every clip needs at least
  history_length frames.

  Raises:
    ValueError: naming the offending clip's source file.
  """
  history_length = _positive_int('history_length', history_length)
  expected = _expected_widths(motion, nq=nq, nv=nv, feature_size=feature_size)
  for clip in motion.clips:
    for field, width in expected.items():
      if clip.width(field) != width:
        raise ValueError(
            f'reference file {clip.source!r}, field {field!r}: has '
            f'{clip.width(field)} columns but the environment needs {width} '
            '— record the reference with the same model (or feature '
            'function) as the environment.')
    _check_clip_length(clip, history_length)


def window_starts(motion: clips.ReferenceMotion,
                  history_length: int) -> Tuple[np.ndarray, np.ndarray]:
  """Start frames and sampling probabilities of all in-clip windows.

  Frames are indexed as in `clips.concatenated`. A window never crosses a
  clip boundary. Clip c gets total probability weight_c / sum(weights),
  spread uniformly over its windows; clips with weight 0 contribute no
  windows.

  Returns:
    (starts int32 [N], probabilities float64 [N] summing to 1).

  Raises:
    ValueError: history_length < 1, a weighted clip is shorter than
      history_length, or no weighted clip remains.
  """
  history_length = _positive_int('history_length', history_length)
  if motion.num_frames > np.iinfo(np.int32).max:
    raise ValueError(f'the reference has {motion.num_frames} frames, more '
                     'than int32 window starts can index — use fewer frames.')
  total_weight = sum(clip.weight for clip in motion.clips)
  if total_weight <= 0:
    raise ValueError('every reference clip has weight 0, so there is nothing '
                     'to sample — give at least one clip a positive weight.')
  offsets = np.cumsum([0] + [clip.num_frames for clip in motion.clips])
  windows = [_clip_windows(clip, int(offset), history_length, total_weight)
             for clip, offset in zip(motion.clips, offsets)
             if clip.weight > 0]
  starts = np.concatenate([clip_starts for clip_starts, _ in windows])
  probabilities = np.concatenate([clip_probs for _, clip_probs in windows])
  # Renormalise away the rounding of the per-clip divisions.
  return starts.astype(np.int32), probabilities / probabilities.sum()


def _positive_int(name: str, value) -> int:
  try:
    value = operator.index(value)
  except TypeError as error:
    raise ValueError(f'{name} must be an integer, got {value!r}.') from error
  if value < 1:
    raise ValueError(f'{name} must be >= 1, got {value}.')
  return value


def _expected_widths(motion: clips.ReferenceMotion, *, nq: Optional[int],
                     nv: Optional[int],
                     feature_size: Optional[int]) -> Dict[str, int]:
  """Width per frame field that the environment requires."""
  if motion.kind == 'state':
    if nq is None or nv is None:
      raise ValueError(
          f'reference {motion.clips[0].source!r} holds state frames '
          '(qpos/qvel) but the environment gave no nq/nv — use a state '
          'reference only with an environment that exposes qpos and qvel, or '
          'save AMP features instead.')
    return {'qpos': nq, 'qvel': nv}
  if feature_size is None:
    raise ValueError(
        f'reference {motion.clips[0].source!r} holds features but the '
        'environment gave no feature_size — use a feature reference only '
        'with an AMP feature function, or save qpos/qvel instead.')
  return {'features': feature_size}


def _check_clip_length(clip: clips.Clip, history_length: int) -> None:
  if clip.num_frames < history_length:
    raise ValueError(
        f'reference file {clip.source!r}: clip has {clip.num_frames} frames '
        f'at {clip.fps:g} fps, fewer than history_length={history_length} — '
        'use a longer clip or a shorter history.')


def _clip_windows(clip: clips.Clip, offset: int, history_length: int,
                  total_weight: float) -> Tuple[np.ndarray, np.ndarray]:
  """Global starts of a clip's windows and their (uniform) probabilities."""
  _check_clip_length(clip, history_length)
  count = clip.num_frames - history_length + 1
  starts = offset + np.arange(count, dtype=np.int64)
  return starts, np.full(count, clip.weight / total_weight / count)
