"""Tests for amp_ppo.motion.npz_format: load, save, hostile files, fuzzing."""

import io
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

from amp_ppo import motion as motion_lib
from amp_ppo.motion import clips
from amp_ppo.motion import npz_format
from tests.motion import factories

# The fuzz tests want more examples than the property tests.
_FUZZ = settings(factories.PROPERTY, max_examples=150)

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
    motion_lib.load_reference(path)
  return str(error.value)


@pytest.fixture(scope='module')
def scratch(tmp_path_factory) -> pathlib.Path:
  """A directory shared by the examples of hypothesis tests."""
  return tmp_path_factory.mktemp('reference_scratch')


def _load_or_value_error(path) -> None:
  """Loads; only success or ValueError are acceptable outcomes."""
  try:
    motion = motion_lib.load_reference(path)
  except ValueError:
    return
  assert motion.num_frames >= 1


# --------------------------------------------------------------- round trips


def test_state_round_trip_with_clips_and_weights(tmp_path):
  arrays = _state_arrays(9)
  path = tmp_path / 'walk.npz'
  motion_lib.save_reference(path, fps=30, qpos=arrays['qpos'],
                            qvel=arrays['qvel'],
                            clip_ids=np.array([7, 7, 7, 2, 2, 2, 2, 5, 5]),
                            clip_weights=np.array([1.0, 0.0, 3.0]))
  motion = motion_lib.load_reference(path)

  assert motion.kind == 'state'
  assert motion.num_frames == 9
  assert [clip.num_frames for clip in motion.clips] == [3, 4, 2]
  assert [clip.weight for clip in motion.clips] == [1.0, 0.0, 3.0]
  assert [clip.source for clip in motion.clips] == [
      f'{path}[clip {index}]' for index in range(3)]
  assert all(clip.fps == 30.0 for clip in motion.clips)
  np.testing.assert_array_equal(motion_lib.concatenated(motion, 'qpos'),
                                arrays['qpos'])
  np.testing.assert_array_equal(motion_lib.concatenated(motion, 'qvel'),
                                arrays['qvel'])
  assert motion_lib.concatenated(motion, 'qpos').dtype == np.float32


def test_features_round_trip_single_clip(tmp_path):
  arrays = _features_arrays()
  path = tmp_path / 'features.npz'
  motion_lib.save_reference(path, fps=arrays['fps'],
                            features=arrays['features'])
  motion = motion_lib.load_reference(str(path))

  assert motion.kind == 'features'
  (clip,) = motion.clips
  assert clip.source == str(path)
  assert clip.weight == 1.0 and clip.fps == 60.0
  assert clip.qpos is None and clip.qvel is None
  np.testing.assert_array_equal(clip.features, arrays['features'])


def test_multiple_files_concatenate_in_order(tmp_path):
  first, second = tmp_path / 'a.npz', tmp_path / 'b.npz'
  motion_lib.save_reference(first, fps=30, features=np.zeros((3, 2)))
  motion_lib.save_reference(second, fps=50, features=np.ones((4, 2)),
                            clip_ids=[1, 1, 0, 0], clip_weights=[2, 1])
  motion = motion_lib.load_reference([first, str(second)])

  assert [clip.source for clip in motion.clips] == [
      str(first), f'{second}[clip 0]', f'{second}[clip 1]']
  assert [clip.fps for clip in motion.clips] == [30.0, 50.0, 50.0]
  assert [clip.weight for clip in motion.clips] == [1.0, 2.0, 1.0]
  assert motion_lib.concatenated(motion, 'features').shape == (7, 2)


def test_clip_loops_round_trip(tmp_path):
  path = tmp_path / 'gaits.npz'
  loops = [motion_lib.Loop(), None,
           motion_lib.Loop(offset_position=False, offset_heading=True)]
  motion_lib.save_reference(
      path, fps=30, features=np.zeros((6, 2)), clip_ids=[0, 0, 1, 1, 2, 2],
      clip_loops=[motion_lib.loop_code(loop) for loop in loops])
  motion = motion_lib.load_reference(path)
  assert [clip.loop for clip in motion.clips] == loops
  with np.load(path, allow_pickle=False) as archive:
    assert archive['clip_loops'].tolist() == [3, 0, 5]


def test_every_loop_code_stands_for_its_loop():
  for code in clips.LOOP_CODES:
    assert clips.loop_code(clips.loop_from_code(code)) == code
  assert clips.loop_from_code(0) is None
  assert clips.loop_code(motion_lib.Loop()) == 3  # motion_imitation's Wrap


def test_files_without_clip_loops_do_not_loop(tmp_path):
  path = tmp_path / 'walk.npz'
  np.savez(path, **_state_arrays())
  assert motion_lib.load_reference(path).clips[0].loop is None


@pytest.mark.parametrize('name', sorted(
    name for name in os.listdir(motion_lib.DATA_DIR) if name.endswith('.npz')))
def test_bundled_references_load_as_before(name):
  path = os.path.join(motion_lib.DATA_DIR, name)
  with zipfile.ZipFile(path) as archive:
    assert 'clip_loops.npy' not in archive.namelist()
  motion = motion_lib.load_reference(path)
  assert all(clip.loop is None for clip in motion.clips)


def test_malformed_clip_loops_message(tmp_path):
  path = tmp_path / 'walk.npz'
  _write_npz(path, _with(clip_loops=np.array([2])))
  assert _load_error(path) == (
      f"reference file '{path}', field 'clip_loops': value 2 of clip 0 is not "
      'a loop code — store one of (0, 1, 3, 5, 7) per clip: 0 does not loop, '
      "1 loops in place, 3 moves each cycle on by the root's ground "
      'translation (motion_imitation\'s "Wrap"), 5 and 7 also turn it by the '
      "root's change of heading (amp_ppo.motion.loop_code writes them).")


def test_motion_passes_through_unchanged():
  motion = motion_lib.ReferenceMotion((factories.clip(3),))
  assert motion_lib.load_reference(motion) is motion


def test_integer_and_float64_frames_become_float32(tmp_path):
  path = tmp_path / 'ints.npz'
  _write_npz(path, dict(qpos=np.arange(6, dtype=np.int16).reshape(3, 2),
                        qvel=np.full((3, 1), 0.1, np.float64),
                        fps=np.array([25], np.uint8)))
  (clip,) = motion_lib.load_reference(path).clips
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
    (clip,) = motion_lib.load_reference(path).clips
    np.testing.assert_array_equal(clip.qpos, arrays['qpos'])


def test_loaded_frames_are_read_only(tmp_path):
  path = tmp_path / 'walk.npz'
  motion_lib.save_reference(path, **_state_arrays())
  (clip,) = motion_lib.load_reference(path).clips
  with pytest.raises(ValueError):
    clip.qpos[0, 0] = 1.0



def test_save_writes_exactly_the_path_and_leaves_no_temp_file(tmp_path):
  path = tmp_path / 'no_suffix'
  motion_lib.save_reference(path, **_state_arrays())
  assert sorted(os.listdir(tmp_path)) == ['no_suffix']
  assert motion_lib.load_reference(path).num_frames == 6


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
  path = tmp_path / 'walk.npz'
  motion_lib.save_reference(path, **_state_arrays())
  before = path.read_bytes()

  def fail_midway(file, arrays):
    del arrays
    file.write(b'PK partial')
    raise OSError('disk full')

  monkeypatch.setattr(npz_format, '_write_npz', fail_midway)
  with pytest.raises(OSError, match='disk full'):
    motion_lib.save_reference(path, **_features_arrays())
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
    'loops_length': ('clip_loops',
                     _with(clip_ids=np.array([0, 0, 0, 1, 1, 1]),
                           clip_loops=np.array([3]))),
    'loops_without_ids': ('clip_loops', _with(clip_loops=np.zeros(2, int))),
    'loops_scalar': ('clip_loops', _with(clip_loops=np.array(3))),
    'loops_offset_without_loop': ('clip_loops',
                                  _with(clip_loops=np.array([2]))),
    'loops_negative': ('clip_loops', _with(clip_loops=np.array([-1]))),
    'loops_too_large': ('clip_loops', _with(clip_loops=np.array([8]))),
    'loops_float': ('clip_loops', _with(clip_loops=np.array([3.0]))),
    'loops_bool': ('clip_loops', _with(clip_loops=np.array([True]))),
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
  monkeypatch.setattr(clips, 'MAX_ARRAY_BYTES', 100)
  message = _load_error(path)
  assert 'MAX_ARRAY_BYTES' in message and "field 'qpos'" in message


def _load_error_and_peak_memory(path):
  """The load error's message, and the most memory Python held meanwhile."""
  tracemalloc.start()
  try:
    message = _load_error(path)
    _, peak = tracemalloc.get_traced_memory()
  finally:
    tracemalloc.stop()
  return message, peak


def test_huge_declared_shape_allocates_nothing(tmp_path):
  path = tmp_path / 'huge.npz'
  _write_npz(path, _with(**{'qpos': None, 'qpos.npy': _npy_with_header(
      (10**12, 100), '<f8', b'\0' * 64)}))
  message, peak = _load_error_and_peak_memory(path)
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
  message, peak = _load_error_and_peak_memory(path)
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
    motion_lib.load_reference([])


def test_non_path_argument_is_a_type_error():
  with pytest.raises(TypeError):
    motion_lib.load_reference(3)


def test_mixing_kinds_across_files_is_an_error(tmp_path):
  state, features = tmp_path / 'state.npz', tmp_path / 'features.npz'
  motion_lib.save_reference(state, **_state_arrays())
  motion_lib.save_reference(features, **_features_arrays())
  with pytest.raises(ValueError, match='mix kinds') as error:
    motion_lib.load_reference([state, features])
  assert 'state.npz' in str(error.value)
  assert 'features.npz' in str(error.value)


def test_mixing_widths_across_files_is_an_error(tmp_path):
  narrow, wide = tmp_path / 'narrow.npz', tmp_path / 'wide.npz'
  motion_lib.save_reference(narrow, fps=30, features=np.zeros((3, 2)))
  motion_lib.save_reference(wide, fps=30, features=np.zeros((3, 4)))
  with pytest.raises(ValueError, match='wide.npz'):
    motion_lib.load_reference([narrow, wide])


# --------------------------------------------------- save: input validation

_SAVE_CASES = {
    'qpos': dict(_state_arrays(), qpos=np.zeros(7)),
    'qvel': dict(_state_arrays(), qvel=np.zeros((5, 6))),
    'fps': dict(_state_arrays(), fps=-1.0),
    'features': dict(_state_arrays(), features=np.zeros((6, 2))),
    'clip_ids': dict(_state_arrays(), clip_ids=[0, 1, 0, 1, 0, 1]),
    'clip_weights': dict(_state_arrays(), clip_weights=[0.0]),
    'clip_loops': dict(_state_arrays(), clip_loops=[4]),
}


@pytest.mark.parametrize('field', sorted(_SAVE_CASES))
def test_save_refuses_what_load_would_refuse(field, tmp_path):
  path = tmp_path / 'out.npz'
  with pytest.raises(ValueError) as error:
    motion_lib.save_reference(path, **_SAVE_CASES[field])
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
    motion_lib.save_reference(path, **dict(_state_arrays(), **bad))
  assert not path.exists()


def test_failed_save_keeps_an_existing_file(tmp_path):
  path = tmp_path / 'walk.npz'
  motion_lib.save_reference(path, **_state_arrays())
  before = path.read_bytes()
  with pytest.raises(ValueError):
    motion_lib.save_reference(path, **dict(_state_arrays(), fps=0))
  assert path.read_bytes() == before


def test_saved_file_holds_canonical_dtypes(tmp_path):
  path = tmp_path / 'walk.npz'
  motion_lib.save_reference(path, fps=[30], qpos=np.zeros((4, 2), np.int32),
                            qvel=np.zeros((4, 1)),
                            clip_ids=np.array([3, 3, 1, 1], np.int16),
                            clip_weights=[1, 2], clip_loops=[0, 7])
  with np.load(path, allow_pickle=False) as archive:
    dtypes = {key: (archive[key].dtype, archive[key].shape)
              for key in archive.files}
  assert dtypes == {
      'qpos': (np.float32, (4, 2)), 'qvel': (np.float32, (4, 1)),
      'fps': (np.float64, ()), 'clip_ids': (np.int16, (4,)),
      'clip_weights': (np.float64, (2,)), 'clip_loops': (np.uint8, (2,))}


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


@factories.PROPERTY
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
  motion_lib.save_reference(path, fps=fps, clip_ids=clip_ids,
                            clip_weights=weights, **frames)
  motion = motion_lib.load_reference(path)

  for field, expected in frames.items():
    loaded = motion_lib.concatenated(motion, field)
    # Bitwise, so -0.0 and 0.0 are told apart.
    np.testing.assert_array_equal(loaded.view(np.uint32),
                                  expected.view(np.uint32))
  assert all(clip.fps == fps for clip in motion.clips)
  if weights is not None:
    assert [clip.weight for clip in motion.clips] == weights.tolist()


_VALID_MEMBERS = dict(_state_arrays(), clip_ids=np.array([0, 0, 0, 1, 1, 1]),
                      clip_weights=np.array([1.0, 2.0]),
                      clip_loops=np.array([3, 0]))
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

