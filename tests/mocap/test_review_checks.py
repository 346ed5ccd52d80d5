"""The check report: each check passes on good frames and fails on bad."""

import json

import numpy as np
import pytest

from amp_ppo import motion as motion_lib
from amp_ppo.mocap import __main__ as cli
from amp_ppo.mocap import convert
from amp_ppo.robots import robot_model
from amp_ppo.mocap.retarget import velocities
from amp_ppo.mocap import checks
from tests.mocap import synthetic_sources


@pytest.fixture(scope='module', name='robot_path')
def fixture_robot_path(tmp_path_factory):
  return synthetic_sources.write_robot(tmp_path_factory.mktemp('r') / 'r.xml')


@pytest.fixture(scope='module', name='robot')
def fixture_robot(robot_path):
  return robot_model.load_robot(robot_path, feet=['foot'])


def _standing(robot, frames=30):
  qpos = np.tile(robot.standing_qpos(), (frames, 1))
  qpos[:, 0] = np.linspace(0.0, 0.1, frames)  # slides slowly: a stance
  return qpos


def _report(robot, qpos, fps=30.0):
  qvel = velocities.qvel_from_qpos(robot.model, qpos, fps)
  return checks.check_reference(robot, qpos, qvel, fps)


def test_standing_passes_with_figures(robot, tmp_path):
  report = _report(robot, _standing(robot))
  assert report['passed'], checks.format_report(report)
  feet = report['checks']['feet']
  assert feet['stance_height_max_m'] == pytest.approx(0.0, abs=1e-9)
  assert feet['penetration_max_m'] == pytest.approx(0.0, abs=1e-9)
  assert feet['per_foot']['foot']['stance_fraction'] == 1.0
  path = tmp_path / 'report.json'
  checks.save_report(str(path), report)
  assert json.loads(path.read_text())['checks']['joint_limits'][
      'status'] == 'pass'
  assert 'PASSED' in checks.format_report(report)


def test_floating_and_sinking_feet_fail(robot):
  floating = _standing(robot)
  floating[:, 2] += 0.03  # 3 cm up: still in contact range, too high
  report = _report(robot, floating)
  assert report['checks']['feet']['status'] == 'fail'
  assert report['checks']['feet']['stance_height_max_m'] == pytest.approx(
      0.03, abs=1e-6)
  sinking = _standing(robot)
  sinking[:, 2] -= 0.015
  report = _report(robot, sinking)
  assert report['checks']['feet']['status'] == 'fail'
  assert report['checks']['feet']['penetration_max_m'] == pytest.approx(
      0.015, abs=1e-6)
  assert not report['passed']


def test_joint_limit_violation_names_the_joint(robot):
  qpos = _standing(robot)
  qpos[10, 7] = 1.2  # range is [-1, 1]
  check = _report(robot, qpos)['checks']['joint_limits']
  assert check['status'] == 'fail'
  assert check['worst_joint'] == 'hip'
  assert check['worst_violation_rad'] == pytest.approx(0.2)
  assert check['frames_outside'] == 1


def test_jumps_speeds_and_root_height(robot):
  qpos = _standing(robot)
  qpos[15:, 0] += 1.0  # teleports 1 m in one frame
  report = _report(robot, qpos)
  assert report['checks']['jumps']['status'] == 'fail'
  assert report['checks']['jumps']['worst_step_frame'] == 14
  assert report['checks']['velocities']['status'] == 'fail'  # 15 m/s
  assert report['checks']['velocities']['max_root_speed_m_s'] > 10
  high = _standing(robot)
  high[:, 2] = 1.5  # three times the standing height
  assert _report(robot, high)['checks']['root_height']['status'] == 'fail'


def test_fps_below_control_rate_warns(robot):
  slow = robot_model.RobotModel(name=robot.name, model=robot.model,
                                feet=robot.feet, control_dt=0.02)
  qpos = _standing(robot)
  qvel = velocities.qvel_from_qpos(robot.model, qpos, 30.0)
  report = checks.check_reference(slow, qpos, qvel, 30.0)
  assert report['checks']['fps']['status'] == 'warn'
  assert report['passed']  # a warning is not a failure


def test_check_sees_the_seam_of_a_looping_reference(robot, robot_path,
                                                    tmp_path):
  # The root climbs 10 cm in small steps; the next cycle starts back at the
  # bottom, so the only jump is across the loop's seam.
  qpos = _standing(robot)
  qpos[:, 2] += np.linspace(0.0, 0.1, len(qpos))
  qvel = velocities.qvel_from_qpos(robot.model, qpos, 30.0)
  looping = tmp_path / 'looping.npz'
  motion_lib.save_reference(
      looping, fps=30.0, qpos=qpos, qvel=qvel,
      clip_loops=[motion_lib.loop_code(motion_lib.Loop())])
  plain = tmp_path / 'plain.npz'
  motion_lib.save_reference(plain, fps=30.0, qpos=qpos, qvel=qvel)

  jumps = convert.check_file(str(looping), robot_path,
                             feet=['foot'])['clips'][0]['checks']['jumps']
  assert jumps['status'] == 'fail'
  step = 0.1 / 29  # per frame, forward and up
  assert jumps['seam_step_m'] == pytest.approx(np.hypot(step, 0.1 - step),
                                               rel=1e-4)
  assert jumps['worst_step_m'] < jumps['bound_m']  # inside the clip: fine
  plain_report = convert.check_file(str(plain), robot_path, feet=['foot'])
  assert plain_report['clips'][0]['checks']['jumps']['status'] == 'pass'
  assert not plain_report['clips'][0]['loops']
  # The CLI runs the same check.
  assert cli.main(['check', str(looping), '--env', robot_path, '--feet',
                   'foot', '--report', str(tmp_path / 'r.json')]) == 1
  saved = json.loads((tmp_path / 'r.json').read_text())
  assert saved['clips'][0]['loops']
  assert saved['clips'][0]['checks']['jumps']['status'] == 'fail'


def test_a_failed_check_names_its_frame_ranges(robot):
  qpos = _standing(robot)
  qpos[15:, 0] += 1.0  # teleports 1 m between frames 14 and 15
  report = _report(robot, qpos)
  jumps = report['checks']['jumps']
  assert jumps['failing_frames'] == [[14, 15]]
  np.testing.assert_allclose(jumps['failing_seconds'], [[14 / 30, 15 / 30]])
  # Central differences put the speed on the frames either side.
  assert report['checks']['velocities']['failing_frames'] == [[14, 15]]
  assert 'failing_frames' not in report['checks']['feet']  # it passed
  assert 'failing frames 14-15 (0.47-0.50 s)' in checks.format_report(report)


def test_frame_ranges_are_inclusive_runs():
  mask = np.array([1, 1, 0, 0, 1, 0, 1, 1, 1], bool)
  assert checks.frame_ranges(mask) == [[0, 1], [4, 4], [6, 8]]
  assert checks.frame_ranges(np.zeros(3, bool)) == []


def _crouch(robot, qpos, source_root_height):
  qvel = velocities.qvel_from_qpos(robot.model, qpos, 30.0)
  return checks.check_reference(
      robot, qpos, qvel, 30.0,
      source_root_height=source_root_height)['checks']['crouch']


def test_crouch_fails_only_when_sustained(robot):
  qpos = _standing(robot)
  source = qpos[:, 2].copy()  # the source's pelvis, scaled: as the root
  assert _crouch(robot, qpos, source)['status'] == 'pass'
  # Down to 60 % of the source's height for 9 frames (0.3 s): a crouch.
  crouched = qpos.copy()
  crouched[10:19, 2] *= 0.6
  check = _crouch(robot, crouched, source)
  assert check['status'] == 'fail'
  assert check['failing_frames'] == [[10, 18]]
  assert check['min_fraction'] == pytest.approx(0.6)
  assert check['longest_crouch_s'] == pytest.approx(0.3)
  # 6 frames (0.2 s) of it is a dip, not a crouch (limit 0.25 s).
  dipped = qpos.copy()
  dipped[10:16, 2] *= 0.6
  assert _crouch(robot, dipped, source)['status'] == 'pass'
  # Where the source crouches too, the robot may.
  assert _crouch(robot, crouched, crouched[:, 2])['status'] == 'pass'


def test_crouch_check_needs_one_height_per_frame(robot):
  qpos = _standing(robot)
  with pytest.raises(ValueError, match='one height per frame'):
    _crouch(robot, qpos, qpos[:-1, 2])
