"""Tests for amp_ppo.motion.resampling: rates, interpolation, quaternions."""

import math

from hypothesis import given
from hypothesis import strategies as st
import numpy as np
import pytest

from amp_ppo import motion as motion_lib
from tests.motion import factories


def test_resample_interpolates_linearly():
  times = np.arange(5, dtype=np.float32) / 10  # 10 fps over 0.4 s
  clip = factories.state_clip(np.stack([times, 2 * times], axis=1), fps=10,
                              qvel=times[:, None])
  (out,) = motion_lib.resample(motion_lib.ReferenceMotion((clip,)), 0.04).clips

  assert out.fps == pytest.approx(25.0)
  expected = np.arange(11) * 0.04  # 0.00 .. 0.40
  np.testing.assert_allclose(out.qpos[:, 0], expected, atol=1e-6)
  np.testing.assert_allclose(out.qpos[:, 1], 2 * expected, atol=1e-6)
  np.testing.assert_allclose(out.qvel[:, 0], expected, atol=1e-6)
  assert out.qpos[-1, 0] == times[-1]


def test_resample_keeps_only_times_inside_the_clip():
  clip = factories.state_clip(np.zeros((4, 1)), fps=30)  # lasts 0.1 s
  (out,) = motion_lib.resample(motion_lib.ReferenceMotion((clip,)), 1 / 25
                               ).clips
  assert out.num_frames == 3  # 0, 0.04, 0.08


def test_resample_integer_downsampling_copies_frames_exactly():
  rng = np.random.default_rng(3)
  clip = factories.state_clip(rng.normal(size=(9, 3)), fps=120)
  (out,) = motion_lib.resample(motion_lib.ReferenceMotion((clip,)), 1 / 40
                               ).clips
  np.testing.assert_array_equal(out.qpos, clip.qpos[::3])


def test_resample_each_clip_from_its_own_rate():
  slow, fast = factories.clip(3, fps=25.0), factories.clip(5, fps=100.0)
  same = factories.clip(4, fps=50.0 * (1 + 1e-8))
  motion = motion_lib.resample(motion_lib.ReferenceMotion((slow, fast, same)),
                               0.02)
  assert [clip.num_frames for clip in motion.clips] == [5, 3, 4]
  assert [clip.fps for clip in motion.clips[:2]] == [50.0, 50.0]
  assert motion.clips[2] is same
  np.testing.assert_array_equal(motion.clips[0].features[:, 0],
                                [0, 0.5, 1, 1.5, 2])


def test_resample_keeps_a_loop_only_with_its_last_frame():
  loop = motion_lib.Loop()
  # 0.1 s long: 25 fps samples stop short of the end, 40 fps ones reach it.
  clip = motion_lib.Clip(source='x.npz', fps=30, weight=1,
                         features=np.zeros((4, 1)), loop=loop)
  motion = motion_lib.ReferenceMotion((clip,))
  assert motion_lib.resample(motion, 1 / 40).clips[0].loop == loop
  assert motion_lib.resample(motion, 1 / 25).clips[0].loop is None


def test_resample_identity_when_rate_matches():
  clip = factories.state_clip(np.ones((3, 7)), fps=50)
  motion = motion_lib.ReferenceMotion((clip,))
  (out,) = motion_lib.resample(motion, 0.02, quaternion_starts=[3]).clips
  assert out is clip


def _about_z(angle: float) -> np.ndarray:
  return np.array([math.cos(angle / 2), 0, 0, math.sin(angle / 2)])


def test_resample_quaternions_use_the_short_way_round():
  # Frame 1 stores the negated quaternion: the same rotation.
  quaternions = np.stack([_about_z(0.0), -_about_z(0.4)])
  clip = factories.state_clip(
      np.concatenate([np.zeros((2, 1)), quaternions], axis=1), fps=1)
  (out,) = motion_lib.resample(motion_lib.ReferenceMotion((clip,)), 0.5,
                               quaternion_starts=(1,)).clips
  # The midpoint is the half rotation; sampled frames keep their stored sign.
  np.testing.assert_allclose(out.qpos[:, 1:], np.stack(
      [_about_z(0.0), _about_z(0.2), -_about_z(0.4)]), atol=1e-6)


@pytest.mark.parametrize('control_dt', [0.0, -0.02, math.nan, math.inf, 'x'])
def test_resample_refuses_bad_control_dt(control_dt):
  motion = motion_lib.ReferenceMotion((factories.clip(3),))
  with pytest.raises(ValueError, match='control_dt'):
    motion_lib.resample(motion, control_dt)


@pytest.mark.parametrize('starts, match', [
    ((4,), "walk.npz.*'qpos'.*quaternion_starts.*7 columns"),
    ((-1,), "walk.npz.*'qpos'.*quaternion_starts"),
    ((0, 2), 'quaternion_starts.*overlap'),
])
def test_resample_refuses_quaternion_blocks_outside_qpos(starts, match):
  motion = motion_lib.ReferenceMotion(
      (factories.state_clip(np.ones((3, 7)), 30),))
  with pytest.raises(ValueError, match=match):
    motion_lib.resample(motion, 0.02, starts)


def test_resample_refuses_quaternions_for_features():
  motion = motion_lib.ReferenceMotion((factories.clip(3),))
  with pytest.raises(ValueError, match='features'):
    motion_lib.resample(motion, 0.02, (0,))


def test_resample_refuses_zero_quaternion():
  motion = motion_lib.ReferenceMotion(
      (factories.state_clip(np.zeros((3, 7)), 30),))
  with pytest.raises(ValueError, match="walk.npz.*'qpos'"):
    motion_lib.resample(motion, 0.02, (3,))


def test_resample_refuses_absurd_frame_counts():
  motion = motion_lib.ReferenceMotion((factories.clip(3, fps=1e-300),))
  with pytest.raises(ValueError, match='MAX_ARRAY_BYTES'):
    motion_lib.resample(motion, 0.02)


def _unit_quaternions(count: int, rng: np.random.Generator) -> np.ndarray:
  quaternions = rng.normal(size=(count, 4)) + np.array([3.0, 0, 0, 0])
  quaternions /= np.linalg.norm(quaternions, axis=1, keepdims=True)
  # Random signs: the hemisphere alignment must cope.
  return quaternions * rng.choice([-1.0, 1.0], size=(count, 1))


@factories.PROPERTY
@given(num_frames=st.integers(1, 40), fps=st.integers(1, 240),
       target_fps=st.integers(1, 240), seed=st.integers(0, 2**32 - 1))
def test_property_resample(num_frames, fps, target_fps, seed):
  rng = np.random.default_rng(seed)
  qpos = np.concatenate([rng.uniform(-10, 10, (num_frames, 3)),
                         _unit_quaternions(num_frames, rng),
                         rng.uniform(-1, 1, (num_frames, 1))], axis=1)
  clip = factories.state_clip(qpos, fps, qvel=rng.normal(size=(num_frames, 2)))
  motion = motion_lib.ReferenceMotion((clip,))
  (out,) = motion_lib.resample(motion, 1 / target_fps, (3,)).clips

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
