"""One process of a training run on several JAX processes; writes a JSON result.

Usage (XLA_FLAGS=--xla_force_host_platform_device_count=N in the environment,
one command per process):

  python -m tests.integration.multiprocess_script MODE OUT_JSON CHECKPOINTS \
      [--reference=PATH] [--resume] \
      [--num_processes=P --process_id=I --port=PORT]

MODE is `amp` (the AMP run of test_multiprocess.py: CounterEnv with features
that carry the index of the process that ran them, a checkpoint after each of
two iterations, no evals) or `ppo` (plain PPO, the same sizes). With
--num_processes > 1 the process joins a jax.distributed job on 127.0.0.1:PORT
with CPU collectives over gloo. `--resume` continues from CHECKPOINTS.

The result: for every device of this process, a hash of each part of the
final training state (PPO params, optimiser and observation normaliser; the
AMP discriminator, its optimiser, feature normaliser, replay and key), taken
where Brax checks replication at the end of training; hashes of the params
that policy_params_fn saw, by step (process 0 only); the returned params' and
AMP state's hashes; and, with AMP, how many replay windows each process's
environments produced.
"""

import argparse
import hashlib
import json
import sys

# pylint: disable=g-import-not-at-top,wrong-import-position
import jax

STEPS_PER_ITERATION = 8 * 4 * 2  # batch_size x unroll_length x minibatches
ITERATIONS = 2
REPLAY_SIZE = 256  # Larger than all insertions: nothing is overwritten.


def tagged_features(q: jax.Array, qd: jax.Array) -> jax.Array:
  """CounterEnv's (step, episode id) and the index of the process it ran on.

  The process index is a constant of each process's compiled program, so the
  windows in the replay show which process's environments produced them.
  """
  del qd
  import jax.numpy as jnp
  return jnp.concatenate([q, jnp.full((1,), jax.process_index(), q.dtype)])


def write_reference(path: str) -> str:
  """A reference for `tagged_features`: steps 0..11 of episode 0, tag 0."""
  import numpy as np
  from amp_ppo import motion as motion_lib
  from tests import helpers
  steps = np.arange(12, dtype=np.float32)
  frames = np.stack([steps, 0 * steps, 0 * steps], axis=1)
  motion_lib.save_reference(path, fps=1 / helpers.CounterEnv.dt,
                            features=frames)
  return path


def train_kwargs(mode: str, reference_path: str, **overrides):
  """amp_ppo.train arguments of the run; `overrides` replace them."""
  from tests.integration import reliability_setup
  kwargs = reliability_setup.train_kwargs(
      reference_path if mode == 'amp' else None,
      num_timesteps=ITERATIONS * STEPS_PER_ITERATION,
      num_evals=ITERATIONS + 1, run_evals=False)
  if mode == 'amp':
    kwargs.update(amp_feature_fn=tagged_features, amp_replay_size=REPLAY_SIZE)
  kwargs.update(overrides)
  return kwargs


def _digest(leaves) -> str:
  import numpy as np
  sha = hashlib.sha256()
  for leaf in leaves:
    if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
      leaf = jax.random.key_data(leaf)
    leaf = np.asarray(leaf)
    sha.update(f'{leaf.dtype}{leaf.shape}'.encode())
    sha.update(np.ascontiguousarray(leaf).tobytes())
  return sha.hexdigest()


def digest_of_arrays(arrays) -> str:
  """Hash of named arrays (a checkpoint's leaves by key path)."""
  return _digest(arrays[name] for name in sorted(arrays))


def digest_by_path(tree) -> str:
  """Hash of a pytree's leaves by key path, as amp_ppo's checkpoints hold
  them: the same for the pytree and for what a checkpoint of it reads back."""
  from amp_ppo.reliability import checkpoint
  return digest_of_arrays(checkpoint.flatten(tree).arrays)


def _parts(state):
  """The named parts of a TrainingState whose copies must agree."""
  parts = {
      'ppo_params': state.params,
      'ppo_optimizer': state.optimizer_state,
      'observation_normalizer': state.normalizer_params,
      'env_steps': state.env_steps,
  }
  if state.extension_state is not None:
    parts.update({
        'amp_discriminator': state.extension_state.disc_params,
        'amp_optimizer': state.extension_state.disc_optimizer_state,
        'amp_feature_normalizer': state.extension_state.normalizer,
        'amp_replay': state.extension_state.replay,
        'amp_key': state.extension_state.key,
    })
  return parts


def device_hashes(state):
  """{'process:device': {part: hash}} over this process's devices."""
  result = {}
  for part, tree in _parts(state).items():
    copies = {}  # device id -> that device's copy of every leaf
    for leaf in jax.tree_util.tree_leaves(tree):
      for shard in leaf.addressable_shards:  # One per device: [1, ...].
        copies.setdefault(shard.device.id, []).append(shard.data[0])
    for device_id, leaves in copies.items():
      device = f'{jax.process_index()}:{device_id}'
      result.setdefault(device, {})[part] = _digest(leaves)
  return result


def main(argv):
  parser = argparse.ArgumentParser()
  parser.add_argument('mode', choices=('amp', 'ppo'))
  parser.add_argument('out')
  parser.add_argument('checkpoints')
  parser.add_argument('--reference')
  parser.add_argument('--resume', action='store_true')
  parser.add_argument('--num_processes', type=int, default=1)
  parser.add_argument('--process_id', type=int, default=0)
  parser.add_argument('--port', type=int)
  args = parser.parse_args(argv)
  if args.num_processes > 1:  # Before anything touches a JAX backend.
    jax.config.update('jax_cpu_collectives_implementation', 'gloo')
    jax.distributed.initialize(
        coordinator_address=f'127.0.0.1:{args.port}',
        num_processes=args.num_processes, process_id=args.process_id)

  from brax.training import pmap as brax_pmap
  import amp_ppo

  final = {}
  check_replicated = brax_pmap.assert_is_replicated

  def capture(state, debug=None):  # The trainer's last look at its state.
    final['devices'] = device_hashes(state)
    return check_replicated(state, debug)

  brax_pmap.assert_is_replicated = capture
  seen_params = {}

  def policy_params_fn(step, make_policy, params):
    del make_policy
    seen_params[str(step)] = digest_by_path(params)

  extra = dict(resume_checkpoint_path=args.checkpoints) if args.resume else {}
  _, params, _ = amp_ppo.train(**train_kwargs(
      args.mode, args.reference, save_checkpoint_path=args.checkpoints,
      policy_params_fn=policy_params_fn, **extra))
  result = {
      'process_index': jax.process_index(),
      'process_count': jax.process_count(),
      'local_devices': jax.local_device_count(),
      'devices': final['devices'],
      'policy_params_fn': seen_params,
      'params': digest_by_path(params[:3]),
  }
  if args.mode == 'amp':
    import numpy as np
    replay = params[3].replay
    windows = np.asarray(replay.data)[:int(replay.count)]
    tags = windows[:, :, 2]  # [window, frame]: the process that ran it.
    result.update(
        amp_state=digest_by_path(params[3]),
        replay_count=int(replay.count),
        replay_windows_by_process={
            str(p): int(np.sum(np.all(tags == p, axis=1)))
            for p in range(jax.process_count())})
  with open(args.out, 'w') as f:
    json.dump(result, f)


if __name__ == '__main__':
  # By its package name, so that the feature function's qualified name (part
  # of the resume fingerprint) is the same wherever the module is imported.
  from tests.integration import multiprocess_script
  multiprocess_script.main(sys.argv[1:])
