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

from brax import envs
import jax
import jax.numpy as jnp

# `info` entries the auto-reset wrappers restore from (Brax, MuJoCo
# Playground); whichever are present get the freshly drawn start.
_RESTORED_PHYSICS_KEYS = ('first_pipeline_state', 'first_state')
_RESTORED_OBS_KEY = 'first_obs'
_KEY = 'amp_rsi_key'


class ReferenceStateInitWrapper(envs.Wrapper):
  """With probability `fraction`, episodes start at a random reference frame."""

  def __init__(self, env: envs.Env, fraction: float, qpos: jax.Array,
               qvel: jax.Array, frame_probabilities: jax.Array):
    super().__init__(env)
    self._fraction = fraction
    self._qpos = qpos                 # [num_frames, nq]
    self._qvel = qvel                 # [num_frames, nv]
    self._probabilities = frame_probabilities  # [num_frames]

  def reset(self, rng: jax.Array) -> envs.State:
    rng, key = jax.random.split(rng)
    state = self._draw_start(key)
    state.info[_KEY] = rng
    return state

  def step(self, state: envs.State, action: jax.Array) -> envs.State:
    key, draw_key = jax.random.split(state.info[_KEY])
    next_state = self.env.step(state, action)
    start = self._draw_start(draw_key)
    for name in _RESTORED_PHYSICS_KEYS:
      if name in next_state.info:
        next_state.info[name] = start.pipeline_state
    if _RESTORED_OBS_KEY in next_state.info:
      next_state.info[_RESTORED_OBS_KEY] = start.obs
    next_state.info[_KEY] = key
    return next_state

  def _draw_start(self, key: jax.Array) -> envs.State:
    key_use, key_frame, key_reset = jax.random.split(key, 3)
    own = self.env.reset(key_reset)
    frame = jax.random.choice(key_frame, self._qpos.shape[0],
                              p=self._probabilities)
    from_reference = self._reset_at(key_reset, self._qpos[frame],
                                    self._qvel[frame])
    use_reference = jax.random.bernoulli(key_use, self._fraction)
    return jax.tree_util.tree_map(
        lambda r, o: jnp.where(use_reference, r, o), from_reference, own)

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
