"""benchmarks/bench_lib.py: variants, and training them turn by turn.

The throughput, GPU and scaling benchmarks compare AMP off and on through
`run_interleaved`; here it trains the tests' counter environment for two
epochs per variant.
"""

import functools
import math

from brax.training.agents.ppo import networks as ppo_networks
import pytest

from benchmarks import bench_lib
from tests import helpers


def test_variants_parse_amp_settings_and_other_arguments():
  variant = bench_lib.Variant.parse(
      'on:disc_hidden_layer_sizes=64x64:check_finite=True:style_weight=0.5')
  assert variant.amp
  assert variant.train_arguments('ref.npz') == {
      'amp_disc_hidden_layer_sizes': (64, 64), 'check_finite': True,
      'amp_style_weight': 0.5, 'amp_reference': 'ref.npz'}
  assert bench_lib.Variant.parse('off').train_arguments('ref.npz') == {}
  with pytest.raises(ValueError, match='AMP setting style_weight with AMP '
                     'off'):
    bench_lib.Variant.parse('off:style_weight=0.5')


def test_a_variant_of_several_styles_trains_each_on_the_reference():
  arguments = bench_lib.Variant.parse(
      'on:styles=2:style_discriminator=conditioned').train_arguments('r.npz')
  assert arguments == {
      'amp_reference': {'style_0': 'r.npz', 'style_1': 'r.npz'},
      'amp_style_discriminator': 'conditioned'}
  with pytest.raises(ValueError, match='with AMP off'):
    bench_lib.Variant.parse('off:styles=2')


def test_variants_take_turns_and_compile_only_in_their_first_epoch(tmp_path):
  reference = helpers.write_counter_reference(str(tmp_path / 'counter.npz'))
  amp = (('amp_feature_fn', helpers.counter_features),
         ('amp_disc_hidden_layer_sizes', (8,)),
         ('amp_disc_minibatch_size', 8), ('amp_replay_size', 64))
  variants = [bench_lib.Variant(spec='off', amp=False, arguments=()),
              bench_lib.Variant(spec='on', amp=True, arguments=amp)]
  ppo_args = dict(
      num_envs=8, batch_size=8, num_minibatches=2, unroll_length=4,
      num_updates_per_batch=1, action_repeat=1, episode_length=16,
      run_evals=False, num_evals=3, num_timesteps=2 * 8 * 4 * 2,
      network_factory=functools.partial(
          ppo_networks.make_ppo_networks, policy_hidden_layer_sizes=(8,),
          value_hidden_layer_sizes=(8,)))
  log = []
  results = bench_lib.run_interleaved(helpers.CounterEnv(), variants,
                                      ppo_args, reference, epochs=2,
                                      log=log.append)
  # off, on, off, on: each epoch runs while the other variant waits.
  assert [line.split()[0] for line in log] == ['off', 'on', 'off', 'on']
  for result in results:
    assert len(result.epochs) == 2
    assert result.env_steps_per_epoch == 8 * 4 * 2
    assert result.compile_seconds('first epoch') > 0
    assert result.steady_compiles == []
    assert bench_lib.finite_metrics(result.epochs[-1].metrics)[0]
    assert math.isfinite(result.setup_seconds)
  off, on = results
  assert len(off.params) == 3 and len(on.params) == 4  # AMP state last
  assert len(bench_lib.paired_ratios(results, 1, 0)) == 1
