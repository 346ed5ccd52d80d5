"""Reference motions for AMP: loading, validation, resampling, window sampling.

A reference file is an `.npz` archive holding either state frames

  qpos [T, nq], qvel [T, nv], fps (scalar > 0)

or precomputed discriminator features

  features [T, F], fps (scalar > 0)

plus, optionally, `clip_ids` [T] (integers; the frames of one clip are
contiguous and clips are ordered by first appearance) and `clip_weights`
[n_clips] (finite, >= 0, not all 0; one per clip in order of appearance,
default 1.0 each). Without `clip_ids` the whole file is one clip.

Frame arrays (and fps) may be stored as any real float or integer dtype; they
are converted to float32 (fps to a Python float), and every value must be
finite after that conversion.

Files are untrusted input: nothing is ever unpickled. Each member's npy header
is read and checked (dtype, declared size, byte count) before any array data
is read, and data is read with `allow_pickle=False`. Every malformed file
raises ValueError naming the file, the field and the fix.

This module is NumPy only: it runs on the host before anything is compiled.
"""

import dataclasses
import math
import operator
import os
import stat
from typing import (Dict, List, Mapping, NamedTuple, Optional, Sequence,
                    Tuple, Union)
import zipfile

import numpy as np
from numpy.lib import format as npy_format

from amp_ppo import atomic_file

# Largest array (in bytes, counting at least 4 bytes per element since frames
# become float32) that a reference file may declare. Checked from the npy
# header, so a file claiming more is refused before anything is allocated.
MAX_ARRAY_BYTES = 2 * 1024**3

_STATE_FIELDS = ('qpos', 'qvel')
_FRAME_FIELDS = ('qpos', 'qvel', 'features')
_ALLOWED_KEYS = ('qpos', 'qvel', 'features', 'fps', 'clip_ids',
                 'clip_weights')
_FRAME_SHAPES = {'qpos': '[T, nq]', 'qvel': '[T, nv]', 'features': '[T, F]'}
_REAL_KINDS = frozenset('fiu')
_INTEGER_KINDS = frozenset('iu')
_NPY_SUFFIX = '.npy'
_NPY_MAGIC = b'\x93NUMPY'
_SAME_FPS_RTOL = 1e-6
# Slack, in output steps, so a sample time that lands on the clip's last
# frame up to rounding still counts.
_STEP_TOLERANCE = 1e-6
# Sample positions this close (in source frames) to a frame snap onto it, so
# frames that line up with the new rate are copied exactly.
_SNAP_TOLERANCE = 1e-6
# A quaternion block shorter than this is not a rotation (likely a wrong
# quaternion_starts index).
_MIN_QUATERNION_NORM = 1e-6

PathLike = Union[str, os.PathLike]


@dataclasses.dataclass(frozen=True, eq=False)
class Clip:
  """One contiguous reference clip.

  Frame arrays are stored as read-only float32 views (the caller's arrays are
  never modified). Either `qpos` and `qvel` are set, or `features` is.
  `eq=False`: clips compare by identity, since array fields have no boolean
  equality.
  """
  source: str
  fps: float
  weight: float
  qpos: Optional[np.ndarray] = None
  qvel: Optional[np.ndarray] = None
  features: Optional[np.ndarray] = None

  def __post_init__(self):
    for field in _FRAME_FIELDS:
      value = getattr(self, field)
      if value is not None:
        object.__setattr__(self, field, _read_only_float32(value))
    object.__setattr__(self, 'fps', float(self.fps))
    object.__setattr__(self, 'weight', float(self.weight))
    _check_clip_structure(self)

  @property
  def kind(self) -> str:
    """'state' (qpos/qvel) or 'features'."""
    return 'features' if self.features is not None else 'state'

  @property
  def num_frames(self) -> int:
    return int(self._frames().shape[0])

  def width(self, field: str) -> int:
    """Number of columns of a frame field of this clip."""
    return int(getattr(self, field).shape[1])

  def _frames(self) -> np.ndarray:
    return self.features if self.features is not None else self.qpos


@dataclasses.dataclass(frozen=True)
class ReferenceMotion:
  """Reference clips of one kind and one frame width, in load order.

  Motions are equal when they hold the same Clip objects.
  """
  clips: Tuple[Clip, ...]

  def __post_init__(self):
    object.__setattr__(self, 'clips', tuple(self.clips))
    _check_motion_structure(self.clips)

  @property
  def kind(self) -> str:
    """'state' (qpos/qvel) or 'features'."""
    return self.clips[0].kind

  @property
  def num_frames(self) -> int:
    return sum(clip.num_frames for clip in self.clips)

  def fields(self) -> Tuple[str, ...]:
    """The frame fields every clip holds."""
    return _STATE_FIELDS if self.kind == 'state' else ('features',)


# ----------------------------------------------------------------- public API


def load_reference(
    paths: Union[PathLike, ReferenceMotion, Sequence[PathLike]]
) -> ReferenceMotion:
  """Loads and validates one reference file or several, in order.

  Args:
    paths: a path, a sequence of paths (their clips are concatenated in
      order), or a ReferenceMotion, which is returned unchanged.

  Returns:
    The clips of all files.

  Raises:
    ValueError: a file is missing or malformed, the files mix state frames
      and features or frame widths, or `paths` is an empty sequence.
    TypeError: `paths` is not a path, a sequence of paths or a motion.
  """
  if isinstance(paths, ReferenceMotion):
    return paths
  sources = _sources(paths)
  clips = []
  for source in sources:
    clips.extend(_load_file(source))
  return ReferenceMotion(tuple(clips))


def save_reference(path: PathLike,
                   *,
                   fps: float,
                   qpos: Optional[np.ndarray] = None,
                   qvel: Optional[np.ndarray] = None,
                   features: Optional[np.ndarray] = None,
                   clip_ids: Optional[np.ndarray] = None,
                   clip_weights: Optional[np.ndarray] = None) -> None:
  """Validates frames with the loader's rules and writes them atomically.

  Frame arrays are written as float32, fps as a float64 scalar and
  clip_weights as float64; clip_ids keep their integer dtype. The archive is
  written to exactly `path` (no `.npz` is appended) through a temporary file
  in the same directory, so readers never see a partial file. Nothing is
  pickled.

  Raises:
    ValueError: the inputs would not make a valid reference file; nothing is
      written then.
    OSError: the file cannot be written (e.g. its directory is missing); an
      existing file at `path` is left as it was.
  """
  source = os.fsdecode(path)
  given = dict(fps=fps, qpos=qpos, qvel=qvel, features=features,
               clip_ids=clip_ids, clip_weights=clip_weights)
  arrays = {key: _as_array(source, key, value)
            for key, value in given.items() if value is not None}
  validated = _validate_arrays(source, arrays)
  _write_npz_atomically(source, validated.arrays)


def resample(motion: ReferenceMotion,
             control_dt: float,
             quaternion_starts: Sequence[int] = ()) -> ReferenceMotion:
  """Resamples every clip to 1 / control_dt frames per second.

  Samples are taken at times k * control_dt for k = 0, 1, ... while inside
  the clip's duration (T - 1) / fps, so the first frame is kept and the last
  one is kept when the duration is a multiple of control_dt. Values are
  interpolated linearly, except the 4-wide quaternion blocks of qpos starting
  at `quaternion_starts`, which use normalised lerp after flipping the later
  quaternion into the earlier one's hemisphere (q and -q are one rotation);
  output quaternions are always unit norm. A clip already at the target rate
  (relative tolerance 1e-6) is returned as is, bitwise and with its own fps.

  Raises:
    ValueError: control_dt is not a finite number > 0, quaternion_starts do
      not fit qpos, a quaternion block has (near) zero norm, or the result
      would exceed MAX_ARRAY_BYTES.
  """
  target_fps = _target_fps(control_dt)
  starts = _quaternion_starts(motion, quaternion_starts)
  clips = tuple(_resample_clip(clip, target_fps, starts)
                for clip in motion.clips)
  return ReferenceMotion(clips)


def validate_for_env(motion: ReferenceMotion, *, nq: Optional[int],
                     nv: Optional[int], feature_size: Optional[int],
                     history_length: int) -> None:
  """Checks the reference fits the environment; call after `resample`.

  State references are checked against nq and nv, feature references against
  feature_size (the other sizes are ignored). Every clip needs at least
  history_length frames.

  Raises:
    ValueError: naming the offending clip's source file.
  """
  history_length = _positive_int('history_length', history_length)
  expected = _expected_widths(motion, nq=nq, nv=nv, feature_size=feature_size)
  for clip in motion.clips:
    _check_clip_widths(clip, expected)
    _check_clip_length(clip, history_length)


def window_starts(motion: ReferenceMotion,
                  history_length: int) -> Tuple[np.ndarray, np.ndarray]:
  """Start frames and sampling probabilities of all in-clip windows.

  Frames are indexed as in `concatenated`. A window is history_length
  consecutive frames of one clip (never crossing a clip boundary). Clip c
  gets total probability weight_c / sum(weights), spread uniformly over its
  windows; clips with weight 0 contribute no windows.

  Returns:
    (starts int32 [N], probabilities float64 [N] summing to 1).

  Raises:
    ValueError: history_length < 1, a weighted clip is shorter than
      history_length, or no weighted clip remains.
  """
  history_length = _positive_int('history_length', history_length)
  _check_int32_frames(motion)
  total_weight = sum(clip.weight for clip in motion.clips)
  if total_weight <= 0:
    raise ValueError('every reference clip has weight 0, so there is nothing '
                     'to sample — give at least one clip a positive weight.')
  offsets = np.cumsum([0] + [clip.num_frames for clip in motion.clips])
  windows = [_clip_windows(clip, int(offset), history_length, total_weight)
             for clip, offset in zip(motion.clips, offsets)
             if clip.weight > 0]
  starts = np.concatenate([clip_starts for clip_starts, _ in windows])
  probabilities = np.concatenate([clip_probs for _, clip_probs in windows])
  # Renormalise away the rounding of the per-clip divisions.
  return starts.astype(np.int32), probabilities / probabilities.sum()


def concatenated(motion: ReferenceMotion, field: str) -> np.ndarray:
  """A frame field of all clips stacked in order: float32 [sum T, D]."""
  if field not in _FRAME_FIELDS:
    raise ValueError(f'unknown frame field {field!r}; expected one of '
                     f'{_FRAME_FIELDS}.')
  if field not in motion.fields():
    raise ValueError(f'field {field!r} is not in a {motion.kind!r} reference '
                     f'(it holds {", ".join(motion.fields())}).')
  return np.concatenate([getattr(clip, field) for clip in motion.clips])


# ----------------------------------------------------------- error messages


def _file_error(source: str, problem: str, fix: str) -> ValueError:
  return ValueError(f'reference file {source!r}: {problem} — {fix}.')


def _field_error(source: str, field: str, problem: str,
                 fix: str) -> ValueError:
  return ValueError(
      f'reference file {source!r}, field {field!r}: {problem} — {fix}.')


def _format_bytes(count: int) -> str:
  if count >= 1024**3 and count % 1024**3 == 0:
    return f'{count // 1024**3} GiB'
  return f'{count} bytes'


# ------------------------------------------------------ reading npz archives


def _sources(paths) -> List[str]:
  """The file names to load, as strings for messages."""
  if isinstance(paths, (str, bytes, os.PathLike)):
    return [os.fsdecode(paths)]
  if not isinstance(paths, Sequence):
    raise TypeError('load_reference expects a path, a sequence of paths or a '
                    f'ReferenceMotion, got {type(paths).__name__}.')
  if not paths:
    raise ValueError('load_reference got an empty list of reference files — '
                     'pass at least one .npz path.')
  for path in paths:
    if not isinstance(path, (str, bytes, os.PathLike)):
      raise TypeError('load_reference expects paths, got an element of type '
                      f'{type(path).__name__}.')
  return [os.fsdecode(path) for path in paths]


def _load_file(source: str) -> Tuple[Clip, ...]:
  arrays = _read_archive(source)
  return _clips_from(source, _validate_arrays(source, arrays))


def _read_archive(source: str) -> Dict[str, np.ndarray]:
  """Reads every member of an npz, checking all headers before any data."""
  _check_regular_file(source)
  try:
    with open(source, 'rb') as file:
      _refuse_common_non_zips(source, file)
      with _open_zip(source, file) as archive:
        members = _members_by_key(source, archive)
        _check_keys(source, members)
        for key, info in members.items():
          _check_member_header(source, key, archive, info)
        return {key: _read_member(source, key, archive, info)
                for key, info in members.items()}
  except OSError as error:
    raise _file_error(source, f'cannot be read ({error})',
                      'check the path and its permissions') from error


def _check_regular_file(source: str) -> None:
  try:
    mode = os.stat(source).st_mode
  except FileNotFoundError as error:
    where = ('' if os.path.isabs(source) else
             f' (relative to the working directory {os.getcwd()!r})')
    raise _file_error(source, 'does not exist',
                      f'check the path{where}') from error
  except OSError as error:
    raise _file_error(source, f'cannot be accessed ({error})',
                      'check the path and its permissions') from error
  if stat.S_ISDIR(mode):
    raise _file_error(source, 'is a directory',
                      'pass the path of an .npz file inside it')
  if not stat.S_ISREG(mode):
    raise _file_error(source, 'is not a regular file',
                      'pass the path of an .npz file')


def _refuse_common_non_zips(source: str, file) -> None:
  """Gives the common wrong formats their own message."""
  head = file.read(len(_NPY_MAGIC))
  file.seek(0)
  if not head:
    raise _file_error(source, 'is empty (0 bytes)',
                      'write it again with save_reference')
  if head == _NPY_MAGIC:
    raise _file_error(source, 'is a single .npy array, not an .npz archive',
                      'save the fields together with save_reference or '
                      'np.savez')


def _open_zip(source: str, file) -> zipfile.ZipFile:
  try:
    return zipfile.ZipFile(file)
  except Exception as error:  # pylint: disable=broad-except
    # Untrusted bytes: whatever zipfile trips on, the file is not an npz.
    raise _file_error(source, f'is not a valid .npz (zip) archive ({error})',
                      'write it with save_reference or np.savez') from error


def _members_by_key(source: str,
                    archive: zipfile.ZipFile) -> Dict[str, zipfile.ZipInfo]:
  """Maps each field name (member name without '.npy') to its member."""
  members = {}
  for info in archive.infolist():
    name = info.filename
    key = name[:-len(_NPY_SUFFIX)] if name.endswith(_NPY_SUFFIX) else name
    if key in members:
      raise _field_error(source, key, 'appears twice in the archive',
                         'write the file again with save_reference')
    members[key] = info
  if not members:
    raise _file_error(source, 'is an empty archive (no arrays)',
                      'save qpos, qvel and fps (or features and fps) in it')
  return members


def _check_member_header(source: str, key: str, archive: zipfile.ZipFile,
                         info: zipfile.ZipInfo) -> None:
  """Checks a member's npy header without reading its data."""
  shape, dtype, header_bytes = _read_member_header(source, key, archive, info)
  _check_dtype(source, key, dtype)
  _check_declared_size(source, key, shape, dtype)
  data_bytes = math.prod(shape) * dtype.itemsize
  if info.file_size != header_bytes + data_bytes:
    raise _field_error(
        source, key,
        f'the header declares shape {shape} of {dtype} ({data_bytes} bytes of '
        f'data) but the member holds {info.file_size - header_bytes} bytes',
        'the file is corrupt or truncated; write it again with '
        'save_reference')


def _read_member_header(
    source: str, key: str, archive: zipfile.ZipFile,
    info: zipfile.ZipInfo) -> Tuple[Tuple[int, ...], np.dtype, int]:
  """Shape, dtype and header length (bytes) from a member's npy header."""
  try:
    with archive.open(info) as member:
      version = npy_format.read_magic(member)
      if version == (1, 0):
        shape, _, dtype = npy_format.read_array_header_1_0(member)
      elif version == (2, 0):
        shape, _, dtype = npy_format.read_array_header_2_0(member)
      else:
        raise ValueError(f'unsupported npy format version {version}')
      header_bytes = member.tell()
  except Exception as error:  # pylint: disable=broad-except
    # Untrusted bytes: any failure to parse the header is a malformed file.
    raise _field_error(source, key,
                       f'is not a readable .npy array member ({error})',
                       'the file is corrupt or not an npz of arrays; write it '
                       'again with save_reference') from error
  if any(size < 0 for size in shape):
    raise _field_error(source, key, f'declares a negative shape {shape}',
                       'write the file again with save_reference')
  return shape, dtype, header_bytes


def _read_member(source: str, key: str, archive: zipfile.ZipFile,
                 info: zipfile.ZipInfo) -> np.ndarray:
  try:
    with archive.open(info) as member:
      array = npy_format.read_array(member, allow_pickle=False)
      # Reading past the end makes zipfile verify the member's CRC.
      trailing = member.read(1)
  except Exception as error:  # pylint: disable=broad-except
    # Untrusted bytes: e.g. a CRC mismatch or a truncated deflate stream.
    raise _field_error(source, key, f'cannot be read ({error})',
                       'the file is corrupt; write it again with '
                       'save_reference') from error
  if trailing:
    raise _field_error(source, key, 'has bytes after the array data',
                       'write the file again with save_reference')
  return array


# ------------------------------------------------ validating field contents


class _ValidatedFile(NamedTuple):
  arrays: Dict[str, np.ndarray]  # canonical dtypes, as save_reference writes
  fps: float
  clip_bounds: List[Tuple[int, int]]  # [start, end) frame ranges
  clip_weights: np.ndarray  # float64 [n_clips]


def _as_array(source: str, key: str, value) -> np.ndarray:
  """A save_reference input as an array; its dtype is checked afterwards."""
  try:
    return np.asarray(value)
  except (ValueError, TypeError) as error:
    raise _field_error(source, key, f'is not an array ({error})',
                       'pass a NumPy array') from error


def _validate_arrays(source: str,
                     arrays: Mapping[str, np.ndarray]) -> _ValidatedFile:
  """Applies every content rule; returns canonical arrays and clip layout."""
  _check_keys(source, arrays)
  for key, array in arrays.items():
    _check_dtype(source, key, array.dtype)
    _check_declared_size(source, key, array.shape, array.dtype)
  fps = _canonical_fps(source, arrays['fps'])
  frames = {field: _canonical_frames(source, field, arrays[field])
            for field in _FRAME_FIELDS if field in arrays}
  num_frames = _common_num_frames(source, frames)
  canonical = dict(frames, fps=np.float64(fps))
  clip_ids = arrays.get('clip_ids')
  if clip_ids is None:
    clip_bounds = [(0, num_frames)]
  else:
    clip_bounds = _clip_bounds(source, clip_ids, num_frames)
    canonical['clip_ids'] = clip_ids
  clip_weights = _canonical_clip_weights(source, arrays.get('clip_weights'),
                                         len(clip_bounds),
                                         has_clip_ids=clip_ids is not None)
  if 'clip_weights' in arrays:
    canonical['clip_weights'] = clip_weights
  return _ValidatedFile(canonical, fps, clip_bounds, clip_weights)


def _check_keys(source: str, keys) -> None:
  """Refuses unknown, missing and ambiguous field sets."""
  keys = set(keys)
  unknown = sorted(keys - set(_ALLOWED_KEYS))
  if unknown:
    raise _field_error(source, unknown[0],
                       f'is not a known field (unknown: {unknown})',
                       f'use only {", ".join(_ALLOWED_KEYS)} (check the '
                       'spelling)')
  if 'features' in keys and keys & set(_STATE_FIELDS):
    raise _field_error(
        source, 'features',
        'is stored together with qpos/qvel, so the file is ambiguous',
        'store either qpos and qvel, or features, not both')
  if 'features' not in keys:
    for field in _STATE_FIELDS:
      if field not in keys:
        raise _field_error(source, field, 'is missing',
                           'store qpos [T, nq] and qvel [T, nv] (state frames) '
                           'or features [T, F]')
  if 'fps' not in keys:
    raise _field_error(source, 'fps', 'is missing',
                       'store the frame rate as a scalar > 0')


def _check_dtype(source: str, key: str, dtype: np.dtype) -> None:
  """Refuses non-numeric dtypes (so object arrays are never unpickled)."""
  allowed = _INTEGER_KINDS if key == 'clip_ids' else _REAL_KINDS
  if dtype.kind in allowed:
    return
  wanted = 'an integer' if key == 'clip_ids' else 'a real float or integer'
  raise _field_error(
      source, key, f'has dtype {dtype}; expected {wanted} array',
      f'store {key} as {wanted} array (object, string, bool, complex, '
      'datetime and structured arrays are refused)')


def _check_declared_size(source: str, key: str, shape: Tuple[int, ...],
                         dtype: np.dtype) -> None:
  # At least 4 bytes per element: frames are converted to float32.
  size = math.prod(shape) * max(dtype.itemsize, 4)
  if size > MAX_ARRAY_BYTES:
    raise _field_error(
        source, key,
        f'declares shape {shape} of {dtype}, {size} bytes in memory, above '
        f'the limit of {_format_bytes(MAX_ARRAY_BYTES)} '
        '(amp_ppo.motion.reference.MAX_ARRAY_BYTES)',
        'split the motion over several files')


def _canonical_fps(source: str, fps: np.ndarray) -> float:
  if fps.shape not in ((), (1,)):
    raise _field_error(source, 'fps',
                       f'expected a scalar, got shape {fps.shape}',
                       'store the frame rate as one number')
  value = float(fps.reshape(()))
  if not (math.isfinite(value) and value > 0):
    raise _field_error(source, 'fps',
                       f'expected a finite number > 0, got {value}',
                       'store the frame rate in frames per second')
  return value


def _canonical_frames(source: str, field: str,
                      frames: np.ndarray) -> np.ndarray:
  """Frames as C-contiguous float32 after checking shape and finiteness."""
  shape = _FRAME_SHAPES[field]
  if frames.ndim != 2:
    raise _field_error(
        source, field,
        f'expected a 2-D float array {shape}, got shape {frames.shape}',
        f'save {field} with one row per frame')
  if frames.shape[0] == 0:
    raise _field_error(source, field,
                       f'holds no frames (shape {frames.shape})',
                       'save at least one frame')
  if frames.shape[1] == 0:
    raise _field_error(source, field,
                       f'has no columns (shape {frames.shape})',
                       f'save {field} as {shape} with at least one column')
  with np.errstate(over='ignore', invalid='ignore'):
    converted = np.ascontiguousarray(frames, dtype=np.float32)
  _check_finite(source, field, frames, converted)
  return converted


def _check_finite(source: str, field: str, original: np.ndarray,
                  converted: np.ndarray) -> None:
  """Checks after the float32 conversion, which overflows e.g. 1e300."""
  finite = np.isfinite(converted)
  if finite.all():
    return
  frame, column = (int(index) for index in np.argwhere(~finite)[0])
  value = original[frame, column]
  reason = 'overflows float32' if np.isfinite(value) else 'is not finite'
  raise _field_error(source, field,
                     f'value {value} at frame {frame}, column {column} '
                     f'{reason}', 'store finite values that fit in float32')


def _common_num_frames(source: str, frames: Mapping[str, np.ndarray]) -> int:
  if 'features' in frames:
    return frames['features'].shape[0]
  num_frames, other = frames['qpos'].shape[0], frames['qvel'].shape[0]
  if num_frames != other:
    raise _field_error(source, 'qvel',
                       f'has {other} frames but qpos has {num_frames}',
                       'store qpos and qvel with one row per frame each')
  return num_frames


def _clip_bounds(source: str, clip_ids: np.ndarray,
                 num_frames: int) -> List[Tuple[int, int]]:
  """[start, end) frame ranges of the clips, refusing non-contiguous ids."""
  if clip_ids.shape != (num_frames,):
    raise _field_error(
        source, 'clip_ids',
        f'expected shape ({num_frames},) (one id per frame), got '
        f'{clip_ids.shape}', 'store one integer clip id per frame')
  run_starts = np.flatnonzero(clip_ids[1:] != clip_ids[:-1]) + 1
  run_starts = np.concatenate([[0], run_starts]).astype(np.int64)
  seen = set()
  for start in run_starts:
    clip_id = clip_ids[start].item()
    if clip_id in seen:
      raise _field_error(
          source, 'clip_ids',
          f'clip id {clip_id} reappears at frame {start} after another clip',
          'store the frames of each clip contiguously')
    seen.add(clip_id)
  ends = np.concatenate([run_starts[1:], [num_frames]])
  return [(int(start), int(end)) for start, end in zip(run_starts, ends)]


def _canonical_clip_weights(source: str, weights: Optional[np.ndarray],
                            num_clips: int, has_clip_ids: bool) -> np.ndarray:
  if weights is None:
    return np.ones(num_clips, np.float64)
  if weights.shape != (num_clips,):
    layout = (f'{num_clips} clips in clip_ids' if has_clip_ids else
              'one clip (there are no clip_ids)')
    raise _field_error(
        source, 'clip_weights',
        f'expected shape ({num_clips},) for {layout}, got {weights.shape}',
        'store one weight per clip, in order of first appearance')
  weights = weights.astype(np.float64)
  for bad, problem in ((~np.isfinite(weights), 'is not finite'),
                       (weights < 0, 'is negative')):
    if bad.any():
      index = int(np.flatnonzero(bad)[0])
      raise _field_error(source, 'clip_weights',
                         f'weight {weights[index]} of clip {index} {problem}',
                         'store finite weights >= 0')
  if not (weights > 0).any():
    raise _field_error(source, 'clip_weights', 'are all 0',
                       'give at least one clip a positive weight')
  return weights


def _clips_from(source: str, validated: _ValidatedFile) -> Tuple[Clip, ...]:
  fields = [f for f in _FRAME_FIELDS if f in validated.arrays]
  several = len(validated.clip_bounds) > 1
  clips = []
  for index, (start, end) in enumerate(validated.clip_bounds):
    frames = {f: validated.arrays[f][start:end] for f in fields}
    clips.append(Clip(source=f'{source}[clip {index}]' if several else source,
                      fps=validated.fps,
                      weight=float(validated.clip_weights[index]),
                      **frames))
  return tuple(clips)


# -------------------------------------------------------------- writing npz


def _write_npz_atomically(path: str, arrays: Mapping[str, np.ndarray]) -> None:
  """Writes an uncompressed npz via a same-directory temp file + rename."""
  atomic_file.atomic_write(path, lambda file: _write_npz(file, arrays))


def _write_npz(file, arrays: Mapping[str, np.ndarray]) -> None:
  """The layout np.savez writes, with pickling disabled outright."""
  with zipfile.ZipFile(file, mode='w', compression=zipfile.ZIP_STORED) as zf:
    for key, array in arrays.items():
      with zf.open(key + _NPY_SUFFIX, mode='w', force_zip64=True) as member:
        npy_format.write_array(member, np.asanyarray(array),
                               allow_pickle=False)


# ---------------------------------------------------- clip/motion invariants


def _read_only_float32(array) -> np.ndarray:
  # A fresh view, so freezing it leaves the caller's array writable.
  view = np.asarray(array, dtype=np.float32).view()
  view.flags.writeable = False
  return view


def _check_clip_structure(clip: Clip) -> None:
  """Cheap structural checks (content was checked when loading)."""
  present = tuple(f for f in _FRAME_FIELDS if getattr(clip, f) is not None)
  if present not in (_STATE_FIELDS, ('features',)):
    raise ValueError(f'clip {clip.source!r}: holds {present or "no frames"}; '
                     'expected qpos and qvel, or features alone.')
  for field in present:
    frames = getattr(clip, field)
    if frames.ndim != 2 or 0 in frames.shape:
      raise ValueError(
          f'clip {clip.source!r}: field {field!r} expected a non-empty '
          f'{_FRAME_SHAPES[field]} array, got shape {frames.shape}.')
  if len({getattr(clip, f).shape[0] for f in present}) != 1:
    raise ValueError(f'clip {clip.source!r}: qpos and qvel have different '
                     'numbers of frames.')
  if not (math.isfinite(clip.fps) and clip.fps > 0):
    raise ValueError(f'clip {clip.source!r}: fps must be finite and > 0, '
                     f'got {clip.fps}.')
  if not (math.isfinite(clip.weight) and clip.weight >= 0):
    raise ValueError(f'clip {clip.source!r}: weight must be finite and >= 0, '
                     f'got {clip.weight}.')


def _check_motion_structure(clips: Tuple[Clip, ...]) -> None:
  """One kind and one width per field across all clips (and files)."""
  if not clips:
    raise ValueError('a ReferenceMotion needs at least one clip.')
  for clip in clips:
    if not isinstance(clip, Clip):
      raise TypeError(f'ReferenceMotion clips must be Clip, got '
                      f'{type(clip).__name__}.')
  first = clips[0]
  for clip in clips[1:]:
    if clip.kind != first.kind:
      raise ValueError(
          f'reference clips mix kinds: {first.source!r} holds {first.kind} '
          f'frames but {clip.source!r} holds {clip.kind} frames — use state '
          'frames (qpos/qvel) in every file, or features in every file.')
    for field in _FRAME_FIELDS:
      if getattr(clip, field) is None:
        continue
      if clip.width(field) != first.width(field):
        raise ValueError(
            f'reference clips disagree on the width of {field!r}: '
            f'{first.source!r} has {first.width(field)} columns but '
            f'{clip.source!r} has {clip.width(field)} — record every file '
            'with the same model.')


# ------------------------------------------------------------- resampling


def _target_fps(control_dt: float) -> float:
  try:
    control_dt = float(control_dt)
  except (TypeError, ValueError) as error:
    raise ValueError(f'control_dt must be a number, got {control_dt!r}.'
                    ) from error
  if not (math.isfinite(control_dt) and control_dt > 0):
    raise ValueError(f'control_dt must be finite and > 0, got {control_dt}.')
  return 1.0 / control_dt


def _quaternion_starts(motion: ReferenceMotion,
                       quaternion_starts: Sequence[int]) -> Tuple[int, ...]:
  """Sorted, checked quaternion block starts (each block qpos[:, s:s+4])."""
  starts = tuple(sorted(operator.index(s) for s in quaternion_starts))
  if not starts:
    return starts
  if motion.kind != 'state':
    raise ValueError('quaternion_starts only apply to state references '
                     '(qpos); this reference holds features — pass ().')
  first = motion.clips[0]
  nq = first.width('qpos')
  for previous, start in zip((None,) + starts, starts):
    if start < 0 or start + 4 > nq:
      # Usually a reference recorded with another model than the env's.
      raise ValueError(
          f"reference file {first.source!r}, field 'qpos': quaternion block "
          f'qpos[:, {start}:{start + 4}] (quaternion_starts) does not fit in '
          f'its {nq} columns — record the reference with the environment\'s '
          'model.')
    if previous is not None and start < previous + 4:
      raise ValueError(f'quaternion_starts: blocks starting at {previous} and '
                       f'{start} overlap; each quaternion is 4 columns wide.')
  return starts


def _resample_clip(clip: Clip, target_fps: float,
                   quaternion_starts: Tuple[int, ...]) -> Clip:
  if math.isclose(clip.fps, target_fps, rel_tol=_SAME_FPS_RTOL, abs_tol=0):
    return clip
  _check_quaternion_norms(clip, quaternion_starts)
  positions = _sample_positions(clip, target_fps)
  lower, upper, fraction = _bracketing_frames(positions, clip.num_frames)
  resampled = {}
  for field in _FRAME_FIELDS:
    frames = getattr(clip, field)
    if frames is None:
      continue
    starts = quaternion_starts if field == 'qpos' else ()
    resampled[field] = _interpolate(frames, lower, upper, fraction, starts)
  return dataclasses.replace(clip, fps=target_fps, **resampled)


def _check_quaternion_norms(clip: Clip, starts: Tuple[int, ...]) -> None:
  for start in starts:
    norms = np.linalg.norm(clip.qpos[:, start:start + 4], axis=1)
    bad = np.flatnonzero(~(norms >= _MIN_QUATERNION_NORM))
    if bad.size:
      raise ValueError(
          f"reference file {clip.source!r}, field 'qpos': quaternion block "
          f'qpos[:, {start}:{start + 4}] has norm {norms[bad[0]]} at frame '
          f'{bad[0]}, which is not a rotation — check quaternion_starts and '
          "that the reference was recorded with the environment's model.")


def _sample_positions(clip: Clip, target_fps: float) -> np.ndarray:
  """Sample times k / target_fps, in (fractional) source frames."""
  step = clip.fps / target_fps  # source frames per output frame
  last = clip.num_frames - 1
  steps = last / step + _STEP_TOLERANCE  # may be inf for absurd rates
  widest = max(clip.width(f) for f in _FRAME_FIELDS
               if getattr(clip, f) is not None)
  if (steps + 1) * widest * 4 > MAX_ARRAY_BYTES:
    raise ValueError(
        f'reference file {clip.source!r}: resampling {clip.num_frames} frames '
        f'from {clip.fps} to {target_fps} fps gives about {steps + 1:.3g} '
        f'frames, above MAX_ARRAY_BYTES ({_format_bytes(MAX_ARRAY_BYTES)}) — '
        'check fps and control_dt.')
  count = math.floor(steps) + 1
  positions = np.arange(count, dtype=np.float64) * step
  nearest = np.rint(positions)
  positions = np.where(np.abs(positions - nearest) <= _SNAP_TOLERANCE,
                       nearest, positions)
  return np.minimum(positions, last)


def _bracketing_frames(
    positions: np.ndarray,
    num_frames: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Frames either side of each position and the fraction between them."""
  lower = np.floor(positions).astype(np.int64)
  upper = np.minimum(lower + 1, num_frames - 1)
  return lower, upper, positions - lower


def _interpolate(frames: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                 fraction: np.ndarray,
                 quaternion_starts: Tuple[int, ...]) -> np.ndarray:
  start_frames = frames[lower].astype(np.float64)
  end_frames = frames[upper].astype(np.float64)
  weight = fraction[:, None]
  for start in quaternion_starts:
    block = slice(start, start + 4)
    end_frames[:, block] = _same_hemisphere(start_frames[:, block],
                                            end_frames[:, block])
  result = start_frames + (end_frames - start_frames) * weight
  for start in quaternion_starts:
    block = slice(start, start + 4)
    result[:, block] /= np.linalg.norm(result[:, block], axis=1,
                                       keepdims=True)
  return result.astype(np.float32)


def _same_hemisphere(reference: np.ndarray,
                     quaternions: np.ndarray) -> np.ndarray:
  """Flips quaternions onto the reference's side: q and -q are one rotation."""
  dots = np.sum(reference * quaternions, axis=1, keepdims=True)
  return np.where(dots < 0, -quaternions, quaternions)


# -------------------------------------------------- environment compatibility


def _positive_int(name: str, value) -> int:
  try:
    value = operator.index(value)
  except TypeError as error:
    raise ValueError(f'{name} must be an integer, got {value!r}.') from error
  if value < 1:
    raise ValueError(f'{name} must be >= 1, got {value}.')
  return value


def _expected_widths(motion: ReferenceMotion, *, nq: Optional[int],
                     nv: Optional[int],
                     feature_size: Optional[int]) -> Dict[str, int]:
  """Width per frame field that the environment requires."""
  if motion.kind == 'state':
    if nq is None or nv is None:
      raise ValueError(
          f'reference {motion.clips[0].source!r} holds state frames '
          '(qpos/qvel) but the environment gave no nq/nv — use a state '
          'reference only with an environment that exposes qpos and qvel, or '
          'save AMP features instead.')
    return {'qpos': nq, 'qvel': nv}
  if feature_size is None:
    raise ValueError(
        f'reference {motion.clips[0].source!r} holds features but the '
        'environment gave no feature_size — use a feature reference only '
        'with an AMP feature function, or save qpos/qvel instead.')
  return {'features': feature_size}


def _check_clip_widths(clip: Clip, expected: Mapping[str, int]) -> None:
  for field, width in expected.items():
    if clip.width(field) != width:
      raise ValueError(
          f'reference file {clip.source!r}, field {field!r}: has '
          f'{clip.width(field)} columns but the environment needs {width} — '
          'record the reference with the same model (or feature function) as '
          'the environment.')


def _check_clip_length(clip: Clip, history_length: int) -> None:
  if clip.num_frames < history_length:
    raise ValueError(
        f'reference file {clip.source!r}: clip has {clip.num_frames} frames '
        f'at {clip.fps:g} fps, fewer than history_length={history_length} — '
        'use a longer clip or a shorter history.')


def _clip_windows(clip: Clip, offset: int, history_length: int,
                  total_weight: float) -> Tuple[np.ndarray, np.ndarray]:
  """Global starts of a clip's windows and their (uniform) probabilities."""
  _check_clip_length(clip, history_length)
  count = clip.num_frames - history_length + 1
  starts = offset + np.arange(count, dtype=np.int64)
  return starts, np.full(count, clip.weight / total_weight / count)


def _check_int32_frames(motion: ReferenceMotion) -> None:
  if motion.num_frames > np.iinfo(np.int32).max:
    raise ValueError(f'the reference has {motion.num_frames} frames, more '
                     'than int32 window starts can index — use fewer frames.')
