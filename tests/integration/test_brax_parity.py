"""Without AMP, `amp_ppo.train` must be upstream Brax PPO bit for bit.

Every configuration in `_CONFIGS` is trained twice with identical arguments
and seed: by the unmodified upstream `brax.training.agents.ppo.train.train`
(run on JAX 0.10 through `brax_upstream`, which supplies the removed
`jax.device_put_replicated` for the duration of the call) and by
`amp_ppo.train`. The two runs are compared bitwise: returned params, returned
metrics, every `progress_fn` and `policy_params_fn` call, the policies built by
the returned `make_policy`, and saved checkpoints.

Each configuration is trained once per module (see the `runs` fixture), on
Brax's tiny `fast` test environment (or `inverted_pendulum` where `fast`
cannot serve) with the tiny run of `parity_settings` (8-unit networks, 4 envs
and 128 timesteps), so runs take seconds. The persistent compilation cache set
up in conftest.py lets the second trainer of each pair reuse the first one's
executables.
"""

import dataclasses
import functools
import inspect
import json
import os
import pathlib
import subprocess
import sys
from typing import Any, Callable, Dict, List, Optional, Tuple

import amp_ppo
from amp_ppo import jax_compat
from brax import envs
from brax.training.agents.ppo import checkpoint as ppo_checkpoint
from brax.training.agents.ppo import networks_vision as ppo_networks_vision
from brax.training.agents.ppo import train as brax_ppo_train
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.integration import brax_upstream
from tests.integration import parity_settings

_UPSTREAM = 'upstream'
_AMP_PPO = 'amp_ppo'
_TRAINER_NAMES = (_UPSTREAM, _AMP_PPO)

_REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
_MULTIDEVICE_MODULE = 'tests.integration.multidevice_parity_script'


def _trainer(name: str) -> Callable[..., Any]:
  if name == _UPSTREAM:
    return brax_upstream.train
  return amp_ppo.train  # Looked up at call time: the package imports lazily.


# ---------------------------------------------------------------------------
# Configurations: parity_settings.TINY_PPO plus the feature under test.
# ---------------------------------------------------------------------------


class _FastWithTimeOut(envs.Wrapper):
  """`fast` whose episodes also end by time-out once the car passes 0.01.

  `bootstrap_on_timeout` reads `state.info['time_out']`, which `fast` lacks.
  """

  def reset(self, rng: jax.Array) -> envs.State:
    state = self.env.reset(rng)
    state.info['time_out'] = jnp.zeros(())
    return state

  def step(self, state: envs.State, action: jax.Array) -> envs.State:
    state = self.env.step(state, action)
    time_out = (state.pipeline_state.x.pos[0] > 0.01).astype(jnp.float32)
    state.info['time_out'] = time_out
    return state.replace(done=time_out)


def _randomize_pendulum(system, rng):
  """Domain randomisation: every link mass scaled by U(0.8, 1.2) per env."""

  @jax.vmap
  def randomize_mass(key):
    mass = system.link.inertia.mass
    return mass * jax.random.uniform(key, mass.shape, minval=0.8, maxval=1.2)

  system_v = system.tree_replace({'link.inertia.mass': randomize_mass(rng)})
  in_axes = jax.tree_util.tree_map(lambda _: None, system)
  in_axes = in_axes.tree_replace({'link.inertia.mass': 0})
  return system_v, in_axes


@dataclasses.dataclass(frozen=True)
class _Context:
  """What a configuration needs to build one trainer's arguments."""
  # Fresh directory for this (configuration, trainer) pair.
  workdir: pathlib.Path
  # Returns this trainer's run of another configuration.
  dependency: Callable[[str], '_Run']


# Name -> function of a _Context returning the trainer's keyword arguments
# (callbacks excluded: every run records progress_fn and policy_params_fn).
_CONFIGS: Dict[str, Callable[[_Context], Dict[str, Any]]] = {}


def _config(name: str):
  def register(build):
    _CONFIGS[name] = build
    return build
  return register


@_config('ndarray')
def _ndarray(ctx):
  del ctx
  return dict(parity_settings.TINY_PPO,
              environment=envs.get_environment('fast'),
              network_factory=parity_settings.mlp_networks())


@_config('dict_state')
def _dict_state(ctx):
  # Also resets through jit(vmap(reset)) instead of pmap.
  del ctx
  return dict(
      parity_settings.TINY_PPO,
      environment=envs.get_environment('fast', obs_mode='dict_state'),
      network_factory=parity_settings.mlp_networks(),
      use_pmap_on_reset=False)


@_config('asymmetric_actor_critic')
def _asymmetric_actor_critic(ctx):
  # Also normalises the dict observations with the EMA statistics options.
  del ctx
  return dict(
      parity_settings.TINY_PPO,
      environment=envs.get_environment(
          'fast', obs_mode='dict_state', asymmetric_obs=True),
      network_factory=parity_settings.mlp_networks(
          policy_obs_key='state', value_obs_key='privileged_state'),
      normalize_observations=True,
      normalize_observations_mode='ema',
      normalize_observations_std_eps=1e-3,
      normalize_until_count=parity_settings.STEPS_PER_TRAINING_STEP)


@_config('vision')
def _vision(ctx):
  # Pixels plus state (asymmetric), pixel augmentation, and normalisation,
  # which must skip the pixel observations.
  del ctx
  return dict(
      parity_settings.TINY_PPO,
      environment=envs.get_environment(
          'fast', obs_mode='dict_pixels_state', asymmetric_obs=True,
          pixel_obs=True),
      network_factory=functools.partial(
          ppo_networks_vision.make_ppo_networks_vision,
          policy_hidden_layer_sizes=parity_settings.HIDDEN_LAYER_SIZES,
          value_hidden_layer_sizes=parity_settings.HIDDEN_LAYER_SIZES,
          policy_obs_key='state',
          value_obs_key='privileged_state',
          cnn_output_channels=(4,),
          cnn_kernel_size=(2,),
          cnn_stride=(1,)),
      vision=True,
      augment_pixels=True,
      normalize_observations=True)


@_config('domain_randomization')
def _domain_randomization(ctx):
  # `fast` has no `sys` to randomise; the pendulum is the smallest real env.
  del ctx
  return dict(
      parity_settings.TINY_PPO,
      environment=envs.get_environment('inverted_pendulum', backend='spring'),
      network_factory=parity_settings.mlp_networks(),
      randomization_fn=_randomize_pendulum)


@_config('adaptive_kl')
def _adaptive_kl(ctx):
  # Normalisation on: under ADAPTIVE_KL it is updated after SGD, not before.
  del ctx
  return dict(
      parity_settings.TINY_PPO,
      environment=envs.get_environment('fast'),
      network_factory=parity_settings.mlp_networks(),
      learning_rate_schedule='ADAPTIVE_KL',
      desired_kl=1e-3,
      normalize_observations=True)


@_config('distributional_critic')
def _distributional_critic(ctx):
  del ctx
  return dict(
      parity_settings.TINY_PPO,
      environment=envs.get_environment('fast'),
      network_factory=parity_settings.mlp_networks(
          use_distributional_critic=True, num_quantiles=4),
      use_distributional_critic=True,
      clipping_epsilon_value=1.0)


@_config('bootstrap_on_timeout')
def _bootstrap_on_timeout(ctx):
  # Also clips the (scalar) value loss.
  del ctx
  return dict(
      parity_settings.TINY_PPO,
      environment=_FastWithTimeOut(envs.get_environment('fast')),
      network_factory=parity_settings.mlp_networks(),
      bootstrap_on_timeout=True,
      clipping_epsilon_value=0.2)


@_config('normalize_observations')
def _normalize_observations(ctx):
  del ctx
  return dict(
      parity_settings.TINY_PPO,
      environment=envs.get_environment('fast'),
      network_factory=parity_settings.mlp_networks(),
      normalize_observations=True)


@_config('max_grad_norm')
def _max_grad_norm(ctx):
  del ctx
  return dict(
      parity_settings.TINY_PPO,
      environment=envs.get_environment('fast'),
      network_factory=parity_settings.mlp_networks(),
      max_grad_norm=0.05)


@_config('num_evals_with_checkpoints')
def _num_evals_with_checkpoints(ctx):
  # Three evals: at step 0, after 64 and after 128 steps; a checkpoint is
  # saved after each of the last two.
  return dict(
      _normalize_observations(ctx),
      num_evals=3,
      save_checkpoint_path=ctx.workdir / 'checkpoints')


def _checkpoint_dirs(run: '_Run') -> List[pathlib.Path]:
  return sorted(p for p in (run.workdir / 'checkpoints').iterdir()
                if p.is_dir())


@_config('restore_checkpoint')
def _restore_checkpoint(ctx):
  # 'normalize_observations' continued from the last checkpoint that this
  # trainer saved itself.
  saved = ctx.dependency('num_evals_with_checkpoints')
  return dict(
      _normalize_observations(ctx),
      restore_checkpoint_path=_checkpoint_dirs(saved)[-1])


@_config('restore_params')
def _restore_params(ctx):
  # 'ndarray' continued from the params this trainer returned for 'ndarray'.
  return dict(_ndarray(ctx), restore_params=ctx.dependency('ndarray').params)


@_config('log_training_metrics')
def _log_training_metrics(ctx):
  # Four training steps, training metrics logged every second one.
  del ctx
  return dict(
      parity_settings.TINY_PPO,
      num_timesteps=4 * parity_settings.STEPS_PER_TRAINING_STEP,
      environment=envs.get_environment('fast'),
      network_factory=parity_settings.mlp_networks(),
      num_evals=2,
      log_training_metrics=True,
      training_metrics_steps=2 * parity_settings.STEPS_PER_TRAINING_STEP)


@_config('num_timesteps_zero')
def _num_timesteps_zero(ctx):
  return dict(_ndarray(ctx), num_timesteps=0)


@_config('num_resets_per_eval')
def _num_resets_per_eval(ctx):
  del ctx
  return dict(
      parity_settings.TINY_PPO,
      environment=envs.get_environment('fast'),
      network_factory=parity_settings.mlp_networks(),
      num_evals=2,
      num_resets_per_eval=2)


# ---------------------------------------------------------------------------
# Running and caching.
# ---------------------------------------------------------------------------


def _host_copy(tree: Any) -> Any:
  """Copies every leaf to a fresh NumPy array (safe from buffer donation)."""
  return jax.tree_util.tree_map(lambda x: np.array(x, copy=True), tree)


@dataclasses.dataclass
class _Run:
  """Everything one trainer produced for one configuration."""
  environment: envs.Env
  make_policy: Callable[..., Any]
  params: Any
  metrics: Dict[str, Any]
  progress: List[Tuple[int, Dict[str, Any]]]
  policy_params: List[Tuple[int, Any]]
  # Whether jax.device_put_replicated existed when training started
  # (None if policy_params_fn was never called).
  shim_active_during_training: Optional[bool]
  workdir: pathlib.Path


def _train(config: str, trainer: str, ctx: _Context) -> _Run:
  """Trains `config` with `trainer`, recording every callback."""
  progress = []
  policy_params = []
  shim_active = []

  def progress_fn(step, metrics):
    progress.append((step, _host_copy(dict(metrics))))

  def policy_params_fn(step, make_policy, params):
    del make_policy
    shim_active.append(brax_upstream.shim_is_active())
    policy_params.append((step, _host_copy(params)))

  kwargs = _CONFIGS[config](ctx)
  make_policy, params, metrics = _trainer(trainer)(
      progress_fn=progress_fn, policy_params_fn=policy_params_fn, **kwargs)
  return _Run(
      environment=kwargs['environment'],
      make_policy=make_policy,
      params=_host_copy(params),
      metrics=_host_copy(dict(metrics)),
      progress=progress,
      policy_params=policy_params,
      shim_active_during_training=shim_active[0] if shim_active else None,
      workdir=ctx.workdir)


class _Runs:
  """Trains each configuration with both trainers once, on first request."""

  def __init__(self, tmp_path_factory: pytest.TempPathFactory):
    self._tmp_path_factory = tmp_path_factory
    self._runs: Dict[str, Tuple[_Run, _Run]] = {}

  def get(self, config: str) -> Tuple[_Run, _Run]:
    """Returns (upstream run, amp_ppo run) of `config`."""
    if config not in self._runs:
      # Upstream first: amp_ppo then finds the compiled programs in the cache.
      self._runs[config] = tuple(
          self._train(config, trainer) for trainer in _TRAINER_NAMES)
    return self._runs[config]

  def _train(self, config: str, trainer: str) -> _Run:
    index = _TRAINER_NAMES.index(trainer)
    ctx = _Context(
        workdir=self._tmp_path_factory.mktemp(f'{config}-{trainer}'),
        dependency=lambda other: self.get(other)[index])
    return _train(config, trainer, ctx)


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  return _Runs(tmp_path_factory)


_ALL_CONFIGS = pytest.mark.parametrize('config', list(_CONFIGS))


# ---------------------------------------------------------------------------
# Interface.
# ---------------------------------------------------------------------------


def _same_default(upstream_default: Any, our_default: Any) -> bool:
  """Equal defaults; lambdas (the callbacks) are compared by behaviour."""
  if getattr(upstream_default, '__name__', None) == '<lambda>':
    if getattr(our_default, '__name__', None) != '<lambda>':
      return False
    # Brax's callback defaults take any arguments and return None.
    return all(
        upstream_default(*args) is None and our_default(*args) is None
        for args in ((), (0, {}), (0, lambda *a: None, ())))
  return upstream_default is our_default or upstream_default == our_default


def test_signature_starts_with_upstream_parameters():
  upstream = list(inspect.signature(brax_ppo_train.train).parameters.values())
  ours = list(inspect.signature(amp_ppo.train).parameters.values())

  assert [p.name for p in ours[:len(upstream)]] == [p.name for p in upstream]
  for want, got in zip(upstream, ours):
    assert got.kind == want.kind, want.name
    assert _same_default(want.default, got.default), want.name
  # Anything amp_ppo adds must not shift Brax's positional parameters.
  for extra in ours[len(upstream):]:
    assert extra.kind == inspect.Parameter.KEYWORD_ONLY, extra.name


def test_train_is_importable_from_package():
  from amp_ppo import train  # pylint: disable=g-import-not-at-top
  from amp_ppo import training  # pylint: disable=g-import-not-at-top

  assert callable(train)
  assert train is training.train


# ---------------------------------------------------------------------------
# The JAX 0.10 shim.
# ---------------------------------------------------------------------------


def test_shim_is_scoped_to_the_context():
  assert not brax_upstream.shim_is_active()
  with brax_upstream.device_put_replicated_shim():
    assert jax.device_put_replicated is jax_compat.device_put_replicated
  assert not brax_upstream.shim_is_active()

  with pytest.raises(ZeroDivisionError):
    with brax_upstream.device_put_replicated_shim():
      _ = 1 / 0
  assert not brax_upstream.shim_is_active()


def test_shim_puts_back_an_existing_attribute(monkeypatch):
  sentinel = object()
  monkeypatch.setattr(jax, 'device_put_replicated', sentinel, raising=False)
  with brax_upstream.device_put_replicated_shim():
    assert jax.device_put_replicated is jax_compat.device_put_replicated
  assert jax.device_put_replicated is sentinel


def test_upstream_without_shim_raises_attribute_error():
  # This is why the vendored trainer calls amp_ppo.jax_compat instead.
  assert not brax_upstream.shim_is_active(), (
      'something set jax.device_put_replicated outside brax_upstream')
  kwargs = _CONFIGS['ndarray'](None)
  with pytest.raises(AttributeError, match='device_put_replicated'):
    brax_ppo_train.train(**kwargs)


def test_vendored_trainer_runs_without_shim(runs):
  upstream, ours = runs.get('ndarray')
  assert upstream.shim_active_during_training is True
  assert ours.shim_active_during_training is False
  assert ours.policy_params  # Training got past device_put_replicated.


# ---------------------------------------------------------------------------
# Parity of everything train() returns or reports.
# ---------------------------------------------------------------------------


@_ALL_CONFIGS
def test_params_are_bitwise_identical(runs, config):
  upstream, ours = runs.get(config)
  assert brax_upstream.tree_differences(upstream.params, ours.params) == []


@_ALL_CONFIGS
def test_metrics_are_identical(runs, config):
  upstream, ours = runs.get(config)
  assert brax_upstream.metrics_differences(upstream.metrics,
                                           ours.metrics) == []


@_ALL_CONFIGS
def test_progress_fn_calls_are_identical(runs, config):
  upstream, ours = runs.get(config)
  assert [s for s, _ in ours.progress] == [s for s, _ in upstream.progress]
  for (step, want), (_, got) in zip(upstream.progress, ours.progress):
    assert brax_upstream.metrics_differences(want, got) == [], step


@_ALL_CONFIGS
def test_policy_params_fn_calls_are_identical(runs, config):
  upstream, ours = runs.get(config)
  assert [s for s, _ in ours.policy_params] == [
      s for s, _ in upstream.policy_params]
  for (step, want), (_, got) in zip(upstream.policy_params,
                                    ours.policy_params):
    assert brax_upstream.tree_differences(want, got) == [], step


def _dummy_observation(env: envs.Env, batch: int = 2) -> Any:
  """A batch of constant observations shaped like `env`'s."""
  def make(size):
    shape = size if isinstance(size, tuple) else (size,)
    return jnp.full((batch,) + shape, 0.25, jnp.float32)
  size = env.observation_size
  if isinstance(size, dict):
    return {key: make(value) for key, value in size.items()}
  return make(size)


@_ALL_CONFIGS
def test_make_policy_gives_identical_actions(runs, config):
  upstream, ours = runs.get(config)
  observation = _dummy_observation(upstream.environment)
  key = jax.random.PRNGKey(11)
  for deterministic in (False, True):
    want = upstream.make_policy(upstream.params, deterministic)(observation,
                                                                key)
    got = ours.make_policy(ours.params, deterministic)(observation, key)
    assert brax_upstream.tree_differences(want, got) == [], deterministic


# ---------------------------------------------------------------------------
# Feature-specific checks (also guard against vacuous parity).
# ---------------------------------------------------------------------------


def test_training_changes_params(runs):
  initial, _ = runs.get('num_timesteps_zero')
  trained, _ = runs.get('ndarray')
  assert brax_upstream.tree_differences(initial.params[1:],
                                        trained.params[1:])


def test_num_timesteps_zero_returns_initial_params_and_no_metrics(runs):
  upstream, ours = runs.get('num_timesteps_zero')
  assert upstream.metrics == {} and ours.metrics == {}
  assert not ours.progress and not ours.policy_params


def test_num_evals_reports_every_eval(runs):
  upstream, ours = runs.get('num_evals_with_checkpoints')
  num_timesteps = parity_settings.TINY_PPO['num_timesteps']
  steps = [0, num_timesteps // 2, num_timesteps]
  assert [s for s, _ in upstream.progress] == steps
  assert [s for s, _ in ours.progress] == steps
  assert [s for s, _ in ours.policy_params] == steps
  assert 'eval/episode_reward' in ours.progress[0][1]


def test_log_training_metrics_reports_episode_metrics(runs):
  upstream, ours = runs.get('log_training_metrics')
  for run in (upstream, ours):
    logged = [m for _, m in run.progress if 'episode/sum_reward' in m]
    assert len(logged) == 2
    assert 'episode/policy_loss' in logged[0]


def test_adaptive_kl_changes_learning_rate(runs):
  upstream, ours = runs.get('adaptive_kl')
  for run in (upstream, ours):
    assert run.metrics['training/learning_rate'] != (
        parity_settings.TINY_PPO['learning_rate'])


def test_bootstrap_on_timeout_sees_time_outs(runs):
  # Episodes (16 steps) must end early by time-out for the test to matter.
  upstream, _ = runs.get('bootstrap_on_timeout')
  assert upstream.metrics['eval/avg_episode_length'] < (
      parity_settings.TINY_PPO['episode_length'])


def _checkpoint_layout(root: pathlib.Path) -> List[str]:
  """Relative paths of the files under `root`, data blobs left out.

  Orbax's OCDBT format stores array data in `d/` files with random names
  whose number depends on write timing; everything else is compared.
  """
  return sorted(
      str(p.relative_to(root)) for p in root.rglob('*')
      if p.is_file() and 'd' not in p.relative_to(root).parts[:-1])


# Checkpoint files that hold no timestamps and must be byte-identical.
_DETERMINISTIC_CHECKPOINT_FILES = ('_METADATA', '_sharding',
                                   'ppo_network_config.json')


def test_checkpoint_save_parity(runs):
  upstream, ours = runs.get('num_evals_with_checkpoints')
  saved_steps = [step for step, _ in upstream.policy_params[1:]]
  assert [d.name for d in _checkpoint_dirs(upstream)] == [
      f'{step:012d}' for step in saved_steps]
  assert _checkpoint_layout(ours.workdir / 'checkpoints') == (
      _checkpoint_layout(upstream.workdir / 'checkpoints'))

  for (step, params), upstream_dir, our_dir in zip(
      upstream.policy_params[1:], _checkpoint_dirs(upstream),
      _checkpoint_dirs(ours)):
    for name in _DETERMINISTIC_CHECKPOINT_FILES:
      assert (our_dir / name).read_bytes() == (
          upstream_dir / name).read_bytes(), (step, name)
    want = ppo_checkpoint.load(upstream_dir)
    got = ppo_checkpoint.load(our_dir)
    assert brax_upstream.tree_differences(want, got) == [], step
    # The checkpoint holds the policy and value params of that step.
    assert brax_upstream.tree_differences(
        list(params[1:]), list(got[1:])) == [], step


def test_restores_continue_from_restored_params(runs):
  # Guards against the restore arguments being silently ignored.
  for restored, fresh_config in (
      ('restore_checkpoint', 'normalize_observations'),
      ('restore_params', 'ndarray')):
    upstream, _ = runs.get(restored)
    fresh, _ = runs.get(fresh_config)
    assert brax_upstream.tree_differences(fresh.params[1:],
                                          upstream.params[1:]), restored


# ---------------------------------------------------------------------------
# Multiple devices.
# ---------------------------------------------------------------------------


def test_multidevice_parity():
  env = dict(os.environ)
  env['XLA_FLAGS'] = ' '.join(
      filter(None, [env.get('XLA_FLAGS'),
                    '--xla_force_host_platform_device_count=2']))
  env['JAX_PLATFORMS'] = 'cpu'
  completed = subprocess.run(
      [sys.executable, '-m', _MULTIDEVICE_MODULE], cwd=_REPO_ROOT, env=env,
      capture_output=True, text=True, timeout=600, check=False)
  assert completed.returncode == 0, completed.stderr[-5000:]
  result = json.loads(completed.stdout.strip().splitlines()[-1])

  assert result['local_device_count'] == 2
  assert set(result['configs']) == {'plain', 'normalized_adaptive_kl_resets'}
  for name, outcome in result['configs'].items():
    assert outcome['shim_active_during_amp_ppo'] is False, name
    assert outcome['params'] == [], name
    assert outcome['metrics'] == [], name
    assert outcome['progress'] == [], name
