r"""Imitation from demonstrations alone: AMP with no task reward on the ant.

1. The expert is the scripted trot of amp_ppo/demos/ant_gait.py. Its
   reference motion is recorded afresh into the workdir.
2. AMP trains the ant (amp_ppo/configs/ant.py:cpu) with task_weight 0 and
   style_weight 1: the policy never sees the environment's reward.
3. The final deterministic policy and the expert each run --episodes
   episodes of 400 steps (20 s); the script prints their task returns and
   the fraction the policy recovers, with the env steps and wall time the
   training took.

  python -m benchmarks.imitation
  python -m benchmarks.imitation --num_timesteps 5000000 --seed 1

The task return here is Brax ant's forward reward summed over the episode
(its x velocity, so distance / dt). Its full reward also pays 1 per step for
staying upright and charges the squared action: the expert earns 423 of
that in 400 steps, a motionless ant 400 (95 %), so the full return cannot
tell walking from standing. Both are printed.

AMP's features are in the heading frame, so the style does not say which way
to walk and the policy picks its own direction; the forward reward counts
only its +x part. The script also prints the policy's distance in any
direction and its heading (at 7e90cd3 a policy trotted 7.41 m per episode,
1.33 of the expert's distance, at -69 deg: 0.48 of the expert's forward
reward).
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np


def parse_args(argv=None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      description=__doc__.split('\n\n')[0],
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  parser.add_argument('--num_timesteps', type=int, default=3_000_000)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--episodes', type=int, default=32,
                      help='evaluation episodes of the policy and the expert')
  parser.add_argument('--target', type=float, default=0.80,
                      help='fraction of the expert\'s task return to reach')
  parser.add_argument('--workdir', default=None,
                      help='keep the run here (default: a temporary dir)')
  return parser.parse_args(argv)


def policy_performance(env, policy, num_episodes: int, num_steps: int,
                       seed: int):
  """Per-episode forward distance, full return and length of `policy`."""
  import jax  # pylint: disable=g-import-not-at-top
  from amp_ppo.run import evaluation  # pylint: disable=g-import-not-at-top
  # 'Features': the torso's (x, y); the ant's forward reward differentiates x.
  torso_xy = lambda state: state.pipeline_state.x.pos[0, :2]
  rollout = evaluation.policy_rollout(env, policy, torso_xy,
                                      jax.random.PRNGKey(seed), num_episodes,
                                      num_steps)
  last = rollout.alive.sum(axis=1) - 1  # the last frame of each episode
  displacement = (rollout.frames[np.arange(num_episodes), last] -
                  rollout.frames[:, 0])  # [episodes, 2]
  return dict(
      forward_distance=displacement[:, 0],
      planar_distance=np.linalg.norm(displacement, axis=-1),
      heading_degrees=np.degrees(np.arctan2(displacement[:, 1],
                                            displacement[:, 0])),
      episode_return=rollout.episode_returns(),
      episode_length=rollout.episode_lengths().astype(np.float64))


def summary_row(name, performance, dt):
  distance = performance['forward_distance']
  return [name, f'{np.mean(distance) / dt:.1f}',
          f'{np.mean(distance):.2f} (min {np.min(distance):.2f})',
          f'{np.mean(performance["episode_return"]):.1f}',
          f'{np.mean(performance["episode_length"]):.0f}']


def main(argv=None) -> int:
  args = parse_args(argv)
  from benchmarks import bench_lib  # pylint: disable=g-import-not-at-top
  from amp_ppo.run import experiment  # pylint: disable=g-import-not-at-top
  from amp_ppo import motion as motion_lib  # pylint: disable=g-import-not-at-top
  from amp_ppo.configs import ant  # pylint: disable=g-import-not-at-top
  from amp_ppo.demos import ant_gait  # pylint: disable=g-import-not-at-top

  machine = bench_lib.prepare_experiments()
  workdir = args.workdir or tempfile.mkdtemp(prefix='amp_imitation_')
  os.makedirs(workdir, exist_ok=True)

  config = ant.get_config('cpu')
  config.ppo.num_timesteps = args.num_timesteps
  config.ppo.seed = args.seed
  config.amp.task_weight = 0.0
  config.amp.style_weight = 1.0
  num_steps = config.ppo.episode_length
  env, _ = experiment.make_env(config.env)

  print('recording the expert\'s reference motion...', flush=True)
  reference_path = os.path.join(workdir, 'expert_gait.npz')
  motion_lib.save_reference(reference_path, **ant_gait.record_reference())
  config.reference = reference_path

  print(f'training AMP alone (task_weight 0) for {args.num_timesteps} steps '
        f'-> {workdir}/run', flush=True)
  run_dir = os.path.join(workdir, 'run')
  experiment.prepare_workdir(run_dir, resume=False, overwrite=True)
  started = time.time()
  run = experiment.run_experiment(config, run_dir, use_amp=True,
                                  render=False)
  train_seconds = time.time() - started

  latest = experiment.latest_checkpoint(run_dir)
  policy = experiment.policy_from_checkpoint(config, env, latest[1])
  learned = policy_performance(env, policy, args.episodes, num_steps,
                               seed=1000 + args.seed)
  expert = ant_gait.expert_performance(num_steps=num_steps,
                                       num_episodes=args.episodes,
                                       seed=1000 + args.seed, env=env)
  dt = float(env.dt)
  fraction = (np.mean(learned['forward_distance']) /
              np.mean(expert['forward_distance']))
  full_fraction = (np.mean(learned['episode_return']) /
                   np.mean(expert['episode_return']))

  print()
  print('Machine: ' + '; '.join(f'{k} {v}' for k, v in machine.items()))
  print()
  print(f'Ant (spring backend), {args.episodes} episodes of {num_steps} '
        f'steps ({num_steps * dt:.0f} s) each; the AMP policy trained '
        f'{run.report["steps"]} env steps in {train_seconds:.0f} s wall '
        f'time (compilation and evaluation included), seed {args.seed}, '
        'task_weight 0:')
  print()
  print(bench_lib.markdown_table(
      ['', 'task return (forward reward)', 'forward distance m',
       'full Brax return', 'episode length'],
      [summary_row('scripted expert', expert, dt),
       summary_row('AMP, no task reward', learned, dt)]))
  print()
  print(f'Style distance of the AMP policy to the expert\'s reference: '
        f'{run.report["style_distance"]:.3f}')
  print(f'Fraction of the expert\'s task return recovered: {fraction:.3f} '
        f'(target {args.target:.2f}: '
        f'{"met" if fraction >= args.target else "NOT met"}); of its full '
        f'Brax return: {full_fraction:.3f}')
  # AMP's features are in the heading frame: the style says how to walk,
  # not which way, and the policy picks a direction of its own.
  heading = learned['heading_degrees']
  planar = np.mean(learned['planar_distance'])
  print(f'The AMP policy covers {planar:.2f} m per episode in any '
        f'direction, {planar / np.mean(expert["forward_distance"]):.3f}'
        " of the expert's forward distance, heading "
        f'{np.mean(heading):.0f} deg from +x (per episode '
        f'{np.min(heading):.0f} to {np.max(heading):.0f}); its forward '
        'reward counts only the +x part.')
  return 0


if __name__ == '__main__':
  sys.exit(main())
