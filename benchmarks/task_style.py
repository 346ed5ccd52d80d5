r"""Task and style together: the command-tracking ant, AMP against PPO alone.

For each seed, trains AMP (amp_ppo/configs/command_ant.py: the ant `cpu`
preset's sizes and default task/style weights, gradient penalty 5) and PPO
alone (`python -m amp_ppo.main --baseline`) on `command_ant`
(amp_ppo/envs/command_ant.py: Brax ant, spring backend, a forward speed
command per episode in 0.10..0.37 m/s, tracking reward in (0, 1] per step),
with the bundled trot at five speeds spanning that range
(motion/data/ant_trot_speeds.npz) as AMP's reference, for 5M env steps, and
prints per run and over seeds: the tracking return (the sum of the tracking
term over an episode in Brax's final evaluation, at most the episode
length; Brax's evaluation samples the stochastic policy unless
`ppo.deterministic_eval` is set, and benchmarks/command_response.py measures
the deterministic one per command), the style distance of the final policy (amp_ppo/amp/style_metrics.py)
and the discriminator's health (final accuracies, saturation warnings).

Targets (issue #13): AMP's tracking return >= 90 % of PPO's and its style
distance <= 1/3 of PPO's, on every seed, with no saturation warning.

  python -m benchmarks.task_style                       # seeds 0,1,2, 5M steps
  python -m benchmarks.task_style --seeds 0 --num_timesteps 1000000

`--system go1` runs the same comparison on MuJoCo Playground's
Go1JoystickFlatTerrain (amp_ppo/configs/playground.py: Playground's
published PPO settings, networks and domain randomiser) with `--reference`
as AMP's reference, e.g. dog_trot converted to Go1 (README, "Real motion");
the tracking return is the episode sum of Playground's tracking_lin_vel
term (exp of the velocity-command error, in (0, 1] per step). Sized for one
GPU; README "On your own GPU" says how to install it there. On a CPU,
`--system go1_smoke` runs it at a tiny size:

  python -m amp_ppo.mocap convert \
      ~/.cache/amp_ppo/clips/motion-imitation-0.0.6/dog_trot.txt \
      --env Go1JoystickFlatTerrain --out trot.npz
  python -m benchmarks.task_style --system go1 --reference trot.npz \
      --seeds 0 --num_timesteps 50000000

`--system t1` does the same on Playground's T1JoystickFlatTerrain with a
human take converted onto the T1 (benchmarks/humanoid_walk.py runs the
whole chain). `--impl jax` runs Playground on MJX's JAX implementation
instead of its default (Warp).
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

# system: (config module under amp_ppo.configs, preset, tracking metric)
SYSTEMS = {
    'command_ant': ('command_ant', 'cpu', 'eval/episode_reward_tracking'),
    'go1': ('playground', 'go1', 'eval/episode_reward/tracking_lin_vel'),
    'go1_smoke': ('playground', 'go1_smoke',
                  'eval/episode_reward/tracking_lin_vel'),
    't1': ('playground', 't1', 'eval/episode_reward/tracking_lin_vel'),
    't1_smoke': ('playground', 't1_smoke',
                 'eval/episode_reward/tracking_lin_vel'),
}
TRACKING_TARGET = 0.9   # AMP's tracking return / PPO's, at least
STYLE_TARGET = 1 / 3    # AMP's style distance / PPO's, at most


def load_config(seed: int, num_timesteps=None, system: str = 'command_ant',
                reference=None, impl=None):
  """The system's config; `reference` replaces its AMP reference.

  `impl` ('jax' or 'warp') picks a Playground system's MJX implementation.
  """
  import importlib  # pylint: disable=g-import-not-at-top
  if system not in SYSTEMS:
    raise ValueError(f'unknown system {system!r}; choose from '
                     f'{sorted(SYSTEMS)}')
  module_name, preset, _ = SYSTEMS[system]
  config = importlib.import_module(
      f'amp_ppo.configs.{module_name}').get_config(preset)
  if module_name == 'playground' and not reference:
    raise ValueError(f'--system {system} needs --reference: a motion file '
                     f'for {config.env.name}, e.g. one converted by '
                     '`python -m amp_ppo.mocap convert ... --env '
                     f'{config.env.name}` (README, "Real motion").')
  if impl:
    if module_name != 'playground':
      raise ValueError(f'--impl {impl}: only the Playground systems have an '
                       'MJX implementation to choose.')
    config.env.kwargs = {'impl': impl}
  if reference:
    if not os.path.isfile(reference):
      raise ValueError(f'--reference {reference}: no such file.')
    config.reference = os.path.abspath(reference)
  config.ppo.seed = seed
  config.evaluation.seed = seed
  if num_timesteps:
    config.ppo.num_timesteps = num_timesteps
  return config


def _spread(values, digits):
  f = lambda x: f'{x:.{digits}f}'
  std = statistics.stdev(values) if len(values) > 1 else 0.0
  return (f'{f(statistics.mean(values))} +- {f(std)} '
          f'[{f(min(values))}, {f(max(values))}]')


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      description=__doc__.split('\n\n')[0],
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  parser.add_argument('--system', default='command_ant',
                      choices=sorted(SYSTEMS))
  parser.add_argument('--reference', default=None,
                      help='AMP reference motion file (needed for go1)')
  parser.add_argument('--seeds', default='0,1,2')
  parser.add_argument('--num_timesteps', type=int, default=None,
                      help="default: the system's config")
  parser.add_argument('--workdir', default=None)
  parser.add_argument('--impl', choices=('jax', 'warp'), default=None,
                      help="Playground's MJX implementation (default: the "
                      "environment's)")
  args = parser.parse_args(argv)
  seeds = [int(s) for s in args.seeds.split(',')]
  tracking_key = SYSTEMS[args.system][2]
  # Bad settings stop here, before anything compiles.
  configs = {seed: load_config(seed, args.num_timesteps, args.system,
                               args.reference, args.impl) for seed in seeds}
  from benchmarks import bench_lib  # pylint: disable=g-import-not-at-top
  from amp_ppo import main as amp_main  # pylint: disable=g-import-not-at-top
  from amp_ppo.amp import style_evaluator  # pylint: disable=g-import-not-at-top
  from amp_ppo.run import outputs  # pylint: disable=g-import-not-at-top

  machine = bench_lib.prepare_experiments()
  root = args.workdir or tempfile.mkdtemp(prefix='amp_task_style_')
  runs, started = [], time.time()
  for seed in seeds:
    workdir = os.path.join(root, f'seed{seed}')
    print(f'== {args.system}, seed {seed} -> {workdir}', flush=True)
    report = amp_main.run(configs[seed], workdir, resume=False, overwrite=True,
                          baseline=True, render=False)
    amp_eval = outputs.last_evaluation(outputs.read_metrics(workdir))
    ppo_eval = outputs.last_evaluation(outputs.read_metrics(
        os.path.join(workdir, amp_main.BASELINE_DIR)))
    warnings = report.get('discriminator_warnings', [])
    runs.append(dict(
        seed=seed, steps=report['steps'],
        amp_tracking=amp_eval[tracking_key],
        ppo_tracking=ppo_eval[tracking_key],
        amp_style=report['style_distance'],
        ppo_style=report['baseline']['style_distance'],
        amp_live_style=amp_eval.get(
            style_evaluator.PROGRESS_STYLE_DISTANCE_KEY),
        accuracy_reference=amp_eval.get(outputs.ACCURACY_REFERENCE_KEY),
        accuracy_policy=amp_eval.get(outputs.ACCURACY_POLICY_KEY),
        saturation_warnings=sum('saturated' in w for w in warnings),
        warnings=warnings,
        amp_seconds=report['wall_time_seconds'],
        ppo_seconds=report['baseline']['wall_time_seconds']))
    with open(os.path.join(root, 'runs.json'), 'w') as f:
      json.dump(runs, f, indent=2)

  bench_lib.print_machine_and_wall_time(machine, started, root)
  print(f'{args.system}, per seed (tracking: return of the tracking term, Brax eval; style: '
        'distance of the final policy to the reference, lower is closer):')
  print()
  rows = []
  for r in runs:
    tracking_ratio = r['amp_tracking'] / max(r['ppo_tracking'], 1e-9)
    style_ratio = r['amp_style'] / max(r['ppo_style'], 1e-9)
    r['passes'] = (tracking_ratio >= TRACKING_TARGET and
                   style_ratio <= STYLE_TARGET and
                   not r['saturation_warnings'])
    rows.append([r['seed'], r['steps'], f'{r["amp_tracking"]:.1f}',
                 f'{r["ppo_tracking"]:.1f}', f'{tracking_ratio:.2f}',
                 f'{r["amp_style"]:.3f}', f'{r["ppo_style"]:.3f}',
                 f'{style_ratio:.2f}',
                 f'{r["accuracy_reference"]:.2f} / {r["accuracy_policy"]:.2f}',
                 r['saturation_warnings'], 'yes' if r['passes'] else 'no',
                 f'{r["amp_seconds"]:.0f} / {r["ppo_seconds"]:.0f}',
                 f'{r["steps"] / r["amp_seconds"]:.0f} / '
                 f'{r["steps"] / r["ppo_seconds"]:.0f}'])
  print(bench_lib.markdown_table(
      ['seed', 'env steps', 'AMP tracking', 'PPO tracking', 'ratio',
       'AMP style', 'PPO style', 'ratio', 'D acc ref / pol',
       'saturation warnings', 'meets targets', 'AMP / PPO s',
       'AMP / PPO steps/s'], rows))
  print()
  print('Over seeds: mean +- standard deviation [min, max]:')
  print()
  print(bench_lib.markdown_table(
      ['seeds', 'AMP tracking', 'PPO tracking', 'AMP style', 'PPO style',
       'seeds meeting all targets'],
      [[len(runs), _spread([r['amp_tracking'] for r in runs], 1),
        _spread([r['ppo_tracking'] for r in runs], 1),
        _spread([r['amp_style'] for r in runs], 3),
        _spread([r['ppo_style'] for r in runs], 3),
        f'{sum(r["passes"] for r in runs)}/{len(runs)}']]))
  for r in runs:
    for warning in r['warnings']:
      print(f'seed {r["seed"]}: WARNING {warning}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
