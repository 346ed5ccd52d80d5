"""Two styles per demo, for several styles in one policy: the ant's trot and
bound, the cart-pole's slow-and-wide and fast-and-narrow sways.

Each checks the bundled reference against what its style claims, from the
recorded joint angles.
"""

import numpy as np
import pytest

from amp_ppo import motion as motion_lib
from amp_ppo.demos import ant_gait
from amp_ppo.demos import cartpole_sway

# Brax ant's q: root position and quaternion, then hip_1, ankle_1, ...,
# hip_4, ankle_4 (ant.xml's legs 1 to 4).
_ANKLES = slice(8, 15, 2)
# ant_gait.LEGS are ant.xml's legs 4, 1, 2, 3.
_LEG_ORDER = [3, 0, 1, 2]
# The rear ankles bend the other way (negative ranges).
_MIRROR = np.array([1.0, 1.0, -1.0, -1.0])


def _ankle_correlations(qpos):
  """[4, 4] correlation of the legs' ankle swings, LEGS order, mirrored."""
  swings = qpos[:, _ANKLES][:, _LEG_ORDER] * _MIRROR
  return np.corrcoef((swings - swings.mean(axis=0)).T)


@pytest.mark.parametrize('name', list(ant_gait.GAITS))
def test_gait_reference_moves_its_legs_as_its_footfall_phases_say(name):
  gait = ant_gait.GAITS[name]
  phases = ant_gait.footfall_phases(gait.style)
  expected = np.cos(phases[:, None] - phases[None, :])  # 1 together, -1 not
  assert set(np.round(expected, 6).ravel()) == {1.0, -1.0}  # two pairs
  for clip in motion_lib.load_reference(gait.speeds_reference).clips:
    correlation = _ankle_correlations(clip.qpos)
    np.testing.assert_array_equal(np.sign(correlation), expected)
    # Tracking blurs the commanded swings most at the bound's fastest
    # settings (0.76 there; the trot's pairs are 0.96 or more).
    assert (np.abs(correlation) > 0.7).all(), correlation


def _assert_pairs_alternate(phases, pair, other_pair):
  """Each pair's feet lift together, the pairs half a cycle apart."""
  first, second = ([phases[ant_gait.LEGS.index(leg)] for leg in legs]
                   for legs in (pair, other_pair))
  assert first[0] == pytest.approx(first[1])
  assert second[0] == pytest.approx(second[1])
  assert abs(first[0] - second[0]) == pytest.approx(np.pi)


def test_the_bound_pairs_front_and_rear_legs_the_trot_left_and_right_ones():
  _assert_pairs_alternate(
      ant_gait.footfall_phases(ant_gait.GAITS['bound'].style),
      ('front_left', 'front_right'), ('rear_left', 'rear_right'))
  # The bundled trot lifts the two left legs, then the two right ones.
  _assert_pairs_alternate(
      ant_gait.footfall_phases(ant_gait.GAITS['trot'].style),
      ('front_left', 'rear_left'), ('front_right', 'rear_right'))
  assert not ant_gait.same_footfalls(ant_gait.GAITS['bound'].style,
                                     ant_gait.GAITS['trot'].style)


def test_trot_gait_is_the_bundled_trot():
  trot = ant_gait.GAITS['trot']
  assert trot.style == ant_gait.GaitStyle()
  assert trot.speeds_reference == ant_gait.SPEEDS_REFERENCE
  assert [style.ankle_amplitude for style in trot.speed_styles()] == list(
      ant_gait.SPEED_ANKLE_AMPLITUDES)


def _clip_speeds(path):
  return np.array([(clip.qpos[-1, 0] - clip.qpos[0, 0]) /
                   (len(clip.qpos) / clip.fps)
                   for clip in motion_lib.load_reference(path).clips])


def test_bound_reference_spans_the_trots_speeds():
  env = ant_gait.make_env()
  bound = ant_gait.GAITS['bound']
  motion = motion_lib.load_reference(bound.speeds_reference)
  assert len(motion.clips) == 2 * len(bound.speeds)
  for clip in motion.clips:
    assert clip.qpos.shape[1] == env.sys.q_size()
    assert clip.fps == pytest.approx(1.0 / float(env.dt))
    height = clip.qpos[:, 2]
    assert (height > 0.2).all() and (height < 1.0).all()
  trot = _clip_speeds(ant_gait.SPEEDS_REFERENCE)
  speeds = _clip_speeds(bound.speeds_reference)
  # The slowest and fastest speed of each within TOLERANCE of the other's.
  per_setting = speeds.reshape(-1, 2).mean(axis=1)
  assert (np.diff(per_setting) > 0).all(), per_setting  # slowest first
  assert abs(speeds.min() - trot.min()) < _SPEED_TOLERANCE
  assert abs(speeds.max() - trot.max()) < _SPEED_TOLERANCE


_SPEED_TOLERANCE = 0.05  # m/s


def _sway_period(cart, fps):
  """Seconds per cycle: twice the mean time between zero crossings."""
  centred = cart - cart.mean()
  crossings = np.flatnonzero(np.diff(np.sign(centred)) != 0)
  # Linear interpolation between the frames on either side.
  times = (crossings + centred[crossings] /
           (centred[crossings] - centred[crossings + 1])) / fps
  assert len(times) >= 2, 'less than one half cycle'
  return 2 * float(np.mean(np.diff(times)))


def _recorded_sway(name):
  """Per clip of the sway's bundled reference: (amplitude m, period s)."""
  motion = motion_lib.load_reference(cartpole_sway.sway_reference(name))
  assert len(motion.clips) == 4
  figures = []
  for clip in motion.clips:
    cart, pole = clip.qpos[:, 0], clip.qpos[:, 1]
    assert np.abs(pole).max() < 0.2  # the episode ends at 0.2
    figures.append(((cart.max() - cart.min()) / 2,
                    _sway_period(cart, clip.fps)))
  return np.array(figures)


@pytest.mark.parametrize('name', list(cartpole_sway.SWAYS))
def test_each_sway_reference_has_its_amplitude_and_period(name):
  style = cartpole_sway.SWAYS[name]
  amplitudes, periods = _recorded_sway(name).T
  # Tracking overshoots a little (the default sway swings 0.46 m for 0.4).
  np.testing.assert_allclose(amplitudes, style.amplitude, rtol=0.2)
  np.testing.assert_allclose(periods, style.period, rtol=0.05)


def test_the_two_sways_are_slow_and_wide_against_fast_and_narrow():
  slow, fast = (_recorded_sway(name) for name in ('slow_wide',
                                                  'fast_narrow'))
  assert slow[:, 0].min() > 2 * fast[:, 0].max()  # amplitude
  assert slow[:, 1].min() > 2 * fast[:, 1].max()  # period
  # The default sway, the single-style demo's, lies between and is
  # unchanged.
  default = cartpole_sway.SwayStyle()
  assert (default.amplitude, default.period) == (0.4, 4.0)
  narrow, wide = (cartpole_sway.SWAYS[name]
                  for name in ('fast_narrow', 'slow_wide'))
  assert narrow.amplitude < default.amplitude < wide.amplitude
  assert narrow.period < default.period < wide.period


def test_an_unknown_sway_is_refused_naming_the_known_ones():
  with pytest.raises(ValueError, match='slow_wide, fast_narrow'):
    cartpole_sway.sway_reference('medium')
