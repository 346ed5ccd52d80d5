"""Brax's ant told how fast to walk: a task whose style AMP can supply.

Each episode draws a forward speed command uniformly from COMMAND_RANGE,
the speeds of the bundled multi-speed trot
(amp_ppo/motion/data/ant_trot_speeds.npz, made by `python -m
amp_ppo.demos.ant_gait --speeds --num_clips 2`: the scripted trot
at five ankle lifts, two clips each, mean speeds 0.09 to 0.39 m/s), which is
AMP's reference for this task. The reward per step is

  tracking + ALIVE_BONUS - CTRL_COST_WEIGHT * |action|^2

with tracking = exp(-(v - command)^2 / TRACKING_SIGMA^2) in (0, 1], v the
ant's speed along +x averaged over about one gait cycle (an exponential
moving average with time constant VELOCITY_TIME_CONSTANT): a trot's speed
swings by +-0.2 m/s within each cycle, and tracking the raw speed would pay
for gliding instead of stepping. Brax ant's survival bonus (1) and control
cost (0.5 |a|^2) are scaled by ANT_TERM_SCALE so that standing still, which
earns about 0.1 of the tracking on average over the commands, is not worth
most of the return. Observations are Brax ant's, then the command and the
averaged speed (the reward depends on both). Termination is Brax ant's
(torso out of 0.2..1 m).

Why several speeds: with the single-speed trot (ant_gait.npz, 0.26 to 0.28
m/s per clip) and commands in 0.20..0.31 m/s, an ant walking at 0.275 m/s
whatever it was told earned 0.88 of the tracking per step, and the trot
itself, commanded at its own speed, 0.91 (its speed wanders over seconds):
the reward barely told command following from one fixed gait. Over this
range a fixed speed earns at most 0.62, the trot's clips at their own speeds
0.93 (benchmarks/command_response.py prints both).
"""

from typing import Tuple

from brax.envs import ant
import jax
import jax.numpy as jnp

COMMAND_RANGE: Tuple[float, float] = (0.10, 0.37)  # m/s along +x
TRACKING_SIGMA = 0.1  # m/s
VELOCITY_TIME_CONSTANT = 0.5  # s: one cycle of the 2 Hz trot
ANT_TERM_SCALE = 0.2
ALIVE_BONUS = 1.0 * ANT_TERM_SCALE
CTRL_COST_WEIGHT = 0.5 * ANT_TERM_SCALE

COMMAND_KEY = 'command'
VELOCITY_KEY = 'average_velocity'


def tracking_reward(velocity: jax.Array, command: jax.Array) -> jax.Array:
  """In (0, 1]: 1 at the commanded speed, exp(-1) one sigma away."""
  return jnp.exp(-jnp.square((velocity - command) / TRACKING_SIGMA))


class CommandAnt(ant.Ant):
  """Brax `ant` with a per-episode forward speed command (see module doc)."""

  def __init__(self, command_range: Tuple[float, float] = COMMAND_RANGE,
               backend: str = 'spring', **kwargs):
    super().__init__(ctrl_cost_weight=CTRL_COST_WEIGHT,
                     healthy_reward=ALIVE_BONUS, backend=backend, **kwargs)
    self._command_range = command_range

  def reset(self, rng: jax.Array) -> ant.State:
    rng, rng_command = jax.random.split(rng)
    state = super().reset(rng)
    low, high = self._command_range
    command = jax.random.uniform(rng_command, (), minval=low, maxval=high)
    velocity = jnp.zeros(())
    state.info[COMMAND_KEY] = command
    state.info[VELOCITY_KEY] = velocity
    zero = jnp.zeros(())
    state.metrics.update(reward_tracking=zero, command=zero)
    return state.replace(obs=self._with_command(state.obs, command, velocity))

  def step(self, state: ant.State, action: jax.Array) -> ant.State:
    command = state.info[COMMAND_KEY]
    next_state = super().step(state, action)
    alpha = min(float(self.dt) / VELOCITY_TIME_CONSTANT, 1.0)
    velocity = ((1 - alpha) * state.info[VELOCITY_KEY] +
                alpha * next_state.metrics['x_velocity'])
    tracking = tracking_reward(velocity, command)
    # Brax ant's: forward + survive - ctrl; the forward term is replaced.
    reward = next_state.reward - next_state.metrics['reward_forward'] + tracking
    info = {**next_state.info, VELOCITY_KEY: velocity}
    next_state.metrics.update(reward_tracking=tracking, command=command)
    return next_state.replace(
        obs=self._with_command(next_state.obs, command, velocity),
        reward=reward, info=info)

  @staticmethod
  def _with_command(obs, command, velocity):
    return jnp.concatenate([obs, jnp.stack([command, velocity])])
