"""Helpers shared by the tests: tiny environments whose AMP features expose
what the trainer did, an `Amp` and a rollout to feed its training step, and
one process-wide count of XLA lowerings."""

from brax import envs
from brax.training import types
import flax
import jax
import jax.numpy as jnp
import numpy as np

from amp_ppo.amp import feature_windows
from amp_ppo.amp import motion_prior
from amp_ppo import motion as motion_lib

# Episodes of the counter env end after this many steps plus 0..3, depending
# on the episode's id, so environments fall out of step with each other.
_BASE_EPISODE_LENGTH = 5


@flax.struct.dataclass
class CounterPhysics:
  q: jax.Array   # [step in episode, episode id]
  qd: jax.Array  # [2], unused


class CounterEnv(envs.Env):
  """A 'physics' state that counts steps within an episode.

  Features (q) are (step, episode id): a window whose frames do not count up
  by one within a single episode id has joined two episodes or taken a frame
  after a reset. Rewards favour action 0, so PPO has something to learn.
  """

  dt = 0.05

  def reset(self, rng: jax.Array) -> envs.State:
    episode = jax.random.randint(rng, (), 0, 1000).astype(jnp.float32)
    physics = CounterPhysics(q=jnp.stack([0.0, episode]), qd=jnp.zeros(2))
    return envs.State(pipeline_state=physics, obs=physics.q,
                      reward=jnp.zeros(()), done=jnp.zeros(()), metrics={},
                      info={'counter_features': physics.q})

  def step(self, state: envs.State, action: jax.Array) -> envs.State:
    step, episode = state.pipeline_state.q
    q = jnp.stack([step + 1, episode])
    physics = CounterPhysics(q=q, qd=state.pipeline_state.qd)
    done = (q[0] >= _BASE_EPISODE_LENGTH + episode % 4).astype(jnp.float32)
    reward = 1.0 - jnp.mean(jnp.square(action))
    info = {**state.info, 'counter_features': q}
    return state.replace(pipeline_state=physics, obs=q, reward=reward,
                         done=done, info=info)

  @property
  def observation_size(self) -> int:
    return 2

  @property
  def action_size(self) -> int:
    return 1

  @property
  def backend(self) -> str:
    return 'counter'


def counter_features(q: jax.Array, qd: jax.Array) -> jax.Array:
  del qd
  return q


def write_counter_reference(path: str) -> str:
  """A features-only reference for CounterEnv: steps 0..11 of episode 0."""
  steps = np.arange(12, dtype=np.float32)
  frames = np.stack([steps, np.zeros_like(steps)], axis=1)  # (step, ep 0)
  motion_lib.save_reference(path, fps=1 / CounterEnv.dt, features=frames)
  return path


def make_amp(config, reference_frames, num_chunks=2, action_repeat=1):
  """An `Amp` on reference feature frames [N, F], single device."""
  frames = jnp.asarray(reference_frames, jnp.float32)
  history = config.history_length
  starts = jnp.arange(frames.shape[0] - history + 1, dtype=jnp.int32)
  return motion_prior.Amp(
      config=config, frame_fn=None,
      reference=motion_prior.ReferenceWindows(
          frames=frames, starts=starts,
          probabilities=jnp.full(starts.shape, 1.0 / starts.shape[0])),
      feature_size=frames.shape[1], ppo_num_minibatches=num_chunks, seed=0,
      axis_name=None, action_repeat=action_repeat)


def amp_rollout(windows, task_reward, **state_extras):
  """A Brax rollout [B, T] carrying feature windows [B, T, H, F]."""
  b, t = task_reward.shape
  return types.Transition(
      observation=jnp.zeros((b, t, 1)), action=jnp.zeros((b, t, 1)),
      reward=task_reward, discount=jnp.ones((b, t)),
      next_observation=jnp.zeros((b, t, 1)),
      extras={'state_extras': {feature_windows.WINDOW_KEY: windows,
                               **state_extras},
              'policy_extras': {}})


class LoweringCounter:
  """Counts XLA lowerings (each one is a compilation or a cache lookup)."""

  def __init__(self):
    self.count = 0
    jax.monitoring.register_event_duration_secs_listener(self._on_event)

  def _on_event(self, name, *unused_args, **unused_kwargs):
    if 'jaxpr_to_mlir_module' in name:
      self.count += 1


# Tests compare counts before and after, so one listener serves them all.
LOWERINGS = LoweringCounter()


class PlacedCounterEnv(CounterEnv):
  """CounterEnv whose reset builds its physics through `pipeline_init`.

  So reference state init can start it at a reference frame (q, qd): the
  frame's q[1] becomes the episode id, which names the reference it came
  from.
  """

  def pipeline_init(self, q: jax.Array, qd: jax.Array) -> CounterPhysics:
    return CounterPhysics(q=q, qd=qd)

  def reset(self, rng: jax.Array) -> envs.State:
    state = super().reset(rng)
    physics = self.pipeline_init(state.pipeline_state.q,
                                 state.pipeline_state.qd)
    return state.replace(pipeline_state=physics, obs=physics.q,
                         info={'counter_features': physics.q})


def counter_frame(state: envs.State) -> jax.Array:
  """The AMP frame of a CounterEnv state: its q, (step, episode id)."""
  return state.pipeline_state.q


def make_style_amp(config, frames_by_style, num_chunks=2,
                   reference_start_states=None):
  """An `Amp` of several styles on reference frames [N, F] per style."""
  # pylint: disable=g-import-not-at-top
  from amp_ppo.amp import style_command
  names = list(frames_by_style)
  history = config.history_length
  frames, starts, rows, offset = [], [], [], 0
  for index, name in enumerate(names):
    style_frames = np.asarray(frames_by_style[name], np.float32)
    count = style_frames.shape[0] - history + 1
    frames.append(style_frames)
    starts.append(offset + np.arange(count))
    rows.append((index, count))
    offset += style_frames.shape[0]
  starts = np.concatenate(starts)
  probabilities = np.zeros((len(names), starts.shape[0]), np.float32)
  column = 0
  for index, count in rows:
    probabilities[index, column:column + count] = 1.0 / count
    column += count
  styles = style_command.make_styles(
      names, config.style_probabilities, config.style_switch_probability,
      config.style_info_key)
  return motion_prior.Amp(
      config=config, frame_fn=counter_frame,
      reference=motion_prior.ReferenceWindows(
          frames=jnp.asarray(np.concatenate(frames)),
          starts=jnp.asarray(starts, jnp.int32),
          probabilities=jnp.asarray(
              np.asarray(styles.probabilities) @ probabilities),
          style_probabilities=jnp.asarray(probabilities)),
      feature_size=frames[0].shape[1], ppo_num_minibatches=num_chunks,
      seed=0, axis_name=None, reference_start_states=reference_start_states,
      styles=styles)
