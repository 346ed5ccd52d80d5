"""amp_ppo's components behind the vendored trainer's one interface.

`RunExtension` is what `amp_ppo.train` passes as the vendored `train()`'s
`extension` (amp_ppo/trainer_extension.py lists the hooks). Each hook hands
over to the component that owns the step:

  AMP (amp.motion_prior.Amp)           env wrappers, extra rollout fields,
                                       its state, style reward and
                                       discriminator update, warm start
  reliability (reliability.hooks)      gradient and non-finite metrics,
                                       epoch checks, saves, resume
  style evaluation (amp.style_evaluator)
                                       eval env recorder, the evaluator

A component that is absent leaves its hooks as upstream Brax has them.
"""

import dataclasses
from typing import Any, Callable, Optional, Tuple

from brax.training import acting
import numpy as np

from amp_ppo import trainer_extension
from amp_ppo.amp import motion_prior
from amp_ppo.amp import style_command
from amp_ppo.amp import style_evaluator
from amp_ppo.reliability import hooks as reliability_hooks
from amp_ppo.reliability import multiprocess
from amp_ppo.reliability import state_item as state_item_lib
from amp_ppo.training import evaluator as evaluator_lib

AMP_STATE_ITEM = state_item_lib.StateItem(
    motion_prior.STATE_ITEM, 'the AMP state', motion_prior.STATE_MISMATCH_HINT)


@dataclasses.dataclass(frozen=True)
class StyleReference:
  """What a run without AMP measures its style distance against.

  `amp_ppo.train(style_reference=...)` takes this, or a bare reference
  (a path, a list of paths or a `ReferenceMotion`) with the defaults below.
  A PPO-only baseline given the AMP run's reference and features reports
  `eval/amp/progress_style_distance` at every evaluation, as the AMP run
  does; training stays Brax PPO bit for bit.

  Attributes:
    reference: the reference motion, in any form `amp_reference` takes.
    feature_fn: as `amp_feature_fn` (None: the default features).
    info_feature_key: as `amp_info_feature_key`.
    history_length: as `amp_history_length`.
  """
  reference: Any
  feature_fn: Optional[Callable[..., Any]] = None
  info_feature_key: Optional[str] = None
  history_length: int = 2


class StyleEvaluation:
  """The style distance at every evaluation: eval env recorder, evaluator.

  With several styles, the evaluation's environments are commanded every
  style in turn and each evaluation reports the style table.
  """

  def __init__(self, amp: motion_prior.Amp):
    self._frame_fn = amp.frame_fn
    self._history_length = amp.config.history_length
    self.styles = amp.styles
    reference = amp.reference
    sample = lambda probabilities: style_evaluator.sample_windows(
        reference.frames, reference.starts, probabilities,
        self._history_length, style_evaluator.REFERENCE_SAMPLES,
        style_evaluator.REFERENCE_SEED)
    if self.styles:
      reference_windows = np.stack(
          [sample(p) for p in np.asarray(reference.style_probabilities)])
    else:
      reference_windows = sample(reference.probabilities)
    self.evaluator_kwargs = dict(reference_windows=reference_windows,
                                 masks_padding=amp.masks_padding)
    if self.styles:
      self.evaluator_kwargs['style_names'] = self.styles.names

  def wrap_eval_env(self, env):
    # The run's own feature function: the same features as in training.
    return style_evaluator.wrap_eval_env(env, self._frame_fn,
                                         self._history_length)

  def wrap_evaluated_env(self, env):
    """Above Brax's wrappers of the eval env: the evaluation's command."""
    if not self.styles:
      return env
    return style_command.StyleCommandWrapper(env, self.styles,
                                             evaluation=True)


class RunExtension(trainer_extension.Extension):
  """The vendored trainer's extension for one run of `amp_ppo.train`."""

  def __init__(self, *, amp: Optional[motion_prior.Amp] = None,
               reliability: Optional[reliability_hooks.Reliability] = None,
               style: Optional[StyleEvaluation] = None):
    self.amp = amp
    self.reliability = reliability
    self.style = style
    self.extra_fields = amp.extra_fields if amp else ()

  # -- building the run ----------------------------------------------------

  def wrap_env(self, env):
    return self.amp.wrap_env(env) if self.amp else env

  def wrap_training_env(self, env):
    return self.amp.wrap_training_env(env) if self.amp else env

  def wrap_eval_env(self, env):
    return self.style.wrap_eval_env(env) if self.style else env

  def init_state(self) -> Any:
    return self.amp.init_state() if self.amp else None

  def restore(self, state, restore_checkpoint_path, restore_params):
    if not self.amp:
      return state
    return AMP_STATE_ITEM.warm_start(state, restore_checkpoint_path,
                                     restore_params)

  def make_evaluator(self, *args, **kwargs) -> acting.Evaluator:
    evaluator_class, extra = acting.Evaluator, {}
    if self.style:
      evaluator_class = style_evaluator.StyleEvaluator
      extra = self.style.evaluator_kwargs
      eval_env, *args = args
      args = (self.style.wrap_evaluated_env(eval_env), *args)
    if self.reliability:
      evaluator_class = reliability_hooks.resumable(evaluator_class)
    evaluator_class = evaluator_lib.compiles_once(evaluator_class)
    return evaluator_class(*args, **kwargs, **extra)

  def resume(self, training_state, env_state, local_key, key_envs,
             evaluator) -> Tuple[Any, ...]:
    if self.reliability and self.reliability.resuming:
      return self.reliability.resume(training_state, env_state, evaluator)
    return super().resume(training_state, env_state, local_key, key_envs,
                          evaluator)

  # -- inside the jitted epoch ---------------------------------------------

  def training_step(self, state, data):
    if not self.amp:
      return data, state, {}
    # Style reward from the rollout's discriminator, then its update.
    return self.amp.training_step(state, data)

  def minibatch_metrics(self, metrics, grads):
    if not self.reliability:
      return metrics
    return self.reliability.minibatch_metrics(metrics, grads)

  def step_metrics(self, metrics, data):
    if not self.reliability:
      return metrics
    return self.reliability.step_metrics(metrics, data.reward)

  def epoch_metrics(self, metrics, axis_name):
    if not self.reliability:
      return metrics
    return self.reliability.epoch_metrics(metrics, axis_name)

  # -- every epoch -----------------------------------------------------------

  def check_epoch(self, metrics, env_steps, steps_per_epoch,
                  env_steps_per_step):
    if not self.reliability:
      return metrics
    return self.reliability.check_epoch(metrics, env_steps, steps_per_epoch,
                                        env_steps_per_step)

  def save_policy(self, save, path, step, params, config):
    # Alone on process 0: orbax would wait for every process.
    multiprocess.save_policy(save, path, step, params, config)

  def save(self, path, step, iteration, training_state, env_state, local_key,
           key_envs, evaluator, walltime):
    if self.reliability:  # Last: its resume state marks the step complete.
      self.reliability.save(path, step, iteration, training_state, env_state,
                            local_key, key_envs, evaluator, walltime)

  def extra_params(self, state) -> Tuple[Any, ...]:
    # A 4th entry with AMP: restore_params=params continues the AMP run.
    return (state,) if self.amp else ()

