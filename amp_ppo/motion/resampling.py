"""Resampling reference clips to the environment's control rate.

Frames are interpolated linearly, and quaternions by normalised lerp in one
hemisphere, at the control steps that fall inside each clip.
"""

import dataclasses
import math
import operator
from typing import Sequence, Tuple

import numpy as np

from amp_ppo.motion import clips

_SAME_FPS_RTOL = 1e-6
# Slack, in output steps, so a sample time that lands on the clip's last
# frame up to rounding still counts.
_STEP_TOLERANCE = 1e-6
# Sample positions this close (in source frames) to a frame snap onto it, so
# frames that line up with the new rate are copied exactly.
_SNAP_TOLERANCE = 1e-6
# A quaternion block shorter than this is not a rotation (likely a wrong
# quaternion_starts index).
_MIN_QUATERNION_NORM = 1e-6


def resample(motion: clips.ReferenceMotion,
             control_dt: float,
             quaternion_starts: Sequence[int] = ()) -> clips.ReferenceMotion:
  """Resamples every clip to 1 / control_dt frames per second.

  Samples are taken at times k * control_dt for k = 0, 1, ... while inside
  the clip's duration (T - 1) / fps, so the first frame is kept and the last
  one is kept when the duration is a multiple of control_dt. Values are
  interpolated linearly, except the 4-wide quaternion blocks of qpos starting
  at `quaternion_starts`, which use normalised lerp after flipping the later
  quaternion into the earlier one's hemisphere (q and -q are one rotation);
  output quaternions are always unit norm. A clip already at the target rate
  (relative tolerance 1e-6) is returned as is, bitwise and with its own fps.
  A looping clip keeps its `loop` only when its last frame is kept: a loop's
  last frame is the instant its next cycle starts from.

  Raises:
    ValueError: control_dt is not a finite number > 0, quaternion_starts do
      not fit qpos, a quaternion block has (near) zero norm, or the result
      would exceed clips.MAX_ARRAY_BYTES.
  """
  target_fps = _target_fps(control_dt)
  starts = _quaternion_starts(motion, quaternion_starts)
  return clips.ReferenceMotion(tuple(
      _resample_clip(clip, target_fps, starts) for clip in motion.clips))


def _target_fps(control_dt: float) -> float:
  try:
    control_dt = float(control_dt)
  except (TypeError, ValueError) as error:
    raise ValueError(f'control_dt must be a number, got {control_dt!r}.'
                    ) from error
  if not (math.isfinite(control_dt) and control_dt > 0):
    raise ValueError(f'control_dt must be finite and > 0, got {control_dt}.')
  return 1.0 / control_dt


def _quaternion_starts(motion: clips.ReferenceMotion,
                       quaternion_starts: Sequence[int]) -> Tuple[int, ...]:
  """Sorted, checked quaternion block starts (each block qpos[:, s:s+4])."""
  starts = tuple(sorted(operator.index(s) for s in quaternion_starts))
  if not starts:
    return starts
  if motion.kind != 'state':
    raise ValueError('quaternion_starts only apply to state references '
                     '(qpos); this reference holds features — pass ().')
  first = motion.clips[0]
  nq = first.width('qpos')
  for previous, start in zip((None,) + starts, starts):
    if start < 0 or start + 4 > nq:
      # Usually a reference recorded with another model than the env's.
      raise ValueError(
          f"reference file {first.source!r}, field 'qpos': quaternion block "
          f'qpos[:, {start}:{start + 4}] (quaternion_starts) does not fit in '
          f'its {nq} columns — record the reference with the environment\'s '
          'model.')
    if previous is not None and start < previous + 4:
      raise ValueError(f'quaternion_starts: blocks starting at {previous} and '
                       f'{start} overlap; each quaternion is 4 columns wide.')
  return starts


def _resample_clip(clip: clips.Clip, target_fps: float,
                   quaternion_starts: Tuple[int, ...]) -> clips.Clip:
  if math.isclose(clip.fps, target_fps, rel_tol=_SAME_FPS_RTOL, abs_tol=0):
    return clip
  _check_quaternion_norms(clip, quaternion_starts)
  positions = _sample_positions(clip, target_fps)
  # The frames either side of each position and the fraction between them.
  lower = np.floor(positions).astype(np.int64)
  upper = np.minimum(lower + 1, clip.num_frames - 1)
  fraction = positions - lower
  resampled = {}
  for field in clips.FRAME_FIELDS:
    frames = getattr(clip, field)
    if frames is None:
      continue
    starts = quaternion_starts if field == 'qpos' else ()
    resampled[field] = _interpolate(frames, lower, upper, fraction, starts)
  keeps_seam = positions[-1] == clip.num_frames - 1
  return dataclasses.replace(clip, fps=target_fps,
                             loop=clip.loop if keeps_seam else None,
                             **resampled)


def _check_quaternion_norms(clip: clips.Clip, starts: Tuple[int, ...]) -> None:
  for start in starts:
    norms = np.linalg.norm(clip.qpos[:, start:start + 4], axis=1)
    bad = np.flatnonzero(~(norms >= _MIN_QUATERNION_NORM))
    if bad.size:
      raise ValueError(
          f"reference file {clip.source!r}, field 'qpos': quaternion block "
          f'qpos[:, {start}:{start + 4}] has norm {norms[bad[0]]} at frame '
          f'{bad[0]}, which is not a rotation — check quaternion_starts and '
          "that the reference was recorded with the environment's model.")


def _sample_positions(clip: clips.Clip, target_fps: float) -> np.ndarray:
  """Sample times k / target_fps, in (fractional) source frames."""
  step = clip.fps / target_fps  # source frames per output frame
  last = clip.num_frames - 1
  steps = last / step + _STEP_TOLERANCE  # may be inf for absurd rates
  widest = max(clip.width(f) for f in clips.FRAME_FIELDS
               if getattr(clip, f) is not None)
  if (steps + 1) * widest * 4 > clips.MAX_ARRAY_BYTES:
    raise ValueError(
        f'reference file {clip.source!r}: resampling {clip.num_frames} frames '
        f'from {clip.fps} to {target_fps} fps gives about {steps + 1:.3g} '
        f'frames, above MAX_ARRAY_BYTES ({clips.max_array_bytes_text()}) — '
        'check fps and control_dt.')
  count = math.floor(steps) + 1
  positions = np.arange(count, dtype=np.float64) * step
  nearest = np.rint(positions)
  positions = np.where(np.abs(positions - nearest) <= _SNAP_TOLERANCE,
                       nearest, positions)
  return np.minimum(positions, last)


def _interpolate(frames: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                 fraction: np.ndarray,
                 quaternion_starts: Tuple[int, ...]) -> np.ndarray:
  start_frames = frames[lower].astype(np.float64)
  end_frames = frames[upper].astype(np.float64)
  weight = fraction[:, None]
  for start in quaternion_starts:
    block = slice(start, start + 4)
    end_frames[:, block] = _same_hemisphere(start_frames[:, block],
                                            end_frames[:, block])
  result = start_frames + (end_frames - start_frames) * weight
  for start in quaternion_starts:
    block = slice(start, start + 4)
    result[:, block] /= np.linalg.norm(result[:, block], axis=1,
                                       keepdims=True)
  return result.astype(np.float32)


def _same_hemisphere(reference: np.ndarray,
                     quaternions: np.ndarray) -> np.ndarray:
  """Flips quaternions onto the reference's side: q and -q are one rotation."""
  dots = np.sum(reference * quaternions, axis=1, keepdims=True)
  return np.where(dots < 0, -quaternions, quaternions)
