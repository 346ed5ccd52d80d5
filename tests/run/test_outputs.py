"""Tests for amp_ppo.run.outputs: progress lines, warnings, files."""

import json
import os

from amp_ppo.amp import style_evaluator
from amp_ppo.robots import preview
from amp_ppo.run import outputs
from tests.robots import preview_helpers

_PROGRESS_STYLE_DISTANCE = style_evaluator.PROGRESS_STYLE_DISTANCE_KEY


def _amp_metrics(accuracy_reference, accuracy_policy, **extra):
  return {outputs.ACCURACY_REFERENCE_KEY: accuracy_reference,
          outputs.ACCURACY_POLICY_KEY: accuracy_policy, **extra}


def _warnings(monitor, accuracies):
  return [monitor.observe(step, _amp_metrics(a, a))
          for step, a in enumerate(accuracies)]


def test_saturation_warns_once_after_patience_reports():
  monitor = outputs.DiscriminatorMonitor(patience=3)
  warnings = _warnings(monitor, [0.7, 0.99, 0.99, 0.99, 0.99, 0.98])
  fired = [w for w in warnings if w]
  assert len(fired) == 1
  assert warnings[3] is not None and 'saturated' in warnings[3]


def test_saturation_warns_again_after_recovering():
  monitor = outputs.DiscriminatorMonitor(patience=2)
  warnings = _warnings(monitor, [0.99, 0.99, 0.7, 0.99, 0.99])
  assert [bool(w) for w in warnings] == [False, True, False, False, True]


def test_saturation_needs_a_flat_style_reward_when_told_its_level():
  monitor = outputs.DiscriminatorMonitor(patience=2,
                                         flat_style_reward=0.15)
  report = lambda style: _amp_metrics(0.99, 0.99,
                                      **{outputs.STYLE_KEY: style})
  # Separating perfectly while the reward still varies: a working AMP run.
  assert not any(monitor.observe(s, report(1.2)) for s in range(4))
  assert [bool(monitor.observe(s, report(0.1))) for s in range(4, 7)] == [
      False, True, False]


def test_no_signal_warns_when_accuracy_stays_near_one_half():
  monitor = outputs.DiscriminatorMonitor(patience=3)
  warnings = _warnings(monitor, [0.52, 0.49, 0.51, 0.5])
  assert warnings[2] is not None and 'no signal' in warnings[2]
  assert sum(bool(w) for w in warnings) == 1


def test_short_excursions_and_healthy_values_stay_quiet():
  monitor = outputs.DiscriminatorMonitor(patience=3)
  warnings = _warnings(monitor, [0.99, 0.99, 0.75, 0.5, 0.5, 0.8, 0.65])
  assert not any(warnings)


def test_mean_of_both_accuracies_is_what_counts():
  monitor = outputs.DiscriminatorMonitor(patience=1)
  # Perfect on reference, hopeless on policy: mean 0.5, no signal.
  assert 'no signal' in monitor.observe(0, _amp_metrics(1.0, 0.0))


def test_ppo_only_metrics_are_ignored():
  monitor = outputs.DiscriminatorMonitor(patience=1)
  assert monitor.observe(0, {outputs.RETURN_KEY: 3.0}) is None


def test_progress_line_has_steps_rate_eta_return_style_and_accuracy():
  now = [100.0]
  printer = outputs.ProgressPrinter(0, 1000, clock=lambda: now[0])
  now[0] = 150.0  # first report: compilation included, no rate yet
  assert 'ETA ?' in printer.line(100, {})
  now[0] = 160.0  # then 100 steps per 10 s
  line = printer.line(200, _amp_metrics(
      0.9, 0.6, **{outputs.SPS_KEY: 5000.0, outputs.RETURN_KEY: 12.5,
                   outputs.STYLE_KEY: 1.25,
                   _PROGRESS_STYLE_DISTANCE: 0.75}))
  assert '200/1k' in line and '20%' in line
  assert '5k steps/s' in line
  assert 'ETA 1m20s' in line  # 800 steps at 0.1 s each
  assert 'return    12.50' in line
  assert 'style 1.250' in line
  assert 'style dist 0.750' in line
  assert 'D acc ref 0.90 pol 0.60' in line


def test_metrics_log_writes_jsonl_and_tensorboard(tmp_path):
  log = outputs.MetricsLog(str(tmp_path))
  log.write(0, {outputs.RETURN_KEY: 1.0})
  log.write(10, {outputs.RETURN_KEY: 2.0, 'x': float('nan')})
  log.close()
  records = outputs.read_metrics(str(tmp_path))
  assert [r['step'] for r in records] == [0, 10]
  assert records[1]['x'] == 'nan'  # strict JSON
  events = os.listdir(tmp_path / outputs.TENSORBOARD_DIR)
  assert any(name.startswith('events.out.tfevents') for name in events)


def test_curves_png_is_written(tmp_path):
  records = [{'step': s, outputs.RETURN_KEY: s / 10,
              **_amp_metrics(0.6, 0.7, **{outputs.STYLE_KEY: 1.0})}
             for s in (0, 10, 20)]
  path = str(tmp_path / 'curves.png')
  outputs.plot_curves(records, path, baseline=records)
  with open(path, 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def drawn_lines(records, path, baseline=()):
  """{panel title: {label: (steps, values)}} of the curves of `records`."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
  drawn = {}
  save = pyplot.Figure.savefig

  def spy(figure, *args, **kwargs):
    for axis in figure.axes:
      drawn[axis.get_title()] = {
          line.get_label(): tuple(map(list, line.get_data()))
          for line in axis.get_lines() if not line.get_label().startswith('_')}
    return save(figure, *args, **kwargs)

  pyplot.Figure.savefig = spy
  try:
    outputs.plot_curves(records, path, baseline=baseline)
  finally:
    pyplot.Figure.savefig = save
  return drawn


def test_curves_show_the_style_distance_of_every_evaluation(tmp_path):
  records = [{'step': 0, _PROGRESS_STYLE_DISTANCE: 2.0},
             {'step': 5, outputs.STYLE_KEY: 0.3},  # a report without eval
             {'step': 10, _PROGRESS_STYLE_DISTANCE: 1.5}]
  drawn = drawn_lines(records, str(tmp_path / 'curves.png'))
  panel, = [lines for title, lines in drawn.items()
            if title.startswith('style distance')]
  assert panel['AMP'] == ([0, 10], [2.0, 1.5])


def test_curves_show_the_baselines_style_distance_beside_amps(tmp_path):
  amp = [{'step': 0, _PROGRESS_STYLE_DISTANCE: 2.0},
         {'step': 10, _PROGRESS_STYLE_DISTANCE: 0.5}]
  ppo = [{'step': 0, _PROGRESS_STYLE_DISTANCE: 2.0},
         {'step': 10, _PROGRESS_STYLE_DISTANCE: 1.8}]
  drawn = drawn_lines(amp, str(tmp_path / 'curves.png'), baseline=ppo)
  panel, = [lines for title, lines in drawn.items()
            if title.startswith('style distance')]
  assert panel['AMP'] == ([0, 10], [2.0, 0.5])
  assert panel['PPO only'] == ([0, 10], [2.0, 1.8])


def test_write_json_is_strict(tmp_path):
  path = str(tmp_path / 'r.json')
  outputs.write_json(path, {'a': float('inf'), 'b': 1})
  with open(path) as f:
    assert json.load(f) == {'a': 'inf', 'b': 1}


def test_flat_style_reward_is_a_tenth_of_the_reward_at_logit_zero():
  import math  # pylint: disable=g-import-not-at-top
  from amp_ppo.run import experiment  # pylint: disable=g-import-not-at-top
  from amp_ppo.configs import common  # pylint: disable=g-import-not-at-top
  # LSGAN pays 1 - (0 - 1)^2 / 4 = 0.75 at 0, BCE -log(1 - 1/2) = log 2.
  assert math.isclose(experiment._flat_style_reward(
      common.amp_section(style_reward_scale=2.0)), 0.15, rel_tol=1e-6)
  assert math.isclose(experiment._flat_style_reward(
      common.amp_section(loss='bce', style_reward_scale=1.0)),
                      0.1 * math.log(2), rel_tol=1e-6)


def test_previews_without_a_gl_backend_are_stick_figures_with_the_note(
    tmp_path, monkeypatch):
  preview_helpers.force_no_gl(monkeypatch, 'no GL (test)')
  robot = preview_helpers.load(tmp_path / 'robot.xml')
  clips = [
      preview.Clip('reference', preview_helpers.swinging_qpos(robot, 3), 10.),
      preview.Clip('policy', preview_helpers.swinging_qpos(robot, 2), 10.)]
  printed = []
  fields = outputs.write_previews(robot, clips, str(tmp_path), title='t',
                                  printer=printed.append)
  assert fields['previews'] == [
      str(tmp_path / outputs.PREVIEW_STRIP),
      str(tmp_path / outputs.PREVIEW_ANIMATION)]
  assert all(os.path.getsize(path) > 1000 for path in fields['previews'])
  assert fields['preview_renderer'] == 'stick figures'
  assert 'no GL (test)' in fields['preview_note']
  assert printed[0] == fields['preview_note']
  assert printed[1:] == ['previews (stick figures): preview.png, preview.gif']


def test_the_last_evaluation_is_the_newest_record_with_a_return():
  records = [{'step': 0, outputs.RETURN_KEY: 1.0},
             {'step': 5, outputs.RETURN_KEY: 2.0},
             {'step': 9, 'training/amp/disc_loss': 0.3}]
  assert outputs.last_evaluation(records) == records[1]
  assert outputs.last_evaluation(records[2:]) == {}
