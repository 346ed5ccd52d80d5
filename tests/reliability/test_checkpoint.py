"""amp_ppo/reliability/checkpoint.py: pytrees through orbax, step directories
and retention."""

import os
import shutil

from brax import envs
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from amp_ppo import jax_compat
from amp_ppo.reliability import checkpoint


def _leaves_equal(a, b):
  leaves_a = jax.tree_util.tree_leaves(a)
  leaves_b = jax.tree_util.tree_leaves(b)
  assert len(leaves_a) == len(leaves_b)
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _round_trip(tree, template, directory, replicated=False):
  checkpoint.save(str(directory), {'tree': checkpoint.flatten(tree)},
                  {'note': 'kept'})
  trees, meta = checkpoint.load(str(directory))
  assert meta == {'format': checkpoint.FORMAT_VERSION, 'note': 'kept'}
  return checkpoint.restore_like(template, trees['tree'],
                                 replicated=replicated, what='The tree',
                                 hint='fix it')


def _tree():
  return {'raw_key': jax.random.PRNGKey(3), 'typed_key': jax.random.key(4),
          'info': {'steps': jnp.arange(3, dtype=jnp.int32),
                   'flag': jnp.array([True, False]),
                   'empty': jnp.zeros((0, 3))},  # Orbax cannot save these.
          'x': jnp.float32(2.5), 'half': jnp.ones(2, jnp.bfloat16)}


def test_any_pytree_round_trips(tmp_path):
  tree = _tree()
  template = jax.tree_util.tree_map(jnp.zeros_like, tree)
  template['typed_key'] = jax.random.key(0)
  restored = _round_trip(tree, template, tmp_path / 'a')
  assert jax.dtypes.issubdtype(restored['typed_key'].dtype,
                               jax.dtypes.prng_key)
  _leaves_equal(jax.random.key_data(tree['typed_key']),
                jax.random.key_data(restored['typed_key']))
  assert restored['info']['empty'].shape == (0, 3)
  assert restored['half'].dtype == jnp.bfloat16
  tree['typed_key'] = restored['typed_key'] = None
  _leaves_equal(tree, restored)


def test_a_different_structure_is_refused_naming_the_fields(tmp_path):
  template = jax.tree_util.tree_map(jnp.zeros_like, _tree())
  template['typed_key'] = jax.random.key(0)
  del template['info']['flag']
  template['info']['new'] = jnp.zeros(2)
  with pytest.raises(ValueError) as error:
    _round_trip(_tree(), template, tmp_path / 'a')
  message = str(error.value)
  assert message.startswith('The tree has a different structure')
  assert "only in this run: [\"['info']['new']\"]" in message
  assert "only in the saved state: [\"['info']['flag']\"]" in message
  assert message.endswith('; fix it.')


@pytest.mark.parametrize('field, fresh, saved', [
    ('steps', jnp.arange(4, dtype=jnp.int32), 'int32[3], this run has '
     'int32[4]'),
    ('steps', jnp.arange(3, dtype=jnp.float32), 'int32[3], this run has '
     'float32[3]'),
])
def test_a_different_leaf_is_refused_naming_it(tmp_path, field, fresh,
                                               saved):
  template = jax.tree_util.tree_map(jnp.zeros_like, _tree())
  template['typed_key'] = jax.random.key(0)
  template['info'][field] = fresh
  with pytest.raises(ValueError) as error:
    _round_trip(_tree(), template, tmp_path / 'a')
  assert (f"The tree does not fit this run: ['info']['{field}'] is saved as "
          f'{saved}; fix it.') == str(error.value)


def test_a_raw_key_does_not_restore_into_a_typed_one(tmp_path):
  tree = {'key': jax.random.PRNGKey(0)}
  with pytest.raises(ValueError, match=r"\['key'\] is saved as uint32\[2\]"):
    _round_trip(tree, {'key': jax.random.key(0)}, tmp_path / 'a')


def test_replicated_state_is_broadcast_and_placed_like_the_template(
    tmp_path):
  devices = jax.local_devices()
  template = jax_compat.device_put_replicated(jnp.zeros(3), devices)
  restored = _round_trip(jnp.arange(3.0), template, tmp_path / 'a',
                         replicated=True)
  np.testing.assert_array_equal(restored, np.tile(np.arange(3.0),
                                                  (len(devices), 1)))
  assert restored.sharding == template.sharding


def test_an_mjx_env_state_round_trips(tmp_path):
  # MJX data holds zero-size arrays (no mocap bodies, no actuator state).
  env = envs.get_environment('inverted_pendulum', backend='mjx')
  reset = jax.jit(env.reset)
  state = reset(jax.random.PRNGKey(0))
  assert any(leaf.size == 0 for leaf in jax.tree_util.tree_leaves(state))
  restored = _round_trip(state, reset(jax.random.PRNGKey(1)), tmp_path / 'a')
  _leaves_equal(state, restored)


def test_a_playground_env_state_round_trips(tmp_path):
  pytest.importorskip('mujoco_playground')
  from mujoco_playground import registry  # pylint: disable=g-import-not-at-top
  from mujoco_playground import wrapper  # pylint: disable=g-import-not-at-top
  env = wrapper.wrap_for_brax_training(registry.load('CartpoleBalance'),
                                       episode_length=20, action_repeat=1)
  reset = jax.jit(env.reset)
  state = reset(jax.random.split(jax.random.PRNGKey(0), 2))
  restored = _round_trip(
      state, reset(jax.random.split(jax.random.PRNGKey(1), 2)), tmp_path / 'a')
  _leaves_equal(state, restored)


def test_what_is_not_such_a_checkpoint_is_unreadable(tmp_path):
  os.makedirs(tmp_path / 'empty')
  with pytest.raises(ValueError, match='unreadable'):
    checkpoint.load(str(tmp_path / 'empty'))


def test_the_commit_time_identifies_a_save_and_survives_a_copy(tmp_path):
  for name in ('a', 'b'):
    checkpoint.save(str(tmp_path / name), {'t': checkpoint.flatten(1.0)}, {})
  shutil.copytree(tmp_path / 'a', tmp_path / 'copy')
  times = [checkpoint.commit_time(str(tmp_path / name))
           for name in ('a', 'b', 'copy')]
  assert times[0] == times[2] != times[1]
  assert checkpoint.commit_time(str(tmp_path / 'missing')) is None


def _make_step_dirs(root, steps, complete):
  for step in steps:
    step_dir = root / f'{step:012d}'
    os.makedirs(step_dir)
    if step in complete:
      os.makedirs(step_dir / checkpoint.RESUME_STATE)


def test_step_directories_are_braxs_names_by_step(tmp_path):
  _make_step_dirs(tmp_path, [128, 64, 10**12], complete=())
  for name in ('000000000192.orbax-checkpoint-tmp', '12', 'abc',
               '00000000002x', '.deleting-000000000032'):
    os.makedirs(tmp_path / name)
  (tmp_path / '000000000256').write_text('a file')
  assert checkpoint.step_directories(str(tmp_path)) == [
      (64, str(tmp_path / '000000000064')),
      (128, str(tmp_path / '000000000128')),
      (10**12, str(tmp_path / '1000000000000'))]
  assert checkpoint.step_directories(str(tmp_path / 'missing')) == []


def test_prune_deletes_only_the_oldest_complete_step_directories(tmp_path):
  _make_step_dirs(tmp_path, [1, 2, 3, 4, 5], complete=(1, 3, 4))
  os.makedirs(tmp_path / '.deleting-000000000000' / 'left')  # A killed prune.
  checkpoint.prune(str(tmp_path), 2, current=str(tmp_path / '000000000004'))
  # 2 and 5 are incomplete (5: an interrupted newest save): kept.
  assert sorted(os.listdir(tmp_path)) == [
      f'{step:012d}' for step in (2, 3, 4, 5)]


def test_prune_keeps_the_step_directory_just_written(tmp_path):
  # A run resumed from step 3 of a directory that holds a newer abandoned
  # step 4 has just completed step 3 again.
  _make_step_dirs(tmp_path, [1, 3, 4], complete=(1, 3, 4))
  checkpoint.prune(str(tmp_path), 1, current=str(tmp_path / '000000000003'))
  assert sorted(os.listdir(tmp_path)) == ['000000000003', '000000000004']


def test_the_msgpack_layout_is_refused_naming_the_file_and_the_fix(tmp_path):
  checkpoint.check_layout(str(tmp_path))  # Nothing there: fine.
  (tmp_path / 'amp_state.msgpack').write_bytes(b'')
  with pytest.raises(ValueError) as error:
    checkpoint.check_layout(str(tmp_path))
  message = str(error.value)
  assert str(tmp_path / 'amp_state.msgpack') in message
  assert 'amp_ppo version that wrote it' in message
  assert 'restore_params=brax.training.agents.ppo.checkpoint.load(' in message
