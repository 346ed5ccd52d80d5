"""Keypoint IK that holds from frame to frame, and human-to-humanoid scales.

The robots here are small MJCF models (a yaw arm on a free base), so the
tests run in well under a second; real takes on Playground humanoids are in
test_convert_real_data.py.
"""

import numpy as np
import pytest

pytest.importorskip('mink')

# pylint: disable=g-import-not-at-top,wrong-import-position
from amp_ppo.motion import quaternions
from amp_ppo.mocap.formats import source_motion
from amp_ppo.mocap.retarget import human_to_humanoid
from amp_ppo.mocap.retarget import keypoint_ik
from amp_ppo.mocap.retarget import velocities
from amp_ppo.robots import robot_model

# A free base with an arm that yaws about z (unlimited, like a shoulder or
# hip yaw joint) and a hand site 0.3 m out along x.
_YAW_ARM_XML = """
<mujoco>
  <worldbody>
    <body name="base" pos="0 0 0.5">
      <freejoint/>
      <geom type="box" size="0.1 0.1 0.05"/>
      <site name="foot" pos="0 0 -0.05"/>
      <body name="arm">
        <joint name="yaw" type="hinge" axis="0 0 1"/>
        <geom type="capsule" fromto="0 0 0 0.3 0 0" size="0.02"/>
        <site name="hand" pos="0.3 0 0"/>
      </body>
    </body>
  </worldbody>
</mujoco>
"""
_FPS = 30.0
_LIMIT = 30.0  # rad/s, the checks' figure: 1 rad per frame at 30 fps


@pytest.fixture(scope='module', name='arm')
def fixture_arm(tmp_path_factory):
  path = tmp_path_factory.mktemp('arm') / 'arm.xml'
  path.write_text(_YAW_ARM_XML)
  return robot_model.load_robot(str(path), feet=['foot'])


def _yaw_targets(angles):
  """The arm's frame turned to `angles` (radians about z), frame by frame."""
  angles = np.asarray(angles, np.float64)
  hand = np.stack([0.3 * np.cos(angles), 0.3 * np.sin(angles),
                   np.full_like(angles, 0.5)], axis=-1)
  return [keypoint_ik.KeypointTarget(
      frame='hand', frame_type='site', positions=hand, position_cost=1.0,
      orientations=quaternions.about_z(angles), orientation_cost=1.0)]


def _track(arm, angles, **options):
  initial = np.tile(arm.standing_qpos(), (len(angles), 1))
  return keypoint_ik.track(arm, _yaw_targets(angles), initial_qpos=initial,
                           freeze_root=True, fps=_FPS, **options)


def test_a_yaw_flip_is_held_to_the_speed_limit(arm):
  # The target turns the yaw joint by 2.8 rad in one frame (nearly a flip).
  angles = np.array([0.0, 0.0, 2.8, 2.8, 2.8, 2.8])
  free = _track(arm, angles)
  assert np.abs(np.diff(free.qpos[:, 7])).max() > 2.5  # flips unbounded
  held = _track(arm, angles, max_joint_speed=_LIMIT)
  steps = np.abs(np.diff(held.qpos[:, 7]))
  assert steps.max() <= _LIMIT / _FPS + 1e-9
  # It gets there at the limit, frame by frame, and says where it was held.
  np.testing.assert_allclose(held.qpos[2:5, 7], [1.0, 2.0, 2.8], atol=1e-3)
  assert held.speed_limited.tolist() == [False, False, True, True, False,
                                         False]


def test_a_looping_take_holds_the_speed_limit_across_its_seam(arm):
  # One cycle: the arm turns out to 2.8 rad and the last frame, the same
  # instant as the next cycle's first, is still there, while frame 0 and
  # frame 1 ask for 0: a yaw 2.8 rad back at the seam, as a source's seam
  # glitch (or a flipped branch) makes it.
  angles = np.array([0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 2.8, 2.8])
  loop = source_motion.Loop()
  limit = _LIMIT / _FPS
  one_lap = _track(arm, angles, max_joint_speed=_LIMIT)
  assert one_lap.laps == 1
  assert abs(one_lap.qpos[1, 7] - one_lap.qpos[-1, 7]) > 2.5  # the seam
  looped = _track(arm, angles, max_joint_speed=_LIMIT, loop=loop)
  assert looped.laps == 2  # the second lap ends where the first did
  yaw = looped.qpos[:, 7]
  following = velocities.next_cycle_frame(looped.qpos, 1, loop)
  seam = abs(following[7] - yaw[-1])
  assert max(np.abs(np.diff(yaw)).max(), seam) <= limit + 1e-9
  # Frame 0 is the last frame's pose (one instant), unwound within the
  # limit toward the targets, and the checks' velocities hold everywhere.
  np.testing.assert_allclose(yaw, [2.8, 1.8, 0.8, 0.0, 1.0, 2.0, 2.8, 2.8],
                             atol=1e-3)
  qvel = velocities.qvel_from_qpos(arm.model, looped.qpos, _FPS, loop)
  assert np.abs(qvel[:, 6]).max() <= _LIMIT + 1e-6


def test_a_loop_needs_laps_from_the_previous_solution(arm):
  for angles, options in (([0.0, 0.1, 0.2], {'warm_start': False}),
                          ([0.0, 0.1], {})):
    with pytest.raises(ValueError, match='loop needs warm_start'):
      _track(arm, angles, loop=source_motion.Loop(), **options)


def test_a_step_that_raises_the_cost_is_taken_back(arm):
  # A hand target far out along +y: the first linearised step turns the
  # arm about 5 rad, past the target to point along -y, farther from it
  # than it started. Stopping at that rise ended the frame there; taken
  # back and damped, the step brings the hand nearer.
  goal = np.array([0.0, 1.5, 0.5])
  targets = [keypoint_ik.KeypointTarget(
      frame='hand', frame_type='site', positions=goal[None],
      position_cost=1.0)]
  standing = arm.standing_qpos()
  solution = keypoint_ik.track(arm, targets, initial_qpos=standing[None],
                               freeze_root=True)
  assert solution.converged.all()
  yaw = solution.qpos[0, 7]
  assert np.sin(yaw) > 0.9  # the arm points toward +y
  hand = np.array([0.3 * np.cos(yaw), 0.3 * np.sin(yaw), 0.5])
  assert np.linalg.norm(hand - goal) < np.linalg.norm([0.3, 0.0, 0.5] - goal)


def test_the_root_starts_from_the_previous_solution_and_is_boxed(arm):
  # The whole robot's targets jump 1 m along x in one frame.
  jump = np.array([0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
  base = np.stack([jump, np.zeros(8), np.full(8, 0.5)], axis=-1)
  targets = [keypoint_ik.KeypointTarget(
      frame='base', frame_type='body', positions=base, position_cost=1.0)]
  initial = np.tile(arm.standing_qpos(), (8, 1))  # root at x = 0 throughout
  solution = keypoint_ik.track(arm, targets, initial_qpos=initial, fps=_FPS,
                               max_joint_speed=_LIMIT, max_root_speed=9.0)
  steps = np.abs(np.diff(solution.qpos[:, 0]))
  assert steps.max() <= 9.0 / _FPS + 1e-9
  np.testing.assert_allclose(solution.qpos[-1, 0], 1.0, atol=1e-4)


def test_unconverged_frames_are_reported(arm):
  angles = np.linspace(0.0, 0.5, 4)
  assert _track(arm, angles).unconverged_frames() == []
  assert _track(arm, angles, max_iterations=1).unconverged_frames() == [
      1, 2, 3]  # frame 0 may iterate longer


def test_a_speed_bound_needs_the_frame_rate(arm):
  initial = np.tile(arm.standing_qpos(), (2, 1))
  with pytest.raises(ValueError, match='fps'):
    keypoint_ik.track(arm, _yaw_targets([0.0, 0.1]), initial_qpos=initial,
                      max_joint_speed=_LIMIT)


def test_limbs_scale_by_their_own_length():
  human = {'pelvis': np.array([0.0, 0.0, 1.0]),
           'left_hip': np.array([0.0, 0.1, 0.9]),
           'left_knee': np.array([0.0, 0.1, 0.5]),
           'left_ankle': np.array([0.0, 0.1, 0.1]),
           'left_shoulder': np.array([0.0, 0.2, 1.5]),
           'left_elbow': np.array([0.0, 0.2, 1.2]),
           'left_wrist': np.array([0.0, 0.2, 0.9])}
  robot = {'pelvis': np.array([0.0, 0.0, 0.7]),
           'left_hip': np.array([0.0, 0.1, 0.6]),
           'left_knee': np.array([0.0, 0.1, 0.3]),
           'left_ankle': np.array([0.0, 0.1, 0.0]),
           'left_shoulder': np.array([0.0, 0.15, 1.0]),
           'left_elbow': np.array([0.0, 0.15, 0.8]),
           'left_wrist': np.array([0.0, 0.15, 0.7])}
  for points in (human, robot):
    for role in list(points):
      if role.startswith('left_'):
        mirrored = points[role] * [1, -1, 1]
        points[role.replace('left_', 'right_')] = mirrored
  scales = human_to_humanoid.limb_scales(human, robot)
  assert scales['legs'] == pytest.approx(0.6 / 0.8)
  assert scales['arms'] == pytest.approx(0.3 / 0.6)
  assert scales['torso'] == pytest.approx(0.3 / 0.5)
  del human['left_elbow']
  assert set(human_to_humanoid.limb_scales(human, robot)) == {'legs',
                                                              'torso'}


def test_a_foot_kicked_up_behind_still_faces_forward():
  # One frame of a runner's swing leg, facing +x: the thigh hangs down, the
  # shin points back level, the foot points down and 20 degrees back (toe
  # behind the ankle). The toe's own heading is backward; the foot's is
  # the axis across shin and foot, square to it: forward, pitched 110
  # degrees. A standing foot turned out 30 degrees keeps its heading.
  down_back = np.radians(110.0)
  at = {'left_hip': np.array([[0.0, 0.1, 0.9]]),
        'right_hip': np.array([[0.0, -0.1, 0.9]]),
        'left_knee': np.array([[0.0, 0.1, 0.5]]),
        'left_ankle': np.array([[-0.4, 0.1, 0.5]]),
        'left_toe': np.array([[-0.4 + 0.15 * np.cos(down_back), 0.1,
                               0.5 - 0.15 * np.sin(down_back)]])}
  turned = np.radians(30.0)
  at.update(right_knee=np.array([[0.0, -0.1, 0.5]]),
            right_ankle=np.array([[0.0, -0.1, 0.1]]),
            right_toe=np.array([[0.15 * np.cos(turned),
                                 -0.1 + 0.15 * np.sin(turned), 0.05]]))
  heading, pitch = human_to_humanoid.foot_heading_and_pitch(at, 'left')
  np.testing.assert_allclose([heading[0], pitch[0]], [0.0, down_back],
                             atol=1e-9)
  heading, pitch = human_to_humanoid.foot_heading_and_pitch(at, 'right')
  np.testing.assert_allclose([heading[0], pitch[0]],
                             [turned, np.arctan2(0.05, 0.15)], atol=1e-9)
