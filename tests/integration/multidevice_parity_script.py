"""Multi-device parity of `amp_ppo.train` with upstream Brax PPO.

Run by `test_brax_parity.test_multidevice_parity` in a subprocess, because the
number of host devices is fixed when JAX starts:

  XLA_FLAGS=--xla_force_host_platform_device_count=2 \
      python -m tests.integration.multidevice_parity_script

(from the repository root). Trains each configuration below (the tiny run of
`parity_settings`, plus what reduces across devices) on every local device
with pmap (Brax PPO uses all local devices unless max_devices_per_host is
set), once with upstream Brax PPO (through `brax_upstream`) and once with
`amp_ppo.train`, and prints one JSON object on the last line of stdout:

  {"local_device_count": int,
   "configs": {name: {"shim_active_during_amp_ppo": bool,
                      "params": [difference, ...],
                      "metrics": [...], "progress": [...]}}}

where every list of differences is empty when the runs agree bitwise.
"""

import json
from typing import Any, Dict

import amp_ppo
from brax import envs
import jax

from tests.integration import brax_upstream
from tests.integration import parity_settings

_COMMON = dict(parity_settings.TINY_PPO,
               network_factory=parity_settings.mlp_networks())

_CONFIGS = {
    'plain': dict(_COMMON),
    # Cross-device reductions: normaliser statistics and the KL mean are
    # pmean-ed, gradients too; resets are pmapped between epochs.
    'normalized_adaptive_kl_resets': dict(
        _COMMON,
        normalize_observations=True,
        learning_rate_schedule='ADAPTIVE_KL',
        desired_kl=1e-3,
        max_grad_norm=0.5,
        num_evals=2,
        num_resets_per_eval=1),
}


def _run(trainer, kwargs: Dict[str, Any]) -> Dict[str, Any]:
  """Trains with `trainer`, recording progress_fn calls."""
  progress = []
  record = {'shim_active': None}

  def progress_fn(step, metrics):
    progress.append((step, jax.device_get(dict(metrics))))

  def policy_params_fn(step, make_policy, params):
    del step, make_policy, params
    record['shim_active'] = brax_upstream.shim_is_active()

  make_policy, params, metrics = trainer(
      environment=envs.get_environment('fast'),
      progress_fn=progress_fn,
      policy_params_fn=policy_params_fn,
      **kwargs)
  del make_policy
  return dict(params=jax.device_get(params), metrics=jax.device_get(metrics),
              progress=progress, shim_active=record['shim_active'])


def _progress_differences(expected, actual):
  if [s for s, _ in expected] != [s for s, _ in actual]:
    return [f'progress steps differ: {[s for s, _ in expected]} vs'
            f' {[s for s, _ in actual]}']
  differences = []
  for (step, want), (_, got) in zip(expected, actual):
    differences.extend(
        f'step {step}: {d}'
        for d in brax_upstream.metrics_differences(want, got))
  return differences


def main() -> None:
  result = {'local_device_count': jax.local_device_count(), 'configs': {}}
  for name, kwargs in _CONFIGS.items():
    upstream = _run(brax_upstream.train, kwargs)
    ours = _run(amp_ppo.train, kwargs)
    result['configs'][name] = {
        'shim_active_during_amp_ppo': ours['shim_active'],
        'params': brax_upstream.tree_differences(upstream['params'],
                                                 ours['params']),
        'metrics': brax_upstream.metrics_differences(upstream['metrics'],
                                                     ours['metrics']),
        'progress': _progress_differences(upstream['progress'],
                                          ours['progress']),
    }
  print(json.dumps(result))


if __name__ == '__main__':
  main()
