"""What is known about the robots and skeletons that motion comes from and
goes to: plain data, no MuJoCo.

Targets are MuJoCo Playground robots, matched by environment-name prefix
(every Go1 environment shares one model). Sources are the robots and
skeletons that outside motion is recorded on.
"""

import dataclasses
import math
from typing import Dict, Mapping, Optional, Tuple

import numpy as np

LEGS = ('FR', 'FL', 'RR', 'RL')  # front/rear, right/left
LEG_ROLES = ('abduction', 'hip', 'knee')


@dataclasses.dataclass(frozen=True)
class Target:
  """A Playground robot.

  Attributes:
    feet: foot site names (the environment's FEET_SITES).
    leg_joints: for quadrupeds, (leg, role) -> joint name, roles as in
      LEG_ROLES, with Unitree's sign conventions (abduction about +x, hip
      and knee about +y, knee 0 with the leg straight).
    keypoints: for humanoids, skeleton role -> (body or site name, 'body' or
      'site'), the points inverse kinematics pulls onto the human's. The
      ankle roles name the body after the last ankle joint (the foot), so
      its orientation is the sole's.
    max_joint_speed: the robot's own joint speed limit (rad/s), where it is
      below the checks' 30 rad/s (MJCF files carry none); None: the
      checks' figure.
  """
  feet: Tuple[str, ...]
  leg_joints: Mapping[Tuple[str, str], str] = dataclasses.field(
      default_factory=dict)
  keypoints: Mapping[str, Tuple[str, str]] = dataclasses.field(
      default_factory=dict)
  max_joint_speed: Optional[float] = None


def _unitree_quadruped() -> Target:
  names = {'abduction': 'hip', 'hip': 'thigh', 'knee': 'calf'}
  return Target(feet=LEGS,
                leg_joints={(leg, role): f'{leg}_{names[role]}_joint'
                            for leg in LEGS for role in LEG_ROLES})


# Role names of a human skeleton that keypoint IK uses (humanoid targets map
# them to their bodies, BVH skeletons to their joints).
HUMAN_ROLES = ('pelvis', 'left_hip', 'left_knee', 'left_ankle', 'left_toe',
               'right_hip', 'right_knee', 'right_ankle', 'right_toe', 'chest',
               'left_shoulder', 'left_elbow', 'left_wrist', 'right_shoulder',
               'right_elbow', 'right_wrist')

_TARGETS: Dict[str, Target] = {
    'Go1': _unitree_quadruped(),
    'G1': Target(
        feet=('left_foot', 'right_foot'),
        keypoints={
            'pelvis': ('pelvis', 'body'),
            'left_hip': ('left_hip_roll_link', 'body'),
            'left_knee': ('left_knee_link', 'body'),
            'left_ankle': ('left_ankle_roll_link', 'body'),
            'right_hip': ('right_hip_roll_link', 'body'),
            'right_knee': ('right_knee_link', 'body'),
            'right_ankle': ('right_ankle_roll_link', 'body'),
            'chest': ('torso_link', 'body'),
            'left_shoulder': ('left_shoulder_roll_link', 'body'),
            'left_elbow': ('left_elbow_link', 'body'),
            'left_wrist': ('left_wrist_roll_link', 'body'),
            'right_shoulder': ('right_shoulder_roll_link', 'body'),
            'right_elbow': ('right_elbow_link', 'body'),
            'right_wrist': ('right_wrist_roll_link', 'body'),
        }),
    # Legs only: the Berkeley Humanoid has no arms.
    'BerkeleyHumanoid': Target(
        feet=('l_foot', 'r_foot'),
        keypoints={
            'pelvis': ('torso', 'body'),
            'left_hip': ('ll_hfe', 'body'),
            'left_knee': ('ll_kfe', 'body'),
            'left_ankle': ('ll_faa', 'body'),
            'right_hip': ('lr_hfe', 'body'),
            'right_knee': ('lr_kfe', 'body'),
            'right_ankle': ('lr_faa', 'body'),
        }),
    # H1JoystickGaitTracking, H1InplaceGaitTracking. The torso joint only
    # yaws, about the pelvis origin: the chest turns, its place is the
    # pelvis's.
    'H1': Target(
        feet=('left_foot', 'right_foot'),
        keypoints={
            'pelvis': ('pelvis', 'body'),
            'left_hip': ('left_hip_pitch_link', 'body'),
            'left_knee': ('left_knee_link', 'body'),
            'left_ankle': ('left_ankle_link', 'body'),
            'right_hip': ('right_hip_pitch_link', 'body'),
            'right_knee': ('right_knee_link', 'body'),
            'right_ankle': ('right_ankle_link', 'body'),
            'chest': ('torso_link', 'body'),
            'left_shoulder': ('left_shoulder_roll_link', 'body'),
            'left_elbow': ('left_elbow_link', 'body'),
            'left_wrist': ('left_wrist', 'site'),
            'right_shoulder': ('right_shoulder_roll_link', 'body'),
            'right_elbow': ('right_elbow_link', 'body'),
            'right_wrist': ('right_wrist', 'site'),
        }),
    # T1JoystickFlatTerrain: the free joint is on the trunk (the chest);
    # the pelvis is the Waist body below it. The elbow pitch joint sits
    # close to the shoulder, so the mid-arm elbow-yaw body stands for the
    # elbow.
    'T1': Target(
        feet=('left_foot', 'right_foot'),
        keypoints={
            'pelvis': ('Waist', 'body'),
            'left_hip': ('Hip_Pitch_Left', 'body'),
            'left_knee': ('Shank_Left', 'body'),
            'left_ankle': ('left_foot_link', 'body'),
            'right_hip': ('Hip_Pitch_Right', 'body'),
            'right_knee': ('Shank_Right', 'body'),
            'right_ankle': ('right_foot_link', 'body'),
            'chest': ('Trunk', 'body'),
            'left_shoulder': ('AL2', 'body'),
            'left_elbow': ('left_hand_link', 'body'),
            'left_wrist': ('left_hand', 'site'),
            'right_shoulder': ('AR2', 'body'),
            'right_elbow': ('right_hand_link', 'body'),
            'right_wrist': ('right_hand', 'site'),
        }),
}


def target_for(env_or_xml: str) -> Optional[Target]:
  """The preset of a Playground environment name, by its robot prefix."""
  # Longest prefix first, so 'Go1...' never matches 'G1'.
  for prefix in sorted(_TARGETS, key=len, reverse=True):
    if env_or_xml.startswith(prefix):
      return _TARGETS[prefix]
  return None


@dataclasses.dataclass(frozen=True)
class QuadrupedSource:
  """A quadruped that motion files were recorded on.

  Attributes:
    name: for messages.
    columns: (leg, role) -> the joint's column in the file.
    directions, offsets: per (leg, role), the file's angle a becomes the
      Unitree-convention angle `direction * a + offset`.
    base_rotation: w-x-y-z, the orientation the file's root quaternion has
      when the robot stands upright facing +x (the rotation of its base
      frame against the target's).
    leg_length: hip to foot with the leg extended (metres).
    num_joints: joint-angle columns in its files.
  """
  name: str
  columns: Mapping[Tuple[str, str], int]
  directions: Mapping[Tuple[str, str], float]
  offsets: Mapping[Tuple[str, str], float]
  base_rotation: np.ndarray
  leg_length: float
  num_joints: int


def _quaternion_from_rpy(roll: float, pitch: float, yaw: float) -> np.ndarray:
  """w-x-y-z of R = Rz(yaw) Ry(pitch) Rx(roll)."""
  cr, sr = math.cos(roll / 2), math.sin(roll / 2)
  cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
  cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
  return np.array([cr * cp * cy + sr * sp * sy, sr * cp * cy - cr * sp * sy,
                   cr * sp * cy + sr * cp * sy, cr * cp * sy - sr * sp * cy])


def _laikago() -> QuadrupedSource:
  """Laikago as motion_imitation's files store it (pybullet's URDF).

  Facts from motion_imitation/robots/laikago.py and pybullet_data's
  laikago_toes_limits.urdf: columns are URDF joint angles, leg by leg
  (FR, FL, RR, RL) as (abduction, hip, knee); URDF angle = (SDK angle +
  offset) * direction with directions (-1, 1, 1) on right legs and (1, 1, 1)
  on left legs and offsets (0, -0.6, 0.66); the URDF faces +z with y up, so
  the upright base is rotated by roll pi/2, yaw pi/2 (the init orientation
  laikago.py loads it with). Segments: thigh 0.253 m, shank 0.251 m to the
  toe sphere's centre.

  The SDK knee zero is not the straight knee of the URDF: the URDF's knee
  offset vector leans the thigh back by atan(0.1422 / 0.20833) = 0.599 rad
  (the hip offset of 0.6) and its toe vector leans the shank back by
  atan(0.022 / 0.25) = 0.088 rad, so the straight-leg knee angle is
  URDF angle - 0.511, not - 0.66. Geometry is what keeps feet on the ground
  after retargeting, so the knee offset here is the geometric one.
  """
  directions, offsets, columns = {}, {}, {}
  for index, leg in enumerate(LEGS):
    right = leg.endswith('R')
    for role_index, role in enumerate(LEG_ROLES):
      columns[(leg, role)] = 3 * index + role_index
      directions[(leg, role)] = -1.0 if (right and role == 'abduction') else 1.0
    offsets[(leg, 'abduction')] = 0.0
    offsets[(leg, 'hip')] = 0.599
    offsets[(leg, 'knee')] = 0.088 - 0.599
  return QuadrupedSource(
      name='laikago', columns=columns, directions=directions, offsets=offsets,
      base_rotation=_quaternion_from_rpy(math.pi / 2, 0.0, math.pi / 2),
      leg_length=0.253 + 0.251, num_joints=12)


QUADRUPED_SOURCES: Dict[str, QuadrupedSource] = {'laikago': _laikago()}
