"""Feature windows, recorded at every environment step during training.

`AmpFeatureWrapper` sits directly on the raw environment, beneath Brax's
episode and auto-reset wrappers, and writes the window of the last
`history_length` frames into `state.info` at every step. It therefore sees the
post-step state before an auto-reset replaces it. `EpisodeStartMarker`, above
the auto-reset, tells it which steps start a new episode, so a window never
spans two episodes.

Domain-randomisation wrappers (Brax's and MuJoCo Playground's) step
`self.env.unwrapped` with each environment's model swapped in, skipping every
wrapper between them and the raw environment. So that nothing can skip the
recorder, `AmpFeatureWrapper` presents itself as the unwrapped environment and
passes attribute writes (the swapped model) on to the real one.
"""

from typing import Callable, Tuple

from brax import envs
import jax
import jax.numpy as jnp

# Keys this module adds to `state.info`.
WINDOW_KEY = 'amp_window'          # [H, F]: frames t-H+2 .. t+1, pre-reset.
WINDOW_VALID_KEY = 'amp_window_valid'  # bool: no frame of it is padding.
EPISODE_START_KEY = 'amp_episode_start'  # bool: this step starts an episode.
_HISTORY_KEY = 'amp_history'       # [H-1, F]: the last H-1 frames.
# [F]: frame of the state the auto-reset restores; reference state init,
# which redraws that state at every step, rewrites it with each draw.
FIRST_FRAME_KEY = 'amp_first_frame'
_FRAMES_SEEN_KEY = 'amp_frames_seen'  # int32: real frames in the history.
# Written by reference state init for the start it drew (history > 2 only).
RSI_HISTORY_KEY = 'amp_rsi_history'  # [H-2, F]: reference frames before it.
RSI_FROM_REFERENCE_KEY = 'amp_rsi_from_reference'  # bool


class EpisodeStartMarker(envs.Wrapper):
  """Above the auto-reset: marks the steps that start from a reset state.

  An auto-reset wrapper swaps in a new episode's first state after a step
  that ended one, and clears `done` before it steps the environment beneath
  it, so nothing beneath can see the swap reliably (observations may repeat,
  and outer wrappers may change them). The previous step's `done`, read
  here, above the auto-reset, and passed down in `info`, is that signal.
  """

  def reset(self, rng: jax.Array) -> envs.State:
    state = self.env.reset(rng)
    state.info[EPISODE_START_KEY] = jnp.zeros(state.done.shape, bool)
    return state

  def step(self, state: envs.State, action: jax.Array) -> envs.State:
    info = {**state.info, EPISODE_START_KEY: state.done > 0}
    return self.env.step(state.replace(info=info), action)


class AmpFeatureWrapper(envs.Wrapper):
  """Records a window of AMP features at every step, before any auto-reset.

  It keeps the last frames in `info` and needs `EpisodeStartMarker` above the
  auto-reset to restart them with each episode, so each step computes only
  its new state's frame. With `history_length` > 2, the first windows of an
  episode repeat its first frame (unless reference state init seeded the
  frames before it) and are marked invalid in WINDOW_VALID_KEY.
  """

  def __init__(self, env: envs.Env, frame_fn: Callable[[envs.State], jax.Array],
               history_length: int, first_episode_only: bool = False):
    """See the class docstring.

    Args:
      env: the raw environment (or reference state init on it).
      frame_fn: state -> feature frame [F].
      history_length: frames per window.
      first_episode_only: for evaluation, which uses each environment's
        first episode only: the history is never restarted, so no
        EpisodeStartMarker is needed (a wrapper above this one could be
        skipped by domain randomisation, which steps `unwrapped`).
    """
    super().__init__(env)
    self._frame_fn = frame_fn
    self._history_length = history_length
    self._first_episode_only = first_episode_only
    self._masks_padding = history_length > 2
    if (getattr(env, 'redraws_starts', False) and
        not getattr(env, 'writes_first_frame', False)):
      raise ValueError(
          'AMP: the reference state init beneath the feature recorder redraws '
          'the auto-reset\'s start at every step but was given no frame_fn, '
          'so episode starts would get a stale first frame; pass the '
          'recorder\'s frame_fn to ReferenceStateInitWrapper.')
    self._constructed = True

  @property
  def unwrapped(self) -> envs.Env:
    return self

  def __setattr__(self, name, value):
    # After construction, writes of attributes the recorder does not own
    # (`sys`, `_mjx_model`) are meant for the raw environment; reads already
    # reach it through Wrapper.__getattr__.
    if self.__dict__.get('_constructed') and name not in self.__dict__:
      setattr(self.env.unwrapped, name, value)
    else:
      super().__setattr__(name, value)

  def reset(self, rng: jax.Array) -> envs.State:
    state = self.env.reset(rng)
    frame = self._frame_fn(state)
    history, seen = self._start_history(state.info, frame)
    state.info[WINDOW_KEY] = jnp.concatenate([history[:1], history])
    state.info[_HISTORY_KEY] = history
    state.info[FIRST_FRAME_KEY] = frame
    if self._masks_padding:
      state.info[_FRAMES_SEEN_KEY] = seen
      state.info[WINDOW_VALID_KEY] = jnp.zeros((), bool)
    return state

  def step(self, state: envs.State, action: jax.Array) -> envs.State:
    history, seen = self._history_before_step(state)
    next_state = self.env.step(state, action)
    window = jnp.concatenate([history, self._frame_fn(next_state)[None]])
    next_state.info[WINDOW_KEY] = window
    next_state.info[_HISTORY_KEY] = window[1:]
    if not self._first_episode_only:
      # Consumed: with action_repeat, later substeps continue the episode.
      next_state.info[EPISODE_START_KEY] = jnp.zeros((), bool)
    if self._masks_padding:
      seen = jnp.minimum(seen + 1, self._history_length)
      next_state.info[_FRAMES_SEEN_KEY] = seen
      next_state.info[WINDOW_VALID_KEY] = seen >= self._history_length
    return next_state

  def _start_history(self, info, frame) -> Tuple[jax.Array, jax.Array]:
    """[H-1, F] frames up to an episode's first, and how many are real."""
    padded = jnp.broadcast_to(frame, (self._history_length - 1,) + frame.shape)
    if RSI_HISTORY_KEY not in info:
      return padded, jnp.ones((), jnp.int32)
    # Reference state init started from a reference frame: the frames before
    # it in its clip are the episode's past.
    from_reference = info[RSI_FROM_REFERENCE_KEY]
    seeded = jnp.concatenate([info[RSI_HISTORY_KEY], frame[None]])
    return (jnp.where(from_reference, seeded, padded),
            jnp.where(from_reference, self._history_length - 1,
                      1).astype(jnp.int32))

  def _history_before_step(self, state: envs.State):
    if self._first_episode_only:
      return state.info[_HISTORY_KEY], (
          state.info[_FRAMES_SEEN_KEY] if self._masks_padding else None)
    if EPISODE_START_KEY not in state.info:
      raise ValueError(
          'AMP: the feature recorder needs '
          'amp_ppo.amp.feature_windows.EpisodeStartMarker above the '
          'auto-reset wrapper (amp_ppo.train puts it there); without it the '
          'feature history cannot restart with each episode.')
    # The auto-reset swaps in the state whose frame FIRST_FRAME_KEY holds: no
    # second feature computation per step (on ant, a forward kinematics pass,
    # in compile and run time alike).
    fresh, fresh_seen = self._start_history(state.info,
                                            state.info[FIRST_FRAME_KEY])
    restarted = state.info[EPISODE_START_KEY]
    history = jnp.where(restarted, fresh, state.info[_HISTORY_KEY])
    if not self._masks_padding:
      return history, None
    return history, jnp.where(restarted, fresh_seen,
                              state.info[_FRAMES_SEEN_KEY])


def first_episode_mask(done, axis: int = 0):
  """Done flags, time along `axis` -> bool: the step is in the first episode.

  The terminal step itself is; the steps after it, which a rollout without
  auto-reset still simulates, are not. Every count over evaluation rollouts
  and recorded clips uses this rule. NumPy or JAX arrays alike.
  """
  ended_before = done.cumsum(axis=axis) - done
  return ended_before == 0
