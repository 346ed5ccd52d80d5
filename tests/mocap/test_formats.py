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
    with pytest.raises(ValueError, match='length_unit') as error:
      bvh.read_bvh(path, length_unit=None, up_axis='+x', forward_axis='+z')
    assert '--bvh-unit' in str(error.value)
    assert bvh.read_bvh(path, length_unit=0.01).num_frames == 1


def _scaled_hierarchy(factor: float) -> str:
  """The synthetic skeleton with every OFFSET multiplied by factor."""
  lines = []
  for line in synthetic_sources.HIERARCHY.split('\n'):
    if line.strip().startswith('OFFSET'):
      values = [float(v) * factor for v in line.split()[1:]]
      line = line[:line.index('OFFSET')] + 'OFFSET ' + ' '.join(
          f'{v:.6f}' for v in values)
    lines.append(line)
  return '\n'.join(lines)


def _z_up(text: str) -> str:
  """The skeleton turned +90 degrees about x: file y becomes z, z becomes -y."""
  lines = []
  for line in text.split('\n'):
    if line.strip().startswith('OFFSET'):
      x, y, z = (float(v) for v in line.split()[1:])
      line = (line[:line.index('OFFSET')]
              + f'OFFSET {x:.6f} {-z:.6f} {y:.6f}')
    lines.append(line)
  return '\n'.join(lines)


class TestBvhUnitsAndAxes:
  """Unit and up axis inferred from the skeleton, refused when ambiguous."""

  def _steps(self, tmp_path, name, factor=1.0, z_up=False):
    rows = synthetic_sources.stepping_rows(12, 30.0)
    rows[:, :3] *= factor
    hierarchy = _scaled_hierarchy(factor)
    if z_up:
      hierarchy = _z_up(hierarchy)
      rows[:, :3] = rows[:, [0, 2, 1]] * [1, -1, 1]
    return synthetic_sources.write_bvh(tmp_path / name, rows,
                                       hierarchy=hierarchy)

  @pytest.mark.parametrize('unit, factor', [
      ('metres', 0.01), ('centimetres', 1.0), ('inches', 1 / 2.54),
      ('millimetres', 10.0)])
  def test_the_unit_is_inferred_from_a_human_height(self, tmp_path, unit,
                                                    factor):
    reference = bvh.read_bvh(self._steps(tmp_path, 'cm.bvh'))
    motion = bvh.read_bvh(self._steps(tmp_path, f'{unit}.bvh', factor))
    np.testing.assert_allclose(motion.positions, reference.positions,
                               atol=1e-5)
    assert bvh.LENGTH_UNITS[unit] == pytest.approx(0.01 / factor)

  def test_a_height_no_unit_makes_human_is_refused(self, tmp_path):
    # 148 cm read as 0.6 of it: 89 units is 0.89 m, 89 cm, 2.26 m in inches.
    path = self._steps(tmp_path, 'short.bvh', factor=0.6)
    with pytest.raises(ValueError, match='cannot infer its length unit') as (
        error):
      bvh.read_bvh(path)
    message = str(error.value)
    assert '--bvh-unit' in message and 'length_unit' in message
    assert bvh.read_bvh(path, length_unit=0.01).num_frames == 12

  def test_z_up_is_inferred(self, tmp_path):
    y_up = bvh.read_bvh(self._steps(tmp_path, 'y.bvh'))
    z_up = bvh.read_bvh(self._steps(tmp_path, 'z.bvh', z_up=True))
    np.testing.assert_allclose(z_up.positions, y_up.positions, atol=1e-5)
    # The same as naming it.
    named = bvh.read_bvh(self._steps(tmp_path, 'z2.bvh', z_up=True),
                         up_axis='+z')
    np.testing.assert_allclose(named.positions, z_up.positions, atol=1e-9)

  def test_no_feet_means_no_inferred_up_axis(self, tmp_path):
    hierarchy = synthetic_sources.HIERARCHY.replace('Ankle', 'Lower')
    path = synthetic_sources.write_bvh(
        tmp_path / 'nofeet.bvh', synthetic_sources.stepping_rows(3, 30.0),
        hierarchy=hierarchy)
    with pytest.raises(ValueError, match='no joint is named like a foot') as (
        error):
      bvh.read_bvh(path)
    assert '--bvh-up' in str(error.value) and 'up_axis' in str(error.value)
    assert bvh.read_bvh(path, up_axis='+y').num_frames == 3

  def test_a_take_lying_across_its_rest_pose_is_refused(self, tmp_path):
    rows = synthetic_sources.stepping_rows(6, 30.0)
    rows[:, 4] = 90.0  # the root pitched 90 degrees the whole take
    path = synthetic_sources.write_bvh(tmp_path / 'lying.bvh', rows)
    with pytest.raises(ValueError, match=r'rest pose stands along \+y') as (
        error):
      bvh.read_bvh(path)
    assert '--bvh-up' in str(error.value)

  def test_unknown_up_axis_names_the_flag(self, tmp_path):
    path = self._steps(tmp_path, 'a.bvh')
    with pytest.raises(ValueError, match='--bvh-up'):
      bvh.read_bvh(path, up_axis='up')
