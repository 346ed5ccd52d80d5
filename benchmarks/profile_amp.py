r"""Where AMP's time goes: its jitted pieces, timed alone on training shapes.

For the PPO configuration of throughput.py (same flags), times per PPO
training step:

- rollout: the environment steps of one training step's rollout (random
  actions, no policy), through Brax's training wrappers, without and with
  amp_ppo's feature recorder (AmpFeatureWrapper) beneath them; the
  difference is the cost of computing AMP features during the rollout;
- reward: `Amp.style_reward` on the whole rollout's windows;
- training_step: `Amp.training_step` (reward, normaliser, discriminator SGD
  steps, replay), pmapped over one device as in training; minus the reward,
  this is the discriminator update;

for discriminator sizes and discriminator steps per training step given by
--disc (default: (1024, 512) and (256, 256), each with one step per PPO
minibatch and with 4 steps). Pieces take turns round by round; figures are
medians, in wall-clock seconds and in this process's CPU seconds (the
latter compare with the CPU seconds per epoch that throughput.py prints).

  python -m benchmarks.profile_amp
"""

import argparse
import resource
import statistics
import sys
import tempfile
import time

from benchmarks import throughput

DEFAULT_DISC = '1024x512/None,1024x512/4,256x256/None,256x256/4'


def parse_args(argv=None) -> argparse.Namespace:
  parser = throughput.training_parser(__doc__)
  parser.add_argument('--disc', default=DEFAULT_DISC,
                      help='comma-separated LAYERS/STEPS discriminator '
                      'settings: hidden sizes and disc_num_minibatches '
                      '(None: one per PPO minibatch)')
  parser.add_argument('--rounds', type=int, default=5,
                      help='timed calls of each piece, taking turns')
  return parser.parse_args(argv)


def _cpu_seconds() -> float:
  usage = resource.getrusage(resource.RUSAGE_SELF)
  return usage.ru_utime + usage.ru_stime


class Piece:
  """A jitted function with fixed arguments, timed call by call.

  Each call is timed in wall-clock seconds and in this process's CPU
  seconds (user + system), which other jobs' load disturbs less.
  """

  def __init__(self, name: str, fn, args, disc: str = '',
               disc_steps: int = 0):
    self.name = name
    self.disc = disc              # discriminator layers, e.g. '1024x512'
    self.disc_steps = disc_steps  # D steps of a training_step piece
    self._fn = fn
    self._args = args
    self.times = []
    self.cpu_times = []
    self.compile_seconds = float('nan')

  def compile(self, jax) -> None:
    started = time.perf_counter()
    self._fn = self._fn.lower(*self._args).compile()
    self.compile_seconds = time.perf_counter() - started
    jax.block_until_ready(self._fn(*self._args))  # Warm-up.

  def time_once(self, jax) -> None:
    started, started_cpu = time.perf_counter(), _cpu_seconds()
    jax.block_until_ready(self._fn(*self._args))
    self.times.append(time.perf_counter() - started)
    self.cpu_times.append(_cpu_seconds() - started_cpu)

  def median(self, cpu: bool = False) -> float:
    return statistics.median(self.cpu_times if cpu else self.times)


def build_pieces(args, environment, reference_path, ppo_args):
  """The pieces to time, and the per-config names needed for the report."""
  # Imported here: throughput.main-style ordering (JAX after XLA_FLAGS).
  from brax import envs  # pylint: disable=g-import-not-at-top
  from brax.training import types  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  from amp_ppo.amp import build  # pylint: disable=g-import-not-at-top
  from amp_ppo.amp import config as amp_config  # pylint: disable=g-import-not-at-top
  from amp_ppo.amp import features  # pylint: disable=g-import-not-at-top

  settings = []
  for item in args.disc.split(','):
    layers, _, steps = item.partition('/')
    settings.append((tuple(int(x) for x in layers.split('x')),
                     None if steps in ('', 'None') else int(steps)))

  def make_amp(layers, steps):
    config = amp_config.AmpConfig(disc_hidden_layer_sizes=layers,
                                  disc_num_minibatches=steps)
    return build.build_amp(
        environment=environment, config=config, reference=reference_path,
        feature_fn=None, info_feature_key=None,
        ppo_num_minibatches=ppo_args['num_minibatches'],
        seed=ppo_args['seed'],
        wrap_env=True)

  num_envs = args.num_envs
  unroll_length = ppo_args['unroll_length']
  trajectories = args.batch_size * ppo_args['num_minibatches']
  env_steps = trajectories // num_envs * unroll_length
  pieces = []

  # Rollout of one training step, without and with the feature recorder.
  amp = make_amp(*settings[0])

  def rollout_fn(env, with_window):
    wrapped = envs.training.wrap(env, episode_length=ppo_args[
        'episode_length'], action_repeat=ppo_args['action_repeat'])
    if with_window:  # The recorder needs the episode-start marker on top.
      wrapped = amp.wrap_training_env(wrapped)

    def run(key):
      state = wrapped.reset(jax.random.split(key, num_envs))

      def step(carry, step_key):
        action = jax.random.uniform(step_key, (num_envs, env.action_size),
                                    minval=-1.0, maxval=1.0)
        next_state = wrapped.step(carry, action)
        out = (next_state.obs, next_state.reward)
        if with_window:
          out += (next_state.info[feature_windows.WINDOW_KEY],)
        return next_state, out

      _, outputs = jax.lax.scan(step, state,
                                jax.random.split(key, env_steps))
      return outputs

    return jax.jit(run)

  key = jax.random.PRNGKey(0)
  pieces.append(Piece('rollout, no AMP', rollout_fn(environment, False),
                      (key,)))
  pieces.append(Piece('rollout, AMP feature recorder',
                      rollout_fn(amp.wrap_env(environment), True), (key,)))

  # Rollout windows [B, T, H, F], sampled from the reference.
  windows = amp.reference.sample(
      key, trajectories * unroll_length,
      amp.config.history_length).reshape(
          (trajectories, unroll_length) + amp.window_shape)
  zeros = jnp.zeros((trajectories, unroll_length), jnp.float32)
  data = types.Transition(
      observation=zeros[..., None], action=zeros[..., None], reward=zeros,
      discount=zeros, next_observation=zeros[..., None],
      extras={'state_extras': {feature_windows.WINDOW_KEY: windows},
              'policy_extras': {}})

  reward_done = set()
  for layers, steps in settings:
    amp = make_amp(layers, steps)
    label = 'x'.join(map(str, layers))
    state = amp.init_state()
    if layers not in reward_done:
      reward_done.add(layers)
      pieces.append(Piece(f'reward, disc {label}', jax.jit(amp.style_reward),
                          (state.disc_params, state.normalizer, windows),
                          disc=label))
    add_device_axis = lambda tree: jax.tree_util.tree_map(
        lambda x: jnp.asarray(x)[None], tree)

    def training_step(amp_state, transitions, amp=amp):
      _, new_state, metrics = amp.training_step(amp_state, transitions)
      return new_state, metrics

    pieces.append(Piece(
        f'training_step, disc {label}, {amp.disc_num_minibatches} D steps',
        jax.pmap(training_step, axis_name='i'),
        (add_device_axis(state), add_device_axis(data)), disc=label,
        disc_steps=amp.disc_num_minibatches))
  return pieces, env_steps, trajectories


def derived_rows(pieces):
  """Per training_step piece: its cost split into features, reward, update."""
  by_name = {p.name: p for p in pieces}
  training_steps = [p for p in pieces if p.disc_steps]

  def cost(cpu):
    feature = (by_name['rollout, AMP feature recorder'].median(cpu) -
               by_name['rollout, no AMP'].median(cpu))
    split = {}
    for p in training_steps:
      reward = by_name[f'reward, disc {p.disc}'].median(cpu)
      others = [q for q in training_steps
                if q.disc == p.disc and q.disc_steps != p.disc_steps]
      per_step = fixed = float('nan')
      if others:
        q = others[0]
        per_step = (p.median(cpu) - q.median(cpu)) / (
            p.disc_steps - q.disc_steps)
        fixed = p.median(cpu) - reward - p.disc_steps * per_step
      split[p.name] = (feature, reward, p.median(cpu) - reward, per_step,
                       fixed, feature + p.median(cpu))
    return split

  wall, cpu = cost(False), cost(True)
  return [[p.name.split(', ', 1)[1]] +
          [f'{w:.3f} / {c:.3f}' for w, c in zip(wall[p.name], cpu[p.name])]
          for p in training_steps]


def main(argv=None) -> int:
  args = parse_args(argv)
  args.epochs = 2  # Only for ppo_arguments; nothing is trained here.
  if args.devices != 1:
    raise SystemExit('profile_amp.py times one device; use --devices 1.')
  from benchmarks import bench_lib  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top

  machine = bench_lib.machine_description()
  print('machine: ' + '; '.join(f'{k} {v}' for k, v in machine.items()))
  with tempfile.TemporaryDirectory(prefix='amp_profile_') as workdir:
    environment, reference_path, ppo_args = throughput.prepare(args,
                                                               workdir)
    config = throughput.describe_config(args, ppo_args)
    print('config: ' + config.rsplit(';', 1)[0])
    pieces, env_steps, trajectories = build_pieces(args, environment,
                                                   reference_path, ppo_args)
  for piece in pieces:
    piece.compile(jax)
    print(f'  compiled {piece.name} in {piece.compile_seconds:.1f} s')
  for round_index in range(args.rounds):
    for piece in pieces:
      piece.time_once(jax)
    print(f'  round {round_index + 1}/{args.rounds} (s): ' + ', '.join(
        f'{p.times[-1]:.2f}' for p in pieces))

  print()
  print(f'AMP pieces per PPO training step ({config.rsplit(";", 1)[0]}; '
        f'{env_steps} rollout steps of {args.num_envs} envs, '
        f'{trajectories * ppo_args["unroll_length"]} windows scored); '
        f'medians of {args.rounds} rounds:')
  print()
  print(bench_lib.markdown_table(
      ['piece', 'median s', 'min-max s', 'median CPU s'],
      [[p.name, f'{p.median():.3f}', f'{min(p.times):.3f}-{max(p.times):.3f}',
        f'{p.median(cpu=True):.3f}'] for p in pieces]))
  print()
  print('AMP cost per training step, derived (wall s / CPU s): features = '
        'rollout with the recorder minus without; D update = training_step '
        'minus reward (normaliser, D SGD steps, replay); per D step = '
        'difference of two step counts of one discriminator, per step; '
        'fixed = D update minus its steps at that rate:')
  print()
  print(bench_lib.markdown_table(
      ['discriminator', 'features', 'reward', 'D update', 'per D step',
       'fixed', 'total'], derived_rows(pieces)))
  return 0


if __name__ == '__main__':
  sys.exit(main())
