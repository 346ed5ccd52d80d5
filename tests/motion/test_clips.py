"""Tests for amp_ppo.motion.clips: the Clip and ReferenceMotion invariants."""

import numpy as np
import pytest

from amp_ppo import motion as motion_lib
from tests.motion import factories


def test_clip_does_not_freeze_the_callers_array():
  frames = np.zeros((3, 2), np.float32)
  motion_lib.Clip(source='x', fps=30, weight=1, features=frames)
  frames[0, 0] = 1.0  # still writable


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
    motion_lib.Clip(**dict(dict(source='x.npz', fps=30.0, weight=1.0),
                           **kwargs))


def test_clip_refuses_a_loop_that_is_not_a_loop():
  with pytest.raises(TypeError, match='loop must be a Loop'):
    motion_lib.Clip(source='x.npz', fps=30, weight=1,
                    features=np.zeros((3, 1)), loop=3)


def test_motion_refuses_no_clips_and_mixed_kinds():
  with pytest.raises(ValueError, match='at least one clip'):
    motion_lib.ReferenceMotion(())
  state = factories.state_clip(np.zeros((3, 2)), fps=30)
  with pytest.raises(ValueError, match='mix kinds'):
    motion_lib.ReferenceMotion((state, factories.clip(3)))


def test_concatenated_refuses_fields_of_the_other_kind():
  motion = motion_lib.ReferenceMotion((factories.clip(3),))
  with pytest.raises(ValueError, match='qpos'):
    motion_lib.concatenated(motion, 'qpos')
  with pytest.raises(ValueError, match='unknown'):
    motion_lib.concatenated(motion, 'actions')

