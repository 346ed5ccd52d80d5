"""The style command of a policy taught several styles (Multi-AMP).

With `amp_reference` a mapping of style names to references, each
environment holds a command, the index of one style (in the mapping's
order). The policy and value networks see its one-hot appended to their
observation, the feature windows the environment records carry the command
the policy acted under, and the style reward comes from that style's
discriminator.

`StyleCommandWrapper` sits above Brax's auto-reset (and below nothing that
reads observations), so it sees each control step once and every episode
end:

  reset   draws each environment's style (evaluation: styles in turn, so
          the environments split evenly), or takes the one reference state
          init drew for its start;
  step    draws the style of the next episode before stepping and passes it
          down in `state.info[NEXT_STYLE_KEY]`, where reference state init
          picks the start it writes beneath the auto-reset from that style's
          clips (Brax's auto-reset restores that start instead of calling
          reset, so the style has to be decided before the episode ends);
          labels the step's window with the command it was taken under;
          switches the command with `switch_probability`; and starts the
          next episode with the pre-drawn style.

An environment that draws its own command (`style_info_key`) keeps it: the
wrapper then only reads `state.info[style_info_key]`, draws nothing and
appends nothing.
"""

import dataclasses
from typing import Any, Mapping, Optional, Sequence, Tuple, Union

from brax import envs
import jax
import jax.numpy as jnp
import numpy as np

# Keys this module adds to `state.info`.
STYLE_KEY = 'amp_style'  # int32: the command the observation shows.
# int32: the style of the next episode, drawn at every step (reference
# state init starts that episode from one of its clips).
NEXT_STYLE_KEY = 'amp_next_style'
# int32: the command of the step that recorded feature_windows.WINDOW_KEY.
WINDOW_STYLE_KEY = 'amp_window_style'
_KEY = 'amp_style_key'
_SALT = 0x434D44  # 'CMD'
# Observation keys that hold images; the one-hot goes to every other key.
_PIXEL_PREFIX = 'pixels/'


@dataclasses.dataclass(frozen=True)
class Styles:
  """The styles of a run and how their command is drawn.

  Attributes:
    names: style names, in the order of `amp_reference`'s mapping; a
      command is an index into them.
    probabilities: [S] probability of each style at a draw.
    switch_probability: probability per control step of a new draw
      mid-episode.
    info_key: the environment's own command in `state.info`, or None.
  """
  names: Tuple[str, ...]
  probabilities: Tuple[float, ...]
  switch_probability: float = 0.0
  info_key: Optional[str] = None

  @property
  def num(self) -> int:
    return len(self.names)

  @property
  def appends_one_hot(self) -> bool:
    return self.info_key is None

  def index(self, style: Union[str, int]) -> int:
    """A style's index from its name (or index)."""
    if isinstance(style, str):
      if style not in self.names:
        raise ValueError(f'unknown style {style!r}; the styles are '
                         f'{list(self.names)}.')
      return self.names.index(style)
    index = int(style)
    if not 0 <= index < self.num:
      raise ValueError(f'style index {index} is not one of the {self.num} '
                       f'styles {list(self.names)}.')
    return index


def make_styles(names: Sequence[str],
                probabilities: Optional[Mapping[str, float]],
                switch_probability: float,
                info_key: Optional[str]) -> Styles:
  """Checks the style settings against the styles' names; host only.

  Raises:
    ValueError: probabilities that name an unknown style, miss one, are
      negative or do not sum to 1.
  """
  names = tuple(names)
  if probabilities is None:
    return Styles(names, tuple([1.0 / len(names)] * len(names)),
                  float(switch_probability), info_key)
  if not isinstance(probabilities, Mapping):
    raise ValueError(
        f'amp_style_probabilities={probabilities!r}: give a mapping of style '
        f'name to probability, e.g. {{{names[0]!r}: 0.5, ...}}.')
  unknown = sorted(set(probabilities) - set(names))
  missing = [name for name in names if name not in probabilities]
  if unknown or missing:
    raise ValueError(
        f'amp_style_probabilities names {unknown or "no unknown style"} '
        f'and misses {missing or "none"}: give one probability for each '
        f'style of amp_reference, {list(names)} '
        '(--config.amp.style_probabilities.<style>=p).')
  values = np.array([probabilities[name] for name in names], np.float64)
  if not np.all(np.isfinite(values)) or np.any(values < 0):
    raise ValueError(f'amp_style_probabilities={dict(probabilities)!r}: '
                     'each probability must be a finite number >= 0.')
  if abs(values.sum() - 1.0) > 1e-6:
    raise ValueError(f'amp_style_probabilities={dict(probabilities)!r}: they '
                     f'sum to {values.sum():g}, not 1.')
  return Styles(names, tuple(float(v) for v in values),
                float(switch_probability), info_key)


# -- observations ------------------------------------------------------------


def one_hot(style: jax.Array, num_styles: int) -> jax.Array:
  return jax.nn.one_hot(style, num_styles, dtype=jnp.float32)


def _commanded_keys(observation) -> Tuple[str, ...]:
  return tuple(k for k in observation if not k.startswith(_PIXEL_PREFIX))


def append_one_hot(observation: Any, command: jax.Array) -> Any:
  """The observation with `command` [..., S] appended to its last axis.

  A dict observation (Playground's `state` and `privileged_state`) gets it
  in every key but images (`pixels/...`).
  """

  def append(leaf):
    leaf = jnp.asarray(leaf)
    extra = jnp.broadcast_to(command, leaf.shape[:-1] + command.shape[-1:])
    return jnp.concatenate([leaf, extra.astype(leaf.dtype)], axis=-1)

  if isinstance(observation, Mapping):
    keys = _commanded_keys(observation)
    return {k: append(v) if k in keys else v for k, v in observation.items()}
  return append(observation)


def strip_one_hot(observation: Any, num_styles: int) -> Any:
  """The observation without the last `num_styles` entries appended."""
  if isinstance(observation, Mapping):
    keys = _commanded_keys(observation)
    return {k: v[..., :-num_styles] if k in keys else v
            for k, v in observation.items()}
  return observation[..., :-num_styles]


def commanded_observation(observation: Any, style: Union[str, int, Any],
                          styles: Sequence[str]) -> Any:
  """An observation as a policy of several styles sees it under a command.

  For a deployed policy of `amp_ppo.train(amp_reference={...})`:
  `make_policy(params)(commanded_observation(obs, 'trot', names), key)`.

  Args:
    observation: the environment's own observation, one environment's or a
      batch's ([..., D], or a dict of such arrays).
    style: a style name, or index, or an int array of indices for a batch.
    styles: the style names in the order of the training run's
      `amp_reference` mapping.

  Returns:
    The observation with the command's one-hot appended (to every key of a
    dict observation but images).
  """
  names = tuple(styles)
  if isinstance(style, str):
    if style not in names:
      raise ValueError(f'unknown style {style!r}; the styles are '
                       f'{list(names)}.')
    style = names.index(style)
  return append_one_hot(observation, one_hot(jnp.asarray(style), len(names)))


# -- the command, drawn and kept in state.info --------------------------------


def _per_environment(function, keys: jax.Array) -> jax.Array:
  """`function(key)` for each environment's key of a batch [..., 2]."""
  flat = jnp.reshape(keys, (-1, keys.shape[-1]))
  values = jax.vmap(function)(flat)
  return jnp.reshape(values, keys.shape[:-1] + values.shape[1:])


def _split(keys: jax.Array, num: int) -> Tuple[jax.Array, ...]:
  """Each environment's key [..., 2] split into `num` keys of that shape."""
  split = _per_environment(lambda k: jax.random.split(k, num), keys)
  return tuple(split[..., i, :] for i in range(num))


class StyleCommandWrapper(envs.Wrapper):
  """Above the auto-reset: the command in `info` and in the observation.

  See the module docstring. With `evaluation`, environment i holds style
  i mod S for the whole rollout (evaluation counts first episodes only).
  """

  def __init__(self, env: envs.Env, styles: Styles, evaluation: bool = False):
    super().__init__(env)
    self._styles = styles
    self._evaluation = evaluation
    self._probabilities = jnp.asarray(styles.probabilities, jnp.float32)

  def _draw(self, keys: jax.Array) -> jax.Array:
    return _per_environment(
        lambda k: jax.random.choice(k, self._styles.num,
                                    p=self._probabilities).astype(jnp.int32),
        keys)

  def _observe(self, observation, style):
    if not self._styles.appends_one_hot:
      return observation
    return append_one_hot(observation, one_hot(style, self._styles.num))

  def _unobserve(self, observation):
    if not self._styles.appends_one_hot:
      return observation
    return strip_one_hot(observation, self._styles.num)

  def reset(self, rng: jax.Array) -> envs.State:
    state = self.env.reset(rng)
    key_style, key = _split(
        _per_environment(lambda k: jax.random.fold_in(k, _SALT), rng), 2)
    batch = rng.shape[:-1]
    if self._styles.info_key is not None:
      style = state.info[self._styles.info_key].astype(jnp.int32)
    elif self._evaluation:
      count = int(np.prod(batch, dtype=int))
      style = jnp.reshape(jnp.arange(count, dtype=jnp.int32) %
                          self._styles.num, batch)
    elif NEXT_STYLE_KEY in state.info:  # Reference state init drew it.
      style = state.info[NEXT_STYLE_KEY]
    else:
      style = self._draw(key_style)
    info = {**state.info, STYLE_KEY: style, NEXT_STYLE_KEY: style,
            WINDOW_STYLE_KEY: style, _KEY: key}
    return state.replace(obs=self._observe(state.obs, style), info=info)

  def step(self, state: envs.State, action: jax.Array) -> envs.State:
    styles = self._styles
    if styles.info_key is not None:
      style = state.info[styles.info_key].astype(jnp.int32)
    else:
      style = state.info[STYLE_KEY]
    key, key_next, key_switch, key_draw = _split(state.info[_KEY], 4)
    drawing = styles.info_key is None and not self._evaluation
    next_style = self._draw(key_next) if drawing else style
    inner = state.replace(obs=self._unobserve(state.obs),
                          info={**state.info, NEXT_STYLE_KEY: next_style})
    next_state = self.env.step(inner, action)
    if styles.info_key is not None:
      command = next_state.info[styles.info_key].astype(jnp.int32)
    else:
      command = style
      if drawing and styles.switch_probability > 0:
        switch = _per_environment(
            lambda k: jax.random.bernoulli(k, styles.switch_probability),
            key_switch)
        command = jnp.where(switch, self._draw(key_draw), command)
      # The auto-reset restored the start drawn for `next_style`.
      command = jnp.where(next_state.done > 0, next_style, command)
    info = {**next_state.info, STYLE_KEY: command,
            NEXT_STYLE_KEY: next_style, WINDOW_STYLE_KEY: style, _KEY: key}
    return next_state.replace(obs=self._observe(next_state.obs, command),
                              info=info)
