"""Reader of DeepMimic humanoid motion files (the humanoid3d_*.txt clips).

A file is a JSON object:

  {"Loop": "wrap" | "none" | "clamp",
   "Frames": [[duration, root position (3), root quaternion w-x-y-z (4),
               chest (4), neck (4), right hip (4), right knee (1),
               right ankle (4), right shoulder (4), right elbow (1),
               left hip (4), left knee (1), left ankle (4),
               left shoulder (4), left elbow (1)], ...]}

44 numbers a frame: metres and radians, y up, the character facing +x with
its right along +z. A quaternion is a ball joint's rotation in its parent's
frame; a knee or elbow angle turns about the parent's z (the character's
right). Each frame's duration is the time to the next frame (the last
frame's is unused), and they must agree: this reader does not resample. With
"wrap" the last frame is the same instant as the first frame of the next
cycle, which continues from the root's ground-plane displacement
(source_motion.Loop(offset_position=True)); other keys (DeepMimic's
RightJoints, LeftJoints) are ignored.

The file holds rotations only; the bones are those of DeepMimic's humanoid3d
character, whose definition pybullet ships as pybullet_data/humanoid/
humanoid.urdf (pybullet 2.4.2) and loads at globalScaling 0.25. Its joint
offsets, times 0.25, are the _SKELETON constants below, with three points
taken from its collision shapes: the head's sphere (centre and top) and a
toe at the front edge of the foot box's sole, so the retargeter can turn
the feet. Forward kinematics give the joints' world positions in amp_ppo's
axes (module bvh's): metres, z up, the rest pose facing +x with its left
along +y, the root's first frame above the origin. Points are named as
human_to_humanoid's skeleton map knows BVH joints.
"""

import dataclasses
import os
from typing import Any, Mapping, Optional, Tuple, Union

import numpy as np

from amp_ppo.motion import clips
from amp_ppo.motion import quaternions
from amp_ppo.mocap.formats import source_motion

FRAME_WIDTH = 44
_LOOPS = {'wrap': source_motion.Loop(offset_position=True,
                                     offset_heading=False),
          'none': None, 'clamp': None}
# Frame durations may differ by this fraction (the files round them).
_DURATION_TOLERANCE = 1e-3
# DeepMimic's axes (x forward, y up, z right) to amp_ppo's (x forward, y
# left, z up): a quarter turn about x.
_TO_WORLD = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


@dataclasses.dataclass(frozen=True)
class _Point:
  name: str
  parent: Optional[str]
  offset: Tuple[float, float, float]  # metres in the parent's frame, y up
  columns: int = 0  # 4: a ball joint's quaternion, 1: a hinge angle, 0: none


def _sided(side: str, sign: float):
  """One side's leg and arm: humanoid.urdf's right_*/left_* joints x 0.25,
  the right at +z; the toe's offset is the foot box's (centre (0.18, -0.09),
  size 0.708 x 0.22 x 0.36 in the urdf) front edge at its sole."""
  return (
      _Point(f'{side}UpLeg', 'Hips', (0.0, 0.0, sign * 0.084887), 4),
      _Point(f'{side}Leg', f'{side}UpLeg', (0.0, -0.421546, 0.0), 1),
      _Point(f'{side}Foot', f'{side}Leg', (0.0, -0.40987, 0.0), 4),
      _Point(f'{side}Toe', f'{side}Foot', (0.1335, -0.05, 0.0)),
      _Point(f'{side}Arm', 'Chest', (-0.02405, 0.2435, sign * 0.18311), 4),
      _Point(f'{side}ForeArm', f'{side}Arm', (0.0, -0.274788, 0.0), 1),
      _Point(f'{side}Hand', f'{side}ForeArm', (0.0, -0.258947, 0.0)),
  )


# Parents before children. Head is the centre of the neck link's sphere,
# EndSiteHead its top (radius 0.41 x 0.25).
_SKELETON: Tuple[_Point, ...] = (
    _Point('Hips', None, (0.0, 0.0, 0.0), 4),
    _Point('Chest', 'Hips', (0.0, 0.236151, 0.0), 4),
    _Point('Neck', 'Chest', (0.0, 0.223894, 0.0), 4),
    _Point('Head', 'Neck', (0.0, 0.175, 0.0)),
    _Point('EndSiteHead', 'Head', (0.0, 0.1025, 0.0)),
) + _sided('Right', 1.0) + _sided('Left', -1.0)
# The frame's rotations, in file order, after duration and root position.
_ROTATION_ORDER = ('Hips', 'Chest', 'Neck', 'RightUpLeg', 'RightLeg',
                   'RightFoot', 'RightArm', 'RightForeArm', 'LeftUpLeg',
                   'LeftLeg', 'LeftFoot', 'LeftArm', 'LeftForeArm')
_NAMES = tuple(point.name for point in _SKELETON)
_FRAME_FIX = ('store per frame: duration, root position (3), then the '
              'quaternions w-x-y-z and knee/elbow angles of DeepMimic\'s '
              'humanoid3d, 44 numbers')


def read_deepmimic(
    path: Union[str, os.PathLike]) -> source_motion.KeypointMotion:
  """Reads and checks one DeepMimic humanoid motion file.

  Raises:
    ValueError: naming the file, the field and the fix, for anything
      malformed (JSON, a frame's width or values, zero quaternions, frame
      durations that differ, an unknown Loop).
  """
  source = source_motion.check_readable_file(path, clips.MAX_ARRAY_BYTES)
  document = _read_json(source)
  loop = _loop(source, document)
  frames = _frames(source, document)
  fps = 1.0 / _frame_duration(source, frames[:, 0])
  rotations = _rotations(source, frames)
  positions = _forward_kinematics(frames[:, 1:4], rotations) @ _TO_WORLD.T
  start = positions[0, 0].copy()
  start[2] = 0.0  # heights stay above the file's floor
  identity = {name: np.array([[1.0, 0.0, 0.0, 0.0]]) for name in rotations}
  rest = _forward_kinematics(np.zeros((1, 3)), identity)[0] @ _TO_WORLD.T
  return source_motion.KeypointMotion(
      source=source, fps=fps, names=_NAMES,
      parents=tuple(-1 if point.parent is None else _NAMES.index(
          point.parent) for point in _SKELETON),
      positions=positions - start, rest_positions=rest, loop=loop)


def is_deepmimic(path: Union[str, os.PathLike]) -> bool:
  """Whether a .txt/.json file is DeepMimic's rather than motion_imitation's.

  A JSON object with DeepMimic's "Loop" and neither "LoopMode" nor
  "FrameDuration" (motion_imitation's keys). Files that are not readable
  JSON objects are not (their own reader says what is wrong).
  """
  try:
    source = source_motion.check_readable_file(path, clips.MAX_ARRAY_BYTES)
    document = _read_json(source)
  except ValueError:
    return False
  return 'Loop' in document and not {'LoopMode', 'FrameDuration'} & set(
      document)


def _read_json(source: str) -> Mapping[str, Any]:
  return source_motion.read_json_object(
      source, 'a DeepMimic motion file',
      '{"Loop": "wrap", "Frames": [[...], ...]}')


def _loop(source: str,
          document: Mapping[str, Any]) -> Optional[source_motion.Loop]:
  mode = document.get('Loop')
  if not isinstance(mode, str) or mode not in _LOOPS:
    raise source_motion.field_error(
        source, 'Loop', 'is missing' if 'Loop' not in document else
        f'expected one of {", ".join(_LOOPS)}, got {mode!r}',
        'store "wrap" for a cycle that repeats, "none" for one that does not')
  return _LOOPS[mode]


def _frames(source: str, document: Mapping[str, Any]) -> np.ndarray:
  """Frames as float64 [T, 44] after checking every row."""
  rows = document.get('Frames')
  if not isinstance(rows, list) or len(rows) < 2:
    raise source_motion.field_error(
        source, 'Frames',
        'is missing' if rows is None else
        f'expected a list of at least two frames, got {_describe(rows)}',
        _FRAME_FIX)
  for index, row in enumerate(rows):
    if not isinstance(row, list) or len(row) != FRAME_WIDTH:
      width = f'{len(row)} values' if isinstance(row, list) else (
          _describe(row))
      raise source_motion.field_error(
          source, 'Frames', f'frame {index} holds {width}, not '
          f'{FRAME_WIDTH} numbers', _FRAME_FIX)
    for column, value in enumerate(row):
      if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise source_motion.field_error(
            source, 'Frames', f'frame {index}, column {column} is '
            f'{_describe(value)}, not a number', 'store numbers only')
  return np.asarray(rows, np.float64)


def _frame_duration(source: str, durations: np.ndarray) -> float:
  """The one duration of every frame but the last (whose is unused)."""
  used = durations[:-1]
  bad = np.flatnonzero(~(used > 0))
  if bad.size or durations[-1] < 0:
    frame = int(bad[0]) if bad.size else len(durations) - 1
    raise source_motion.field_error(
        source, 'Frames', f'frame {frame} lasts {durations[frame]} s',
        'store each frame\'s seconds to the next in column 0, > 0')
  shortest, longest = int(np.argmin(used)), int(np.argmax(used))
  if used[longest] > used[shortest] * (1.0 + _DURATION_TOLERANCE):
    raise source_motion.field_error(
        source, 'Frames', f'frame durations differ: frame {shortest} lasts '
        f'{used[shortest]:g} s, frame {longest} {used[longest]:g} s; '
        'amp_ppo reads one frame rate and does not resample',
        'resample the take to one frame duration first')
  return float(np.mean(used))


def _rotations(source: str, frames: np.ndarray) -> Mapping[str, np.ndarray]:
  """Name -> [T, 4] local rotation of each jointed point, in file order."""
  columns = {point.name: point.columns for point in _SKELETON}
  rotations, start = {}, 4  # after duration and root position
  for name in _ROTATION_ORDER:
    values = frames[:, start:start + columns[name]]
    if columns[name] == 4:
      rotations[name] = source_motion.unit_quaternions(
          source, f'Frames ({name}, columns {start}-{start + 3})', values)
    else:  # a hinge about its parent's z: in these axes, the right
      rotations[name] = quaternions.about_z(values[:, 0])
    start += columns[name]
  return rotations


def _forward_kinematics(root: np.ndarray,
                        rotations: Mapping[str, np.ndarray]) -> np.ndarray:
  """[T, K, 3] positions in DeepMimic's axes."""
  positions, orientations = {}, {}
  for point in _SKELETON:
    if point.parent is None:
      positions[point.name] = root
      orientations[point.name] = rotations[point.name]
      continue
    parent = orientations[point.parent]
    positions[point.name] = positions[point.parent] + quaternions.rotate(
        parent, np.array(point.offset))
    local = rotations.get(point.name)
    orientations[point.name] = (parent if local is None else
                                quaternions.multiply(parent, local))
  return np.stack([positions[name] for name in _NAMES], axis=1)


def _describe(value) -> str:
  text = repr(value)
  if len(text) > 40:
    text = text[:37] + '...'
  return f'{type(value).__name__} {text}'
