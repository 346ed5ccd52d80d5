"""qvel from qpos by finite differences, as MuJoCo and Brax read qvel.

`mj_differentiatePos` gives the velocity that `mj_integratePos` would turn
one frame into the next with: hinge rates, the free joint's linear velocity
in the world frame and its angular velocity in the body frame (MuJoCo's and
MJX's qvel convention; Brax's generalized coordinates are the same). Each
frame's velocity is the mean of the steps before and after it: for the free
joint's rotation both are rotations about one axis expressed alike in either
frame's coordinates, so their mean is the body-frame rate at the frame.

A looping clip continues after its last frame with its second frame moved by
the cycle's root displacement (formats.Loop), so its end frames get central
differences too; other clips use one-sided ones there.
"""

from typing import Optional

import mujoco
import numpy as np

from amp_ppo.motion import quaternions
from amp_ppo.mocap.formats import source_motion


def qvel_from_qpos(model: mujoco.MjModel, qpos: np.ndarray, fps: float,
                   loop: Optional[source_motion.Loop] = None) -> np.ndarray:
  """Velocities [T, nv] of the frames qpos [T, nq] sampled at fps.

  The first joint must be free (a root) when `loop` moves the root.

  Raises:
    ValueError: a loop of fewer than 3 frames (its first and last frames
      are one instant, so it has no motion).
  """
  qpos = np.asarray(qpos, np.float64)
  frames = len(qpos)
  if frames == 1:
    return np.zeros((1, model.nv))
  steps = _steps(model, qpos) * fps  # [T - 1, nv], step t: frame t -> t+1
  if loop is None:
    before = np.concatenate([steps[:1], steps])
    after = np.concatenate([steps, steps[-1:]])
    return 0.5 * (before + after)
  if frames < 3:
    raise ValueError(f'a looping clip needs at least 3 frames, got {frames} '
                     '(its last frame repeats its first).')
  next_cycle = next_cycle_frame(qpos, 1, loop)
  previous_cycle = previous_cycle_frame(qpos, frames - 2, loop)
  wrap_after = _steps(model, np.stack([qpos[-1], next_cycle]))[0] * fps
  wrap_before = _steps(model, np.stack([previous_cycle, qpos[0]]))[0] * fps
  before = np.concatenate([wrap_before[None], steps])
  after = np.concatenate([steps, wrap_after[None]])
  return 0.5 * (before + after)


def _steps(model: mujoco.MjModel, qpos: np.ndarray) -> np.ndarray:
  """mj_differentiatePos over unit time between consecutive frames."""
  result = np.empty((len(qpos) - 1, model.nv))
  for index in range(len(qpos) - 1):
    mujoco.mj_differentiatePos(model, result[index], 1.0, qpos[index],
                               qpos[index + 1])
  return result


def cycle_transform(qpos: np.ndarray, loop: source_motion.Loop):
  """(heading quaternion, translation) that map frame 0's root to the last's.

  Frame k of the next cycle has root position R (p_k - p_0) + p_last (z kept
  from p_k) and orientation R q_k, R the turn about the vertical over the
  cycle (identity unless loop.offset_heading); without offset_position the
  root's ground position is not moved.
  """
  first, last = qpos[0], qpos[-1]
  if loop.offset_heading:
    turn = quaternions.about_z(quaternions.yaw(last[3:7])
                               - quaternions.yaw(first[3:7]))
  else:
    turn = np.array([1.0, 0.0, 0.0, 0.0])
  return turn, (last[:2] if loop.offset_position else first[:2])


def next_cycle_frame(qpos: np.ndarray, index: int,
                     loop: source_motion.Loop) -> np.ndarray:
  """Frame `index` of the cycle after this one."""
  turn, anchor = cycle_transform(qpos, loop)
  frame = qpos[index].copy()
  offset = np.append(qpos[index][:2] - qpos[0][:2], 0.0)
  frame[:2] = anchor + quaternions.rotate(turn, offset)[:2]
  frame[3:7] = quaternions.multiply(turn, qpos[index][3:7])
  return frame


def previous_cycle_frame(qpos: np.ndarray, index: int,
                         loop: source_motion.Loop) -> np.ndarray:
  """Frame `index` of the cycle before this one (the inverse transform)."""
  turn, anchor = cycle_transform(qpos, loop)
  inverse = quaternions.conjugate(turn)
  frame = qpos[index].copy()
  offset = np.append(qpos[index][:2] - anchor, 0.0)
  frame[:2] = qpos[0][:2] + quaternions.rotate(inverse, offset)[:2]
  frame[3:7] = quaternions.multiply(inverse, qpos[index][3:7])
  return frame
