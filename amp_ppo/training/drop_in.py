"""`amp_ppo.train`: Brax PPO's `train` plus Adversarial Motion Priors.

The function takes every parameter of the pinned Brax `ppo.train`, with the
same names, order and defaults, followed by keyword-only reliability and AMP
arguments. With `amp_reference=None` and no reliability argument it calls the
vendored Brax trainer with exactly the arguments given and an extension
without components (upstream Brax at every hook; only Brax's policy save is
made safe for several processes), so the run is Brax PPO bit for bit.

Reliability arguments (keyword-only; amp_ppo extensions, with or without AMP):
  resume_checkpoint_path: continue a run exactly where it stopped. Give the
    `save_checkpoint_path` of the run (the newest complete step directory in
    it is taken; one interrupted mid-save is skipped) or one step directory.
    Every other argument must be as in the original run (checked: a
    different configuration is refused with the list of differences). The
    result is bit for bit that of an uninterrupted run. Not combinable with
    `restore_params` or `restore_checkpoint_path`.
  save_resume_state: write the full training state (PPO optimiser, env
    states, PRNG keys, loop position; the AMP state is in `amp_state/`) into
    every checkpoint as `resume_state/`, saved with orbax last, so that it
    marks the step directory complete. Default: on with AMP, when resuming
    or with keep_checkpoints (and save_checkpoint_path is given), off for
    plain PPO, whose checkpoints then stay exactly Brax's.
  keep_checkpoints: keep only the newest N complete checkpoints; older ones
    are deleted once a new one is complete. Default None: keep all, as Brax
    does.
  check_finite: stop with `amp_ppo.NonFiniteError` (a FloatingPointError)
    naming the quantity and the environment steps as soon as a loss, a
    gradient norm or a reward becomes NaN or inf; the epoch's checkpoint is
    not written. Checked once per epoch on metrics Brax fetches anyway.
    Adds `training/grad_norm` (PPO's gradient norm) to the metrics. Default:
    on with AMP, off for plain PPO (whose metrics then stay exactly Brax's).
  style_reference: without AMP, measure the style distance against this
    reference at every evaluation (`eval/amp/progress_style_distance`), for
    a PPO-only baseline beside an AMP run; a path, list of paths,
    `ReferenceMotion` or `amp_ppo.training.StyleReference` (which also
    names the features and history length). Training is unchanged. With
    AMP, the distance is always measured against `amp_reference`.

AMP arguments (all keyword-only):
  amp_reference: path, list of paths or `amp_ppo.motion.ReferenceMotion`;
    AMP is on exactly when this is given. Several styles in one policy: a
    mapping of style names to such references. Each environment then holds
    a style command (drawn at every episode start, see
    `amp_style_probabilities` and `amp_style_switch_probability`), the
    policy and value networks observe its one-hot appended to the
    observation (`amp_ppo.commanded_observation` builds it for a deployed
    policy), and the style reward comes from the commanded style's
    discriminator. A mapping of one style is that reference alone.
  amp_feature_fn: physics state -> feature vector [F]; used for both the
    reference frames and the policy's states. Default:
    `amp_ppo.amp.features.default_feature_fn(environment)`.
  amp_info_feature_key: read the policy's features from
    `state.info[amp_info_feature_key]` (written by the environment) instead;
    the reference must then hold precomputed `features`.
  amp_<setting>: every field of `amp_ppo.amp.config.AmpConfig`, e.g.
    `amp_style_weight`, `amp_loss`, `amp_disc_learning_rate`; see its
    docstring for meanings and defaults. With several styles also
    `amp_style_probabilities`, `amp_style_switch_probability`,
    `amp_style_info_key` and `amp_style_discriminator`.
"""

import collections.abc
import dataclasses
import importlib.metadata
import inspect
import os

import jax

from amp_ppo.amp import config as amp_config
from amp_ppo.amp import motion_prior
from amp_ppo.reliability import checkpoint
from amp_ppo.reliability import finite_check
from amp_ppo.reliability import hooks as reliability_hooks
from amp_ppo.reliability import resume_state
from amp_ppo.training import extension as extension_lib
from amp_ppo.brax_ppo_vendored import train as _vendored

# The vendored trainer's parameter that is amp_ppo's own plumbing rather
# than Brax's public interface.
_INTERNAL_PARAMETERS = ('extension',)
_EXTENSIONS = ('resume_checkpoint_path', 'save_resume_state', 'check_finite',
               'keep_checkpoints', 'style_reference')
_SETTING_PREFIX = 'amp_'
_AMP_INPUTS = ('amp_reference', 'amp_feature_fn', 'amp_info_feature_key')
_AMP_SETTINGS = {
    _SETTING_PREFIX + f.name: f.default
    for f in dataclasses.fields(amp_config.AmpConfig)
}
# Settings of several styles: fingerprinted only when given, so a run of one
# style resumes from a checkpoint written before they existed.
_STYLE_SETTINGS = tuple(_SETTING_PREFIX + name
                        for name in amp_config.STYLE_SETTINGS)

# Arguments that do not change what is trained (callbacks, paths, evaluation
# only, checkpoint retention) and so may differ between a run and its
# resumption.
_NOT_FINGERPRINTED = (
    'progress_fn', 'policy_params_fn', 'save_checkpoint_path',
    'restore_checkpoint_path', 'restore_params', 'run_evals', 'num_eval_envs',
    'eval_env', 'deterministic_eval', 'log_training_metrics',
    'training_metrics_steps', 'amp_reference') + _EXTENSIONS


def _signature() -> inspect.Signature:
  brax_parameters = [
      p for name, p in inspect.signature(_vendored.train).parameters.items()
      if name not in _INTERNAL_PARAMETERS
  ]
  extension_parameters = [
      inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None)
      for name in _EXTENSIONS
  ]
  amp_parameters = [
      inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None)
      for name in _AMP_INPUTS
  ] + [
      inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
      for name, default in _AMP_SETTINGS.items()
  ]
  return inspect.Signature(brax_parameters + extension_parameters +
                           amp_parameters)


_SIGNATURE = _signature()


def train(*args, **kwargs):
  bound = _SIGNATURE.bind(*args, **kwargs)
  given_amp_arguments = [
      name for name in bound.arguments
      if name in _AMP_INPUTS[1:] or name in _AMP_SETTINGS
  ]
  bound.apply_defaults()
  brax_arguments = dict(bound.arguments)
  all_arguments = dict(brax_arguments)
  amp_arguments = {
      name: brax_arguments.pop(name)
      for name in list(brax_arguments)
      if name in _AMP_INPUTS or name in _AMP_SETTINGS
  }
  extensions = {name: brax_arguments.pop(name) for name in _EXTENSIONS}
  amp_on = amp_arguments['amp_reference'] is not None
  if not amp_on and given_amp_arguments:
    raise ValueError(
        f'AMP arguments {sorted(given_amp_arguments)} were given without '
        'amp_reference; AMP is on only with a reference motion. Pass '
        'amp_reference=path/to/reference.npz, or drop those arguments.')
  style_reference = extensions.pop('style_reference')
  if amp_on and style_reference is not None:
    raise ValueError('style_reference is for runs without AMP; with AMP the '
                     'style distance is measured against amp_reference.')
  if isinstance(getattr(style_reference, 'reference', style_reference),
                collections.abc.Mapping):
    raise ValueError(
        'style_reference takes one reference: a policy without a style '
        'command has no style table. Give the styles\' references as one '
        'list of paths to measure its distance to all of them together.')
  check_finite, save_state, resume_path, keep = _reliability_settings(
      amp_on, brax_arguments, **extensions)
  if not (amp_on or check_finite or save_state or resume_path or
          style_reference is not None):
    # Exactly Brax PPO.
    return _vendored.train(**brax_arguments,
                           extension=extension_lib.RunExtension())

  amp, motion = None, None
  if amp_on:  # Loaded (and checked) first: a bad file fails before anything.
    from amp_ppo.amp import build  # pylint: disable=g-import-not-at-top
    # One ReferenceMotion, or a dict of two or more styles' motions.
    motion = build.load_references(amp_arguments['amp_reference'])
    if brax_arguments['restore_checkpoint_path'] is not None:
      checkpoint.check_layout(os.fspath(
          brax_arguments['restore_checkpoint_path']))
  reliability = _reliability(all_arguments, brax_arguments, motion,
                             check_finite, save_state, resume_path, keep,
                             amp_on)
  if amp_on:
    config = amp_config.AmpConfig(**{
        name[len(_SETTING_PREFIX):]: value
        for name, value in amp_arguments.items() if name in _AMP_SETTINGS
    })
    amp = build.build_amp(
        environment=brax_arguments['environment'],
        config=config,
        reference=motion,
        feature_fn=amp_arguments['amp_feature_fn'],
        info_feature_key=amp_arguments['amp_info_feature_key'],
        ppo_num_minibatches=brax_arguments['num_minibatches'],
        seed=brax_arguments['seed'],
        wrap_env=brax_arguments['wrap_env'],
        action_repeat=brax_arguments['action_repeat'])
    extension = extension_lib.RunExtension(
        amp=amp, reliability=reliability,
        style=extension_lib.StyleEvaluation(amp))
  else:
    style = None
    if style_reference is not None:
      style = _style_evaluation(brax_arguments, style_reference)
    extension = extension_lib.RunExtension(reliability=reliability,
                                           style=style)
  return _vendored.train(**brax_arguments, extension=extension)


def _style_evaluation(brax_arguments, style_reference):
  """The style evaluation of a run without AMP; checks the reference."""
  from amp_ppo.amp import build  # pylint: disable=g-import-not-at-top
  if not isinstance(style_reference, extension_lib.StyleReference):
    style_reference = extension_lib.StyleReference(style_reference)
  # The AMP setup's static half (features, reference windows) with this
  # history length; nothing of it trains.
  setup = build.build_amp(
      environment=brax_arguments['environment'],
      config=amp_config.AmpConfig(
          history_length=style_reference.history_length),
      reference=style_reference.reference,
      feature_fn=style_reference.feature_fn,
      info_feature_key=style_reference.info_feature_key,
      ppo_num_minibatches=brax_arguments['num_minibatches'],
      seed=brax_arguments['seed'], wrap_env=brax_arguments['wrap_env'],
      action_repeat=brax_arguments['action_repeat'])
  return extension_lib.StyleEvaluation(setup)


def _reliability_settings(amp_on, brax_arguments, resume_checkpoint_path,
                          save_resume_state, check_finite, keep_checkpoints):
  """(check_finite, save_resume_state, resume path, keep_checkpoints).

  Defaults resolved and every value checked, before anything compiles.
  """
  for name, value in (('save_resume_state', save_resume_state),
                      ('check_finite', check_finite)):
    if value is not None and not isinstance(value, bool):
      raise ValueError(f'{name}={value!r}: pass True, False or None (the '
                       'default: on with AMP, off for plain PPO).')
  keeping = keep_checkpoints is not None
  if keeping and (isinstance(keep_checkpoints, bool) or
                  not isinstance(keep_checkpoints, int) or
                  keep_checkpoints < 1):
    raise ValueError(f'keep_checkpoints={keep_checkpoints!r}: pass a '
                     'positive int (how many complete checkpoints to keep), '
                     'or None to keep all.')
  has_path = brax_arguments['save_checkpoint_path'] is not None
  if keeping and not has_path:
    raise ValueError('keep_checkpoints needs save_checkpoint_path, whose step '
                     'directories it deletes.')
  if keeping and save_resume_state is False:
    raise ValueError('keep_checkpoints needs the resume state, which marks a '
                     'checkpoint complete; drop save_resume_state=False.')
  resuming = resume_checkpoint_path is not None
  if check_finite is None:
    check_finite = amp_on
  save_state = save_resume_state
  if save_state is None:
    save_state = (amp_on or resuming or keeping) and has_path
  if save_state and not has_path:
    raise ValueError('save_resume_state=True needs save_checkpoint_path: the '
                     'resume state is written into its step directories.')
  # With several processes (jax.distributed) too: every process saves its
  # own environment states and keys (amp_ppo/reliability/multiprocess.py).
  return check_finite, save_state, resume_checkpoint_path, keep_checkpoints


def _reliability(all_arguments, brax_arguments, motion, check_finite,
                 save_state, resume_path, keep_checkpoints,
                 amp_on) -> reliability_hooks.Reliability:
  """The run's Reliability; checks a resume against this run up front.

  Runs before anything compiles.

  Args:
    all_arguments: every argument of amp_ppo.train, defaults applied.
    brax_arguments: those for the vendored trainer.
    motion: the loaded reference motion, or None without AMP.
    check_finite: resolved setting.
    save_state: resolved setting.
    resume_path: resume_checkpoint_path.
    keep_checkpoints: resolved setting.
    amp_on: whether AMP's quantities are checked and its state saved.

  Returns:
    The Reliability to pass to the vendored trainer.
  """
  fingerprint = {}
  for name, value in all_arguments.items():
    if name == 'environment':  # Every setting, named: see `settings`.
      fingerprint.update(resume_state.settings(value, name))
    elif name in _STYLE_SETTINGS and value == _AMP_SETTINGS[name]:
      continue
    elif name not in _NOT_FINGERPRINTED:
      fingerprint[name] = resume_state.describe(value)
  devices = jax.local_device_count()
  if brax_arguments['max_devices_per_host']:
    devices = min(devices, brax_arguments['max_devices_per_host'])
  fingerprint['(devices)'] = f'{jax.process_count()} x {devices}'
  if motion is not None:  # Its content, wherever it was loaded from.
    describe_motion = lambda m: resume_state.describe([
        (clip.fps, clip.weight, clip.qpos, clip.qvel, clip.features)
        for clip in m.clips])
    if isinstance(motion, dict):  # Several styles, in their order.
      fingerprint['(amp reference)'] = ', '.join(
          f'{name}: {describe_motion(m)}' for name, m in motion.items())
    else:
      fingerprint['(amp reference)'] = describe_motion(motion)
  versions = {name: importlib.metadata.version(name)
              for name in ('amp_ppo', 'brax', 'jax', 'jaxlib')}
  result = reliability_hooks.Reliability(
      check_finite=check_finite, save_state=save_state,
      fingerprint=fingerprint, versions=versions,
      eval_pending=brax_arguments['num_evals'] > 0 and
      brax_arguments['run_evals'], keep_checkpoints=keep_checkpoints,
      checked=finite_check.quantities(
          motion_prior.CHECKED_METRICS if amp_on else {}),
      state_item=extension_lib.AMP_STATE_ITEM if amp_on else None)
  if resume_path is not None:
    result.prepare_resume(resume_path)
    for name in ('restore_checkpoint_path', 'restore_params'):
      if brax_arguments[name] is not None:
        raise ValueError(
            f'resume_checkpoint_path and {name} were both given; the resume '
            'state holds the whole training state, so pass only '
            'resume_checkpoint_path.')
  return result


train.__signature__ = _SIGNATURE
train.__doc__ = (_vendored.train.__doc__ or '') + __doc__
