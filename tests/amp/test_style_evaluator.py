"""The style distance measured at every evaluation (amp/style_evaluator.py).

A toy env whose feature is whatever the policy last did: a policy that
replays the reference must score near 0, a random one far from it, and the
evaluation's episode metrics must stay exactly Brax's.
"""

import functools

from brax import envs
from brax.training import acting
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from amp_ppo.run import outputs
from amp_ppo.amp import style_evaluator
from amp_ppo.amp import style_metrics

_FREQUENCY = 0.3
_EPISODE_LENGTH = 12
_NUM_ENVS = 8


class _EchoEnv(envs.Env):
  """q is the last action; episodes end after 5..8 steps (drawn at reset)."""

  dt = 0.1

  def reset(self, rng):
    limit = jax.random.randint(rng, (), 5, 9).astype(jnp.float32)
    return envs.State(pipeline_state=jnp.zeros(1), obs=jnp.zeros(1),
                      reward=jnp.zeros(()), done=jnp.zeros(()), metrics={},
                      info={'limit': limit})

  def step(self, state, action):
    t = state.obs + 1
    reward = -jnp.abs(action[0] - jnp.sin(_FREQUENCY * t[0]))
    done = (t[0] >= state.info['limit']).astype(jnp.float32)
    return state.replace(pipeline_state=action, obs=t, reward=reward,
                         done=done)

  @property
  def observation_size(self):
    return 1

  @property
  def action_size(self):
    return 1

  @property
  def backend(self):
    return 'echo'


def _frame(state):
  return state.pipeline_state


def _reference_windows():
  frames = np.sin(_FREQUENCY * np.arange(9.0))[:, None]  # steps 0..7
  starts = np.arange(len(frames) - 1)
  return style_evaluator.sample_windows(
      frames, starts, np.full(len(starts), 1 / len(starts)), 2, 512, seed=0)


def _replaying_policy(unused_params):
  return lambda obs, key: (jnp.sin(_FREQUENCY * (obs + 1)), {})


def _random_policy(unused_params):
  return lambda obs, key: (jax.random.uniform(key, obs.shape, minval=-1,
                                              maxval=1), {})


def _wrapped_env(history_length=2):
  env = style_evaluator.wrap_eval_env(_EchoEnv(), _frame, history_length)
  return envs.training.wrap(env, episode_length=_EPISODE_LENGTH)


def _evaluate(policy_fn, evaluator_cls=style_evaluator.StyleEvaluator,
              **kwargs):
  if evaluator_cls is style_evaluator.StyleEvaluator:
    evaluator_cls = functools.partial(
        evaluator_cls, reference_windows=_reference_windows(),
        masks_padding=False, **kwargs)
  evaluator = evaluator_cls(_wrapped_env(), policy_fn,
                            num_eval_envs=_NUM_ENVS,
                            episode_length=_EPISODE_LENGTH, action_repeat=1,
                            key=jax.random.PRNGKey(1))
  return evaluator, [evaluator.run_evaluation((), {}) for _ in range(2)]


def test_replaying_the_reference_scores_near_zero_and_random_far():
  _, replayed = _evaluate(_replaying_policy)
  _, random = _evaluate(_random_policy)
  for metrics in replayed + random:  # at every evaluation
    assert np.isfinite(metrics[style_evaluator.PROGRESS_STYLE_DISTANCE_KEY])
  near = replayed[-1][style_evaluator.PROGRESS_STYLE_DISTANCE_KEY]
  far = random[-1][style_evaluator.PROGRESS_STYLE_DISTANCE_KEY]
  # Not 0: the short episodes weigh the reference's early steps more.
  assert near < 0.5 and far > 2 and near < 0.15 * far


def test_windows_are_those_of_each_first_episode_and_brax_metrics_unchanged():
  evaluator, metrics = _evaluate(_replaying_policy)
  _, brax_metrics = _evaluate(_replaying_policy, acting.Evaluator)
  for ours, brax in zip(metrics, brax_metrics):
    for name, value in brax.items():
      if 'time' not in name and 'sps' not in name:
        assert ours[name] == pytest.approx(value, abs=0), name
  # Every step of the first episode, terminal step included, and no other:
  # episodes are 5..8 steps, the rollout 12 (the env auto-resets).
  windows = evaluator.last_windows
  lengths = metrics[-1]['eval/avg_episode_length'] * _NUM_ENVS
  assert len(windows) == pytest.approx(lengths)
  # Each is (x_t, x_t+1) of the replayed sine for a step t < 8 (x_0 = 0).
  t = np.arange(8.0)
  expected = np.stack([np.sin(_FREQUENCY * t), np.sin(_FREQUENCY * (t + 1))],
                      axis=1)
  distances = np.abs(windows[:, None, :, 0] - expected[None]).max(axis=2)
  assert distances.min(axis=1).max() < 1e-5
  distance = metrics[-1][style_evaluator.PROGRESS_STYLE_DISTANCE_KEY]
  assert distance == pytest.approx(
      style_metrics.style_distance(windows, _reference_windows()))


def test_a_budget_draws_distinct_windows_among_the_valid_ones():
  evaluator, _ = _evaluate(_random_policy, sample_budget=10)
  assert evaluator.last_windows.shape == (10, 2, 1)
  assert len(np.unique(evaluator.last_windows, axis=0)) == 10


def test_outputs_know_the_key():
  line = outputs.ProgressPrinter(0, 10).line(
      1, {style_evaluator.PROGRESS_STYLE_DISTANCE_KEY: 0.5})
  assert 'style dist 0.500' in line
