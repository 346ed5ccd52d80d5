"""Trains AMP on 2 forced CPU devices; prints one JSON line for the test.

Run by tests/test_amp_training.py with
XLA_FLAGS=--xla_force_host_platform_device_count=2, which must be set before
JAX is imported, hence a separate process.
"""

import functools
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

# pylint: disable=g-import-not-at-top,wrong-import-position
from brax.training.agents.ppo import networks as ppo_networks
import jax
import numpy as np

import amp_ppo
from amp_ppo import motion as motion_lib
from tests import helpers

_TRAINING_STEPS = 2
_INSERTED_PER_DEVICE_STEP = 2 * 4  # disc minibatches x rollout half


def main():
  with tempfile.TemporaryDirectory() as tmp:
    steps = np.arange(12, dtype=np.float32)
    path = os.path.join(tmp, 'counter.npz')
    motion_lib.save_reference(path, fps=1 / helpers.CounterEnv.dt,
                              features=np.stack([steps, 0 * steps], axis=1))
    progress = []
    _, params, _ = amp_ppo.train(
        environment=helpers.CounterEnv(),
        num_timesteps=_TRAINING_STEPS * 8 * 4 * 2, episode_length=16,
        num_envs=8, batch_size=8, num_minibatches=2, unroll_length=4,
        num_evals=2, num_eval_envs=4, seed=5,
        network_factory=functools.partial(
            ppo_networks.make_ppo_networks, policy_hidden_layer_sizes=(8,),
            value_hidden_layer_sizes=(8,)),
        progress_fn=lambda step, metrics: progress.append(metrics),
        amp_reference=path, amp_feature_fn=helpers.counter_features,
        amp_disc_hidden_layer_sizes=(8,), amp_disc_minibatch_size=8,
        amp_replay_size=64)
  # Reaching here means Brax's final pmap.assert_is_replicated passed.
  print(json.dumps({
      'local_devices': jax.local_device_count(),
      'replicated': True,
      'replay_count': int(params[3].replay.count),
      'single_device_insertions': _TRAINING_STEPS * _INSERTED_PER_DEVICE_STEP,
      'amp_metrics': {k: float(v) for k, v in progress[-1].items()
                      if k.startswith('training/amp/')},
  }))


if __name__ == '__main__':
  main()
