"""The larger systems' configs start and run one training iteration on CPU.

Only training is run (no final evaluation), with the `smoke` presets: the
point is that every setting reaches the trainer and compiles. The Playground
robots' smoke presets run in tests/integration/test_playground_locomotion.py,
whose run of Playground's published call they are.
"""

import sys

import jax
import pytest

from amp_ppo.configs import ant
from amp_ppo.configs import command_ant
from amp_ppo.configs import humanoid
from amp_ppo.configs import playground
from amp_ppo.run import experiment
from amp_ppo import training


def _plain(value):
  return tuple(value) if isinstance(value, list) else value


def _hidden_widths(params):
  """Output widths of a network's dense layers but the last, in order."""
  kernels = [leaf for path, leaf in
             jax.tree_util.tree_flatten_with_path(params)[0]
             if 'kernel' in jax.tree_util.keystr(path)]
  return tuple(kernel.shape[-1] for kernel in kernels[:-1])


def _train_one_iteration(config, workdir):
  config.ppo.run_evals = False
  env, env_kwargs = experiment.make_env(config.env)
  references = experiment.reference_paths(config, env, workdir)
  kwargs = experiment._train_kwargs(config, workdir, env, env_kwargs, True,
                                    references, experiment._Start())
  # Every PPO and AMP setting of the config is the trainer's argument.
  for name, value in config.ppo.items():
    assert kwargs[name] == value, name
  for name, value in config.amp.items():
    assert kwargs[f'amp_{name}'] == _plain(value), name
  steps = []
  kwargs['progress_fn'] = lambda step, metrics: steps.append(step)
  _, params, _ = training.train(**kwargs)
  return steps, params


@pytest.mark.parametrize('config_module', [ant, humanoid, command_ant],
                         ids=['ant', 'humanoid', 'command_ant'])
def test_smoke_preset_runs_one_iteration_on_cpu(config_module, tmp_path):
  config = config_module.get_config('smoke')
  steps, params = _train_one_iteration(config, str(tmp_path))
  assert steps and steps[-1] >= config.ppo.num_timesteps
  assert len(params) == 4  # normalizer, policy, value, AMP state
  # The networks were built with the config's sizes.
  assert _hidden_widths(params[1]) == tuple(
      config.network.policy_hidden_layer_sizes)
  assert _hidden_widths(params[2]) == tuple(
      config.network.value_hidden_layer_sizes)
  assert _hidden_widths(params[3].disc_params) == tuple(
      config.amp.disc_hidden_layer_sizes)


def test_gpu_presets_keep_gpu_sizes():
  for module in (ant, humanoid, playground):
    config = module.get_config()
    assert config.ppo.num_envs >= 1024
    assert config.ppo.num_timesteps >= 10_000_000
    assert config.env.backend != 'spring'
    assert config.amp.disc_hidden_layer_sizes == (1024, 512)


def test_command_ant_trains_on_the_trot_at_the_commanded_speeds():
  from amp_ppo.demos import ant_gait  # pylint: disable=g-import-not-at-top
  config = command_ant.get_config()
  assert (config.env.suite, config.env.name) == ('amp_ppo', 'command_ant')
  # Not the ant preset's single-speed trot, nor its gradient penalty.
  assert config.reference == ant_gait.SPEEDS_REFERENCE
  assert config.amp.gradient_penalty_weight == 5.0
  assert ant.get_config('cpu').amp.gradient_penalty_weight == 1.0


@pytest.mark.parametrize('config_module',
                         [ant, command_ant, humanoid, playground])
def test_unknown_preset_is_named(config_module):
  with pytest.raises(ValueError, match="unknown preset 'fast'"):
    config_module.get_config('fast')


def test_playground_config_explains_what_is_missing(monkeypatch):
  config = playground.get_config('smoke')
  # As if Playground were not installed: importing it raises ImportError.
  monkeypatch.setitem(sys.modules, 'mujoco_playground', None)
  with pytest.raises(experiment.UnavailableEnvironmentError,
                     match='pip install playground'):
    experiment.make_env(config.env)


@pytest.mark.parametrize('robot', ['go1', 'humanoid', 'g1', 't1'])
def test_playground_presets_are_playgrounds_published_settings(robot):
  locomotion_params = pytest.importorskip(
      'mujoco_playground.config.locomotion_params')
  config = playground.get_config(robot)
  published = locomotion_params.brax_ppo_config(config.env.name).to_dict()
  network = published.pop('network_factory')
  assert config.ppo.to_dict() == {**published, 'seed': 1}
  assert {k: tuple(v) if isinstance(v, (list, tuple)) else v
          for k, v in network.items()} == {
              k: v for k, v in config.network.to_dict().items()
              if k in network}


def test_playground_smoke_presets_shrink_only_the_sizes():
  for robot in ('go1', 'humanoid', 'g1', 't1'):
    full, smoke = (playground.get_config(robot),
                   playground.get_config(f'{robot}_smoke'))
    assert smoke.env == full.env
    assert smoke.ppo.num_envs < full.ppo.num_envs
    for field in ('discounting', 'learning_rate', 'entropy_cost',
                  'normalize_observations', 'max_grad_norm'):
      assert smoke.ppo[field] == full.ppo[field], field
    assert smoke.network.policy_obs_key == full.network.policy_obs_key
  assert playground.get_config('smoke').env.name == 'Go1JoystickFlatTerrain'
