r"""A humanoid joystick task styled by a real human walk: AMP against PPO.

Fetches a real take (docs/MOTION_DATA.md; default `walk`, six seconds of
walking), converts those seconds onto the robot with amp_ppo's retargeting
and checks (as `python -m amp_ppo.mocap convert` does), stops if a check
fails, then trains the robot's Playground joystick task with AMP and with
PPO alone (benchmarks/task_style.py) and prints, per seed, the tracking
return, the style distance to the walk, env steps/s and wall time.

On one GPU, with MJX's JAX implementation (no Warp needed; README "On your
own GPU" says how to install CUDA JAX):

  python -m benchmarks.humanoid_walk --num_timesteps 50000000

The same chain at a tiny size on a CPU (minutes):

  python -m benchmarks.humanoid_walk --tiny
"""

import argparse
import os
import sys
import tempfile

from benchmarks import bench_lib
from benchmarks import task_style

# robot: (Playground environment, task_style's full and tiny systems)
ROBOTS = {'t1': ('T1JoystickFlatTerrain', 't1', 't1_smoke')}


def convert_take(take_name: str, env_name: str, folder: str) -> str:
  """The take's seconds converted onto the env's robot; exits if unchecked."""
  # pylint: disable=g-import-not-at-top
  from amp_ppo.mocap import checks
  from amp_ppo.mocap import convert
  from amp_ppo.mocap.formats import sample_data
  take = sample_data.TAKES[take_name]
  path = sample_data.fetch_takes([take_name])[take_name]
  start, end = take.seconds or (None, None)
  out = os.path.join(folder, f'{take_name}_{env_name}.npz')
  result = convert.convert(str(path), env_name, out=out,
                           options=convert.ConvertOptions(start=start,
                                                          end=end))
  print(checks.format_report(result.report), flush=True)
  if not result.report['passed']:
    raise SystemExit(f'{take_name} on {env_name} failed its checks '
                     f'(report: {result.report_path}); not training on it.')
  return out


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      description=__doc__.split('\n\n')[0],
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  parser.add_argument('--robot', default='t1', choices=sorted(ROBOTS))
  parser.add_argument('--take', default='walk',
                      help='a take of amp_ppo.mocap.formats.sample_data.TAKES')
  parser.add_argument('--seeds', default='0')
  bench_lib.add_playground_run_arguments(parser)
  args = parser.parse_args(argv)
  env_name, full, tiny = ROBOTS[args.robot]
  workdir = args.workdir or tempfile.mkdtemp(prefix='amp_humanoid_walk_')
  os.makedirs(workdir, exist_ok=True)
  reference = convert_take(args.take, env_name, workdir)
  task_args = ['--system', tiny if args.tiny else full, '--reference',
               reference, '--seeds', args.seeds, '--impl', args.impl,
               '--workdir', os.path.join(workdir, 'runs')]
  if args.num_timesteps:
    task_args += ['--num_timesteps', str(args.num_timesteps)]
  return task_style.main(task_args)


if __name__ == '__main__':
  sys.exit(main())
