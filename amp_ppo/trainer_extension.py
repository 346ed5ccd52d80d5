"""The vendored Brax trainer's one way into amp_ppo.

The vendored `train()` takes one `extension` argument and carries its state
in one `TrainingState` field, `extension_state`. It calls the hooks below at
fixed points; this base class does at each exactly what upstream Brax does
(nothing, or Brax's own call), so the vendored trainer with the default
`NO_EXTENSION` is Brax PPO bit for bit. `amp_ppo.training.extension` builds
the real one from the AMP, reliability and style-evaluation components.

  building the run (host)
    wrap_env            the training env, beneath Brax's wrappers
    wrap_training_env   the training env, above Brax's wrappers
    wrap_eval_env       the eval env, beneath Brax's wrappers
    init_state          the extension's part of a fresh TrainingState
    restore             that part on a warm start (restore_checkpoint_path or
                        restore_params)
    make_evaluator      Brax's `acting.Evaluator`, or one of the same API
    resume              the whole loop state of an interrupted run
  inside the jitted epoch
    extra_fields        more `state.info` keys kept in the rollout
    training_step       the rollout (reward may change) -> extension state
                        and metrics, before PPO's update
    minibatch_metrics   after PPO's gradient of one minibatch
    step_metrics        after the training step's metrics are complete
    epoch_metrics       over the epoch's stacked step metrics
  every epoch (host)
    check_epoch         may stop the run; returns the metrics to report
    save_policy         writes Brax's policy checkpoint
    save                writes the extension's checkpoint items, last
  at the end
    extra_params        appended to the returned params tuple
"""

from typing import Any, Callable, Dict, Sequence, Tuple

from brax.training import acting

Metrics = Dict[str, Any]


class Extension:
  """Hooks of the vendored trainer; each default is upstream Brax's step."""

  extra_fields: Sequence[str] = ()

  def wrap_env(self, env):
    return env

  def wrap_training_env(self, env):
    return env

  def wrap_eval_env(self, env):
    return env

  def init_state(self) -> Any:
    return None

  def restore(self, state: Any, restore_checkpoint_path, restore_params):
    del restore_checkpoint_path, restore_params
    return state

  def make_evaluator(self, *args, **kwargs) -> acting.Evaluator:
    return acting.Evaluator(*args, **kwargs)

  def resume(self, training_state, env_state, local_key, key_envs,
             evaluator) -> Tuple[Any, ...]:
    """(training_state, env_state, local_key, key_envs, first iteration,
    environment steps, training walltime) to start the loop from."""
    del evaluator
    return training_state, env_state, local_key, key_envs, 0, 0, 0

  def training_step(self, state: Any, data) -> Tuple[Any, Any, Metrics]:
    """(data, new state, metrics) from one training step's rollout."""
    return data, state, {}

  def minibatch_metrics(self, metrics: Metrics, grads) -> Metrics:
    del grads
    return metrics

  def step_metrics(self, metrics: Metrics, data) -> Metrics:
    del data
    return metrics

  def epoch_metrics(self, metrics: Metrics, axis_name: str) -> Metrics:
    del axis_name
    return metrics

  def check_epoch(self, metrics: Metrics, env_steps: int,
                  steps_per_epoch: int, env_steps_per_step: int) -> Metrics:
    del env_steps, steps_per_epoch, env_steps_per_step
    return metrics

  def save_policy(self, save: Callable[..., Any], path, step: int, params,
                  config) -> None:
    save(path, step, params, config)

  def save(self, path, step: int, iteration: int, training_state, env_state,
           local_key, key_envs, evaluator, walltime: float) -> None:
    del (path, step, iteration, training_state, env_state, local_key,
         key_envs, evaluator, walltime)

  def extra_params(self, state: Any) -> Tuple[Any, ...]:
    del state
    return ()


NO_EXTENSION = Extension()
