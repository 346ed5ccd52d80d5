"""Small clips and hypothesis settings shared by the motion tests."""

import datetime

from hypothesis import settings
import numpy as np

from amp_ppo import motion as motion_lib

# Reproducible in CI, fast on a slow shared machine, no example database
# written into the work tree.
PROPERTY = settings(derandomize=True, database=None, max_examples=100,
                    deadline=datetime.timedelta(seconds=3))


def clip(num_frames: int, weight: float = 1.0, fps: float = 30.0,
         source: str = 'clip.npz') -> motion_lib.Clip:
  """A features clip whose one column counts the frames."""
  frames = np.arange(num_frames, dtype=np.float32).reshape(-1, 1)
  return motion_lib.Clip(source=source, fps=fps, weight=weight,
                         features=frames)


def state_clip(qpos, fps, qvel=None) -> motion_lib.Clip:
  """A state clip from 'walk.npz'; qvel defaults to one zero column."""
  qpos = np.asarray(qpos, np.float32)
  if qvel is None:
    qvel = np.zeros((qpos.shape[0], 1), np.float32)
  return motion_lib.Clip(source='walk.npz', fps=fps, weight=1.0, qpos=qpos,
                         qvel=qvel)
