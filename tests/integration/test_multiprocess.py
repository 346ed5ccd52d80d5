"""Training on several JAX processes: jax.distributed on one machine, CPU
collectives over gloo, each process running tests/integration/
multiprocess_script.py with forced CPU devices.

Module fixtures share the runs between the tests:

  straight  AMP on 2 processes x 2 devices, a checkpoint after each of two
            iterations; the AMP features carry the index of the process
            whose environments produced them;
  resumed   the same run continued from a copy of `straight`'s checkpoints
            as a killed job leaves them: the first step directory complete,
            the second without its resume state (killed mid-save);
  single    the same run on 1 process x 4 devices;
  plain     plain PPO on 2 processes x 1 device, with checkpoints: it hung
            forever at the first checkpoint before the fix (issue #14).

JAX's distributed runtime catches SIGTERM, so a run that outlives its
deadline is killed with SIGKILL (its whole process group).
"""

import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time

from brax.training.agents.ppo import checkpoint as ppo_checkpoint
import numpy as np
import pytest

import amp_ppo
from amp_ppo.amp import motion_prior
from amp_ppo.reliability import checkpoint
from tests.integration import multiprocess_script as script

_REPO_ROOT = str(pathlib.Path(__file__).resolve().parents[2])
_DEADLINE_SECONDS = 300  # A run takes about 20 s alone on 2 CPU cores.
_STEPS = tuple(script.STEPS_PER_ITERATION * (i + 1)
               for i in range(script.ITERATIONS))
_ORBAX_TEMP = '.orbax-checkpoint-tmp'


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _run(tmp, mode, checkpoints, *, processes, devices, reference=None,
         resume=False):
  """Runs one training job; returns each process's result, by process."""
  port = _free_port()
  env = dict(os.environ,
             XLA_FLAGS=f'--xla_force_host_platform_device_count={devices}')
  children, logs = [], []
  try:
    for i in range(processes):
      command = [sys.executable, '-m', 'tests.integration.multiprocess_script',
                 mode, str(tmp / f'result{i}.json'), str(checkpoints)]
      if reference:
        command.append(f'--reference={reference}')
      if resume:
        command.append('--resume')
      if processes > 1:
        command += [f'--num_processes={processes}', f'--process_id={i}',
                    f'--port={port}']
      logs.append(open(tmp / f'log{i}.txt', 'w'))
      children.append(subprocess.Popen(
          command, cwd=_REPO_ROOT, env=env, stdout=logs[-1],
          stderr=subprocess.STDOUT, start_new_session=True))
    deadline = time.monotonic() + _DEADLINE_SECONDS
    while (any(c.poll() is None for c in children) and
           time.monotonic() < deadline):
      time.sleep(0.5)
  finally:
    for child in children:
      if child.poll() is None:  # Past the deadline (or the test failed).
        os.killpg(child.pid, signal.SIGKILL)
      child.wait()
    for log in logs:
      log.close()
  codes = [c.returncode for c in children]
  if codes != [0] * processes:
    tails = '\n'.join(
        f'--- process {i} (exit {code}):\n' +
        (tmp / f'log{i}.txt').read_text()[-3000:]
        for i, code in enumerate(codes))
    raise AssertionError(
        f'{mode} on {processes} processes did not finish within '
        f'{_DEADLINE_SECONDS} s (SIGKILLed: exit -9) or failed:\n{tails}')
  return [json.loads((tmp / f'result{i}.json').read_text())
          for i in range(processes)]


@pytest.fixture(scope='module')
def reference_path(tmp_path_factory):
  return script.write_reference(
      str(tmp_path_factory.mktemp('reference') / 'tagged.npz'))


@pytest.fixture(scope='module')
def straight(reference_path, tmp_path_factory):
  tmp = tmp_path_factory.mktemp('straight')
  results = _run(tmp, 'amp', tmp / 'checkpoints', processes=2, devices=2,
                 reference=reference_path)
  return results, tmp / 'checkpoints'


@pytest.fixture(scope='module')
def resumed(straight, reference_path, tmp_path_factory):
  tmp = tmp_path_factory.mktemp('resumed')
  _, source = straight
  checkpoints = tmp / 'checkpoints'
  for step in _STEPS:
    shutil.copytree(_step_dir(source, step), _step_dir(checkpoints, step))
  # Killed while saving the last checkpoint: it has everything but its
  # resume state, so the resume must take the one before.
  shutil.rmtree(_step_dir(checkpoints, _STEPS[-1]) / checkpoint.RESUME_STATE)
  results = _run(tmp, 'amp', checkpoints, processes=2, devices=2,
                 reference=reference_path, resume=True)
  return results, checkpoints


@pytest.fixture(scope='module')
def single(reference_path, tmp_path_factory):
  tmp = tmp_path_factory.mktemp('single')
  results = _run(tmp, 'amp', tmp / 'checkpoints', processes=1, devices=4,
                 reference=reference_path)
  return results, tmp / 'checkpoints'


def _step_dir(root, step):
  return pathlib.Path(root) / f'{step:012d}'


def _every_device(results):
  return {device: parts for result in results
          for device, parts in result['devices'].items()}


def _files(root):
  """Paths below `root`, without orbax's content-addressed data files."""
  return sorted(str(p.relative_to(root)) for p in pathlib.Path(root).rglob('*')
                if p.parent.name != 'd')


def test_plain_ppo_saves_checkpoints_on_two_processes(tmp_path):
  # Issue #14: both processes hung at the first checkpoint, leaving an empty
  # step directory: Brax saves on process 0 only, and its orbax checkpointer
  # waited for process 1, which waited in the next epoch's collectives.
  checkpoints = tmp_path / 'checkpoints'
  results = _run(tmp_path, 'ppo', checkpoints, processes=2, devices=1)
  assert results[0]['params'] == results[1]['params']
  assert [step for step, _ in checkpoint.step_directories(
      str(checkpoints))] == list(_STEPS)
  for step in _STEPS:
    step_dir = _step_dir(checkpoints, step)
    # Process 0's orbax files only: nothing was written twice.
    assert sorted(p.name for p in step_dir.glob('ocdbt.process_*')) == [
        'ocdbt.process_0']
    assert not checkpoint.is_complete(str(step_dir))  # Brax's part only.
  # Brax reads the last one back as the params training returned.
  last = ppo_checkpoint.load(str(_step_dir(checkpoints, _STEPS[-1])))
  assert script.digest_by_path(last) == results[0]['params']
  assert _ORBAX_TEMP not in ' '.join(_files(checkpoints))


def test_every_device_of_every_process_ends_with_the_same_state(straight):
  results, _ = straight
  devices = _every_device(results)
  assert len(devices) == 4
  first = next(iter(devices.values()))
  assert set(first) == {
      'ppo_params', 'ppo_optimizer', 'observation_normalizer', 'env_steps',
      'amp_discriminator', 'amp_optimizer', 'amp_feature_normalizer',
      'amp_replay', 'amp_key'}
  for device, parts in devices.items():
    assert parts == first, device
  assert results[0]['params'] == results[1]['params']
  assert results[0]['amp_state'] == results[1]['amp_state']


def test_the_replay_holds_the_windows_of_every_process(straight):
  # Per training step, every device inserts the rollout windows of all 4
  # devices: 2 discriminator minibatches x 4 rollout samples each.
  results, _ = straight
  for result in results:
    assert result['replay_count'] == script.ITERATIONS * 4 * 2 * 4
    assert result['replay_windows_by_process'] == {'0': 32, '1': 32}


def test_checkpoints_are_written_once_and_completely(straight):
  results, checkpoints = straight
  assert [step for step, _ in checkpoint.step_directories(
      str(checkpoints))] == list(_STEPS)
  assert _ORBAX_TEMP not in ' '.join(_files(checkpoints))
  for step in _STEPS:
    step_dir = _step_dir(checkpoints, step)
    assert checkpoint.is_complete(str(step_dir))
    # Brax's part and the AMP state: written by process 0 alone.
    for part in (step_dir, step_dir / motion_prior.STATE_ITEM / 'arrays'):
      assert sorted(p.name for p in part.glob('ocdbt.process_*')) == [
          'ocdbt.process_0']
    # The resume state: every process wrote its own rows into it.
    arrays = step_dir / checkpoint.RESUME_STATE / 'arrays'
    assert sorted(p.name for p in arrays.glob('ocdbt.process_*')) == [
        'ocdbt.process_0', 'ocdbt.process_1']
    trees, meta = checkpoint.load(str(step_dir / checkpoint.RESUME_STATE))
    assert meta['env_steps'] == step
    assert not trees['training_state'].per_process
    for name in ('env_state', 'keys'):
      assert trees[name].per_process
      for path, rows in trees[name].arrays.items():
        assert rows.shape[0] == 2, path
      # Each process's own: Brax derives them from its process index.
      rows = trees[name].arrays["['local_key']" if name == 'keys' else
                                '.obs']
      assert not np.array_equal(rows[0], rows[1]), name
  # Process 0's part holds what training returned.
  last = _step_dir(checkpoints, _STEPS[-1])
  assert script.digest_by_path(ppo_checkpoint.load(str(last))) == (
      results[0]['params'])
  amp_state, _ = checkpoint.load(str(last / motion_prior.STATE_ITEM))
  assert script.digest_of_arrays(amp_state['amp_state'].arrays) == (
      results[0]['amp_state'])


def test_a_resumed_two_process_run_continues_exactly(straight, resumed):
  (straight_results, straight_dir), (results, resumed_dir) = straight, resumed
  # It resumed from the first checkpoint (process 0 calls policy_params_fn
  # with its params first) and ran the second iteration again.
  assert results[0]['policy_params_fn'] == {
      step: digest for step, digest in
      straight_results[0]['policy_params_fn'].items() if step != '0'}
  assert _every_device(results) == _every_device(straight_results)
  assert [r['params'] for r in results] == [
      r['params'] for r in straight_results]
  # The last checkpoint again, and its resume state bit for bit, with each
  # process's environment states and keys: each process got its own back.
  last = str(_step_dir(resumed_dir, _STEPS[-1]))
  assert checkpoint.is_complete(last)
  trees, _ = checkpoint.load(os.path.join(last, checkpoint.RESUME_STATE))
  expected, _ = checkpoint.load(os.path.join(
      str(_step_dir(straight_dir, _STEPS[-1])), checkpoint.RESUME_STATE))
  assert trees.keys() == expected.keys()
  for name in trees:
    assert trees[name].arrays.keys() == expected[name].arrays.keys()
    for path, value in trees[name].arrays.items():
      np.testing.assert_array_equal(value, expected[name].arrays[path],
                                    err_msg=f'{name} {path}')


def test_two_processes_train_like_one_with_as_many_devices_where_they_should(
    straight, single):
  """What the process count may and may not change.

  Brax folds the process index into each process's keys
  (`local_key = fold_in(local_key, process_id)`) and splits each process's
  environment keys from its own key, so 2 processes x 2 devices reset their
  environments and sample actions differently from 1 process x 4 devices,
  and the trained params differ. What comes from `seed` alone (initial
  networks and AMP state, the AMP key's sequence), the amount of training,
  the replay's fill and the checkpoints' files must not differ.
  """
  (results, straight_dir), ([one], single_dir) = straight, single
  assert one['process_count'] == 1 and one['local_devices'] == 4
  assert one['policy_params_fn']['0'] == results[0]['policy_params_fn']['0']
  for parts in _every_device([one]).values():
    for part in ('env_steps', 'amp_key'):
      assert parts[part] == next(iter(_every_device(results).values()))[part]
  assert one['replay_count'] == results[0]['replay_count']
  assert one['replay_windows_by_process'] == {'0': one['replay_count']}
  # The same files, but for what several processes write differently: Brax's
  # params saved as host copies (no device sharding to record) and each
  # process's rows of the resume state.
  def normalised(root):
    names = []
    for name in _files(root):
      parts = name.split(os.sep)
      if parts[-1] in ('_sharding', 'array_metadatas') or (
          'array_metadatas' in parts) or any(
              p.startswith('ocdbt.process_') and p != 'ocdbt.process_0'
              for p in parts):
        continue
      names.append(name)
    return names
  assert normalised(straight_dir) == normalised(single_dir)


def test_a_checkpoint_of_two_processes_resumes_only_on_two(straight,
                                                          reference_path,
                                                          tmp_path):
  _, checkpoints = straight
  with pytest.raises(ValueError, match=r'\(devices\): checkpoint 2 x 2, now 1 '
                     r'x 1'):
    amp_ppo.train(**script.train_kwargs(
        'amp', reference_path, save_checkpoint_path=str(tmp_path),
        resume_checkpoint_path=str(checkpoints)))
