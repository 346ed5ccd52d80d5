"""End-to-end tests of `python -m amp_ppo.main` and `amp_ppo.run.record`.

One tiny run of the default demo's `smoke` preset is shared by the tests of
this module; it takes about a minute and a half on two cores, nearly all of
it compilation. The PPO-only baseline is the same code path with the AMP
arguments left out (checked on the trainer's arguments), so it is not run
again here.
"""

import hashlib
import json
import os
import shutil
import sys

from absl import flags
from brax.training.agents.ppo import checkpoint as ppo_checkpoint
import jax
from ml_collections import config_flags
import numpy as np
import pytest

from amp_ppo.amp import style_evaluator
from amp_ppo.configs import default
from amp_ppo import main
from amp_ppo import motion as motion_lib
from amp_ppo.run import record
from amp_ppo.run import evaluation
from amp_ppo.run import experiment
from amp_ppo.run import outputs

_REPLAY_FILL = 'training/amp/replay_fill'


def _parse_config(monkeypatch, *overrides):
  argv = ['main', f'--config={main._DEFAULT_CONFIG}:smoke', *overrides]
  # ml_collections reads the override flags from sys.argv itself.
  monkeypatch.setattr(sys, 'argv', argv)
  flag_values = flags.FlagValues()
  config_flags.DEFINE_config_file('config', main._DEFAULT_CONFIG,
                                  flag_values=flag_values)
  flag_values(argv)
  return flag_values.config


@pytest.fixture(scope='module')
def smoke_run(tmp_path_factory):
  root = tmp_path_factory.mktemp('run')
  previous = os.getcwd()
  os.chdir(root)
  try:
    # A relative workdir, like the default amp_runs/<config>.
    report = main.run(default.get_config('smoke'), 'demo', resume=False,
                      overwrite=False, baseline=False, render=True)
  finally:
    os.chdir(previous)
  return str(root / 'demo'), report


# The golden figures of the smoke run, pinned so that a refactoring that
# changes training, evaluation or the report in any bit fails here. Update
# them only for a change meant to alter results, and say so in its commit.
_GOLDEN_PARAMS_SHA256 = (
    '598190ff66b4d39a363134f89fe938e2a21bbba1a2c1eced945e37f0754e57f9')
_GOLDEN_REPORT = {
    'steps': 256, 'final_return': 5.5, 'final_episode_length': 5.5,
    'brax_eval_episode_reward': 5.0, 'style_distance': 4.78015030494148,
    'num_policy_windows': 11}


def _params_sha256(step_dir):
  params = ppo_checkpoint.load(os.path.abspath(step_dir))
  digest = hashlib.sha256()
  for leaf in jax.tree_util.tree_leaves(params):
    leaf = np.asarray(leaf)
    digest.update(f'{leaf.dtype}{leaf.shape}'.encode())
    digest.update(leaf.tobytes())
  return digest.hexdigest()


def test_golden_params_and_report_values(smoke_run):
  workdir, report = smoke_run
  step_dir = os.path.join(experiment.checkpoint_dir(workdir),
                          f'{report["steps"]:012d}')
  figures = {name: report[name] for name in (
      'steps', 'final_return', 'final_episode_length',
      'brax_eval_episode_reward', 'style_distance', 'num_policy_windows')}
  assert _params_sha256(step_dir) == _GOLDEN_PARAMS_SHA256
  assert figures == _GOLDEN_REPORT


def test_command_line_overrides_reach_the_trainer(monkeypatch):
  config = _parse_config(monkeypatch, '--config.amp.style_weight=0.7',
                         '--config.amp.disc_hidden_layer_sizes=(8, 4)',
                         '--config.amp.disc_num_minibatches=3',
                         '--config.ppo.learning_rate=0.01')
  env, env_kwargs = experiment.make_env(config.env)
  kwargs = experiment._train_kwargs(config, '/unused', env, env_kwargs, True,
                                    ['ref.npz'], experiment._Start())
  assert kwargs['amp_style_weight'] == 0.7
  assert kwargs['amp_disc_hidden_layer_sizes'] == (8, 4)
  assert kwargs['amp_disc_num_minibatches'] == 3
  assert kwargs['learning_rate'] == 0.01
  assert kwargs['num_timesteps'] == config.ppo.num_timesteps
  assert kwargs['amp_reference'] == ['ref.npz']


def test_baseline_kwargs_have_no_amp_arguments(monkeypatch):
  config = _parse_config(monkeypatch)
  env, env_kwargs = experiment.make_env(config.env)
  kwargs = experiment._train_kwargs(config, '/unused', env, env_kwargs, False,
                                    ['ref.npz'], experiment._Start())
  assert not [name for name in kwargs if name.startswith('amp_')]


def test_the_baseline_measures_its_style_as_the_amp_run_does(monkeypatch):
  config = _parse_config(monkeypatch, '--config.amp.history_length=3')
  env, env_kwargs = experiment.make_env(config.env)
  kwargs = experiment._train_kwargs(config, '/unused', env, env_kwargs, False,
                                    ['ref.npz'], experiment._Start())
  style = kwargs['style_reference']
  assert style.reference == ['ref.npz']
  assert style.history_length == 3
  assert style.feature_fn is experiment.load_feature_fn(config.feature_fn,
                                                        env)


def test_keep_checkpoints_reaches_the_trainer_and_the_published_ones(
    monkeypatch, tmp_path):
  assert _parse_config(monkeypatch).keep_checkpoints is None  # Keep all.
  config = _parse_config(monkeypatch, '--config.keep_checkpoints=2')
  env, env_kwargs = experiment.make_env(config.env)
  kwargs = experiment._train_kwargs(config, '/unused', env, env_kwargs, True,
                                    ['ref.npz'], experiment._Start())
  assert kwargs['keep_checkpoints'] == 2
  # The trainer saves into a staging directory; publishing a step prunes the
  # published ones.
  workdir = str(tmp_path)
  for root, step in ((experiment.checkpoint_dir(workdir), 64),
                     (experiment.checkpoint_dir(workdir), 128),
                     (experiment._staging_dir(workdir), 64)):
    os.makedirs(os.path.join(root, f'{step:012d}', 'resume_state'))
  experiment._publish_checkpoints(workdir, 128, keep=2)
  assert sorted(os.listdir(experiment.checkpoint_dir(workdir))) == [
      '.incoming', '000000000128', '000000000192']


def test_default_workdir_is_named_after_config_and_preset():
  assert main.default_workdir('a/b/default.py') == os.path.join(
      'amp_runs', 'default')
  assert main.default_workdir('ant.py:smoke') == os.path.join(
      'amp_runs', 'ant-smoke')


def test_new_workdir_picks_the_first_folder_that_does_not_exist(tmp_path):
  base = str(tmp_path / 'amp_runs' / 'default')
  assert main.new_workdir(base) == base
  os.makedirs(base)
  assert main.new_workdir(base) == base + '-2'
  assert main.new_workdir(base + os.sep) == base + '-2'
  os.makedirs(base + '-2')
  open(base + '-3', 'w').close()  # Any existing entry is taken.
  assert main.new_workdir(base) == base + '-4'


def _parse_main_config(monkeypatch, *args):
  argv = ['main', *args]
  monkeypatch.setattr(sys, 'argv', argv)  # ml_collections reads overrides.
  flag_values = flags.FlagValues()
  main.define_config_flag(flag_values)
  flag_values(argv)
  return flag_values


def test_bundled_configs_are_found_by_name(monkeypatch):
  assert {'default', 'ant', 'command_ant', 'humanoid', 'playground'} <= set(
      main.bundled_config_names())
  assert 'common' not in main.bundled_config_names()  # No get_config.
  flag_values = _parse_main_config(monkeypatch, '--config=ant:cpu',
                                   '--config.amp.style_weight=0.7')
  assert flag_values.config.env.backend == 'spring'  # The cpu preset's.
  assert flag_values.config.amp.style_weight == 0.7
  assert main.default_workdir(
      flag_values['config'].config_filename) == os.path.join(
          'amp_runs', 'ant-cpu')
  by_name = _parse_main_config(monkeypatch, '--config=default').config
  by_path = _parse_main_config(
      monkeypatch, f'--config={main._DEFAULT_CONFIG}').config
  assert by_name.to_dict() == by_path.to_dict()
  assert main.resolve_config('playground:go1') == os.path.join(
      main.CONFIGS_DIR, 'playground.py') + ':go1'
  assert main.resolve_config('my/ant:cpu') == 'my/ant:cpu'
  assert main.resolve_config('mine.py:x') == 'mine.py:x'


def test_an_unknown_config_name_lists_the_bundled_ones(monkeypatch):
  with pytest.raises(flags.IllegalFlagValueError,
                     match='unknown config .nosuch.: bundled configs are '
                     'ant, command_ant, default'):
    _parse_main_config(monkeypatch, '--config=nosuch:smoke')


def test_every_output_is_written(smoke_run):
  workdir, _ = smoke_run
  for name in ('metrics.jsonl', 'curves.png', 'rollout.html', 'report.json',
               'config.json'):
    assert os.path.getsize(os.path.join(workdir, name)) > 0, name
  assert any(n.startswith('events.out.tfevents')
             for n in os.listdir(os.path.join(workdir, 'tensorboard')))
  step, step_dir = experiment.latest_checkpoint(workdir)
  assert step >= default.get_config('smoke').ppo.num_timesteps
  assert os.path.isdir(os.path.join(step_dir, 'amp_state'))
  assert os.path.exists(os.path.join(step_dir, 'ppo_network_config.json'))
  with open(os.path.join(workdir, 'rollout.html')) as f:
    assert 'brax-viewer' in f.read()
  with open(os.path.join(workdir, 'curves.png'), 'rb') as f:
    assert f.read(4) == b'\x89PNG'


def test_metrics_hold_progress_and_amp_health(smoke_run):
  workdir, _ = smoke_run
  records = outputs.read_metrics(workdir)
  assert [r['step'] for r in records] == sorted(r['step'] for r in records)
  last = records[-1]
  for key in ('eval/episode_reward', 'training/sps', _REPLAY_FILL,
              'training/amp/accuracy_reference',
              'training/amp/style_reward_mean'):
    assert np.isfinite(last[key]), key


def test_style_distance_is_in_every_evaluation_and_the_curves(smoke_run,
                                                               tmp_path):
  from tests.run import test_outputs  # pylint: disable=g-import-not-at-top
  workdir, _ = smoke_run
  records = outputs.read_metrics(workdir)
  evaluations = [r for r in records if outputs.RETURN_KEY in r]
  assert len(evaluations) >= 2
  distances = [r[style_evaluator.PROGRESS_STYLE_DISTANCE_KEY]
               for r in evaluations]
  assert all(np.isfinite(d) and d > 0 for d in distances), distances
  # curves.png draws them, from the run's own records.
  drawn = test_outputs.drawn_lines(records, str(tmp_path / 'curves.png'))
  panel, = [lines for title, lines in drawn.items()
            if title.startswith('style distance')]
  assert panel['AMP'][1] == distances


def test_report_has_return_and_style_distance(smoke_run):
  workdir, report = smoke_run
  with open(os.path.join(workdir, 'report.json')) as f:
    on_disk = json.load(f)
  assert on_disk == json.loads(json.dumps(report))
  assert report['amp'] is True
  assert report['final_return'] > 0
  assert 0 < report['style_distance'] < 100
  assert report['total_wall_time_seconds'] > 0


def test_summary_prints_both_style_distances():
  report = {'env': 'e', 'steps': 2_000_000, 'wall_time_seconds': 200,
            'final_return': 250.0, 'style_distance': 0.5,
            'baseline': {'final_return': 249.0, 'style_distance': 1.25}}
  summary = main.summary(report)
  assert 'final return: AMP 250.0 | PPO only 249.0' in summary
  assert 'AMP 0.500 | PPO only 1.250' in summary


def test_a_second_run_without_resume_is_refused(smoke_run):
  workdir, _ = smoke_run
  with pytest.raises(FileExistsError, match='--resume'):
    experiment.prepare_workdir(workdir, resume=False, overwrite=False)


def test_record_writes_a_reference_matching_a_rollout(smoke_run, tmp_path):
  workdir, _ = smoke_run
  out = str(tmp_path / 'recorded.npz')
  checkpoint = record.record_from_workdir(workdir, out, num_clips=2,
                                          num_steps=16, seed=3)
  motion = motion_lib.load_reference(out)
  env, _ = experiment.make_env(experiment.load_run_config(workdir).env)
  assert motion.clips[0].fps == pytest.approx(1 / env.dt)
  # The same policy, seed and environment, rolled out independently.
  policy = experiment.policy_from_checkpoint(
      experiment.load_run_config(workdir), env, checkpoint)
  rollout = evaluation.policy_rollout(
      env, policy, lambda state: state.pipeline_state.q,
      jax.random.PRNGKey(3), 2, 16)
  # Each episode up to (not including) its terminal frame; a clip needs 2.
  expected = [frames[alive & ~done] for frames, alive, done in zip(
      rollout.frames, rollout.alive, rollout.done)]
  expected = [frames for frames in expected if len(frames) >= 2]
  assert expected and len(motion.clips) == len(expected)
  for clip, frames in zip(motion.clips, expected):
    np.testing.assert_allclose(clip.qpos, frames, atol=1e-6)


class _Interrupt(Exception):
  pass


def _continue(workdir, config, stop_after_step=None):
  def printer(unused_line):
    # Lines are printed after each checkpoint is published.
    latest = experiment.latest_checkpoint(workdir)
    if stop_after_step and latest and latest[0] > stop_after_step:
      raise _Interrupt()
  return experiment.run_experiment(config, workdir, resume=True,
                                   render=False, printer=printer)


def test_an_interrupted_continued_run_resumes_exactly(smoke_run, tmp_path):
  # Continue the finished smoke run to 4x its steps, once straight and once
  # interrupted after its first new checkpoint and resumed with the same
  # flags: the same steps, numbered from the whole run's count, and the same
  # final policy.
  workdir, _ = smoke_run
  first_step, _ = experiment.latest_checkpoint(workdir)
  config = default.get_config('smoke')
  # Brax's evaluations would compile their rollout in each of the three
  # runs; the training metrics alone give the steps, and the evaluator's
  # resumed key has its own test (tests/integration/test_reliability.py).
  config.ppo.update(num_timesteps=4 * first_step, num_evals=4,
                    run_evals=False)
  straight, interrupted = str(tmp_path / 'straight'), str(tmp_path / 'cut')
  for copy in (straight, interrupted):
    shutil.copytree(workdir, copy)
  want = _continue(straight, config)
  with pytest.raises(_Interrupt):
    _continue(interrupted, config, stop_after_step=first_step)
  cut_at, _ = experiment.latest_checkpoint(interrupted)
  assert first_step < cut_at < want.report['steps']
  got = _continue(interrupted, config)
  assert got.report['steps'] == want.report['steps'] == 4 * first_step
  steps = [r['step'] for r in outputs.read_metrics(interrupted)]
  assert steps == [r['step'] for r in outputs.read_metrics(straight)]
  for run in (want, got):
    assert run.report['checkpoint'].endswith(f'{4 * first_step:012d}')
  assert _params_sha256(got.report['checkpoint']) == _params_sha256(
      want.report['checkpoint'])


def test_resume_continues_steps_and_amp_state(smoke_run):
  workdir, _ = smoke_run
  before = outputs.read_metrics(workdir)
  first_step, _ = experiment.latest_checkpoint(workdir)
  config = default.get_config('smoke')
  config.ppo.num_timesteps = 2 * first_step
  # Training metrics alone say where training went on; Brax's evaluations
  # would compile their rollout twice more.
  config.ppo.run_evals = False
  result = experiment.run_experiment(config, workdir, resume=True,
                                     render=False, printer=lambda _: None)
  step, step_dir = experiment.latest_checkpoint(workdir)
  assert step > first_step
  assert result.report['steps'] == step
  after = outputs.read_metrics(workdir)[len(before):]
  assert after and all(r['step'] > first_step for r in after)
  # The replay buffer kept filling: the discriminator's state was restored.
  assert after[0][_REPLAY_FILL] > before[-1][_REPLAY_FILL]
  assert os.path.isdir(os.path.join(step_dir, 'amp_state'))


def test_library_info_lines_are_filtered_but_amp_ppo_and_warnings_pass():
  import logging  # pylint: disable=g-import-not-at-top
  from amp_ppo.amp import build  # pylint: disable=g-import-not-at-top
  from amp_ppo.brax_ppo_vendored import train as vendored  # pylint: disable=g-import-not-at-top
  keep = main._AmpPpoInfoOnly().filter

  def record(level, path):
    return logging.LogRecord('absl', level, path, 1, 'message', (), None)

  assert keep(record(logging.INFO, build.__file__))
  assert not keep(record(logging.INFO, vendored.__file__))  # metrics dicts
  assert keep(record(logging.WARNING, vendored.__file__))
