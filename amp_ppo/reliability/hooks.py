"""Exact-resume checkpoints and non-finite checks: the reliability component.

`amp_ppo.train` builds one `Reliability` per run when AMP is on or one of its
options (`resume_checkpoint_path`, `save_resume_state`, `check_finite`) is
used; the run's trainer extension (amp_ppo/training/extension.py) calls it:

  inside the jitted epoch (static Python branches, nothing per step on host)
    minibatch_metrics  PPO's gradient norm, with check_finite
    step_metrics       one non-finite flag per quantity per training step
    epoch_metrics      first bad training step per quantity, over devices
  on the host
    resume             the full state of the checkpoint to continue from
    check_epoch        raise NonFiniteError; strip the flags from the metrics
    save               write the extension's state item, then the resume
                       state, last, into Brax's step directory, then delete
                       checkpoints beyond keep_checkpoints; with several
                       processes every process calls it (its own environment
                       states and keys)

Components declare what it checks and saves: their checked quantities
(`finite_check.quantities`) and their state's checkpoint item
(`state_item.StateItem`). See amp_ppo/reliability/checkpoint.py (layout and
format), resume_state.py (what it holds), multiprocess.py (several
processes) and finite_check.py.
"""

import os
from typing import Any, Dict, Optional, Tuple

from absl import logging
import jax
import jax.numpy as jnp

from amp_ppo.reliability import checkpoint
from amp_ppo.reliability import finite_check
from amp_ppo.reliability import multiprocess
from amp_ppo.reliability import resume_state as resume_lib
from amp_ppo.reliability import state_item as state_item_lib


def _first_replica(tree: Any) -> Any:
  """One device's copy of a replicated pmap state (as Brax's `_unpmap`)."""
  return jax.tree_util.tree_map(
      lambda x: x.addressable_shards[0].data.squeeze(0), tree)


def resumable(evaluator_class: type) -> type:
  """`evaluator_class` (Brax's Evaluator or a subclass) with a saved key.

  A checkpoint is written before its step's evaluation, so a resume must
  start the evaluator one evaluation further on.
  """

  class Resumable(evaluator_class):

    @property
    def key(self) -> jax.Array:
      return self._key

    def resume(self, key: jax.Array, evaluated_after_save: bool) -> None:
      # What acting.Evaluator.run_evaluation (Brax 0.14.2) does to its key;
      # the exact-resume test compares eval metrics after a resume.
      self._key = jax.random.split(key)[0] if evaluated_after_save else key

  Resumable.__name__ = f'Resumable{evaluator_class.__name__}'
  return Resumable


class Reliability:
  """Exact-resume checkpoints and non-finite checks of one training run."""

  def __init__(self, *, check_finite: bool, save_state: bool,
               fingerprint: Dict[str, str], versions: Dict[str, str],
               eval_pending: bool, keep_checkpoints: Optional[int] = None,
               checked: Optional[Dict[str, str]] = None,
               state_item: Optional[state_item_lib.StateItem] = None):
    """Static setup.

    Args:
      check_finite: stop with NonFiniteError at the first NaN or inf.
      save_state: write a resume state into every checkpoint.
      fingerprint: describes the run's configuration; a resume must match.
      versions: library versions; a mismatch on resume only warns.
      eval_pending: an evaluation follows every checkpoint (num_evals > 0 and
        run_evals), which advances the evaluator's key.
      keep_checkpoints: keep only this many complete checkpoints (needs
        save_state, whose resume state marks a checkpoint complete); None
        keeps all.
      checked: the checked quantities in order (`finite_check.quantities`);
        None checks PPO's.
      state_item: how the extension's state is checkpointed; None without
        one.
    """
    self.check_finite = check_finite
    self.save_state = save_state
    self.fingerprint = fingerprint
    self.versions = versions
    self.eval_pending = eval_pending
    self.keep_checkpoints = keep_checkpoints
    self.checked = checked or finite_check.PPO_QUANTITIES
    self.state_item = state_item
    self.last_checkpoint: Optional[str] = None
    self._resume_dir: Optional[str] = None
    self._resume_state: Optional[Tuple[Dict[str, checkpoint.Leaves],
                                       Dict[str, Any]]] = None

  @property
  def resuming(self) -> bool:
    return self._resume_state is not None

  def prepare_resume(self, path: str) -> str:
    """Finds the checkpoint to resume from and checks it fits this run.

    Runs before anything compiles, so a wrong path or a changed setting fails
    at once.

    Args:
      path: `resume_checkpoint_path`.

    Returns:
      The step directory that will be resumed from.
    """
    step_dir, trees, meta = resume_lib.find_latest(path)
    # Each process found it on its own; they must continue the same step.
    multiprocess.check_same_on_every_process(
        os.path.basename(os.path.normpath(step_dir)),
        'the checkpoint to resume from')
    differences = resume_lib.fingerprint_differences(meta['fingerprint'],
                                                     self.fingerprint)
    if differences:
      raise ValueError(
          f'Cannot resume from {step_dir}: it was written by a run with a '
          'different configuration, so continuing it would not be the same '
          'run:\n  ' + '\n  '.join(differences) + '\nResume with the '
          'arguments it was written with, or start a new run (pass '
          'restore_checkpoint_path=<step directory> to warm-start the policy '
          'from it).')
    if meta['versions'] != self.versions:
      logging.warning(
          'Resuming from %s, written with %s, now running %s: the run '
          'continues correctly but is not bit-identical to an uninterrupted '
          'one.', step_dir, meta['versions'], self.versions)
    logging.info('Resuming from %s (environment step %d).', step_dir,
                 meta['env_steps'])
    self._resume_dir, self._resume_state = step_dir, (trees, meta)
    self.last_checkpoint = step_dir
    return step_dir

  # -- inside the jitted epoch ---------------------------------------------

  def minibatch_metrics(self, metrics, grads):
    if not self.check_finite:
      return metrics
    return finite_check.with_grad_norm(metrics, grads)

  def step_metrics(self, metrics, reward):
    if not self.check_finite:
      return metrics
    return finite_check.step_flags(metrics, reward, self.checked)

  def epoch_metrics(self, metrics, axis_name):
    if not self.check_finite:
      return metrics
    return finite_check.first_bad_steps(metrics, axis_name, self.checked)

  # -- on the host ---------------------------------------------------------

  def check_epoch(self, metrics: Dict[str, Any], end_step: int,
                  steps_per_epoch: int,
                  env_steps_per_step: int) -> Dict[str, Any]:
    if not self.check_finite:
      return metrics
    return finite_check.check_epoch(metrics, end_step, steps_per_epoch,
                                    env_steps_per_step, self.last_checkpoint,
                                    self.checked)

  def resume(self, training_state: Any, env_state: Any,
             evaluator: Any) -> Tuple[Any, ...]:
    """The saved loop state, placed like this run's fresh one.

    Args:
      training_state: this run's fresh TrainingState, replicated on devices.
      env_state: this run's freshly reset environment states.
      evaluator: this run's evaluator (`resumable`); its key is restored.

    Returns:
      (training_state, env_state, local_key, key_envs, next iteration,
      environment steps, training walltime).
    """
    (trees, meta), step_dir = self._resume_state, self._resume_dir
    hint = ('resume with the environment, wrappers, networks, settings and '
            'number of devices it was written with')
    restored = checkpoint.restore_like(
        training_state.replace(extension_state=None),
        trees['training_state'], replicated=True,
        what="The checkpoint's training state", hint=hint)
    item = self.state_item
    if item is not None:
      path = os.path.join(step_dir, item.name)
      if not os.path.isdir(path):
        raise ValueError(f'{step_dir} lacks {item.name}/, '
                         f'{item.description} this checkpoint was written '
                         'with.')
      if checkpoint.commit_time(path) != meta['state_item_commit']:
        raise ValueError(
            f'{path} is not {item.description} that '
            f'{checkpoint.RESUME_STATE}/ in the same directory was written with (their orbax commit '
            'times do not match).')
      restored = restored.replace(extension_state=item.load(
          training_state.extension_state, path, replicated=True))
    # This process's own environment states and keys (with several
    # processes, its row of each saved array).
    env_state = checkpoint.restore_like(
        env_state, trees['env_state'], replicated=False,
        what="The checkpoint's environment state", hint=hint)
    # By key path: "['eval_key']".
    keys = checkpoint.this_process(trees['keys']).arrays
    # Evaluations run on process 0 only.
    evaluator.resume(jnp.asarray(keys["['eval_key']"]), meta['eval_pending'])
    self._resume_state = None  # Free the host copy.
    return (restored, env_state, jnp.asarray(keys["['local_key']"]),
            jnp.asarray(keys["['key_envs']"]), meta['iteration'] + 1,
            meta['env_steps'], meta['walltime'])

  def save(self, save_checkpoint_path: str, step: int, iteration: int,
           training_state: Any, env_state: Any, local_key: jax.Array,
           key_envs: jax.Array, evaluator: Any, walltime: float) -> None:
    """Writes the state item, then the resume state, marking the step complete.

    Called after Brax's part of the step is written (by process 0). Process
    0 alone writes the extension's state item (replicated). With several
    processes every process calls it: each saves its own environment states
    and keys; the training state is replicated, and orbax writes it and the
    JSON values from process 0 (process 0's walltime). Then process 0
    deletes the checkpoints beyond keep_checkpoints.

    Args:
      save_checkpoint_path: the run's save_checkpoint_path.
      step: environment steps so far (the step directory's name).
      iteration: index of the loop iteration just finished.
      training_state: replicated TrainingState.
      env_state: environment states for the next epoch.
      local_key: host key the next epoch's keys are split from.
      key_envs: keys of the next environment reset.
      evaluator: the run's evaluator (its key, before this step's eval).
      walltime: training walltime so far.
    """
    save_checkpoint_path = os.fspath(save_checkpoint_path)
    step_dir = os.path.join(save_checkpoint_path, f'{step:012d}')
    item_commit = None
    if self.state_item is not None and jax.process_index() == 0:
      self.state_item.save(step_dir,
                           _first_replica(training_state.extension_state))
      item_commit = checkpoint.commit_time(
          os.path.join(step_dir, self.state_item.name))
    if not self.save_state:
      return
    trees = {
        'training_state': checkpoint.flatten(
            _first_replica(training_state.replace(extension_state=None))),
        'env_state': checkpoint.flatten(env_state),
        'keys': checkpoint.flatten({
            'local_key': local_key, 'key_envs': key_envs,
            'eval_key': evaluator.key}),
    }
    resume_lib.write(step_dir, trees, {
        'fingerprint': self.fingerprint,
        'versions': self.versions,
        'iteration': iteration,
        'env_steps': step,
        'walltime': float(walltime),
        'eval_pending': self.eval_pending,
        'state_item_commit': item_commit,
    }, per_process=('env_state', 'keys'))
    self.last_checkpoint = step_dir
    if self.keep_checkpoints and jax.process_index() == 0:
      checkpoint.prune(save_checkpoint_path, self.keep_checkpoints, step_dir)
