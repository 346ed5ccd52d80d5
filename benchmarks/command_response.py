r"""Does a trained command-ant policy follow its command? Speed per command.

For each run directory (a task_style.py run: `SEED_DIR` for AMP,
`SEED_DIR/baseline` for PPO alone), loads the newest checkpoint's
deterministic policy and drives `command_ant` with the command held at each
of `--commands`, from `--episodes` reset states, and prints per command the
speed the ant reached (forward distance over the episode's second half,
divided by its duration) and the tracking term per step. A policy that
walks at one speed whatever it is told shows a flat speed column.

It also scores the reference itself (`--reference`, the command ant's
multi-speed trot by default) with the same tracking reward: each clip,
commanded at its own mean speed, with its speed averaged as the environment
averages it: about the most a policy moving exactly like the reference can
earn per step. And it prints what the best constant speed earns over
commands drawn uniformly from `--command_range` (the environment's by
default): a policy that ignores its command. A benchmark that tests command
following needs the first near 1 and the second well below it.

  python -m benchmarks.command_response /tmp/ts/seed0 /tmp/ts/seed0/baseline
"""

import argparse
import os
import sys
from typing import Tuple

import jax
import numpy as np


def response(workdir: str, commands, num_episodes: int, num_steps: int,
             seed: int):
  """[commands] mean speed (m/s) and tracking per step of the run's policy."""
  from amp_ppo.amp import feature_windows  # pylint: disable=g-import-not-at-top
  from amp_ppo.envs import command_ant  # pylint: disable=g-import-not-at-top
  from amp_ppo.run import experiment  # pylint: disable=g-import-not-at-top
  config = experiment.load_run_config(workdir)
  latest = experiment.latest_checkpoint(workdir)
  if latest is None:
    raise ValueError(f'{workdir}: no checkpoint to load.')
  # Read once: every command's env has the same observation and action sizes.
  policy = experiment.policy_from_checkpoint(
      config, command_ant.CommandAnt(backend=config.env.backend), latest[1])
  speeds, tracking = [], []
  for command in commands:
    env = command_ant.CommandAnt(command_range=(command, command),
                                 backend=config.env.backend)

    def episode(key, env=env, policy=policy):
      def step(state, key):
        action, _ = policy(state.obs, key)
        state = env.step(state, action)
        return state, (state.metrics['x_position'], state.done,
                       state.metrics['reward_tracking'])
      keys = jax.random.split(key, num_steps + 1)
      _, (x, done, track) = jax.lax.scan(step, env.reset(keys[0]), keys[1:])
      alive = feature_windows.first_episode_mask(done)
      return x, alive, track

    keys = jax.random.split(jax.random.PRNGKey(seed), num_episodes)
    x, alive, track = jax.device_get(jax.jit(jax.vmap(episode))(keys))
    if not alive[:, -1].all():
      print(f'{workdir}, command {command}: {int((~alive[:, -1]).sum())} of '
            f'{num_episodes} episodes ended early; their speed is cut off.')
    half = num_steps // 2
    seconds = (num_steps - 1 - half) * float(env.dt)
    speeds.append(float(np.mean((x[:, -1] - x[:, half]) / seconds)))
    tracking.append(float(np.mean(track[alive]) if alive.any() else 0.0))
  return np.array(speeds), np.array(tracking)


def reference_tracking(path: str):
  """Per clip: (mean speed, tracking per step at that speed as the command)."""
  from amp_ppo import motion as motion_lib  # pylint: disable=g-import-not-at-top
  from amp_ppo.envs import command_ant  # pylint: disable=g-import-not-at-top
  scores = []
  for clip in motion_lib.load_reference(path).clips:
    velocity = np.asarray(clip.qvel[:, 0], np.float64)
    alpha = min(1.0 / clip.fps / command_ant.VELOCITY_TIME_CONSTANT, 1.0)
    # Started at the mean of the clip's first time constant (one cycle of
    # the bundled trot), as if the ant had been walking before the clip.
    average = np.empty_like(velocity)
    average[0] = velocity[:max(1, int(round(
        clip.fps * command_ant.VELOCITY_TIME_CONSTANT)))].mean()
    for t in range(1, len(velocity)):
      average[t] = (1 - alpha) * average[t - 1] + alpha * velocity[t]
    command = velocity.mean()
    scores.append((command, float(np.mean(command_ant.tracking_reward(
        average, command)))))
  return scores


def constant_speed_tracking(command_range) -> Tuple[float, float]:
  """(speed, tracking per step) of the best speed held whatever the command."""
  from amp_ppo.envs import command_ant  # pylint: disable=g-import-not-at-top
  commands = np.linspace(*command_range, 1001)
  speeds = np.linspace(*command_range, 1001)
  scores = np.asarray(command_ant.tracking_reward(
      speeds[:, None], commands[None])).mean(axis=1)
  return float(speeds[np.argmax(scores)]), float(scores.max())


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      description=__doc__.split('\n\n')[0],
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  parser.add_argument('workdirs', nargs='*',
                      help='runs to load; none: the reference figures only')
  parser.add_argument('--commands', default=None,
                      help='default: 7 speeds across --command_range')
  parser.add_argument('--command_range', default=None,
                      help="low,high (m/s); default: command_ant's")
  parser.add_argument('--episodes', type=int, default=16)
  parser.add_argument('--num_steps', type=int, default=400)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--reference', default=None,
                      help="default: command_ant's multi-speed trot")
  args = parser.parse_args(argv)
  from benchmarks import bench_lib  # pylint: disable=g-import-not-at-top
  from amp_ppo.envs import command_ant  # pylint: disable=g-import-not-at-top
  command_range = (tuple(float(c) for c in args.command_range.split(','))
                   if args.command_range else command_ant.COMMAND_RANGE)
  commands = ([float(c) for c in args.commands.split(',')] if args.commands
              else np.linspace(*command_range, 7).round(3).tolist())
  header, columns = ['command m/s'], [[f'{c:.3f}' for c in commands]]
  for workdir in args.workdirs:
    speeds, tracking = response(workdir, commands, args.episodes,
                                args.num_steps, args.seed)
    name = os.path.relpath(workdir, os.path.dirname(args.workdirs[0]))
    header += [f'{name}: speed', f'{name}: tracking / step']
    columns += [[f'{s:.3f}' for s in speeds], [f'{t:.2f}' for t in tracking]]
  if args.workdirs:
    print(bench_lib.markdown_table(header, list(zip(*columns))))
  if args.reference is None:
    from amp_ppo.demos import ant_gait  # pylint: disable=g-import-not-at-top
    args.reference = ant_gait.SPEEDS_REFERENCE
  scores = reference_tracking(args.reference)
  print()
  print(f'The reference ({args.reference}) scored by the same reward, each '
        'clip commanded at its own mean speed:')
  print()
  print(bench_lib.markdown_table(
      ['clip', 'mean speed m/s', 'tracking / step'],
      [[i, f'{c:.3f}', f'{t:.3f}'] for i, (c, t) in enumerate(scores)] +
      [['mean', f'{np.mean([c for c, _ in scores]):.3f}',
        f'{np.mean([t for _, t in scores]):.3f}']]))
  speed, score = constant_speed_tracking(command_range)
  print()
  print(f'Ignoring the command: the best constant speed over commands in '
        f'{command_range[0]:.3f}..{command_range[1]:.3f} m/s, {speed:.3f} '
        f'm/s, earns {score:.3f} tracking per step.')
  return 0


if __name__ == '__main__':
  sys.exit(main())
