"""Reader of retargeted robot motion stored as CSV, one row per frame.

The default layout is the one the LAFAN1 retargeting datasets publish for
Unitree G1 and H1: no header, 30 fps, columns root position x y z, root
quaternion x y z w, then the joint angles (radians) in the robot's joint
order. `CsvLayout` describes other layouts (column positions, quaternion
order, header rows, units, frame rate, joint names).
"""

import csv
import dataclasses
import io
import math
import os
from typing import Any, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from amp_ppo.motion import clips
from amp_ppo.motion import quaternions
from amp_ppo.mocap.formats import source_motion

_QUATERNION_ORDERS = ('xyzw', 'wxyz')
_ANGLE_UNITS = {'rad': 1.0, 'deg': math.pi / 180}


@dataclasses.dataclass(frozen=True)
class CsvLayout:
  """Where a CSV keeps what, and in which units.

  Attributes:
    fps: frames per second (CSVs carry no time column).
    root_position: the 3 columns of the root's x, y, z.
    root_quaternion: the 4 columns of the root quaternion, in
      `quaternion_order`.
    quaternion_order: 'xyzw' or 'wxyz'.
    joints: the joint-angle columns, in order; None: every column after the
      last root column.
    joint_names: names of the joint columns, to match a robot's joints by
      name; None: the columns are in the robot's joint order.
    header_rows: rows to skip before the first frame.
    delimiter: the field separator.
    position_scale: multiplies positions into metres (0.01 for cm).
    angle_unit: 'rad' or 'deg'.
  """
  fps: float = 30.0
  root_position: Tuple[int, ...] = (0, 1, 2)
  root_quaternion: Tuple[int, ...] = (3, 4, 5, 6)
  quaternion_order: str = 'xyzw'
  joints: Optional[Tuple[int, ...]] = None
  joint_names: Optional[Tuple[str, ...]] = None
  header_rows: int = 0
  delimiter: str = ','
  position_scale: float = 1.0
  angle_unit: str = 'rad'

  @classmethod
  def from_mapping(cls, values: Mapping[str, Any]) -> 'CsvLayout':
    """A layout from e.g. parsed JSON; column lists may be 'start:stop'.

    Raises:
      ValueError: an unknown key or a value of the wrong kind.
    """
    known = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
      raise ValueError(f'CSV layout: unknown keys {unknown} — use '
                       f'{", ".join(sorted(known))}.')
    converted = dict(values)
    for key in ('root_position', 'root_quaternion', 'joints'):
      if converted.get(key) is not None:
        converted[key] = _columns(key, converted[key])
    if converted.get('joint_names') is not None:
      converted['joint_names'] = tuple(str(n) for n in converted['joint_names'])
    layout = cls(**converted)
    layout.check()
    return layout

  def check(self) -> None:
    """Refuses layouts that cannot describe a file."""
    if not (isinstance(self.fps, (int, float)) and math.isfinite(self.fps)
            and self.fps > 0):
      raise ValueError(f'CSV layout: fps must be a number > 0, got '
                       f'{self.fps!r}.')
    if len(self.root_position) != 3 or len(self.root_quaternion) != 4:
      raise ValueError('CSV layout: root_position needs 3 columns and '
                       'root_quaternion 4.')
    if self.quaternion_order not in _QUATERNION_ORDERS:
      raise ValueError(f'CSV layout: quaternion_order must be one of '
                       f'{_QUATERNION_ORDERS}, got {self.quaternion_order!r}.')
    if self.angle_unit not in _ANGLE_UNITS:
      raise ValueError(f'CSV layout: angle_unit must be one of '
                       f'{tuple(_ANGLE_UNITS)}, got {self.angle_unit!r}.')
    if not self.position_scale > 0:
      raise ValueError('CSV layout: position_scale must be > 0.')
    used = (list(self.root_position) + list(self.root_quaternion)
            + list(self.joints or ()))
    if any(column < 0 for column in used) or len(set(used)) != len(used):
      raise ValueError(f'CSV layout: columns must be distinct and >= 0, got '
                       f'{used}.')


def read_csv_motion(
    path: Union[str, os.PathLike],
    layout: CsvLayout = CsvLayout()) -> source_motion.RobotMotion:
  """Reads and checks one CSV of robot motion.

  Raises:
    ValueError: naming the file, the row and column, and the fix.
  """
  layout.check()
  source = source_motion.check_readable_file(path, clips.MAX_ARRAY_BYTES)
  table = _read_table(source, layout)
  joints = _joint_columns(source, layout, table.shape[1])
  if layout.joint_names is not None and len(layout.joint_names) != len(joints):
    raise source_motion.field_error(
        source, 'joints',
        f'the layout names {len(layout.joint_names)} joints but selects '
        f'{len(joints)} joint columns', 'give one name per joint column')
  quaternion = table[:, list(layout.root_quaternion)]
  if layout.quaternion_order == 'xyzw':
    quaternion = quaternions.from_xyzw(quaternion)
  return source_motion.RobotMotion(
      source=source,
      fps=float(layout.fps),
      root_position=table[:, list(layout.root_position)]
      * layout.position_scale,
      root_quaternion=source_motion.unit_quaternions(source, 'root_quaternion',
                                                     quaternion),
      joint_angles=table[:, joints] * _ANGLE_UNITS[layout.angle_unit],
      joint_names=layout.joint_names)


def _read_table(source: str, layout: CsvLayout) -> np.ndarray:
  """Every frame row as float64 [T, C], checked cell by cell."""
  try:
    with open(source, 'r', encoding='utf-8', newline='') as file:
      text = file.read()
  except UnicodeDecodeError as error:
    raise source_motion.file_error(source, f'is not UTF-8 text ({error})',
                                   'pass a CSV text file') from error
  rows = list(csv.reader(io.StringIO(text), delimiter=layout.delimiter))
  body = [(number, row) for number, row in enumerate(rows, start=1)
          if number > layout.header_rows and any(cell.strip()
                                                  for cell in row)]
  if not body:
    raise source_motion.file_error(
        source, f'has no frame rows after {layout.header_rows} header rows',
        'store one row per frame')
  width = len(body[0][1])
  values = np.empty((len(body), width), np.float64)
  for index, (number, row) in enumerate(body):
    if len(row) != width:
      raise source_motion.field_error(
          source, f'row {number}',
          f'has {len(row)} columns but the first frame row has {width}',
          'store the same columns in every row (check header_rows and the '
          'delimiter)')
    values[index] = [_cell(source, number, column, cell)
                     for column, cell in enumerate(row)]
  return values


def _cell(source: str, row: int, column: int, cell: str) -> float:
  try:
    value = float(cell)
  except ValueError:
    raise source_motion.field_error(
        source, f'row {row}, column {column}', f'{cell!r} is not a number',
        'store numbers only (set header_rows to skip a header)') from None
  if not math.isfinite(value):
    raise source_motion.field_error(source, f'row {row}, column {column}',
                                    f'{cell!r} is not finite',
                                    'store finite numbers only')
  return value


def _joint_columns(source: str, layout: CsvLayout,
                   width: int) -> Sequence[int]:
  root_columns = list(layout.root_position) + list(layout.root_quaternion)
  if max(root_columns) >= width:
    raise source_motion.field_error(
        source, 'root columns',
        f'the layout reads column {max(root_columns)} but rows have {width}',
        'check the CSV layout against the file')
  joints = (list(layout.joints) if layout.joints is not None else
            list(range(max(root_columns) + 1, width)))
  if not joints:
    raise source_motion.field_error(source, 'joints',
                                    'no joint-angle columns after the root',
                                    'store joint angles after the root '
                                    'quaternion, or set joints')
  if max(joints) >= width:
    raise source_motion.field_error(
        source, 'joints',
        f'the layout reads column {max(joints)} but rows have {width}',
        'check the CSV layout against the file')
  return joints


def _columns(key: str, value) -> Tuple[int, ...]:
  """Column indices from a list or a 'start:stop' string."""
  if isinstance(value, str):
    start, separator, stop = value.partition(':')
    if not separator or not start.strip().isdigit() or not (
        stop.strip().isdigit()):
      raise ValueError(f'CSV layout: {key} must be a list of columns or '
                       f"'start:stop', got {value!r}.")
    return tuple(range(int(start), int(stop)))
  if not isinstance(value, (list, tuple)) or not all(
      isinstance(column, int) and not isinstance(column, bool)
      for column in value):
    raise ValueError(f'CSV layout: {key} must be a list of column indices, '
                     f'got {value!r}.')
  return tuple(value)
