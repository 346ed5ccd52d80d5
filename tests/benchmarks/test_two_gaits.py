"""benchmarks/two_gaits.py: its two runs' configs and its control's test.

No training here: the benchmark trains for about an hour of 2 cores; the
two-style trainer itself is tested in tests/amp and tests/run.
"""

import pytest

from amp_ppo.run import experiment
from benchmarks import two_gaits


def test_amp_commands_the_trot_and_the_bound_and_ppo_has_one_task():
  amp = two_gaits.amp_config(seed=2, design='per_style')
  assert (amp.env.suite, amp.env.name) == ('amp_ppo', 'command_ant')
  # ml_collections sorts a ConfigDict's keys: the one-hot's order.
  assert experiment.style_names(amp) == ['bound', 'trot']
  assert amp.reference.trot.endswith('motion/data/ant_trot_speeds.npz')
  assert amp.reference.bound.endswith('motion/data/ant_bound_speeds.npz')
  assert amp.amp.style_discriminator == 'per_style'
  ppo = two_gaits.ppo_config(seed=2)
  # The same task, steps and seed; PPO alone has no style command.
  assert ppo.env.to_dict() == amp.env.to_dict()
  assert ppo.ppo.to_dict() == amp.ppo.to_dict()
  assert ppo.ppo.num_timesteps == 7_500_000
  assert ppo.ppo.seed == ppo.evaluation.seed == amp.evaluation.seed == 2
  assert experiment.style_names(ppo) is None
  assert two_gaits.amp_config(
      seed=0, design='conditioned', num_timesteps=300).ppo.num_timesteps == 300


def test_rows_swap_when_each_command_is_nearest_the_other_reference():
  obeys = {'trot': {'trot': 0.1, 'bound': 0.5},
           'bound': {'trot': 0.6, 'bound': 0.2}}
  swapped = {'trot': {'trot': 0.6, 'bound': 0.2},
             'bound': {'trot': 0.1, 'bound': 0.5}}
  ignores = {'trot': {'trot': 0.1, 'bound': 0.5},
             'bound': {'trot': 0.1, 'bound': 0.5}}
  assert two_gaits.rows_swapped(swapped)
  assert not two_gaits.rows_swapped(obeys)
  assert not two_gaits.rows_swapped(ignores)


def test_unknown_design_stops_before_training(capsys):
  with pytest.raises(SystemExit):
    two_gaits.main(['--designs', 'shared', '--seeds', '0'])
  assert 'unknown' in capsys.readouterr().err


def test_the_smoke_preset_is_the_two_gaits_at_smoke_size():
  from amp_ppo.configs import command_ant  # pylint: disable=g-import-not-at-top
  smoke = command_ant.get_config('two_gaits_smoke')
  assert experiment.style_names(smoke) == ['bound', 'trot']
  assert smoke.ppo.num_timesteps == command_ant.get_config(
      'smoke').ppo.num_timesteps < 1000
