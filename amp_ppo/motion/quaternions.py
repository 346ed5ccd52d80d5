"""Unit quaternions as NumPy arrays, in MuJoCo's order (w, x, y, z).

Vectorised over leading axes: every function takes [..., 4] arrays (and
[..., 3] vectors) and broadcasts. Motion files store x-y-z-w; readers convert
with `from_xyzw` so nothing past them sees the other order.
"""

import numpy as np

# Norms below this are not rotations (a zero or garbage quaternion).
MIN_NORM = 1e-6


def from_xyzw(quaternions: np.ndarray) -> np.ndarray:
  """x-y-z-w (motion_imitation, SciPy, LAFAN1 CSVs) to w-x-y-z."""
  quaternions = np.asarray(quaternions, np.float64)
  return np.concatenate([quaternions[..., 3:], quaternions[..., :3]], axis=-1)


def normalize(quaternions: np.ndarray) -> np.ndarray:
  quaternions = np.asarray(quaternions, np.float64)
  return quaternions / np.linalg.norm(quaternions, axis=-1, keepdims=True)


def multiply(left: np.ndarray, right: np.ndarray) -> np.ndarray:
  """The Hamilton product: the rotation `right` first, then `left`."""
  w1, x1, y1, z1 = np.moveaxis(np.asarray(left, np.float64), -1, 0)
  w2, x2, y2, z2 = np.moveaxis(np.asarray(right, np.float64), -1, 0)
  return np.stack([
      w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
      w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
      w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
      w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
  ], axis=-1)


def conjugate(quaternions: np.ndarray) -> np.ndarray:
  """The inverse of a unit quaternion."""
  return np.asarray(quaternions, np.float64) * np.array([1.0, -1, -1, -1])


def rotate(quaternions: np.ndarray, vectors: np.ndarray) -> np.ndarray:
  """Rotates [..., 3] vectors by unit quaternions."""
  quaternions = np.asarray(quaternions, np.float64)
  vectors = np.asarray(vectors, np.float64)
  real = quaternions[..., :1]
  imaginary = quaternions[..., 1:]
  twice_cross = 2.0 * np.cross(imaginary, vectors)
  return vectors + real * twice_cross + np.cross(imaginary, twice_cross)


def about_z(angles: np.ndarray) -> np.ndarray:
  """Rotations by `angles` (radians) about the world's vertical axis."""
  half = 0.5 * np.asarray(angles, np.float64)
  zeros = np.zeros_like(half)
  return np.stack([np.cos(half), zeros, zeros, np.sin(half)], axis=-1)


def yaw(quaternions: np.ndarray) -> np.ndarray:
  """Heading angle (radians) of the rotated x axis, projected on the ground."""
  forward = rotate(quaternions, np.array([1.0, 0.0, 0.0]))
  return np.arctan2(forward[..., 1], forward[..., 0])


def from_matrix(matrices: np.ndarray) -> np.ndarray:
  """Rotation matrices [..., 3, 3] to unit quaternions (w >= 0)."""
  matrices = np.asarray(matrices, np.float64)
  m = matrices
  # Shepperd's method: take the largest of the four squared components.
  squares = np.stack([
      1 + m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2],
      1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
      1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2],
      1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2],
  ], axis=-1)
  largest = np.argmax(squares, axis=-1)
  root = np.sqrt(np.maximum(np.take_along_axis(
      squares, largest[..., None], axis=-1)[..., 0], MIN_NORM))
  candidates = np.stack([
      np.stack([root, (m[..., 2, 1] - m[..., 1, 2]) / root,
                (m[..., 0, 2] - m[..., 2, 0]) / root,
                (m[..., 1, 0] - m[..., 0, 1]) / root], -1),
      np.stack([(m[..., 2, 1] - m[..., 1, 2]) / root, root,
                (m[..., 0, 1] + m[..., 1, 0]) / root,
                (m[..., 0, 2] + m[..., 2, 0]) / root], -1),
      np.stack([(m[..., 0, 2] - m[..., 2, 0]) / root,
                (m[..., 0, 1] + m[..., 1, 0]) / root, root,
                (m[..., 1, 2] + m[..., 2, 1]) / root], -1),
      np.stack([(m[..., 1, 0] - m[..., 0, 1]) / root,
                (m[..., 0, 2] + m[..., 2, 0]) / root,
                (m[..., 1, 2] + m[..., 2, 1]) / root, root], -1),
  ], axis=-2)
  chosen = np.take_along_axis(candidates, largest[..., None, None],
                              axis=-2)[..., 0, :]
  chosen = normalize(chosen)
  return np.where(chosen[..., :1] < 0, -chosen, chosen)


def continuous(quaternions: np.ndarray) -> np.ndarray:
  """A sequence [T, 4] with each quaternion in its predecessor's hemisphere.

  q and -q are one rotation; a sequence that flips between them looks like
  a jump to anything that interpolates or differences it.
  """
  result = np.array(quaternions, np.float64)
  for index in range(1, len(result)):
    if np.dot(result[index], result[index - 1]) < 0:
      result[index] = -result[index]
  return result
