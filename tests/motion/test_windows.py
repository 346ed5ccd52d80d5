"""Tests for amp_ppo.motion.windows: fit to the environment, window sampling."""

from hypothesis import given
from hypothesis import strategies as st
import numpy as np
import pytest

from amp_ppo import motion as motion_lib
from tests.motion import factories

# -------------------------------------------------------- validate_for_env


def _state_motion(num_frames=5, nq=7, nv=6) -> motion_lib.ReferenceMotion:
  return motion_lib.ReferenceMotion((motion_lib.Clip(
      source='walk.npz', fps=50, weight=1,
      qpos=np.ones((num_frames, nq)), qvel=np.ones((num_frames, nv))),))


def test_validate_for_env_accepts_a_matching_reference():
  motion_lib.validate_for_env(_state_motion(), nq=7, nv=6, feature_size=None,
                              history_length=5)
  motion_lib.validate_for_env(motion_lib.ReferenceMotion((factories.clip(2),)),
                              nq=None, nv=None, feature_size=1,
                              history_length=2)


@pytest.mark.parametrize('kwargs, match', [
    (dict(nq=8, nv=6, feature_size=None), "'qpos'.*7 columns.*8"),
    (dict(nq=7, nv=5, feature_size=None), "'qvel'.*6 columns.*5"),
    (dict(nq=None, nv=None, feature_size=13), 'nq/nv'),
])
def test_validate_for_env_names_width_mismatches(kwargs, match):
  with pytest.raises(ValueError, match=match) as error:
    motion_lib.validate_for_env(_state_motion(), history_length=2, **kwargs)
  assert 'walk.npz' in str(error.value)


def test_validate_for_env_checks_feature_size():
  motion = motion_lib.ReferenceMotion((factories.clip(4, source='feat.npz'),))
  with pytest.raises(ValueError, match="feat.npz.*'features'"):
    motion_lib.validate_for_env(motion, nq=None, nv=None, feature_size=2,
                                history_length=2)
  with pytest.raises(ValueError, match='feature_size'):
    motion_lib.validate_for_env(motion, nq=7, nv=6, feature_size=None,
                                history_length=2)


def test_validate_for_env_refuses_short_clips():
  with pytest.raises(ValueError, match='walk.npz.*5 frames.*history_length=6'):
    motion_lib.validate_for_env(_state_motion(), nq=7, nv=6, feature_size=None,
                                history_length=6)


# ------------------------------------------------------------ window_starts


def test_window_starts_example():
  motion = motion_lib.ReferenceMotion(
      (factories.clip(3, weight=1), factories.clip(5, weight=0),
       factories.clip(4, weight=3)))
  starts, probabilities = motion_lib.window_starts(motion, 2)
  assert starts.dtype == np.int32 and probabilities.dtype == np.float64
  np.testing.assert_array_equal(starts, [0, 1, 8, 9, 10])
  np.testing.assert_allclose(probabilities, [1 / 8] * 2 + [1 / 4] * 3)


def test_window_starts_errors():
  with pytest.raises(ValueError, match='weight 0'):
    motion_lib.window_starts(
        motion_lib.ReferenceMotion((factories.clip(3, 0.0),)), 1)
  with pytest.raises(ValueError, match='clip.npz.*history_length=4'):
    motion_lib.window_starts(
        motion_lib.ReferenceMotion((factories.clip(3),)), 4)
  with pytest.raises(ValueError, match='history_length'):
    motion_lib.window_starts(
        motion_lib.ReferenceMotion((factories.clip(3),)), 0)


@factories.PROPERTY
@given(clips=st.lists(st.tuples(st.integers(1, 12),
                                st.one_of(st.just(0.0), st.floats(0.01, 10))),
                      min_size=1, max_size=6),
       history_length=st.integers(1, 4))
def test_property_window_starts(clips, history_length):
  # Weighted clips must hold a window; zero-weight clips may be shorter.
  clips = [(max(length, history_length) if weight > 0 else length, weight)
           for length, weight in clips]
  motion = motion_lib.ReferenceMotion(
      tuple(factories.clip(length, weight) for length, weight in clips))
  total_weight = sum(weight for _, weight in clips)
  if total_weight == 0:
    with pytest.raises(ValueError):
      motion_lib.window_starts(motion, history_length)
    return
  starts, probabilities = motion_lib.window_starts(motion, history_length)

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
