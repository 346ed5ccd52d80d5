"""Rollouts of a trained policy, scored for task return and style distance.

The policy's feature frames come from the same env-state -> frame function
that AMP trains with, and the reference's from the same feature function, so
the style distance compares like with like.
"""

import dataclasses
import functools
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Union

from brax import envs
from brax.io import html
import jax
import jax.numpy as jnp
import numpy as np

from amp_ppo.amp import feature_windows
from amp_ppo.amp import features
from amp_ppo import motion as motion_lib
from amp_ppo.amp import style_command
from amp_ppo.amp import style_evaluator
from amp_ppo.amp import style_metrics

# The final estimator, report.json's: every environment step of the final
# deterministic policy's rollouts, against reference windows drawn from the
# evaluation seed. The training-time one is the style evaluator's
# (style_evaluator.PROGRESS_STYLE_DISTANCE_KEY).
FINAL_STYLE_DISTANCE_KEY = 'style_distance'
# With several styles, report.json's table of the final policy (commanded
# style -> reference style -> distance; its diagonal mean is
# FINAL_STYLE_DISTANCE_KEY) and the references' own.
FINAL_STYLE_TABLE_KEY = 'style_table'
REFERENCE_SEPARATION_KEY = 'reference_separation'


@dataclasses.dataclass(frozen=True)
class Rollout:
  """Deterministic rollouts of N environments for T steps, no auto-reset.

  Frame 0 is the reset state; `done[:, t]` marks frame t as terminal. Steps
  after an episode's end are simulated but ignored. With action_repeat R, a
  step is one environment step (the policy acts every R of them), as in
  training, whose feature windows are of consecutive environment steps too.
  """
  frames: np.ndarray   # [N, T+1, F] AMP feature frames
  rewards: np.ndarray  # [N, T] task reward of step t (frame t -> t+1)
  done: np.ndarray     # [N, T+1] bool
  first_env_states: Any  # physics states of env 0, leaves [T+1, ...]

  @property
  def alive(self) -> np.ndarray:
    """[N, T+1]: frame t was reached before the episode ended."""
    return feature_windows.first_episode_mask(self.done, axis=1)

  @property
  def stepped(self) -> np.ndarray:
    """[N, T]: step t (frame t -> t+1) belongs to the episode.

    It does when no frame up to t is terminal: the step out of a terminal
    frame is simulated, but it is past the episode's end.
    """
    return self.alive[:, 1:]

  def episode_returns(self) -> np.ndarray:
    """[N] sum of task rewards over each episode's steps."""
    return np.sum(self.rewards * self.stepped, axis=1)

  def episode_lengths(self) -> np.ndarray:
    """[N] steps taken before the episode ended (or T)."""
    return np.sum(self.stepped, axis=1)

  def of_environments(self, mask: np.ndarray) -> 'Rollout':
    """The rollouts of the environments where `mask` [N] holds."""
    return dataclasses.replace(self, frames=self.frames[mask],
                               rewards=self.rewards[mask],
                               done=self.done[mask])

  def windows(self, history_length: int) -> np.ndarray:
    """[M, H, F] windows of consecutive frames inside one episode."""
    num_frames = self.frames.shape[1]
    starts = np.arange(num_frames - history_length + 1)
    frame_index = starts[:, None] + np.arange(history_length)
    # Every frame of the window but the last must be non-terminal, and the
    # window must start before the episode ended.
    alive = self.alive
    valid = alive[:, starts] & ~np.any(
        self.done[:, frame_index[:, :-1]], axis=2)
    return self.frames[:, frame_index][valid]


def policy_rollout(env: envs.Env, policy: Callable, frame_fn: Callable,
                   key: jax.Array, num_envs: int, num_steps: int,
                   action_repeat: int = 1,
                   styles: Optional[Sequence[str]] = None) -> Rollout:
  """Runs `policy` (Brax inference fn: obs, key -> action, extras).

  The policy acts `num_steps` times, each action held for `action_repeat`
  environment steps as Brax's training wrapper holds it. With `styles`, the
  policy of several styles: environment i is commanded style i mod S.
  """
  commands = jnp.arange(num_envs) % len(styles) if styles else None

  def one_env(key, command=None):
    key_reset, key_policy = jax.random.split(key)
    first = env.reset(key_reset)

    def env_step(action, state, unused):
      state = env.step(state, action)
      return state, (frame_fn(state), state.reward, state.done,
                     features.physics_state(state))

    def step(state, step_key):
      obs = state.obs
      if styles:
        obs = style_command.commanded_observation(obs, command, styles)
      action, _ = policy(obs, step_key)
      return jax.lax.scan(functools.partial(env_step, action), state, (),
                          length=action_repeat)

    _, outputs = jax.lax.scan(step, first,
                              jax.random.split(key_policy, num_steps))
    # [num_steps, action_repeat, ...] -> [num_steps * action_repeat, ...]
    frames, rewards, done, states = jax.tree_util.tree_map(
        lambda x: jnp.reshape(x, (x.shape[0] * x.shape[1],) + x.shape[2:]),
        outputs)
    prepend = lambda start, rest: jnp.concatenate([start[None], rest])
    return (prepend(frame_fn(first), frames), rewards,
            prepend(first.done, done),
            jax.tree_util.tree_map(prepend, features.physics_state(first),
                                   states))

  run = jax.jit(jax.vmap(one_env))
  keys = jax.random.split(key, num_envs)
  frames, rewards, done, states = (run(keys) if commands is None
                                   else run(keys, commands))
  return Rollout(
      frames=np.asarray(frames, np.float64),
      rewards=np.asarray(rewards, np.float64),
      done=np.asarray(done) > 0,
      first_env_states=jax.tree_util.tree_map(lambda x: x[0], states))


def reference_frames(env: envs.Env, motion: motion_lib.ReferenceMotion,
                     feature_fn: Optional[features.FeatureFn]
                    ) -> motion_lib.ReferenceMotion:
  """The motion resampled to the control rate, as feature clips."""
  if motion.kind == 'features':
    return motion_lib.resample(motion, float(env.dt))
  model = features.physics_model(env)
  motion = motion_lib.resample(motion, float(env.dt),
                               features.quaternion_starts(model))
  frames = features.state_frames(
      feature_fn or features.default_feature_fn(env),
      [(clip.qpos, clip.qvel) for clip in motion.clips])
  return motion_lib.ReferenceMotion(tuple(
      motion_lib.Clip(source=clip.source, fps=clip.fps, weight=clip.weight,
                      features=clip_frames)
      for clip, clip_frames in zip(motion.clips, frames)))


def reference_windows(
    feature_motion: motion_lib.ReferenceMotion, history_length: int,
    seed: int = 0,
    num_samples: int = style_evaluator.REFERENCE_SAMPLES) -> np.ndarray:
  """[num_samples, H, F] windows drawn with the clips' weights."""
  starts, probabilities = motion_lib.window_starts(feature_motion,
                                                   history_length)
  return style_evaluator.sample_windows(
      motion_lib.concatenated(feature_motion, 'features'), starts,
      probabilities, history_length, num_samples, seed)


def evaluate_policy(env: envs.Env, policy: Callable, frame_fn: Callable,
                    ref_windows: Union[np.ndarray, Mapping[str, np.ndarray]],
                    *, num_envs: int, num_steps: int,
                    seed: int, action_repeat: int = 1) -> Dict[str, Any]:
  """Task return and style distance of deterministic policy rollouts.

  With `ref_windows` a mapping of style names to their reference windows,
  the policy of several styles: its environments are commanded each style
  in turn, and the result adds the style table, the references' own
  separation and each style's return.
  """
  if isinstance(ref_windows, Mapping):
    return _evaluate_styles(env, policy, frame_fn, ref_windows,
                            num_envs=num_envs, num_steps=num_steps,
                            seed=seed, action_repeat=action_repeat)
  rollout = policy_rollout(env, policy, frame_fn, jax.random.PRNGKey(seed),
                           num_envs, num_steps, action_repeat)
  windows = rollout.windows(ref_windows.shape[1])
  return {
      'rollout': rollout,
      'episode_return': float(np.mean(rollout.episode_returns())),
      'episode_length': float(np.mean(rollout.episode_lengths())),
      FINAL_STYLE_DISTANCE_KEY: style_metrics.style_distance(
          windows, ref_windows, seed=seed),
      'num_policy_windows': int(windows.shape[0]),
  }


def _evaluate_styles(env, policy, frame_fn, ref_windows, *, num_envs,
                     num_steps, seed, action_repeat) -> Dict[str, Any]:
  names = list(ref_windows)
  if num_envs < len(names):
    raise ValueError(
        f'evaluation.num_envs={num_envs}: the final evaluation commands each '
        f'of the {len(names)} styles in turn; give at least {len(names)}.')
  rollout = policy_rollout(env, policy, frame_fn, jax.random.PRNGKey(seed),
                           num_envs, num_steps, action_repeat, styles=names)
  history = next(iter(ref_windows.values())).shape[1]
  commands = np.arange(num_envs) % len(names)
  per_style = {name: rollout.of_environments(commands == index)
               for index, name in enumerate(names)}
  windows = {name: r.windows(history) for name, r in per_style.items()}
  table = style_metrics.style_table(windows, ref_windows, seed=seed)
  return {
      'rollout': rollout,
      'episode_return': float(np.mean(rollout.episode_returns())),
      'episode_length': float(np.mean(rollout.episode_lengths())),
      'episode_return_per_style': {
          name: float(np.mean(r.episode_returns()))
          for name, r in per_style.items()},
      FINAL_STYLE_DISTANCE_KEY: style_metrics.diagonal_mean(table),
      FINAL_STYLE_TABLE_KEY: table,
      REFERENCE_SEPARATION_KEY: style_metrics.reference_separation(
          ref_windows, seed=seed),
      'num_policy_windows': int(sum(w.shape[0] for w in windows.values())),
  }


def can_render(env: envs.Env) -> bool:
  """Whether brax.io.html can draw this environment (Brax systems only)."""
  sys = getattr(getattr(env, 'unwrapped', env), 'sys', None)
  return sys is not None and hasattr(sys, 'link_types')


def render_html(env: envs.Env, rollout: Rollout, path: str) -> None:
  """Writes env 0's episode as a self-contained Brax HTML viewer."""
  length = int(rollout.episode_lengths()[0]) + 1
  states = [
      jax.tree_util.tree_map(lambda x, t=t: x[t], rollout.first_env_states)
      for t in range(length)
  ]
  sys = getattr(env, 'unwrapped', env).sys
  with open(path, 'w') as f:
    f.write(html.render(sys.tree_replace({'opt.timestep': env.dt}), states))
