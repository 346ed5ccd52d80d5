"""Retargeting between robots of one topology (a quadruped onto another).

Each target joint takes one source column, times a sign, plus an offset;
the root orientation loses the source's base-frame rotation; the root
position scales by the ratio of leg lengths, so strides and heights keep
their proportion to the legs. Joints are clipped to the target's limits.
"""

import dataclasses
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from amp_ppo.motion import quaternions
from amp_ppo.mocap.formats import source_motion
from amp_ppo.robots import presets
from amp_ppo.robots import robot_model


@dataclasses.dataclass(frozen=True)
class JointMap:
  """target angle = sign * (source column) + offset."""
  target: str
  source: int
  sign: float = 1.0
  offset: float = 0.0


@dataclasses.dataclass(frozen=True)
class JointMapping:
  """How a source robot's motion becomes the target's.

  Attributes:
    joints: one JointMap per target joint; target joints left out keep the
      target's standing pose.
    base_rotation: w-x-y-z, the source root's orientation when the robot
      stands upright facing +x (presets.QuadrupedSource.base_rotation).
    source_leg_length: the source's extended leg (metres); the root
      position scales by target / source leg length.
  """
  joints: Tuple[JointMap, ...]
  base_rotation: np.ndarray
  source_leg_length: float


@dataclasses.dataclass(frozen=True, eq=False)
class Retargeted:
  """Target frames and how far they had to be changed to fit the model."""
  qpos: np.ndarray  # [T, nq]
  scale: float
  clipped: Dict[str, float]  # joint -> largest clip (rad), clipped joints only


def quadruped_mapping(source: presets.QuadrupedSource,
                      target: presets.Target) -> JointMapping:
  """The JointMapping of a preset quadruped onto a preset quadruped."""
  if not target.leg_joints:
    raise ValueError(f'the target has no quadruped leg joints in presets; '
                     f'{source.name} motion retargets onto quadrupeds only.')
  joints = tuple(
      JointMap(target=target.leg_joints[key], source=source.columns[key],
               sign=source.directions[key], offset=source.offsets[key])
      for key in sorted(target.leg_joints))
  return JointMapping(joints=joints, base_rotation=source.base_rotation,
                      source_leg_length=source.leg_length)


def retarget(motion: source_motion.RobotMotion,
             robot: robot_model.RobotModel,
             mapping: JointMapping) -> Retargeted:
  """The target robot's qpos for every source frame.

  Raises:
    ValueError: a JointMap names a column the motion does not have or a
      joint the robot does not have.
  """
  _check_columns(motion, mapping.joints)
  scale = robot.mean_leg_length() / mapping.source_leg_length
  qpos = np.tile(robot.standing_qpos(), (motion.num_frames, 1))
  qpos[:, :3] = motion.root_position * scale
  qpos[:, 3:7] = quaternions.continuous(quaternions.normalize(
      quaternions.multiply(motion.root_quaternion,
                           quaternions.conjugate(mapping.base_rotation))))
  for joint in mapping.joints:
    address = robot.joint_qpos_address(joint.target)
    qpos[:, address] = (joint.sign * motion.joint_angles[:, joint.source]
                        + joint.offset)
  return Retargeted(qpos=qpos, scale=scale,
                    clipped=clip_to_limits(robot, qpos))


def identity_mapping(motion: source_motion.RobotMotion,
                     robot: robot_model.RobotModel) -> Sequence[JointMap]:
  """Columns that already are the robot's joints: by name, else in order.

  For CSVs retargeted to this very robot (the LAFAN1 datasets).
  """
  names = robot.joint_names()
  if motion.joint_names is not None:
    missing = sorted(set(names) - set(motion.joint_names))
    if missing:
      raise ValueError(f'motion {motion.source!r}: has no column for the '
                       f'robot joints {missing} — name every joint of '
                       f'{robot.name} in joint_names.')
    return tuple(JointMap(name, motion.joint_names.index(name))
                 for name in names)
  if motion.joint_angles.shape[1] != len(names):
    raise ValueError(
        f'motion {motion.source!r}: has {motion.joint_angles.shape[1]} joint '
        f'columns but {robot.name} has {len(names)} joints — record it for '
        'this robot, or give joint_names in the CSV layout.')
  return tuple(JointMap(name, column) for column, name in enumerate(names))


def clip_to_limits(robot: robot_model.RobotModel,
                   qpos: np.ndarray) -> Dict[str, float]:
  """Clips qpos in place to the joint ranges; returns what it clipped."""
  clipped = {}
  for name, (address, lower, upper) in robot.limited_joints().items():
    column = qpos[:, address]
    excess = np.maximum(lower - column, column - upper).max()
    if excess > 0:
      clipped[name] = float(excess)
      qpos[:, address] = np.clip(column, lower, upper)
  return clipped


def _check_columns(motion: source_motion.RobotMotion,
                   joints: Sequence[JointMap]) -> None:
  width = motion.joint_angles.shape[1]
  for joint in joints:
    if not 0 <= joint.source < width:
      raise ValueError(
          f'motion {motion.source!r}: the joint mapping reads joint column '
          f'{joint.source} for {joint.target!r} but the motion has {width} '
          'joint columns — use a mapping made for this source robot.')


def source_for(name: Optional[str]) -> presets.QuadrupedSource:
  """A preset source quadruped by name (default: motion_imitation's)."""
  name = name or 'laikago'
  if name not in presets.QUADRUPED_SOURCES:
    raise ValueError(f'unknown source robot {name!r} — use one of '
                     f'{", ".join(presets.QUADRUPED_SOURCES)}.')
  return presets.QUADRUPED_SOURCES[name]
