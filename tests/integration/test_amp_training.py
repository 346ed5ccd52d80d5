"""amp_ppo.train end to end: metrics, checkpoints, resume, errors, devices."""

import functools
import json
import math
import os
import subprocess
import sys

from brax.envs import inverted_pendulum
from brax.training.agents.ppo import networks as ppo_networks
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import amp_ppo
from amp_ppo.amp import motion_prior
from amp_ppo.amp import style_evaluator
from amp_ppo.demos import cartpole_sway
from amp_ppo import motion as motion_lib
from amp_ppo import training
from amp_ppo.training import extension as extension_lib
from tests import helpers

_ENV_STEPS_PER_TRAINING_STEP = 8 * 4 * 2  # batch x unroll x minibatches
_INSERTED_PER_TRAINING_STEP = 2 * 4  # disc minibatches x rollout half


_LOWERINGS = helpers.LOWERINGS


def _train(reference_path, **overrides):
  kwargs = dict(
      environment=helpers.CounterEnv(),
      num_timesteps=4 * _ENV_STEPS_PER_TRAINING_STEP,
      episode_length=16, num_envs=8, batch_size=8, num_minibatches=2,
      unroll_length=4, num_evals=3, num_eval_envs=4, seed=3,
      network_factory=functools.partial(
          ppo_networks.make_ppo_networks, policy_hidden_layer_sizes=(8,),
          value_hidden_layer_sizes=(8,)),
      amp_reference=reference_path,
      amp_feature_fn=helpers.counter_features,
      amp_disc_hidden_layer_sizes=(8,), amp_disc_minibatch_size=8,
      amp_replay_size=64)
  kwargs.update(overrides)
  return amp_ppo.train(**kwargs)


def _ppo_kwargs(**overrides):
  """A PPO-only run of two training steps on the counter environment."""
  kwargs = dict(
      environment=helpers.CounterEnv(),
      num_timesteps=2 * _ENV_STEPS_PER_TRAINING_STEP, episode_length=16,
      num_envs=8, batch_size=8, num_minibatches=2, unroll_length=4,
      num_evals=2, num_eval_envs=4, seed=3,
      network_factory=functools.partial(
          ppo_networks.make_ppo_networks, policy_hidden_layer_sizes=(8,),
          value_hidden_layer_sizes=(8,)))
  kwargs.update(overrides)
  return kwargs


@pytest.fixture(scope='module')
def reference_path(tmp_path_factory):
  return helpers.write_counter_reference(
      str(tmp_path_factory.mktemp('ref') / 'counter.npz'))


@pytest.fixture(scope='module')
def amp_run(reference_path, tmp_path_factory):
  checkpoint_dir = str(tmp_path_factory.mktemp('ckpt'))
  progress = []

  def progress_fn(step, metrics):
    progress.append((step, dict(metrics), _LOWERINGS.count))

  _, params, _ = _train(reference_path, save_checkpoint_path=checkpoint_dir,
                        num_evals=4, progress_fn=progress_fn,
                        num_timesteps=6 * _ENV_STEPS_PER_TRAINING_STEP)
  return dict(params=params, progress=progress, checkpoint_dir=checkpoint_dir)


def _last_step_dir(checkpoint_dir):
  return os.path.join(checkpoint_dir, sorted(os.listdir(checkpoint_dir))[-1])


def test_progress_reports_discriminator_health(amp_run):
  _, metrics, _ = amp_run['progress'][-1]
  for name in ('disc_loss', 'grad_penalty', 'accuracy_reference',
               'accuracy_policy', 'd_reference', 'd_policy',
               'style_reward_mean', 'style_reward_std', 'task_reward_mean',
               'style_share', 'replay_fill'):
    value = float(metrics[f'training/amp/{name}'])
    assert math.isfinite(value), name
  for name in ('accuracy_reference', 'accuracy_policy', 'style_share'):
    assert 0.0 <= float(metrics[f'training/amp/{name}']) <= 1.0
  assert 'eval/episode_reward' in metrics


def test_no_recompilation_after_the_first_epoch(amp_run):
  lowerings = [count for _, _, count in amp_run['progress']]
  # Calls: initial eval, then after epochs 1, 2, 3. The first epoch and eval
  # compile; later epochs must reuse them.
  assert lowerings[1] == lowerings[2] == lowerings[3], lowerings


def test_returns_amp_state_as_fourth_params_entry(amp_run):
  params = amp_run['params']
  assert len(params) == 4
  amp_state = params[3]
  assert isinstance(amp_state, motion_prior.AmpState)
  assert int(amp_state.replay.count) == min(6 * _INSERTED_PER_TRAINING_STEP,
                                            64)


def test_checkpoint_holds_discriminator_optimiser_and_normaliser(amp_run):
  step_dir = _last_step_dir(amp_run['checkpoint_dir'])
  final = amp_run['params'][3]
  saved = extension_lib.AMP_STATE_ITEM.load(
      final, os.path.join(step_dir, motion_prior.STATE_ITEM))
  for a, b in zip(jax.tree_util.tree_leaves(saved),
                  jax.tree_util.tree_leaves(final)):
    np.testing.assert_array_equal(a, b)


def test_restore_checkpoint_continues_the_amp_run(amp_run, reference_path):
  _, params, _ = _train(
      reference_path,
      restore_checkpoint_path=_last_step_dir(amp_run['checkpoint_dir']),
      num_timesteps=2 * _ENV_STEPS_PER_TRAINING_STEP)
  # 48 windows were in replay; a fresh buffer would hold only 16 now.
  assert int(params[3].replay.count) == 64


def test_no_training_steps_still_return_the_amp_state(reference_path):
  # num_timesteps=0 returns before the loop; the AMP state is still the
  # 4th entry, so restore_params=params continues the AMP run.
  _, params, _ = _train(reference_path, num_timesteps=0)
  assert len(params) == 4
  assert isinstance(params[3], motion_prior.AmpState)
  assert int(params[3].replay.count) == 0


def test_restore_params_continues_the_amp_run(amp_run, reference_path):
  _, params, _ = _train(reference_path, restore_params=amp_run['params'],
                        num_timesteps=2 * _ENV_STEPS_PER_TRAINING_STEP)
  assert int(params[3].replay.count) == 64


def test_a_baseline_measures_its_style_without_changing_training(
    reference_path):
  # PPO alone, told the reference: the same params as without it, and the
  # style distance at every evaluation, as an AMP run reports it.
  ppo_kwargs = _ppo_kwargs()
  _, want, _ = amp_ppo.train(**ppo_kwargs)
  evaluations = []
  _, got, _ = amp_ppo.train(
      **ppo_kwargs,
      style_reference=training.StyleReference(
          reference_path, feature_fn=helpers.counter_features),
      progress_fn=lambda step, metrics: evaluations.append(metrics))
  assert len(got) == 3
  for a, b in zip(jax.tree_util.tree_leaves(want),
                  jax.tree_util.tree_leaves(got)):
    np.testing.assert_array_equal(a, b)
  distances = [m[style_evaluator.PROGRESS_STYLE_DISTANCE_KEY]
               for m in evaluations]
  assert len(distances) == 2 and all(np.isfinite(distances))


def test_warm_start_from_ppo_only_checkpoint(reference_path, tmp_path):
  ppo_dir = str(tmp_path / 'ppo')
  _, ppo_params, _ = amp_ppo.train(**_ppo_kwargs(seed=0,
                                                 save_checkpoint_path=ppo_dir))
  assert len(ppo_params) == 3
  step_dir = _last_step_dir(ppo_dir)
  assert not os.path.exists(os.path.join(step_dir, motion_prior.STATE_ITEM))
  _, params, _ = _train(reference_path, restore_checkpoint_path=step_dir,
                        num_timesteps=2 * _ENV_STEPS_PER_TRAINING_STEP)
  # The discriminator started fresh: only this run's windows are in replay.
  assert int(params[3].replay.count) == 2 * _INSERTED_PER_TRAINING_STEP


class _NoCompilation:
  """Fails the test if anything is lowered for XLA inside the block."""

  def __enter__(self):
    self._start = _LOWERINGS.count
    return self

  def __exit__(self, *exc):
    assert _LOWERINGS.count == self._start, 'compiled before failing'
    return False


@pytest.mark.parametrize('case, message', [
    ('missing_key', 'fps'),
    ('nan', 'not finite'),
    ('width', 'features'),
    ('bad_setting', 'loss'),
    ('normalize_features', 'normalize_features'),
    ('setting_without_reference', 'amp_reference'),
    ('no_wrap', 'wrap_env'),
    ('missing_info_key', 'amp_info_feature_key'),
    ('rsi_without_states', 'reference_state_init'),
])
def test_bad_input_fails_clearly_before_compiling(case, message, tmp_path,
                                                  reference_path):
  path = str(tmp_path / 'bad.npz')
  steps = np.arange(12, dtype=np.float32)
  frames = np.stack([steps, steps], axis=1)
  overrides = {}
  if case == 'missing_key':
    np.savez(path, features=frames)
  elif case == 'nan':
    frames[3, 1] = np.nan
    np.savez(path, features=frames, fps=20.0)
  elif case == 'width':
    np.savez(path, features=np.ones((12, 3), np.float32), fps=20.0)
  else:
    path = reference_path
  if case == 'bad_setting':
    overrides = dict(amp_loss='wgan')
  elif case == 'normalize_features':
    overrides = dict(amp_normalize_features='yes')
  elif case == 'setting_without_reference':
    path = None
  elif case == 'no_wrap':
    overrides = dict(wrap_env=False)
  elif case == 'missing_info_key':
    overrides = dict(amp_feature_fn=None, amp_info_feature_key='nope')
  elif case == 'rsi_without_states':
    overrides = dict(amp_reference_state_init=0.5)
  with _NoCompilation(), pytest.raises(ValueError, match=message):
    _train(path, **overrides)


class _PendulumResetTwice(inverted_pendulum.InvertedPendulum):
  """A reset that builds a physics state twice: no single RSI start."""

  def reset(self, rng):
    self.pipeline_init(self.sys.init_q, jnp.zeros(self.sys.qd_size()))
    return super().reset(rng)


def test_a_state_reference_rsi_refusal_comes_before_compiling():
  # (qpos, qvel) frames: their features need the feature function compiled,
  # so reference state init's checks must run before that.
  environment = _PendulumResetTwice(backend='mjx')
  with _NoCompilation(), pytest.raises(ValueError, match='2 times'):
    amp_ppo.train(
        environment=environment, num_timesteps=64,
        episode_length=16, num_envs=8, batch_size=8, num_minibatches=2,
        unroll_length=4,
        amp_reference=cartpole_sway.BUNDLED_REFERENCE,
        amp_reference_state_init=0.5)


def test_several_devices_stay_replicated():
  script = os.path.join(os.path.dirname(__file__), 'amp_multidevice_script.py')
  env = dict(os.environ,
             XLA_FLAGS='--xla_force_host_platform_device_count=2')
  result = subprocess.run([sys.executable, script], capture_output=True,
                          text=True, env=env, timeout=900, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  report = json.loads(result.stdout.strip().splitlines()[-1])
  assert report['local_devices'] == 2
  # Each device contributed its own windows: twice the 1-device insertions.
  assert report['replay_count'] == 2 * report['single_device_insertions']
  assert report['replicated']
  assert all(math.isfinite(v) for v in report['amp_metrics'].values())


def test_brax_pipeline_env_with_state_reference_and_rsi(tmp_path):
  from brax import envs  # pylint: disable=g-import-not-at-top
  env = envs.get_environment('inverted_pendulum', backend='positional')
  # Recorded at 100 Hz; the environment steps at 50 Hz, so the reference is
  # resampled to the control rate.
  t = np.arange(120) / 100.0
  qpos = np.stack([0.2 * np.sin(2 * np.pi * t), 0.05 * np.cos(2 * np.pi * t)],
                  axis=1)
  qvel = np.gradient(qpos, 1 / 100.0, axis=0)
  path = str(tmp_path / 'sway.npz')
  motion_lib.save_reference(path, fps=100.0, qpos=qpos, qvel=qvel)
  progress = []
  _, params, _ = amp_ppo.train(
      environment=env, num_timesteps=2 * _ENV_STEPS_PER_TRAINING_STEP,
      episode_length=16, num_envs=8, batch_size=8, num_minibatches=2,
      unroll_length=4, num_evals=2, num_eval_envs=4,
      network_factory=functools.partial(
          ppo_networks.make_ppo_networks, policy_hidden_layer_sizes=(8,),
          value_hidden_layer_sizes=(8,)),
      progress_fn=lambda step, metrics: progress.append(metrics),
      amp_reference=path, amp_disc_hidden_layer_sizes=(8,),
      amp_disc_minibatch_size=8, amp_replay_size=64,
      amp_reference_state_init=0.5)
  assert int(params[3].replay.count) == 2 * _INSERTED_PER_TRAINING_STEP
  assert math.isfinite(float(progress[-1]['training/amp/disc_loss']))
  # Features are (q, qd): the cart's and the pole's body positions only
  # repeat the cart's q or stay put, so the default leaves them out.
  assert params[3].normalizer.mean.shape == (4,)
