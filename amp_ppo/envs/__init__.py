"""Benchmark environments of amp_ppo (Brax `PipelineEnv`s), by name."""

from brax import envs

from amp_ppo.envs import command_ant

_ENVIRONMENTS = {'command_ant': command_ant.CommandAnt}


def get_environment(name: str, **kwargs) -> envs.Env:
  if name not in _ENVIRONMENTS:
    raise ValueError(f'unknown amp_ppo environment {name!r}; choose from '
                     f'{sorted(_ENVIRONMENTS)}.')
  return _ENVIRONMENTS[name](**kwargs)
