"""DeepMimic humanoid motion files: synthetic frames with known poses, the
real pybullet clips (fetched, never committed), and malformed files refused.
"""

import json
import math

import numpy as np
import pytest

from amp_ppo.mocap import convert
from amp_ppo.mocap import formats
from amp_ppo.mocap.formats import sample_data
from tests import downloads

# Columns of a frame (module deepmimic's layout).
_ROOT_POSITION = slice(1, 4)
_ROOT_QUATERNION = slice(4, 8)
_RIGHT_KNEE = 20
_RIGHT_ELBOW = 29
_LEFT_HIP = slice(30, 34)
_IDENTITY = [1.0, 0.0, 0.0, 0.0]
# The humanoid3d bones (humanoid.urdf x 0.25), metres.
_THIGH, _SHIN, _HIP_WIDTH = 0.421546, 0.40987, 0.084887
_UPPER_ARM, _FOREARM = 0.274788, 0.258947


def _frame(duration=1 / 30, root=(0.0, 0.9, 0.0), **columns):
  """44 numbers: every joint at rest (identity quaternions, straight knees
  and elbows) unless columns (slice or index -> values) say otherwise."""
  frame = [duration, *root] + _IDENTITY * 3 + (_IDENTITY + [0.0]
                                              + _IDENTITY * 2 + [0.0]) * 2
  for where, values in columns.values():
    frame[where] = values
  return frame


def _write(tmp_path, document, name='take.txt'):
  path = tmp_path / name
  path.write_text(document if isinstance(document, str) else
                  json.dumps(document))
  return path


def _read(tmp_path, frames, loop='wrap'):
  return formats.read_deepmimic(
      _write(tmp_path, {'Loop': loop, 'Frames': frames}))


def _point(motion, name, frame=0):
  return motion.positions[frame, motion.index(name)]


class TestSyntheticFrames:

  def test_rest_pose_stands_facing_x_with_left_along_y(self, tmp_path):
    motion = _read(tmp_path, [_frame(), _frame()])
    assert motion.num_frames == 2 and motion.fps == pytest.approx(30.0)
    np.testing.assert_allclose(_point(motion, 'Hips'), [0.0, 0.0, 0.9])
    ankle_height = 0.9 - _THIGH - _SHIN
    np.testing.assert_allclose(_point(motion, 'LeftFoot'),
                               [0.0, _HIP_WIDTH, ankle_height], atol=1e-9)
    np.testing.assert_allclose(_point(motion, 'RightFoot'),
                               [0.0, -_HIP_WIDTH, ankle_height], atol=1e-9)
    # The toe: ahead of the ankle, on the foot box's sole.
    np.testing.assert_allclose(_point(motion, 'RightToe'),
                               [0.1335, -_HIP_WIDTH, ankle_height - 0.05],
                               atol=1e-9)
    # Arms hang at the sides, from shoulders 18 cm off the middle.
    shoulder = 0.9 + 0.236151 + 0.2435
    np.testing.assert_allclose(
        _point(motion, 'LeftHand'),
        [-0.02405, 0.18311, shoulder - _UPPER_ARM - _FOREARM], atol=1e-9)
    np.testing.assert_allclose(motion.rest_positions,
                               motion.positions[0] - [0.0, 0.0, 0.9],
                               atol=1e-9)
    assert motion.parents[motion.index('LeftToe')] == motion.index(
        'LeftFoot')

  def test_names_fill_every_role_of_the_skeleton_map(self, tmp_path):
    pytest.importorskip('mink')
    # pylint: disable-next=g-import-not-at-top
    from amp_ppo.mocap.retarget import human_to_humanoid
    motion = _read(tmp_path, [_frame(), _frame()])
    roles = human_to_humanoid.skeleton_map(motion)
    expected = {'pelvis': 'Hips', 'chest': 'Chest', 'left_toe': 'LeftToe',
                'right_ankle': 'RightFoot', 'left_shoulder': 'LeftArm',
                'right_wrist': 'RightHand', 'left_knee': 'LeftLeg'}
    assert len(roles) == 16
    for role, name in expected.items():
      assert motion.names[roles[role]] == name

  def test_root_yaw_turns_the_skeleton_to_the_left(self, tmp_path):
    # A quarter turn about DeepMimic's up axis (y).
    half = math.sqrt(0.5)
    turned = _frame(root=(2.0, 0.9, 3.0),
                    quaternion=(_ROOT_QUATERNION, [half, 0.0, half, 0.0]))
    motion = _read(tmp_path, [turned, turned])
    np.testing.assert_allclose(_point(motion, 'Hips'), [0.0, 0.0, 0.9],
                               atol=1e-9)
    toe_ahead = _point(motion, 'LeftToe') - _point(motion, 'LeftFoot')
    np.testing.assert_allclose(toe_ahead, [0.0, 0.1335, -0.05], atol=1e-9)
    np.testing.assert_allclose(_point(motion, 'LeftUpLeg'),
                               [-_HIP_WIDTH, 0.0, 0.9], atol=1e-9)

  def test_root_path_maps_to_ground_axes(self, tmp_path):
    # DeepMimic's +z is the character's right: amp_ppo's -y.
    motion = _read(tmp_path, [_frame(root=(5.0, 0.9, 2.0)),
                              _frame(root=(6.0, 0.8, 3.0))])
    np.testing.assert_allclose(_point(motion, 'Hips', 1), [1.0, -1.0, 0.8])

  def test_knee_and_elbow_bend_about_the_right_axis(self, tmp_path):
    bent = _frame(knee=(_RIGHT_KNEE, -math.pi / 2),
                  elbow=(_RIGHT_ELBOW, math.pi / 2))
    motion = _read(tmp_path, [bent, bent])
    # A negative knee angle folds the shank back, a positive elbow angle
    # brings the forearm forward.
    np.testing.assert_allclose(
        _point(motion, 'RightFoot') - _point(motion, 'RightLeg'),
        [-_SHIN, 0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(
        _point(motion, 'RightHand') - _point(motion, 'RightForeArm'),
        [_FOREARM, 0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(_point(motion, 'LeftFoot'),
                               [0.0, _HIP_WIDTH, 0.9 - _THIGH - _SHIN],
                               atol=1e-9)

  def test_hip_rotation_swings_the_leg_forward(self, tmp_path):
    # 90 degrees about the character's right (DeepMimic's z, the knees'
    # hinge axis) lifts the thigh forward.
    half = math.sqrt(0.5)
    lifted = _frame(hip=(_LEFT_HIP, [half, 0.0, 0.0, half]))
    motion = _read(tmp_path, [lifted, lifted])
    np.testing.assert_allclose(
        _point(motion, 'LeftLeg') - _point(motion, 'LeftUpLeg'),
        [_THIGH, 0.0, 0.0], atol=1e-9)

  @pytest.mark.parametrize('mode, loop', [
      ('wrap', formats.Loop(offset_position=True, offset_heading=False)),
      ('none', None), ('clamp', None)])
  def test_loop(self, tmp_path, mode, loop):
    assert _read(tmp_path, [_frame(), _frame()], loop=mode).loop == loop

  def test_last_duration_is_unused(self, tmp_path):
    motion = _read(tmp_path, [_frame(0.05), _frame(0.05), _frame(0.0)])
    assert motion.fps == pytest.approx(20.0)


def _malformed(frames=None, **keys):
  document = {'Loop': 'wrap', 'Frames': frames or [_frame(), _frame()]}
  document.update(keys)
  return {key: value for key, value in document.items() if value is not None}


@pytest.mark.parametrize('document, field, words', [
    ('{"Loop": "wrap", ', 'take.txt', 'not valid JSON'),
    ('[1, 2]', 'take.txt', 'not an object'),
    (_malformed(Loop=None), 'Loop', 'is missing'),
    (_malformed(Loop='repeat'), 'Loop', 'expected one of'),
    (_malformed(Loop=['wrap']), 'Loop', 'expected one of'),
    (_malformed(Frames=None), 'Frames', 'is missing'),
    (_malformed(frames=[_frame()]), 'Frames', 'at least two frames'),
    (_malformed(frames=[_frame(), _frame()[:-1]]), 'Frames',
     'frame 1 holds 43 values'),
    (_malformed(frames=[_frame(), 'frame']), 'Frames', 'frame 1 holds str'),
    (_malformed(frames=[_frame(), _frame(hip=(5, 'x'))]), 'Frames',
     'column 5'),
    (_malformed(frames=[_frame(), _frame(chest=(slice(8, 12), [0.0] * 4))]),
     'Chest', 'norm 0'),
    (_malformed(frames=[_frame(0.0), _frame()]), 'Frames', 'frame 0 lasts'),
    (_malformed(frames=[_frame(1 / 60), _frame(1 / 30), _frame()]),
     'Frames', 'durations differ'),
])
def test_malformed_files_name_field_and_fix(tmp_path, document, field, words):
  with pytest.raises(ValueError) as error:
    formats.read_deepmimic(_write(tmp_path, document))
  message = str(error.value)
  assert 'take.txt' in message and field in message and words in message
  assert ' — ' in message  # the fix follows


def test_nan_is_refused(tmp_path):
  text = json.dumps(_malformed()).replace('0.9', 'NaN', 1)
  with pytest.raises(ValueError, match='NaN'):
    formats.read_deepmimic(_write(tmp_path, text))


def test_convert_tells_deepmimic_from_motion_imitation(tmp_path):
  deepmimic = _write(tmp_path, _malformed(), 'run.txt')
  dog = _write(tmp_path, {'LoopMode': 'Wrap', 'FrameDuration': 0.02,
                          'Frames': [[0.0] * 19] * 2}, 'dog.txt')
  broken = _write(tmp_path, '{"Loop": ', 'broken.txt')
  assert formats.is_deepmimic(deepmimic)
  assert not formats.is_deepmimic(dog) and not formats.is_deepmimic(broken)
  # pylint: disable=protected-access
  assert convert._source_format(str(deepmimic), None) == 'deepmimic'
  assert convert._source_format(str(dog), None) == 'motion_imitation'
  # A broken file keeps the motion_imitation reader's own message.
  assert convert._source_format(str(broken), None) == 'motion_imitation'
  assert convert._source_format(str(dog), 'deepmimic') == 'deepmimic'


@pytest.fixture(scope='module', name='real_takes')
def fixture_real_takes():
  try:
    paths = sample_data.fetch_takes(['run', 'walk_cycle'])
  except sample_data.DownloadError as error:
    downloads.unavailable(f'cannot download pybullet\'s DeepMimic clips: '
                          f'{error}')
  return {name: formats.read_deepmimic(path) for name, path in paths.items()}


def _forward_speed(motion):
  """m/s of the root over the cycle, [x, y, z]."""
  root = motion.positions[:, 0]
  return (root[-1] - root[0]) * motion.fps / (motion.num_frames - 1)


def _down(motion, side, height=0.03):
  """Frames whose toe or ankle point is within `height` of the ground."""
  feet = motion.positions[:, [motion.index(f'{side}Toe'),
                              motion.index(f'{side}Foot')], 2]
  return feet.min(axis=1) < height


@pytest.mark.parametrize('name, frames, speed', [('run', 25, 3.56),
                                                 ('walk_cycle', 39, 0.98)])
def test_real_takes_read_as_a_person_moving_forward(real_takes, name, frames,
                                                    speed):
  motion = real_takes[name]
  assert motion.num_frames == frames
  assert motion.fps == pytest.approx(30.0, rel=1e-3)
  assert motion.loop == formats.Loop(offset_position=True,
                                     offset_heading=False)
  assert 1.6 <= np.ptp(motion.rest_positions[:, 2]) <= 1.8  # sole to crown
  np.testing.assert_allclose(_forward_speed(motion), [speed, 0.0, 0.0],
                             atol=0.02)
  left, right = _down(motion, 'Left'), _down(motion, 'Right')
  # Each foot swings while the other stands.
  assert np.any(left & ~_down(motion, 'Right', 0.05))
  assert np.any(right & ~_down(motion, 'Left', 0.05))
  # On the file's floor: the run's last frame dips a toe 5 cm below it.
  assert np.all(motion.positions[..., 2].min(axis=1) > -0.06)


def test_real_run_has_flight_and_single_stance(real_takes):
  motion = real_takes['run']
  left, right = _down(motion, 'Left'), _down(motion, 'Right')
  assert not np.any(left & right)  # running: never both feet down
  assert np.any(~left & ~right)  # and both up in the flight phases
