r"""One setting at a time: AMP's style, task and discriminator health per setting.

For each `--setting` (`preset` for the system's config as it is, or
comma-separated `section.field=value` overrides of its ml_collections
config) and each seed, trains the AMP run alone and prints, over seeds, the
style distance of the final policy to the reference (lower is closer), the
task return, the command ant's tracking return, the discriminator's final
accuracies, the style reward per step at the end, and how many seeds raised
a saturation warning. The README's tuning guide is written from its tables.

  python -m benchmarks.sweep --system demo --seeds 0,1,2 \
      --setting preset --setting amp.replay_size=4096 \
      --setting amp.disc_num_minibatches=4,amp.disc_learning_rate=3e-4

Systems: 'demo' (amp_ppo/configs/default.py), 'ant' (configs/ant.py:cpu),
'command_ant' (benchmarks/task_style.py's command-tracking ant). Values are
read as benchmarks/bench_lib.py's parse_setting reads them ('64x64' is a
tuple), else as strings (amp.loss=bce). PPO alone is not rerun here: its
figures are in style.py's and task_style.py's tables.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any, Dict, List, Tuple

PRESET = 'preset'


def load_system(system: str, seed: int, num_timesteps=None):
  """The system's config with `seed` as PPO's and the evaluation's seed."""
  from benchmarks import style  # pylint: disable=g-import-not-at-top
  from benchmarks import task_style  # pylint: disable=g-import-not-at-top
  if system == 'command_ant':
    return task_style.load_config(seed, num_timesteps)
  if system not in style.SYSTEMS:
    raise ValueError(f'unknown system {system!r}; choose from '
                     f"{sorted(style.SYSTEMS) + ['command_ant']}")
  return style.load_config(system, seed, num_timesteps)


def parse_overrides(setting: str) -> List[Tuple[str, Any]]:
  """'amp.replay_size=4096,amp.loss=bce' -> [(path, value), ...]."""
  from benchmarks import bench_lib  # pylint: disable=g-import-not-at-top
  if setting == PRESET:
    return []
  overrides = []
  for item in setting.split(','):
    path, sep, text = item.partition('=')
    if not sep or '.' not in path:
      raise ValueError(f'setting {setting!r}: {item!r} is not '
                       'section.field=value (or give "preset").')
    try:
      value = bench_lib.parse_setting(text)
    except ValueError:
      value = text
    overrides.append((path, value))
  return overrides


def apply_overrides(config, overrides: List[Tuple[str, Any]]):
  """Sets each override on `config`; unknown fields and wrong types raise."""
  for path, value in overrides:
    *sections, field = path.split('.')
    node = config
    for name in sections:
      node = getattr(node, name)
    if field not in node:
      raise ValueError(f'{path}: the config has no field {field!r} there; '
                       f'its fields: {sorted(node.keys())}')
    try:
      node[field] = value  # ConfigDict refuses a value of another type.
    except TypeError as e:
      raise ValueError(f'{path}={value!r}: {e}') from e
  return config


def _last(records: List[Dict[str, Any]], key: str):
  return next((r[key] for r in reversed(records) if key in r), None)


def summarise(workdir: str, report: Dict[str, Any]) -> Dict[str, Any]:
  """One run's figures from its report and metrics.jsonl."""
  from amp_ppo.run import outputs  # pylint: disable=g-import-not-at-top
  from benchmarks import task_style  # pylint: disable=g-import-not-at-top
  records = outputs.read_metrics(workdir)
  warnings = report.get('discriminator_warnings', [])
  return dict(
      style=report['style_distance'], task_return=report['final_return'],
      tracking=_last(records, task_style.SYSTEMS['command_ant'][2]),
      accuracy_reference=_last(records, outputs.ACCURACY_REFERENCE_KEY),
      accuracy_policy=_last(records, outputs.ACCURACY_POLICY_KEY),
      style_reward=_last(records, outputs.STYLE_KEY),
      saturated='saturated' in ' '.join(warnings),
      seconds=report['wall_time_seconds'], steps=report['steps'])


def _spread(values, digits: int) -> str:
  values = [v for v in values if v is not None]
  if not values:
    return '-'
  f = lambda x: f'{x:.{digits}f}'
  if len(values) == 1:
    return f(values[0])
  return f'{f(statistics.mean(values))} +- {f(statistics.stdev(values))}'


def table_rows(settings: List[str], runs: List[Dict[str, Any]]):
  rows = []
  for setting in settings:
    mine = [r for r in runs if r['setting'] == setting]
    if not mine:
      continue
    rows.append([
        setting, len(mine), mine[0]['steps'],
        _spread([r['style'] for r in mine], 3),
        ' '.join(f'{r["style"]:.3f}' for r in mine),
        _spread([r['task_return'] for r in mine], 1),
        _spread([r['tracking'] for r in mine], 1),
        _spread([r['accuracy_reference'] for r in mine], 2) + ' / ' +
        _spread([r['accuracy_policy'] for r in mine], 2),
        _spread([r['style_reward'] for r in mine], 2),
        sum(r['saturated'] for r in mine),
        f'{statistics.mean(r["seconds"] for r in mine):.0f}'])
  return rows


HEADER = ['setting', 'seeds', 'env steps', 'style distance', 'per seed',
          'task return', 'tracking return', 'D acc ref / pol',
          'style reward / step', 'seeds saturated', 'mean s']


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      description=__doc__.split('\n\n')[0],
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  parser.add_argument('--system', default='demo')
  parser.add_argument('--seeds', default='0,1,2')
  parser.add_argument('--setting', action='append', default=None,
                      help=f'repeatable; default: {PRESET} only')
  parser.add_argument('--num_timesteps', type=int, default=None)
  parser.add_argument('--workdir', default=None)
  args = parser.parse_args(argv)
  settings = args.setting or [PRESET]
  seeds = [int(s) for s in args.seeds.split(',')]
  # Every setting is checked against the config before anything trains.
  configs = {}
  for setting in settings:
    for seed in seeds:
      configs[setting, seed] = apply_overrides(
          load_system(args.system, seed, args.num_timesteps),
          parse_overrides(setting))
  from benchmarks import bench_lib  # pylint: disable=g-import-not-at-top
  from amp_ppo import main as amp_main  # pylint: disable=g-import-not-at-top

  machine = bench_lib.prepare_experiments()
  root = args.workdir or tempfile.mkdtemp(prefix='amp_sweep_')
  runs, started = [], time.time()
  for index, setting in enumerate(settings):
    for seed in seeds:
      workdir = os.path.join(root, f'setting{index}', f'seed{seed}')
      print(f'== {args.system}, {setting}, seed {seed} -> {workdir}',
            flush=True)
      report = amp_main.run(configs[setting, seed], workdir, resume=False,
                            overwrite=True, baseline=False, render=False)
      runs.append(dict(setting=setting, seed=seed,
                       **summarise(workdir, report)))
      with open(os.path.join(root, 'runs.json'), 'w') as f:
        json.dump(runs, f, indent=2)

  bench_lib.print_machine_and_wall_time(machine, started, root)
  print(f'{args.system}, AMP alone, mean +- standard deviation over seeds '
        f'{args.seeds} (style distance: lower is closer; accuracies, style '
        'reward: at the last report):')
  print()
  print(bench_lib.markdown_table(HEADER, table_rows(settings, runs)))
  return 0


if __name__ == '__main__':
  sys.exit(main())
