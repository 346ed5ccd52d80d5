r"""Scripted gaits for Brax's ant: the reference motions of the larger demos.

Each leg's hip swings about its rest angle and its ankle lifts and lowers a
quarter cycle out of phase, tracked by a PD law, and a heading feedback
steers the ant back to +x. Where each leg is in the cycle (the style's
leg_phases) makes the gait. The bundled gait, called the trot throughout
amp_ppo, lifts the two left legs together and then the two right ones (by
the usual names, for an ant walking along +x, a pace: each pair's feet
touch the ground together in 90 to 100 % of frames). The bound swings the
front ankles together and then the rear ones; its feet follow more loosely
(the front pair's touch together in 66 to 73 % of frames, the rear pair's
in 51 to 67 %). Which way each hip swings and whether each ankle leads or
lags its hip decide where the ant goes: `search_gaits` runs the 32 of the
256 such sign patterns that keep the gait's footfalls from 8 reset states
for 20 s each and ranks them by their worst episode's progress along +x.
`GaitStyle()` holds the trot's winner, BOUND_STYLE the bound's pick. Each
gait's speeds reference (GAITS) spans about 0.1 to 0.4 m/s, the speeds the
command ant is told. Over 32 fresh episodes of 20 s the trot covers 5.5 m
on average (at least 4.1 m) at a return of 423, so it also serves as a
scripted expert whose progress a policy can be measured against
(benchmarks/imitation.py).

Regenerate the bundled references (deterministic for a given seed), or redo
the search:

  python -m amp_ppo.demos.ant_gait --out amp_ppo/motion/data/ant_gait.npz
  python -m amp_ppo.demos.ant_gait --speeds --num_clips 2
  python -m amp_ppo.demos.ant_gait --speeds --num_clips 2 --gait bound
  python -m amp_ppo.demos.ant_gait --search --gait bound
"""

import dataclasses
import itertools
import os
from typing import Dict, Mapping, Sequence, Tuple

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
# Per-leg tuples (leg phases, hip signs, ankle leads, steering) follow the
# actuators: ant.xml's motors drive hip_4, ankle_4, hip_1, ..., so the legs
# are ant.xml's 4, 1, 2, 3, whose feet stand, for an ant walking along +x,
# at the front right, front left, rear left and rear right.
LEGS = ('front_right', 'front_left', 'rear_left', 'rear_right')
# Where in the cycle each leg's hip is (radians, LEGS order). With the
# trot's ankle leads, the bundled gait (called the trot throughout amp_ppo)
# lifts the two left legs together and the two right legs half a cycle
# later: by the usual names, for an ant walking along +x, a pace.
TROT_LEG_PHASES = (0.0, np.pi, np.pi, 0.0)
# With the bound's ankle leads: the front legs together, the rear legs half
# a cycle later.
BOUND_LEG_PHASES = (0.0, 0.0, np.pi, np.pi)
# The rear legs' ankles (ant.xml's 2 and 3) bend the other way (their
# ranges are negative), so one sine moves their feet half a cycle apart
# from the front legs'.
_ANKLE_MIRROR = (0.0, 0.0, np.pi, np.pi)
# Steering's sign per leg: + on the front legs (ant.xml's 4 and 1), - on the
# rear ones.
_STEER_SIGNS = (1.0, 1.0, -1.0, -1.0)


def _yaw(quaternion: jax.Array) -> jax.Array:
  w, x, y, z = quaternion
  return jnp.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


@dataclasses.dataclass(frozen=True)
class GaitStyle:
  """The gait's shape and the PD gains that track it.

  Attributes:
    frequency: gait cycles per second.
    leg_phases: per leg (LEGS), where in the cycle it is, in radians: the
      footfall pattern (TROT_LEG_PHASES, BOUND_LEG_PHASES).
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
  leg_phases: Tuple[float, ...] = TROT_LEG_PHASES
  hip_amplitude: float = 0.4
  ankle_amplitude: float = 0.3
  hip_signs: Tuple[float, ...] = (1.0, -1.0, -1.0, 1.0)
  ankle_leads: Tuple[float, ...] = (1.0, 1.0, -1.0, -1.0)
  kp: float = 1.0
  kd: float = 0.05
  steer_gain: float = 0.6


# Second in `search_gaits(GaitStyle(leg_phases=BOUND_LEG_PHASES))` (its
# worst of 8 episodes walked 3.47 m in 20 s, the first's 3.57 m), chosen for
# its speeds: at the slow BOUND_SPEEDS they vary half as much from episode
# to episode as the first's.
BOUND_STYLE = GaitStyle(leg_phases=BOUND_LEG_PHASES,
                        hip_signs=(1.0, 1.0, 1.0, 1.0),
                        ankle_leads=(1.0, 1.0, -1.0, -1.0))
# The bound's speed needs both amplitudes: a higher ankle lift slows it, a
# wider hip swing speeds it up. Mean speeds over 16 episodes of 20 s from
# reset: 0.07, 0.13, 0.19, 0.27 and 0.30 m/s (the last erratic, 0.14 to 0.41
# by episode); the recorded clips (ant_bound_speeds.npz) span 0.08 to 0.37
# m/s, as the trot's do 0.09 to 0.39.
BOUND_SPEEDS = (
    {'hip_amplitude': 0.3, 'ankle_amplitude': 0.4},
    {'hip_amplitude': 0.3, 'ankle_amplitude': 0.3},
    {'hip_amplitude': 0.45, 'ankle_amplitude': 0.4},
    {'hip_amplitude': 0.45, 'ankle_amplitude': 0.3},
    {'hip_amplitude': 0.55, 'ankle_amplitude': 0.2},
)


def footfall_phases(style: GaitStyle) -> np.ndarray:
  """[4] each foot's phase in the cycle (LEGS order), in [0, 2 pi).

  The phase of its ankle's swing, mirrored legs turned alike: feet of equal
  phase lift and land together, feet half a cycle apart alternate.
  """
  phases = (np.asarray(style.leg_phases)
            + np.asarray(style.ankle_leads) * np.pi / 2
            + np.asarray(_ANKLE_MIRROR))
  return np.mod(phases, 2 * np.pi)


def same_footfalls(style: GaitStyle, other: GaitStyle) -> bool:
  """Whether the same feet lift together in both."""
  def together(phases):
    apart = np.mod(phases[:, None] - phases[None, :], 2 * np.pi)
    return np.isclose(np.minimum(apart, 2 * np.pi - apart), 0.0)
  return bool((together(footfall_phases(style))
               == together(footfall_phases(other))).all())


@dataclasses.dataclass(frozen=True)
class Gait:
  """A named gait and the settings its speeds reference is recorded at.

  Attributes:
    name: 'trot' or 'bound'; names its speeds reference,
      motion/data/ant_{name}_speeds.npz.
    style: the controller's settings, leg phases included.
    speeds: per speed, slowest first, the style's fields that set it.
  """
  name: str
  style: GaitStyle
  speeds: Tuple[Mapping[str, float], ...]

  @property
  def speeds_reference(self) -> str:
    return os.path.join(motion_lib.DATA_DIR, f'ant_{self.name}_speeds.npz')

  def speed_styles(self) -> Tuple[GaitStyle, ...]:
    return tuple(dataclasses.replace(self.style, **speed)
                 for speed in self.speeds)


GAITS: Dict[str, Gait] = {gait.name: gait for gait in (
    Gait('trot', GaitStyle(), tuple(
        {'ankle_amplitude': amplitude}
        for amplitude in SPEED_ANKLE_AMPLITUDES)),
    Gait('bound', BOUND_STYLE, BOUND_SPEEDS),
)}


def make_env(**kwargs) -> envs.Env:
  return envs.get_environment(ENV_NAME, backend=ENV_BACKEND, **kwargs)


def gait_action(env: envs.Env, style: GaitStyle, q: jax.Array, qd: jax.Array,
                t: jax.Array) -> jax.Array:
  """Action that tracks the gait at time `t` (seconds)."""
  q_index = np.asarray(env.sys.actuator.q_id)
  qd_index = np.asarray(env.sys.actuator.qd_id)
  rest = jnp.asarray(env.sys.init_q)[q_index]
  leg_phases = jnp.asarray(style.leg_phases)
  ankle_leads = jnp.asarray(style.ankle_leads)
  # Actuators alternate hip, ankle, leg by leg.
  phases = jnp.stack([leg_phases, leg_phases + ankle_leads * jnp.pi / 2],
                     axis=-1).reshape(-1)
  # Yaw feedback: the front hips' rest angles shift one way, the rear
  # hips' the other.
  steer = style.steer_gain * _yaw(q[3:7]) * jnp.asarray(_STEER_SIGNS)
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
  return recording.unbroken_reference(  # the frames after warm-up
      start=warmup + 1, failure='the scripted gait fell',
      advice='use a gentler GaitStyle (smaller amplitudes or frequency)')


def record_speed_reference(
    ankle_amplitudes: Sequence[float] = SPEED_ANKLE_AMPLITUDES,
    clips_per_speed: int = 2, clip_seconds: float = 10.0, seed: int = 0,
    style: GaitStyle = GaitStyle()) -> Dict[str, np.ndarray]:
  """`record_styles` of style at each ankle amplitude."""
  return record_styles(
      [dataclasses.replace(style, ankle_amplitude=amplitude)
       for amplitude in ankle_amplitudes],
      clips_per_style=clips_per_speed, clip_seconds=clip_seconds, seed=seed)


def record_styles(styles: Sequence[GaitStyle], clips_per_style: int = 2,
                  clip_seconds: float = 10.0, seed: int = 0
                 ) -> Dict[str, np.ndarray]:
  """`record_reference` of each style, one after another (style i from
  seed + i).

  Clip ids run on across the styles, so every clip stays its own.
  """
  parts = [record_reference(style, num_clips=clips_per_style,
                            clip_seconds=clip_seconds, seed=seed + i)
           for i, style in enumerate(styles)]
  return dict(
      fps=parts[0]['fps'],
      qpos=np.concatenate([p['qpos'] for p in parts]),
      qvel=np.concatenate([p['qvel'] for p in parts]),
      clip_ids=np.concatenate([p['clip_ids'] + i * clips_per_style
                               for i, p in enumerate(parts)]))


def search_gaits(base: GaitStyle = GaitStyle(), seconds: float = 20.0,
                 num_episodes: int = 8, seed: int = 0
                ) -> Sequence[Tuple[float, GaitStyle]]:
  """Every hip/ankle sign pattern of `base` that keeps its footfalls, best
  first.

  Ankle leads move feet by a quarter cycle, so only the patterns whose feet
  lift together as `base`'s do (`same_footfalls`) remain the same gait.
  Each pattern runs `num_episodes` episodes from different reset noise and
  is ranked by the forward distance (up to a fall, if it falls) of its worst
  episode: an expert must walk forward whatever the reset noise.
  """
  env = make_env()
  num_steps = int(round(seconds / env.dt))
  patterns = np.array([
      signs for signs in itertools.product((-1.0, 1.0), repeat=8)
      if same_footfalls(base, dataclasses.replace(base, hip_signs=signs[:4],
                                                  ankle_leads=signs[4:]))])
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
  flags.DEFINE_enum('gait', 'trot', list(GAITS),
                    'The gait to record or search (GAITS).')
  flags.DEFINE_bool('search', False,
                    'Rank the gait\'s sign patterns instead of recording.')
  flags.DEFINE_bool('speeds', False,
                    'Record the gait at each of its speeds '
                    '(--num_clips each) instead, to its speeds_reference '
                    f'({SPEEDS_REFERENCE} for the trot) unless --out is '
                    'given.')


def main(argv):
  del argv
  values = flags.FLAGS
  gait = GAITS[values.gait]
  if values.search:
    for distance, style in search_gaits(gait.style)[:5]:
      print(f'{distance:6.2f} m  hip_signs={style.hip_signs} '
            f'ankle_leads={style.ankle_leads} footfall phases '
            f'{np.round(footfall_phases(style), 2).tolist()}')
    return
  if values.speeds:
    out = values.out if flags.FLAGS['out'].present else gait.speeds_reference
    arrays = record_styles(gait.speed_styles(),
                           clips_per_style=values.num_clips,
                           clip_seconds=values.clip_seconds, seed=values.seed)
    motion_lib.save_reference(out, **arrays)
    print(f'wrote {out}: {len(gait.speeds)} speeds x '
          f'{values.num_clips} clips, {len(arrays["qpos"])} frames; mean '
          'speed per clip (m/s): ' + ', '.join(
              f'{arrays["qvel"][arrays["clip_ids"] == c, 0].mean():.3f}'
              for c in np.unique(arrays['clip_ids'])))
    return
  if gait.name != 'trot' and not flags.FLAGS['out'].present:
    raise app.UsageError(f'--gait {gait.name}: pass --out; the default '
                         f'({BUNDLED_REFERENCE}) is the trot\'s reference.')
  arrays = record_reference(gait.style, num_clips=values.num_clips,
                            clip_seconds=values.clip_seconds,
                            seed=values.seed)
  motion_lib.save_reference(values.out, **arrays)
  expert = expert_performance(gait.style)
  print(f'wrote {values.out}: {values.num_clips} clips, '
        f'{len(arrays["qpos"])} frames at {arrays["fps"]:g} fps; as an '
        f'expert over 400 steps: return {expert["episode_return"].mean():.1f}'
        f', forward distance {expert["forward_distance"].mean():.2f} m')


if __name__ == '__main__':
  define_flags()
  app.run(main)
