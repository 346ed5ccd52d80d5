"""A placeholder reference made from the environment itself.

Larger systems (ant, humanoid, Playground robots) have no bundled motion
capture. So that their configs start without one, `periodic_reference`
drives the environment with open-loop sinusoidal actions (one phase per
actuator, fixed by the seed) and records the states it passes through until
each episode ends. On the ant this is a crude trot; on a humanoid it is a
fall. It exists to smoke-test the pipeline: for a real style, record motion
capture, a scripted controller or a trained policy (`python -m
amp_ppo.run.record`) into the npz format and set `--config.reference`.
"""

from typing import Dict

from brax import envs
import jax
import jax.numpy as jnp
import numpy as np

from amp_ppo.demos import recorder


def periodic_reference(env: envs.Env, *, num_clips: int = 4,
                       num_steps: int = 200, amplitude: float = 0.5,
                       period: float = 1.0, min_frames: int = 8,
                       seed: int = 0) -> Dict[str, np.ndarray]:
  """Clips of open-loop periodic motion, as save_reference keyword args.

  A clip keeps the frames up to and excluding its episode's terminal frame;
  clips shorter than `min_frames` are dropped.

  Raises:
    RuntimeError: every clip ended within `min_frames` frames.
  """
  key_phases, key_clips = jax.random.split(jax.random.PRNGKey(seed))
  phases = jax.random.uniform(key_phases, (env.action_size,),
                              maxval=2 * jnp.pi)

  def controller(unused_state, step, unused_input):
    t = step * env.dt
    return amplitude * jnp.sin(2 * jnp.pi * t / period + phases)

  recording = recorder.record(env, controller,
                              jax.random.split(key_clips, num_clips),
                              num_steps)
  return recording.reference(
      min_frames=min_frames,
      advice='lower the amplitude, or give a recorded reference with '
      '--config.reference')
