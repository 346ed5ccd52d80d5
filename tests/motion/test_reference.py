"""Tests for amp_ppo.motion.reference: file format, validation, resampling, windows."""

import datetime
import io
import math
import os
import pathlib
import tracemalloc
from typing import Mapping, Sequence, Tuple, Union
import warnings
import zipfile

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import hypothesis.extra.numpy as hnp
import numpy as np
from numpy.lib import format as npy_format
import pytest

from amp_ppo.motion import reference

# Reproducible in CI, fast on a slow shared machine, no example database
# written into the work tree.
_PROPERTY = settings(derandomize=True, database=None, max_examples=100,
                     deadline=datetime.timedelta(seconds=3))
_FUZZ = settings(_PROPERTY, max_examples=150)

Member = Union[np.ndarray, bytes]

# ------------------------------------------------------------------ helpers


def _npy_bytes(array: np.ndarray) -> bytes:
  """An .npy member; pickling is allowed here, on write only, for tests."""
  buffer = io.BytesIO()
  npy_format.write_array(buffer, array, allow_pickle=True)
  return buffer.getvalue()


def _npy_with_header(shape, dtype, data: bytes = b'') -> bytes:
  """An .npy member whose header declares `shape` whatever data follows."""
  buffer = io.BytesIO()
  npy_format.write_array_header_1_0(
      buffer, {'descr': npy_format.dtype_to_descr(np.dtype(dtype)),
               'fortran_order': False, 'shape': shape})
  return buffer.getvalue() + data


def _zip_bytes(members: Sequence[Tuple[str, Member]],
               compression: int = zipfile.ZIP_STORED) -> bytes:
  """An npz: arrays become 'key.npy' members, bytes are stored as named."""
  buffer = io.BytesIO()
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')  # duplicate member names, on purpose
    with zipfile.ZipFile(buffer, 'w', compression=compression) as archive:
      for name, member in members:
        if isinstance(member, bytes):
          archive.writestr(name, member)
        else:
          archive.writestr(name + '.npy', _npy_bytes(np.asarray(member)))
  return buffer.getvalue()


def _write_npz(path: pathlib.Path, members: Mapping[str, Member]) -> None:
  path.write_bytes(_zip_bytes(list(members.items())))


def _state_arrays(num_frames: int = 6) -> dict:
  rng = np.random.default_rng(0)
  return dict(qpos=rng.normal(size=(num_frames, 7)).astype(np.float32),
              qvel=rng.normal(size=(num_frames, 6)).astype(np.float32),
              fps=np.float64(30.0))


def _features_arrays(num_frames: int = 6) -> dict:
  rng = np.random.default_rng(1)
  return dict(features=rng.normal(size=(num_frames, 5)).astype(np.float32),
              fps=np.float64(60.0))


def _load_error(path) -> str:
  with pytest.raises(ValueError) as error:
    reference.load_reference(path)
  return str(error.value)


def _clip(num_frames: int, weight: float = 1.0, fps: float = 30.0,
          source: str = 'clip.npz') -> reference.Clip:
  frames = np.arange(num_frames, dtype=np.float32).reshape(-1, 1)
  return reference.Clip(source=source, fps=fps, weight=weight,
                        features=frames)


@pytest.fixture(scope='module')
def scratch(tmp_path_factory) -> pathlib.Path:
  """A directory shared by the examples of hypothesis tests."""
  return tmp_path_factory.mktemp('reference_scratch')


def _load_or_value_error(path) -> None:
  """Loads; only success or ValueError are acceptable outcomes."""
  try:
    motion = reference.load_reference(path)
  except ValueError:
    return
  assert motion.num_frames >= 1


# --------------------------------------------------------------- round trips


def test_state_round_trip_with_clips_and_weights(tmp_path):
  arrays = _state_arrays(9)
  path = tmp_path / 'walk.npz'
  reference.save_reference(path, fps=30, qpos=arrays['qpos'],
                           qvel=arrays['qvel'],
                           clip_ids=np.array([7, 7, 7, 2, 2, 2, 2, 5, 5]),
                           clip_weights=np.array([1.0, 0.0, 3.0]))
  motion = reference.load_reference(path)

  assert motion.kind == 'state'
  assert motion.num_frames == 9
  assert [clip.num_frames for clip in motion.clips] == [3, 4, 2]
  assert [clip.weight for clip in motion.clips] == [1.0, 0.0, 3.0]
  assert [clip.source for clip in motion.clips] == [
      f'{path}[clip {index}]' for index in range(3)]
  assert all(clip.fps == 30.0 for clip in motion.clips)
  np.testing.assert_array_equal(reference.concatenated(motion, 'qpos'),
                                arrays['qpos'])
  np.testing.assert_array_equal(reference.concatenated(motion, 'qvel'),
                                arrays['qvel'])
  assert reference.concatenated(motion, 'qpos').dtype == np.float32


def test_features_round_trip_single_clip(tmp_path):
  arrays = _features_arrays()
  path = tmp_path / 'features.npz'
  reference.save_reference(path, fps=arrays['fps'],
                           features=arrays['features'])
  motion = reference.load_reference(str(path))

  assert motion.kind == 'features'
  (clip,) = motion.clips
  assert clip.source == str(path)
  assert clip.weight == 1.0 and clip.fps == 60.0
  assert clip.qpos is None and clip.qvel is None
  np.testing.assert_array_equal(clip.features, arrays['features'])


def test_multiple_files_concatenate_in_order(tmp_path):
  first, second = tmp_path / 'a.npz', tmp_path / 'b.npz'
  reference.save_reference(first, fps=30, features=np.zeros((3, 2)))
  reference.save_reference(second, fps=50, features=np.ones((4, 2)),
                           clip_ids=[1, 1, 0, 0], clip_weights=[2, 1])
  motion = reference.load_reference([first, str(second)])

  assert [clip.source for clip in motion.clips] == [
      str(first), f'{second}[clip 0]', f'{second}[clip 1]']
  assert [clip.fps for clip in motion.clips] == [30.0, 50.0, 50.0]
  assert [clip.weight for clip in motion.clips] == [1.0, 2.0, 1.0]
  assert reference.concatenated(motion, 'features').shape == (7, 2)


def test_motion_passes_through_unchanged():
  motion = reference.ReferenceMotion((_clip(3),))
  assert reference.load_reference(motion) is motion


def test_integer_and_float64_frames_become_float32(tmp_path):
  path = tmp_path / 'ints.npz'
  _write_npz(path, dict(qpos=np.arange(6, dtype=np.int16).reshape(3, 2),
                        qvel=np.full((3, 1), 0.1, np.float64),
                        fps=np.array([25], np.uint8)))
  (clip,) = reference.load_reference(path).clips
  assert clip.qpos.dtype == clip.qvel.dtype == np.float32
  np.testing.assert_array_equal(clip.qpos, [[0, 1], [2, 3], [4, 5]])
  np.testing.assert_array_equal(clip.qvel, np.float32(0.1))
  assert clip.fps == 25.0


def test_loads_files_written_by_numpy(tmp_path):
  arrays = _state_arrays()
  plain, compressed = tmp_path / 'plain.npz', tmp_path / 'compressed.npz'
  np.savez(plain, **arrays)
  np.savez_compressed(compressed, qpos=np.asfortranarray(arrays['qpos']),
                      qvel=arrays['qvel'], fps=arrays['fps'])
  for path in (plain, compressed):
    (clip,) = reference.load_reference(path).clips
    np.testing.assert_array_equal(clip.qpos, arrays['qpos'])


def test_loaded_frames_are_read_only(tmp_path):
  path = tmp_path / 'walk.npz'
  reference.save_reference(path, **_state_arrays())
  (clip,) = reference.load_reference(path).clips
  with pytest.raises(ValueError):
    clip.qpos[0, 0] = 1.0


def test_clip_does_not_freeze_the_callers_array():
  frames = np.zeros((3, 2), np.float32)
  reference.Clip(source='x', fps=30, weight=1, features=frames)
  frames[0, 0] = 1.0  # still writable


def test_save_writes_exactly_the_path_and_leaves_no_temp_file(tmp_path):
  path = tmp_path / 'no_suffix'
  reference.save_reference(path, **_state_arrays())
  assert sorted(os.listdir(tmp_path)) == ['no_suffix']
  assert reference.load_reference(path).num_frames == 6


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
  path = tmp_path / 'walk.npz'
  reference.save_reference(path, **_state_arrays())
  before = path.read_bytes()

  def fail_midway(file, arrays):
    del arrays
    file.write(b'PK partial')
    raise OSError('disk full')

  monkeypatch.setattr(reference, '_write_npz', fail_midway)
  with pytest.raises(OSError, match='disk full'):
    reference.save_reference(path, **_features_arrays())
  assert path.read_bytes() == before
  assert os.listdir(tmp_path) == ['walk.npz']


# --------------------------------------------------- malformed files: cases


def _valid_state_members() -> dict:
  return dict(_state_arrays())


def _with(**changes) -> dict:
  """Valid state members with some replaced (None removes a member)."""
  members = _valid_state_members()
  for key, value in changes.items():
    if value is None:
      members.pop(key)
    else:
      members[key] = value
  return members


_OBJECT_QPOS = np.empty((6, 7), dtype=object)
_OBJECT_QPOS[...] = 1.0
_STRUCTURED = np.zeros((6, 7), dtype=[('a', '<f4'), ('b', '<i4')])
_FIELD_CASES = {
    'missing_qvel': ('qvel', _with(qvel=None)),
    'missing_qpos': ('qpos', _with(qpos=None)),
    'missing_fps': ('fps', _with(fps=None)),
    'missing_frames': ('qpos', _with(qpos=None, qvel=None)),
    'unknown_key': ('qpso', _with(qpso=np.zeros((6, 7)))),
    'ambiguous': ('features', _with(features=np.zeros((6, 3)))),
    'rank_1': ('qpos', _with(qpos=np.zeros(3))),
    'rank_3': ('qvel', _with(qvel=np.zeros((6, 2, 3)))),
    'no_frames': ('qpos', _with(qpos=np.zeros((0, 7)), qvel=np.zeros((0, 6)))),
    'no_columns': ('qvel', _with(qvel=np.zeros((6, 0)))),
    'object': ('qpos', _with(qpos=_OBJECT_QPOS)),
    'unicode': ('qpos', _with(qpos=np.full((6, 7), 'a'))),
    'bytes': ('qvel', _with(qvel=np.full((6, 6), b'a'))),
    'bool': ('qpos', _with(qpos=np.zeros((6, 7), bool))),
    'complex': ('qvel', _with(qvel=np.zeros((6, 6), np.complex64))),
    'structured': ('qpos', _with(qpos=_STRUCTURED)),
    'datetime': ('qpos', _with(qpos=np.zeros((6, 7), 'datetime64[s]'))),
    'nan': ('qpos', _with(qpos=np.where(np.eye(6, 7), np.nan, 0.0))),
    'inf': ('qvel', _with(qvel=np.full((6, 6), -np.inf))),
    'float32_overflow': ('qpos', _with(qpos=np.full((6, 7), 1e300))),
    'frame_mismatch': ('qvel', _with(qvel=np.zeros((5, 6)))),
    'fps_vector': ('fps', _with(fps=np.array([30.0, 30.0]))),
    'fps_zero': ('fps', _with(fps=np.float64(0.0))),
    'fps_negative': ('fps', _with(fps=np.array([-30.0]))),
    'fps_nan': ('fps', _with(fps=np.float64(np.nan))),
    'fps_inf': ('fps', _with(fps=np.float64(np.inf))),
    'fps_string': ('fps', _with(fps=np.array('30'))),
    'fps_bool': ('fps', _with(fps=np.array(True))),
    'clip_ids_short': ('clip_ids', _with(clip_ids=np.zeros(5, int))),
    'clip_ids_2d': ('clip_ids', _with(clip_ids=np.zeros((6, 1), int))),
    'clip_ids_float': ('clip_ids', _with(clip_ids=np.zeros(6))),
    'clip_ids_bool': ('clip_ids', _with(clip_ids=np.zeros(6, bool))),
    'clip_ids_split': ('clip_ids',
                       _with(clip_ids=np.array([0, 0, 1, 1, 0, 0]))),
    'weights_length': ('clip_weights',
                       _with(clip_ids=np.array([0, 0, 0, 1, 1, 1]),
                             clip_weights=np.ones(3))),
    'weights_without_ids': ('clip_weights', _with(clip_weights=np.ones(2))),
    'weights_scalar': ('clip_weights', _with(clip_weights=np.float64(1.0))),
    'weights_negative': ('clip_weights',
                         _with(clip_ids=np.array([0, 0, 0, 1, 1, 1]),
                               clip_weights=np.array([1.0, -1.0]))),
    'weights_nan': ('clip_weights', _with(clip_weights=np.array([np.nan]))),
    'weights_inf': ('clip_weights', _with(clip_weights=np.array([np.inf]))),
    'weights_zero': ('clip_weights',
                     _with(clip_ids=np.array([0, 0, 0, 1, 1, 1]),
                           clip_weights=np.zeros(2))),
    'weights_complex': ('clip_weights',
                        _with(clip_weights=np.ones(1, np.complex128))),
    'huge_declared_shape': ('qpos', _with(
        **{'qpos': None, 'qpos.npy': _npy_with_header((10**12, 100), '<f4')})),
    'declared_bytes_mismatch': ('qvel', _with(**{
        'qvel': None,
        'qvel.npy': _npy_with_header((6, 6), '<f4', b'\0' * 4 * 30)})),
    'negative_shape': ('qpos', _with(**{
        'qpos': None, 'qpos.npy': _npy_with_header((-6, 7), '<f4')})),
    'not_npy_member': ('qpos', _with(**{
        'qpos': None, 'qpos.npy': b'just text'})),
    'npy_version_3': ('qpos', _with(**{
        'qpos': None,
        'qpos.npy': b'\x93NUMPY\x03\x00' + _npy_bytes(np.zeros((6, 7)))[8:]})),
}


@pytest.mark.parametrize('case', sorted(_FIELD_CASES))
def test_malformed_field_raises_value_error_naming_file_and_field(
    case, tmp_path):
  field, members = _FIELD_CASES[case]
  path = tmp_path / f'{case}.npz'
  _write_npz(path, members)
  message = _load_error(path)
  assert f'{case}.npz' in message
  assert f"field '{field}'" in message


def test_duplicate_member_names_are_refused(tmp_path):
  path = tmp_path / 'twice.npz'
  arrays = _state_arrays()
  path.write_bytes(_zip_bytes([('qpos', arrays['qpos']),
                               ('qpos', arrays['qpos'])] +
                              [(k, v) for k, v in arrays.items()
                               if k != 'qpos']))
  message = _load_error(path)
  assert 'twice.npz' in message and "'qpos'" in message


def _text_file(path):
  path.write_text('qpos,qvel\n1,2\n')


def _plain_npy(path):
  np.save(path, np.zeros((3, 7)))
  os.replace(str(path) + '.npy', path)


def _truncated_zip(path):
  data = _zip_bytes(list(_state_arrays().items()))
  path.write_bytes(data[:len(data) // 2])


def _empty_archive(path):
  with zipfile.ZipFile(path, 'w'):
    pass


_FILE_CASES = {
    'missing': lambda path: None,
    'directory': lambda path: path.mkdir(),
    'text': _text_file,
    'plain_npy': _plain_npy,
    'truncated_zip': _truncated_zip,
    'empty_file': lambda path: path.write_bytes(b''),
    'empty_archive': _empty_archive,
}


@pytest.mark.parametrize('case', sorted(_FILE_CASES))
def test_unusable_file_raises_value_error_naming_file(case, tmp_path):
  path = tmp_path / f'{case}.npz'
  _FILE_CASES[case](path)
  assert f'{case}.npz' in _load_error(path)


def test_message_names_file_field_and_fix(tmp_path):
  path = tmp_path / 'walk.npz'
  _write_npz(path, _with(qpos=np.zeros(3)))
  assert _load_error(path) == (
      f"reference file '{path}', field 'qpos': expected a 2-D float array "
      '[T, nq], got shape (3,) — save qpos with one row per frame.')


def test_unknown_key_message_lists_allowed_keys(tmp_path):
  path = tmp_path / 'typo.npz'
  _write_npz(path, _with(clip_weight=np.ones(1)))
  message = _load_error(path)
  for key in ('qpos', 'qvel', 'features', 'fps', 'clip_ids', 'clip_weights'):
    assert key in message


def test_size_limit_is_named_in_the_message(tmp_path, monkeypatch):
  path = tmp_path / 'big.npz'
  _write_npz(path, _state_arrays())
  monkeypatch.setattr(reference, 'MAX_ARRAY_BYTES', 100)
  message = _load_error(path)
  assert 'MAX_ARRAY_BYTES' in message and "field 'qpos'" in message


def test_huge_declared_shape_allocates_nothing(tmp_path):
  path = tmp_path / 'huge.npz'
  _write_npz(path, _with(**{'qpos': None, 'qpos.npy': _npy_with_header(
      (10**12, 100), '<f8', b'\0' * 64)}))
  tracemalloc.start()
  try:
    message = _load_error(path)
    _, peak = tracemalloc.get_traced_memory()
  finally:
    tracemalloc.stop()
  assert '2 GiB' in message
  assert peak < 16 * 1024**2


def test_zip_bomb_is_refused_before_decompressing(tmp_path):
  # 64 MiB of zeros deflates to ~64 KiB; the header declares 6 x 7 floats.
  bomb = _npy_with_header((6, 7), '<f4', bytes(64 * 1024**2))
  path = tmp_path / 'bomb.npz'
  path.write_bytes(_zip_bytes(
      list(_with(**{'qpos': None, 'qpos.npy': bomb}).items()),
      compression=zipfile.ZIP_DEFLATED))
  del bomb
  tracemalloc.start()
  try:
    message = _load_error(path)
    _, peak = tracemalloc.get_traced_memory()
  finally:
    tracemalloc.stop()
  assert "field 'qpos'" in message and 'corrupt' in message
  assert peak < 16 * 1024**2


class _Bomb:
  """Unpickling this creates a marker file, proving code ran."""

  def __init__(self, marker: str):
    self.marker = marker

  def __reduce__(self):
    return (open, (self.marker, 'w'))


def _bomb_archive(marker: pathlib.Path) -> bytes:
  payload = np.empty((6, 7), dtype=object)
  payload[...] = _Bomb(str(marker))
  return _zip_bytes(list(_with(qpos=payload).items()))


def test_pickle_bomb_is_never_unpickled(tmp_path):
  # Sanity check: a trusting loader does run the payload.
  control_marker = tmp_path / 'control_marker'
  control = tmp_path / 'control.npz'
  control.write_bytes(_bomb_archive(control_marker))
  with np.load(control, allow_pickle=True) as archive:
    for opened in archive['qpos'].flat:
      opened.close()
  assert control_marker.exists()

  marker = tmp_path / 'marker'
  path = tmp_path / 'bomb.npz'
  path.write_bytes(_bomb_archive(marker))
  message = _load_error(path)
  assert "field 'qpos'" in message and 'object' in message
  assert not marker.exists()


def test_object_dtype_refused_from_header_before_data_is_read(tmp_path,
                                                             monkeypatch):
  path = tmp_path / 'objects.npz'
  _write_npz(path, _with(qvel=np.array([[1] * 6] * 6, dtype=object)))

  def no_reads(*args, **kwargs):
    raise AssertionError('array data was read')

  monkeypatch.setattr(npy_format, 'read_array', no_reads)
  assert "field 'qvel'" in _load_error(path)


# --------------------------------------------------- load: argument checks


def test_empty_path_list_is_an_error():
  with pytest.raises(ValueError, match='empty'):
    reference.load_reference([])


def test_non_path_argument_is_a_type_error():
  with pytest.raises(TypeError):
    reference.load_reference(3)


def test_mixing_kinds_across_files_is_an_error(tmp_path):
  state, features = tmp_path / 'state.npz', tmp_path / 'features.npz'
  reference.save_reference(state, **_state_arrays())
  reference.save_reference(features, **_features_arrays())
  with pytest.raises(ValueError, match='mix kinds') as error:
    reference.load_reference([state, features])
  assert 'state.npz' in str(error.value)
  assert 'features.npz' in str(error.value)


def test_mixing_widths_across_files_is_an_error(tmp_path):
  narrow, wide = tmp_path / 'narrow.npz', tmp_path / 'wide.npz'
  reference.save_reference(narrow, fps=30, features=np.zeros((3, 2)))
  reference.save_reference(wide, fps=30, features=np.zeros((3, 4)))
  with pytest.raises(ValueError, match='wide.npz'):
    reference.load_reference([narrow, wide])


# --------------------------------------------------- save: input validation

_SAVE_CASES = {
    'qpos': dict(_state_arrays(), qpos=np.zeros(7)),
    'qvel': dict(_state_arrays(), qvel=np.zeros((5, 6))),
    'fps': dict(_state_arrays(), fps=-1.0),
    'features': dict(_state_arrays(), features=np.zeros((6, 2))),
    'clip_ids': dict(_state_arrays(), clip_ids=[0, 1, 0, 1, 0, 1]),
    'clip_weights': dict(_state_arrays(), clip_weights=[0.0]),
}


@pytest.mark.parametrize('field', sorted(_SAVE_CASES))
def test_save_refuses_what_load_would_refuse(field, tmp_path):
  path = tmp_path / 'out.npz'
  with pytest.raises(ValueError) as error:
    reference.save_reference(path, **_SAVE_CASES[field])
  assert 'out.npz' in str(error.value)
  assert f"field '{field}'" in str(error.value)
  assert not os.listdir(tmp_path)


@pytest.mark.parametrize('bad', [
    dict(qpos=[[1.0, 2.0], [3.0]]),  # ragged
    dict(qpos=np.array([[object()]] * 6)),
    dict(qpos=[['a', 'b']] * 6),
    dict(qvel=np.full((6, 6), np.nan)),
    dict(fps='30'),
    dict(fps=None),
])
def test_save_refuses_non_numeric_and_non_finite(bad, tmp_path):
  path = tmp_path / 'out.npz'
  with pytest.raises(ValueError, match='out.npz'):
    reference.save_reference(path, **dict(_state_arrays(), **bad))
  assert not path.exists()


def test_failed_save_keeps_an_existing_file(tmp_path):
  path = tmp_path / 'walk.npz'
  reference.save_reference(path, **_state_arrays())
  before = path.read_bytes()
  with pytest.raises(ValueError):
    reference.save_reference(path, **dict(_state_arrays(), fps=0))
  assert path.read_bytes() == before


def test_saved_file_holds_canonical_dtypes(tmp_path):
  path = tmp_path / 'walk.npz'
  reference.save_reference(path, fps=[30], qpos=np.zeros((4, 2), np.int32),
                           qvel=np.zeros((4, 1)),
                           clip_ids=np.array([3, 3, 1, 1], np.int16),
                           clip_weights=[1, 2])
  with np.load(path, allow_pickle=False) as archive:
    dtypes = {key: (archive[key].dtype, archive[key].shape)
              for key in archive.files}
  assert dtypes == {
      'qpos': (np.float32, (4, 2)), 'qvel': (np.float32, (4, 1)),
      'fps': (np.float64, ()), 'clip_ids': (np.int16, (4,)),
      'clip_weights': (np.float64, (2,))}


# ------------------------------------------------------ Clip/ReferenceMotion


@pytest.mark.parametrize('kwargs', [
    dict(qpos=np.zeros((3, 2))),  # qvel missing
    dict(qpos=np.zeros((3, 2)), qvel=np.zeros((3, 1)),
         features=np.zeros((3, 1))),
    dict(features=np.zeros(3)),
    dict(features=np.zeros((0, 2))),
    dict(qpos=np.zeros((3, 2)), qvel=np.zeros((2, 1))),
    dict(features=np.zeros((3, 2)), fps=0.0),
    dict(features=np.zeros((3, 2)), weight=-1.0),
])
def test_clip_refuses_inconsistent_fields(kwargs):
  with pytest.raises(ValueError, match='x.npz'):
    reference.Clip(**dict(dict(source='x.npz', fps=30.0, weight=1.0),
                          **kwargs))


def test_motion_refuses_no_clips_and_mixed_kinds():
  with pytest.raises(ValueError, match='at least one clip'):
    reference.ReferenceMotion(())
  state = _state_clip(np.zeros((3, 2)), fps=30)
  with pytest.raises(ValueError, match='mix kinds'):
    reference.ReferenceMotion((state, _clip(3)))


# ----------------------------------------------------------- resample


def _state_clip(qpos, fps, qvel=None) -> reference.Clip:
  qpos = np.asarray(qpos, np.float32)
  if qvel is None:
    qvel = np.zeros((qpos.shape[0], 1), np.float32)
  return reference.Clip(source='walk.npz', fps=fps, weight=1.0, qpos=qpos,
                        qvel=qvel)


def test_resample_interpolates_linearly():
  times = np.arange(5, dtype=np.float32) / 10  # 10 fps over 0.4 s
  clip = _state_clip(np.stack([times, 2 * times], axis=1), fps=10,
                     qvel=times[:, None])
  (out,) = reference.resample(reference.ReferenceMotion((clip,)), 0.04).clips

  assert out.fps == pytest.approx(25.0)
  expected = np.arange(11) * 0.04  # 0.00 .. 0.40
  np.testing.assert_allclose(out.qpos[:, 0], expected, atol=1e-6)
  np.testing.assert_allclose(out.qpos[:, 1], 2 * expected, atol=1e-6)
  np.testing.assert_allclose(out.qvel[:, 0], expected, atol=1e-6)
  assert out.qpos[-1, 0] == times[-1]


def test_resample_keeps_only_times_inside_the_clip():
  clip = _state_clip(np.zeros((4, 1)), fps=30)  # lasts 0.1 s
  (out,) = reference.resample(reference.ReferenceMotion((clip,)), 1 / 25
                              ).clips
  assert out.num_frames == 3  # 0, 0.04, 0.08


def test_resample_integer_downsampling_copies_frames_exactly():
  rng = np.random.default_rng(3)
  clip = _state_clip(rng.normal(size=(9, 3)), fps=120)
  (out,) = reference.resample(reference.ReferenceMotion((clip,)), 1 / 40
                              ).clips
  np.testing.assert_array_equal(out.qpos, clip.qpos[::3])


def test_resample_each_clip_from_its_own_rate():
  slow, fast = _clip(3, fps=25.0), _clip(5, fps=100.0)
  same = _clip(4, fps=50.0 * (1 + 1e-8))
  motion = reference.resample(reference.ReferenceMotion((slow, fast, same)),
                              0.02)
  assert [clip.num_frames for clip in motion.clips] == [5, 3, 4]
  assert [clip.fps for clip in motion.clips[:2]] == [50.0, 50.0]
  assert motion.clips[2] is same
  np.testing.assert_array_equal(motion.clips[0].features[:, 0],
                                [0, 0.5, 1, 1.5, 2])


def test_resample_identity_when_rate_matches():
  clip = _state_clip(np.ones((3, 7)), fps=50)
  motion = reference.ReferenceMotion((clip,))
  (out,) = reference.resample(motion, 0.02, quaternion_starts=[3]).clips
  assert out is clip


def _about_z(angle: float) -> np.ndarray:
  return np.array([math.cos(angle / 2), 0, 0, math.sin(angle / 2)])


def test_resample_quaternions_use_the_short_way_round():
  # Frame 1 stores the negated quaternion: the same rotation.
  quaternions = np.stack([_about_z(0.0), -_about_z(0.4)])
  clip = _state_clip(np.concatenate([np.zeros((2, 1)), quaternions], axis=1),
                     fps=1)
  (out,) = reference.resample(reference.ReferenceMotion((clip,)), 0.5,
                              quaternion_starts=(1,)).clips
  # The midpoint is the half rotation; sampled frames keep their stored sign.
  np.testing.assert_allclose(out.qpos[:, 1:], np.stack(
      [_about_z(0.0), _about_z(0.2), -_about_z(0.4)]), atol=1e-6)


@pytest.mark.parametrize('control_dt', [0.0, -0.02, math.nan, math.inf, 'x'])
def test_resample_refuses_bad_control_dt(control_dt):
  motion = reference.ReferenceMotion((_clip(3),))
  with pytest.raises(ValueError, match='control_dt'):
    reference.resample(motion, control_dt)


@pytest.mark.parametrize('starts, match', [
    ((4,), "walk.npz.*'qpos'.*quaternion_starts.*7 columns"),
    ((-1,), "walk.npz.*'qpos'.*quaternion_starts"),
    ((0, 2), 'quaternion_starts.*overlap'),
])
def test_resample_refuses_quaternion_blocks_outside_qpos(starts, match):
  motion = reference.ReferenceMotion((_state_clip(np.ones((3, 7)), 30),))
  with pytest.raises(ValueError, match=match):
    reference.resample(motion, 0.02, starts)


def test_resample_refuses_quaternions_for_features():
  motion = reference.ReferenceMotion((_clip(3),))
  with pytest.raises(ValueError, match='features'):
    reference.resample(motion, 0.02, (0,))


def test_resample_refuses_zero_quaternion():
  motion = reference.ReferenceMotion((_state_clip(np.zeros((3, 7)), 30),))
  with pytest.raises(ValueError, match="walk.npz.*'qpos'"):
    reference.resample(motion, 0.02, (3,))


def test_resample_refuses_absurd_frame_counts():
  motion = reference.ReferenceMotion((_clip(3, fps=1e-300),))
  with pytest.raises(ValueError, match='MAX_ARRAY_BYTES'):
    reference.resample(motion, 0.02)


# -------------------------------------------------------- validate_for_env


def _state_motion(num_frames=5, nq=7, nv=6) -> reference.ReferenceMotion:
  return reference.ReferenceMotion((reference.Clip(
      source='walk.npz', fps=50, weight=1,
      qpos=np.ones((num_frames, nq)), qvel=np.ones((num_frames, nv))),))


def test_validate_for_env_accepts_a_matching_reference():
  reference.validate_for_env(_state_motion(), nq=7, nv=6, feature_size=None,
                             history_length=5)
  reference.validate_for_env(reference.ReferenceMotion((_clip(2),)), nq=None,
                             nv=None, feature_size=1, history_length=2)


@pytest.mark.parametrize('kwargs, match', [
    (dict(nq=8, nv=6, feature_size=None), "'qpos'.*7 columns.*8"),
    (dict(nq=7, nv=5, feature_size=None), "'qvel'.*6 columns.*5"),
    (dict(nq=None, nv=None, feature_size=13), 'nq/nv'),
])
def test_validate_for_env_names_width_mismatches(kwargs, match):
  with pytest.raises(ValueError, match=match) as error:
    reference.validate_for_env(_state_motion(), history_length=2, **kwargs)
  assert 'walk.npz' in str(error.value)


def test_validate_for_env_checks_feature_size():
  motion = reference.ReferenceMotion((_clip(4, source='feat.npz'),))
  with pytest.raises(ValueError, match="feat.npz.*'features'"):
    reference.validate_for_env(motion, nq=None, nv=None, feature_size=2,
                               history_length=2)
  with pytest.raises(ValueError, match='feature_size'):
    reference.validate_for_env(motion, nq=7, nv=6, feature_size=None,
                               history_length=2)


def test_validate_for_env_refuses_short_clips():
  with pytest.raises(ValueError, match='walk.npz.*5 frames.*history_length=6'):
    reference.validate_for_env(_state_motion(), nq=7, nv=6, feature_size=None,
                               history_length=6)


# ------------------------------------------------ window_starts/concatenated


def test_window_starts_example():
  motion = reference.ReferenceMotion(
      (_clip(3, weight=1), _clip(5, weight=0), _clip(4, weight=3)))
  starts, probabilities = reference.window_starts(motion, 2)
  assert starts.dtype == np.int32 and probabilities.dtype == np.float64
  np.testing.assert_array_equal(starts, [0, 1, 8, 9, 10])
  np.testing.assert_allclose(probabilities, [1 / 8] * 2 + [1 / 4] * 3)


def test_window_starts_errors():
  with pytest.raises(ValueError, match='weight 0'):
    reference.window_starts(reference.ReferenceMotion((_clip(3, 0.0),)), 1)
  with pytest.raises(ValueError, match='clip.npz.*history_length=4'):
    reference.window_starts(reference.ReferenceMotion((_clip(3),)), 4)
  with pytest.raises(ValueError, match='history_length'):
    reference.window_starts(reference.ReferenceMotion((_clip(3),)), 0)


def test_concatenated_refuses_fields_of_the_other_kind():
  motion = reference.ReferenceMotion((_clip(3),))
  with pytest.raises(ValueError, match='qpos'):
    reference.concatenated(motion, 'qpos')
  with pytest.raises(ValueError, match='unknown'):
    reference.concatenated(motion, 'actions')


# ---------------------------------------------------------- property tests

_FLOAT32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


@st.composite
def _clip_layouts(draw):
  """(clip_ids or None, clip_weights or None, num_frames)."""
  lengths = draw(st.lists(st.integers(1, 6), min_size=1, max_size=4))
  num_frames = sum(lengths)
  if draw(st.booleans()):
    ids = draw(st.lists(st.integers(-2**40, 2**40), min_size=len(lengths),
                        max_size=len(lengths), unique=True))
    clip_ids = np.repeat(np.array(ids, np.int64), lengths)
  elif len(lengths) == 1:
    clip_ids = None
  else:
    return draw(_clip_layouts())
  weights = None
  if draw(st.booleans()):
    weights = np.array(draw(st.lists(
        st.floats(0, 100), min_size=len(lengths), max_size=len(lengths))))
    if not weights.any():
      weights[0] = 1.0  # a file needs one positive weight
  return clip_ids, weights, num_frames


@_PROPERTY
@given(layout=_clip_layouts(), use_features=st.booleans(),
       widths=st.tuples(st.integers(1, 5), st.integers(1, 5)),
       data=st.data())
def test_property_valid_frames_survive_save_and_load(scratch, layout,
                                                     use_features, widths,
                                                     data):
  clip_ids, weights, num_frames = layout
  fields = ('features',) if use_features else ('qpos', 'qvel')
  frames = {field: data.draw(hnp.arrays(np.float32, (num_frames, width),
                                        elements=_FLOAT32))
            for field, width in zip(fields, widths)}
  fps = data.draw(st.floats(1e-3, 1e4))
  path = scratch / 'round_trip.npz'
  reference.save_reference(path, fps=fps, clip_ids=clip_ids,
                           clip_weights=weights, **frames)
  motion = reference.load_reference(path)

  for field, expected in frames.items():
    loaded = reference.concatenated(motion, field)
    # Bitwise, so -0.0 and 0.0 are told apart.
    np.testing.assert_array_equal(loaded.view(np.uint32),
                                  expected.view(np.uint32))
  assert all(clip.fps == fps for clip in motion.clips)
  if weights is not None:
    assert [clip.weight for clip in motion.clips] == weights.tolist()


_VALID_MEMBERS = dict(_state_arrays(), clip_ids=np.array([0, 0, 0, 1, 1, 1]),
                      clip_weights=np.array([1.0, 2.0]))
_VALID_NPZ = {
    'stored': _zip_bytes(list(_VALID_MEMBERS.items())),
    'deflated': _zip_bytes(list(_VALID_MEMBERS.items()),
                           compression=zipfile.ZIP_DEFLATED),
}


@_FUZZ
@given(data=st.one_of(st.binary(max_size=600),
                      st.binary(max_size=300).map(
                          lambda tail: b'PK\x03\x04' + tail)))
def test_fuzz_arbitrary_bytes_only_raise_value_error(scratch, data):
  path = scratch / 'bytes.npz'
  path.write_bytes(data)
  _load_or_value_error(path)


_POSITIONS = st.integers(0, len(_VALID_NPZ['stored']))
_MUTATIONS = st.one_of(
    st.tuples(st.just('truncate'), _POSITIONS),
    st.tuples(st.just('flip'), _POSITIONS, st.integers(1, 255)),
    st.tuples(st.just('insert'), _POSITIONS,
              st.binary(min_size=1, max_size=16)),
    st.tuples(st.just('delete'), _POSITIONS, st.integers(1, 64)),
)


def _mutate(data: bytes, mutation) -> bytes:
  kind, position, *rest = mutation
  position = min(position, len(data))
  if kind == 'truncate':
    return data[:position]
  if kind == 'flip':
    if position >= len(data):
      return data
    return (data[:position] + bytes([data[position] ^ rest[0]]) +
            data[position + 1:])
  if kind == 'insert':
    return data[:position] + rest[0] + data[position:]
  return data[:position] + data[position + rest[0]:]


@_FUZZ
@given(base=st.sampled_from(sorted(_VALID_NPZ)),
       mutations=st.lists(_MUTATIONS, min_size=1, max_size=3))
def test_fuzz_mutated_npz_only_raises_value_error(scratch, base, mutations):
  data = _VALID_NPZ[base]
  for mutation in mutations:
    data = _mutate(data, mutation)
  path = scratch / 'mutated.npz'
  path.write_bytes(data)
  _load_or_value_error(path)


_DTYPES = [np.float32, np.float64, np.float16, np.int8, np.int64, np.uint16,
           bool, np.complex64, object, 'U3', 'S2', 'datetime64[s]',
           [('a', '<f4'), ('b', '<i2')]]
_KNOWN_KEYS = st.sampled_from(sorted(_VALID_MEMBERS) + ['features'])
# Mostly known keys, so that edits reach the checks behind the key check.
_KEYS = st.one_of(
    _KNOWN_KEYS, _KNOWN_KEYS, _KNOWN_KEYS, _KNOWN_KEYS,
    st.sampled_from(['qpso', '', 'dir/', 'a/qpos', 'qpos.npy']),
    st.text(max_size=6))
_SHAPES = st.one_of(
    st.sampled_from([(6, 7), (6, 6), (6,), (), (1,), (2,), (6, 0), (0, 7)]),
    hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=7))
_DECLARED_SHAPES = st.sampled_from([(10**12, 100), (2**62,), (-3, 2), (5,),
                                    (6, 7), ()])


@st.composite
def _members(draw):
  """An archive member: an array, or a header declaring another shape."""
  dtype = np.dtype(draw(st.sampled_from(_DTYPES)))
  shape = draw(_SHAPES)
  array = np.zeros(shape, dtype)
  if dtype.kind in 'fiu':
    array = draw(hnp.arrays(dtype, shape))  # including nan, inf, extremes
  elif dtype.kind == 'O':
    array[...] = draw(st.integers())
  if draw(st.integers(0, 4)) == 0:
    data = _npy_bytes(array)
    header = _npy_with_header(shape, dtype)
    return _npy_with_header(draw(_DECLARED_SHAPES), dtype, data[len(header):])
  return array


@_FUZZ
@given(edits=st.lists(st.tuples(_KEYS,
                                st.one_of(_members(), _members(), st.none())),
                      min_size=1, max_size=3))
def test_fuzz_edited_members_only_raise_value_error(scratch, edits):
  members = dict(_VALID_MEMBERS)
  for key, member in edits:
    members.pop(key, None)
    members.pop(key + '.npy', None)
    if isinstance(member, bytes):
      members[key + '.npy'] = member  # stored under this exact name
    elif member is not None:
      members[key] = member
  path = scratch / 'members.npz'
  path.write_bytes(_zip_bytes(list(members.items())))
  _load_or_value_error(path)


def _unit_quaternions(count: int, rng: np.random.Generator) -> np.ndarray:
  quaternions = rng.normal(size=(count, 4)) + np.array([3.0, 0, 0, 0])
  quaternions /= np.linalg.norm(quaternions, axis=1, keepdims=True)
  # Random signs: the hemisphere alignment must cope.
  return quaternions * rng.choice([-1.0, 1.0], size=(count, 1))


@_PROPERTY
@given(num_frames=st.integers(1, 40), fps=st.integers(1, 240),
       target_fps=st.integers(1, 240), seed=st.integers(0, 2**32 - 1))
def test_property_resample(num_frames, fps, target_fps, seed):
  rng = np.random.default_rng(seed)
  qpos = np.concatenate([rng.uniform(-10, 10, (num_frames, 3)),
                         _unit_quaternions(num_frames, rng),
                         rng.uniform(-1, 1, (num_frames, 1))], axis=1)
  clip = _state_clip(qpos, fps, qvel=rng.normal(size=(num_frames, 2)))
  motion = reference.ReferenceMotion((clip,))
  (out,) = reference.resample(motion, 1 / target_fps, (3,)).clips

  if fps == target_fps:
    assert out is clip
    return
  # k / target_fps <= (T - 1) / fps, counted exactly in integers.
  expected_frames = (num_frames - 1) * target_fps // fps + 1
  assert out.num_frames == expected_frames
  assert out.fps == pytest.approx(target_fps, rel=1e-12)
  linear = [0, 1, 2, 7]
  np.testing.assert_array_equal(out.qpos[0, linear], clip.qpos[0, linear])
  np.testing.assert_array_equal(out.qvel[0], clip.qvel[0])
  np.testing.assert_allclose(out.qpos[0, 3:7], clip.qpos[0, 3:7], atol=1e-6)
  if (num_frames - 1) * target_fps % fps == 0:
    np.testing.assert_array_equal(out.qpos[-1, linear], clip.qpos[-1, linear])
    np.testing.assert_array_equal(out.qvel[-1], clip.qvel[-1])
  np.testing.assert_allclose(np.linalg.norm(out.qpos[:, 3:7], axis=1), 1.0,
                             atol=1e-5)
  # Linear interpolation never leaves the range of the data.
  tolerance = 1e-5
  assert (out.qpos[:, linear] >= clip.qpos[:, linear].min(0) - tolerance).all()
  assert (out.qpos[:, linear] <= clip.qpos[:, linear].max(0) + tolerance).all()


@_PROPERTY
@given(clips=st.lists(st.tuples(st.integers(1, 12),
                                st.one_of(st.just(0.0), st.floats(0.01, 10))),
                      min_size=1, max_size=6),
       history_length=st.integers(1, 4))
def test_property_window_starts(clips, history_length):
  # Weighted clips must hold a window; zero-weight clips may be shorter.
  clips = [(max(length, history_length) if weight > 0 else length, weight)
           for length, weight in clips]
  motion = reference.ReferenceMotion(
      tuple(_clip(length, weight) for length, weight in clips))
  total_weight = sum(weight for _, weight in clips)
  if total_weight == 0:
    with pytest.raises(ValueError):
      reference.window_starts(motion, history_length)
    return
  starts, probabilities = reference.window_starts(motion, history_length)

  assert probabilities.sum() == pytest.approx(1.0, abs=1e-12)
  assert (probabilities > 0).all()
  offset = 0
  covered = 0
  for length, weight in clips:
    inside = (starts >= offset) & (starts < offset + length)
    # Whole window inside the clip.
    assert (starts[inside] + history_length <= offset + length).all()
    if weight > 0:
      expected = np.arange(offset, offset + length - history_length + 1)
      np.testing.assert_array_equal(starts[inside], expected)
      np.testing.assert_allclose(probabilities[inside].sum(),
                                 weight / total_weight, rtol=1e-9)
      np.testing.assert_allclose(probabilities[inside],
                                 probabilities[inside][0], rtol=1e-12)
    else:
      assert not inside.any()
    covered += inside.sum()
    offset += length
  assert covered == starts.size
