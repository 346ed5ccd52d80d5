"""The larger systems' configs start and run one training iteration on CPU.

Only training is run (no final evaluation), with the `smoke` presets: the
point is that every setting reaches the trainer and compiles.
"""

import importlib.util
import subprocess

import pytest

from amp_ppo.configs import ant
from amp_ppo.configs import humanoid
from amp_ppo.configs import playground
from amp_ppo.run import experiment
from amp_ppo import training


def _train_one_iteration(config, workdir):
  config.ppo.run_evals = False
  env, env_kwargs = experiment.make_env(config.env)
  references = experiment.reference_paths(config, env, workdir)
  kwargs = experiment._train_kwargs(config, workdir, env, env_kwargs, True,
                                    references, experiment._Start())
  steps = []
  kwargs['progress_fn'] = lambda step, metrics: steps.append(step)
  _, params, _ = training.train(**kwargs)
  return steps, params


@pytest.mark.parametrize('config_module', [ant, humanoid],
                         ids=['ant', 'humanoid'])
def test_gpu_config_runs_one_iteration_on_cpu(config_module, tmp_path):
  config = config_module.get_config('smoke')
  steps, params = _train_one_iteration(config, str(tmp_path))
  assert steps and steps[-1] >= config.ppo.num_timesteps
  assert len(params) == 4  # normalizer, policy, value, AMP state


def test_gpu_presets_keep_gpu_sizes():
  for module in (ant, humanoid, playground):
    config = module.get_config()
    assert config.ppo.num_envs >= 1024
    assert config.ppo.num_timesteps >= 10_000_000
    assert config.env.backend != 'spring'
    assert config.amp.disc_hidden_layer_sizes == (1024, 512)


@pytest.mark.parametrize('config_module', [ant, humanoid, playground])
def test_unknown_preset_is_named(config_module):
  with pytest.raises(ValueError, match="unknown preset 'fast'"):
    config_module.get_config('fast')


@pytest.mark.skipif(importlib.util.find_spec('mujoco_playground') is not None,
                    reason='MuJoCo Playground is installed')
def test_playground_config_explains_what_is_missing():
  config = playground.get_config('smoke')
  with pytest.raises(experiment.UnavailableEnvironmentError,
                     match='pip install playground'):
    experiment.make_env(config.env)


@pytest.mark.skipif(importlib.util.find_spec('mujoco_playground') is None,
                    reason='needs MuJoCo Playground (pip install playground)')
def test_playground_config_runs_one_iteration_on_cpu(tmp_path):
  config = playground.get_config('smoke')
  try:
    experiment.make_env(config.env)
  except (OSError, subprocess.CalledProcessError) as e:
    # Playground fetches its robot models on first use.
    pytest.skip(f'MuJoCo Playground cannot load its models here: {e}')
  steps, _ = _train_one_iteration(config, str(tmp_path))
  assert steps
