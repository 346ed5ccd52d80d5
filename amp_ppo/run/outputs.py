"""What a run leaves behind and prints: metrics, progress, warnings, figures.

All host-side; fed by Brax's `progress_fn(step, metrics)`.
"""

import json
import math
import os
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from absl import logging
import numpy as np

from amp_ppo.amp import motion_prior
from amp_ppo.amp import style_evaluator
from amp_ppo.amp import style_metrics

METRICS_FILE = 'metrics.jsonl'
REPORT_FILE = 'report.json'
CURVES_FILE = 'curves.png'
TENSORBOARD_DIR = 'tensorboard'
# The final policy beside its reference (Playground robots with a preset):
# rows of the strip, panels of the animation.
PREVIEW_STRIP = 'preview.png'
PREVIEW_ANIMATION = 'preview.gif'
# rollout.html is Brax's viewer, whose page fetches three.js from CDNs.
ROLLOUT_HTML_NOTE = 'loads its JavaScript from CDNs: blank offline'

RETURN_KEY = 'eval/episode_reward'
# Brax reports training metrics under 'training/'.
STYLE_KEY = 'training/' + motion_prior.STYLE_REWARD_MEAN
ACCURACY_REFERENCE_KEY = 'training/' + motion_prior.ACCURACY_REFERENCE
ACCURACY_POLICY_KEY = 'training/' + motion_prior.ACCURACY_POLICY
SPS_KEY = 'training/sps'


def style_names(metrics: Mapping[str, Any]) -> List[str]:
  """The styles of a run of several, from its style table's keys; else []."""
  prefix = style_evaluator.STYLE_TABLE_PREFIX
  names = []
  for key in metrics:
    if key.startswith(prefix):
      commanded, _, reference = key[len(prefix):].partition('/')
      if commanded == reference:
        names.append(commanded)
  return names


def scalar_metrics(metrics: Mapping[str, Any]) -> Dict[str, float]:
  """Plain floats of every scalar metric (Brax hands over JAX arrays)."""
  scalars = {}
  for name, value in metrics.items():
    array = np.asarray(value)
    if array.size == 1:
      scalars[name] = float(array.reshape(()))
  return scalars


class MetricsLog:
  """Appends every report to metrics.jsonl and to TensorBoard."""

  def __init__(self, workdir: str):
    self._path = os.path.join(workdir, METRICS_FILE)
    self._writer = None
    try:
      import tensorboardX  # pylint: disable=g-import-not-at-top
      self._writer = tensorboardX.SummaryWriter(
          os.path.join(workdir, TENSORBOARD_DIR))
    except ImportError:
      logging.warning('tensorboardX is not installed: no TensorBoard events.')

  def write(self, step: int, metrics: Mapping[str, float]) -> None:
    record = {'step': int(step), 'time': time.time(), **metrics}
    with open(self._path, 'a') as f:
      f.write(json.dumps(_json_safe(record)) + '\n')
    if self._writer is not None:
      for name, value in metrics.items():
        self._writer.add_scalar(name, value, global_step=int(step))
      self._writer.flush()

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()


def read_metrics(workdir: str) -> List[Dict[str, float]]:
  """Every record of a workdir's metrics.jsonl, oldest first."""
  path = os.path.join(workdir, METRICS_FILE)
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def last_evaluation(records: List[Dict[str, float]]) -> Dict[str, float]:
  """The newest record that holds an evaluation ({} before the first)."""
  return next((r for r in reversed(records) if RETURN_KEY in r), {})


def _json_safe(value):
  """NaN and inf as strings: strict JSON has no such numbers."""
  if isinstance(value, dict):
    return {k: _json_safe(v) for k, v in value.items()}
  if isinstance(value, float) and not math.isfinite(value):
    return str(value)
  return value


def format_steps(steps: float) -> str:
  for divisor, suffix in ((1e9, 'G'), (1e6, 'M'), (1e3, 'k')):
    if abs(steps) >= divisor:
      return f'{steps / divisor:.3g}{suffix}'
  return f'{steps:.0f}'


def format_duration(seconds: float) -> str:
  if not math.isfinite(seconds):
    return '?'
  seconds = int(round(seconds))
  minutes, seconds = divmod(seconds, 60)
  hours, minutes = divmod(minutes, 60)
  return f'{hours}h{minutes:02d}m' if hours else f'{minutes}m{seconds:02d}s'


class ProgressPrinter:
  """One line per report: steps, steps/s, ETA, return, style, D accuracy.

  'style dist' is the discriminator-free style distance of Brax's
  evaluation rollouts (style_evaluator's progress estimate; lower is closer
  to the reference); 'style' the mean style reward, which moves with the
  discriminator.

  The ETA extrapolates the wall time per step since the first report after
  training began (which includes the one-off compilation), so it appears
  from the second such report on.
  """

  def __init__(self, start_step: int, total_steps: int,
               clock: Callable[[], float] = time.time):
    self._start_step = start_step
    self._total_steps = total_steps
    self._clock = clock
    self._started = clock()
    self._anchor = None  # (step, time) of the first report after training

  def line(self, step: int, metrics: Mapping[str, float]) -> str:
    now = self._clock()
    eta = math.inf  # shown as '?' until two reports give a rate
    if step > self._start_step:
      if self._anchor is None:
        self._anchor = (step, now)
      elif step > self._anchor[0]:
        seconds_per_step = (now - self._anchor[1]) / (step - self._anchor[0])
        eta = max(self._total_steps - step, 0) * seconds_per_step
    fraction = step / max(self._total_steps, 1)
    parts = [f'[{format_steps(step):>6}/{format_steps(self._total_steps)} '
             f'{100 * fraction:3.0f}%]',
             f'{format_steps(metrics.get(SPS_KEY, 0.0)):>6} steps/s',
             f'elapsed {format_duration(now - self._started)}',
             f'ETA {format_duration(eta)}']
    if RETURN_KEY in metrics:
      parts.append(f'return {metrics[RETURN_KEY]:8.2f}')
    distance = metrics.get(style_evaluator.PROGRESS_STYLE_DISTANCE_KEY)
    table = style_evaluator.table_from_metrics(metrics, style_names(metrics))
    if table:
      # Per commanded style: distance to its own reference / the nearest
      # other's (an obeyed command is well below 1 of it).
      parts.append('style dist own/other ' + ' '.join(
          f'{name} {row[name]:.2f}/'
          f'{min(d for r, d in row.items() if r != name):.2f}'
          for name, row in table.items()))
    elif distance is not None:
      parts.append(f'style dist {distance:.3f}')
    if STYLE_KEY in metrics:
      parts.append(f'style {metrics[STYLE_KEY]:.3f}')
    if ACCURACY_REFERENCE_KEY in metrics:
      parts.append(f'D acc ref {metrics[ACCURACY_REFERENCE_KEY]:.2f} '
                   f'pol {metrics[ACCURACY_POLICY_KEY]:.2f}')
    return '  '.join(parts)


class DiscriminatorMonitor:
  """Warns when the discriminator saturates or carries no signal for long.

  The discriminator's accuracy is the mean of its accuracies on reference
  and policy samples. Near 1.0 it separates them perfectly; that only harms
  once the style reward has gone flat (LSGAN's reward is 0, and constant,
  for logits at or below -1; BCE's tends to 0 with vanishing slope), so
  with `flat_style_reward` given, saturation also needs the mean style
  reward at or below it. Near 0.5 the discriminator tells policy and
  reference apart no better than chance, which early on means the features
  carry nothing (e.g. all constant). Each condition warns once after
  `patience` consecutive reports and again only after it has cleared.
  """

  def __init__(self, saturated_accuracy: float = 0.95,
               no_signal_margin: float = 0.05, patience: int = 3,
               flat_style_reward: Optional[float] = None):
    self._saturated = saturated_accuracy
    self._margin = no_signal_margin
    self._patience = patience
    self._flat_style_reward = flat_style_reward
    self._streaks = {'saturated': 0, 'no_signal': 0}
    self._warned = {'saturated': False, 'no_signal': False}

  def observe(self, step: int,
              metrics: Mapping[str, float]) -> Optional[str]:
    """The warning this report triggers, if any."""
    if ACCURACY_REFERENCE_KEY not in metrics:
      return None
    accuracy = 0.5 * (metrics[ACCURACY_REFERENCE_KEY] +
                      metrics[ACCURACY_POLICY_KEY])
    saturated = accuracy >= self._saturated
    if self._flat_style_reward is not None and STYLE_KEY in metrics:
      saturated = saturated and (
          metrics[STYLE_KEY] <= self._flat_style_reward)
    states = {'saturated': saturated,
              'no_signal': abs(accuracy - 0.5) <= self._margin}
    message = None
    for condition, active in states.items():
      self._streaks[condition] = self._streaks[condition] + 1 if active else 0
      if not active:
        self._warned[condition] = False
      elif (self._streaks[condition] >= self._patience and
            not self._warned[condition]):
        self._warned[condition] = True
        message = self._message(condition, step, accuracy)
    return message

  def _message(self, condition: str, step: int, accuracy: float) -> str:
    reports = self._streaks[condition]
    if condition == 'saturated':
      return (f'step {step}: discriminator saturated (accuracy {accuracy:.3f}'
              f' for {reports} reports): the style reward is flat and may '
              'stop guiding the policy; consider a larger amp.gradient_penalty_weight, a '
              'smaller amp.disc_learning_rate or fewer '
              'amp.disc_num_minibatches.')
    return (f'step {step}: discriminator has no signal (accuracy '
            f'{accuracy:.3f} for {reports} reports): check the feature '
            'report for constant dimensions, or whether the policy already '
            'matches the reference.')


class StyleCommandMonitor:
  """Warns when a commanded style is closer to another style's reference.

  Read from each evaluation's style table (runs of several styles): such a
  policy ignores its command. It warns once per set of such styles, again
  only when the set changes; not before training (step 0), when no policy
  has learnt a command yet.
  """

  def __init__(self):
    self._ignored = ()

  def observe(self, step: int,
              metrics: Mapping[str, float]) -> Optional[str]:
    table = style_evaluator.table_from_metrics(metrics, style_names(metrics))
    if table is None or step == 0:
      return None
    ignored = style_metrics.ignored_commands(table)
    names = tuple(name for name, *_ in ignored)
    previous, self._ignored = self._ignored, names
    if not names or names == previous:
      return None
    return f'step {step}: ' + style_metrics.ignored_command_message(ignored)


def plot_curves(records: Sequence[Mapping[str, float]], path: str,
                baseline: Sequence[Mapping[str, float]] = ()) -> None:
  """curves.png: task return, style distance, style reward, D accuracy."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top

  figure, axes = pyplot.subplots(1, 4, figsize=(20, 4))
  names = style_names(next((r for r in reversed(records)
                            if style_names(r)), {}))
  _plot(axes[0], records, RETURN_KEY, 'AMP' + (', all styles' if names
                                               else ''))
  for index, name in enumerate(names):
    _plot(axes[0], records, style_evaluator.STYLE_RETURN_PREFIX + name,
          f'commanded {name}', color=_style_colour(index))
  if baseline:
    _plot(axes[0], baseline, RETURN_KEY, 'PPO only', linestyle='--')
  axes[0].set_title('task return (eval)')
  if names:
    _plot_style_table(axes[1], records, names)
  else:
    _plot(axes[1], records, style_evaluator.PROGRESS_STYLE_DISTANCE_KEY,
          'AMP')
  if baseline:
    _plot(axes[1], baseline, style_evaluator.PROGRESS_STYLE_DISTANCE_KEY,
          'PPO only', linestyle='--')
  axes[1].set_ylim(bottom=0)
  axes[1].set_title('style distance to the reference (progress eval, '
                    'lower: closer)')
  _plot(axes[2], records, STYLE_KEY, 'style reward' + (', all styles'
                                                      if names else ''))
  for index, name in enumerate(names):
    _plot(axes[2], records, _style_reward_key(name), f'commanded {name}',
          color=_style_colour(index))
  axes[2].set_title('style reward (mean per step)')
  _plot(axes[3], records, ACCURACY_REFERENCE_KEY, 'on reference')
  _plot(axes[3], records, ACCURACY_POLICY_KEY, 'on policy')
  axes[3].axhline(0.5, color='grey', linewidth=0.5)
  axes[3].set_ylim(-0.02, 1.02)
  axes[3].set_title('discriminator accuracy')
  for axis in axes:
    axis.set_xlabel('environment steps')
    if axis.get_legend_handles_labels()[0]:
      axis.legend()
  figure.tight_layout()
  figure.savefig(path, dpi=100)
  pyplot.close(figure)


def _plot_style_table(axis, records, names):
  """One curve per commanded style to its own reference (solid) and, in
  the same colour, to the nearest other style's (dashed)."""
  for index, name in enumerate(names):
    own = style_evaluator.style_table_key(name, name)
    line = _plot(axis, records, own, f'{name}: own reference',
                 color=_style_colour(index))
    others = [style_evaluator.style_table_key(name, other)
              for other in names if other != name]
    nearest = [(r['step'], min(r[key] for key in others)) for r in records
               if all(isinstance(r.get(key), (int, float)) for key in others)]
    if nearest and line is not None:
      axis.plot(*zip(*nearest), linestyle='--', color=line.get_color(),
                label=f'{name}: nearest other reference')


def _style_colour(index: int) -> str:
  # The same colour for a style in every panel; C0 is the run's own.
  return f'C{index + 1}'


def _style_reward_key(name: str) -> str:
  return ('training/' + motion_prior.STYLE_METRICS_PREFIX + name + '/' +
          motion_prior.STYLE_REWARD_MEAN.split('/')[-1])


def _plot(axis, records, key, label, **style):
  points = [(r['step'], r[key]) for r in records
            if isinstance(r.get(key), (int, float))]
  if points:
    steps, values = zip(*points)
    return axis.plot(steps, values, marker='.', label=label, **style)[0]
  return None


def write_json(path: str, payload: Mapping[str, Any]) -> None:
  with open(path, 'w') as f:
    json.dump(_json_safe(dict(payload)), f, indent=2, sort_keys=True)
    f.write('\n')


def write_previews(robot, clips: Sequence[Any], workdir: str, *, title: str,
                   printer: Callable[[str], None]) -> Dict[str, Any]:
  """preview.png and preview.gif of the clips; report.json's fields for them.

  MuJoCo renders the robot where a GL backend works; elsewhere stick figures
  are drawn and the note saying why is printed once and reported.

  Args:
    robot: an amp_ppo.robots.robot_model.RobotModel.
    clips: amp_ppo.robots.preview.Clip, drawn in this order (reference,
      then policy).
    workdir: where the files go.
    title: the strip's title.
    printer: prints the note, once per process.
  """
  from amp_ppo.robots import preview  # pylint: disable=g-import-not-at-top
  strip = os.path.join(workdir, PREVIEW_STRIP)
  animation = os.path.join(workdir, PREVIEW_ANIMATION)
  drawn = preview.write_strip(robot, clips, strip, title=title,
                              printer=printer)
  preview.write_animation(robot, clips, animation, printer=printer)
  printer(f'previews ({drawn.renderer}): {PREVIEW_STRIP}, '
          f'{PREVIEW_ANIMATION}')
  return {'previews': [strip, animation],
          'preview_renderer': drawn.renderer,
          'preview_note': drawn.note or None}
