r"""Runs an AMP experiment from a config; with no flags, the default demo.

  python -m amp_ppo.main                       # cart-pole sway demo
  python -m amp_ppo.main --new_workdir         # the same, in a fresh folder
  python -m amp_ppo.main --config=ant:cpu \
      --config.reference=my_motion.npz --workdir=runs/ant
  python -m amp_ppo.main --config=my_config.py:preset
  python -m amp_ppo.main --config.amp.style_weight=0.7 --resume

--config takes a bundled config by name (default, ant, command_ant,
humanoid, multi_style, playground; a preset after ':') or a config file's
path. A config whose `reference` maps style names to references trains one
policy of several styles (multi_style: two sways of the cart-pole).

Writes into --workdir: metrics.jsonl, TensorBoard events (tensorboard/),
curves.png, rollout.html (the final policy, Brax's HTML viewer; it loads
its JavaScript from CDNs, so it is blank offline), for Playground robots
preview.png and preview.gif (the final policy beside its reference, rendered
by MuJoCo where EGL or OSMesa works, else stick figures),
checkpoints/<step>/ (Brax's checkpoint plus amp_state/ and resume_state/),
config.json and report.json (final return and style distance to the
reference). With --baseline (the default demo turns it on) a PPO-only run of
the same config goes to <workdir>/baseline and both style distances are
printed.
"""

import logging as std_logging
import os
import sys
import time
from typing import List
import warnings

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from amp_ppo.robots import gl_backend
# Before anything imports mujoco, which reads MUJOCO_GL then: the previews
# render with MuJoCo where EGL or OSMesa works.
gl_backend.choose()
# pylint: disable=g-import-not-at-top,wrong-import-position
from amp_ppo.run import evaluation
from amp_ppo.run import experiment
from amp_ppo.run import outputs

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
CONFIGS_DIR = os.path.join(_PACKAGE_DIR, 'configs')
_DEFAULT_CONFIG = os.path.join(CONFIGS_DIR, 'default.py')
BASELINE_DIR = 'baseline'
# The final policy's style distance in report.json.
_STYLE_DISTANCE = evaluation.FINAL_STYLE_DISTANCE_KEY


def bundled_config_names() -> List[str]:
  """Names of the config modules in amp_ppo/configs (those with get_config)."""
  names = []
  for file_name in sorted(os.listdir(CONFIGS_DIR)):
    stem, extension = os.path.splitext(file_name)
    if extension != '.py' or stem.startswith('_'):
      continue
    with open(os.path.join(CONFIGS_DIR, file_name)) as f:
      if '\ndef get_config(' in f.read():
        names.append(stem)
  return names


def resolve_config(value: str) -> str:
  """Turns a bundled config's name[:preset] into its file's path[:preset].

  A plain pip install leaves the configs inside site-packages, so they are
  reachable by name: anything without '/' and not ending in '.py' before the
  preset is a name. Paths are returned unchanged.

  Args:
    value: the --config flag's value, e.g. 'ant:cpu' or 'my/config.py:gpu'.

  Raises:
    ValueError: an unknown name, with the bundled ones listed.
  """
  name, colon, preset = value.partition(':')
  if '/' in name or os.sep in name or name.endswith('.py'):
    return value
  names = bundled_config_names()
  if name not in names:
    raise ValueError(
        f'unknown config {name!r}: bundled configs are {", ".join(names)} '
        '(name[:preset]); otherwise give a config file\'s path '
        '(path.py[:preset]).')
  return os.path.join(CONFIGS_DIR, name + '.py') + colon + preset


class _NamedConfigParser(flags.ArgumentParser):
  """Resolves a bundled config's name, then parses as ml_collections does."""

  def __init__(self, file_parser: flags.ArgumentParser):
    self._file_parser = file_parser

  def parse(self, argument):
    return self._file_parser.parse(resolve_config(argument))

  def flag_type(self):
    return self._file_parser.flag_type()


def define_config_flag(flag_values: flags.FlagValues = flags.FLAGS):
  """Defines --config (and its --config.x=y overrides) in flag_values."""
  holder = config_flags.DEFINE_config_file(
      'config', _DEFAULT_CONFIG,
      'Experiment config: a bundled config\'s name[:preset] (' +
      ', '.join(bundled_config_names()) + ') or a config file\'s '
      'path.py[:preset].', flag_values=flag_values)
  # DEFINE_config_file takes no parser: wrap the one it made, so that only
  # the value's parsing changes and the --config.x=y overrides stay its own.
  flag = flag_values['config']
  flag.parser = _NamedConfigParser(flag.parser)
  return holder


_CONFIG = define_config_flag()
_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Output directory; default amp_runs/<config name>.')
_NEW_WORKDIR = flags.DEFINE_bool(
    'new_workdir', False, 'Write into the first of <workdir>, <workdir>-2, '
    '<workdir>-3, ... that does not exist yet, so that repeating a command '
    'starts a new run instead of being refused (make demo uses it).')
_RESUME = flags.DEFINE_bool(
    'resume', False, 'Continue from the workdir\'s latest checkpoint up to '
    'config.ppo.num_timesteps.')
_OVERWRITE = flags.DEFINE_bool(
    'overwrite', False, 'Delete an existing run in the workdir first.')
_BASELINE = flags.DEFINE_bool(
    'baseline', None, 'Also train PPO alone with the same config and compare '
    'style distances; default: config.compare_to_ppo.')
_RENDER = flags.DEFINE_bool(
    'render', True, 'Write rollout.html (Brax\'s viewer; it loads its '
    'JavaScript from CDNs, so it is blank offline).')
DEFAULT_JAX_CACHE_DIR = (
    os.environ.get('JAX_COMPILATION_CACHE_DIR') or
    os.path.join(os.path.expanduser('~'), '.cache', 'amp_ppo', 'jax'))
_JAX_CACHE_DIR = flags.DEFINE_string(
    'jax_cache_dir', DEFAULT_JAX_CACHE_DIR,
    'Persistent XLA compilation cache, so a repeated run (and a baseline '
    'sharing programs with its AMP run) skips compiling; "" turns it off.')


def enable_compilation_cache(directory: str) -> None:
  if directory:
    jax.config.update('jax_compilation_cache_dir', directory)
    # Small programs too: on a CPU even those take seconds to compile.
    jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.5)


def new_workdir(base: str) -> str:
  """The first of base, base-2, base-3, ... that does not exist yet."""
  base = os.path.normpath(base)
  candidate, number = base, 1
  while os.path.exists(candidate):
    number += 1
    candidate = f'{base}-{number}'
  return candidate


def default_workdir(config_flag_value: str) -> str:
  """amp_runs/<config file stem>[-<preset>]."""
  path, _, preset = config_flag_value.partition(':')
  name = os.path.splitext(os.path.basename(path))[0]
  return os.path.join('amp_runs', f'{name}-{preset}' if preset else name)


def summary(report: dict) -> str:
  """The closing lines: where things are, return and style distance."""
  baseline = report.get('baseline')
  lines = [
      f'== {report["env"]}: {outputs.format_steps(report["steps"])} '
      f'steps in {outputs.format_duration(report["wall_time_seconds"])}',
      _pair('final return', report['final_return'],
            baseline and baseline['final_return'], '{:.1f}'),
      _pair('style distance to reference (lower = closer)',
            report[_STYLE_DISTANCE],
            baseline and baseline[_STYLE_DISTANCE], '{:.3f}'),
  ]
  for name, row in report.get(evaluation.FINAL_STYLE_TABLE_KEY, {}).items():
    others = ', '.join(f'{other} {d:.3f}' for other, d in row.items()
                       if other != name)
    lines.append(f'  commanded {name}: to its own reference {row[name]:.3f}'
                 f', to the others\' {others}')
  if 'total_wall_time_seconds' in report:
    lines.append('total wall time: ' + outputs.format_duration(
        report['total_wall_time_seconds']))
  if report.get('discriminator_warnings'):
    lines.append(f'discriminator warnings: '
                 f'{len(report["discriminator_warnings"])} (see report.json)')
  return '\n'.join(lines)


def _pair(label, amp_value, baseline_value, number_format):
  text = f'{label}: AMP {number_format.format(amp_value)}'
  if baseline_value is not None:
    text += f' | PPO only {number_format.format(baseline_value)}'
  return text


def run(config, workdir: str, *, resume: bool, overwrite: bool,
        baseline: bool, render: bool) -> dict:
  """The AMP run, then the optional baseline; returns the final report."""
  started = time.time()
  # Orbax refuses relative checkpoint paths, and the default is relative.
  workdir = os.path.abspath(workdir)
  experiment.check_styles(config, baseline)
  experiment.prepare_workdir(workdir, resume, overwrite)
  print(f'AMP run -> {workdir}')
  amp_run = experiment.run_experiment(config, workdir, use_amp=True,
                                      resume=resume, render=render)
  report = amp_run.report
  if baseline:
    baseline_dir = os.path.join(workdir, BASELINE_DIR)
    print(f'PPO-only baseline -> {baseline_dir}')
    baseline_run = experiment.run_experiment(
        config, baseline_dir, use_amp=False, resume=resume, render=render)
    # Redraw with the baseline's return and style distance beside AMP's.
    outputs.plot_curves(amp_run.records,
                        os.path.join(workdir, outputs.CURVES_FILE),
                        baseline=baseline_run.records)
    report['baseline'] = {
        key: baseline_run.report[key]
        for key in ('final_return', 'final_episode_length', _STYLE_DISTANCE,
                    'steps', 'wall_time_seconds', 'brax_eval_episode_reward')
    }
    report['baseline']['workdir'] = baseline_dir
  report['total_wall_time_seconds'] = round(time.time() - started, 1)
  outputs.write_json(os.path.join(workdir, outputs.REPORT_FILE), report)
  return report


class _AmpPpoInfoOnly(std_logging.Filter):
  """Passes warnings and errors, and amp_ppo's own info lines.

  Under absl's default verbosity every library logs at INFO: Brax's trainer
  prints its whole metrics dict each evaluation and orbax a dozen lines per
  checkpoint, which would bury the progress lines.
  """

  def filter(self, record: std_logging.LogRecord) -> bool:
    directory = os.path.dirname(os.path.abspath(record.pathname))
    return (record.levelno >= std_logging.WARNING or
            directory == _PACKAGE_DIR or
            directory.startswith(_PACKAGE_DIR + os.sep))


def quiet_library_logs() -> None:
  """Applies _AmpPpoInfoOnly unless --verbosity was given explicitly."""
  if not flags.FLAGS['verbosity'].present:
    logging.get_absl_handler().addFilter(_AmpPpoInfoOnly())
  # Brax warns on every system load that its pipelines are unmaintained.
  warnings.filterwarnings('ignore', message='Brax System, piplines')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  quiet_library_logs()
  enable_compilation_cache(_JAX_CACHE_DIR.value)
  config = _CONFIG.value
  workdir = _WORKDIR.value or default_workdir(
      flags.FLAGS['config'].config_filename
      if hasattr(flags.FLAGS['config'], 'config_filename')
      else _DEFAULT_CONFIG)
  if _NEW_WORKDIR.value:
    if _RESUME.value or _OVERWRITE.value:
      raise app.UsageError('--new_workdir starts a new run: it takes no '
                           '--resume or --overwrite.')
    workdir = new_workdir(workdir)
  baseline = (config.get('compare_to_ppo', False)
              if _BASELINE.value is None else _BASELINE.value)
  try:
    report = run(config, workdir, resume=_RESUME.value,
                 overwrite=_OVERWRITE.value, baseline=baseline,
                 render=_RENDER.value)
  except (experiment.UnavailableEnvironmentError, FileExistsError) as e:
    logging.error('%s', e)
    print(f'amp_ppo.main: {e}', file=sys.stderr)
    return 2
  print(summary(report))
  written = ['report.json', 'metrics.jsonl', 'curves.png']
  if report.get('rollout_html'):
    written.append(f'{experiment.ROLLOUT_HTML} ({outputs.ROLLOUT_HTML_NOTE})')
  written += [os.path.basename(p) for p in report.get('previews', [])]
  print(f'outputs in {workdir}: {", ".join(written)}, tensorboard/, '
        'checkpoints/')
  return 0


if __name__ == '__main__':
  app.run(main)
