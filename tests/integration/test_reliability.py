"""Long-run reliability: exact resume, NaN stops, atomic saves, memory, seeds.

All runs are the tiny AMP run of reliability_setup (CounterEnv, 8-unit
networks, four loop iterations of one training step each, a checkpoint after
every iteration), shared through module fixtures:

  straight    trained uninterrupted, with checkpoints;
  same_seed   trained again with identical arguments, no checkpoints;
  resumed     stopped by an exception after the first checkpoint, then
              resumed from its checkpoint directory.

The reference-file fuzzing lives in tests/motion/test_npz_format.py, the
first-epoch recompilation check in test_amp_training.py.
"""

import gc
import hashlib
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import threading

from brax.training.agents.ppo import checkpoint as ppo_checkpoint
from brax.training.agents.ppo import networks as ppo_networks
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import amp_ppo
from amp_ppo.amp import motion_prior
from amp_ppo.reliability import checkpoint
from amp_ppo.reliability import finite_check
from amp_ppo.reliability import resume_state
from tests import helpers
from tests.integration import reliability_setup as setup

_REPO_ROOT = str(pathlib.Path(__file__).resolve().parents[2])
_STEPS = setup.CHECKPOINT_STEPS
# Metrics that measure time, not training.
_TIMING = ('walltime', 'sps', 'eval_time')
# Orbax writes a checkpoint into `<name><this>` and renames it to `<name>`.
_ORBAX_TEMP = '.orbax-checkpoint-tmp'


_LOWERINGS = helpers.LOWERINGS


class _Recorder:
  """progress_fn that keeps host copies only (never device arrays)."""

  def __init__(self, stop_after_step=None):
    self.calls = []
    self._stop_after_step = stop_after_step

  def __call__(self, step, metrics):
    gc.collect()  # Other tests' garbage must not move the count.
    live = jax.live_arrays()
    self.calls.append(dict(
        step=step,
        metrics={k: float(v) for k, v in metrics.items()},
        lowerings=_LOWERINGS.count,
        live_arrays=len(live),
        live_bytes=sum(x.nbytes for x in live)))
    del live
    if self._stop_after_step is not None and step >= self._stop_after_step:
      raise _Stop()


class _Stop(Exception):
  """Stands for whatever ends a run early (a crash, a kill, Ctrl-C)."""


def _leaves_equal(a, b):
  leaves_a = jax.tree_util.tree_leaves(a)
  leaves_b = jax.tree_util.tree_leaves(b)
  assert len(leaves_a) == len(leaves_b)
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _step_dir(root, step):
  return os.path.join(root, f'{step:012d}')


def _training_metrics(call):
  return {k: v for k, v in call['metrics'].items()
          if not any(t in k for t in _TIMING)}


def _file_hashes(root):
  hashes = {}
  for directory, _, files in os.walk(root):
    for name in files:
      path = os.path.join(directory, name)
      with open(path, 'rb') as f:
        hashes[os.path.relpath(path, root)] = hashlib.sha256(
            f.read()).hexdigest()
  return hashes


@pytest.fixture(scope='module')
def reference_path(tmp_path_factory):
  return helpers.write_counter_reference(
      str(tmp_path_factory.mktemp('reference') / 'counter.npz'))


@pytest.fixture(scope='module')
def straight(reference_path, tmp_path_factory):
  directory = str(tmp_path_factory.mktemp('straight'))
  recorder = _Recorder()
  make_policy, params, _ = amp_ppo.train(**setup.train_kwargs(
      reference_path, save_checkpoint_path=directory, progress_fn=recorder))
  return dict(params=params, calls=recorder.calls, dir=directory,
              make_policy=make_policy)


@pytest.fixture(scope='module')
def resumed(reference_path, tmp_path_factory):
  directory = str(tmp_path_factory.mktemp('resumed'))
  stopper = _Recorder(stop_after_step=_STEPS[0])
  with pytest.raises(_Stop):
    amp_ppo.train(**setup.train_kwargs(
        reference_path, save_checkpoint_path=directory, progress_fn=stopper))
  recorder = _Recorder()
  lowerings_before = _LOWERINGS.count
  _, params, _ = amp_ppo.train(**setup.train_kwargs(
      reference_path, save_checkpoint_path=directory, progress_fn=recorder,
      resume_checkpoint_path=directory))
  return dict(params=params, calls=recorder.calls, dir=directory,
              lowerings_before=lowerings_before)


# -- exact resume ------------------------------------------------------------


def test_resume_gives_the_uninterrupted_runs_params_bit_for_bit(
    straight, resumed):
  assert len(resumed['params']) == 4  # normaliser, policy, value, AMP state
  _leaves_equal(straight['params'], resumed['params'])


def test_resume_restores_the_whole_training_state_bit_for_bit(
    straight, resumed):
  # The final checkpoints hold what the returned params do not: PPO's
  # optimiser state, env_steps, the environment states and the PRNG keys;
  # and amp_state/ holds the discriminator's optimiser and the replay.
  last = _STEPS[-1]
  want_trees, want = resume_state.read(_step_dir(straight['dir'], last))
  got_trees, got = resume_state.read(_step_dir(resumed['dir'], last))
  for trees, root in ((want_trees, straight['dir']),
                      (got_trees, resumed['dir'])):
    trees['amp'] = checkpoint.load(os.path.join(
        _step_dir(root, last), motion_prior.STATE_ITEM))[0]['amp_state']
  assert sorted(want_trees) == sorted(got_trees) == [
      'amp', 'env_state', 'keys', 'training_state']
  for part, leaves in want_trees.items():
    assert sorted(leaves.arrays) == sorted(got_trees[part].arrays), part
    _leaves_equal(leaves.arrays, got_trees[part].arrays)
  assert want['iteration'] == got['iteration'] == setup.ITERATIONS - 1
  paths = ' '.join(want_trees['training_state'].arrays)
  assert 'optimizer_state' in paths and 'env_steps' in paths
  assert 'replay' in ' '.join(want_trees['amp'].arrays)


def test_resume_continues_the_loop_and_its_metrics(straight, resumed):
  # The resumed run skips the initial eval and reports the remaining
  # iterations with the same training and eval metrics.
  assert [c['step'] for c in resumed['calls']] == list(_STEPS[1:])
  for want, got in zip(straight['calls'][-3:], resumed['calls']):
    assert want['step'] == got['step']
    assert _training_metrics(want) == _training_metrics(got)


def test_resume_does_not_recompile_after_its_first_epoch(
    straight, resumed, reference_path):
  # Restored arrays are placed like fresh ones, so the epoch compiled for
  # the first resumed iteration serves the later ones. Without evals, which
  # this counter would count too (they do not affect training; their own
  # single compile is tests/training/test_evaluator.py's).
  recorder = _Recorder()
  _, params, _ = amp_ppo.train(**setup.train_kwargs(
      reference_path, progress_fn=recorder, run_evals=False,
      resume_checkpoint_path=_step_dir(resumed['dir'], _STEPS[0])))
  lowerings = [c['lowerings'] for c in recorder.calls]
  assert len(lowerings) == setup.ITERATIONS - 1
  assert len(set(lowerings)) == 1, lowerings
  _leaves_equal(straight['params'], params)


def test_resume_refuses_another_configuration_before_compiling(
    resumed, reference_path):
  start = _LOWERINGS.count
  with pytest.raises(ValueError) as error:
    amp_ppo.train(**setup.train_kwargs(
        reference_path, resume_checkpoint_path=resumed['dir'],
        learning_rate=3e-4, amp_style_weight=0.25))
  message = str(error.value)
  assert 'learning_rate' in message and 'amp_style_weight' in message
  assert 'different configuration' in message
  assert _LOWERINGS.count == start


def test_resume_refuses_other_environment_settings_before_compiling(
    resumed, reference_path):
  # Same class, same shapes, another setting: the run would not be the same.
  environment = helpers.CounterEnv()
  environment.reward_weight = 2.0
  start = _LOWERINGS.count
  with pytest.raises(ValueError) as error:
    amp_ppo.train(**setup.train_kwargs(
        reference_path, resume_checkpoint_path=resumed['dir'],
        environment=environment))
  assert 'environment.reward_weight: checkpoint (absent), now 2.0' in str(
      error.value)
  assert _LOWERINGS.count == start


def test_resume_needs_a_complete_checkpoint(tmp_path, reference_path):
  os.makedirs(_step_dir(str(tmp_path), 64))  # Brax files only: incomplete.
  with pytest.raises(ValueError, match='no complete amp_ppo checkpoint'):
    amp_ppo.train(**setup.train_kwargs(
        reference_path, resume_checkpoint_path=str(tmp_path)))


def test_resume_takes_the_newest_intact_checkpoint(straight, tmp_path):
  root = str(tmp_path)
  for step in _STEPS[:3]:
    shutil.copytree(_step_dir(straight['dir'], step), _step_dir(root, step))
  # Newest: interrupted before its resume state was committed; next: a
  # resume state that rotted on disk.
  shutil.rmtree(os.path.join(_step_dir(root, _STEPS[2]),
                             checkpoint.RESUME_STATE))
  meta = os.path.join(_step_dir(root, _STEPS[1]), checkpoint.RESUME_STATE,
                      'meta', 'metadata')
  with open(meta, 'r+b') as f:
    f.seek(-8, os.SEEK_END)
    f.write(b'\0' * 8)
  step_dir, _, meta = resume_state.find_latest(root)
  assert step_dir == _step_dir(root, _STEPS[0])
  assert meta['env_steps'] == _STEPS[0]
  with pytest.raises(ValueError, match='unreadable'):
    resume_state.read(_step_dir(root, _STEPS[1]))


def test_resume_refuses_an_amp_state_from_another_save(straight,
                                                       reference_path,
                                                       tmp_path):
  # Orbax commits each part atomically, but nothing ties the parts of one
  # step directory together but the commit time the resume state records.
  root = str(tmp_path)
  shutil.copytree(_step_dir(straight['dir'], _STEPS[1]),
                  _step_dir(root, _STEPS[1]))
  amp_dir = os.path.join(_step_dir(root, _STEPS[1]),
                         motion_prior.STATE_ITEM)
  shutil.rmtree(amp_dir)
  shutil.copytree(os.path.join(_step_dir(straight['dir'], _STEPS[0]),
                               motion_prior.STATE_ITEM), amp_dir)
  with pytest.raises(ValueError, match='is not the AMP state'):
    amp_ppo.train(**setup.train_kwargs(reference_path,
                                       resume_checkpoint_path=root))


def _old_layout_copy(step_dir, root):
  """Brax's files of `step_dir` plus amp_ppo's files from before orbax."""
  old = _step_dir(root, int(os.path.basename(step_dir)))
  shutil.copytree(step_dir, old, ignore=shutil.ignore_patterns(
      motion_prior.STATE_ITEM, checkpoint.RESUME_STATE))
  for name in ('amp_state.msgpack', 'resume_state.msgpack'):
    with open(os.path.join(old, name), 'wb') as f:
      f.write(b'\x80')  # Only their presence matters.
  return old


@pytest.mark.parametrize('argument', ['resume_checkpoint_path',
                                      'restore_checkpoint_path'])
def test_checkpoints_of_the_msgpack_layout_are_refused_before_compiling(
    straight, reference_path, tmp_path, argument):
  old = _old_layout_copy(_step_dir(straight['dir'], _STEPS[0]),
                         str(tmp_path))
  path = str(tmp_path) if argument == 'resume_checkpoint_path' else old
  start = _LOWERINGS.count
  with pytest.raises(ValueError) as error:
    amp_ppo.train(**setup.train_kwargs(reference_path, **{argument: path}))
  message = str(error.value)
  assert os.path.join(old, 'resume_state.msgpack') in message
  assert 'amp_ppo version that wrote it' in message
  assert 'restore_params=brax.training.agents.ppo.checkpoint.load' in message
  assert _LOWERINGS.count == start


def _network_from_brax_config(observation_size, action_size, **kwargs):
  # Brax 0.14.2's trainer writes the observation size as a specs.Array,
  # which its own checkpoint.load_policy passes on as {'shape', 'dtype'}.
  return ppo_networks.make_ppo_networks(observation_size['shape'][-1],
                                        action_size, **kwargs)


def test_brax_load_policy_reads_a_step_directory_holding_amp_ppo_state(
    straight):
  step_dir = _step_dir(straight['dir'], _STEPS[-1])
  assert {motion_prior.STATE_ITEM, checkpoint.RESUME_STATE} <= set(
      os.listdir(step_dir))
  policy = ppo_checkpoint.load_policy(
      step_dir, network_factory=_network_from_brax_config)
  observations = jnp.array([[0.0, 3.0], [2.0, 7.0]])
  key = jax.random.PRNGKey(0)
  want = straight['make_policy'](straight['params'], deterministic=True)
  np.testing.assert_array_equal(policy(observations, key)[0],
                                want(observations, key)[0])


def test_plain_ppo_resumes_exactly_from_a_step_directory(tmp_path):
  directory = str(tmp_path / 'ppo')
  _, want, _ = amp_ppo.train(**setup.train_kwargs(
      None, save_checkpoint_path=directory, save_resume_state=True))
  assert len(want) == 3
  _, got, _ = amp_ppo.train(**setup.train_kwargs(
      None, resume_checkpoint_path=_step_dir(directory, _STEPS[1])))
  _leaves_equal(want, got)


def test_keep_checkpoints_keeps_the_newest_and_resumes_from_them(
    straight, reference_path, tmp_path):
  directory = str(tmp_path / 'ckpt')
  listings = []

  def progress_fn(step, metrics):
    del metrics
    if step:  # Right after each checkpoint.
      listings.append(sorted(os.listdir(directory)))
    if step >= _STEPS[1]:
      raise _Stop()

  with pytest.raises(_Stop):
    amp_ppo.train(**setup.train_kwargs(
        reference_path, save_checkpoint_path=directory,
        progress_fn=progress_fn, keep_checkpoints=1))
  assert listings == [[f'{_STEPS[0]:012d}'], [f'{_STEPS[1]:012d}']]
  # Retention is not part of the run's configuration: another N resumes it.
  _, params, _ = amp_ppo.train(**setup.train_kwargs(
      reference_path, save_checkpoint_path=directory,
      resume_checkpoint_path=directory, keep_checkpoints=2))
  _leaves_equal(straight['params'], params)
  assert sorted(os.listdir(directory)) == [f'{s:012d}' for s in _STEPS[2:]]


@pytest.mark.parametrize('overrides, message', [
    (dict(check_finite='yes'), 'check_finite'),
    (dict(save_resume_state=1), 'save_resume_state'),
    (dict(save_resume_state=True), 'needs save_checkpoint_path'),
    (dict(resume_checkpoint_path='/nonexistent/run'), 'not a directory'),
    (dict(keep_checkpoints=0, save_checkpoint_path='/unused'),
     'keep_checkpoints=0: pass a positive int'),
    (dict(keep_checkpoints=True, save_checkpoint_path='/unused'),
     'positive int'),
    (dict(keep_checkpoints=2.0, save_checkpoint_path='/unused'),
     'positive int'),
    (dict(keep_checkpoints=2), 'keep_checkpoints needs save_checkpoint_path'),
    (dict(keep_checkpoints=2, save_checkpoint_path='/unused',
          save_resume_state=False), 'needs the resume state'),
])
def test_bad_reliability_arguments_fail_clearly(overrides, message,
                                                reference_path):
  start = _LOWERINGS.count
  with pytest.raises(ValueError, match=message):
    amp_ppo.train(**setup.train_kwargs(reference_path, **overrides))
  assert _LOWERINGS.count == start


# -- non-finite values -------------------------------------------------------


def _train_until_nan(tmp_path, reference_path, target, **overrides):
  """Trains with NaN from iteration 2 on; returns (error, dir, snapshot)."""
  directory = str(tmp_path / 'ckpt')
  snapshots = []

  def progress_fn(step, metrics):
    del metrics
    if step:  # After each checkpoint: what is on disk.
      snapshots.append(_file_hashes(directory))

  # Each environment takes 8 steps per iteration: poisoned from its 13th.
  after = setup.STEPS_PER_ENV_PER_ITERATION + 4
  env = setup.PoisonedCounterEnv(after=after, target=target)
  with pytest.raises(amp_ppo.NonFiniteError) as error:
    amp_ppo.train(**setup.train_kwargs(
        reference_path, environment=env, save_checkpoint_path=directory,
        progress_fn=progress_fn, **overrides))
  return error.value, directory, snapshots


def _assert_last_checkpoint_kept(error, directory, snapshots):
  # One good iteration was checkpointed; the NaN epoch wrote nothing and
  # left every file as it was.
  assert len(snapshots) == 1
  assert _file_hashes(directory) == snapshots[-1]
  good = _step_dir(directory, _STEPS[0])
  assert os.listdir(directory) == [os.path.basename(good)]
  assert error.last_checkpoint == good and good in str(error)
  assert resume_state.find_latest(directory)[0] == good
  assert len(ppo_checkpoint.load(good)) == 3
  assert error.env_steps == (_STEPS[0], _STEPS[1])
  assert f'{_STEPS[0]}..{_STEPS[1] - 1}' in str(error)


def test_nan_style_reward_stops_training_and_keeps_the_checkpoint(
    tmp_path, reference_path):
  error, directory, snapshots = _train_until_nan(
      tmp_path, reference_path, target='features',
      amp_feature_fn=setup.poisoned_features)
  assert isinstance(error, FloatingPointError)
  assert error.quantity == 'amp/style_reward_mean'
  assert 'the style reward (training/amp/style_reward_mean)' in str(error)
  # The NaN spreads within the step: it is reported where it began.
  assert 'amp/disc_loss' in error.quantities
  assert 'total_loss' in error.quantities
  _assert_last_checkpoint_kept(error, directory, snapshots)


def test_nan_reward_stops_plain_ppo_with_check_finite(tmp_path):
  error, directory, snapshots = _train_until_nan(
      tmp_path, None, target='reward', check_finite=True,
      save_resume_state=True)
  assert error.quantity == 'reward'
  assert 'the reward PPO trains on (training/reward)' in str(error)
  assert {'total_loss', 'v_loss', 'grad_norm'} <= set(error.quantities)
  _assert_last_checkpoint_kept(error, directory, snapshots)


def _flags(**series):
  return {finite_check.FLAG_PREFIX + k: jnp.asarray(v, jnp.float32)
          for k, v in series.items()}


def test_finite_flags_give_the_first_bad_step_and_quantities():
  metrics = {**_flags(total_loss=[0, 0, 1, 1], reward=[0, 0, 1, 0],
                      grad_norm=[0, 0, 0, 1]), 'v_loss': jnp.ones(4)}
  reduced = finite_check.first_bad_steps(metrics, None)
  assert sorted(reduced) == sorted([finite_check.FIRST_BAD_STEP,
                                    finite_check.BAD_QUANTITIES, 'v_loss'])
  with pytest.raises(finite_check.NonFiniteError) as error:
    finite_check.check_epoch(
        {f'training/{k}': v for k, v in reduced.items()}, end_step=1000,
        steps_per_epoch=4, env_steps_per_step=10, last_checkpoint=None)
  assert error.value.quantity == 'reward'  # before the loss it poisons
  assert error.value.quantities == ('reward', 'total_loss')
  assert error.value.env_steps == (980, 990)
  assert '980..989' in str(error.value)


def test_finite_flags_take_the_earliest_step_over_devices():
  # Two devices (vmapped under the pmap axis name): device 1 goes bad first.
  metrics = _flags(total_loss=[[0, 0, 1, 1], [0, 1, 0, 0]],
                   v_loss=[[0, 1, 0, 0], [0, 0, 0, 0]],
                   policy_loss=[[0, 0, 0, 0], [0, 0, 1, 0]])
  reduced = jax.vmap(lambda m: finite_check.first_bad_steps(m, 'i'),
                     axis_name='i')(metrics)
  np.testing.assert_array_equal(reduced[finite_check.FIRST_BAD_STEP], [1, 1])
  with pytest.raises(finite_check.NonFiniteError) as error:
    finite_check.check_epoch(
        {f'training/{k}': v[0] for k, v in reduced.items()}, 1000, 4, 10,
        None)
  # Step 1: total_loss on device 1 and v_loss on device 0.
  assert error.value.quantities == ('total_loss', 'v_loss')


def test_finite_check_adds_no_host_callback():
  def step(metrics, reward):
    metrics = finite_check.step_flags(metrics, reward)
    stacked = jax.tree_util.tree_map(lambda x: x[None], metrics)
    return finite_check.first_bad_steps(stacked, None)

  jaxpr = str(jax.make_jaxpr(step)({'total_loss': jnp.ones((2, 3)),
                                    'kl_mean': jnp.ones(())}, jnp.ones(4)))
  assert 'callback' not in jaxpr


def test_clean_epoch_passes_and_loses_its_flags():
  metrics = finite_check.first_bad_steps(
      {**_flags(total_loss=[0, 0]), 'total_loss': jnp.ones(2)}, None)
  metrics = {f'training/{k}': v for k, v in metrics.items()}
  assert list(finite_check.check_epoch(metrics, 128, 2, 64, None)) == [
      'training/total_loss']


# -- atomic checkpoints ------------------------------------------------------


def test_kill_during_save_leaves_the_last_complete_checkpoint(
    straight, reference_path, tmp_path):
  if not os.path.isdir('/proc/self/fd'):
    pytest.skip('the kill script finds file names through /proc')
  directory = str(tmp_path / 'ckpt')
  killed_step = _STEPS[2]
  with open(tmp_path / 'stderr.txt', 'w') as stderr:
    process = subprocess.Popen(
        [sys.executable, '-m', 'tests.integration.reliability_kill_script',
         directory, reference_path, str(killed_step)],
        cwd=_REPO_ROOT, stdout=subprocess.PIPE, stderr=stderr,
        text=True)
    watchdog = threading.Timer(600, process.kill)
    watchdog.start()
    output = []
    try:
      for line in process.stdout:  # Until MID_SAVE, or the end of output.
        output.append(line)
        if line.startswith('MID_SAVE'):
          os.kill(process.pid, signal.SIGKILL)
          break
    finally:
      process.wait()
      watchdog.cancel()
  log = (tmp_path / 'stderr.txt').read_text()[-3000:]
  assert output and output[-1].startswith('MID_SAVE'), (output, log)
  assert process.returncode == -signal.SIGKILL

  killed_dir = _step_dir(directory, killed_step)
  # Killed half-way through writing the resume state: Brax's and AMP's
  # parts of that step are there, the resume state only in orbax's
  # temporary directory, not under its own name, torn or otherwise.
  assert os.path.isdir(os.path.join(killed_dir, motion_prior.STATE_ITEM))
  assert not os.path.exists(os.path.join(killed_dir, checkpoint.RESUME_STATE))
  assert any(name.startswith(checkpoint.RESUME_STATE + _ORBAX_TEMP)
             for name in os.listdir(killed_dir))
  assert not checkpoint.is_complete(killed_dir)
  step_dir, _, _ = resume_state.find_latest(directory)
  assert step_dir == _step_dir(directory, _STEPS[1])

  # Resuming takes that checkpoint and ends where the uninterrupted run did.
  _, params, _ = amp_ppo.train(**setup.train_kwargs(
      reference_path, save_checkpoint_path=directory,
      resume_checkpoint_path=directory))
  _leaves_equal(straight['params'], params)
  assert checkpoint.is_complete(killed_dir)
  assert not any(_ORBAX_TEMP in name for name in os.listdir(killed_dir))


# -- long runs and determinism -----------------------------------------------


def test_memory_is_flat_across_epochs(straight):
  # progress_fn runs after the initial eval and after each iteration; from
  # the first iteration on, every buffer is one the run already had (the
  # epoch donates its inputs; nothing accumulates per epoch).
  calls = straight['calls'][1:]
  assert len(calls) == setup.ITERATIONS
  counts = [c['live_arrays'] for c in calls]
  sizes = [c['live_bytes'] for c in calls]
  assert max(counts) - min(counts) <= 2, counts
  assert max(sizes) - min(sizes) <= 4096, sizes


def test_no_recompilation_after_the_first_epoch(straight):
  # After the initial eval, then after each iteration: the first iteration
  # compiles the epoch (and the evaluator's second unroll); later ones
  # must reuse them.
  lowerings = [c['lowerings'] for c in straight['calls'][1:]]
  assert len(lowerings) == setup.ITERATIONS
  assert len(set(lowerings)) == 1, lowerings


def test_same_seed_gives_the_same_result(straight, reference_path):
  recorder = _Recorder()
  _, params, _ = amp_ppo.train(**setup.train_kwargs(
      reference_path, progress_fn=recorder))
  _leaves_equal(straight['params'], params)
  for want, got in zip(straight['calls'], recorder.calls):
    assert _training_metrics(want) == _training_metrics(got)
