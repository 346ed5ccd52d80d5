"""amp_ppo: Adversarial Motion Priors inside Brax's jitted PPO training epoch.

`amp_ppo.train` is Brax PPO's `train` with the same parameters, plus AMP
keyword arguments; without `amp_reference` it is Brax PPO exactly.
`amp_ppo.commanded_observation` gives a policy of several styles its command.
"""

__version__ = '0.1.0'


def __getattr__(name):
  # Imported lazily: the vendored trainer imports amp_ppo modules itself, and
  # an eager import here would make that import circular.
  if name == 'train':
    from amp_ppo.training import train  # pylint: disable=g-import-not-at-top
    return train
  if name == 'commanded_observation':
    from amp_ppo.amp.style_command import commanded_observation  # pylint: disable=g-import-not-at-top
    return commanded_observation
  if name == 'NonFiniteError':
    from amp_ppo.reliability.finite_check import NonFiniteError  # pylint: disable=g-import-not-at-top
    return NonFiniteError
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
