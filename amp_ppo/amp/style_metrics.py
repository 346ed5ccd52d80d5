"""A style distance that does not depend on any discriminator.

The discriminator's own outputs say how well it separates the policy from the
reference *today*; they drift as it trains and mean nothing across runs. The
sliced Wasserstein distance between the two sets of feature windows is a fixed
yardstick instead: 0 when the policy's transitions are distributed like the
reference's, growing with every shift or spread in any direction of feature
space.

Both sets are normalised with the reference's per-dimension mean and standard
deviation, so every feature counts in units of its spread in the reference
motion, whatever its physical units. Everything here is NumPy on the host and
deterministic for a given seed.
"""

from typing import Tuple

import numpy as np

# Dimensions that hardly vary in the reference (e.g. a fixed body's height)
# get this spread instead, so a tiny wobble in them does not swamp the rest.
DEFAULT_STD_FLOOR = 1e-2


def flatten_windows(windows: np.ndarray) -> np.ndarray:
  """[N, H, F] windows (or [N, D] rows) -> float64 [N, H*F] rows."""
  windows = np.asarray(windows, np.float64)
  if windows.ndim < 2 or windows.shape[0] == 0:
    raise ValueError(f'expected a non-empty batch of windows, got shape '
                     f'{windows.shape}.')
  return windows.reshape(windows.shape[0], -1)


def reference_statistics(reference_rows: np.ndarray,
                         std_floor: float = DEFAULT_STD_FLOOR
                        ) -> Tuple[np.ndarray, np.ndarray]:
  """Per-dimension (mean, std) of the reference, std floored at std_floor."""
  return (reference_rows.mean(axis=0),
          np.maximum(reference_rows.std(axis=0), std_floor))


def random_directions(dimension: int, num_projections: int,
                      seed: int) -> np.ndarray:
  """[dimension, num_projections] unit vectors, uniform on the sphere."""
  directions = np.random.default_rng(seed).normal(
      size=(dimension, num_projections))
  return directions / np.linalg.norm(directions, axis=0, keepdims=True)


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, *,
                       num_projections: int = 256, num_quantiles: int = 256,
                       seed: int = 0) -> float:
  """Sliced 2-Wasserstein distance between two point sets [N, D], [M, D].

  Both sets are projected onto the same random unit directions; along each
  direction the 1-D W2 distance is computed from the two empirical quantile
  functions on a common grid, so N and M may differ. The result is the root
  mean square over directions. It is symmetric, 0 for identical sets, and in
  the units of the inputs: shifting one set by a vector v gives |v| / sqrt(D)
  (the root mean square of v's projection onto random unit directions).
  """
  a, b = flatten_windows(a), flatten_windows(b)
  if a.shape[1] != b.shape[1]:
    raise ValueError(f'point sets differ in dimension: {a.shape[1]} vs '
                     f'{b.shape[1]}.')
  directions = random_directions(a.shape[1], num_projections, seed)
  levels = (np.arange(num_quantiles) + 0.5) / num_quantiles
  quantiles_a = np.quantile(a @ directions, levels, axis=0)
  quantiles_b = np.quantile(b @ directions, levels, axis=0)
  per_direction = np.mean(np.square(quantiles_a - quantiles_b), axis=0)
  return float(np.sqrt(np.mean(per_direction)))


def style_distance(policy_windows: np.ndarray, reference_windows: np.ndarray,
                   *, std_floor: float = DEFAULT_STD_FLOOR,
                   num_projections: int = 256, num_quantiles: int = 256,
                   seed: int = 0) -> float:
  """Sliced W2 between policy and reference windows in reference units."""
  reference_rows = flatten_windows(reference_windows)
  policy_rows = flatten_windows(policy_windows)
  mean, std = reference_statistics(reference_rows, std_floor)
  return sliced_wasserstein((policy_rows - mean) / std,
                            (reference_rows - mean) / std,
                            num_projections=num_projections,
                            num_quantiles=num_quantiles, seed=seed)
