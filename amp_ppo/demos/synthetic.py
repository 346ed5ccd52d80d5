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

from amp_ppo.amp import features


def _periodic_rollout(env: envs.Env, phases: jax.Array, amplitude: float,
                      period: float, key: jax.Array, num_steps: int):
  """(q, qd, done) of every frame, [T+1, ...]; frame 0 is the reset state."""
  first = env.reset(key)

  def step(state, index):
    t = index * env.dt
    action = amplitude * jnp.sin(2 * jnp.pi * t / period + phases)
    state = env.step(state, action)
    return state, features.joint_state(state) + (state.done,)

  _, (q, qd, done) = jax.lax.scan(step, first, jnp.arange(num_steps))
  first_q, first_qd = features.joint_state(first)
  prepend = lambda start, rest: jnp.concatenate([start[None], rest])
  return prepend(first_q, q), prepend(first_qd, qd), prepend(first.done, done)


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
  run = jax.jit(jax.vmap(lambda key: _periodic_rollout(
      env, phases, amplitude, period, key, num_steps)))
  q, qd, done = (np.asarray(x) for x in run(
      jax.random.split(key_clips, num_clips)))
  qpos, qvel, clip_ids = [], [], []
  for clip in range(num_clips):
    length = _frames_before_end(done[clip])
    if length >= min_frames:
      qpos.append(q[clip, :length])
      qvel.append(qd[clip, :length])
      clip_ids.append(np.full(length, len(clip_ids), np.int32))
  if not qpos:
    raise RuntimeError(
        f'every synthetic clip ended within {min_frames} frames; lower the '
        'amplitude, or give a recorded reference with --config.reference.')
  return dict(fps=1.0 / float(env.dt), qpos=np.concatenate(qpos),
              qvel=np.concatenate(qvel), clip_ids=np.concatenate(clip_ids))


def _frames_before_end(done: np.ndarray) -> int:
  ended = np.flatnonzero(done > 0)
  return int(ended[0]) if ended.size else int(done.shape[0])
