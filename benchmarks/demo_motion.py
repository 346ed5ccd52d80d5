r"""How the cart-pole demo's trained carts move, against the reference's sway.

Usage (after `make demo`, or any run of the default config):

  python -m benchmarks.demo_motion --workdir=amp_runs/default

For the final checkpoint of the run and of its PPO-only baseline (if there),
it runs 16 deterministic 10-second rollouts from the environment's reset and
prints, over their last 6 s: how far the cart swings to either side of its
mean position, that mean, the period of the swing (from crossings of the
mean), and the largest pole lean; the same for the bundled reference clips.
"""

import argparse
import os
import sys

import numpy as np

_SECONDS, _SETTLE_SECONDS, _ROLLOUTS = 10.0, 4.0, 16


def sway(cart: np.ndarray, pole: np.ndarray, dt: float) -> dict:
  """Swing of cart positions [N, T] and pole angles [N, T], per clip mean."""
  centre = cart.mean(axis=1, keepdims=True)
  swing = (cart.max(axis=1) - cart.min(axis=1)) / 2
  above = cart > centre
  crossings = np.sum(above[:, 1:] != above[:, :-1], axis=1)
  seconds = cart.shape[1] * dt
  with np.errstate(divide='ignore'):
    periods = np.where(crossings > 1, 2 * seconds / crossings, np.inf)
  return dict(swing=float(np.mean(swing)), centre=float(np.mean(centre)),
              period=float(np.median(periods)),
              lean=float(np.max(np.abs(pole))))


def policy_sway(workdir: str) -> dict:
  import jax  # pylint: disable=g-import-not-at-top
  from amp_ppo.run import evaluation  # pylint: disable=g-import-not-at-top
  from amp_ppo.run import experiment  # pylint: disable=g-import-not-at-top
  config = experiment.load_run_config(workdir)
  env, _ = experiment.make_env(config.env)
  _, step_dir = experiment.latest_checkpoint(workdir)
  policy = experiment.policy_from_checkpoint(config, env, step_dir)
  q = lambda state: state.pipeline_state.q
  steps = int(round(_SECONDS / float(env.dt)))
  rollout = evaluation.policy_rollout(env, policy, q, jax.random.PRNGKey(0),
                                      _ROLLOUTS, steps)
  assert rollout.alive.all(), 'a pole fell: the figures would mix episodes'
  settle = int(round(_SETTLE_SECONDS / float(env.dt)))
  frames = rollout.frames[:, settle:]
  return sway(frames[..., 0], frames[..., 1], float(env.dt))


def reference_sway() -> dict:
  from amp_ppo import motion as motion_lib  # pylint: disable=g-import-not-at-top
  from amp_ppo.demos import cartpole_sway  # pylint: disable=g-import-not-at-top
  motion = motion_lib.load_reference(cartpole_sway.BUNDLED_REFERENCE)
  clips = [clip.qpos for clip in motion.clips]
  length = min(len(c) for c in clips)
  qpos = np.stack([c[:length] for c in clips])
  return sway(qpos[..., 0], qpos[..., 1], 1.0 / motion.clips[0].fps)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--workdir', default='amp_runs/default')
  args = parser.parse_args(argv)
  rows = [('reference', reference_sway())]
  rows.append(('AMP', policy_sway(args.workdir)))
  baseline = os.path.join(args.workdir, 'baseline')
  if os.path.isdir(baseline):
    rows.append(('PPO only', policy_sway(baseline)))
  print(f'over the last {_SECONDS - _SETTLE_SECONDS:g} s of {_ROLLOUTS} '
        f'deterministic {_SECONDS:g} s rollouts (reference: whole clips):')
  print(f'{"":10s} {"swing m":>8s} {"centre m":>9s} {"period s":>9s} '
        f'{"lean rad":>9s}')
  for name, s in rows:
    print(f'{name:10s} {s["swing"]:8.3f} {s["centre"]:9.3f} '
          f'{s["period"]:9.2f} {s["lean"]:9.3f}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
