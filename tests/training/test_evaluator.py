"""Brax's evaluator compiles its unroll once, with unchanged metrics."""

from brax import envs
from brax.training import acting
from brax.training.acme import running_statistics
from brax.training.acme import specs
from brax.training.agents.ppo import networks as ppo_networks
import jax
import jax.numpy as jnp

from amp_ppo.training import evaluator as evaluator_lib


def test_the_unroll_compiles_once_and_the_metrics_stay_the_same():
  env = envs.get_environment('fast')
  network = ppo_networks.make_ppo_networks(
      env.observation_size, env.action_size,
      policy_hidden_layer_sizes=(4,), value_hidden_layer_sizes=(4,))
  make_policy = ppo_networks.make_inference_fn(network)
  key = jax.random.PRNGKey(0)
  params = (running_statistics.init_state(
      specs.Array((env.observation_size,), jnp.float32)),
            network.policy_network.init(key))

  def evaluator(evaluator_class):
    return evaluator_class(
        envs.training.wrap(env, episode_length=10),
        lambda p: make_policy(p, deterministic=False), num_eval_envs=4,
        episode_length=10, action_repeat=1, key=key)

  # Brax's own compiles a second time at its second call.
  brax_evaluator = evaluator(acting.Evaluator)
  once = evaluator(evaluator_lib.compiles_once(acting.Evaluator))
  for _ in range(3):
    want = brax_evaluator.run_evaluation(params, {})
    got = once.run_evaluation(params, {})
    timings = ('eval/walltime', 'eval/epoch_eval_time', 'eval/sps')
    assert {k: v for k, v in want.items() if k not in timings} == {
        k: v for k, v in got.items() if k not in timings}
  assert once._generate_eval_unroll._cache_size() == 1  # pylint: disable=protected-access
