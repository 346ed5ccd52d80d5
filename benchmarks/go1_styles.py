r"""Go1 joystick trotting or pacing on command: one policy, two styles.

Converts motion_imitation's dog_trot and dog_pace onto the Go1 (as
`python -m amp_ppo.mocap convert` does; stops if a check fails), trains
Playground's Go1JoystickFlatTerrain with both as styles on command
(`amp_reference={'trot': ..., 'pace': ...}`: one discriminator per style,
the command's one-hot in what the policy sees), and prints the tracking
return, the final policy's style table (commanded style against reference
style, lower is closer; a policy that obeys has the smaller distance on the
diagonal), the references' own separation, env steps/s and wall time.

On one GPU, with MJX's JAX implementation (no Warp needed; README "On your
own GPU" says how to install CUDA JAX):

  python -m benchmarks.go1_styles --num_timesteps 100000000

The same chain at a tiny size on a CPU (minutes):

  python -m benchmarks.go1_styles --tiny
"""

import argparse
import json
import os
import sys
import tempfile

from benchmarks import bench_lib

_GO1 = 'Go1JoystickFlatTerrain'
STYLES = {'trot': 'dog_trot', 'pace': 'dog_pace'}
TRACKING_KEY = 'eval/episode_reward/tracking_lin_vel'


def convert_clips(folder: str) -> dict:
  """style -> the dog clip converted onto the Go1; exits if unchecked."""
  # pylint: disable=g-import-not-at-top
  from amp_ppo.mocap import checks
  from amp_ppo.mocap import convert
  from amp_ppo.mocap.formats import sample_data
  sources = sample_data.fetch(sample_data.MOTION_IMITATION,
                              list(STYLES.values()))
  paths = {}
  for style, clip in STYLES.items():
    paths[style] = os.path.join(folder, f'{clip}.npz')
    result = convert.convert(str(sources[clip]), _GO1, out=paths[style])
    if not result.report['passed']:
      print(checks.format_report(result.report))
      raise SystemExit(f'{clip} on {_GO1} failed its checks; not training.')
  return paths


def style_table(table: dict, rows: str = 'commanded') -> str:
  """Rows: `rows` style; columns: reference style."""
  names = list(table)
  lines = [f'| {rows} \\ reference | ' + ' | '.join(names) + ' |',
           '|---' * (len(names) + 1) + '|']
  for commanded in names:
    lines.append(f'| {commanded} | ' + ' | '.join(
        f'{table[commanded][reference]:.3f}' for reference in names) + ' |')
  return '\n'.join(lines)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      description=__doc__.split('\n\n')[0],
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  parser.add_argument('--seed', type=int, default=0)
  bench_lib.add_playground_run_arguments(parser)
  args = parser.parse_args(argv)
  # pylint: disable=g-import-not-at-top
  from amp_ppo import main as amp_main
  from amp_ppo.configs import common
  from amp_ppo.configs import playground
  from amp_ppo.run import evaluation
  from amp_ppo.run import outputs

  workdir = args.workdir or tempfile.mkdtemp(prefix='amp_go1_styles_')
  os.makedirs(workdir, exist_ok=True)
  config = playground.get_config('go1_smoke' if args.tiny else 'go1')
  common.with_styles(config, convert_clips(workdir))
  config.env.kwargs = {'impl': args.impl}
  config.ppo.seed = config.evaluation.seed = args.seed
  if args.num_timesteps:
    config.ppo.num_timesteps = args.num_timesteps
  run_dir = os.path.join(workdir, 'run')
  report = amp_main.run(config, run_dir, resume=False, overwrite=True,
                        baseline=False, render=False)
  last_eval = outputs.last_evaluation(outputs.read_metrics(run_dir))
  seconds = report['wall_time_seconds']
  print(f'\nGo1 trot and pace on command, seed {args.seed}, '
        f'{report["steps"]} env steps, impl {args.impl}:')
  print(f'tracking return ({TRACKING_KEY}): {last_eval[TRACKING_KEY]:.2f}')
  print(f'return: {last_eval[outputs.RETURN_KEY]:.2f}')
  print(f'wall time {seconds:.0f} s, {report["steps"] / seconds:.0f} env '
        'steps/s (compile included)\n')
  print('Style distance of the final policy (rows: commanded style):\n')
  print(style_table(report[evaluation.FINAL_STYLE_TABLE_KEY]))
  print('\nThe references against each other:\n')
  print(style_table(report[evaluation.REFERENCE_SEPARATION_KEY],
                    rows='reference'))
  for warning in report.get('discriminator_warnings', []):
    print(f'WARNING {warning}')
  with open(os.path.join(workdir, 'go1_styles.json'), 'w') as f:
    json.dump(report, f, indent=2, default=str)
  return 0


if __name__ == '__main__':
  sys.exit(main())
