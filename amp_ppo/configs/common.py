"""Building blocks shared by the experiment configs.

An experiment config is an `ml_collections.ConfigDict` with these sections:

  env        where the environment comes from: `suite` ('brax' or
             'playground'), `name`, and for Brax a `backend` and `kwargs`.
  reference  the reference motion: an npz path, several joined by commas, or
             'synthetic' for a placeholder made from the environment itself
             (see amp_ppo/demos/synthetic.py; bring real motion for
             real use). Several styles in one policy: a ConfigDict of style
             name -> paths (`with_styles`; e.g. configs/multi_style.py),
             with the amp section's style_* settings.
  feature_fn 'package.module:factory', where factory(env) returns a
             (q, qd) -> features function; '' for amp_ppo's default.
  info_feature_key  read features from state.info[key] instead ('' = off).
  network    policy and value MLP sizes.
  ppo        keyword arguments of Brax's `ppo.train` (any of them may be
             added here).
  amp        every field of `amp_ppo.amp.config.AmpConfig`.
  evaluation the final deterministic rollouts that measure return and style.
  monitor    when to warn about an unhealthy discriminator.
  compare_to_ppo  also train a PPO-only baseline (the `--baseline` default).
  keep_checkpoints  keep only the newest N checkpoints of the run (None:
             all).

Any field can be overridden on the command line, e.g.
`--config.amp.style_weight=0.7 --config.ppo.num_timesteps=500000`.
"""

import dataclasses
from typing import Dict, Tuple

import ml_collections
from ml_collections import config_dict

from amp_ppo.amp import config as amp_config


def amp_section(**overrides) -> ml_collections.ConfigDict:
  """AmpConfig's fields with their defaults, then `overrides`."""
  values = {f.name: f.default for f in dataclasses.fields(amp_config.AmpConfig)}
  unknown = set(overrides) - set(values)
  if unknown:
    raise ValueError(f'not AmpConfig fields: {sorted(unknown)}')
  values.update(overrides)
  section = ml_collections.ConfigDict()
  for name, value in values.items():
    # A None default (e.g. disc_num_minibatches) still needs a type, or the
    # command line could not override it.
    section[name] = (config_dict.placeholder(_PLACEHOLDER_TYPES.get(name, int))
                     if value is None else value)
  return section


# AmpConfig fields whose default is None and whose type is not int.
_PLACEHOLDER_TYPES = {'style_probabilities': dict, 'style_info_key': str}


def base_config() -> ml_collections.ConfigDict:
  """Sections every experiment has, with neutral defaults."""
  config = ml_collections.ConfigDict()
  config.env = ml_collections.ConfigDict(
      dict(suite='brax', name='', backend='mjx', kwargs={}))
  config.reference = 'synthetic'
  config.feature_fn = ''
  config.info_feature_key = ''
  config.network = ml_collections.ConfigDict(dict(
      policy_hidden_layer_sizes=(32, 32, 32, 32),
      value_hidden_layer_sizes=(256, 256, 256, 256, 256)))
  config.ppo = ml_collections.ConfigDict()
  config.amp = amp_section()
  config.evaluation = ml_collections.ConfigDict(dict(
      num_envs=16,      # rollouts of the final policy
      num_steps=1000,   # steps per rollout (episodes may end sooner)
      seed=0))
  # Also train PPO alone with the same settings and compare (--baseline).
  config.compare_to_ppo = False
  # amp_ppo.train's keep_checkpoints; a placeholder so that
  # --config.keep_checkpoints=N can set it.
  config.keep_checkpoints = config_dict.placeholder(int)
  config.monitor = ml_collections.ConfigDict(dict(
      saturated_accuracy=0.95,  # mean D accuracy above this: saturated
      no_signal_margin=0.05,    # within 0.5 +- this: no signal
      patience=3))              # consecutive reports before warning
  return config


def with_styles(config: ml_collections.ConfigDict,
                styles: Dict[str, str]) -> ml_collections.ConfigDict:
  """Sets `config.reference` to a mapping of style name -> paths, in place.

  Each value is what `reference` takes for one style (paths joined by
  commas); override one with `--config.reference.<style>=path.npz`.
  """
  del config.reference  # A str field cannot take a ConfigDict.
  config.reference = ml_collections.ConfigDict(dict(styles))
  return config


def smoke_ppo(ppo: ml_collections.ConfigDict) -> None:
  """Shrinks `ppo` in place to one short CPU iteration (for smoke tests)."""
  ppo.update(dict(num_timesteps=256, num_evals=2, num_envs=4, batch_size=4,
                  num_minibatches=2, unroll_length=8, num_updates_per_batch=1,
                  episode_length=32, num_eval_envs=2))


def smoke_network(config: ml_collections.ConfigDict) -> None:
  config.network.policy_hidden_layer_sizes = (8,)
  config.network.value_hidden_layer_sizes = (8,)
  config.amp.disc_hidden_layer_sizes = (16,)
  config.amp.disc_minibatch_size = 16
  config.amp.replay_size = 256
  config.evaluation.num_envs = 2
  config.evaluation.num_steps = 32


def gpu_amp_section() -> ml_collections.ConfigDict:
  """AMP settings for large systems on a GPU.

  The discriminator is the reference implementations' (1024, 512): next to a
  large system's simulation on a GPU its cost matters less than on a CPU,
  where amp_ppo's default is (256, 256).
  """
  return amp_section(disc_hidden_layer_sizes=(1024, 512))


def apply_gpu_preset(config: ml_collections.ConfigDict, preset: str,
                     config_name: str, smoke_backend: str = '',
                     other_presets: Tuple[str, ...] = ()
                    ) -> ml_collections.ConfigDict:
  """The presets of a GPU config: '' or 'gpu' as is, 'smoke' shrunk for CPU.

  Args:
    config: the GPU config, changed in place for 'smoke'.
    preset: the text after ':' in --config.
    config_name: names the config in the error for an unknown preset.
    smoke_backend: the Brax backend of the smoke preset ('' keeps it).
    other_presets: presets the config handles itself, named in the error.
  """
  if preset in ('', 'gpu'):
    return config
  if preset == 'smoke':
    if smoke_backend:
      config.env.backend = smoke_backend
    smoke_ppo(config.ppo)
    smoke_network(config)
    return config
  known = ', '.join(repr(p) for p in ('', 'smoke') + tuple(other_presets))
  raise ValueError(f'unknown preset {preset!r} of the {config_name} config; '
                   f'use one of {known}.')
