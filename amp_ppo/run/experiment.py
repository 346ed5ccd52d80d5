"""One experiment from a config: train, checkpoint, evaluate, report.

`run_experiment` is what `python -m amp_ppo.main` calls, once for the AMP
run and once more for the PPO-only baseline with `--baseline`.

Checkpoints: the trainer writes step directories (Brax's checkpoint, then
amp_ppo's `amp_state/` and `resume_state/`; see
amp_ppo/reliability/checkpoint.py) into a staging directory, and each is
moved to `<workdir>/checkpoints/<total step:012d>/` once complete; with
`keep_checkpoints`, only the newest that many stay there. An interrupted run
resumes exactly from the newest one. A finished run given more
num_timesteps continues from it through Brax's `restore_checkpoint_path`,
whose step counter starts at 0 again; the move adds the steps already
trained, so directory numbers keep growing.
"""

import dataclasses
import functools
import importlib
import json
import math
import os
import shutil
import time
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from absl import logging
from brax import envs
from brax.training.acme import running_statistics
from brax.training.agents.ppo import checkpoint as ppo_checkpoint
from brax.training.agents.ppo import networks as ppo_networks
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from amp_ppo.amp import features
from amp_ppo.amp import losses
from amp_ppo.amp import style_command
from amp_ppo.amp import style_metrics
from amp_ppo import motion as motion_lib
from amp_ppo.robots import menagerie
from amp_ppo.reliability import checkpoint as step_checkpoint
from amp_ppo.reliability import resume_state
from amp_ppo.run import evaluation
from amp_ppo.run import outputs
from amp_ppo import training

CONFIG_FILE = 'config.json'
CHECKPOINT_DIR = 'checkpoints'
ROLLOUT_HTML = 'rollout.html'
SYNTHETIC_REFERENCE = 'reference_synthetic.npz'
_STAGING_DIR = '.incoming'


class UnavailableEnvironmentError(RuntimeError):
  """The config's environment needs a package that is not installed."""


@dataclasses.dataclass
class RunResult:
  """What one run reports; `report` is what report.json holds."""
  workdir: str
  report: Dict[str, Any]
  records: List[Dict[str, float]]


# ------------------------------------------------------------ environment


def make_env(env_config: ml_collections.ConfigDict
            ) -> Tuple[envs.Env, Dict[str, Any]]:
  """The raw environment and any extra `ppo.train` arguments it needs."""
  kwargs = dict(env_config.get('kwargs', {}) or {})
  if env_config.suite == 'brax':
    return envs.get_environment(env_config.name, backend=env_config.backend,
                                **kwargs), {}
  if env_config.suite == 'amp_ppo':  # amp_ppo/envs/, e.g. command_ant
    from amp_ppo import envs as amp_envs  # pylint: disable=g-import-not-at-top
    return amp_envs.get_environment(env_config.name,
                                    backend=env_config.backend, **kwargs), {}
  if env_config.suite == 'playground':
    return _make_playground_env(env_config.name, kwargs,
                                env_config.get('menagerie_root') or None,
                                env_config.get('randomize', False))
  raise ValueError(f'unknown env.suite {env_config.suite!r}; use "brax", '
                   '"amp_ppo" or "playground".')


def _make_playground_env(name: str, overrides: Dict[str, Any],
                         menagerie_root: Optional[str], randomize: bool):
  try:
    from mujoco_playground import registry  # pylint: disable=g-import-not-at-top
    from mujoco_playground import wrapper  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise UnavailableEnvironmentError(
        f'the environment {name!r} comes from MuJoCo Playground, which is '
        'not installed; install it with `pip install playground`, or pick a '
        'Brax config such as amp_ppo/configs/ant.py.') from e
  menagerie.use_menagerie(menagerie_root)
  env = registry.load(name, config_overrides=overrides or None)
  extra = {'wrap_env_fn': wrapper.wrap_for_brax_training}
  if randomize:
    randomization_fn = registry.get_domain_randomizer(name)
    if randomization_fn is None:
      raise ValueError(
          f'env.randomize=True, but MuJoCo Playground has no domain '
          f'randomiser for {name!r}; set --config.env.randomize=False.')
    extra['randomization_fn'] = randomization_fn
  return env, extra


def load_feature_fn(spec: str,
                    env: envs.Env) -> Optional[features.FeatureFn]:
  """'package.module:factory' -> factory(env); '' -> None (the default)."""
  if not spec:
    return None
  module_name, _, attribute = spec.partition(':')
  if not attribute:
    raise ValueError(f'feature_fn={spec!r}: write it as '
                     '"package.module:factory", factory(env) -> feature fn.')
  return getattr(importlib.import_module(module_name), attribute)(env)


def policy_from_checkpoint(config: ml_collections.ConfigDict, env: envs.Env,
                           step_dir: str, deterministic: bool = True):
  """The inference function of a checkpoint's policy.

  Builds the network from the run's config rather than with Brax's
  `checkpoint.load_policy`, whose network config loader fails on the
  default (None) kernel initialisers.
  """
  params = ppo_checkpoint.load(os.path.abspath(step_dir))  # Orbax: absolute
  normalize = (running_statistics.normalize
               if config.ppo.get('normalize_observations', False)
               else lambda x, y: x)
  network = network_factory(config.network)(
      _observation_size(env, style_names(config)), env.action_size,
      preprocess_observations_fn=normalize)
  make_policy = ppo_networks.make_inference_fn(network)
  return make_policy((params[0], params[1]), deterministic=deterministic)


def _observation_size(env: envs.Env, styles: Optional[List[str]] = None):
  """`env.observation_size`, from the reset traced rather than run.

  Brax's property runs a reset op by op, which takes seconds on a CPU.
  With several styles, the policy's observation has the command appended.
  """

  def observe(key):
    obs = env.reset(key).obs
    if styles:
      obs = style_command.commanded_observation(obs, 0, styles)
    return obs

  obs = jax.eval_shape(observe, jax.ShapeDtypeStruct((2,), jnp.uint32))
  if hasattr(obs, 'shape'):
    return obs.shape[-1]
  return jax.tree_util.tree_map(lambda x: x.shape, obs)


def network_factory(network_config: ml_collections.ConfigDict) -> Callable:
  kwargs = {
      name: tuple(value) if isinstance(value, (list, tuple)) else value
      for name, value in network_config.to_dict().items()
  }
  return functools.partial(ppo_networks.make_ppo_networks, **kwargs)


# -------------------------------------------------------------- reference


def reference_paths(config: ml_collections.ConfigDict, env: envs.Env,
                    workdir: str) -> Union[List[str], Dict[str, List[str]]]:
  """The config's reference files; makes the synthetic one if asked to.

  Several styles (`reference` a mapping): style name -> that style's files.
  """
  if not isinstance(config.reference, str):
    paths = {name: _split_paths(value)
             for name, value in config.reference.items()}
    # One style is that reference alone, as amp_ppo.train takes it.
    return paths if len(paths) > 1 else next(iter(paths.values()))
  if config.reference != 'synthetic':
    return _split_paths(config.reference)
  path = os.path.join(workdir, SYNTHETIC_REFERENCE)
  if not os.path.exists(path):
    from amp_ppo.demos import synthetic  # pylint: disable=g-import-not-at-top
    logging.warning(
        'reference=synthetic: recording a placeholder reference of open-loop '
        'periodic actions into %s. It is not a meaningful style; give real '
        'motion with --config.reference=path.npz.', path)
    motion_lib.save_reference(path, **synthetic.periodic_reference(env))
  return [path]


def _split_paths(paths: str) -> List[str]:
  return [p.strip() for p in paths.split(',') if p.strip()]


def _first_style(references):
  """One style's files: the first style's of several."""
  if isinstance(references, dict):
    return next(iter(references.values()))
  return references


# ------------------------------------------------------------ checkpoints


def checkpoint_dir(workdir: str) -> str:
  return os.path.join(workdir, CHECKPOINT_DIR)


def _staging_dir(workdir: str) -> str:
  return os.path.join(checkpoint_dir(workdir), _STAGING_DIR)


def latest_checkpoint(workdir: str) -> Optional[Tuple[int, str]]:
  """(total step, step dir) of the newest published checkpoint, or None."""
  found = step_checkpoint.step_directories(checkpoint_dir(workdir))
  return found[-1] if found else None


def _publish_checkpoints(workdir: str, step_offset: int,
                         keep: Optional[int]) -> None:
  """Moves complete staging step dirs to their total-step names."""
  final = None
  for step, path in step_checkpoint.step_directories(_staging_dir(workdir)):
    if not step_checkpoint.is_complete(path):
      continue
    final = os.path.join(checkpoint_dir(workdir),
                         f'{step + step_offset:012d}')
    if os.path.exists(final):
      shutil.rmtree(final)
    os.replace(path, final)
  if keep and final:
    step_checkpoint.prune(checkpoint_dir(workdir), keep, final)


@dataclasses.dataclass(frozen=True)
class _Start:
  """Where training starts: fresh, exactly resumed, or continued.

  An unfinished run resumes exactly (optimiser, environments, keys and loop
  position restored; Brax keeps counting steps), a continued one with the
  offset it was continued with. A finished run whose
  num_timesteps was raised continues from its checkpoint's parameters and
  AMP state (Brax's `restore_checkpoint_path`) for the remaining steps, with
  a fresh PPO optimiser; its steps count on from `step_offset`.
  """
  step: int = 0  # total steps already trained
  step_offset: int = 0  # added to the steps Brax reports
  resume_path: Optional[str] = None
  restore_path: Optional[str] = None


def _start(workdir: str, resume_run: bool, total_steps: int,
           printer: Callable[[str], None]) -> _Start:
  """Call before this run's config.json replaces the previous run's."""
  latest = latest_checkpoint(workdir) if resume_run else None
  if resume_run and latest is None:
    printer(f'--resume: no checkpoint in {workdir} yet; starting fresh.')
  if latest is None:
    return _Start()
  step, path = latest
  if step < load_run_config(workdir).ppo.num_timesteps:
    # A continued run counts its steps from 0 and is published with its
    # offset added: the resume state holds Brax's own count.
    offset = step - resume_state.read(path)[1]['env_steps']
    printer(f'resuming the interrupted run exactly from {path} (step {step})')
    return _Start(step=step, step_offset=offset, resume_path=path)
  printer(f'continuing the finished run from {path} (step {step}) up to '
          f'{total_steps} steps, with a fresh PPO optimiser')
  return _Start(step=step, step_offset=step, restore_path=path)


# --------------------------------------------------------------- training


def _train_kwargs(config: ml_collections.ConfigDict, workdir: str,
                  env: envs.Env, env_kwargs: Dict[str, Any], use_amp: bool,
                  references: List[str], start: _Start) -> Dict[str, Any]:
  ppo = config.ppo.to_dict()
  if start.step_offset:
    # Only the remaining steps, reported as often as in the whole run.
    remaining = ppo['num_timesteps'] - start.step_offset
    ppo['num_evals'] = max(2, math.ceil(
        ppo.get('num_evals', 1) * remaining / ppo['num_timesteps']))
    ppo['num_timesteps'] = remaining
  kwargs = dict(environment=env,
                network_factory=network_factory(config.network),
                **env_kwargs, **ppo)
  kwargs.update(save_checkpoint_path=_staging_dir(workdir),
                save_resume_state=True,
                keep_checkpoints=config.get('keep_checkpoints'),
                resume_checkpoint_path=start.resume_path,
                restore_checkpoint_path=start.restore_path)
  feature_fn = load_feature_fn(config.feature_fn, env)
  info_feature_key = config.info_feature_key or None
  if use_amp:
    kwargs.update(amp_reference=references, amp_feature_fn=feature_fn,
                  amp_info_feature_key=info_feature_key)
    kwargs.update({f'amp_{name}': _plain(value)
                   for name, value in config.amp.to_dict().items()})
  else:  # Measured as the AMP run is, for curves.png; PPO trains as ever.
    kwargs['style_reference'] = training.StyleReference(
        references, feature_fn=feature_fn, info_feature_key=info_feature_key,
        history_length=config.amp.history_length)
  return kwargs


def check_styles(config: ml_collections.ConfigDict, baseline: bool) -> None:
  """Refuses what a run of several styles cannot do; before any training."""
  if not style_names(config):
    return
  if baseline:
    raise ValueError(
        'a PPO-only baseline has no style command, so it has no style table '
        'to compare with a run of several styles; drop --baseline (the '
        'config\'s compare_to_ppo).')
  if config.amp.get('style_info_key'):
    raise ValueError(
        'config.amp.style_info_key: the final evaluation of python -m '
        'amp_ppo.main commands each style itself, which an environment that '
        'draws its own command does not allow; train it with amp_ppo.train '
        'directly, or drop style_info_key.')


def style_names(config: ml_collections.ConfigDict) -> Optional[List[str]]:
  """The styles of a config of several (`reference` a mapping), else None.

  A mapping of one style is that style's reference alone.
  """
  if isinstance(config.reference, str) or len(config.reference) < 2:
    return None
  return list(config.reference)


def _flat_style_reward(amp: ml_collections.ConfigDict) -> float:
  """A tenth of the style reward a logit of 0 earns: below it, flat."""
  at_zero = float(losses.reward_fn(amp.loss)(jnp.zeros(())))
  return 0.1 * amp.style_reward_scale * at_zero


def _plain(value):
  return tuple(value) if isinstance(value, list) else value


def _progress_fn(workdir: str, start: _Start, total_steps: int,
                 keep: Optional[int], log: outputs.MetricsLog,
                 monitor: outputs.DiscriminatorMonitor,
                 warnings: List[str], printer: Callable[[str], None]):
  """Brax progress_fn: checkpoints, metrics, progress line, warnings."""
  progress = outputs.ProgressPrinter(start.step, total_steps)
  commands = outputs.StyleCommandMonitor()

  def progress_fn(local_step, metrics):
    # Brax calls this right after it saved this step's checkpoint.
    _publish_checkpoints(workdir, start.step_offset, keep)
    if local_step == 0 and start.step_offset:
      return  # the restored policy's eval repeats the last one recorded
    step = start.step_offset + int(local_step)
    scalars = outputs.scalar_metrics(metrics)
    log.write(step, scalars)
    printer(progress.line(step, scalars))
    for warning in (monitor.observe(step, scalars),
                    commands.observe(step, scalars)):
      if warning:
        logging.warning('AMP: %s', warning)
        printer(f'WARNING: {warning}')
        warnings.append(warning)

  return progress_fn


def _train(config, workdir, env, env_kwargs, use_amp, references, start,
           printer):
  """Trains what remains of the run; returns (policy, step, warnings)."""
  total_steps = config.ppo.num_timesteps
  if start.step >= total_steps and start.step_offset:
    printer(f'already trained {start.step} of {total_steps} steps; raise '
            '--config.ppo.num_timesteps to train longer. Evaluating only.')
    return (policy_from_checkpoint(config, env, start.restore_path),
            start.step, [])
  shutil.rmtree(_staging_dir(workdir), ignore_errors=True)  # torn saves
  log = outputs.MetricsLog(workdir)
  warnings = []
  monitor = outputs.DiscriminatorMonitor(
      flat_style_reward=_flat_style_reward(config.amp),
      **config.monitor.to_dict())
  kwargs = _train_kwargs(config, workdir, env, env_kwargs, use_amp,
                         references, start)
  keep = config.get('keep_checkpoints')
  kwargs['progress_fn'] = _progress_fn(workdir, start, total_steps, keep,
                                       log, monitor, warnings, printer)
  try:
    make_policy, params, _ = training.train(**kwargs)
  finally:
    log.close()
    _publish_checkpoints(workdir, start.step_offset, keep)
  latest = latest_checkpoint(workdir)
  return (make_policy(params, deterministic=True),
          latest[0] if latest else total_steps, warnings)


# ------------------------------------------------------------- evaluation


def evaluate(config: ml_collections.ConfigDict, env: envs.Env, references,
             policy: Callable) -> Dict[str, Any]:
  """The final evaluation of `policy` (deterministic rollouts).

  `references` as `reference_paths` returns them; with several styles, the
  environments are commanded each style in turn (evaluation.evaluate_policy).
  """
  feature_fn = load_feature_fn(config.feature_fn, env)
  frame_fn = features.frame_fn_for(env, feature_fn,
                                   config.info_feature_key or None)

  def windows_of(paths):
    motion = evaluation.reference_frames(
        env, motion_lib.load_reference(paths), feature_fn)
    return evaluation.reference_windows(
        motion, config.amp.history_length, seed=config.evaluation.seed)

  if isinstance(references, dict):  # Each style's, in the mapping's order.
    windows = {name: windows_of(paths) for name, paths in references.items()}
  else:
    windows = windows_of(references)
  return evaluation.evaluate_policy(
      env, policy, frame_fn, windows, num_envs=config.evaluation.num_envs,
      num_steps=config.evaluation.num_steps, seed=config.evaluation.seed,
      action_repeat=config.ppo.get('action_repeat', 1))


def _render(env, rollout, workdir, printer) -> Optional[str]:
  if not evaluation.can_render(env):
    printer('rollout.html skipped: brax.io.html draws Brax systems only.')
    return None
  path = os.path.join(workdir, ROLLOUT_HTML)
  evaluation.render_html(env, rollout, path)
  return path


def _preview_robot(env_config):
  """amp_ppo.motion's drawing of a Playground robot it knows; else None."""
  if env_config.suite != 'playground':
    return None
  from amp_ppo.robots import presets  # pylint: disable=g-import-not-at-top
  from amp_ppo.robots import robot_model  # pylint: disable=g-import-not-at-top
  if presets.target_for(env_config.name) is None:
    return None
  return robot_model.load_robot(env_config.name)


def _write_previews(env_config, env, rollout, references, workdir,
                    printer) -> Dict[str, Any]:
  """The final policy beside its reference, drawn alike; report fields.

  For the Playground robots amp_ppo.motion has presets for (their feet);
  Brax systems get rollout.html instead.
  """
  robot = _preview_robot(env_config)
  if robot is None:
    return {'previews': []}
  from amp_ppo.robots import preview  # pylint: disable=g-import-not-at-top
  clips = []
  motion = motion_lib.load_reference(references)
  if motion.kind == 'state':
    clip = motion.clips[0]
    clips.append(preview.Clip('reference', np.asarray(clip.qpos),
                              float(clip.fps)))
  alive = rollout.alive[0]
  physics = rollout.first_env_states  # MJX data of env 0, [T+1, ...]
  clips.append(preview.Clip('policy', np.asarray(physics.qpos)[alive],
                            1.0 / float(env.dt)))
  return outputs.write_previews(robot, clips, workdir,
                                title=f'final policy on {env_config.name}',
                                printer=printer)


# ---------------------------------------------------------------- the run


def prepare_workdir(workdir: str, resume: bool, overwrite: bool) -> None:
  """Creates the workdir; refuses to mix a new run into an old one."""
  has_outputs = (latest_checkpoint(workdir) is not None or os.path.exists(
      os.path.join(workdir, outputs.METRICS_FILE)))
  if has_outputs and not resume:
    if not overwrite:
      raise FileExistsError(
          f'{workdir} already holds a run; pass --resume to continue it, '
          '--overwrite to start over, or choose another --workdir.')
    shutil.rmtree(workdir)
  os.makedirs(workdir, exist_ok=True)


def run_experiment(config: ml_collections.ConfigDict, workdir: str, *,
                   use_amp: bool = True, resume: bool = False,
                   render: bool = True,
                   baseline_records: Optional[List[Dict[str, float]]] = None,
                   printer: Callable[[str], None] = print) -> RunResult:
  """Trains (or resumes), evaluates and writes every output of one run."""
  started = time.time()
  workdir = os.path.abspath(workdir)  # Orbax takes absolute paths only.
  os.makedirs(workdir, exist_ok=True)
  start = _start(workdir, resume, config.ppo.num_timesteps, printer)
  with open(os.path.join(workdir, CONFIG_FILE), 'w') as f:
    f.write(config.to_json_best_effort(indent=2))
  env, env_kwargs = make_env(config.env)
  references = reference_paths(config, env, workdir)
  policy, steps, warnings = _train(config, workdir, env, env_kwargs, use_amp,
                                   references, start, printer)
  printer('evaluating the final policy...')
  result = evaluate(config, env, references, policy)
  rollout = result.pop('rollout')
  rollout_html = _render(env, rollout, workdir, printer) if render else None
  # Environment 0 of several styles is commanded the first.
  previews = _write_previews(config.env, env, rollout,
                             _first_style(references), workdir, printer)
  records = outputs.read_metrics(workdir)
  outputs.plot_curves(records,
                      os.path.join(workdir, outputs.CURVES_FILE),
                      baseline=baseline_records or ())
  ignored = _final_style_warning(result, printer)
  if ignored:
    warnings.append(ignored)
  report = _report(config, use_amp, steps, started, records, result,
                   references, warnings, workdir, rollout_html)
  report.update(previews)
  outputs.write_json(os.path.join(workdir, outputs.REPORT_FILE), report)
  return RunResult(workdir=workdir, report=report, records=records)


def _report(config, use_amp, steps, started, records, result, references,
            warnings, workdir, rollout_html) -> Dict[str, Any]:
  last_eval = outputs.last_evaluation(records)
  latest = latest_checkpoint(workdir)
  return {
      'env': config.env.name,
      'amp': use_amp,
      'steps': steps,
      'wall_time_seconds': round(time.time() - started, 1),
      'final_return': result['episode_return'],
      'final_episode_length': result['episode_length'],
      'brax_eval_episode_reward': last_eval.get(outputs.RETURN_KEY),
      evaluation.FINAL_STYLE_DISTANCE_KEY: (
          result[evaluation.FINAL_STYLE_DISTANCE_KEY]),
      'style_metric': (
          'sliced 2-Wasserstein distance between feature windows of '
          f'{config.evaluation.num_envs} deterministic rollouts and of the '
          'reference, both normalised by the reference mean/std (0 = same '
          'distribution)'),
      'num_policy_windows': result['num_policy_windows'],
      'reference': references,
      'checkpoint': latest[1] if latest else None,
      'rollout_html': rollout_html,
      'discriminator_warnings': warnings,
      **_style_report(result),
  }


def _style_report(result) -> Dict[str, Any]:
  """report.json's fields of a policy of several styles (else none)."""
  table = result.get(evaluation.FINAL_STYLE_TABLE_KEY)
  if table is None:
    return {}
  return {
      'styles': list(table),
      evaluation.FINAL_STYLE_TABLE_KEY: table,
      'style_table_metric': (
          'style_table[commanded][reference]: style distance of the '
          'rollouts commanded one style to each style\'s reference, in the '
          'unit of all references\' windows pooled; '
          'style_distance is its diagonal mean'),
      'style_command_ratio': style_metrics.command_ratios(table),
      evaluation.REFERENCE_SEPARATION_KEY: result[
          evaluation.REFERENCE_SEPARATION_KEY],
      'final_return_per_style': result['episode_return_per_style'],
  }


def _final_style_warning(result, printer) -> Optional[str]:
  """Prints the final style table; the warning if a command is ignored."""
  table = result.get(evaluation.FINAL_STYLE_TABLE_KEY)
  if table is None:
    return None
  printer('style distance of the final policy, commanded style (rows) to '
          'each reference (columns):\n' + style_metrics.format_table(table))
  printer('the references\' own separation:\n' + style_metrics.format_table(
      result[evaluation.REFERENCE_SEPARATION_KEY], 'reference \\ reference'))
  ignored = style_metrics.ignored_commands(table)
  if not ignored:
    return None
  warning = 'final policy: ' + style_metrics.ignored_command_message(ignored)
  logging.warning('AMP: %s', warning)
  printer(f'WARNING: {warning}')
  return warning


def load_run_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a workdir's run was started with (from config.json)."""
  with open(os.path.join(workdir, CONFIG_FILE)) as f:
    return ml_collections.ConfigDict(json.load(f))
