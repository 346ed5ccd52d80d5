"""Rolls out a controller and records the states it visits as reference motion.

Every reference amp_ppo records comes from here: the demos' scripted
controllers (`cartpole_sway`, `ant_gait`, `synthetic`), the benchmarks'
periodic gait (benchmarks/bench_lib.py) and trained policies
(`amp_ppo.run.record`). One rule holds for all of them: a clip ends before
its episode's terminal frame, so a fall never becomes part of a style.

A controller is `(state, step, clip_input) -> action`: `step` counts control
steps from 0 and `clip_input` is the rollout's own slice of `record`'s
`clip_inputs` (a phase, a policy's step keys; None without them).
"""

import dataclasses
import functools
from typing import Any, Callable, Dict, Optional

from brax import envs
import jax
import jax.numpy as jnp
import numpy as np

from amp_ppo.amp import feature_windows
from amp_ppo.amp import features

# A clip needs at least one (s, s') pair.
MIN_CLIP_FRAMES = 2

Controller = Callable[[envs.State, jax.Array, Any], jax.Array]


def rollout(env: envs.Env, controller: Controller, key: jax.Array,
            num_steps: int, *, clip_input: Any = None, action_repeat: int = 1,
            observe: Callable[[envs.State], Any] = features.joint_state):
  """`observe`, reward and done of every environment step of one rollout.

  Traceable: jit and vmap it. The controller acts `num_steps` times, each
  action held `action_repeat` environment steps as Brax's training wrapper
  holds it. Frame 0 is the reset state; the environment never resets, so
  frames after the terminal one belong to no episode. Frame t's reward is
  that of the step into it.

  Returns:
    (observations, reward, done), each leaf [num_steps * action_repeat + 1,
    ...].
  """
  first = env.reset(key)

  def env_step(action, state, unused):
    state = env.step(state, action)
    return state, (observe(state), state.reward, state.done)

  def control_step(state, step):
    action = controller(state, step, clip_input)
    if action_repeat == 1:
      # One step, not a scan of one: XLA rounds the two differently, and the
      # bundled references were recorded with the first.
      state, frame = env_step(action, state, None)
      return state, jax.tree_util.tree_map(lambda x: jnp.asarray(x)[None],
                                           frame)
    return jax.lax.scan(functools.partial(env_step, action), state, (),
                        length=action_repeat)

  _, steps = jax.lax.scan(control_step, first, jnp.arange(num_steps))
  # [num_steps, action_repeat, ...] -> [num_steps * action_repeat, ...],
  # after the reset frame.
  return jax.tree_util.tree_map(
      lambda start, rest: jnp.concatenate(
          [start[None], jnp.reshape(rest, (-1,) + rest.shape[2:])]),
      (observe(first), first.reward, first.done), steps)


@dataclasses.dataclass(frozen=True)
class Recording:
  """Joint states of N rollouts at every environment step, and their ends.

  The task reward comes along for the controllers' own figures; recording
  it also keeps XLA's compiled step, and with it the bundled references,
  as they were recorded (without it, float rounding moves the ant's).
  """
  fps: float
  qpos: np.ndarray    # [N, T+1, nq]; frame 0 is the reset state
  qvel: np.ndarray    # [N, T+1, nv]
  reward: np.ndarray  # [N, T+1]: of the step into frame t
  done: np.ndarray    # [N, T+1] bool: frame t is terminal

  def ended(self) -> np.ndarray:
    """[N]: the rollout's episode ended within it."""
    return self.done.any(axis=1)

  def in_clip(self) -> np.ndarray:
    """[N, T+1]: frame t belongs to its rollout's clip.

    The one rule: the frames of the episode before its terminal frame.
    """
    return feature_windows.first_episode_mask(self.done, axis=1) & ~self.done

  def reference(self, *, start: int = 0, min_frames: int = MIN_CLIP_FRAMES,
                advice: str = '') -> Dict[str, np.ndarray]:
    """The clips as `amp_ppo.motion.save_reference` keyword arguments.

    Args:
      start: first frame of every clip (to drop a warm-up).
      min_frames: shorter clips are left out.
      advice: what to do when none is left, for the error.

    Raises:
      RuntimeError: every clip is shorter than `min_frames`.
    """
    qpos, qvel, clip_ids = [], [], []
    for rollout_qpos, rollout_qvel, kept in zip(self.qpos, self.qvel,
                                                self.in_clip()):
      kept = np.flatnonzero(kept[start:]) + start
      if len(kept) >= min_frames:
        qpos.append(rollout_qpos[kept])
        qvel.append(rollout_qvel[kept])
        clip_ids.append(np.full(len(kept), len(clip_ids), np.int32))
    if not qpos:
      raise RuntimeError(f'every recorded episode ended within {min_frames} '
                         f'frames{"; " + advice if advice else ""}.')
    return dict(fps=self.fps, qpos=np.concatenate(qpos),
                qvel=np.concatenate(qvel), clip_ids=np.concatenate(clip_ids))

  def unbroken_reference(self, *, start: int, failure: str,
                         advice: str) -> Dict[str, np.ndarray]:
    """`reference(start=start)` of a script whose every clip must last.

    Raises:
      RuntimeError: an episode ended; the error names its clips, says what
        happened (`failure`) and what to change (`advice`).
    """
    if self.ended().any():
      raise RuntimeError(f'{failure} in clip(s) '
                         f'{np.flatnonzero(self.ended()).tolist()}; {advice}.')
    return self.reference(start=start)


def record(env: envs.Env, controller: Controller, keys: jax.Array,
           num_steps: int, *, clip_inputs: Optional[Any] = None,
           action_repeat: int = 1) -> Recording:
  """`rollout` from each reset key in `keys` [N, 2], all in one compilation.

  `clip_inputs`, if given, holds one leading entry per key.
  """
  def one(key, clip_input):
    return rollout(env, controller, key, num_steps, clip_input=clip_input,
                   action_repeat=action_repeat)

  (qpos, qvel), reward, done = jax.device_get(
      jax.jit(jax.vmap(one))(keys, clip_inputs))
  return Recording(fps=1.0 / float(env.dt), qpos=np.asarray(qpos),
                   qvel=np.asarray(qvel), reward=np.asarray(reward),
                   done=np.asarray(done) > 0)
