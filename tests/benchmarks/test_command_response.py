"""benchmarks/command_response.py's reference figures: what they promise.

The policy table needs trained checkpoints and was run by hand (RESULTS.md,
section 6); these are the figures that judge the benchmark itself.
"""

import numpy as np
import pytest

from amp_ppo import motion as motion_lib
from amp_ppo.envs import command_ant
from benchmarks import command_response


def test_a_steady_clip_earns_all_of_the_tracking_and_a_wandering_one_less(
    tmp_path):
  fps, frames = 20.0, 200
  t = np.arange(frames) / fps
  steady = np.full(frames, 0.25)
  # Speed wandering by 0.1 m/s over 5 s: the averaged speed follows it.
  wandering = 0.25 + 0.1 * np.sin(2 * np.pi * t / 5.0)
  qvel = np.zeros((2 * frames, 14), np.float32)
  qvel[:, 0] = np.concatenate([steady, wandering])
  path = str(tmp_path / 'clips.npz')
  motion_lib.save_reference(path, fps=fps,
                            qpos=np.zeros((2 * frames, 15), np.float32),
                            qvel=qvel, clip_ids=np.repeat([0, 1], frames))
  (speed0, score0), (speed1, score1) = command_response.reference_tracking(
      path)
  assert speed0 == pytest.approx(0.25) and score0 == pytest.approx(1.0)
  assert speed1 == pytest.approx(0.25, abs=0.01)
  assert 0.5 < score1 < 0.9


def test_ignoring_the_command_pays_less_the_wider_the_commands_range():
  speed, narrow = command_response.constant_speed_tracking((0.25, 0.25))
  assert speed == pytest.approx(0.25) and narrow == pytest.approx(1.0)
  speed, wide = command_response.constant_speed_tracking(
      command_ant.COMMAND_RANGE)
  assert speed == pytest.approx(np.mean(command_ant.COMMAND_RANGE), abs=0.01)
  # The command ant's range is wide enough that one gait cannot pass its
  # tracking target (0.9 of PPO's, which tracks near 1 per step).
  assert wide < 0.7
