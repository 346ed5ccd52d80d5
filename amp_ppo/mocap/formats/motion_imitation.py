"""Reader of motion_imitation / AMP_for_hardware motion text files.

A file is a JSON object:

  {"LoopMode": "Wrap" | "Clamp",
   "FrameDuration": seconds per frame,
   "EnableCycleOffsetPosition": bool (optional, default true),
   "EnableCycleOffsetRotation": bool (optional, default false),
   "Frames": [[root x, y, z, root quaternion x, y, z, w, joint angles...],
              ...]}

Other keys (MotionWeight, ...) are ignored. AMP_for_hardware appends foot
positions and velocities after the joint angles; `num_joints` says how many
columns after the quaternion are joint angles (default: all of them).
"""

import math
import os
from typing import Any, Mapping, Optional, Union

import numpy as np

from amp_ppo.motion import clips
from amp_ppo.motion import quaternions
from amp_ppo.mocap.formats import source_motion

_ROOT_COLUMNS = 7  # position 3 + quaternion 4
_LOOP_MODES = ('Wrap', 'Clamp')


def read_motion_imitation(
    path: Union[str, os.PathLike],
    num_joints: Optional[int] = None) -> source_motion.RobotMotion:
  """Reads and checks one motion text file.

  Args:
    path: the .txt (JSON) file.
    num_joints: joint-angle columns after the root quaternion; None: every
      remaining column.

  Raises:
    ValueError: naming the file, the field and the fix, for anything
      malformed.
  """
  source = source_motion.check_readable_file(path, clips.MAX_ARRAY_BYTES)
  document = source_motion.read_json_object(
      source, 'a motion_imitation .txt file',
      '{"LoopMode": ..., "FrameDuration": ..., "Frames": [...]}')
  frame_duration = _frame_duration(source, document)
  frames = _frames(source, document)
  joints = _joint_columns(source, frames.shape[1], num_joints)
  return source_motion.RobotMotion(
      source=source,
      fps=1.0 / frame_duration,
      root_position=frames[:, :3],
      root_quaternion=source_motion.unit_quaternions(
          source, 'Frames', quaternions.from_xyzw(frames[:, 3:7])),
      joint_angles=frames[:, _ROOT_COLUMNS:_ROOT_COLUMNS + joints],
      loop=_loop(source, document))


def _frame_duration(source: str, document: Mapping[str, Any]) -> float:
  if 'FrameDuration' not in document:
    raise source_motion.field_error(source, 'FrameDuration', 'is missing',
                                    'store the seconds per frame, e.g. '
                                    '0.01667 for 60 fps')
  value = document['FrameDuration']
  if (isinstance(value, bool) or not isinstance(value, (int, float))
      or not math.isfinite(value) or value <= 0):
    raise source_motion.field_error(
        source, 'FrameDuration', f'expected a number > 0, got {value!r}',
        'store the seconds per frame, e.g. 0.01667 for 60 fps')
  return float(value)


def _frames(source: str, document: Mapping[str, Any]) -> np.ndarray:
  """Frames as float64 [T, C] after checking every row."""
  if 'Frames' not in document:
    raise source_motion.field_error(
        source, 'Frames', 'is missing',
        'store a list of frames [root position, root quaternion x-y-z-w, '
        'joint angles]')
  rows = document['Frames']
  if not isinstance(rows, list) or not rows:
    raise source_motion.field_error(
        source, 'Frames',
        f'expected a non-empty list of frames, got {_describe(rows)}',
        'store one list of numbers per frame')
  width = None
  for index, row in enumerate(rows):
    if not isinstance(row, list):
      raise source_motion.field_error(
          source, 'Frames', f'frame {index} is {_describe(row)}, not a list',
          'store each frame as a list of numbers')
    if width is None:
      width = len(row)
      if width <= _ROOT_COLUMNS:
        raise source_motion.field_error(
            source, 'Frames',
            f'frame 0 has {width} values, expected more than {_ROOT_COLUMNS} '
            '(root position 3, root quaternion 4, then joint angles)',
            'store root position, root quaternion x-y-z-w and joint angles')
    elif len(row) != width:
      raise source_motion.field_error(
          source, 'Frames',
          f'frame {index} has {len(row)} values but frame 0 has {width}',
          'store the same columns in every frame')
    for column, value in enumerate(row):
      if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise source_motion.field_error(
            source, 'Frames',
            f'frame {index}, column {column} is {_describe(value)}, not a '
            'number', 'store numbers only')
  return np.asarray(rows, np.float64)


def _joint_columns(source: str, width: int,
                   num_joints: Optional[int]) -> int:
  available = width - _ROOT_COLUMNS
  if num_joints is None:
    return available
  if not 0 < num_joints <= available:
    raise source_motion.field_error(
        source, 'Frames',
        f'{num_joints} joint angles were asked for but frames hold '
        f'{available} columns after the root quaternion',
        'pass num_joints between 1 and that (the source robot\'s joint '
        'count)')
  return num_joints


def _loop(source: str,
          document: Mapping[str, Any]) -> Optional[source_motion.Loop]:
  if 'LoopMode' not in document:
    raise source_motion.field_error(source, 'LoopMode', 'is missing',
                                    f'store one of {", ".join(_LOOP_MODES)}')
  mode = document['LoopMode']
  if mode not in _LOOP_MODES:
    raise source_motion.field_error(
        source, 'LoopMode', f'expected one of {_LOOP_MODES}, got {mode!r}',
        '"Wrap" for a cycle that repeats, "Clamp" for one that does not')
  flags = {}
  for key, default in (('EnableCycleOffsetPosition', True),
                       ('EnableCycleOffsetRotation', False)):
    value = document.get(key, default)
    if not isinstance(value, bool):
      raise source_motion.field_error(source, key,
                                      f'expected true or false, got '
                                      f'{value!r}', 'store a JSON boolean')
    flags[key] = value
  if mode == 'Clamp':
    return None
  return source_motion.Loop(
      offset_position=flags['EnableCycleOffsetPosition'],
      offset_heading=flags['EnableCycleOffsetRotation'])


def _describe(value) -> str:
  text = repr(value)
  if len(text) > 40:
    text = text[:37] + '...'
  return f'{type(value).__name__} {text}'
