r"""Style and task return of AMP against PPO alone, over seeds.

For each system, trains the AMP run and a PPO-only run of the same config
(`python -m amp_ppo.main --baseline`) once per seed, and prints the final
task return and the style distance to the reference (sliced Wasserstein
distance between feature windows, amp_ppo/amp/style_metrics.py) of each run,
then their mean, standard deviation (over seeds) and range.

  python -m benchmarks.style                      # demo and ant, seeds 0-2
  python -m benchmarks.style --systems demo --seeds 0,1,2,3,4

Systems: 'demo' is the default demo (amp_ppo/configs/default.py, cart-pole
sway); 'ant' is amp_ppo/configs/ant.py:cpu (Brax ant, spring backend, 3M
steps, the bundled scripted trot as reference). The seed sets PPO's seed and
the evaluation's. Runs go to --workdir (a temporary directory by default).
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

SYSTEMS = {
    # name: (config module under amp_ppo.configs, preset)
    'demo': ('default', ''),
    'ant': ('ant', 'cpu'),
}


def parse_args(argv=None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      description=__doc__.split('\n\n')[0],
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  parser.add_argument('--systems', default='demo,ant',
                      help=f'comma-separated, of {sorted(SYSTEMS)}')
  parser.add_argument('--seeds', default='0,1,2')
  parser.add_argument('--num_timesteps', type=int, default=None,
                      help="override every system's training length")
  parser.add_argument('--workdir', default=None,
                      help='keep the runs here (default: a temporary dir)')
  args = parser.parse_args(argv)
  args.systems = args.systems.split(',')
  unknown = set(args.systems) - set(SYSTEMS)
  if unknown:
    parser.error(f'unknown systems {sorted(unknown)}; choose from '
                 f'{sorted(SYSTEMS)}')
  args.seeds = [int(s) for s in args.seeds.split(',')]
  if len(args.seeds) < 2:
    parser.error('give at least 2 seeds: the point is the spread')
  return args


def load_config(system: str, seed: int, num_timesteps=None):
  import importlib  # pylint: disable=g-import-not-at-top
  module_name, preset = SYSTEMS[system]
  module = importlib.import_module(f'amp_ppo.configs.{module_name}')
  config = module.get_config(preset)
  config.ppo.seed = seed
  config.evaluation.seed = seed
  if num_timesteps:
    config.ppo.num_timesteps = num_timesteps
  return config


def spread(values, digits: int):
  """mean +- standard deviation over seeds, and the range."""
  f = lambda x: f'{x:.{digits}f}'
  return (f'{f(statistics.mean(values))} +- {f(statistics.stdev(values))} '
          f'[{f(min(values))}, {f(max(values))}]')


def main(argv=None) -> int:
  args = parse_args(argv)
  from benchmarks import bench_lib  # pylint: disable=g-import-not-at-top
  from amp_ppo import main as amp_main  # pylint: disable=g-import-not-at-top

  machine = bench_lib.prepare_experiments()
  root = args.workdir or tempfile.mkdtemp(prefix='amp_style_')
  runs = []
  started = time.time()
  for system in args.systems:
    for seed in args.seeds:
      config = load_config(system, seed, args.num_timesteps)
      workdir = os.path.join(root, system, f'seed{seed}')
      print(f'== {system}, seed {seed} -> {workdir}', flush=True)
      report = amp_main.run(config, workdir, resume=False, overwrite=True,
                            baseline=True, render=False)
      runs.append(dict(system=system, seed=seed,
                       steps=report['steps'],
                       amp_return=report['final_return'],
                       ppo_return=report['baseline']['final_return'],
                       amp_style=report['style_distance'],
                       ppo_style=report['baseline']['style_distance'],
                       amp_seconds=report['wall_time_seconds'],
                       ppo_seconds=report['baseline']['wall_time_seconds']))
      with open(os.path.join(root, 'runs.json'), 'w') as f:
        json.dump(runs, f, indent=2)

  bench_lib.print_machine_and_wall_time(machine, started, root)
  print('Per run (return: mean undiscounted task return of the final '
        'deterministic policy; style: distance to the reference, lower is '
        'closer):')
  print()
  print(bench_lib.markdown_table(
      ['system', 'seed', 'env steps', 'AMP return', 'PPO return',
       'AMP style', 'PPO style', 'AMP s', 'PPO s'],
      [[r['system'], r['seed'], r['steps'], f'{r["amp_return"]:.1f}',
        f'{r["ppo_return"]:.1f}', f'{r["amp_style"]:.3f}',
        f'{r["ppo_style"]:.3f}', f'{r["amp_seconds"]:.0f}',
        f'{r["ppo_seconds"]:.0f}'] for r in runs]))
  print()
  rows = []
  for system in args.systems:
    mine = [r for r in runs if r['system'] == system]
    style_wins = sum(r['amp_style'] < r['ppo_style'] for r in mine)
    rows.append([
        system, len(mine),
        spread([r['amp_return'] for r in mine], 1),
        spread([r['ppo_return'] for r in mine], 1),
        spread([r['amp_style'] for r in mine], 3),
        spread([r['ppo_style'] for r in mine], 3),
        f'{style_wins}/{len(mine)}'])
  print('Over seeds: mean +- standard deviation [min, max]:')
  print()
  print(bench_lib.markdown_table(
      ['system', 'seeds', 'AMP return', 'PPO return', 'AMP style distance',
       'PPO style distance', 'seeds where AMP is closer'], rows))
  return 0


if __name__ == '__main__':
  sys.exit(main())
