"""A kinematic gait for a free-floating MuJoCo robot, written as a reference.

No physics and no controller: the frames are computed from the robot's
initial pose, so any robot with a free root joint gets a reference whose
AMP features all vary, in well under a second. The tests and
benchmarks/gpu.py train Playground's locomotion robots on it where what the
motion looks like does not matter (throughput, compilation, plumbing).
"""

import mujoco
import numpy as np

from amp_ppo import motion as motion_lib


def write_locomotion_reference(env, path: str, num_frames: int = 60,
                               speed: float = 0.3, frequency: float = 2.0
                              ) -> str:
  """Writes a kinematic gait of `env`'s robot to `path`; returns `path`.

  From the environment's initial pose: the root moves forward at `speed`,
  bobs, rolls, pitches and turns a little, and every joint swings about its
  initial angle with its own phase, so that no AMP feature is constant. The
  velocities are MuJoCo's (mj_differentiatePos between frames).

  Args:
    env: a MuJoCo Playground environment (its `mj_model`, `dt` and, where it
      has one, `_init_q`) whose first joint is the free root.
    path: where to write the reference .npz.
    num_frames: frames of the reference.
    speed: forward root speed, m/s.
    frequency: of the bobbing and the joint swings, Hz.
  """
  model = env.mj_model
  home = np.asarray(getattr(env, '_init_q', model.qpos0), np.float64)
  t = np.arange(num_frames + 1) * env.dt
  wave = np.sin(2 * np.pi * frequency * t)
  qpos = np.tile(home, (num_frames + 1, 1))
  qpos[:, 0] += speed * t
  qpos[:, 2] += 0.01 * wave
  for frame, (roll, pitch, yaw) in enumerate(zip(
      0.03 * wave, 0.03 * np.cos(2 * np.pi * frequency * t), 0.1 * t)):
    rotation = np.zeros(4)
    mujoco.mju_euler2Quat(rotation, np.array([roll, pitch, yaw]), 'xyz')
    quat = np.zeros(4)
    mujoco.mju_mulQuat(quat, home[3:7], rotation)
    qpos[frame, 3:7] = quat
  phases = np.linspace(0, 2 * np.pi, model.nq - 7, endpoint=False)
  qpos[:, 7:] += 0.15 * np.sin(2 * np.pi * frequency * t[:, None] + phases)
  low, high = model.jnt_range[1:, 0], model.jnt_range[1:, 1]
  limited = model.jnt_limited[1:].astype(bool)
  qpos[:, 7:][:, limited] = np.clip(qpos[:, 7:][:, limited], low[limited],
                                    high[limited])
  qvel = np.zeros((num_frames, model.nv))
  for frame in range(num_frames):
    mujoco.mj_differentiatePos(model, qvel[frame], env.dt, qpos[frame],
                               qpos[frame + 1])
  motion_lib.save_reference(path, fps=1 / env.dt,
                            qpos=qpos[:-1].astype(np.float32),
                            qvel=qvel.astype(np.float32))
  return path
