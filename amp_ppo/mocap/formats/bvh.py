"""Reader of BVH motion capture, through the `pybvh` package.

pybvh parses the file and runs its forward kinematics; this module checks
the result and brings it into the robot's world: metres, z up, the
skeleton's rest-pose forward along +x (so left is +y), the root's first
frame above the origin. It needs the `motion` extra (`pip install
amp_ppo[motion]`).

What the file does not say is inferred where only one answer is possible:
  up axis      the signed axis from the feet (joints named *Foot*, *Ankle*,
               *Toe*) up to the root and on to the trunk (*Spine*, *Chest*,
               *Neck*, *Head*), read where legs and trunk agree on one
               dominant axis (twice the next component): in the rest pose
               (when it stands upright; LAFAN1's, for one, does not) and
               averaged over the take. Where both are read they must agree.
  length unit  the skeleton's height along the up axis (the upright rest
               pose's, else the take's 90th percentile) makes a human 1.2
               to 2.1 m tall in exactly one of metres, centimetres, inches
               and millimetres.
Anything else is refused, naming the CLI flag and the Python argument.
"""

import os
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from amp_ppo.motion import clips
from amp_ppo.mocap.formats import source_motion

INFER = 'infer'
_AXES = ('+x', '-x', '+y', '-y', '+z', '-z')
# Metres per file unit of the units a human's height tells apart.
LENGTH_UNITS: Dict[str, float] = {'metres': 1.0, 'centimetres': 0.01,
                                  'inches': 0.0254, 'millimetres': 0.001}
HUMAN_HEIGHT_M = (1.2, 2.1)
# A direction names a signed axis when its largest component is at least
# this many times the next largest.
_DOMINANCE = 2.0
_FOOT_WORDS = ('foot', 'ankle', 'toe')
_TRUNK_WORDS = ('spine', 'chest', 'neck', 'head')
# The take's height: this percentile over frames (a person stands most of a
# take; raised arms and crouches are the tails).
_TAKE_HEIGHT_PERCENTILE = 90
_UP_FIX = ("pass the up axis: CLI --bvh-up (e.g. --bvh-up +y), Python "
           "read_bvh(up_axis='+y') or ConvertOptions(bvh_up_axis='+y')")
_UNIT_FIX = ('pass the length unit in metres per file unit: CLI --bvh-unit '
             '(e.g. --bvh-unit 0.0254 for inches), Python '
             'read_bvh(length_unit=0.0254) or '
             'ConvertOptions(bvh_length_unit=0.0254)')


def read_bvh(path: Union[str, os.PathLike],
             *,
             up_axis: str = INFER,
             forward_axis: Optional[str] = None,
             length_unit: Optional[float] = None
            ) -> source_motion.KeypointMotion:
  """Reads a BVH file into world positions of its joints and end sites.

  Args:
    path: the .bvh file.
    up_axis: the file's vertical axis ('+y' in most BVH files), or 'infer':
      from the rest pose and the take (module doc).
    forward_axis: the way the rest pose faces; None: what pybvh derives from
      the rest pose's left/right geometry.
    length_unit: metres per file unit (0.01 for centimetres); None: inferred
      from the skeleton's height (module doc).

  Raises:
    ValueError: naming the file and the fix, for malformed files, unknown
      axes, or an up axis or unit that cannot be told.
  """
  source = source_motion.check_readable_file(path, clips.MAX_ARRAY_BYTES)
  for name, axis, allowed in (('up_axis', up_axis, _AXES + (INFER,)),
                              ('forward_axis', forward_axis, _AXES)):
    if axis is not None and axis not in allowed:
      raise ValueError(f'read_bvh: {name} must be one of {allowed}, got '
                       f'{axis!r} (CLI --bvh-{name.split("_")[0]}).')
  if length_unit is not None and not (np.isfinite(length_unit)
                                      and length_unit > 0):
    raise ValueError(f'read_bvh: length_unit must be > 0 metres per file '
                     f'unit, got {length_unit!r} (CLI --bvh-unit).')
  parsed = _parse(source)
  names = tuple(node.name for node in parsed.nodes)
  posed = parsed.node_positions()
  rest_file = parsed.rest_pose_positions()
  feet, trunk = _named(names, _FOOT_WORDS), _named(names, _TRUNK_WORDS)
  rest_up = (upright_axis(rest_file[None], feet, trunk) if feet and trunk
             else None)
  if up_axis == INFER:
    up_axis = infer_up_axis(source, posed, feet, trunk, rest_up)
  parsed.world_up = up_axis
  forward = forward_axis or parsed.rest_forward
  if forward[1] == up_axis[1]:
    raise source_motion.file_error(
        source, f'its forward axis {forward} is its up axis {up_axis}',
        'pass forward_axis (CLI --bvh-forward), the way the rest pose faces')
  to_world = _axes_to_world(up_axis, forward)
  rest = rest_file @ to_world.T
  if length_unit is not None:
    scale = float(length_unit)
  elif rest_up == up_axis:
    scale = infer_length_unit(source, float(np.ptp(rest[:, 2])),
                              f'its rest pose is {{height:g}} units tall '
                              f'along {up_axis}')
  else:
    heights = np.ptp(posed @ to_world[2], axis=1)
    scale = infer_length_unit(
        source, float(np.percentile(heights, _TAKE_HEIGHT_PERCENTILE)),
        f'its take is {{height:g}} units tall along {up_axis} (its rest pose '
        'does not stand upright)')
  positions = posed @ to_world.T * scale
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
      names=names,
      parents=tuple(parents),
      positions=positions - start,
      rest_positions=rest * scale)


def infer_up_axis(source: str, posed: np.ndarray, feet: Sequence[int],
                  trunk: Sequence[int], rest_up: Optional[str]) -> str:
  """The take's up axis (module doc).

  Args:
    source: the file, for messages.
    posed: [T, K, 3] positions in file axes.
    feet, trunk: indices of the points named like feet, like the trunk.
    rest_up: the upright rest pose's axis (upright_axis), or None.

  Raises:
    ValueError: no feet or trunk, neither cue names an axis, or the two
      disagree.
  """
  if not (feet and trunk):
    raise source_motion.file_error(
        source, 'cannot infer its up axis: no joint is named like a foot '
        '(Foot, Ankle, Toe) or like the trunk (Spine, Chest, Neck, Head)',
        _UP_FIX)
  from_take = upright_axis(posed, feet, trunk)
  if rest_up and from_take and rest_up != from_take:
    raise source_motion.file_error(
        source, f'cannot infer its up axis: the rest pose stands along '
        f'{rest_up} but the take along {from_take}', _UP_FIX)
  if not (rest_up or from_take):
    raise source_motion.file_error(
        source, 'cannot infer its up axis: neither the rest pose nor the '
        'take stands upright along one axis', _UP_FIX)
  return from_take or rest_up


def upright_axis(positions: np.ndarray, feet: Sequence[int],
                 trunk: Sequence[int]) -> Optional[str]:
  """The axis feet-to-root and root-to-trunk share, averaged over frames
  [T, K, 3] (root first), or None where they do not."""
  root = positions[:, 0]
  legs = dominant_axis(np.mean(root - positions[:, feet].mean(axis=1),
                               axis=0))
  body = dominant_axis(np.mean(positions[:, trunk].mean(axis=1) - root,
                               axis=0))
  return legs if legs == body else None


def dominant_axis(direction: np.ndarray) -> Optional[str]:
  """'+y' etc. where one component dominates the direction, else None."""
  magnitudes = np.abs(direction)
  order = np.argsort(magnitudes)
  if magnitudes[order[-1]] <= _DOMINANCE * magnitudes[order[-2]]:
    return None
  axis = int(order[-1])
  return ('+' if direction[axis] > 0 else '-') + 'xyz'[axis]


def infer_length_unit(source: str, height: float, measured: str) -> float:
  """Metres per file unit: the one unit that makes `height` human.

  measured: what the height is, for the message, with '{height:g}' in it.
  """
  low, high = HUMAN_HEIGHT_M
  fitting = [name for name, metres in LENGTH_UNITS.items()
             if low <= height * metres <= high]
  if len(fitting) != 1:
    raise source_motion.file_error(
        source, 'cannot infer its length unit: '
        + measured.format(height=height)
        + f', which is a human {low:g} to {high:g} m tall in '
        f'{" and ".join(fitting) if fitting else "none"} of '
        f'{", ".join(LENGTH_UNITS)}', _UNIT_FIX)
  return LENGTH_UNITS[fitting[0]]


def _named(names: Sequence[str], words: Sequence[str]) -> List[int]:
  """Indices of the names (namespace dropped) containing any of words."""
  return [index for index, name in enumerate(names)
          if any(word in name.rsplit(':', 1)[-1].lower() for word in words)]


def _parse(source: str):
  """pybvh's Bvh, with its failures named as this file's ValueError."""
  import pybvh  # pylint: disable=g-import-not-at-top
  try:
    # The up axis is set once it is known; reading needs a valid one.
    parsed = pybvh.read_bvh_file(source, world_up='+y',
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
