"""Retargeting human motion capture onto a humanoid by keypoint IK (mink).

The human's joints are named by role (pelvis, left_knee, ...) through a
skeleton map, the robot's bodies by the same roles through its Target
preset. Human positions scale by the ratio of leg lengths (hip to knee to
ankle) and drop so the feet stand at the robot's ankle height; the pelvis
and feet also get orientation targets (pelvis from the hips and chest, feet
level and turned toward the toes). Then mink solves frame by frame within
the joint limits, drawn lightly toward the robot's standing pose.
"""

import dataclasses
from typing import Dict, Mapping, Optional, Sequence, Tuple

import mujoco
import numpy as np

from amp_ppo.motion import quaternions
from amp_ppo.mocap.formats import source_motion
from amp_ppo.mocap.retarget import keypoint_ik
from amp_ppo.robots import presets
from amp_ppo.robots import robot_model

# Joint names of common BVH skeletons per role, tried in order (a 'prefix:'
# such as Mixamo's 'mixamorig:' is ignored). End sites are 'EndSite<joint>'.
_SKELETON_NAMES: Dict[str, Tuple[str, ...]] = {
    'pelvis': ('Hips', 'Pelvis', 'Root'),
    'left_hip': ('LeftUpLeg', 'LeftHip', 'LeftThigh', 'LHipJoint'),
    'left_knee': ('LeftLeg', 'LeftKnee', 'LeftShin'),
    'left_ankle': ('LeftFoot', 'LeftAnkle'),
    'left_toe': ('LeftToeBase', 'LeftToe', 'EndSiteLeftFoot',
                 'EndSiteLeftAnkle'),
    'right_hip': ('RightUpLeg', 'RightHip', 'RightThigh', 'RHipJoint'),
    'right_knee': ('RightLeg', 'RightKnee', 'RightShin'),
    'right_ankle': ('RightFoot', 'RightAnkle'),
    'right_toe': ('RightToeBase', 'RightToe', 'EndSiteRightFoot',
                  'EndSiteRightAnkle'),
    'chest': ('Spine2', 'Chest2', 'Spine1', 'Chest', 'Spine'),
    'left_shoulder': ('LeftArm', 'LeftShoulder'),
    'left_elbow': ('LeftForeArm', 'LeftElbow'),
    'left_wrist': ('LeftHand', 'LeftWrist'),
    'right_shoulder': ('RightArm', 'RightShoulder'),
    'right_elbow': ('RightForeArm', 'RightElbow'),
    'right_wrist': ('RightHand', 'RightWrist'),
}
_REQUIRED_ROLES = ('pelvis', 'left_hip', 'left_knee', 'left_ankle',
                   'right_hip', 'right_knee', 'right_ankle')
_SIDES = ('left', 'right')

# Task weights: the pelvis and feet carry the motion's style and contacts;
# hips only roughly match (human hips are wider than most robots').
_POSITION_COSTS = {'pelvis': 2.0, 'left_hip': 0.2, 'right_hip': 0.2,
                   'left_ankle': 5.0, 'right_ankle': 5.0}
_DEFAULT_POSITION_COST = 1.0
_ORIENTATION_COSTS = {'pelvis': 1.0, 'chest': 0.3, 'left_ankle': 1.0,
                      'right_ankle': 1.0}
_POSTURE_COST = 1e-2


@dataclasses.dataclass(frozen=True, eq=False)
class HumanoidRetarget:
  """IK frames and the correspondence they came from."""
  qpos: np.ndarray  # [T, nq]
  scale: float  # robot leg length / human leg length
  roles: Dict[str, Tuple[str, str]]  # role -> (human point, robot frame)


def skeleton_map(motion: source_motion.KeypointMotion,
                 overrides: Optional[Mapping[str, str]] = None
                ) -> Dict[str, int]:
  """Role -> point index, by common BVH names unless overridden.

  Raises:
    ValueError: a required role has no joint, or an override names an
      unknown role or joint.
  """
  overrides = dict(overrides or {})
  unknown = sorted(set(overrides) - set(_SKELETON_NAMES))
  if unknown:
    raise ValueError(f'skeleton map: unknown roles {unknown} — use '
                     f'{", ".join(_SKELETON_NAMES)}.')
  bare = [name.rsplit(':', 1)[-1] for name in motion.names]
  found = {}
  for role, candidates in _SKELETON_NAMES.items():
    if role in overrides:
      found[role] = motion.index(overrides[role])
      continue
    for candidate in candidates:
      if candidate in bare:
        found[role] = bare.index(candidate)
        break
  missing = [role for role in _REQUIRED_ROLES if role not in found]
  if missing:
    raise ValueError(
        f'motion {motion.source!r}: no joint found for the roles {missing} — '
        'map them to joints of the file (skeleton_map overrides, CLI '
        f'--skeleton role=Joint); its joints: {", ".join(motion.names)}.')
  return found


def retarget(motion: source_motion.KeypointMotion,
             robot: robot_model.RobotModel,
             keypoints: Mapping[str, Tuple[str, str]],
             skeleton: Mapping[str, int]) -> HumanoidRetarget:
  """The humanoid's qpos for every frame of the human's motion."""
  roles = [role for role in keypoints if role in skeleton]
  for role in _REQUIRED_ROLES:
    if role not in roles:
      raise ValueError(f'robot {robot.name!r}: its keypoints lack the role '
                       f'{role!r} — map it to a body of the robot.')
  standing = robot.standing_qpos()
  standing[:2] = 0.0
  standing[3:7] = (1.0, 0.0, 0.0, 0.0)
  rest = _frame_poses(robot, standing, [keypoints[role] for role in roles])
  rest_of = dict(zip(roles, zip(*rest)))
  scale = (_leg_length(lambda r: rest_of[r][0]) /
           _leg_length(lambda r: motion.rest_positions[skeleton[r]]))
  human = motion.positions * scale
  human = _drop_to_robot_feet(robot, human, skeleton, rest_of, standing)
  targets = [_target(role, keypoints[role], human, skeleton, rest_of[role][1])
             for role in roles]
  initial = _initial_guess(standing, targets[roles.index('pelvis')])
  qpos = keypoint_ik.solve(robot, targets, initial_qpos=initial,
                           posture=np.tile(standing, (len(initial), 1)),
                           posture_cost=_POSTURE_COST)
  return HumanoidRetarget(
      qpos=qpos, scale=float(scale),
      roles={role: (motion.names[skeleton[role]], keypoints[role][0])
             for role in roles})


def _leg_length(position_of) -> float:
  """Mean over both legs of hip-knee plus knee-ankle distance."""
  lengths = []
  for side in _SIDES:
    hip, knee, ankle = (position_of(f'{side}_{joint}')
                        for joint in ('hip', 'knee', 'ankle'))
    lengths.append(np.linalg.norm(knee - hip) + np.linalg.norm(ankle - knee))
  return float(np.mean(lengths))


def _drop_to_robot_feet(robot, human, skeleton, rest_of, standing):
  """Moves the human vertically so its standing ankles are the robot's."""
  soles = robot_model.replay(robot, standing[None]).sole_heights[0]
  robot_ankle = np.mean([rest_of[f'{side}_ankle'][0][2] for side in _SIDES])
  robot_ankle_above_sole = robot_ankle - float(np.min(soles))
  lower_ankle = np.minimum(human[:, skeleton['left_ankle'], 2],
                           human[:, skeleton['right_ankle'], 2])
  # The lower ankle of most frames stands on the ground.
  ground_ankle = float(np.percentile(lower_ankle, 10))
  shifted = human.copy()
  shifted[..., 2] += robot_ankle_above_sole - ground_ankle
  return shifted


def _target(role, frame, human, skeleton, rest_orientation):
  """The KeypointTarget of a role: position, and orientation where it has one."""
  name, frame_type = frame
  orientations = _human_orientations(role, human, skeleton)
  if orientations is not None:
    orientations = quaternions.continuous(
        quaternions.multiply(orientations, rest_orientation))
  return keypoint_ik.KeypointTarget(
      frame=name, frame_type=frame_type,
      positions=human[:, skeleton[role]],
      position_cost=_POSITION_COSTS.get(role, _DEFAULT_POSITION_COST),
      orientations=orientations,
      orientation_cost=_ORIENTATION_COSTS.get(role, 0.0))


def _human_orientations(role, human, skeleton) -> Optional[np.ndarray]:
  """[T, 4] world rotations of a role against an upright, +x-facing rest.

  The pelvis frame has y from the right hip to the left and z as near the
  vertical as that allows; the chest's y runs between the shoulders and its
  z toward the chest from the pelvis; a foot is level and turned toward its
  toe.
  """
  def at(name):
    return human[:, skeleton[name]]
  if role == 'pelvis':
    # Upright: how far the pelvis pitches is the hips' and knees' business;
    # taking it from the chest would fold the robot at its hip limits.
    return _frame_from(at('left_hip') - at('right_hip'),
                       np.broadcast_to([0.0, 0.0, 1.0], human[:, 0].shape))
  if (role == 'chest' and 'left_shoulder' in skeleton
      and 'right_shoulder' in skeleton):
    return _frame_from(at('left_shoulder') - at('right_shoulder'),
                       at('chest') - at('pelvis'))
  side = role.split('_')[0]
  if role.endswith('_ankle') and f'{side}_toe' in skeleton:
    toward_toe = at(f'{side}_toe') - at(role)
    return quaternions.about_z(np.arctan2(toward_toe[:, 1], toward_toe[:, 0]))
  return None


def _frame_from(left: np.ndarray, up: np.ndarray) -> np.ndarray:
  """Rotation with y along `left` and z along `up` made orthogonal to it."""
  y = left / np.linalg.norm(left, axis=-1, keepdims=True)
  z = up - np.sum(up * y, axis=-1, keepdims=True) * y
  z /= np.linalg.norm(z, axis=-1, keepdims=True)
  x = np.cross(y, z)
  return quaternions.from_matrix(np.stack([x, y, z], axis=-1))


def _frame_poses(robot, qpos, frames: Sequence[Tuple[str, str]]):
  """World positions [K, 3] and w-x-y-z orientations [K, 4] of frames."""
  model = robot.model
  data = mujoco.MjData(model)
  data.qpos[:] = qpos
  mujoco.mj_kinematics(model, data)
  positions, orientations = [], []
  for name, frame_type in frames:
    kind = (mujoco.mjtObj.mjOBJ_BODY if frame_type == 'body'
            else mujoco.mjtObj.mjOBJ_SITE)
    index = mujoco.mj_name2id(model, kind, name)
    if index < 0:
      raise ValueError(f'robot {robot.name!r}: has no {frame_type} named '
                       f'{name!r} for a keypoint — fix the keypoint map.')
    if frame_type == 'body':
      positions.append(data.xpos[index].copy())
      orientations.append(data.xquat[index].copy())
    else:
      positions.append(data.site_xpos[index].copy())
      orientations.append(quaternions.from_matrix(
          data.site_xmat[index].reshape(3, 3)))
  return np.array(positions), np.array(orientations)


def _initial_guess(standing: np.ndarray,
                   pelvis: keypoint_ik.KeypointTarget) -> np.ndarray:
  """The standing pose carried along the pelvis targets."""
  initial = np.tile(standing, (len(pelvis.positions), 1))
  initial[:, :3] = pelvis.positions
  if pelvis.orientations is not None:
    initial[:, 3:7] = pelvis.orientations
  return initial
