"""Reference state initialisation: start some episodes from reference frames.

Brax's auto-reset wrapper does not call `reset` again: it restores the
physics state and observation it stored in `state.info` at the first reset.
To re-sample a start at every auto-reset, this wrapper, which sits beneath the
auto-reset wrapper, writes a freshly drawn start into those `info` entries at
every step; the auto-reset wrapper then restores that one when the episode
ends. The start is drawn by running the environment's own `reset` with its
physics built at a reference frame, so observations, commands and any other
reset logic stay the environment's own: a Brax `PipelineEnv` gets the frame
through its `pipeline_init`; a MuJoCo Playground `MjxEnv` through the one
`mjx_env.make_data` call its reset makes (kinematics are then recomputed by
the reset's own `mjx.forward`).
"""

import contextlib
import inspect
from typing import Callable, List, Optional

from brax import envs
import jax
import jax.numpy as jnp

from amp_ppo.amp import feature_windows
from amp_ppo.amp import features
from amp_ppo.amp import style_command

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
  episode's true past instead of repeating the first frame. With `frame_fn`,
  the recorder's own, each drawn start's feature frame goes into
  `feature_windows.FIRST_FRAME_KEY`, where the recorder finds an episode's
  first frame; the recorder refuses to sit on this wrapper without it.

  With several styles, `frame_probabilities` holds one row per style (each
  style's frames only) and `style_probabilities` the chance of each style:
  a reset draws the style of its start and leaves it in
  `style_command.NEXT_STYLE_KEY`; a step draws from the style the command
  wrapper above put there, the style of the episode that start begins.
  """

  redraws_starts = True

  def __init__(self, env: envs.Env, fraction: float, qpos: jax.Array,
               qvel: jax.Array, frame_probabilities: jax.Array,
               history_frames: Optional[jax.Array] = None,
               frame_fn: Optional[Callable[[envs.State], jax.Array]] = None,
               style_probabilities: Optional[jax.Array] = None):
    super().__init__(env)
    self._frame_fn = frame_fn
    self.writes_first_frame = frame_fn is not None
    self._fraction = fraction
    self._qpos = qpos                 # [num_frames, nq]
    self._qvel = qvel                 # [num_frames, nv]
    # [num_frames], or [num_styles, num_frames] with several styles.
    self._probabilities = frame_probabilities
    self._history_frames = history_frames  # [num_frames, H-2, F] or None
    self._style_probabilities = style_probabilities  # [num_styles] or None

  def reset(self, rng: jax.Array) -> envs.State:
    rng, key = jax.random.split(rng)
    style = None
    if self._style_probabilities is not None:
      style = jax.random.choice(jax.random.fold_in(key, 1),
                                self._style_probabilities.shape[0],
                                p=self._style_probabilities).astype(jnp.int32)
    state, history = self._draw_start(key, style)
    state.info[_KEY] = rng
    state.info.update(history)
    if style is not None:
      state.info[style_command.NEXT_STYLE_KEY] = style
    return state

  def step(self, state: envs.State, action: jax.Array) -> envs.State:
    key, draw_key = jax.random.split(state.info[_KEY])
    style = None
    if self._style_probabilities is not None:
      style = state.info[style_command.NEXT_STYLE_KEY]
    next_state = self.env.step(state, action)
    start, history = self._draw_start(draw_key, style)
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
    if self._frame_fn is not None:
      next_state.info[feature_windows.FIRST_FRAME_KEY] = self._frame_fn(start)
    return next_state

  def _draw_start(self, key: jax.Array, style: Optional[jax.Array] = None):
    """A start state (of `style`'s frames), and the recorder's history."""
    key_use, key_frame, key_reset = jax.random.split(key, 3)
    probabilities = (self._probabilities if style is None
                     else self._probabilities[style])
    frame = jax.random.choice(key_frame, self._qpos.shape[0],
                              p=probabilities)
    use_reference = jax.random.bernoulli(key_use, self._fraction)
    # One reset, choosing its physics' (q, qd) only: selecting between two
    # whole reset states would trace the reset twice, and MJX's Warp data
    # does not survive being rebuilt leaf by leaf.
    start = self._reset_at(key_reset, self._qpos[frame], self._qvel[frame],
                           use_reference)
    if self._history_frames is None:
      return start, {}
    return start, {feature_windows.RSI_HISTORY_KEY: self._history_frames[frame],
                   feature_windows.RSI_FROM_REFERENCE_KEY: use_reference}
  def _reset_at(self, key, qpos, qvel, use_reference) -> envs.State:
    """The environment's own reset; at (qpos, qvel) where `use_reference`."""
    with placed_at(self.env.unwrapped, qpos, qvel, use_reference) as calls:
      state = self.env.reset(key)
    check_placed(self.env.unwrapped, calls)
    return state


def _playground_mjx_env():
  try:
    from mujoco_playground._src import mjx_env  # pylint: disable=g-import-not-at-top
  except ImportError:
    return None
  return mjx_env


def can_place(raw_env) -> bool:
  """Whether `placed_at` knows how to start `raw_env`'s reset at a frame."""
  if hasattr(raw_env, 'pipeline_init'):
    return True
  mjx_env = _playground_mjx_env()
  return mjx_env is not None and isinstance(raw_env, mjx_env.MjxEnv)


@contextlib.contextmanager
def placed_at(raw_env, qpos, qvel, use_reference=True):
  """While tracing `reset` inside: its physics starts at (qpos, qvel).

  Where `use_reference` is False, the reset keeps the (q, qd) it drew
  itself. Yields a list that gets one entry per physics state the reset
  built.
  """
  calls: List[None] = []
  choose = lambda reference, own: jnp.where(use_reference, reference, own)
  if hasattr(raw_env, 'pipeline_init'):
    pipeline_init = raw_env.pipeline_init

    def init_at_reference(q, qd, *args, **kwargs):
      calls.append(None)
      return pipeline_init(choose(qpos, q), choose(qvel, qd), *args, **kwargs)

    raw_env.pipeline_init = init_at_reference  # shadows the method
    try:
      yield calls
    finally:
      del raw_env.pipeline_init
    return
  mjx_env = _playground_mjx_env()
  make_data = mjx_env.make_data
  signature = inspect.signature(make_data)

  def make_data_at_reference(*args, **kwargs):
    calls.append(None)
    arguments = signature.bind(*args, **kwargs).arguments
    model = arguments['model']
    own_qpos = arguments.get('qpos')
    own_qvel = arguments.get('qvel')
    arguments.update(
        qpos=choose(qpos, model.qpos0 if own_qpos is None else own_qpos),
        qvel=choose(qvel, jnp.zeros(model.nv) if own_qvel is None
                    else own_qvel))
    return make_data(**arguments)

  mjx_env.make_data = make_data_at_reference  # read at call time by envs
  try:
    yield calls
  finally:
    mjx_env.make_data = make_data


def check_placed(raw_env, calls: List[None]) -> None:
  """Raises unless the traced reset built exactly one physics state."""
  if len(calls) == 1:
    return
  how = ('pipeline_init' if hasattr(raw_env, 'pipeline_init')
         else 'mujoco_playground mjx_env.make_data')
  raise ValueError(
      f'AMP reference_state_init: the reset of {type(raw_env).__name__} '
      f'called {how} {len(calls)} times, so there is no single start state '
      'to put at a reference frame. Set amp_reference_state_init=0, or make '
      'the reset build its state once.')
