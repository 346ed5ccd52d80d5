"""amp_ppo's reference file format: safe loading and atomic saving.

A reference file is an `.npz` archive holding either state frames

  qpos [T, nq], qvel [T, nv], fps (scalar > 0)

or precomputed discriminator features

  features [T, F], fps (scalar > 0)

plus, optionally, `clip_ids` [T] (integers; the frames of one clip are
contiguous and clips are ordered by first appearance), `clip_weights`
[n_clips] (finite, >= 0, not all 0; one per clip in order of appearance,
default 1.0 each) and `clip_loops` [n_clips] (integers, one per clip in that
order: how the clip loops, as `clips.loop_code` writes it; default 0, does
not loop). Without `clip_ids` the whole file is one clip.

The format has no version number: a new field is optional and its absence
means what files before it meant, so older files load unchanged
(`clip_loops` is the newest). Unknown fields are refused, so a version
before a field refuses files holding it; save_reference writes an optional
field only when it is passed, and `mocap convert` passes `clip_loops` only
for a looping take.

Frame arrays (and fps) may be stored as any real float or integer dtype; they
are converted to float32 (fps to a Python float), and every value must be
finite after that conversion.

Files are untrusted input: nothing is ever unpickled. Each member's npy header
is read and checked (dtype, declared size, byte count) before any array data
is read, and data is read with `allow_pickle=False`. Every malformed file
raises ValueError naming the file, the field and the fix.
"""

import math
import os
import stat
from typing import (Dict, List, Mapping, NamedTuple, Optional, Sequence,
                    Tuple, Union)
import zipfile

import numpy as np
from numpy.lib import format as npy_format

from amp_ppo import atomic_file
from amp_ppo.motion import clips

_ALLOWED_KEYS = ('qpos', 'qvel', 'features', 'fps', 'clip_ids',
                 'clip_weights', 'clip_loops')
_INTEGER_FIELDS = ('clip_ids', 'clip_loops')
_REAL_KINDS = frozenset('fiu')
_INTEGER_KINDS = frozenset('iu')
_NPY_SUFFIX = '.npy'
_NPY_MAGIC = b'\x93NUMPY'

PathLike = Union[str, os.PathLike]


def load_reference(
    paths: Union[PathLike, clips.ReferenceMotion, Sequence[PathLike]]
) -> clips.ReferenceMotion:
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
  if isinstance(paths, clips.ReferenceMotion):
    return paths
  loaded = []
  for source in _sources(paths):
    validated = _validate_arrays(source, _read_archive(source))
    loaded.extend(_clips_from(source, validated))
  return clips.ReferenceMotion(tuple(loaded))


def save_reference(path: PathLike,
                   *,
                   fps: float,
                   qpos: Optional[np.ndarray] = None,
                   qvel: Optional[np.ndarray] = None,
                   features: Optional[np.ndarray] = None,
                   clip_ids: Optional[np.ndarray] = None,
                   clip_weights: Optional[np.ndarray] = None,
                   clip_loops: Optional[np.ndarray] = None) -> None:
  """Validates frames with the loader's rules and writes them atomically.

  Frame arrays are written as float32, fps as a float64 scalar,
  clip_weights as float64 and clip_loops as uint8; clip_ids keep their
  integer dtype. `clip_loops` holds `clips.loop_code(loop)` of each clip,
  e.g. `[motion_lib.loop_code(motion_lib.Loop())]`. The archive is
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
               clip_ids=clip_ids, clip_weights=clip_weights,
               clip_loops=clip_loops)
  arrays = {key: _as_array(source, key, value)
            for key, value in given.items() if value is not None}
  validated = _validate_arrays(source, arrays)
  atomic_file.atomic_write(source,
                           lambda file: _write_npz(file, validated.arrays))


# ----------------------------------------------------------- error messages


def _file_error(source: str, problem: str, fix: str) -> ValueError:
  return ValueError(f'reference file {source!r}: {problem} — {fix}.')


def _field_error(source: str, field: str, problem: str,
                 fix: str) -> ValueError:
  return ValueError(
      f'reference file {source!r}, field {field!r}: {problem} — {fix}.')


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
  clip_loops: Tuple[Optional[clips.Loop], ...]  # one per clip


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
            for field in clips.FRAME_FIELDS if field in arrays}
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
  loop_codes = _canonical_clip_loops(source, arrays.get('clip_loops'),
                                     len(clip_bounds),
                                     has_clip_ids=clip_ids is not None)
  if 'clip_loops' in arrays:
    canonical['clip_loops'] = loop_codes
  loops = tuple(clips.loop_from_code(int(code)) for code in loop_codes)
  return _ValidatedFile(canonical, fps, clip_bounds, clip_weights, loops)


def _check_keys(source: str, keys) -> None:
  """Refuses unknown, missing and ambiguous field sets."""
  keys = set(keys)
  unknown = sorted(keys - set(_ALLOWED_KEYS))
  if unknown:
    raise _field_error(source, unknown[0],
                       f'is not a known field (unknown: {unknown})',
                       f'use only {", ".join(_ALLOWED_KEYS)} (check the '
                       'spelling)')
  if 'features' in keys and keys & set(clips.STATE_FIELDS):
    raise _field_error(
        source, 'features',
        'is stored together with qpos/qvel, so the file is ambiguous',
        'store either qpos and qvel, or features, not both')
  if 'features' not in keys:
    for field in clips.STATE_FIELDS:
      if field not in keys:
        raise _field_error(source, field, 'is missing',
                           'store qpos [T, nq] and qvel [T, nv] (state frames) '
                           'or features [T, F]')
  if 'fps' not in keys:
    raise _field_error(source, 'fps', 'is missing',
                       'store the frame rate as a scalar > 0')


def _check_dtype(source: str, key: str, dtype: np.dtype) -> None:
  """Refuses non-numeric dtypes (so object arrays are never unpickled)."""
  integer = key in _INTEGER_FIELDS
  allowed = _INTEGER_KINDS if integer else _REAL_KINDS
  if dtype.kind in allowed:
    return
  wanted = 'an integer' if integer else 'a real float or integer'
  raise _field_error(
      source, key, f'has dtype {dtype}; expected {wanted} array',
      f'store {key} as {wanted} array (object, string, bool, complex, '
      'datetime and structured arrays are refused)')


def _check_declared_size(source: str, key: str, shape: Tuple[int, ...],
                         dtype: np.dtype) -> None:
  # At least 4 bytes per element: frames are converted to float32.
  size = math.prod(shape) * max(dtype.itemsize, 4)
  if size > clips.MAX_ARRAY_BYTES:
    raise _field_error(
        source, key,
        f'declares shape {shape} of {dtype}, {size} bytes in memory, above '
        f'the limit of {clips.max_array_bytes_text()} '
        '(amp_ppo.motion.clips.MAX_ARRAY_BYTES)',
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
  shape = clips.FRAME_SHAPES[field]
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


def _check_one_per_clip(source: str, field: str, what: str,
                        values: np.ndarray, num_clips: int,
                        has_clip_ids: bool) -> None:
  if values.shape != (num_clips,):
    layout = (f'{num_clips} clips in clip_ids' if has_clip_ids else
              'one clip (there are no clip_ids)')
    raise _field_error(
        source, field,
        f'expected shape ({num_clips},) for {layout}, got {values.shape}',
        f'store one {what} per clip, in order of first appearance')


def _canonical_clip_weights(source: str, weights: Optional[np.ndarray],
                            num_clips: int, has_clip_ids: bool) -> np.ndarray:
  if weights is None:
    return np.ones(num_clips, np.float64)
  _check_one_per_clip(source, 'clip_weights', 'weight', weights, num_clips,
                      has_clip_ids)
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


def _canonical_clip_loops(source: str, codes: Optional[np.ndarray],
                          num_clips: int, has_clip_ids: bool) -> np.ndarray:
  if codes is None:
    return np.zeros(num_clips, np.uint8)
  _check_one_per_clip(source, 'clip_loops', 'loop code', codes, num_clips,
                      has_clip_ids)
  bad = np.flatnonzero(~np.isin(codes, clips.LOOP_CODES))
  if bad.size:
    index = int(bad[0])
    raise _field_error(
        source, 'clip_loops',
        f'value {codes[index]} of clip {index} is not a loop code',
        f'store one of {clips.LOOP_CODES} per clip: 0 does not loop, 1 loops '
        'in place, 3 moves each cycle on by the root\'s ground translation '
        '(motion_imitation\'s "Wrap"), 5 and 7 also turn it by the root\'s '
        'change of heading (amp_ppo.motion.loop_code writes them)')
  return codes.astype(np.uint8)


def _clips_from(source: str,
                validated: _ValidatedFile) -> Tuple[clips.Clip, ...]:
  fields = [f for f in clips.FRAME_FIELDS if f in validated.arrays]
  several = len(validated.clip_bounds) > 1
  return tuple(
      clips.Clip(source=f'{source}[clip {index}]' if several else source,
                 fps=validated.fps,
                 weight=float(validated.clip_weights[index]),
                 loop=validated.clip_loops[index],
                 **{f: validated.arrays[f][start:end] for f in fields})
      for index, (start, end) in enumerate(validated.clip_bounds))


# -------------------------------------------------------------- writing npz


def _write_npz(file, arrays: Mapping[str, np.ndarray]) -> None:
  """The layout np.savez writes, with pickling disabled outright."""
  with zipfile.ZipFile(file, mode='w', compression=zipfile.ZIP_STORED) as zf:
    for key, array in arrays.items():
      with zf.open(key + _NPY_SUFFIX, mode='w', force_zip64=True) as member:
        npy_format.write_array(member, np.asanyarray(array),
                               allow_pickle=False)
