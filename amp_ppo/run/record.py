r"""Records reference motion from a trained checkpoint.

  python -m amp_ppo.run.record --workdir=amp_runs/default --out=my_motion.npz

Rolls out the policy of a run's checkpoint (the newest one, or --checkpoint)
in the run's environment and writes what it visits as a reference file in
amp_ppo's npz format: qpos and qvel at the control rate, one clip per
rollout. A clip ends before its episode's terminal state, so a fall never
becomes part of the style. The result can be given to another run with
--config.reference=my_motion.npz. A policy of several styles records the
one --style commands.
"""

from typing import Dict, Optional

from absl import app
from absl import flags
from brax import envs
import jax
import numpy as np

from amp_ppo import motion as motion_lib
from amp_ppo.amp import style_command
from amp_ppo.demos import recorder
from amp_ppo.run import experiment


def record_motion(env: envs.Env, policy, *, num_clips: int, num_steps: int,
                  seed: int, action_repeat: int = 1) -> Dict[str, np.ndarray]:
  """Rollouts of `policy` as `save_reference` keyword arguments.

  The policy acts `num_steps` times, holding each action `action_repeat`
  environment steps as in training; every environment step is a frame.
  Resets and actions draw the keys of `evaluation.policy_rollout`.

  Raises:
    RuntimeError: every episode ended within recorder.MIN_CLIP_FRAMES frames.
  """
  clip_keys = jax.vmap(jax.random.split)(
      jax.random.split(jax.random.PRNGKey(seed), num_clips))  # [N, 2, 2]
  step_keys = jax.vmap(lambda key: jax.random.split(key, num_steps))(
      clip_keys[:, 1])

  def controller(state, step, keys):
    return policy(state.obs, keys[step])[0]

  recording = recorder.record(env, controller, clip_keys[:, 0], num_steps,
                              clip_inputs=step_keys,
                              action_repeat=action_repeat)
  return recording.reference(advice='is this a trained checkpoint?')


def record_from_workdir(workdir: str, out: str, *,
                        checkpoint: Optional[str] = None, num_clips: int = 4,
                        num_steps: Optional[int] = None, seed: int = 0,
                        deterministic: bool = True,
                        style: Optional[str] = None) -> str:
  """Writes `out` from a run's checkpoint; returns the checkpoint used.

  A run of several styles needs `style`, the one its policy is commanded.
  """
  config = experiment.load_run_config(workdir)
  styles = experiment.style_names(config)
  if styles and style not in styles:
    raise ValueError(f'--style={style!r}: the run at {workdir} has styles '
                     f'{styles}; pass --style=<one of them>.')
  if not styles and style is not None:
    raise ValueError(f'--style={style!r}: the run at {workdir} has one '
                     'style; drop --style.')
  if checkpoint is None:
    latest = experiment.latest_checkpoint(workdir)
    if latest is None:
      raise FileNotFoundError(f'{workdir} has no checkpoint yet.')
    checkpoint = latest[1]
  env, _ = experiment.make_env(config.env)
  policy = experiment.policy_from_checkpoint(config, env, checkpoint,
                                             deterministic)
  if styles:
    commanded = policy
    policy = lambda obs, key: commanded(
        style_command.commanded_observation(obs, style, styles), key)
  arrays = record_motion(
      env, policy, num_clips=num_clips,
      num_steps=num_steps or config.evaluation.num_steps, seed=seed,
      action_repeat=config.ppo.get('action_repeat', 1))
  motion_lib.save_reference(out, **arrays)
  return checkpoint


def define_flags() -> None:
  """Command-line flags; only when run as a program, so importing is free."""
  flags.DEFINE_string('workdir', None,
                      'Run directory of `python -m amp_ppo.main`.')
  flags.DEFINE_string('out', None, 'Reference npz to write.')
  flags.DEFINE_string('checkpoint', None,
                      'A step directory; default: the newest in workdir.')
  flags.DEFINE_integer('num_clips', 4, 'Rollouts to record.')
  flags.DEFINE_integer('num_steps', None,
                       'Steps per rollout; default config.evaluation.')
  flags.DEFINE_integer('seed', 0, 'Seed of resets and actions.')
  flags.DEFINE_bool('stochastic', False,
                    'Sample actions instead of taking the mode.')
  flags.DEFINE_string('style', None,
                      'For a run of several styles: the style to command.')
  flags.mark_flags_as_required(['workdir', 'out'])


def main(argv):
  del argv
  values = flags.FLAGS
  checkpoint = record_from_workdir(
      values.workdir, values.out, checkpoint=values.checkpoint,
      num_clips=values.num_clips, num_steps=values.num_steps,
      seed=values.seed, deterministic=not values.stochastic,
      style=values.style)
  motion = motion_lib.load_reference(values.out)
  print(f'wrote {values.out} from {checkpoint}: {len(motion.clips)} clips, '
        f'{motion.num_frames} frames at {motion.clips[0].fps:g} fps')


if __name__ == '__main__':
  define_flags()
  app.run(main)
