"""Retargeting human motion capture onto a humanoid by keypoint IK (mink).

The human's joints are named by role (pelvis, left_knee, ...) through a
skeleton map, the robot's bodies by the same roles through its Target
preset. The targets keep the robot's own proportions:
  pelvis      the human's ground track scaled by the leg ratio; its height
              above the human's floor scaled by the robot's straight-leg
              standing pelvis height over the human's (from bone lengths,
              not the rest pose): a person standing tall makes a robot
              standing tall, never a crouch;
  hips        the robot's own hip offsets, turned with the human's pelvis;
  legs        knees and ankles from the hips along the human's leg, scaled
              by the leg-length ratio (hip to knee to ankle);
  shoulders   along the human's pelvis-to-shoulders line scaled by the
              torso ratio, at the robot's own shoulder width turned with
              the human's chest;
  arms        elbows and wrists from the shoulders along the human's arm,
              scaled by the arm-length ratio;
  floor       no target below the height the robot's ankles stand at;
  ground      ankles at the robot's standing ankle height where the
              person's foot stands (slow and low on the person's own
              ankles, as robots.contacts decides), swings moved alike;
  orientations  pelvis upright, turned with the hips; chest from the
              shoulders and spine; feet turned square to the axis across
              the person's shin and foot, pitched as the person's foot is
              from where it stands flat, never rolled (level where the
              person never stands).
keypoint_ik then tracks the targets frame by frame from the previous
frame's solution, root included, with every joint within max_joint_speed
of the previous frame, the root within max_root_speed, each keypoint body
within twice its target's move (or 1 m/s), and a light pull toward the
previous frame's joints; a looping take (motion.loop) is solved in laps
so those bounds hold across its seam too. A second pass moves each ankle
target by its foot's ground correction: the first pass's soles at the
person's stance frames (robots.contacts), so convert's ground placement
has little left to do.

From GMR (General Motion Retargeting, MIT), as facts: per-limb scale,
offsets between human and robot frames, previous-solution starts, large
damping. Its two IK stages (main bodies, then all) gave the same figures
on the takes of benchmarks/retarget_quality.py at 1.4 times the time, so
there is one.
"""

import dataclasses
import functools
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import mujoco
import numpy as np

from amp_ppo.motion import quaternions
from amp_ppo.mocap.formats import source_motion
from amp_ppo.mocap.retarget import keypoint_ik
from amp_ppo.robots import contacts
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
_LEG = ('hip', 'knee', 'ankle')
_ARM = ('shoulder', 'elbow', 'wrist')

# Task weights: the pelvis and feet carry the motion's style and contacts;
# hips, knees and shoulders only roughly match (robots' bodies sit elsewhere
# than a person's joints); the chest only turns (its body origin is not a
# human joint's place).
_POSITION_COSTS = {'pelvis': 5.0, 'left_ankle': 5.0, 'right_ankle': 5.0,
                   'left_hip': 0.5, 'right_hip': 0.5, 'chest': 0.0,
                   'left_knee': 0.5, 'right_knee': 0.5,
                   'left_shoulder': 0.5, 'right_shoulder': 0.5}
_DEFAULT_POSITION_COST = 1.0
_ORIENTATION_COSTS = {'pelvis': 1.0, 'chest': 0.5, 'left_ankle': 1.0,
                      'right_ankle': 1.0}
_POSTURE_COST = 1e-2
# Each keypoint body moves at most _STEP_RATIO times as far as its target in
# a frame, or at _CATCH_UP_SPEED (m/s) where that is more, along each axis.
_STEP_RATIO = 2.0
_CATCH_UP_SPEED = 1.0
# Per radian, toward the previous frame's joints: 1.0 made arms lag by
# centimetres, 0.1 costs a millimetre of tracking.
_CONTINUITY_COST = 0.1
# Levenberg-Marquardt damping, against these task weights (GMR's 0.5 is
# against weights of 10 to 100): at 1e-4 short levers (a wrist on its
# target) overshot and oscillated; at 0.5 frames ended in long tails of
# tiny steps.
_DAMPING = 0.02
# The human's floor: this percentile over frames of its lowest point.
_FLOOR_PERCENTILE = 5


@dataclasses.dataclass(frozen=True, eq=False)
class HumanoidRetarget:
  """IK frames, the correspondence they came from, and how the solve went.

  Attributes:
    qpos: [T, nq].
    scales: robot / human length of 'legs', 'torso', 'arms' (those the
      skeleton and robot both have).
    roles: role -> (human point, robot frame).
    source_root_height: [T] the human's pelvis height scaled onto the
      robot's root (metres), what checks' crouch check compares with.
    unconverged_frames: frames whose IK hit its iteration cap.
    speed_limited_frames: frames where a joint moved at max_joint_speed.
    tracking_error_m: role -> (mean, largest) distance of the robot's
      keypoint from its target over the frames.
  """
  qpos: np.ndarray
  scales: Dict[str, float]
  roles: Dict[str, Tuple[str, str]]
  source_root_height: np.ndarray
  unconverged_frames: List[int]
  speed_limited_frames: List[int]
  tracking_error_m: Dict[str, Tuple[float, float]]


@dataclasses.dataclass(frozen=True, eq=False)
class _RobotRest:
  """Keypoint poses of the robot's zero pose (straight legs), root at 0."""
  positions: Dict[str, np.ndarray]
  orientations: Dict[str, np.ndarray]
  sole_height: float  # lowest sole point, negative: below the root


@dataclasses.dataclass(frozen=True)
class HumanStanding:
  """Where a take's person stands (metres, the take's z).

  Attributes:
    floor: the lowest point's low percentile over frames.
    ankle: a standing ankle's height above the floor.
    pelvis: the pelvis's height above the floor on straight legs.
  """
  floor: float
  ankle: float
  pelvis: float


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
             skeleton: Mapping[str, int],
             *,
             max_joint_speed: float,
             max_root_speed: Optional[float] = None) -> HumanoidRetarget:
  """The humanoid's qpos for every frame of the human's motion.

  Args:
    motion: the human's points.
    robot: the humanoid.
    keypoints: role -> (body or site, 'body' | 'site') of the robot.
    skeleton: role -> point index of the motion (skeleton_map).
    max_joint_speed: rad/s no joint exceeds between frames.
    max_root_speed: m/s the root does not exceed between frames; None: no
      bound.
  """
  roles = [role for role in keypoints if role in skeleton]
  for role in _REQUIRED_ROLES:
    if role not in roles:
      raise ValueError(f'robot {robot.name!r}: its keypoints lack the role '
                       f'{role!r} — map it to a body of the robot.')
  rest = _robot_rest(robot, {role: keypoints[role] for role in roles})
  human = motion.positions
  at = {role: human[:, skeleton[role]] for role in skeleton}
  human_rest = {role: motion.rest_positions[skeleton[role]]
                for role in skeleton}
  scales = limb_scales(human_rest, rest.positions)
  standing = human_standing(motion, at)
  in_stance = _human_stance(at, standing, motion.fps)
  foot_pitch = _standing_foot_pitch(at, in_stance)
  frames = {role: _human_frame(role, at, foot_pitch) for role in roles}
  height = _heights(standing, rest)
  pelvis = at['pelvis'] * scales['legs']  # the ground track by the legs
  pelvis[:, 2] = height(at['pelvis'][:, 2])
  points = _chain_points(at, rest.positions, pelvis, frames, scales)
  points = _above_floor(_ankles_on_ground(points, rest, in_stance), rest)
  targets = {role: _target(role, keypoints[role], points[role],
                           frames[role], rest.orientations[role])
             for role in roles if role in points}
  home = robot.standing_qpos()
  root_offset = _root_offset(robot, rest)
  initial = _initial_guess(home, pelvis[0], frames['pelvis'][0],
                           root_offset, len(human))
  solve = functools.partial(
      keypoint_ik.track, robot, posture=np.tile(home, (len(human), 1)),
      posture_cost=_POSTURE_COST, continuity_cost=_CONTINUITY_COST,
      damping=_DAMPING, frame_step_ratio=_STEP_RATIO,
      frame_step_floor=_CATCH_UP_SPEED / motion.fps, fps=motion.fps,
      max_joint_speed=max_joint_speed, max_root_speed=max_root_speed,
      loop=motion.loop)
  solution = solve(list(targets.values()), initial_qpos=initial)
  # Second pass: the robot's soles onto the ground at the person's stance.
  targets = _stance_on_ground(robot, solution.qpos, targets, in_stance)
  solution = solve(list(targets.values()), initial_qpos=solution.qpos)
  errors = _tracking_errors(robot, solution.qpos, targets)
  return HumanoidRetarget(
      qpos=solution.qpos, scales=scales,
      roles={role: (motion.names[skeleton[role]], keypoints[role][0])
             for role in targets},
      source_root_height=pelvis[:, 2] + root_offset[2],
      tracking_error_m=errors,
      unconverged_frames=solution.unconverged_frames(),
      speed_limited_frames=[int(frame) for frame in
                            np.flatnonzero(solution.speed_limited)])


def _stance_on_ground(robot, qpos, targets, in_stance: np.ndarray):
  """Targets with each ankle moved by its foot's ground correction: the
  robot's soles of qpos at the person's stance frames [T, 2]."""
  soles = robot_model.replay(robot, qpos).sole_heights
  targets = dict(targets)
  for foot, role in zip(robot.feet, _foot_roles(robot, targets)):
    if role is None:
      continue
    foot_soles = soles[:, [robot.feet.index(foot)]]
    stance = in_stance[:, [_SIDES.index(role.split('_')[0])]]
    correction = contacts.ground_corrections(foot_soles, stance)[:, 0]
    positions = targets[role].positions.copy()
    positions[:, 2] -= correction
    targets[role] = dataclasses.replace(targets[role], positions=positions)
  return targets


def _tracking_errors(robot, qpos, targets) -> Dict[str, Tuple[float, float]]:
  """Role -> (mean, largest) distance of each keypoint from its target."""
  model = robot.model
  data = mujoco.MjData(model)
  ids = {role: keypoint_ik.frame_id(model, target)
         for role, target in targets.items()}
  distances = {role: [] for role in targets}
  for frame, frame_qpos in enumerate(qpos):
    data.qpos[:] = frame_qpos
    mujoco.mj_kinematics(model, data)
    for role, target in targets.items():
      where = (data.xpos if target.frame_type == 'body'
               else data.site_xpos)[ids[role]]
      distances[role].append(np.linalg.norm(where - target.positions[frame]))
  return {role: (float(np.mean(values)), float(np.max(values)))
          for role, values in distances.items()}


def _foot_roles(robot, targets) -> List[Optional[str]]:
  """The ankle role whose body carries each foot site (None: none does)."""
  model = robot.model
  roles = []
  for foot in robot.feet:
    body = int(model.site_bodyid[robot.site_id(foot)])
    chain = set()
    while body > 0:
      chain.add(mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, body))
      body = int(model.body_parentid[body])
    roles.append(next((f'{side}_ankle' for side in _SIDES
                       if f'{side}_ankle' in targets
                       and targets[f'{side}_ankle'].frame_type == 'body'
                       and targets[f'{side}_ankle'].frame in chain), None))
  return roles


def limb_scales(human_rest: Mapping[str, np.ndarray],
                robot_rest: Mapping[str, np.ndarray]) -> Dict[str, float]:
  """Robot / human length of the legs, and the torso and arms where both
  have them (rest poses, role -> position)."""
  scales = {'legs': _chain_length(robot_rest, _LEG) /
                    _chain_length(human_rest, _LEG)}
  if all(f'{side}_shoulder' in points for side in _SIDES
         for points in (human_rest, robot_rest)):
    scales['torso'] = (_torso_length(robot_rest) /
                       _torso_length(human_rest))
  if all(f'{side}_{joint}' in points for side in _SIDES for joint in _ARM
         for points in (human_rest, robot_rest)):
    scales['arms'] = (_chain_length(robot_rest, _ARM) /
                      _chain_length(human_rest, _ARM))
  return scales


def _chain_length(points, joints) -> float:
  """Mean over both sides of the summed segment lengths of a chain."""
  lengths = []
  for side in _SIDES:
    chain = [points[f'{side}_{joint}'] for joint in joints]
    lengths.append(sum(np.linalg.norm(b - a)
                       for a, b in zip(chain, chain[1:])))
  return float(np.mean(lengths))


def _torso_length(points) -> float:
  return float(np.linalg.norm(_shoulder_middle(points) - points['pelvis']))


def _shoulder_middle(points):
  return (points['left_shoulder'] + points['right_shoulder']) / 2


def _robot_rest(robot, frames: Mapping[str, Tuple[str, str]]) -> _RobotRest:
  """The zero pose (legs straight), root at the origin, facing +x."""
  qpos = robot.model.qpos0.copy()
  qpos[:3] = 0.0
  qpos[3:7] = (1.0, 0.0, 0.0, 0.0)
  positions, orientations = _frame_poses(robot, qpos, list(frames.values()))
  sole = float(np.min(robot_model.replay(robot, qpos[None]).sole_heights))
  return _RobotRest(positions=dict(zip(frames, positions)),
                    orientations=dict(zip(frames, orientations)),
                    sole_height=sole)


def _root_offset(robot, rest: _RobotRest) -> np.ndarray:
  """The root body's position from the pelvis keypoint, in the zero pose."""
  return -rest.positions['pelvis']  # the root is at the origin


def _heights(standing: HumanStanding, rest: _RobotRest):
  """z [T, ...] -> robot heights: above the human's floor, scaled by the
  robot's straight-leg standing pelvis height over the human's."""
  robot_standing = float(rest.positions['pelvis'][2] - rest.sole_height)
  return lambda z: (z - standing.floor) * (robot_standing / standing.pelvis)


def human_standing(motion: source_motion.KeypointMotion,
                   at: Mapping[str, np.ndarray]) -> HumanStanding:
  """From the take and bone lengths, not the rest pose (which need not
  stand: LAFAN1's does not): standing, the pelvis is above the floor by the
  hips' drop below it, the thigh and shin, and the ankle's height."""
  floor = float(np.percentile(motion.positions[..., 2].min(axis=1),
                              _FLOOR_PERCENTILE))
  hips = (at['left_hip'] + at['right_hip']) / 2
  drop = float(np.median(at['pelvis'][:, 2] - hips[:, 2]))
  lower_ankle = np.minimum(at['left_ankle'][:, 2], at['right_ankle'][:, 2])
  ankle = float(np.percentile(lower_ankle, _FLOOR_PERCENTILE)) - floor
  legs = np.mean([np.linalg.norm(at[f'{side}_knee'] - at[f'{side}_hip'],
                                 axis=-1).mean()
                  + np.linalg.norm(at[f'{side}_ankle'] - at[f'{side}_knee'],
                                   axis=-1).mean() for side in _SIDES])
  return HumanStanding(floor=floor, ankle=ankle,
                       pelvis=drop + float(legs) + ankle)


def _human_stance(at, standing: HumanStanding, fps: float) -> np.ndarray:
  """[T, 2] left and right foot in stance (robots.contacts), judged on the
  person's own ankles: slow, and low above a standing ankle's height."""
  ankles = np.stack([at[f'{side}_ankle'] for side in _SIDES], axis=1)
  soles = ankles[..., 2] - standing.floor - standing.ankle
  return contacts.stance(ankles, soles, fps)


def _chain_points(at, robot_rest, pelvis, frames, scales):
  """Role -> [T, 3] targets along the robot's own limbs (module doc)."""
  points = {'pelvis': pelvis.copy()}
  for side in _SIDES:
    hip = f'{side}_hip'
    points[hip] = pelvis + _turned(frames['pelvis'],
                                   robot_rest[hip] - robot_rest['pelvis'])
    for joint in _LEG[1:]:
      role = f'{side}_{joint}'
      points[role] = points[hip] + scales['legs'] * (at[role] - at[hip])
  if 'torso' in scales and all(f'{side}_shoulder' in robot_rest
                               for side in _SIDES):
    middle = pelvis + scales['torso'] * (_shoulder_middle(at) - at['pelvis'])
    chest = frames.get('chest')
    for side in _SIDES:
      shoulder = f'{side}_shoulder'
      width = robot_rest[shoulder] - _shoulder_middle(robot_rest)
      points[shoulder] = middle + (_turned(chest, width) if chest is not None
                                   else width)
      if 'arms' in scales and all(f'{side}_{joint}' in robot_rest
                                  for joint in _ARM):
        for joint in _ARM[1:]:
          role = f'{side}_{joint}'
          points[role] = (points[shoulder]
                          + scales['arms'] * (at[role] - at[shoulder]))
  if 'chest' in robot_rest and 'chest' in at:
    points['chest'] = pelvis + (robot_rest['chest'] - robot_rest['pelvis'])
  return points


def _above_floor(points, rest: _RobotRest):
  """No target but the ankles (on the ground already) lower than the
  robot's ankles stand: the human's own proportions can put a kneeling
  knee's target under the floor."""
  lowest = min(rest.positions[f'{side}_ankle'][2] - rest.sole_height
               for side in _SIDES)
  for role, positions in points.items():
    if not role.endswith('_ankle'):
      np.maximum(positions[:, 2], lowest, out=positions[:, 2])
  return points


def _turned(orientations: np.ndarray, offset: np.ndarray) -> np.ndarray:
  """[T, 3] a rest-pose offset turned by [T, 4] orientations."""
  return quaternions.rotate(orientations, offset)


def _ankles_on_ground(points, rest: _RobotRest, in_stance: np.ndarray):
  """Stance ankles at the robot's standing ankle height, swings moved by
  the corrections either side (robots.contacts.ground_corrections)."""
  sides = [f'{side}_ankle' for side in _SIDES]
  soles = np.stack([points[role][:, 2] - (rest.positions[role][2]
                                          - rest.sole_height)
                    for role in sides], axis=1)
  corrections = contacts.ground_corrections(soles, in_stance)
  points = dict(points)
  for index, role in enumerate(sides):
    points[role] = points[role].copy()
    points[role][:, 2] -= corrections[:, index]
  return points


def _target(role, frame, positions, orientations, rest_orientation):
  """A role's KeypointTarget: position, and orientation where it has one."""
  name, frame_type = frame
  if orientations is not None:
    orientations = quaternions.continuous(
        quaternions.multiply(orientations, rest_orientation))
  return keypoint_ik.KeypointTarget(
      frame=name, frame_type=frame_type, positions=positions,
      position_cost=_POSITION_COSTS.get(role, _DEFAULT_POSITION_COST),
      orientations=orientations,
      orientation_cost=_ORIENTATION_COSTS.get(role, 0.0))


def _human_frame(role, at, foot_pitch: Optional[float]
                ) -> Optional[np.ndarray]:
  """[T, 4] world rotations of a role against an upright, +x-facing rest.

  The pelvis frame has y from the right hip to the left and z as near the
  vertical as that allows; the chest's y runs between the shoulders and its
  z toward the chest from the pelvis; a foot is turned and pitched as the
  person's (foot_heading_and_pitch), its pitch counted from foot_pitch,
  the person's standing one (level where that is None), and never rolled.
  Other roles have none.
  """
  if role == 'pelvis':
    # Upright: how far the pelvis pitches is the hips' and knees' business;
    # taking it from the chest would fold the robot at its hip limits.
    left = at['left_hip'] - at['right_hip']
    return _frame_from(left, np.broadcast_to([0.0, 0.0, 1.0], left.shape))
  if role == 'chest' and 'left_shoulder' in at and 'right_shoulder' in at:
    return _frame_from(at['left_shoulder'] - at['right_shoulder'],
                       at['chest'] - at['pelvis'])
  side = role.split('_')[0]
  if role.endswith('_ankle') and f'{side}_toe' in at:
    heading, pitch = foot_heading_and_pitch(at, side)
    turned = quaternions.about_z(heading)
    if foot_pitch is None:
      return turned
    return quaternions.multiply(turned, _about_y(pitch - foot_pitch))
  return None


def foot_heading_and_pitch(at, side: str) -> Tuple[np.ndarray, np.ndarray]:
  """[T] heading and pitch (radians, toes down positive) of a foot.

  The heading is square to the foot's side axis, across its shin and its
  ankle-to-toe line (the axis the ankle flexes about); the pitch is that
  line's angle below the horizontal along the heading, past 90 degrees
  where the toe points back. Taking the heading from the toe alone turned
  a runner's foot around where the heel kicks up behind and the toe points
  down and back (DeepMimic's `run`): a level target facing backward, which
  G1 met by turning a hip 158 degrees, the knee 40 cm off its target.
  Where the foot lines up with its shin (tiptoes) the side axis is noise:
  it turns to the pelvis's.
  """
  toward_toe = at[f'{side}_toe'] - at[f'{side}_ankle']
  shin = at[f'{side}_ankle'] - at[f'{side}_knee']
  across = np.cross(toward_toe, shin)
  across_length = np.linalg.norm(across, axis=-1)
  sine = across_length / np.maximum(
      np.linalg.norm(toward_toe, axis=-1) * np.linalg.norm(shin, axis=-1),
      1e-12)
  # Fully the foot's own axis from 30 degrees between foot and shin.
  trust = np.clip(sine / 0.5, 0.0, 1.0)[:, None]
  pelvis_left = at['left_hip'] - at['right_hip']
  left = (trust * across / np.maximum(across_length, 1e-12)[:, None]
          + (1.0 - trust) * pelvis_left
          / np.linalg.norm(pelvis_left, axis=-1, keepdims=True))
  forward = np.stack([left[:, 1], -left[:, 0]], axis=-1)
  forward /= np.maximum(np.linalg.norm(forward, axis=-1, keepdims=True),
                        1e-12)
  heading = np.arctan2(forward[:, 1], forward[:, 0])
  pitch = np.arctan2(-toward_toe[:, 2],
                     np.sum(toward_toe[:, :2] * forward, axis=-1))
  return heading, pitch


def _standing_foot_pitch(at, in_stance: np.ndarray) -> Optional[float]:
  """The feet's median pitch over the frames they stand on (the same for
  both: a toe joint sits below the ankle), None where none stands or the
  skeleton has no toes."""
  pitches = [foot_heading_and_pitch(at, side)[1][in_stance[:, index]]
             for index, side in enumerate(_SIDES) if f'{side}_toe' in at]
  pitches = np.concatenate(pitches) if pitches else np.zeros(0)
  return float(np.median(pitches)) if pitches.size else None


def _about_y(angles: np.ndarray) -> np.ndarray:
  """[T, 4] rotations about y by angles [T] (positive: x toward -z)."""
  half = 0.5 * np.asarray(angles, np.float64)
  zeros = np.zeros_like(half)
  return np.stack([np.cos(half), zeros, np.sin(half), zeros], axis=-1)


def _frame_from(left: np.ndarray, up: np.ndarray) -> np.ndarray:
  """Rotation with y along `left` and z along `up` made orthogonal to it."""
  y = left / np.linalg.norm(left, axis=-1, keepdims=True)
  z = up - np.sum(up * y, axis=-1, keepdims=True) * y
  z /= np.linalg.norm(z, axis=-1, keepdims=True)
  x = np.cross(y, z)
  return quaternions.continuous(
      quaternions.from_matrix(np.stack([x, y, z], axis=-1)))


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


def _initial_guess(standing: np.ndarray, pelvis: np.ndarray,
                   pelvis_frame: np.ndarray, root_offset: np.ndarray,
                   frames: int) -> np.ndarray:
  """The standing pose, its pelvis on the first pelvis target."""
  initial = np.tile(standing, (frames, 1))
  initial[:, :3] = pelvis + quaternions.rotate(pelvis_frame, root_offset)
  initial[:, 3:7] = pelvis_frame
  return initial
