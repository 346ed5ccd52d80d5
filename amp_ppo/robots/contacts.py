"""When a foot is in stance, and how far to move feet onto the ground.

A foot is in stance while its speed stays below a threshold (stance feet
neither slide nor lift, swing feet move) and its sole is near the ground:
below CONTACT_HEIGHT, far above the 2 cm a stance foot may float, so the
check of stance-foot heights (review.checks) is not true by construction;
the height bound only keeps a foot that rests in the air (a kneeling
human's) out of stance. Retargeting and checking share this module, so they
agree on which frames are stance.
"""

import numpy as np

# Speed (m/s) below which a foot counts as in stance. Stance feet of the
# motion_imitation dog clips slide at up to 0.3 m/s after retargeting onto
# Go1, their swing feet move at 1 to 5 m/s. Vertical speed counts too: a
# foot stepping in place lifts with hardly any horizontal speed.
STANCE_SPEED = 0.3
# Sole height (m) above which a foot is not in contact, however still.
CONTACT_HEIGHT = 0.05


def speeds(foot_positions: np.ndarray, fps: float) -> np.ndarray:
  """[T, F] speed of each foot (central differences)."""
  positions = np.asarray(foot_positions, np.float64)
  if len(positions) < 2:
    return np.zeros(positions.shape[:2])
  return np.linalg.norm(np.gradient(positions, axis=0), axis=-1) * fps


def stance(foot_positions: np.ndarray, sole_heights: np.ndarray, fps: float,
           stance_speed: float = STANCE_SPEED,
           contact_height: float = CONTACT_HEIGHT) -> np.ndarray:
  """[T, F] bool: slower than stance_speed, sole below contact_height."""
  return ((speeds(foot_positions, fps) < stance_speed)
          & (np.asarray(sole_heights) < contact_height))


def ground_corrections(sole_heights: np.ndarray,
                       in_stance: np.ndarray) -> np.ndarray:
  """[T, F] height to subtract from each foot so stance soles touch z = 0.

  In stance the correction is the sole's height itself; between stance
  phases it is interpolated linearly from the last stance frame to the next
  (held before the first and after the last), so a swing keeps its shape
  and nothing jumps at touch-down or lift-off. A foot never in stance is
  only kept out of the ground. Feet that the correction would push below
  the ground are raised onto it.
  """
  heights = np.asarray(sole_heights, np.float64)
  corrections = np.zeros_like(heights)
  frames = np.arange(len(heights))
  for foot in range(heights.shape[1]):
    contact = np.flatnonzero(in_stance[:, foot])
    if contact.size:
      corrections[:, foot] = np.interp(frames, contact,
                                       heights[contact, foot])
  # Never below the ground after correction.
  return np.minimum(corrections, heights)
