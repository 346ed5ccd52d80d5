"""benchmarks/task_style.py builds each system's config, Go1 only with motion.

No training here (a tiny Go1 run takes minutes on a CPU; it was run by hand
with `--system go1_smoke`, README "Task and style on Go1, GPU").
"""

import pytest

from tests.benchmarks import tables


@pytest.fixture(name='task_style', scope='module')
def _task_style():
  return tables.load_script('task_style.py')


def test_command_ant_is_the_default_system(task_style):
  from amp_ppo.configs import command_ant  # pylint: disable=g-import-not-at-top
  expected = command_ant.get_config()
  expected.ppo.seed = expected.evaluation.seed = 1
  assert task_style.load_config(seed=1).to_dict() == expected.to_dict()
  assert task_style.load_config(
      seed=1, num_timesteps=5000).ppo.num_timesteps == 5000


def test_go1_trains_on_the_given_reference(task_style, tmp_path):
  reference = tmp_path / 'trot.npz'
  reference.write_bytes(b'')
  config = task_style.load_config(seed=0, system='go1_smoke',
                                  reference=str(reference))
  assert config.env.name == 'Go1JoystickFlatTerrain'
  assert config.reference == str(reference)
  assert task_style.SYSTEMS['go1'][2].startswith('eval/episode_reward/')


@pytest.mark.parametrize('reference, message', [
    (None, 'needs --reference'), ('/nonexistent/trot.npz', 'no such file')])
def test_go1_without_a_motion_file_stops_before_training(
    task_style, reference, message):
  with pytest.raises(ValueError, match=message):
    task_style.main(['--system', 'go1', '--seeds', '0'] + (
        ['--reference', reference] if reference else []))
