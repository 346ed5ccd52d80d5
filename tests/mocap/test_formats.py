"""Readers of outside motion: valid files, and every malformed one refused."""

import json

import numpy as np
import pytest

from amp_ppo.mocap import formats
from amp_ppo.mocap.formats import bvh
from tests.mocap import synthetic_sources

_FRAME = [0.0, 0.0, 0.4, 0.0, 0.0, 0.0, 1.0] + [0.1] * 12


def _write_json(tmp_path, document, name='clip.txt'):
  path = tmp_path / name
  path.write_text(document if isinstance(document, str) else
                  json.dumps(document))
  return path


def _document(**changes):
  document = {'LoopMode': 'Wrap', 'FrameDuration': 0.02,
              'Frames': [list(_FRAME), list(_FRAME)]}
  document.update(changes)
  return {key: value for key, value in document.items() if value is not None}


class TestMotionImitation:

  def test_reads_root_quaternion_as_wxyz_and_loop(self, tmp_path):
    frame = [1.0, 2.0, 0.4, 0.5, 0.5, 0.5, 0.5] + list(range(12))
    motion = formats.read_motion_imitation(
        _write_json(tmp_path, _document(Frames=[frame, frame])))
    assert motion.fps == pytest.approx(50.0)
    np.testing.assert_allclose(motion.root_quaternion[0], [0.5] * 4)
    np.testing.assert_allclose(motion.joint_angles[0], range(12))
    assert motion.loop == formats.Loop(offset_position=True,
                                       offset_heading=False)

  def test_clamp_has_no_loop_and_num_joints_drops_extra_columns(
      self, tmp_path):
    frame = _FRAME + [9.0] * 6  # AMP_for_hardware appends foot data
    motion = formats.read_motion_imitation(
        _write_json(tmp_path, _document(LoopMode='Clamp',
                                        Frames=[frame, frame])),
        num_joints=12)
    assert motion.loop is None
    assert motion.joint_angles.shape == (2, 12)

  @pytest.mark.parametrize('document, field, words', [
      ('{"Frames": [', 'clip.txt', 'not valid JSON'),
      ('[1, 2]', 'clip.txt', 'not an object'),
      (_document(FrameDuration=None), 'FrameDuration', 'is missing'),
      (_document(FrameDuration=-0.1), 'FrameDuration', 'number > 0'),
      (_document(FrameDuration='fast'), 'FrameDuration', 'number > 0'),
      (_document(LoopMode=None), 'LoopMode', 'is missing'),
      (_document(LoopMode='Repeat'), 'LoopMode', 'expected one of'),
      (_document(Frames=None), 'Frames', 'is missing'),
      (_document(Frames=[]), 'Frames', 'non-empty list'),
      (_document(Frames=[_FRAME, _FRAME[:-1]]), 'Frames',
       'frame 1 has 18 values'),
      (_document(Frames=[_FRAME[:7]]), 'Frames', 'more than 7'),
      (_document(Frames=[_FRAME[:3] + ['x'] + _FRAME[4:]]), 'Frames',
       'column 3'),
      (_document(Frames=[_FRAME[:3] + [0.0] * 4 + _FRAME[7:]]), 'Frames',
       'norm 0'),
      (_document(EnableCycleOffsetPosition='yes'),
       'EnableCycleOffsetPosition', 'true or false'),
  ])
  def test_malformed_files_name_field_and_fix(self, tmp_path, document,
                                              field, words):
    with pytest.raises(ValueError) as error:
      formats.read_motion_imitation(_write_json(tmp_path, document))
    message = str(error.value)
    assert 'clip.txt' in message and field in message and words in message
    assert ' — ' in message  # the fix follows

  def test_nan_is_refused(self, tmp_path):
    text = json.dumps(_document()).replace('0.4', 'NaN', 1)
    with pytest.raises(ValueError, match='finite numbers'):
      formats.read_motion_imitation(_write_json(tmp_path, text))

  def test_too_many_joints_asked(self, tmp_path):
    with pytest.raises(ValueError, match='13 joint angles were asked'):
      formats.read_motion_imitation(_write_json(tmp_path, _document()),
                                    num_joints=13)

  def test_missing_and_empty_files(self, tmp_path):
    with pytest.raises(ValueError, match='does not exist'):
      formats.read_motion_imitation(tmp_path / 'nope.txt')
    with pytest.raises(ValueError, match='is empty'):
      formats.read_motion_imitation(_write_json(tmp_path, ''))


class TestCsv:

  def _write(self, tmp_path, rows, name='walk.csv'):
    path = tmp_path / name
    path.write_text('\n'.join(','.join(str(v) for v in row) for row in rows))
    return path

  def test_lafan1_layout(self, tmp_path):
    row = [0.1, 0.2, 0.75, 0.0, 0.0, 0.0, 1.0, 0.3, -0.3]
    motion = formats.read_csv_motion(self._write(tmp_path, [row, row]))
    assert motion.fps == 30.0
    np.testing.assert_allclose(motion.root_quaternion[0], [1, 0, 0, 0])
    np.testing.assert_allclose(motion.joint_angles[0], [0.3, -0.3])

  def test_custom_layout_header_degrees_and_names(self, tmp_path):
    rows = [['t', 'qw', 'qx', 'qy', 'qz', 'x', 'y', 'z', 'knee'],
            [0, 1, 0, 0, 0, 10, 20, 70, 90]]
    layout = formats.CsvLayout.from_mapping({
        'fps': 60, 'header_rows': 1, 'root_position': '5:8',
        'root_quaternion': [1, 2, 3, 4], 'quaternion_order': 'wxyz',
        'joints': [8], 'joint_names': ['knee'], 'position_scale': 0.01,
        'angle_unit': 'deg'})
    motion = formats.read_csv_motion(self._write(tmp_path, rows), layout)
    np.testing.assert_allclose(motion.root_position[0], [0.1, 0.2, 0.7])
    np.testing.assert_allclose(motion.joint_angles[0], [np.pi / 2])
    assert motion.joint_names == ('knee',)

  @pytest.mark.parametrize('rows, words', [
      ([[0, 0, 0, 0, 0, 0, 1, 'x']], "row 1, column 7"),
      ([[0] * 6 + [1, 0], [0] * 6 + [1]], 'row 2'),
      ([[0, 0, 0, 0, 0]], 'root columns'),
      ([[0, 0, 0, 0, 0, 0, 0, 1.0]], 'norm 0'),
      ([[0, 0, 0, 0, 0, 0, 1, 'inf']], 'not finite'),
  ])
  def test_malformed_rows(self, tmp_path, rows, words):
    with pytest.raises(ValueError, match='walk.csv') as error:
      formats.read_csv_motion(self._write(tmp_path, rows))
    assert words in str(error.value)

  def test_layout_errors(self, tmp_path):
    with pytest.raises(ValueError, match='unknown keys'):
      formats.CsvLayout.from_mapping({'frame_rate': 30})
    with pytest.raises(ValueError, match='distinct'):
      formats.CsvLayout.from_mapping({'joints': [0, 7]})
    path = self._write(tmp_path, [[0] * 6 + [1, 0.5]])
    with pytest.raises(ValueError, match='names 2 joints'):
      formats.read_csv_motion(path, formats.CsvLayout(joint_names=('a', 'b')))


class TestBvh:

  def test_rest_pose_positions_in_metres_z_up_x_forward(self, tmp_path):
    rows = np.zeros((2, 27))
    rows[:, 1] = synthetic_sources.HIP_HEIGHT_CM
    motion = bvh.read_bvh(synthetic_sources.write_bvh(tmp_path / 'a.bvh',
                                                      rows))
    assert motion.fps == pytest.approx(30.0)
    left_toe = motion.positions[0, motion.index('EndSiteLeftAnkle')]
    # Toe: 9 cm to the left (+y), 15 cm forward (+x), on the floor.
    np.testing.assert_allclose(left_toe, [0.15, 0.09, 0.0], atol=1e-6)
    np.testing.assert_allclose(motion.positions[0, 0], [0, 0, 0.93],
                               atol=1e-6)

  def test_a_rotation_moves_the_child(self, tmp_path):
    rows = np.zeros((1, 27))
    rows[0, 1] = synthetic_sources.HIP_HEIGHT_CM
    rows[0, 10] = -90.0  # left hip flexes 90 degrees (X rotation)
    motion = bvh.read_bvh(synthetic_sources.write_bvh(tmp_path / 'b.bvh',
                                                      rows))
    knee = motion.positions[0, motion.index('LeftKnee')]
    # The thigh now points forward: the knee is 45 cm ahead at hip height.
    np.testing.assert_allclose(knee, [0.45, 0.09, 0.93], atol=1e-6)

  @pytest.mark.parametrize('edit, words', [
      (lambda text: text.replace('Frames: 3', 'Frames: 5'), 'not a valid BVH'),
      (lambda text: text[:200], 'not a valid BVH'),
      (lambda text: text.replace('Frame Time: 0.033333', 'Frame Time: 0'),
       'not a valid BVH'),
      (lambda text: text.replace('OFFSET 9.0 0.0 0.0', 'OFFSET 9.0 zero 0'),
       'not a valid BVH'),
  ])
  def test_malformed_files(self, tmp_path, edit, words):
    path = synthetic_sources.write_bvh(tmp_path / 'c.bvh',
                                       synthetic_sources.stepping_rows(3, 30))
    path.write_text(edit(path.read_text()))
    with pytest.raises(ValueError, match='c.bvh') as error:
      bvh.read_bvh(path)
    assert words in str(error.value)

  def test_unit_that_cannot_be_told(self, tmp_path):
    rows = np.zeros((1, 27))
    path = synthetic_sources.write_bvh(tmp_path / 'd.bvh', rows)
    with pytest.raises(ValueError, match='length_unit'):
      bvh.read_bvh(path, length_unit=None, up_axis='+x', forward_axis='+z')
    assert bvh.read_bvh(path, length_unit=0.01).num_frames == 1
