"""Reference state initialisation: start some episodes from reference frames.

Brax's auto-reset wrapper does not call `reset` again: it restores the
physics state and observation it stored in `state.info` at the first reset.
To re-sample a start at every auto-reset, this wrapper, which sits beneath the
auto-reset wrapper, writes a freshly drawn start into those `info` entries at
every step; the auto-reset wrapper then restores that one when the episode
ends. The start is drawn by running the environment's own `reset`, with its
`pipeline_init` fed a reference frame, so observations and any other reset
logic stay the environment's own.
"""

from typing import Optional

from brax import envs
import jax
import jax.numpy as jnp

from amp_ppo.amp import feature_windows
from amp_ppo.amp import features

# `info` entries the auto-reset wrappers restore from (Brax; MuJoCo
# Playground); whichever are present get the freshly drawn start.
_RESTORED_PHYSICS_KEYS = ('first_pipeline_state', 'first_state',
                          'AutoResetWrapper_first_data')
_RESTORED_OBS_KEYS = ('first_obs', 'AutoResetWrapper_first_obs')
_KEY = 'amp_rsi_key'


class ReferenceStateInitWrapper(envs.Wrapper):
  """With probability `fraction`, episodes start at a random reference frame.

  With `history_frames` [num_frames, H-2, F] (feature windows of more than
  two frames), a start drawn from the reference also carries the reference
  frames before it, so the feature recorder above seeds its history with the
  episode's true past instead of repeating the first frame.
  """

  def __init__(self, env: envs.Env, fraction: float, qpos: jax.Array,
               qvel: jax.Array, frame_probabilities: jax.Array,
               history_frames: Optional[jax.Array] = None):
    super().__init__(env)
    self._fraction = fraction
    self._qpos = qpos                 # [num_frames, nq]
    self._qvel = qvel                 # [num_frames, nv]
    self._probabilities = frame_probabilities  # [num_frames]
    self._history_frames = history_frames  # [num_frames, H-2, F] or None

  def reset(self, rng: jax.Array) -> envs.State:
    rng, key = jax.random.split(rng)
    state, history = self._draw_start(key)
    state.info[_KEY] = rng
    state.info.update(history)
    return state

  def step(self, state: envs.State, action: jax.Array) -> envs.State:
    key, draw_key = jax.random.split(state.info[_KEY])
    next_state = self.env.step(state, action)
    start, history = self._draw_start(draw_key)
    physics_keys = [k for k in _RESTORED_PHYSICS_KEYS if k in next_state.info]
    obs_keys = [k for k in _RESTORED_OBS_KEYS if k in next_state.info]
    if not physics_keys or not obs_keys:
      raise ValueError(
          'AMP reference_state_init: found no auto-reset first-state entries '
          f'in state.info (looked for {_RESTORED_PHYSICS_KEYS} and '
          f'{_RESTORED_OBS_KEYS}), so drawn starts would never be used. It '
          'needs Brax\'s or MuJoCo Playground\'s auto-reset wrapper above '
          'it (wrap_env=True, or a wrap_env_fn that uses one); or set '
          'amp_reference_state_init=0.')
    for name in physics_keys:
      next_state.info[name] = features.physics_state(start)
    for name in obs_keys:
      next_state.info[name] = start.obs
    next_state.info[_KEY] = key
    next_state.info.update(history)
    return next_state

  def _draw_start(self, key: jax.Array):
    """A start state, and the history entries for the feature recorder."""
    key_use, key_frame, key_reset = jax.random.split(key, 3)
    own = self.env.reset(key_reset)
    frame = jax.random.choice(key_frame, self._qpos.shape[0],
                              p=self._probabilities)
    from_reference = self._reset_at(key_reset, self._qpos[frame],
                                    self._qvel[frame])
    use_reference = jax.random.bernoulli(key_use, self._fraction)
    start = jax.tree_util.tree_map(
        lambda r, o: jnp.where(use_reference, r, o), from_reference, own)
    if self._history_frames is None:
      return start, {}
    return start, {feature_windows.RSI_HISTORY_KEY: self._history_frames[frame],
                   feature_windows.RSI_FROM_REFERENCE_KEY: use_reference}
  def _reset_at(self, key, qpos, qvel) -> envs.State:
    """The environment's own reset, with its physics placed at (qpos, qvel)."""
    raw = self.env.unwrapped
    pipeline_init = raw.pipeline_init

    def init_at_reference(unused_q, unused_qd, *args, **kwargs):
      return pipeline_init(qpos, qvel, *args, **kwargs)

    raw.pipeline_init = init_at_reference  # shadows the method while tracing
    try:
      return self.env.reset(key)
    finally:
      del raw.pipeline_init
