"""qvel by finite differences: MuJoCo's convention, and loops wrapped."""

import mujoco
import numpy as np
import pytest

from amp_ppo.motion import quaternions
from amp_ppo.mocap.formats import source_motion
from amp_ppo.mocap.retarget import velocities
from tests.mocap import synthetic_sources


@pytest.fixture(scope='module', name='model')
def fixture_model():
  return mujoco.MjModel.from_xml_string(synthetic_sources.ROBOT_XML)


def _integrated(model, qvel, fps, frames):
  """Frames of a constant qvel, stepped by MuJoCo itself."""
  qpos = [model.qpos0.copy()]
  for _ in range(frames - 1):
    following = qpos[-1].copy()
    mujoco.mj_integratePos(model, following, qvel, 1.0 / fps)
    qpos.append(following)
  return np.array(qpos)


def test_constant_velocity_is_recovered_in_mujocos_frames(model):
  # Linear velocity in the world frame, angular velocity in the body frame,
  # as mj_integratePos reads them; a spin about a tilted body axis changes
  # the world-frame rate every frame, so a world-frame difference fails.
  qvel = np.array([0.3, -0.2, 0.1, 2.0, -1.0, 0.5, 0.7])
  qpos = _integrated(model, qvel, fps=50.0, frames=20)
  result = velocities.qvel_from_qpos(model, qpos, 50.0)
  np.testing.assert_allclose(result, np.tile(qvel, (20, 1)), atol=1e-9)


def test_matches_mj_differentiate_pos_between_frames(model):
  rng = np.random.default_rng(0)
  qpos = np.tile(model.qpos0, (6, 1))
  qpos[:, :3] += rng.normal(0, 0.05, (6, 3)).cumsum(axis=0)
  qpos[:, 3:7] = quaternions.continuous(quaternions.normalize(
      np.array([1.0, 0, 0, 0]) + rng.normal(0, 0.1, (6, 4)).cumsum(axis=0)))
  qpos[:, 7] = rng.uniform(-1, 1, 6)
  result = velocities.qvel_from_qpos(model, qpos, 30.0)
  for frame in range(1, 5):
    before, after = np.zeros(model.nv), np.zeros(model.nv)
    mujoco.mj_differentiatePos(model, before, 1 / 30.0, qpos[frame - 1],
                               qpos[frame])
    mujoco.mj_differentiatePos(model, after, 1 / 30.0, qpos[frame],
                               qpos[frame + 1])
    np.testing.assert_allclose(result[frame], 0.5 * (before + after),
                               atol=1e-9)
  # World-frame angular velocity would differ: the body is tilted.
  world = quaternions.rotate(qpos[2, 3:7], result[2, 3:6])
  assert np.abs(world - result[2, 3:6]).max() > 1e-3


def _looping_walk(model, frames=25):
  """One cycle: the root moves 0.5 m along x, the hip swings a cosine."""
  phase = np.linspace(0.0, 2 * np.pi, frames)  # last frame == first instant
  qpos = np.tile(model.qpos0, (frames, 1))
  qpos[:, 0] = np.linspace(0.0, 0.5, frames)
  qpos[:, 7] = 0.4 * np.cos(phase)
  return qpos, phase


def test_loop_ends_use_the_next_cycle(model):
  qpos, phase = _looping_walk(model)
  fps = 24.0  # 24 steps per second: one cycle per second
  loop = source_motion.Loop(offset_position=True)
  looped = velocities.qvel_from_qpos(model, qpos, fps, loop)
  expected_hip = -0.4 * np.sin(phase) * 2 * np.pi  # d/dt at 1 cycle/s
  step = 2 * np.pi / 24
  central = expected_hip * np.sin(step) / step  # central-difference value
  np.testing.assert_allclose(looped[:, 6], central, atol=1e-9)
  np.testing.assert_allclose(looped[:, 0], 0.5, atol=1e-9)
  # Without the loop the ends are one-sided: the hip seems to move at the
  # turning point of its swing.
  clamped = velocities.qvel_from_qpos(model, qpos, fps)
  assert abs(clamped[0, 6]) > 0.3 and abs(clamped[-1, 6]) > 0.3
  assert abs(looped[0, 6]) < 1e-9


def test_loop_without_position_offset_runs_back(model):
  qpos, _ = _looping_walk(model)
  loop = source_motion.Loop(offset_position=False)
  result = velocities.qvel_from_qpos(model, qpos, 24.0, loop)
  # The next cycle starts back at x = 0: the last frame's step jumps back.
  assert result[-1, 0] < 0 < result[-2, 0]


def test_heading_offset_turns_the_next_cycle(model):
  frames = 13
  qpos = np.tile(model.qpos0, (frames, 1))
  qpos[:, 3:7] = quaternions.about_z(np.linspace(0.0, np.pi / 2, frames))
  loop = source_motion.Loop(offset_position=False, offset_heading=True)
  following = velocities.next_cycle_frame(qpos, 1, loop)
  expected = quaternions.about_z(np.pi / 2 + np.pi / 24)
  np.testing.assert_allclose(following[3:7], expected, atol=1e-12)
  result = velocities.qvel_from_qpos(model, qpos, 12.0, loop)
  np.testing.assert_allclose(result[:, 5], (np.pi / 2) / 1.0, atol=1e-9)
  np.testing.assert_allclose(
      velocities.previous_cycle_frame(qpos, frames - 1, loop)[3:7],
      qpos[0, 3:7], atol=1e-12)


def test_short_loop_is_refused(model):
  qpos = np.tile(model.qpos0, (2, 1))
  with pytest.raises(ValueError, match='at least 3 frames'):
    velocities.qvel_from_qpos(model, qpos, 30.0, source_motion.Loop())
