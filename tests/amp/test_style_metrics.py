"""Tests of amp_ppo.amp.style_metrics: the discriminator-free style distance."""

import numpy as np
import pytest

from amp_ppo.amp import style_metrics


def _windows(seed, n=512, shift=0.0, scale=1.0):
  rng = np.random.default_rng(seed)
  return rng.normal(size=(n, 2, 3)) * scale + shift


def test_identical_sets_are_at_distance_zero():
  windows = _windows(0)
  assert style_metrics.sliced_wasserstein(windows, windows) == 0.0
  assert style_metrics.style_distance(windows, windows) == 0.0


def test_distance_is_symmetric():
  a, b = _windows(0), _windows(1, n=300, shift=0.5)
  assert style_metrics.sliced_wasserstein(a, b) == pytest.approx(
      style_metrics.sliced_wasserstein(b, a), rel=1e-12)


def test_distance_grows_with_the_shift():
  reference = _windows(0)
  distances = [style_metrics.style_distance(_windows(1, shift=s), reference)
               for s in (0.0, 0.5, 1.0, 2.0)]
  assert distances == sorted(distances)
  assert distances[-1] > 5 * distances[0]


def test_a_uniform_shift_gives_its_norm_over_root_dimension():
  a = _windows(0, n=2000)
  shift = 1.5
  # Every one of the D = 6 dimensions moves by `shift`: |v| / sqrt(D) = 1.5.
  distance = style_metrics.sliced_wasserstein(a + shift, a,
                                              num_projections=2048)
  assert distance == pytest.approx(shift, rel=0.1)


def test_a_different_spread_is_detected():
  reference = _windows(0)
  assert style_metrics.style_distance(_windows(1, scale=3.0), reference) > (
      5 * style_metrics.style_distance(_windows(1), reference))


def test_deterministic_given_a_seed():
  a, b = _windows(0), _windows(1, shift=0.3)
  first = style_metrics.sliced_wasserstein(a, b, seed=7)
  assert style_metrics.sliced_wasserstein(a, b, seed=7) == first


def test_normalised_by_the_reference_spread():
  reference, policy = _windows(0), _windows(1, shift=0.5)
  # Units do not matter: scaling both sets scales the reference stats too.
  assert style_metrics.style_distance(policy * 100, reference * 100) == (
      pytest.approx(style_metrics.style_distance(policy, reference)))


def test_constant_reference_dimensions_do_not_divide_by_zero():
  reference = _windows(0)
  reference[:, :, 0] = 1.0
  policy = _windows(1)
  assert np.isfinite(style_metrics.style_distance(policy, reference))


def test_mismatched_dimensions_are_refused():
  with pytest.raises(ValueError, match='dimension'):
    style_metrics.sliced_wasserstein(np.zeros((4, 3)), np.zeros((4, 5)))
  with pytest.raises(ValueError, match='non-empty'):
    style_metrics.sliced_wasserstein(np.zeros((0, 3)), np.zeros((4, 3)))
