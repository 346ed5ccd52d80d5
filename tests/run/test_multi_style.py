"""`python -m amp_ppo.main --config=multi_style:smoke`: two styles, one policy.

One run of the smoke preset (two iterations, a checkpoint after each) is
shared by the tests of this module; one more resumes it from its first
checkpoint. The pieces are tested in tests/amp/test_styles.py.
"""

import json
import os
import shutil

from brax.training.agents.ppo import checkpoint as ppo_checkpoint
import jax
import numpy as np
import pytest

from amp_ppo import motion as motion_lib
from amp_ppo.amp import style_evaluator
from amp_ppo.amp import style_metrics
from amp_ppo.configs import multi_style
from amp_ppo import main
from amp_ppo.reliability import checkpoint
from amp_ppo.run import evaluation
from amp_ppo.run import experiment
from amp_ppo.run import outputs
from amp_ppo.run import record

# The runner's order: ml_collections sorts a ConfigDict's keys.
_STYLES = ('fast_narrow', 'slow_wide')


def _config():
  config = multi_style.get_config('smoke')
  config.ppo.num_evals = 3  # Two iterations: a checkpoint to resume from.
  return config


@pytest.fixture(scope='module')
def smoke_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('run') / 'multi')
  report = main.run(_config(), workdir, resume=False, overwrite=False,
                    baseline=False, render=False)
  return workdir, report


def test_every_evaluation_writes_the_style_table(smoke_run):
  workdir, _ = smoke_run
  evaluations = [r for r in outputs.read_metrics(workdir)
                 if outputs.RETURN_KEY in r]
  assert len(evaluations) == 3
  for record in evaluations:
    for commanded in _STYLES:
      for reference in _STYLES:
        key = style_evaluator.style_table_key(commanded, reference)
        assert isinstance(record[key], float) and record[key] > 0, key
      assert isinstance(
          record[style_evaluator.STYLE_RETURN_PREFIX + commanded], float)
    diagonal = np.mean([record[style_evaluator.style_table_key(s, s)]
                        for s in _STYLES])
    assert record[style_evaluator.PROGRESS_STYLE_DISTANCE_KEY] == (
        pytest.approx(diagonal))
  assert outputs.style_names(evaluations[-1]) == list(_STYLES)


def test_report_holds_the_table_and_the_references_separation(smoke_run):
  workdir, report = smoke_run
  with open(os.path.join(workdir, outputs.REPORT_FILE)) as f:
    saved = json.load(f)
  table = saved[evaluation.FINAL_STYLE_TABLE_KEY]
  separation = saved[evaluation.REFERENCE_SEPARATION_KEY]
  assert saved['styles'] == list(_STYLES)
  for commanded in _STYLES:
    assert set(table[commanded]) == set(_STYLES)
    assert separation[commanded][commanded] == 0.0
    ratio = saved['style_command_ratio'][commanded]
    other = [d for r, d in table[commanded].items() if r != commanded][0]
    assert ratio == pytest.approx(table[commanded][commanded] / other)
    assert commanded in saved['final_return_per_style']
  # The two sways are apart (0.45 in the pooled unit of both references):
  # obeying the command is a real test.
  assert separation['slow_wide']['fast_narrow'] > 0.3
  assert saved['style_distance'] == pytest.approx(
      np.mean([table[s][s] for s in _STYLES]))
  assert report['style_table'] == table
  assert 'commanded slow_wide' in main.summary(report)


def _amp_state(step_dir):
  """The saved AMP state's arrays, by key path."""
  trees, _ = checkpoint.load(os.path.join(step_dir, 'amp_state'))
  return trees['amp_state'].arrays


def test_resume_with_two_styles_is_exact(smoke_run, tmp_path):
  workdir, report = smoke_run
  final_step, final_dir = experiment.latest_checkpoint(workdir)
  state = _amp_state(final_dir)
  # The checkpoint holds the replay's labels, and the discriminator was
  # trained under both conditions: Adam's first moment of the weights that
  # read each style's one-hot (the last rows of the first layer).
  first_moment = next(v for k, v in state.items()
                      if 'disc_optimizer_state' in k and '.mu' in k and
                      'hidden_0' in k and 'kernel' in k)
  for row in first_moment[-len(_STYLES):]:
    assert np.any(row != 0)
  labels = next(v for k, v in state.items() if 'replay' in k and
                'styles' in k)
  count = int(next(v for k, v in state.items()
                   if 'replay' in k and 'count' in k))
  assert set(np.unique(labels[:count])) == {0, 1}
  # As if the run had been stopped after its first checkpoint.
  copy = str(tmp_path / 'cut')
  shutil.copytree(workdir, copy)
  shutil.rmtree(os.path.join(experiment.checkpoint_dir(copy),
                             os.path.basename(final_dir)))
  first_step, _ = experiment.latest_checkpoint(copy)
  records_before = len(outputs.read_metrics(copy))
  config = _config()
  config.ppo.run_evals = False  # Not fingerprinted; saves compiling them.
  resumed = experiment.run_experiment(config, copy, resume=True,
                                      render=False, printer=lambda _: None)
  assert resumed.report['steps'] == final_step == report['steps']
  # It went on from the first checkpoint, not from the start.
  added = outputs.read_metrics(copy)[records_before:]
  assert added and all(r['step'] > first_step for r in added)
  resumed_dir = experiment.latest_checkpoint(copy)[1]
  want, got = _amp_state(final_dir), _amp_state(resumed_dir)
  assert want.keys() == got.keys()
  for key, value in want.items():
    np.testing.assert_array_equal(got[key], value, key)
  jax.tree_util.tree_map(np.testing.assert_array_equal,
                         ppo_checkpoint.load(resumed_dir),
                         ppo_checkpoint.load(final_dir))
  assert resumed.report['style_table'] == report['style_table']


def test_a_baseline_of_several_styles_is_refused_before_training(tmp_path):
  with pytest.raises(ValueError, match='no style command'):
    main.run(_config(), str(tmp_path / 'b'), resume=False, overwrite=False,
             baseline=True, render=False)
  assert not os.path.exists(str(tmp_path / 'b'))


# -- the table in the runner (no training) ---------------------------------


def test_a_command_closer_to_another_reference_is_named():
  table = {'slow': {'slow': 0.2, 'fast': 1.0},
           'fast': {'slow': 0.5, 'fast': 0.9}}
  assert style_metrics.ignored_commands(table) == [('fast', 'slow', 0.5, 0.9)]
  monitor = outputs.StyleCommandMonitor()
  metrics = style_evaluator.table_metrics(table)
  assert monitor.observe(0, metrics) is None  # Before training.
  warning = monitor.observe(100, metrics)
  assert "commanded 'fast' is closer to the reference of 'slow'" in warning
  assert monitor.observe(200, metrics) is None  # Once while it lasts.
  obeyed = style_evaluator.table_metrics(
      {'slow': {'slow': 0.2, 'fast': 1.0}, 'fast': {'slow': 1.0, 'fast': 0.3}})
  assert monitor.observe(300, obeyed) is None
  assert monitor.observe(400, metrics) is not None  # Again after it cleared.


def test_the_progress_line_shows_each_styles_own_and_other_distance():
  metrics = style_evaluator.table_metrics(
      {'slow': {'slow': 0.2, 'fast': 1.0}, 'fast': {'slow': 0.9, 'fast': 0.3}})
  assert outputs.style_names(metrics) == ['slow', 'fast']
  line = outputs.ProgressPrinter(0, 100).line(10, metrics)
  assert 'style dist own/other slow 0.20/1.00 fast 0.30/0.90' in line


def test_a_checkpoints_policy_is_built_for_the_commanded_observation():
  config = _config()
  env, _ = experiment.make_env(config.env)
  assert experiment.style_names(config) == list(_STYLES)
  assert experiment._observation_size(env, list(_STYLES)) == (
      experiment._observation_size(env) + len(_STYLES))
  # A mapping of one style is that style alone: no command.
  config.reference = {'slow_wide': config.reference.slow_wide}
  assert experiment.style_names(config) is None


def test_record_commands_the_style_it_is_given(smoke_run, tmp_path):
  workdir, _ = smoke_run
  with pytest.raises(ValueError, match='pass --style'):
    record.record_from_workdir(workdir, str(tmp_path / 'x.npz'))
  out = str(tmp_path / 'slow.npz')
  checkpoint = record.record_from_workdir(workdir, out, num_clips=2,
                                          num_steps=16, seed=3,
                                          style='slow_wide')
  recorded = motion_lib.load_reference(out)
  config = experiment.load_run_config(workdir)
  env, _ = experiment.make_env(config.env)
  policy = experiment.policy_from_checkpoint(config, env, checkpoint)
  # The record's keys, with environment i commanded style i: the second is
  # the record's command, the first the other style.
  rollout = evaluation.policy_rollout(
      env, policy, lambda state: state.pipeline_state.q,
      jax.random.PRNGKey(3), 2, 16, styles=list(_STYLES))
  fast, slow = [frames[alive & ~done] for frames, alive, done in zip(
      rollout.frames, rollout.alive, rollout.done)]
  assert len(recorded.clips) == 2 and min(len(fast), len(slow)) >= 2
  np.testing.assert_allclose(recorded.clips[1].qpos, slow, atol=1e-6)
  # The command matters: commanded the other style, it moves otherwise.
  first = recorded.clips[0].qpos
  assert first.shape != fast.shape or not np.allclose(first, fast, atol=1e-6)
