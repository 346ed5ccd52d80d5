"""amp_ppo/reliability/multiprocess.py, the parts that one process can test;
tests/integration/test_multiprocess.py trains on two."""

from brax.training.acme import running_statistics
from brax.training.acme import specs
from brax.training.agents.ppo import checkpoint as ppo_checkpoint
from brax.training.agents.ppo import networks as ppo_networks
import jax
import jax.numpy as jnp
import numpy as np

from amp_ppo.reliability import multiprocess


def _brax_params():
  network = ppo_networks.make_ppo_networks(
      3, 2, policy_hidden_layer_sizes=(4,), value_hidden_layer_sizes=(4,))
  key = jax.random.PRNGKey(0)
  normalizer = running_statistics.update(
      running_statistics.init_state(specs.Array((3,), jnp.float32)),
      jnp.arange(6.0).reshape(2, 3))
  return (normalizer, network.policy_network.init(key),
          network.value_network.init(key))


def test_a_host_copy_is_read_back_by_brax_as_the_params_themselves(tmp_path):
  # Several processes save Brax's params as this copy: NumPy leaves (no
  # device arrays: not even in Brax's UInt64 count) under the same key paths.
  params = _brax_params()
  copy = multiprocess._host_copy(params)  # pylint: disable=protected-access
  assert not any(isinstance(leaf, jax.Array)
                 for leaf in jax.tree_util.tree_leaves(copy))
  config = ppo_checkpoint.network_config(
      observation_size=3, action_size=2, normalize_observations=True,
      network_factory=ppo_networks.make_ppo_networks)
  ppo_checkpoint.save(str(tmp_path / 'brax'), 1, params, config)
  ppo_checkpoint.save(str(tmp_path / 'copy'), 1, copy, config)
  brax = ppo_checkpoint.load(str(tmp_path / 'brax' / '000000000001'))
  read = ppo_checkpoint.load(str(tmp_path / 'copy' / '000000000001'))
  assert (jax.tree_util.tree_structure(read) ==
          jax.tree_util.tree_structure(brax))
  for x, y in zip(jax.tree_util.tree_leaves(read),
                  jax.tree_util.tree_leaves(brax)):
    assert type(x) == type(y)  # pylint: disable=unidiomatic-typecheck
    np.testing.assert_array_equal(x, y)
    assert np.asarray(x).dtype == np.asarray(y).dtype
  assert ((tmp_path / 'brax' / '000000000001' / 'ppo_network_config.json')
          .read_text() == (tmp_path / 'copy' / '000000000001' /
                           'ppo_network_config.json').read_text())


def test_one_process_saves_and_reads_with_orbaxs_defaults():
  # Single-process checkpoints stay exactly as they were.
  assert multiprocess.only_this_process() == (
      multiprocess.ocp.options.MultiprocessingOptions())
