"""A resume must refuse an environment with other settings (resume_state)."""

from brax import envs
import ml_collections

from amp_ppo.reliability import resume_state


def _differences(before, after):
  return resume_state.fingerprint_differences(
      resume_state.settings(before, 'environment'),
      resume_state.settings(after, 'environment'))


def test_a_brax_environment_setting_is_named():
  default = envs.get_environment('ant', backend='spring')
  assert _differences(default, envs.get_environment('ant', backend='spring')
                      ) == []
  assert _differences(default, envs.get_environment(
      'ant', backend='spring', ctrl_cost_weight=0.7)) == [
          'environment._ctrl_cost_weight: checkpoint 0.5, now 0.7']


class _ConfiguredEnv:
  """Like a Playground environment: a ConfigDict and a physics model."""

  def __init__(self, scale, gravity):
    self._config = ml_collections.ConfigDict(
        {'reward_config': {'scales': {'tracking': scale}},
         'command_range': (0.1, 0.3)})
    self._model = envs.get_environment('inverted_pendulum').sys.replace(
        gravity=gravity)


def test_config_entries_and_the_physics_model_are_named():
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  gravity = jnp.array([0.0, 0.0, -9.81])
  base = _ConfiguredEnv(1.0, gravity)
  differences = _differences(base, _ConfiguredEnv(1.5, gravity))
  assert differences == [
      'environment._config.reward_config.scales.tracking: checkpoint 1.0, '
      'now 1.5']
  (line,) = _differences(base, _ConfiguredEnv(1.0, gravity * 2))
  assert line.startswith('environment._model.gravity: checkpoint array(3,)')
