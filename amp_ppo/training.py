"""`amp_ppo.train`: Brax PPO's `train` plus Adversarial Motion Priors.

The function takes every parameter of the pinned Brax `ppo.train`, with the
same names, order and defaults, followed by keyword-only AMP arguments. With
`amp_reference=None` it calls the vendored Brax trainer with exactly the
arguments given, so the run is Brax PPO bit for bit.

AMP arguments (all keyword-only):
  amp_reference: path, list of paths or `amp_ppo.reference.ReferenceMotion`;
    AMP is on exactly when this is given.
  amp_feature_fn: physics state -> feature vector [F]; used for both the
    reference frames and the policy's states. Default:
    `amp_ppo.features.default_feature_fn(environment)`.
  amp_info_feature_key: read the policy's features from
    `state.info[amp_info_feature_key]` (written by the environment) instead;
    the reference must then hold precomputed `features`.
  amp_<setting>: every field of `amp_ppo.config.AmpConfig`, e.g.
    `amp_style_weight`, `amp_loss`, `amp_disc_learning_rate`; see its
    docstring for meanings and defaults.
"""

import dataclasses
import inspect

from amp_ppo import config as amp_config
from brax_ppo_vendored import train as _vendored

# Parameters of the vendored trainer that are amp_ppo's own plumbing rather
# than Brax's public interface.
_INTERNAL_PARAMETERS = ('amp',)
_SETTING_PREFIX = 'amp_'
_AMP_INPUTS = ('amp_reference', 'amp_feature_fn', 'amp_info_feature_key')
_AMP_SETTINGS = {
    _SETTING_PREFIX + f.name: f.default
    for f in dataclasses.fields(amp_config.AmpConfig)
}


def _signature() -> inspect.Signature:
  brax_parameters = [
      p for name, p in inspect.signature(_vendored.train).parameters.items()
      if name not in _INTERNAL_PARAMETERS
  ]
  amp_parameters = [
      inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None)
      for name in _AMP_INPUTS
  ] + [
      inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
      for name, default in _AMP_SETTINGS.items()
  ]
  return inspect.Signature(brax_parameters + amp_parameters)


_SIGNATURE = _signature()


def train(*args, **kwargs):
  bound = _SIGNATURE.bind(*args, **kwargs)
  given_amp_arguments = [
      name for name in bound.arguments
      if name in _AMP_INPUTS[1:] or name in _AMP_SETTINGS
  ]
  bound.apply_defaults()
  brax_arguments = dict(bound.arguments)
  amp_arguments = {
      name: brax_arguments.pop(name)
      for name in list(brax_arguments)
      if name in _AMP_INPUTS or name in _AMP_SETTINGS
  }
  if amp_arguments['amp_reference'] is None:
    if given_amp_arguments:
      raise ValueError(
          f'AMP arguments {sorted(given_amp_arguments)} were given without '
          'amp_reference; AMP is on only with a reference motion. Pass '
          'amp_reference=path/to/reference.npz, or drop those arguments.')
    return _vendored.train(**brax_arguments)

  from amp_ppo import builder  # pylint: disable=g-import-not-at-top

  config = amp_config.AmpConfig(**{
      name[len(_SETTING_PREFIX):]: value
      for name, value in amp_arguments.items() if name in _AMP_SETTINGS
  })
  amp = builder.build_amp(
      environment=brax_arguments['environment'],
      config=config,
      reference=amp_arguments['amp_reference'],
      feature_fn=amp_arguments['amp_feature_fn'],
      info_feature_key=amp_arguments['amp_info_feature_key'],
      ppo_num_minibatches=brax_arguments['num_minibatches'],
      seed=brax_arguments['seed'],
      wrap_env=brax_arguments['wrap_env'])
  return _vendored.train(**brax_arguments, amp=amp)


train.__signature__ = _SIGNATURE
train.__doc__ = (_vendored.train.__doc__ or '') + __doc__
