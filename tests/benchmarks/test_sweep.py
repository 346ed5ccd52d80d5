"""benchmarks/sweep.py reads its settings right and refuses wrong ones early.

No training here: the sweep's runs are amp_ppo.main's, tested elsewhere.
"""

import pytest

from benchmarks import sweep


def test_overrides_reach_the_config_with_their_types():
  config = sweep.apply_overrides(
      sweep.load_system('demo', seed=2),
      sweep.parse_overrides('amp.replay_size=4096,amp.loss=bce,'
                            'amp.disc_input_noise=0.25,'
                            'amp.disc_hidden_layer_sizes=32x32'))
  assert config.amp.replay_size == 4096
  assert config.amp.loss == 'bce'
  assert config.amp.disc_input_noise == 0.25
  assert tuple(config.amp.disc_hidden_layer_sizes) == (32, 32)
  assert config.ppo.seed == 2 and config.evaluation.seed == 2
  untouched = sweep.load_system('demo', seed=2)
  assert config.amp.gradient_penalty_weight == (
      untouched.amp.gradient_penalty_weight)
  assert sweep.parse_overrides(sweep.PRESET) == []


def test_command_ant_is_the_task_style_benchmark():
  config = sweep.load_system('command_ant', seed=0, num_timesteps=1000)
  assert config.env.name == 'command_ant'
  assert config.ppo.num_timesteps == 1000


@pytest.mark.parametrize('setting, message', [
    ('amp.replay_sise=4096', "no field 'replay_sise'"),
    ('amp.replay_size=many', 'amp.replay_size='),
    ('replay_size=4096', 'section.field=value'),
    ('amp.replay_size', 'section.field=value'),
])
def test_a_wrong_setting_is_refused_before_anything_trains(setting, message):
  with pytest.raises(ValueError, match=message):
    sweep.main(['--system', 'demo', '--seeds', '0', '--setting', 'preset',
                '--setting', setting, '--workdir', '/nonexistent/never'])


def test_an_unknown_system_is_refused():
  with pytest.raises(ValueError, match='unknown system'):
    sweep.load_system('walker', seed=0)


def test_the_table_gives_each_setting_its_seeds_mean():
  def run(setting, style, saturated=False):
    return dict(setting=setting, style=style, task_return=100.0,
                tracking=None, accuracy_reference=1.0, accuracy_policy=0.9,
                style_reward=0.5, saturated=saturated, seconds=10.0,
                steps=1000)
  rows = sweep.table_rows(
      ['preset', 'amp.loss=bce'],
      [run('preset', 0.2), run('preset', 0.4, saturated=True),
       run('amp.loss=bce', 1.0)])
  by_setting = {row[0]: dict(zip(sweep.HEADER, row)) for row in rows}
  assert by_setting['preset']['seeds'] == 2
  assert by_setting['preset']['style distance'].startswith('0.300 +- 0.141')
  assert by_setting['preset']['per seed'] == '0.200 0.400'
  assert by_setting['preset']['seeds saturated'] == 1
  assert by_setting['amp.loss=bce']['style distance'] == '1.000'
  assert by_setting['amp.loss=bce']['tracking return'] == '-'
