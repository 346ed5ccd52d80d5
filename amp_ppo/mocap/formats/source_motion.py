"""What the readers produce: outside motion before it is fit to a robot.

Two kinds of motion come in:
  RobotMotion     a robot's root pose and joint angles per frame (motion
                  imitation / AMP_for_hardware text files, retargeted CSVs);
  KeypointMotion  positions of named points of a skeleton per frame (BVH
                  motion capture), to be fit by inverse kinematics.
Both are in metres, z up, quaternions w-x-y-z, and checked when made.
"""

import dataclasses
import json
import math
import os
from typing import Any, Mapping, Optional, Tuple

import numpy as np

from amp_ppo import motion as motion_lib
from amp_ppo.motion import quaternions


# The data model owns Loop, so a saved reference keeps how its clips loop.
Loop = motion_lib.Loop


@dataclasses.dataclass(frozen=True, eq=False)
class RobotMotion:
  """A robot's root pose and joint angles, frame by frame.

  Attributes:
    source: where it was read from, for messages.
    fps: frames per second.
    root_position: [T, 3] metres, z up.
    root_quaternion: [T, 4] unit, w-x-y-z, the root body's orientation.
    joint_angles: [T, J] radians, in the file's column order.
    joint_names: the names of those columns, when the file gives them.
    loop: how the clip continues after its last frame; None: it does not.
  """
  source: str
  fps: float
  root_position: np.ndarray
  root_quaternion: np.ndarray
  joint_angles: np.ndarray
  joint_names: Optional[Tuple[str, ...]] = None
  loop: Optional[Loop] = None

  def __post_init__(self):
    _check_fps(self.source, self.fps)
    frames = len(self.root_position)
    _check_shape(self.source, 'root position', self.root_position,
                 (frames, 3))
    _check_shape(self.source, 'root quaternion', self.root_quaternion,
                 (frames, 4))
    _check_shape(self.source, 'joint angles', self.joint_angles,
                 (frames, self.joint_angles.shape[-1]))
    if (self.joint_names is not None
        and len(self.joint_names) != self.joint_angles.shape[1]):
      raise ValueError(
          f'motion {self.source!r}: {len(self.joint_names)} joint names for '
          f'{self.joint_angles.shape[1]} joint columns — give one name per '
          'column.')

  @property
  def num_frames(self) -> int:
    return int(self.root_position.shape[0])


@dataclasses.dataclass(frozen=True, eq=False)
class KeypointMotion:
  """Positions of a skeleton's named points, frame by frame.

  Attributes:
    source: where it was read from, for messages.
    fps: frames per second.
    names: one per point (BVH joints and end sites).
    parents: index of each point's parent, -1 for the root (for drawing).
    positions: [T, K, 3] metres, z up, x the skeleton's rest-pose forward.
    rest_positions: [K, 3] the rest pose, root at the origin.
    loop: how the take continues after its last frame; None: it does not.
  """
  source: str
  fps: float
  names: Tuple[str, ...]
  parents: Tuple[int, ...]
  positions: np.ndarray
  rest_positions: np.ndarray
  loop: Optional[Loop] = None

  def __post_init__(self):
    _check_fps(self.source, self.fps)
    count = len(self.names)
    _check_shape(self.source, 'positions', self.positions,
                 (len(self.positions), count, 3))
    _check_shape(self.source, 'rest positions', self.rest_positions,
                 (count, 3))
    if len(self.parents) != count:
      raise ValueError(f'motion {self.source!r}: {len(self.parents)} parents '
                       f'for {count} points — give one parent per point.')

  @property
  def num_frames(self) -> int:
    return int(self.positions.shape[0])

  def index(self, name: str) -> int:
    """The column of a named point; ValueError listing the names if absent."""
    try:
      return self.names.index(name)
    except ValueError:
      raise ValueError(
          f'motion {self.source!r}: has no joint named {name!r} — use one of '
          f'{", ".join(self.names)} in the keypoint mapping.') from None


def field_error(source: str, field: str, problem: str,
                fix: str) -> ValueError:
  """The readers' error: file, field, what is wrong, how to fix it."""
  return ValueError(
      f'motion file {source!r}, field {field!r}: {problem} — {fix}.')


def file_error(source: str, problem: str, fix: str) -> ValueError:
  return ValueError(f'motion file {source!r}: {problem} — {fix}.')


def check_readable_file(path, max_bytes: int) -> str:
  """The path as a string for messages, once it is a readable regular file."""
  source = os.fsdecode(path)
  if not os.path.exists(source):
    raise file_error(source, 'does not exist', 'check the path')
  if os.path.isdir(source):
    raise file_error(source, 'is a directory', 'pass the path of a file')
  size = os.path.getsize(source)
  if size == 0:
    raise file_error(source, 'is empty (0 bytes)', 'pass a motion file')
  if size > max_bytes:
    raise file_error(source, f'is {size} bytes, above the limit of '
                     f'{max_bytes}', 'split the motion over several files')
  return source


def read_json_object(source: str, kind: str,
                     layout: str) -> Mapping[str, Any]:
  """The JSON object a motion text file holds, refusing NaN and Infinity.

  kind names the file expected ('a motion_imitation .txt file'), layout the
  object's keys, for messages.
  """
  try:
    with open(source, 'rb') as file:
      document = json.loads(file.read().decode('utf-8'),
                            parse_constant=_refuse_constant)
  except UnicodeDecodeError as error:
    raise file_error(source, f'is not UTF-8 text ({error})',
                     f'pass {kind} (JSON)') from error
  except json.JSONDecodeError as error:
    raise file_error(
        source, f'is not valid JSON ({error.msg} at line {error.lineno}, '
        f'column {error.colno})',
        'fix the syntax; the file must be one JSON object') from error
  except _NonFiniteNumber as error:
    raise field_error(source, 'Frames', f'holds {error.args[0]}',
                      'store finite numbers only') from error
  if not isinstance(document, dict):
    raise file_error(
        source, f'holds a JSON {type(document).__name__}, not an object',
        f'store {layout}')
  return document


class _NonFiniteNumber(Exception):
  pass


def _refuse_constant(name: str):
  # json accepts NaN and Infinity, which are no positions or angles.
  raise _NonFiniteNumber(name)


def unit_quaternions(source: str, field: str,
                     values: np.ndarray) -> np.ndarray:
  """Normalised, hemisphere-continuous quaternions; refuses zero norms."""
  norms = np.linalg.norm(values, axis=-1)
  bad = np.flatnonzero(~(norms >= quaternions.MIN_NORM))
  if bad.size:
    raise field_error(source, field,
                      f'quaternion at frame {bad[0]} has norm {norms[bad[0]]}'
                      ', which is not a rotation',
                      'store unit quaternions (check the column layout)')
  return quaternions.continuous(values / norms[:, None])


def _check_fps(source: str, fps: float) -> None:
  if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
    raise ValueError(f'motion {source!r}: fps must be a finite number > 0, '
                     f'got {fps!r}.')


def _check_shape(source: str, what: str, array: np.ndarray,
                 shape: Tuple[int, ...]) -> None:
  if array.shape != shape or not np.isfinite(array).all():
    raise ValueError(f'motion {source!r}: {what} must be a finite array of '
                     f'shape {shape}, got shape {array.shape}.')
  if shape[0] == 0:
    raise ValueError(f'motion {source!r}: holds no frames — give at least '
                     'one frame.')
