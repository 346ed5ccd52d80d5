"""Reader of BVH motion capture, through the `pybvh` package.

pybvh parses the file and runs its forward kinematics; this module checks
the result and brings it into the robot's world: metres, z up, the
skeleton's rest-pose forward along +x (so left is +y), the root's first
frame above the origin. It needs the `motion` extra (`pip install
amp_ppo[motion]`).
"""

import os
from typing import Optional, Union

import numpy as np

from amp_ppo.motion import clips
from amp_ppo.mocap.formats import source_motion

# Rest-pose standing heights (in file units) that name the unit for sure;
# anything else needs length_unit. Humans are 1-2.5 m tall.
_METRE_HEIGHTS = (0.8, 2.5)
_CENTIMETRE_HEIGHTS = (80.0, 250.0)
_AXES = ('+x', '-x', '+y', '-y', '+z', '-z')


def read_bvh(path: Union[str, os.PathLike],
             *,
             up_axis: str = '+y',
             forward_axis: Optional[str] = None,
             length_unit: Optional[float] = None
            ) -> source_motion.KeypointMotion:
  """Reads a BVH file into world positions of its joints and end sites.

  Args:
    path: the .bvh file.
    up_axis: the file's vertical axis ('+y' in most BVH files).
    forward_axis: the way the rest pose faces; None: what pybvh derives from
      the rest pose's left/right geometry.
    length_unit: metres per file unit (0.01 for centimetres); None: metres
      or centimetres, told apart by the rest pose's height.

  Raises:
    ValueError: naming the file and the fix, for malformed files, unknown
      axes, or a unit that cannot be told.
  """
  source = source_motion.check_readable_file(path, clips.MAX_ARRAY_BYTES)
  for name, axis in (('up_axis', up_axis), ('forward_axis', forward_axis)):
    if axis is not None and axis not in _AXES:
      raise ValueError(f'read_bvh: {name} must be one of {_AXES}, got '
                       f'{axis!r}.')
  parsed = _parse(source, up_axis)
  forward = forward_axis or parsed.rest_forward
  if forward[1] == up_axis[1]:
    raise source_motion.file_error(
        source, f'its forward axis {forward} is its up axis {up_axis}',
        'pass forward_axis, the way the rest pose faces')
  to_world = _axes_to_world(up_axis, forward)
  rest = parsed.rest_pose_positions() @ to_world.T
  scale = _metres_per_unit(source, rest, length_unit)
  positions = parsed.node_positions() @ to_world.T * scale
  if not np.isfinite(positions).all():
    raise source_motion.file_error(source, 'yields non-finite positions',
                                   'check the motion data for NaN values')
  start = positions[0, 0].copy()
  start[2] = 0.0  # heights stay above the file's floor
  parents = [-1] * len(parsed.nodes)
  for child, parent in parsed.node_edges:
    parents[child] = parent
  return source_motion.KeypointMotion(
      source=source,
      fps=float(parsed.fps),
      names=tuple(node.name for node in parsed.nodes),
      parents=tuple(parents),
      positions=positions - start,
      rest_positions=rest * scale)


def _parse(source: str, up_axis: str):
  """pybvh's Bvh, with its failures named as this file's ValueError."""
  import pybvh  # pylint: disable=g-import-not-at-top
  try:
    parsed = pybvh.read_bvh_file(source, world_up=up_axis,
                                 warn_on_world_up_disagreement=False)
  except Exception as error:  # pylint: disable=broad-except
    # Untrusted text: whatever the parser trips on, the file is malformed.
    raise source_motion.file_error(
        source, f'is not a valid BVH file ({type(error).__name__}: {error})',
        'check the HIERARCHY and MOTION sections (frame count, frame time '
        'and one line of channel values per frame)') from error
  if parsed.frame_count < 1:
    raise source_motion.field_error(source, 'Frames', 'declares no frames',
                                    'store at least one frame of motion')
  if not (np.isfinite(parsed.frame_time) and parsed.frame_time > 0):
    raise source_motion.field_error(
        source, 'Frame Time', f'expected seconds > 0, got '
        f'{parsed.frame_time}', 'store the seconds per frame')
  return parsed


def _axes_to_world(up_axis: str, forward_axis: str) -> np.ndarray:
  """The rotation taking file axes to forward = +x, up = +z, left = +y."""
  def unit(axis):
    vector = np.zeros(3)
    vector['xyz'.index(axis[1])] = 1.0 if axis[0] == '+' else -1.0
    return vector
  up, forward = unit(up_axis), unit(forward_axis)
  left = np.cross(up, forward)
  return np.stack([forward, left, up])


def _metres_per_unit(source: str, rest: np.ndarray,
                     length_unit: Optional[float]) -> float:
  if length_unit is not None:
    if not (np.isfinite(length_unit) and length_unit > 0):
      raise ValueError(f'read_bvh: length_unit must be > 0, got '
                       f'{length_unit!r}.')
    return float(length_unit)
  height = float(np.ptp(rest[:, 2]))
  if _METRE_HEIGHTS[0] <= height <= _METRE_HEIGHTS[1]:
    return 1.0
  if _CENTIMETRE_HEIGHTS[0] <= height <= _CENTIMETRE_HEIGHTS[1]:
    return 0.01
  raise source_motion.file_error(
      source, f'its rest pose is {height:g} units tall, which is neither '
      'metres nor centimetres for a human',
      'pass length_unit (metres per file unit, e.g. 0.0254 for inches)')
