"""The style distance at every evaluation of an AMP run, from its rollouts.

`amp_ppo.train` (with AMP) hands the vendored trainer `StyleEvaluator` in
place of Brax's `acting.Evaluator` (patch 0005) and an eval environment with
the feature recorder beneath Brax's wrappers (`wrap_eval_env`). The
evaluation runs exactly Brax's rollout, same keys and same episode metrics,
and in the same jitted call also draws up to `SAMPLE_BUDGET` feature windows,
uniformly without replacement, from the steps of each environment's first
episode (the ones Brax's metrics count). Only those come to the host, where
`style_metrics.style_distance` compares them with reference windows drawn
once; the result is `PROGRESS_STYLE_DISTANCE_KEY`.

The number is the style distance of a random subsample of the evaluation
windows, and exactly that of all of them when they are at most the budget.
It tracks progress; it is not the final figure. Brax's evaluation samples the
stochastic policy (unless `deterministic_eval`), and with `action_repeat`
R > 1 a control step holds the window of its last raw step, the windows the
discriminator trains on. The final evaluation (`amp_ppo.run.evaluation`)
rolls out the deterministic policy, takes every raw step and draws its
reference windows from the evaluation seed: report.json's `style_distance`.

Cost per evaluation: the feature function on every step of the rollout (as
in training), a top-k over its steps, a [budget, H, F] transfer, and
256 projections of at most 2 x 4096 rows on the host (milliseconds).
This module is used by `amp_ppo.training`; it imports only `amp`, `motion`
and `style_metrics` (NumPy), so the training layer may import it.
"""

from typing import Any, Callable, Optional, Sequence

from brax import envs
from brax.training import acting
import jax
import jax.numpy as jnp
import numpy as np

from amp_ppo.amp import feature_windows
from amp_ppo.amp import style_command
from amp_ppo.amp import style_metrics

# The training-time estimator: Brax's evaluation rollouts (stochastic policy
# unless deterministic_eval), up to SAMPLE_BUDGET windows of each env's first
# episode, against REFERENCE_SAMPLES reference windows drawn with
# REFERENCE_SEED. Printed, plotted and logged as the run progresses.
PROGRESS_STYLE_DISTANCE_KEY = 'eval/amp/progress_style_distance'
# Policy windows per evaluation.
SAMPLE_BUDGET = 4096
# Reference windows drawn for a style distance: by this evaluator once per
# run, by the final evaluation (amp_ppo.run.evaluation) once per report.
REFERENCE_SAMPLES = 4096
# Fixed, so that every evaluation measures against the same yardstick.
REFERENCE_SEED = 0
_SAMPLE_SALT = 0x5354594C  # 'STYL'
_SAMPLE_KEY = 'amp_style_sample'
_SAMPLE_VALID_KEY = 'amp_style_sample_valid'
# With several styles: each sampled window's command, each env's style.
_SAMPLE_STYLE_KEY = 'amp_style_sample_style'
_ENV_STYLE_KEY = 'amp_style_of_env'
# With several styles, at every evaluation: the style table, entry
# <commanded>/<reference>, and each style's return beside Brax's mean.
# PROGRESS_STYLE_DISTANCE_KEY is then the table's diagonal mean.
STYLE_TABLE_PREFIX = 'eval/amp/style_table/'
STYLE_RETURN_PREFIX = 'eval/episode_reward/'


def style_table_key(commanded: str, reference: str) -> str:
  return f'{STYLE_TABLE_PREFIX}{commanded}/{reference}'


def table_from_metrics(metrics, names: Sequence[str]):
  """The style table of one evaluation's metrics, or None without it."""
  if not names or style_table_key(names[0], names[0]) not in metrics:
    return None
  return {c: {r: float(metrics[style_table_key(c, r)]) for r in names}
          for c in names}


def table_metrics(table) -> dict:
  return {style_table_key(c, r): d for c, row in table.items()
          for r, d in row.items()}


def sample_windows(frames: np.ndarray, starts: np.ndarray,
                   probabilities: np.ndarray, history_length: int,
                   num_samples: int, seed: int) -> np.ndarray:
  """[num_samples, H, F] windows starting at `starts`, drawn with weights.

  The reference windows of both style distances, on the host. Training
  draws its discriminator's reference windows inside the jitted step
  instead (`motion_prior.ReferenceWindows.sample`, jax.random).
  """
  chosen = np.random.default_rng(seed).choice(
      np.asarray(starts), size=num_samples, p=np.asarray(probabilities))
  return np.asarray(frames, np.float64)[
      chosen[:, None] + np.arange(history_length)]


def wrap_eval_env(env: envs.Env, frame_fn: Callable[[envs.State], jax.Array],
                  history_length: int) -> envs.Env:
  """The raw eval env with the feature recorder (no reference state init).

  Evaluation counts only each environment's first episode, which begins at
  `reset`, where the recorder starts its history anyway, so the recorder
  runs without EpisodeStartMarker; windows after the first episode's end
  are never used.
  """
  return feature_windows.AmpFeatureWrapper(env, frame_fn, history_length,
                                           first_episode_only=True)


class StyleEvaluator(acting.Evaluator):
  """Brax's Evaluator, plus the style distance of the rollouts' windows.

  Constructed by the vendored trainer with Brax's arguments; the style
  settings are bound first (`functools.partial`). `eval_env` must carry the
  recorder of `wrap_eval_env` beneath Brax's wrappers.

  With several styles (`style_names`), `eval_env` carries the evaluation's
  `style_command.StyleCommandWrapper` on top (environment i commanded
  style i mod S), `reference_windows` holds each style's [S, R, H, F], and
  every evaluation reports the style table and each style's return.
  """

  def __init__(self, eval_env: envs.Env, eval_policy_fn: Callable[..., Any],
               num_eval_envs: int, episode_length: int, action_repeat: int,
               key: jax.Array, *, reference_windows: np.ndarray,
               masks_padding: bool, sample_budget: int = SAMPLE_BUDGET,
               style_names: Optional[Sequence[str]] = None):
    super().__init__(eval_env, eval_policy_fn, num_eval_envs, episode_length,
                     action_repeat, key)
    self._reference_windows = np.asarray(reference_windows, np.float64)
    self._style_names = tuple(style_names) if style_names else None
    unroll_length = episode_length // action_repeat
    budget = min(sample_budget, unroll_length * num_eval_envs)
    extra_fields = (feature_windows.WINDOW_KEY,) + (
        (feature_windows.WINDOW_VALID_KEY,) if masks_padding else ()) + (
            (style_command.WINDOW_STYLE_KEY,) if style_names else ())
    wrapped = envs.training.EvalWrapper(eval_env)

    def generate_eval_unroll(donated_state, policy_params, key):
      # Brax's own evaluation rollout, with the windows kept.
      first_state = wrapped.reset(jax.random.split(key, num_eval_envs))
      final_state, data = acting.generate_unroll(
          wrapped, first_state, eval_policy_fn(policy_params), key,
          unroll_length=unroll_length, extra_fields=extra_fields)
      extras = data.extras['state_extras']
      valid = feature_windows.first_episode_mask(1.0 - data.discount) > 0
      if masks_padding:
        valid &= extras[feature_windows.WINDOW_VALID_KEY]
      windows = extras[feature_windows.WINDOW_KEY]
      windows = windows.reshape((-1,) + windows.shape[2:])
      valid = valid.reshape(-1)
      # Uniform without replacement among the valid steps: the budget's
      # largest random scores, invalid steps scored below every valid one.
      scores = jax.random.uniform(jax.random.fold_in(key, _SAMPLE_SALT),
                                  valid.shape)
      _, chosen = jax.lax.top_k(jnp.where(valid, scores, -1.0), budget)
      final_state.info[_SAMPLE_KEY] = windows[chosen]
      final_state.info[_SAMPLE_VALID_KEY] = valid[chosen]
      if style_names:
        labels = jnp.reshape(extras[style_command.WINDOW_STYLE_KEY], (-1,))
        final_state.info[_SAMPLE_STYLE_KEY] = labels[chosen]
        final_state.info[_ENV_STYLE_KEY] = first_state.info[
            style_command.STYLE_KEY]
      return final_state

    self._generate_eval_unroll = jax.jit(
        generate_eval_unroll, donate_argnums=(0,), keep_unused=True)
    # The donated state must have the output's structure from the first
    # call on, or the second evaluation would compile again.
    window_shape = (budget,) + tuple(self._reference_windows.shape[-2:])
    state = self._eval_state_to_donate
    state.info[_SAMPLE_KEY] = jnp.zeros(window_shape, jnp.float32)
    state.info[_SAMPLE_VALID_KEY] = jnp.zeros((budget,), bool)
    if style_names:
      state.info[_SAMPLE_STYLE_KEY] = jnp.zeros((budget,), jnp.int32)
      state.info[_ENV_STYLE_KEY] = jnp.zeros((num_eval_envs,), jnp.int32)
    self.last_windows = np.zeros((0,) + window_shape[1:])
    self.last_styles = np.zeros((0,), np.int32)

  def run_evaluation(self, policy_params, training_metrics,
                     aggregate_episodes: bool = True):
    metrics = super().run_evaluation(policy_params, training_metrics,
                                     aggregate_episodes)
    info = self._eval_state_to_donate.info  # this evaluation's final state
    valid = np.asarray(info[_SAMPLE_VALID_KEY])
    self.last_windows = np.asarray(info[_SAMPLE_KEY], np.float64)[valid]
    if self._style_names:
      self.last_styles = np.asarray(info[_SAMPLE_STYLE_KEY])[valid]
      metrics.update(self._style_metrics(info))
      return metrics
    metrics[PROGRESS_STYLE_DISTANCE_KEY] = (
        style_metrics.style_distance(self.last_windows,
                                     self._reference_windows)
        if len(self.last_windows) else float('nan'))
    return metrics

  def _style_metrics(self, info):
    """The style table, its diagonal mean and each style's return."""
    names = self._style_names
    table = style_metrics.style_table(
        {name: self.last_windows[self.last_styles == index]
         for index, name in enumerate(names)},
        dict(zip(names, self._reference_windows)))
    metrics = table_metrics(table)
    metrics[PROGRESS_STYLE_DISTANCE_KEY] = style_metrics.diagonal_mean(table)
    env_styles = np.asarray(info[_ENV_STYLE_KEY])
    returns = np.asarray(info['eval_metrics'].episode_metrics['reward'])
    for index, name in enumerate(names):
      mine = returns[env_styles == index]
      metrics[STYLE_RETURN_PREFIX + name] = (
          float(np.mean(mine)) if mine.size else float('nan'))
    return metrics
