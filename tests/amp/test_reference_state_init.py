"""Reference state initialisation re-samples a reference start at every reset."""

from brax import envs
import jax
import jax.numpy as jnp
import numpy as np

from amp_ppo.amp import reference_state_init

_NUM_ENVS = 4
_NUM_STEPS = 24
_NUM_FRAMES = 20
# Cart positions far from the environment's own starts (init_q +- 0.01).
_REFERENCE_CART = 0.3 + 0.05 * np.arange(_NUM_FRAMES)


@jax.jit
def _rollout(fraction):
  """Cart positions and done flags of a rollout, [T, N] each, and starts."""
  raw = envs.get_environment('inverted_pendulum', backend='positional')
  qpos = jnp.zeros((_NUM_FRAMES, 2)).at[:, 0].set(_REFERENCE_CART)
  env = envs.training.wrap(
      reference_state_init.ReferenceStateInitWrapper(
          raw, fraction, qpos, jnp.zeros((_NUM_FRAMES, 2)),
          jnp.full((_NUM_FRAMES,), 1.0 / _NUM_FRAMES)),
      episode_length=3)
  state = env.reset(jax.random.split(jax.random.PRNGKey(0), _NUM_ENVS))

  def step(state, _):
    state = env.step(state, jnp.zeros((_NUM_ENVS, 1)))
    return state, (state.pipeline_state.q[:, 0], state.done)

  _, (carts, done) = jax.lax.scan(step, state, (), _NUM_STEPS)
  return state.pipeline_state.q[:, 0], carts, done


def _episode_starts(fraction):
  """Cart positions of every episode start in a rollout, per env."""
  # The fraction is traced, so all cases share one compilation.
  initial, carts, done = jax.tree_util.tree_map(
      np.asarray, _rollout(jnp.float32(fraction)))
  done = done.astype(bool)
  # After a done step, the returned state is the next episode's start.
  return [np.concatenate([initial[i:i + 1], carts[done[:, i], i]])
          for i in range(_NUM_ENVS)]


def _is_reference(carts):
  return np.isclose(carts[..., None], _REFERENCE_CART, atol=1e-6).any(-1)


def test_every_start_is_a_fresh_reference_frame():
  for env_starts in _episode_starts(1.0):
    assert np.all(_is_reference(env_starts)), env_starts
    # Re-sampled at every auto-reset, not fixed per environment.
    assert len(np.unique(env_starts)) > 3


def test_fraction_zero_keeps_the_environments_own_starts():
  starts = np.concatenate(_episode_starts(0.0))
  assert not np.any(_is_reference(starts))
  assert np.all(np.abs(starts) <= 0.01)


def test_fraction_mixes_both():
  share = _is_reference(np.concatenate(_episode_starts(0.5))).mean()
  assert 0.2 < share < 0.8
