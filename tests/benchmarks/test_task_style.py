"""benchmarks/task_style.py builds each system's config, Go1 only with motion.

No training here (a tiny Go1 run takes minutes on a CPU; it was run by hand
with `--system go1_smoke`, README "Task and style on Go1, GPU").
"""

import pytest

from benchmarks import task_style


def test_command_ant_is_the_default_system():
  # Stated here, not rebuilt with the config's own get_config: the
  # benchmark's system is the command-tracking ant on the multi-speed trot,
  # 5M steps, gradient penalty 5, with the run's seed everywhere.
  config = task_style.load_config(seed=1)
  assert (config.env.suite, config.env.name) == ('amp_ppo', 'command_ant')
  assert config.reference.endswith('motion/data/ant_trot_speeds.npz')
  assert config.ppo.num_timesteps == 5_000_000
  assert config.amp.gradient_penalty_weight == 5.0
  assert (config.amp.task_weight, config.amp.style_weight) == (0.5, 0.5)
  assert config.ppo.seed == config.evaluation.seed == 1
  assert task_style.load_config(
      seed=1, num_timesteps=5000).ppo.num_timesteps == 5000


def test_go1_trains_on_the_given_reference(tmp_path):
  reference = tmp_path / 'trot.npz'
  reference.write_bytes(b'')
  config = task_style.load_config(seed=0, system='go1_smoke',
                                  reference=str(reference))
  assert config.env.name == 'Go1JoystickFlatTerrain'
  assert config.reference == str(reference)
  assert task_style.SYSTEMS['go1'][2].startswith('eval/episode_reward/')


@pytest.mark.parametrize('reference, message', [
    (None, 'needs --reference'), ('/nonexistent/trot.npz', 'no such file')])
def test_go1_without_a_motion_file_stops_before_training(reference, message):
  with pytest.raises(ValueError, match=message):
    task_style.main(['--system', 'go1', '--seeds', '0'] + (
        ['--reference', reference] if reference else []))


def test_impl_picks_playgrounds_mjx_implementation(tmp_path):
  reference = tmp_path / 'walk.npz'
  reference.write_bytes(b'')
  config = task_style.load_config(seed=0, system='t1_smoke',
                                  reference=str(reference), impl='jax')
  assert config.env.name == 'T1JoystickFlatTerrain'
  assert config.env.kwargs.to_dict() == {'impl': 'jax'}
  with pytest.raises(ValueError, match='only the Playground systems'):
    task_style.load_config(seed=0, impl='jax')
