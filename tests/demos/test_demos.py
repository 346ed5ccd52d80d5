"""The bundled reference motions and the scripted controllers behind them."""

import numpy as np
import pytest

from amp_ppo import motion as motion_lib
from amp_ppo.demos import ant_gait
from amp_ppo.demos import cartpole_sway


@pytest.mark.parametrize('demo', [cartpole_sway, ant_gait],
                         ids=['cartpole_sway', 'ant_gait'])
def test_bundled_reference_fits_its_environment(demo):
  env = demo.make_env()
  motion = motion_lib.load_reference(demo.BUNDLED_REFERENCE)
  assert len(motion.clips) == 4
  for clip in motion.clips:
    assert clip.fps == pytest.approx(1.0 / float(env.dt))
    assert clip.qpos.shape[1] == env.sys.q_size()
    assert clip.qvel.shape[1] == env.sys.qd_size()
    assert np.isfinite(clip.qpos).all() and np.isfinite(clip.qvel).all()


def test_bundled_cartpole_reference_sways_without_dropping_the_pole():
  motion = motion_lib.load_reference(cartpole_sway.BUNDLED_REFERENCE)
  for clip in motion.clips:
    cart, pole = clip.qpos[:, 0], clip.qpos[:, 1]
    amplitude = cartpole_sway.SwayStyle().amplitude
    assert cart.max() > 0.9 * amplitude and cart.min() < -0.9 * amplitude
    assert np.abs(pole).max() < 0.2  # the environment ends episodes at 0.2


def test_bundled_ant_reference_walks_forward_upright():
  motion = motion_lib.load_reference(ant_gait.BUNDLED_REFERENCE)
  for clip in motion.clips:
    seconds = len(clip.qpos) / clip.fps
    advance = clip.qpos[-1, 0] - clip.qpos[0, 0]
    assert advance / seconds > 0.15  # m/s along +x
    height = clip.qpos[:, 2]
    assert (height > 0.2).all() and (height < 1.0).all()  # ant's healthy range


def test_ant_expert_walks_forward_from_every_reset_state():
  expert = ant_gait.expert_performance(num_steps=200, num_episodes=8,
                                       seed=123)
  assert (expert['episode_length'] == 200).all()  # none fell
  assert (expert['forward_distance'] > 1.0).all()  # 10 s, each episode
  # The forward reward, summed, is the distance over the control step.
  assert expert['episode_return'].mean() > 0


def test_speeds_reference_is_the_trot_at_rising_speeds_two_clips_each():
  env = ant_gait.make_env()
  motion = motion_lib.load_reference(ant_gait.SPEEDS_REFERENCE)
  assert len(motion.clips) == 2 * len(ant_gait.SPEED_ANKLE_AMPLITUDES)
  speeds = []
  for clip in motion.clips:
    assert clip.qpos.shape[1] == env.sys.q_size()
    assert clip.fps == pytest.approx(1.0 / float(env.dt))
    height = clip.qpos[:, 2]
    assert (height > 0.2).all() and (height < 1.0).all()
    speeds.append((clip.qpos[-1, 0] - clip.qpos[0, 0]) /
                  (len(clip.qpos) / clip.fps))
  per_amplitude = np.asarray(speeds).reshape(-1, 2).mean(axis=1)
  # A higher ankle lift walks faster, each by a clear step.
  assert (np.diff(per_amplitude) > 0.02).all(), per_amplitude


def test_speeds_reference_records_what_the_recorder_makes():
  """The recorder, at a tiny size, gives the bundled file's first frames."""
  made = ant_gait.record_speed_reference(ankle_amplitudes=(0.2, 0.25),
                                         clips_per_speed=1, clip_seconds=1.0)
  assert made['clip_ids'].tolist() == [0] * 20 + [1] * 20
  bundled = motion_lib.load_reference(ant_gait.SPEEDS_REFERENCE).clips
  # Amplitude i's clips come from seed i in both, and their first clip from
  # the same reset state.
  np.testing.assert_allclose(made['qpos'][:20], bundled[0].qpos[:20],
                             atol=1e-5)
