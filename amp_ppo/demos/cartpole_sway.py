r"""A cart-pole that sways from side to side while it balances its pole.

This scripted controller makes the bundled reference motion of the default
demo, `amp_ppo/motion/data/cartpole_sway.npz`. The task reward of Brax's
`inverted_pendulum` (1 per step while the pole is up) is earned just as well by
a cart that stands still, and that is what PPO alone learns; the sway is
therefore a style that only the reference motion can teach.

The controller tracks a sinusoidal cart trajectory x*(t) = A sin(2 pi t / T)
with linear state feedback, plus a feedforward lean: to accelerate the cart
by a, the pole must lean by about a / g, so the pole's target angle follows
the trajectory's acceleration. The warm-up (the transient from the reset
state into the sway) is dropped, so every clip is steady sway.

Two more sways of the same controller, slow and wide against fast and
narrow (SWAYS), are references of their own for a cart-pole taught several
styles at once.

Regenerate the bundled files (deterministic for a given seed):

  python -m amp_ppo.demos.cartpole_sway \
      --out amp_ppo/motion/data/cartpole_sway.npz
  python -m amp_ppo.demos.cartpole_sway --sway slow_wide
  python -m amp_ppo.demos.cartpole_sway --sway fast_narrow
"""

import dataclasses
import os
from typing import Dict

from absl import app
from absl import flags
from brax import envs
import jax
import jax.numpy as jnp
import numpy as np

from amp_ppo import motion as motion_lib
from amp_ppo import demos
from amp_ppo.demos import recorder

ENV_NAME = 'inverted_pendulum'
# MJX trains this system fastest on CPU (measured against 'positional',
# 'generalized' and 'spring'); its control step is 0.04 s.
ENV_BACKEND = 'mjx'
BUNDLED_REFERENCE = os.path.join(motion_lib.DATA_DIR,
                                 'cartpole_sway.npz')

_GRAVITY = 9.81


@dataclasses.dataclass(frozen=True)
class SwayStyle:
  """Shape of the sway and the feedback gains that produce it.

  Attributes:
    amplitude: half the cart's travel, in metres (the rail allows 1).
    period: seconds per sway cycle. Faster or wider sways need a lean beyond
      the environment's 0.2 rad limit.
    pole_gain, pole_rate_gain: feedback on the pole's angle error and rate.
    cart_gain, cart_rate_gain: feedback on the cart's position and velocity
      errors.
    lean_gain: scales the feedforward lean a / g.
  """
  amplitude: float = 0.4
  period: float = 4.0
  pole_gain: float = 5.0
  pole_rate_gain: float = 0.6
  cart_gain: float = 1.0
  cart_rate_gain: float = 0.7
  lean_gain: float = 1.0


# Two styles that differ in both amplitude and frequency, on either side of
# the default sway (0.4 m every 4 s). The full feedforward lean over-drives
# the fast sway (it swung 0.4 m for 0.2 m asked, the pole up to 0.196 rad of
# the 0.2 at which the episode ends); half of it swings 0.23 m with the pole
# within 0.12 rad. Recorded (4 clips each): 0.58 m every 6.0 s against
# 0.23 m every 2.5 s.
SWAYS: Dict[str, SwayStyle] = {
    'slow_wide': SwayStyle(amplitude=0.6, period=6.0),
    'fast_narrow': SwayStyle(amplitude=0.2, period=2.5, lean_gain=0.5),
}


def sway_reference(name: str) -> str:
  """The bundled reference of SWAYS[name]."""
  if name not in SWAYS:
    raise ValueError(f'unknown sway {name!r} — use one of '
                     f'{", ".join(SWAYS)}.')
  return os.path.join(motion_lib.DATA_DIR, f'cartpole_sway_{name}.npz')


def make_env() -> envs.Env:
  """The demo's environment, exactly as the default config builds it."""
  return envs.get_environment(ENV_NAME, backend=ENV_BACKEND)


def sway_action(style: SwayStyle, q: jax.Array, qd: jax.Array,
                t: jax.Array) -> jax.Array:
  """Action in [-1, 1] that tracks the sway at time `t` (seconds)."""
  omega = 2 * jnp.pi / style.period
  cart = style.amplitude * jnp.sin(omega * t)
  cart_velocity = style.amplitude * omega * jnp.cos(omega * t)
  # The lean follows the trajectory's acceleration -omega^2 x* and its rate.
  lean = -style.lean_gain * omega**2 * cart / _GRAVITY
  lean_rate = -style.lean_gain * omega**2 * cart_velocity / _GRAVITY
  force = (style.pole_gain * (q[1] - lean) +
           style.pole_rate_gain * (qd[1] - lean_rate) +
           style.cart_gain * (q[0] - cart) +
           style.cart_rate_gain * (qd[0] - cart_velocity))
  return jnp.clip(force, -1.0, 1.0)[None]


def record_reference(style: SwayStyle = SwayStyle(), num_clips: int = 4,
                     clip_seconds: float = 10.0, warmup_seconds: float = 4.0,
                     seed: int = 0) -> Dict[str, np.ndarray]:
  """Clips of steady sway, at the environment's control rate.

  Clips differ in their reset noise and in the phase of the sway.

  Returns:
    Keyword arguments for `amp_ppo.motion.save_reference`.

  Raises:
    RuntimeError: the pole fell in some clip (gains that do not balance).
  """
  env = make_env()
  warmup = int(round(warmup_seconds / env.dt))
  clip_steps = int(round(clip_seconds / env.dt))

  def controller(state, step, phase):
    """Tracks the sway, its clock shifted by `phase` seconds."""
    return sway_action(style, state.pipeline_state.q, state.pipeline_state.qd,
                       step * env.dt + phase)

  recording = recorder.record(
      env, controller, jax.random.split(jax.random.PRNGKey(seed), num_clips),
      warmup + clip_steps,
      clip_inputs=jnp.arange(num_clips) * style.period / num_clips)
  return recording.unbroken_reference(  # the frames after warm-up
      start=warmup + 1,
      failure='the scripted controller dropped the pole',
      advice='use gentler SwayStyle settings (smaller amplitude or a longer '
      'period)')


def define_flags() -> None:
  """Command-line flags; only when run as a program, so importing is free."""
  demos.define_recording_flags(BUNDLED_REFERENCE)
  flags.DEFINE_enum('sway', None, list(SWAYS),
                    'Record this sway of SWAYS instead of the default one, '
                    'to its bundled file unless --out is given.')


def main(argv):
  del argv
  values = flags.FLAGS
  style, out = SwayStyle(), values.out
  if values.sway is not None:
    style = SWAYS[values.sway]
    if not flags.FLAGS['out'].present:
      out = sway_reference(values.sway)
  arrays = record_reference(style=style, num_clips=values.num_clips,
                            clip_seconds=values.clip_seconds,
                            seed=values.seed)
  motion_lib.save_reference(out, **arrays)
  cart = arrays['qpos'][:, 0]
  print(f'wrote {out}: {values.num_clips} clips, '
        f'{len(cart)} frames at {arrays["fps"]:g} fps; cart range '
        f'[{cart.min():.2f}, {cart.max():.2f}] m, max pole angle '
        f'{np.abs(arrays["qpos"][:, 1]).max():.3f} rad')


if __name__ == '__main__':
  define_flags()
  app.run(main)
