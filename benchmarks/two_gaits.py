r"""Two gaits on command: one command-tracking ant that trots or bounds.

For each seed, trains AMP with two styles (amp_ppo/configs/command_ant.py,
preset `two_gaits`: the bundled trot and bound, each at the speeds the
commands span; the policy observes the speed command and a one-hot style
command; task weight 0.7, style weight 0.3) and PPO alone on the same task
(preset `cpu`, without AMP), for the preset's 7.5M env steps each, and
prints per run:

- the tracking return (episode sum of the tracking term in Brax's final
  evaluation, whose environments are split evenly over the styles);
- the style table of the final policy (commanded style x reference style,
  deterministic rollouts, amp_ppo/amp/style_metrics.py) and each style's
  command ratio: its distance to its own reference over its distance to the
  other's;
- the control: the same policy evaluated with the two commands swapped (the
  environment is commanded one style, the policy observes the other's
  one-hot). A policy that obeys its command swaps the table's rows;
- the discriminator's saturation warnings.

Targets (issue #25), every seed: each command ratio <= 1/3, tracking >= 0.9
of PPO's, no saturation warning; the control's rows swap.

  python -m benchmarks.two_gaits                           # seeds 0,1,2
  python -m benchmarks.two_gaits --seeds 0 --designs conditioned,per_style \
      --no-ppo                                             # the designs
  python -m benchmarks.two_gaits --amp_num_timesteps 10000000  # AMP longer

Runs go to <workdir>/<amp_DESIGN|ppo>_seed<N>; with --reuse a finished run
there (its report.json) is read instead of trained again, so pieces run side
by side in separate processes (e.g. --no-ppo and --no-amp) are tabled
together by a last call with --reuse.
"""

import argparse
import json
import os
import sys
import tempfile
import time

TRACKING_KEY = 'eval/episode_reward_tracking'
TRACKING_TARGET = 0.9      # AMP's tracking return / PPO's, at least
COMMAND_RATIO_TARGET = 1 / 3  # own-reference distance / other's, at most
DESIGNS = ('conditioned', 'per_style')


def amp_config(seed: int, design: str, num_timesteps=None):
  from amp_ppo.configs import command_ant  # pylint: disable=g-import-not-at-top
  config = command_ant.get_config('two_gaits')
  config.amp.style_discriminator = design
  return _seeded(config, seed, num_timesteps)


def ppo_config(seed: int, num_timesteps=None):
  """PPO alone on the same task, for as many steps as AMP's preset."""
  from amp_ppo.configs import command_ant  # pylint: disable=g-import-not-at-top
  config = command_ant.get_config('cpu')
  config.ppo.num_timesteps = command_ant.TWO_GAITS_NUM_TIMESTEPS
  return _seeded(config, seed, num_timesteps)


def _seeded(config, seed, num_timesteps):
  config.ppo.seed = seed
  config.evaluation.seed = seed
  if num_timesteps:
    config.ppo.num_timesteps = num_timesteps
  return config


def _run(config, workdir: str, use_amp: bool, reuse: bool) -> dict:
  """Trains one run into `workdir`, or reads it back (--reuse)."""
  from amp_ppo.run import experiment  # pylint: disable=g-import-not-at-top
  from amp_ppo.run import outputs  # pylint: disable=g-import-not-at-top
  report_path = os.path.join(workdir, outputs.REPORT_FILE)
  if reuse and os.path.exists(report_path):
    print(f'   reusing {workdir}', flush=True)
    with open(report_path) as f:
      return json.load(f)
  experiment.prepare_workdir(workdir, resume=False, overwrite=True)
  return experiment.run_experiment(config, workdir, use_amp=use_amp,
                                   render=False).report


def tracking(workdir: str) -> float:
  """The tracking return of a run's last evaluation."""
  from amp_ppo.run import outputs  # pylint: disable=g-import-not-at-top
  return outputs.last_evaluation(outputs.read_metrics(workdir))[TRACKING_KEY]


def swapped_table(workdir: str) -> dict:
  """The final policy's style table with its commands rotated by one.

  Environments commanded style i get the policy that observes style i+1's
  one-hot (mod S; for two styles, a swap).
  """
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from amp_ppo.run import evaluation  # pylint: disable=g-import-not-at-top
  from amp_ppo.run import experiment  # pylint: disable=g-import-not-at-top
  config = experiment.load_run_config(workdir)
  num_styles = len(experiment.style_names(config))
  env, _ = experiment.make_env(config.env)
  references = experiment.reference_paths(config, env, workdir)
  policy = experiment.policy_from_checkpoint(
      config, env, experiment.latest_checkpoint(workdir)[1])

  def swapped(obs, key):
    # The one-hot is the observation's last num_styles entries.
    command = jnp.roll(obs[..., -num_styles:], 1, axis=-1)
    return policy(jnp.concatenate([obs[..., :-num_styles], command], -1),
                  key)

  return experiment.evaluate(config, env, references, swapped)[
      evaluation.FINAL_STYLE_TABLE_KEY]


def rows_swapped(table: dict) -> bool:
  """Whether each commanded style is nearest another style's reference."""
  return all(min(row, key=row.get) != name for name, row in table.items())


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      description=__doc__.split('\n\n')[0],
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  parser.add_argument('--seeds', default='0,1,2')
  parser.add_argument('--designs', default='conditioned',
                      help=f'AMP style discriminators, of {DESIGNS}')
  parser.add_argument('--amp', action=argparse.BooleanOptionalAction,
                      default=True, help='train AMP of each --designs')
  parser.add_argument('--ppo', action=argparse.BooleanOptionalAction,
                      default=True, help='train PPO alone')
  parser.add_argument('--num_timesteps', type=int, default=None,
                      help="both runs' env steps; default: the preset's (7.5M)")
  parser.add_argument('--amp_num_timesteps', type=int, default=None,
                      help="AMP's env steps, if not --num_timesteps; its "
                      'runs go to amp_<design>_<steps>steps_seed<N>')
  parser.add_argument('--workdir', default=None)
  parser.add_argument('--reuse', action='store_true',
                      help='read finished runs in --workdir back')
  args = parser.parse_args(argv)
  seeds = [int(s) for s in args.seeds.split(',')]
  designs = args.designs.split(',') if args.amp else []
  unknown = sorted(set(designs) - set(DESIGNS))
  if unknown:
    parser.error(f'--designs: unknown {unknown}; choose from {DESIGNS}.')
  # Bad settings stop here, before anything compiles.
  amp_steps = args.amp_num_timesteps or args.num_timesteps
  amp_configs = {(seed, design): amp_config(seed, design, amp_steps)
                 for seed in seeds for design in designs}
  amp_label = (f'{args.amp_num_timesteps}steps_' if args.amp_num_timesteps
               else '')
  ppo_configs = {seed: ppo_config(seed, args.num_timesteps) for seed in seeds}
  from benchmarks import bench_lib  # pylint: disable=g-import-not-at-top
  from amp_ppo.amp import style_metrics  # pylint: disable=g-import-not-at-top

  machine = bench_lib.prepare_experiments()
  root = args.workdir or tempfile.mkdtemp(prefix='amp_two_gaits_')
  started = time.time()
  ppo, amp = {}, []
  for seed in seeds:
    if args.ppo:
      workdir = os.path.join(root, f'ppo_seed{seed}')
      print(f'== PPO alone, seed {seed} -> {workdir}', flush=True)
      report = _run(ppo_configs[seed], workdir, False, args.reuse)
      ppo[seed] = dict(tracking=tracking(workdir),
                       seconds=report['wall_time_seconds'])
    for design in designs:
      workdir = os.path.join(root, f'amp_{design}_{amp_label}seed{seed}')
      print(f'== AMP two gaits ({design}), seed {seed} -> {workdir}',
            flush=True)
      report = _run(amp_configs[seed, design], workdir, True, args.reuse)
      amp.append(dict(
          seed=seed, design=design, steps=report['steps'],
          tracking=tracking(workdir),
          table=report['style_table'],
          separation=report['reference_separation'],
          swapped=swapped_table(workdir),
          warnings=report['discriminator_warnings'],
          seconds=report['wall_time_seconds']))
  with open(os.path.join(root, 'two_gaits.json'), 'w') as f:
    json.dump(dict(ppo=ppo, amp=amp), f, indent=2)

  bench_lib.print_machine_and_wall_time(machine, started, root)
  print('Per run. Style cells: distance of the rollouts commanded the row '
        "style to each reference (lower is closer); ratio: own / other's. "
        'Swapped: the same policy observing the other command.')
  print()
  rows = []
  for r in amp:
    names = list(r['table'])
    ratios = style_metrics.command_ratios(r['table'])
    swapped_ratios = style_metrics.command_ratios(r['swapped'])
    saturated = sum('saturated' in w for w in r['warnings'])
    ppo_tracking = ppo.get(r['seed'], {}).get('tracking')
    tracking_ratio = (r['tracking'] / max(ppo_tracking, 1e-9)
                      if ppo_tracking is not None else None)
    r['passes'] = (all(v <= COMMAND_RATIO_TARGET for v in ratios.values())
                   and not saturated and rows_swapped(r['swapped'])
                   and tracking_ratio is not None
                   and tracking_ratio >= TRACKING_TARGET)
    cells = []
    for name in names:
      other = next(n for n in names if n != name)
      cells.append(f'{r["table"][name][name]:.3f} / '
                   f'{r["table"][name][other]:.3f} = {ratios[name]:.2f}')
    rows.append([
        r['seed'], r['design'], r['steps'], f'{r["tracking"]:.1f}',
        '-' if ppo_tracking is None else f'{ppo_tracking:.1f}',
        '-' if tracking_ratio is None else f'{tracking_ratio:.2f}',
        *cells,
        ', '.join(f'{swapped_ratios[n]:.2f}' for n in names)
        + (' (swap)' if rows_swapped(r['swapped']) else ' (no swap)'),
        saturated, 'yes' if r['passes'] else 'no',
        f'{r["seconds"]:.0f}'])
  names = list(amp[0]['table']) if amp else []
  print(bench_lib.markdown_table(
      ['seed', 'design', 'env steps', 'AMP tracking', 'PPO tracking',
       'ratio', *[f'{n}: own / other' for n in names],
       'swapped ratios', 'saturation warnings', 'meets targets', 'AMP s'],
      rows))
  if amp:
    print()
    print("The references' own separation (distance of one's windows to the "
          "other's, windows drawn from each run's evaluation seed):")
    for r in amp:
      separation = r['separation']
      print(f'  seed {r["seed"]} ({r["design"]}): ' + ', '.join(
          f'{a}->{b} {separation[a][b]:.3f}'
          for a in separation for b in separation[a] if a != b))
  for r in amp:
    for warning in r['warnings']:
      print(f'seed {r["seed"]} ({r["design"]}): WARNING {warning}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
