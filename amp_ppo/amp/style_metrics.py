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

from typing import Dict, List, Mapping, Tuple

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


# -- several styles ------------------------------------------------------------
# A table maps a commanded style (or, for the references' own separation, a
# reference style) to its distance to each style's reference windows.

Table = Dict[str, Dict[str, float]]


def style_table(policy_windows: Mapping[str, np.ndarray],
                reference_windows: Mapping[str, np.ndarray],
                seed: int = 0) -> Table:
  """table[c][r]: style distance of the windows commanded c to r's reference.

  A policy that obeys its command has a small diagonal and a large
  off-diagonal. Every entry is in one unit, the spread of all styles'
  reference windows pooled (each style's windows in equal number, as the
  evaluations draw them), so a row compares like with like: in each
  reference's own unit, as `style_distance` measures one style, a style
  with a small spread would look far from everything. A command without
  windows gets NaN in its row.
  """
  references = {name: flatten_windows(w)
                for name, w in reference_windows.items()}
  mean, std = reference_statistics(np.concatenate(list(references.values())))
  normalise = lambda rows: (rows - mean) / std
  return {
      commanded: {
          reference: (sliced_wasserstein(normalise(flatten_windows(windows)),
                                         normalise(rows), seed=seed)
                      if len(windows) else float('nan'))
          for reference, rows in references.items()}
      for commanded, windows in policy_windows.items()}


def reference_separation(reference_windows: Mapping[str, np.ndarray],
                         seed: int = 0) -> Table:
  """table[a][b]: style distance of a's reference windows to b's reference.

  How far apart the styles are to begin with: a policy's table reads
  against it (a diagonal of 0.3 means little if the references are 0.5
  apart).
  """
  return style_table(reference_windows, reference_windows, seed=seed)


def diagonal_mean(table: Table) -> float:
  """Mean distance of each commanded style to its own reference."""
  values = [row[name] for name, row in table.items()
            if np.isfinite(row[name])]
  return float(np.mean(values)) if values else float('nan')


def command_ratios(table: Table) -> Dict[str, float]:
  """Per commanded style: own distance / the nearest other reference's.

  Below 1 the policy is closer to its commanded style than to any other;
  1/3 or below is a clear separation. NaN without windows.
  """
  ratios = {}
  for name, row in table.items():
    others = [d for other, d in row.items() if other != name]
    nearest = min(others) if others else float('nan')
    ratios[name] = float(row[name] / nearest) if nearest > 0 else float('nan')
  return ratios


def ignored_commands(table: Table) -> List[Tuple[str, str, float, float]]:
  """(commanded, nearer reference, distance to it, to its own) for each
  commanded style closer to another style's reference than to its own."""
  ignored = []
  for name, row in table.items():
    own = row[name]
    others = {other: d for other, d in row.items()
              if other != name and np.isfinite(d)}
    if not others or not np.isfinite(own):
      continue
    nearest = min(others, key=others.get)
    if others[nearest] < own:
      ignored.append((name, nearest, others[nearest], own))
  return ignored


def ignored_command_message(ignored) -> str:
  """One line naming every commanded style that follows another's style."""
  parts = [f'commanded {name!r} is closer to the reference of {other!r} '
           f'({d_other:.3f}) than to its own ({d_own:.3f})'
           for name, other, d_other, d_own in ignored]
  return ('the policy ignores its style command: ' + '; '.join(parts) +
          '. Train longer, raise amp.style_weight, or check that the '
          'references differ (reference_separation).')


def format_table(table: Table, title: str = 'commanded \\ reference') -> str:
  """The table as aligned text, one row per commanded style."""
  names = list(next(iter(table.values())))
  width = max([len(title)] + [len(n) for n in table] + [len(n) for n in names])
  lines = [f'{title:<{width}}  ' + '  '.join(f'{n:>{max(len(n), 7)}}'
                                             for n in names)]
  for row_name, row in table.items():
    lines.append(f'{row_name:<{width}}  ' + '  '.join(
        f'{row[n]:>{max(len(n), 7)}.3f}' for n in names))
  return '\n'.join(lines)
