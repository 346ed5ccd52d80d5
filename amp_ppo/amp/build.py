"""Builds a run's `Amp` from user arguments, checking everything up front.

All validation here is host-side NumPy or shape tracing (`jax.eval_shape`),
so a bad reference file or a feature mismatch fails before anything compiles.
"""

from typing import Any, Callable, Dict, Mapping, Optional

from absl import logging
from brax import envs
import jax
import jax.numpy as jnp
import numpy as np

from amp_ppo.amp import config as amp_config
from amp_ppo.amp import features
from amp_ppo.amp import motion_prior
from amp_ppo.amp import reference_state_init
from amp_ppo.amp import style_command
from amp_ppo import motion as motion_lib

# Initial states sampled for the start-up feature report.
_REPORT_RESETS = 16
# A dimension whose spread is below this is flagged as constant.
_CONSTANT_STD = 1e-6
# Pairs of equal feature dimensions named in the start-up report, at most.
_MAX_REPORTED_DUPLICATES = 20


def build_amp(environment: envs.Env, config: amp_config.AmpConfig,
              reference: Any, feature_fn: Optional[features.FeatureFn],
              info_feature_key: Optional[str], ppo_num_minibatches: int,
              seed: int, wrap_env: bool,
              action_repeat: int = 1) -> motion_prior.Amp:
  """Validates the AMP inputs and returns the static setup of the run.

  `reference` is one reference (anything `amp_reference` takes), or a
  mapping of two or more style names to references (`load_references`).
  """
  config.validate()
  if not wrap_env:
    raise ValueError(
        'AMP needs wrap_env=True: amp_ppo records features beneath Brax\'s '
        'auto-reset wrapper, which it cannot do for an environment that is '
        'already wrapped. Pass the raw environment (and wrap_env_fn for a '
        'custom wrapper).')
  if feature_fn is not None and info_feature_key is not None:
    raise ValueError('AMP: pass either amp_feature_fn or '
                     'amp_info_feature_key, not both.')
  motions = load_references(reference)
  styles = None
  if isinstance(motions, Mapping):
    styles = style_command.make_styles(
        list(motions), config.style_probabilities,
        config.style_switch_probability, config.style_info_key)
    _check_style_command(environment, styles)  # Traced only.
  else:
    given = config.style_settings_given()
    if given:
      raise ValueError(
          f'AMP settings {list(given)} are for several styles, but '
          'amp_reference is one reference; give a mapping of style names '
          'to references (--config.reference.<style>=path), or drop them.')
    motions = {None: motions}
  kind = next(iter(motions.values())).kind
  if info_feature_key is not None and kind != 'features':
    raise ValueError(
        f'AMP: amp_info_feature_key={info_feature_key!r} reads features the '
        'environment computes itself, which amp_ppo cannot compute for '
        'reference (qpos, qvel) frames; save the reference with a '
        '`features` array instead.')

  history = config.history_length

  if kind == 'state':
    model = features.physics_model(environment)
    nq, nv = features.state_sizes(model)
    for name, motion in motions.items():
      # Widths first, so a reference of another robot gets that error, not
      # a confusing one from resampling its quaternions.
      motion_lib.validate_for_env(motion, nq=nq, nv=nv, feature_size=None,
                                  history_length=1)
      if config.reference_state_init > 0:  # Traced only: before compiling.
        _check_reference_state_init(environment, motion)
      # Brax computes dt with JAX ops: after the checks that compile
      # nothing.
      motion = motion_lib.resample(motion, float(environment.dt),
                                   features.quaternion_starts(model))
      motion_lib.validate_for_env(motion, nq=nq, nv=nv, feature_size=None,
                                  history_length=history)
      motions[name] = motion
    # Building the default feature function may compile (MJX's blank
    # data), and the reference's features need it compiled: after every
    # check that can come first, before the ones that need the features.
    frame_fn = features.frame_fn_for(environment, feature_fn,
                                     info_feature_key)
    feature_size = _feature_size(environment, frame_fn, info_feature_key)
    frames = {}
    for name, motion in motions.items():
      frames[name], = features.state_frames(
          feature_fn or features.default_feature_fn(environment),
          [(motion_lib.concatenated(motion, 'qpos'),
            motion_lib.concatenated(motion, 'qvel'))])
      assert frames[name].shape[1] == feature_size, (frames[name].shape,
                                                     feature_size)
  else:
    frame_fn = features.frame_fn_for(environment, feature_fn,
                                     info_feature_key)
    feature_size = _feature_size(environment, frame_fn, info_feature_key)
    frames = {}
    for name, motion in motions.items():
      motion_lib.validate_for_env(motion, nq=None, nv=None,
                                  feature_size=feature_size, history_length=1)
      motion = motion_lib.resample(motion, float(environment.dt))
      motion_lib.validate_for_env(motion, nq=None, nv=None,
                                  feature_size=feature_size,
                                  history_length=history)
      motions[name] = motion
      frames[name] = motion_lib.concatenated(motion, 'features')
      if config.reference_state_init > 0:
        _check_reference_state_init(environment, motion)
  for name, style_frames in frames.items():
    _check_finite('reference' if name is None else f'style {name!r} reference',
                  style_frames)

  windows = [motion_lib.window_starts(motion, history)
             for motion in motions.values()]
  start_states = None
  if config.reference_state_init > 0:
    start_states = [
        _reference_start_states(motion, history, frames[name])
        for name, motion in motions.items()]
  reference_frames = np.concatenate(list(frames.values()))
  policy_frames = _initial_policy_frames(environment, frame_fn, seed)
  report = feature_report(reference_frames, policy_frames)
  log_feature_report(report)

  if styles:
    reference_windows = _style_windows(frames, windows, styles)
    if start_states is not None:
      start_states = _style_start_states(start_states)
  else:
    (starts, probabilities), = windows
    reference_windows = motion_prior.ReferenceWindows(
        frames=jnp.asarray(reference_frames, jnp.float32),
        starts=jnp.asarray(starts, jnp.int32),
        probabilities=jnp.asarray(probabilities, jnp.float32))
    if start_states is not None:
      start_states, = start_states
  amp = motion_prior.Amp(
      config=config, frame_fn=frame_fn, reference=reference_windows,
      feature_size=feature_size, ppo_num_minibatches=ppo_num_minibatches,
      seed=seed, reference_start_states=start_states,
      action_repeat=action_repeat, styles=styles)
  amp.feature_report = report
  return amp


def load_references(reference: Any) -> Any:
  """One ReferenceMotion, or a dict of two or more style name -> motion.

  `reference` is what `amp_reference` takes: a path, a list of paths, a
  `ReferenceMotion`, or a mapping of style names to any of those. A mapping
  of one style is that style's reference alone (no command). Host only.

  Raises:
    ValueError: an empty mapping, a style name that is not a non-empty str,
      styles whose frames differ in kind or width, or a malformed file.
  """
  if not isinstance(reference, Mapping):
    return motion_lib.load_reference(reference)
  if not reference:
    raise ValueError('amp_reference is an empty mapping: give at least one '
                     'style name -> reference (path, list of paths or '
                     'ReferenceMotion).')
  motions = {}
  for name, value in reference.items():
    if not isinstance(name, str) or not name or '/' in name:
      raise ValueError(
          f'amp_reference: style name {name!r} must be a non-empty str '
          'without "/" (it names metrics such as eval/amp/style/<name>).')
    try:
      motions[name] = motion_lib.load_reference(value)
    except (ValueError, TypeError) as error:
      raise type(error)(f'amp_reference, style {name!r}: {error}') from error
  if len(motions) == 1:
    return next(iter(motions.values()))
  # One kind and frame width across the styles (the motion checks it).
  motion_lib.ReferenceMotion(tuple(
      clip for motion in motions.values() for clip in motion.clips))
  return motions


def _style_windows(frames, windows, styles) -> motion_prior.ReferenceWindows:
  """Every style's windows in one array, a probability row per style."""
  offsets = np.cumsum([0] + [f.shape[0] for f in frames.values()])
  starts = np.concatenate([s + offset
                           for (s, _), offset in zip(windows, offsets)])
  rows = np.zeros((styles.num, starts.shape[0]), np.float64)
  column = 0
  for index, (style_starts, probabilities) in enumerate(windows):
    rows[index, column:column + style_starts.shape[0]] = probabilities
    column += style_starts.shape[0]
  return motion_prior.ReferenceWindows(
      frames=jnp.asarray(np.concatenate(list(frames.values())), jnp.float32),
      starts=jnp.asarray(starts, jnp.int32),
      probabilities=jnp.asarray(
          np.asarray(styles.probabilities) @ rows, jnp.float32),
      style_probabilities=jnp.asarray(rows, jnp.float32))


def _style_start_states(start_states):
  """RSI's start frames of every style, a probability row per style."""
  qpos, qvel, probabilities, history = zip(*start_states)
  rows = np.zeros((len(start_states), sum(p.shape[0] for p in probabilities)),
                  np.float32)
  column = 0
  for index, style_probabilities in enumerate(probabilities):
    rows[index, column:column + style_probabilities.shape[0]] = (
        style_probabilities)
    column += style_probabilities.shape[0]
  return (jnp.concatenate(qpos), jnp.concatenate(qvel), jnp.asarray(rows),
          None if history[0] is None else jnp.concatenate(history))


def _check_style_command(environment, styles) -> None:
  """Refuses an environment the command cannot go into; traced only."""
  state = jax.eval_shape(environment.reset,
                         jax.ShapeDtypeStruct((2,), jnp.uint32))
  if styles.info_key is not None:
    command = state.info.get(styles.info_key)
    if command is None:
      raise ValueError(
          f'AMP: amp_style_info_key={styles.info_key!r} is not in the '
          'state.info of the environment\'s reset state (it has '
          f'{sorted(state.info)}); make the environment write its style '
          'command (an int32 index into amp_reference\'s styles) there, or '
          'drop amp_style_info_key to let amp_ppo draw it.')
    if command.shape != () or not jnp.issubdtype(command.dtype, jnp.integer):
      raise ValueError(
          f'AMP: state.info[{styles.info_key!r}] is {command.dtype}'
          f'{list(command.shape)}; the style command must be one integer '
          'per environment, an index into amp_reference\'s styles.')
    return
  observations = state.obs if isinstance(state.obs, Mapping) else {
      'obs': state.obs}
  commanded = [k for k, v in observations.items()
               if not k.startswith('pixels/') and len(v.shape) == 1]
  if not commanded:
    raise ValueError(
        'AMP: several styles append the command\'s one-hot to the '
        'observation, but it has no vector to append to (shapes '
        f'{ {k: v.shape for k, v in observations.items()} }); give the '
        'environment a vector observation, or let it carry its own command '
        '(amp_style_info_key).')


def _check_reference_state_init(environment, motion) -> None:
  """Refuses a reference or environment that RSI cannot start from."""
  if motion.kind != 'state':
    raise ValueError(
        'AMP reference_state_init needs reference (qpos, qvel) frames to '
        'start episodes from; this reference holds only `features`. Set '
        'amp_reference_state_init=0 or save qpos and qvel.')
  raw = getattr(environment, 'unwrapped', environment)
  if not reference_state_init.can_place(raw):
    raise ValueError(
        'AMP reference_state_init needs a Brax PipelineEnv (one whose reset '
        'calls pipeline_init) or a MuJoCo Playground MjxEnv (one whose reset '
        f'calls mjx_env.make_data); {type(environment).__name__} is neither. '
        'Set amp_reference_state_init=0.')
  # Traced, not compiled: a reset that builds its state twice is refused now.
  qpos0 = motion_lib.concatenated(motion, 'qpos')[0]
  qvel0 = motion_lib.concatenated(motion, 'qvel')[0]
  with reference_state_init.placed_at(raw, qpos0, qvel0) as calls:
    jax.eval_shape(environment.reset, jax.ShapeDtypeStruct((2,), jnp.uint32))
  reference_state_init.check_placed(raw, calls)


def _reference_start_states(motion, history_length, reference_frames):
  """(qpos, qvel, probability, history or None) of RSI's start frames."""
  # A start needs the H-2 frames before it in its clip to seed the feature
  # history: starts are the last frames of the clips' (H-1)-frame windows.
  past = max(history_length - 2, 0)
  windows, probabilities = motion_lib.window_starts(motion, past + 1)
  frames = windows + past
  history = None
  if past:
    history = jnp.asarray(reference_frames[windows[:, None] + np.arange(past)])
  return (jnp.asarray(motion_lib.concatenated(motion, 'qpos')[frames]),
          jnp.asarray(motion_lib.concatenated(motion, 'qvel')[frames]),
          jnp.asarray(probabilities, jnp.float32), history)


def _feature_size(environment, frame_fn, info_feature_key) -> int:
  try:
    # An abstract key: even creating a concrete one would compile.
    key = jax.ShapeDtypeStruct((2,), jnp.uint32)
    shape = jax.eval_shape(lambda k: frame_fn(environment.reset(k)),
                           key).shape
  except KeyError as e:
    raise ValueError(
        f'AMP: amp_info_feature_key={info_feature_key!r} is not in the '
        'state.info of the environment\'s reset state; make the environment '
        'write its AMP features there at reset and at every step.') from e
  if len(shape) != 1 or shape[0] == 0:
    raise ValueError(
        f'AMP: the feature function returns shape {shape} for one state; it '
        'must return a non-empty vector [F].')
  return int(shape[0])


def _initial_policy_frames(environment, frame_fn, seed) -> np.ndarray:
  keys = jax.random.split(jax.random.PRNGKey(seed), _REPORT_RESETS)
  return np.asarray(jax.jit(jax.vmap(
      lambda key: frame_fn(environment.reset(key))))(keys))


def feature_report(reference_frames: np.ndarray,
                   policy_frames: np.ndarray) -> Dict[str, Any]:
  """Per-dimension statistics of reference vs. initial-policy features.

  Raises ValueError on non-finite features, which would poison the
  discriminator; flags dimensions constant across both sets, which carry no
  signal (e.g. contacts that never fire), and dimensions that repeat an
  earlier one, which only weigh that one twice.
  """
  for name, frames in (('reference', reference_frames),
                       ('initial policy', policy_frames)):
    _check_finite(name, frames)
  both = np.concatenate([reference_frames, policy_frames])
  constant = np.where(both.std(axis=0) < _CONSTANT_STD)[0]
  duplicates = [
      (int(earlier), int(later))
      for later in range(both.shape[1]) if later not in constant
      for earlier in range(later)
      if np.array_equal(both[:, earlier], both[:, later])
  ][:_MAX_REPORTED_DUPLICATES]
  return {
      'reference_mean': reference_frames.mean(axis=0),
      'reference_std': reference_frames.std(axis=0),
      'policy_mean': policy_frames.mean(axis=0),
      'policy_std': policy_frames.std(axis=0),
      'constant_dims': constant.tolist(),
      'duplicate_dims': duplicates,
  }


def _check_finite(name: str, frames: np.ndarray) -> None:
  bad = np.where(~np.all(np.isfinite(frames), axis=0))[0]
  if bad.size:
    raise ValueError(
        f'AMP: {name} features have NaN or inf in dimension(s) '
        f'{bad.tolist()}; check the reference file and the feature '
        'function for those entries.')


def log_feature_report(report: Dict[str, Any]) -> None:
  lines = ['AMP features: dim  ref_mean  ref_std  init_mean  init_std']
  for i, row in enumerate(zip(report['reference_mean'],
                              report['reference_std'], report['policy_mean'],
                              report['policy_std'])):
    flag = '  CONSTANT' if i in report['constant_dims'] else ''
    lines.append(f'  {i:4d} ' + ' '.join(f'{v:9.4f}' for v in row) + flag)
  logging.info('\n'.join(lines))
  if report['constant_dims']:
    logging.warning(
        'AMP: feature dimension(s) %s are constant in the reference and the '
        'initial states; they carry no style signal.', report['constant_dims'])
  if report['duplicate_dims']:
    logging.warning(
        'AMP: feature dimension pairs %s are equal in the reference and the '
        'initial states; each pair weighs one quantity twice.',
        report['duplicate_dims'])
