r"""A scripted trot for Brax's ant: the reference motion of the larger demos.

Each leg's hip swings about its rest angle and its ankle lifts and lowers a
quarter cycle out of phase, tracked by a PD law; diagonal legs move together
(a trot), and a heading feedback steers it back to +x. Which way each hip
swings and whether each ankle leads or lags its hip decide where the ant
goes: `search_gaits` runs all 256 such sign patterns from 8 reset states for
20 s each and ranks them by their worst episode's progress along +x.
`GaitStyle()` holds the winner. Over 32 fresh episodes of 20 s it covers
5.5 m on average (at least 4.1 m) at a return of 423, so it also serves as a
scripted expert whose progress a policy can be measured against
(benchmarks/imitation.py).

Regenerate the bundled reference (deterministic for a given seed), or redo
the search:

  python -m amp_ppo.demos.ant_gait --out amp_ppo/motion/data/ant_gait.npz
  python -m amp_ppo.demos.ant_gait --search
"""

import dataclasses
import itertools
import os
from typing import Dict, Sequence, Tuple

from absl import app
from absl import flags
from brax import envs
import jax
import jax.numpy as jnp
import numpy as np

from amp_ppo import motion as motion_lib
from amp_ppo import demos
from amp_ppo.amp import feature_windows
from amp_ppo.demos import recorder

ENV_NAME = 'ant'
# On a CPU, 'spring' runs the ant fastest of Brax's backends.
ENV_BACKEND = 'spring'
BUNDLED_REFERENCE = os.path.join(motion_lib.DATA_DIR, 'ant_gait.npz')
# The same trot at several speeds: the reference of the command-tracking ant
# (amp_ppo/envs/command_ant.py), whose commands span the speeds it covers.
SPEEDS_REFERENCE = os.path.join(os.path.dirname(BUNDLED_REFERENCE),
                                'ant_trot_speeds.npz')
# How far the ankles lift sets the trot's speed. Measured over 16 episodes
# of 20 s from reset: ankle amplitude 0.2 walks 0.10 m/s, 0.3 (GaitStyle's)
# 0.28 m/s, 0.4 0.43 m/s but erratically (0.32 to 0.51 by episode).
SPEED_ANKLE_AMPLITUDES = (0.2, 0.25, 0.275, 0.3, 0.325)
# Diagonal legs (front-left with back-right, front-right with back-left) in
# phase, the two pairs half a cycle apart.
_TROT_LEG_PHASES = (0.0, np.pi, np.pi, 0.0)
# Legs 1 and 2 are on the +y (left) side of ant.xml, 3 and 4 on the right.
_LEG_SIDES = (1.0, 1.0, -1.0, -1.0)


def _yaw(quaternion: jax.Array) -> jax.Array:
  w, x, y, z = quaternion
  return jnp.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


@dataclasses.dataclass(frozen=True)
class GaitStyle:
  """The gait's shape and the PD gains that track it.

  Attributes:
    frequency: gait cycles per second.
    hip_amplitude, ankle_amplitude: swing about the rest pose, in radians.
    hip_signs: per leg, the direction of its hip's swing.
    ankle_leads: per leg, +1 if its ankle is a quarter cycle ahead of its
      hip, -1 if behind.
    kp: action per radian of angle error; kd: action per rad/s.
    steer_gain: heading feedback. The hips of the legs on the side the ant
      turns towards swing wider by this fraction per radian of yaw, which
      turns it back to +x; the open-loop gait's heading drifts with the
      reset noise.
  """
  frequency: float = 2.0
  hip_amplitude: float = 0.4
  ankle_amplitude: float = 0.3
  hip_signs: Tuple[float, ...] = (1.0, -1.0, -1.0, 1.0)
  ankle_leads: Tuple[float, ...] = (1.0, 1.0, -1.0, -1.0)
  kp: float = 1.0
  kd: float = 0.05
  steer_gain: float = 0.6


def make_env(**kwargs) -> envs.Env:
  return envs.get_environment(ENV_NAME, backend=ENV_BACKEND, **kwargs)


def gait_action(env: envs.Env, style: GaitStyle, q: jax.Array, qd: jax.Array,
                t: jax.Array) -> jax.Array:
  """Action that tracks the gait at time `t` (seconds)."""
  q_index = np.asarray(env.sys.actuator.q_id)
  qd_index = np.asarray(env.sys.actuator.qd_id)
  rest = jnp.asarray(env.sys.init_q)[q_index]
  leg_phases = jnp.asarray(_TROT_LEG_PHASES)
  ankle_leads = jnp.asarray(style.ankle_leads)
  # Actuators alternate hip, ankle, leg by leg.
  phases = jnp.stack([leg_phases, leg_phases + ankle_leads * jnp.pi / 2],
                     axis=-1).reshape(-1)
  # Hips of one side turn forward, the other's back: a yaw torque.
  steer = style.steer_gain * _yaw(q[3:7]) * jnp.asarray(_LEG_SIDES)
  rest = rest + jnp.stack([steer, jnp.zeros(4)], axis=-1).reshape(-1)
  amplitudes = jnp.stack(
      [style.hip_amplitude * jnp.asarray(style.hip_signs),
       jnp.full(4, style.ankle_amplitude)], axis=-1).reshape(-1)
  target = rest + amplitudes * jnp.sin(2 * jnp.pi * style.frequency * t +
                                       phases)
  action = style.kp * (target - q[q_index]) - style.kd * qd[qd_index]
  return jnp.clip(action, -1.0, 1.0)


def _controller(env: envs.Env, style: GaitStyle) -> recorder.Controller:
  return lambda state, step, unused: gait_action(
      env, style, state.pipeline_state.q, state.pipeline_state.qd,
      step * env.dt)


def rollout(env: envs.Env, style: GaitStyle, key: jax.Array,
            num_steps: int) -> Dict[str, jax.Array]:
  """One episode under the gait; every entry is [num_steps + 1, ...].

  Entry 0 is the reset state. `alive` is 0 after the episode's terminal
  step (that step's frame is the last valid one); `reward` and
  `x_position` are the environment's.
  """
  x_position, reward, done = recorder.rollout(
      env, _controller(env, style), key, num_steps,
      observe=lambda state: state.pipeline_state.x.pos[0, 0])
  alive = feature_windows.first_episode_mask(done).astype(jnp.float32)
  return dict(x_position=x_position, reward=reward, done=done, alive=alive)


def expert_performance(style: GaitStyle = GaitStyle(), num_steps: int = 400,
                       num_episodes: int = 16, seed: int = 0,
                       env: envs.Env = None) -> Dict[str, np.ndarray]:
  """Per-episode task return, forward distance and length of the gait."""
  env = env or make_env()
  keys = jax.random.split(jax.random.PRNGKey(seed), num_episodes)
  out = jax.jit(jax.vmap(lambda k: rollout(env, style, k, num_steps)))(keys)
  out = jax.device_get(out)
  alive = out['alive']
  last = alive.sum(axis=1).astype(int) - 1  # index of the last valid frame
  rows = np.arange(num_episodes)
  return dict(
      episode_return=(out['reward'] * alive).sum(axis=1),
      forward_distance=out['x_position'][rows, last] - out['x_position'][:, 0],
      episode_length=last.astype(np.float64))


def record_reference(style: GaitStyle = GaitStyle(), num_clips: int = 4,
                     clip_seconds: float = 10.0, warmup_seconds: float = 2.0,
                     seed: int = 0) -> Dict[str, np.ndarray]:
  """Clips of steady gait at the control rate, after a warm-up.

  Returns:
    Keyword arguments for `amp_ppo.motion.save_reference`.

  Raises:
    RuntimeError: the ant fell in some clip.
  """
  env = make_env()
  warmup = int(round(warmup_seconds / env.dt))
  clip_steps = int(round(clip_seconds / env.dt))
  recording = recorder.record(
      env, _controller(env, style),
      jax.random.split(jax.random.PRNGKey(seed), num_clips),
      warmup + clip_steps)
  if recording.ended().any():
    raise RuntimeError(
        f'the scripted gait fell in clip(s) '
        f'{np.flatnonzero(recording.ended()).tolist()}; use a gentler '
        'GaitStyle (smaller amplitudes or frequency).')
  return recording.reference(start=warmup + 1)  # the frames after warm-up


def record_speed_reference(
    ankle_amplitudes: Sequence[float] = SPEED_ANKLE_AMPLITUDES,
    clips_per_speed: int = 2, clip_seconds: float = 10.0, seed: int = 0
) -> Dict[str, np.ndarray]:
  """`record_reference` of GaitStyle at each ankle amplitude, one after another.

  Clip ids run on across the speeds, so every clip stays its own.
  """
  parts = [record_reference(
      dataclasses.replace(GaitStyle(), ankle_amplitude=amplitude),
      num_clips=clips_per_speed, clip_seconds=clip_seconds, seed=seed + i)
           for i, amplitude in enumerate(ankle_amplitudes)]
  return dict(
      fps=parts[0]['fps'],
      qpos=np.concatenate([p['qpos'] for p in parts]),
      qvel=np.concatenate([p['qvel'] for p in parts]),
      clip_ids=np.concatenate([p['clip_ids'] + i * clips_per_speed
                               for i, p in enumerate(parts)]))


def search_gaits(base: GaitStyle = GaitStyle(), seconds: float = 20.0,
                 num_episodes: int = 8, seed: int = 0
                ) -> Sequence[Tuple[float, GaitStyle]]:
  """Every hip/ankle sign pattern of `base`, best first.

  Each pattern runs `num_episodes` episodes from different reset noise and
  is ranked by the forward distance (up to a fall, if it falls) of its worst
  episode: an expert must walk forward whatever the reset noise.
  """
  env = make_env()
  num_steps = int(round(seconds / env.dt))
  patterns = np.array(list(itertools.product((-1.0, 1.0), repeat=8)))
  keys = jax.random.split(jax.random.PRNGKey(seed), num_episodes)

  def distance(signs, key):
    style = dataclasses.replace(base, hip_signs=signs[:4],
                                ankle_leads=signs[4:])
    out = rollout(env, style, key, num_steps)
    last = jnp.sum(out['alive']).astype(jnp.int32) - 1
    return out['x_position'][last] - out['x_position'][0]

  per_episode = jax.vmap(distance, in_axes=(None, 0))
  distances = np.asarray(jax.lax.map(
      lambda signs: jnp.min(per_episode(signs, keys)),
      jnp.asarray(patterns), batch_size=64))
  ranked = np.argsort(-distances)
  return [(float(distances[i]), dataclasses.replace(
      base, hip_signs=tuple(patterns[i, :4].tolist()),
      ankle_leads=tuple(patterns[i, 4:].tolist()))) for i in ranked]


def define_flags() -> None:
  """Command-line flags; only when run as a program, so importing is free."""
  demos.define_recording_flags(BUNDLED_REFERENCE)
  flags.DEFINE_bool('search', False,
                    'Rank the gait sign patterns instead of recording.')
  flags.DEFINE_bool('speeds', False,
                    'Record the trot at each of SPEED_ANKLE_AMPLITUDES '
                    f'(--num_clips each) instead, to {SPEEDS_REFERENCE} '
                    'unless --out is given.')


def main(argv):
  del argv
  values = flags.FLAGS
  if values.search:
    for distance, style in search_gaits()[:5]:
      print(f'{distance:6.2f} m  hip_signs={style.hip_signs} '
            f'ankle_leads={style.ankle_leads}')
    return
  if values.speeds:
    out = values.out if flags.FLAGS['out'].present else SPEEDS_REFERENCE
    arrays = record_speed_reference(clips_per_speed=values.num_clips,
                                    clip_seconds=values.clip_seconds,
                                    seed=values.seed)
    motion_lib.save_reference(out, **arrays)
    print(f'wrote {out}: {len(SPEED_ANKLE_AMPLITUDES)} speeds x '
          f'{values.num_clips} clips, {len(arrays["qpos"])} frames; mean '
          'speed per clip (m/s): ' + ', '.join(
              f'{arrays["qvel"][arrays["clip_ids"] == c, 0].mean():.3f}'
              for c in np.unique(arrays['clip_ids'])))
    return
  arrays = record_reference(num_clips=values.num_clips,
                            clip_seconds=values.clip_seconds,
                            seed=values.seed)
  motion_lib.save_reference(values.out, **arrays)
  expert = expert_performance()
  print(f'wrote {values.out}: {values.num_clips} clips, '
        f'{len(arrays["qpos"])} frames at {arrays["fps"]:g} fps; as an '
        f'expert over 400 steps: return {expert["episode_return"].mean():.1f}'
        f', forward distance {expert["forward_distance"].mean():.2f} m')


if __name__ == '__main__':
  define_flags()
  app.run(main)
