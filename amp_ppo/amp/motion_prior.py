"""The AMP component: state, style reward and discriminator update.

`Amp` holds everything static about a run (settings, networks, reference
features on device) and is closed over by Brax's jitted training epoch;
`AmpState` is the part that changes and lives in Brax's `TrainingState`,
replicated on every device.

Per PPO training step, `Amp.training_step`:
  1. scores the rollout's feature windows with the discriminator that was
     live during the rollout, and mixes its style reward into the reward;
  2. updates the feature normaliser with raw reference and policy frames;
  3. runs the discriminator's SGD steps (reference vs. rollout + replay);
  4. writes the rollout windows it trained on into the replay buffer.

With several styles (`styles`), each of those steps keeps the styles apart:
a window is scored by the discriminator of the command it was recorded
under, each style's discriminator trains on its own reference windows
against policy windows of its own command, and the replay keeps every
window's style. One discriminator per style ('per_style', Multi-AMP's) is
one network's parameters stacked along a leading style axis and vmapped;
'conditioned' is one network that also sees the style's one-hot.
"""

import dataclasses
import functools
from typing import Any, Dict, Optional, Tuple

from brax.training import types
from brax.training.acme import running_statistics
from brax.training.acme import specs
import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from amp_ppo.amp import config as amp_config
from amp_ppo.amp import discriminator as disc
from amp_ppo.amp import feature_windows
from amp_ppo.amp import losses
from amp_ppo.amp import reference_state_init
from amp_ppo.amp import replay
from amp_ppo.amp import style_command

# Separates the discriminator's initial key from Brax's key stream.
_KEY_SALT = 0x414D50  # 'AMP'

# AMP's training metrics (Brax reports them under 'training/').
TASK_REWARD_MEAN = 'amp/task_reward_mean'
STYLE_REWARD_MEAN = 'amp/style_reward_mean'
STYLE_REWARD_STD = 'amp/style_reward_std'
STYLE_SHARE = 'amp/style_share'
REPLAY_FILL = 'amp/replay_fill'
VALID_WINDOW_FRACTION = 'amp/valid_window_fraction'
DISC_LOSS = 'amp/disc_loss'
GRAD_PENALTY = 'amp/grad_penalty'
DISC_TOTAL_LOSS = 'amp/disc_total_loss'
DISC_GRAD_NORM = 'amp/disc_grad_norm'
ACCURACY_REFERENCE = 'amp/accuracy_reference'
ACCURACY_POLICY = 'amp/accuracy_policy'
D_REFERENCE = 'amp/d_reference'
D_POLICY = 'amp/d_policy'
# Per style, with several styles: 'amp/style/<name>/<metric>'.
STYLE_METRICS_PREFIX = 'amp/style/'
_PER_STYLE_METRICS = (ACCURACY_REFERENCE, ACCURACY_POLICY)
# Those the non-finite check watches, in the order a NaN usually reaches
# them (amp_ppo.reliability.finite_check.quantities).
CHECKED_METRICS = {
    TASK_REWARD_MEAN: "the environment's task reward",
    STYLE_REWARD_MEAN: 'the style reward',
    DISC_LOSS: 'the discriminator loss',
    GRAD_PENALTY: "the discriminator's gradient penalty",
    DISC_TOTAL_LOSS: 'the total discriminator loss',
    DISC_GRAD_NORM: "the discriminator's gradient",
}
# The AMP state's checkpoint item: its directory in Brax's step directory.
STATE_ITEM = 'amp_state'
STATE_MISMATCH_HINT = (
    'use the AMP settings (features, history length, replay size, '
    'discriminator layers) it was trained with, or warm-start the policy '
    'only from a PPO checkpoint')


@flax.struct.dataclass
class AmpState:
  disc_params: Any
  disc_optimizer_state: optax.OptState
  normalizer: running_statistics.RunningStatisticsState  # per frame, [F]
  replay: replay.ReplayBuffer
  key: jax.Array  # replicated: identical on every device


@dataclasses.dataclass(frozen=True)
class ReferenceWindows:
  """Reference frames on device and where valid windows start."""
  frames: jax.Array         # [num_frames, F]
  starts: jax.Array         # [num_windows] int32, window inside one clip
  probabilities: jax.Array  # [num_windows], sums to 1
  # With several styles: [num_styles, num_windows], row s the windows of
  # style s (0 elsewhere), each row summing to 1.
  style_probabilities: Optional[jax.Array] = None

  def sample(self, key: jax.Array, n: int, history_length: int) -> jax.Array:
    """[n, H, F] windows drawn with the clips' weights, inside the jitted step.

    The style distances draw theirs on the host with NumPy
    (`style_evaluator.sample_windows`). The two stay apart: this draw runs
    on device every training step from the run's key stream, and a NumPy
    generator would change every run's training, bit for bit.
    """
    return self._windows(jax.random.choice(
        key, self.starts.shape[0], (n,), p=self.probabilities),
                         history_length)

  def sample_style(self, key: jax.Array, n: int, history_length: int,
                   style: jax.Array) -> jax.Array:
    """[n, H, F] windows of one style, drawn with its clips' weights."""
    return self._windows(jax.random.choice(
        key, self.starts.shape[0], (n,), p=self.style_probabilities[style]),
                         history_length)

  def _windows(self, idx: jax.Array, history_length: int) -> jax.Array:
    frame_idx = self.starts[idx][:, None] + jnp.arange(history_length)
    return self.frames[frame_idx]  # [n, H, F]


class Amp:
  """Static AMP setup for one training run."""

  def __init__(self, config: amp_config.AmpConfig, frame_fn,
               reference: ReferenceWindows,
               feature_size: int, ppo_num_minibatches: int, seed: int,
               axis_name: Optional[str] = 'i',
               reference_start_states: Optional[Tuple[Any, ...]] = None,
               action_repeat: int = 1,
               styles: Optional[style_command.Styles] = None):
    self.config = config
    self.styles = styles
    self.reference = reference
    self.feature_size = feature_size
    self.axis_name = axis_name
    self.frame_fn = frame_fn
    self._seed = seed
    self._reference_start_states = reference_start_states
    self._reward_chunks = ppo_num_minibatches
    self.disc_num_minibatches = (
        config.disc_num_minibatches or ppo_num_minibatches)
    self.network = disc.Discriminator(config.disc_hidden_layer_sizes)
    self.optimizer = optax.adam(config.disc_learning_rate)
    self.action_repeat = action_repeat
    # Windows of more than 2 frames start padded at every episode start.
    self.masks_padding = config.history_length > 2
    self.extra_fields = (feature_windows.WINDOW_KEY,) + (
        (feature_windows.WINDOW_VALID_KEY,) if self.masks_padding else ()) + (
            (style_command.WINDOW_STYLE_KEY,) if styles else ())
    self.conditioned = bool(styles) and (
        config.style_discriminator == 'conditioned')

  @property
  def window_shape(self) -> Tuple[int, int]:
    return (self.config.history_length, self.feature_size)

  def wrap_env(self, env):
    """Puts the feature recorder (and RSI) beneath Brax's training wrappers."""
    if self.config.reference_state_init > 0:
      style_probabilities = None
      if self.styles:
        style_probabilities = jnp.asarray(self.styles.probabilities,
                                          jnp.float32)
      env = reference_state_init.ReferenceStateInitWrapper(
          env, self.config.reference_state_init,
          *self._reference_start_states, frame_fn=self.frame_fn,
          style_probabilities=style_probabilities)
    return feature_windows.AmpFeatureWrapper(env, self.frame_fn,
                                             self.config.history_length)

  def wrap_training_env(self, env):
    """Goes on Brax's training wrappers (auto-reset included), on top.

    With several styles, the style command goes there too.
    """
    wrapper = env
    while wrapper is not None:
      if getattr(wrapper, '_full_reset', False):
        raise ValueError(
            f'AMP: {type(wrapper).__name__}(full_reset=True) replaces the '
            'whole state.info when an episode ends, so the feature window of '
            'every terminal step would be the next episode\'s first one. '
            'Use full_reset=False (MuJoCo Playground\'s default) with AMP.')
      wrapper = getattr(wrapper, 'env', None)
    env = feature_windows.EpisodeStartMarker(env)
    if self.styles:
      env = style_command.StyleCommandWrapper(env, self.styles)
    return env

  def init_state(self) -> AmpState:
    key = jax.random.fold_in(jax.random.PRNGKey(self._seed), _KEY_SALT)
    key_params, key_state = jax.random.split(key)
    inputs = int(np.prod(self.window_shape))
    if self.conditioned:  # The style's one-hot after the window.
      inputs += self.styles.num
    dummy = jnp.zeros((1, inputs), jnp.float32)
    if self.styles and not self.conditioned:  # One per style, stacked.
      params = jax.vmap(lambda k: self.network.init(k, dummy))(
          jax.random.split(key_params, self.styles.num))
    else:
      params = self.network.init(key_params, dummy)
    return AmpState(
        disc_params=params,
        disc_optimizer_state=self.optimizer.init(params),
        normalizer=running_statistics.init_state(
            specs.Array((self.feature_size,), jnp.dtype('float32'))),
        replay=replay.init(self.config.replay_size, self.window_shape,
                           labelled=bool(self.styles)),
        key=key_state)

  # -- inside the jitted training step ------------------------------------

  def logits(self, params, normalizer, windows: jax.Array,
             styles: Optional[jax.Array] = None) -> jax.Array:
    """Discriminator logits of raw windows [..., H, F] -> [...].

    With several styles, `styles` [...] names each window's style: its own
    discriminator scores it (per style), or the one discriminator scores it
    under that style (conditioned).
    """
    x = disc.normalize_windows(windows, normalizer, self.config.feature_clip,
                               self.config.normalize_features)
    if styles is None or self.conditioned:
      return self._apply(params, x, styles)
    every = jax.vmap(self.network.apply, in_axes=(0, None))(params, x)
    return jnp.take_along_axis(every, styles[None], axis=0)[0]

  def _apply(self, params, x: jax.Array,
             styles: Optional[jax.Array] = None) -> jax.Array:
    """One network's logits of normalised inputs [..., D] (and styles)."""
    if styles is None:
      return self.network.apply(params, x)
    return self._apply_conditioned(params, x,
                                   style_command.one_hot(styles,
                                                         self.styles.num))

  def _apply_conditioned(self, params, x, condition):
    return self.network.apply(params, jnp.concatenate([x, condition], -1))

  def style_reward(self, params, normalizer, windows: jax.Array,
                   styles: Optional[jax.Array] = None) -> jax.Array:
    """Scaled style reward of raw windows [B, T, H, F] -> [B, T].

    With several styles, `styles` [B, T] are the windows' commands.
    """
    # Scored in PPO-minibatch-sized chunks: one [B*T, hidden] activation for
    # a whole rollout would not fit next to the rollout on a GPU.
    chunks = jnp.reshape(windows, (self._reward_chunks, -1) + windows.shape[1:])
    if styles is None:
      logits = jax.lax.map(lambda w: self.logits(params, normalizer, w),
                           chunks)
    else:
      logits = jax.lax.map(
          lambda c: self.logits(params, normalizer, *c),
          (chunks, jnp.reshape(styles, chunks.shape[:-2])))
    reward = losses.reward_fn(self.config.loss)(logits)
    return self.config.style_reward_scale * jnp.reshape(
        reward, windows.shape[:2])

  def training_step(
      self, state: AmpState, data: types.Transition
  ) -> Tuple[types.Transition, AmpState, Dict[str, jax.Array]]:
    """Style reward into `data`, then one round of discriminator updates."""
    cfg = self.config
    state_extras = data.extras['state_extras']
    windows = state_extras[feature_windows.WINDOW_KEY]  # [B, T, H, F]
    task_reward = data.reward  # [B, T], summed over action_repeat substeps
    valid = None  # [B, T]: windows without padding, for H > 2
    if self.masks_padding:
      valid = state_extras[feature_windows.WINDOW_VALID_KEY]
    labels = None  # [B, T]: the command each window was recorded under
    if self.styles:
      labels = state_extras[style_command.WINDOW_STYLE_KEY]

    # 1. Reward from the discriminator that was live during the rollout.
    style = self.style_reward(state.disc_params, state.normalizer, windows,
                              labels)
    if valid is not None:
      # A padded window says nothing about style either way: it gets the
      # rollout's mean, so episode starts are neither paid nor punished.
      mean_valid = jnp.sum(style * valid) / jnp.maximum(jnp.sum(valid), 1)
      style = jnp.where(valid, style, mean_valid)
    if self.action_repeat > 1:
      # The task reward sums the repeated substeps; one window stands for
      # them all, so its reward is counted as often to keep the mix.
      style = self.action_repeat * style
    weighted_task = cfg.task_weight * task_reward
    weighted_style = cfg.style_weight * style
    data = data._replace(reward=weighted_task + weighted_style)

    key, key_replay_slot, key_local = jax.random.split(state.key, 3)
    key_local = self._per_device(key_local)
    key_ref, key_rollout, key_replay = jax.random.split(key_local, 3)
    # Folded in, not split off, so the other draws are those of a run
    # without input noise.
    key_noise = jax.random.fold_in(key_local, 1)
    m, n = self.disc_num_minibatches, cfg.disc_minibatch_size
    n_rollout = n // 2 if cfg.replay_size else n

    policy_windows = jnp.reshape(windows, (-1,) + self.window_shape)
    flat_labels = None if labels is None else jnp.reshape(labels, (-1,))
    if self.styles:
      reference, rollout_idx = self._style_samples(
          key_ref, key_rollout, m * n, (m, n_rollout), valid, flat_labels)
    else:
      reference = self.reference.sample(key_ref, m * n, cfg.history_length)
      rollout_idx = self._rollout_indices(key_rollout, (m, n_rollout), valid,
                                          policy_windows.shape[0])
    rollout_batches = policy_windows[rollout_idx]  # [(S,) m, n_rollout, H, F]

    # 2. Normaliser statistics from raw frames only, averaged over devices.
    normalizer = state.normalizer
    if cfg.normalize_features:
      reference_frames = jnp.reshape(reference, (-1, self.feature_size))
      raw_frames = jnp.concatenate([
          jnp.reshape(policy_windows, (-1, self.feature_size)),
          reference_frames])
      weights = None
      if valid is not None:  # Padding would count an episode's start H-1x.
        frame_weights = jnp.broadcast_to(
            jnp.reshape(valid, (-1, 1)), policy_windows.shape[:2])
        weights = jnp.concatenate([
            jnp.reshape(frame_weights, (-1,)),
            jnp.ones((reference_frames.shape[0],), bool)
        ]).astype(jnp.float32)
      normalizer = running_statistics.update(
          normalizer, raw_frames, weights=weights,
          pmap_axis_name=self.axis_name)

    # 3. Discriminator SGD on reference vs. rollout (+ replay) windows.
    policy_batches = rollout_batches
    if cfg.replay_size:
      n_replay = n - n_rollout
      if self.styles:
        replayed, present = jax.vmap(
            lambda k, s: replay.sample_style(state.replay, k, m * n_replay,
                                             s))(
                jax.random.split(key_replay, self.styles.num),
                jnp.arange(self.styles.num))
        replayed = jnp.reshape(replayed,
                               (-1, m, n_replay) + self.window_shape)
        # A style the buffer holds no window of yet: use the rollout.
        replayed = jnp.where(present[:, None, None, None, None], replayed,
                             rollout_batches[:, :, :n_replay])
      else:
        replayed = replay.sample(state.replay, key_replay, m * n_replay)
        replayed = jnp.reshape(replayed, (m, n_replay) + self.window_shape)
        # Before the first insertion the buffer is empty: use the rollout.
        replayed = jnp.where(state.replay.count > 0, replayed,
                             rollout_batches[:, :n_replay])
      policy_batches = jnp.concatenate([rollout_batches, replayed], axis=-3)
    reference_batches = jnp.reshape(reference, policy_batches.shape)
    if self.styles:  # Scanned over minibatches: [m, S, n, H, F].
      reference_batches = jnp.swapaxes(reference_batches, 0, 1)
      policy_batches = jnp.swapaxes(policy_batches, 0, 1)
    loss = self._style_loss if self.styles else self._loss

    def sgd_step(carry, batch):
      params, opt_state = carry
      (_, metrics), grads = jax.value_and_grad(loss, has_aux=True)(
          params, normalizer, *batch)
      if self.axis_name is not None:
        grads = jax.lax.pmean(grads, axis_name=self.axis_name)
      metrics[DISC_GRAD_NORM] = optax.global_norm(grads)
      updates, opt_state = self.optimizer.update(grads, opt_state, params)
      return (optax.apply_updates(params, updates), opt_state), metrics

    (params, opt_state), sgd_metrics = jax.lax.scan(
        sgd_step, (state.disc_params, state.disc_optimizer_state),
        (reference_batches, policy_batches, jax.random.split(key_noise, m)))

    # 4. Replay: every device inserts the same gathered windows.
    buffer = state.replay
    if cfg.replay_size:
      new_windows = jnp.reshape(rollout_batches, (-1,) + self.window_shape)
      new_labels = None
      if self.styles:  # The windows' own commands, whatever was drawn.
        new_labels = jnp.reshape(flat_labels[rollout_idx], (-1,))
      if self.axis_name is not None:
        new_windows = jnp.reshape(
            jax.lax.all_gather(new_windows, self.axis_name),
            (-1,) + self.window_shape)
        if new_labels is not None:
          new_labels = jnp.reshape(
              jax.lax.all_gather(new_labels, self.axis_name), (-1,))
      buffer = replay.insert(buffer, new_windows, key_replay_slot, new_labels)

    new_state = AmpState(disc_params=params, disc_optimizer_state=opt_state,
                         normalizer=normalizer, replay=buffer, key=key)
    metrics = {k: jnp.mean(v) for k, v in sgd_metrics.items()}
    mean_task, mean_style = jnp.mean(weighted_task), jnp.mean(weighted_style)
    metrics.update({
        STYLE_REWARD_MEAN: jnp.mean(style),
        STYLE_REWARD_STD: jnp.std(style),
        TASK_REWARD_MEAN: jnp.mean(task_reward),
        STYLE_SHARE: mean_style / (
            jnp.abs(mean_task) + jnp.abs(mean_style) + 1e-8),
        REPLAY_FILL: (buffer.count / max(cfg.replay_size, 1)).astype(
            jnp.float32),
    })
    if valid is not None:
      metrics[VALID_WINDOW_FRACTION] = jnp.mean(valid.astype(
          jnp.float32))
    if self.styles:
      metrics.update(self._per_style_metrics(sgd_metrics, style, labels))
    return data, new_state, metrics

  def _rollout_indices(self, key, shape, valid, num_windows):
    """Indices of rollout windows to train on, uniform over the valid ones."""
    if valid is None:
      return jax.random.randint(key, shape, 0, num_windows)
    # Padded windows are trivially fake: train on real ones only.
    flat_valid = jnp.reshape(valid, (-1,)).astype(jnp.float32)
    count = jnp.sum(flat_valid)
    p = jnp.where(count > 0, flat_valid / jnp.maximum(count, 1.0),
                  1.0 / flat_valid.shape[0])
    return jax.random.choice(key, flat_valid.shape[0], shape, p=p)

  def _style_samples(self, key_ref, key_rollout, num_reference, shape, valid,
                     flat_labels):
    """Per style: reference windows [S, num_reference, H, F] and indices
    [S, *shape] of rollout windows recorded under its command.

    A style no rollout window was commanded with (possible with few
    environments) trains on windows of any command that step.
    """
    usable = jnp.ones(flat_labels.shape, jnp.float32)
    if valid is not None:
      usable = jnp.reshape(valid, (-1,)).astype(jnp.float32)

    def one_style(style, key_style_ref, key_style_rollout):
      reference = self.reference.sample_style(
          key_style_ref, num_reference, self.config.history_length, style)
      mine = usable * (flat_labels == style)
      count = jnp.sum(mine)
      weights = jnp.where(count > 0, mine, usable)
      p = weights / jnp.maximum(jnp.sum(weights), 1.0)
      p = jnp.where(jnp.sum(weights) > 0, p, 1.0 / p.shape[0])
      return reference, jax.random.choice(key_style_rollout, p.shape[0],
                                          shape, p=p)

    num = self.styles.num
    return jax.vmap(one_style)(jnp.arange(num),
                               jax.random.split(key_ref, num),
                               jax.random.split(key_rollout, num))

  def _per_style_metrics(self, sgd_metrics, style_reward, labels):
    """'amp/style/<name>/...': each style's accuracies and style reward."""
    metrics = {}
    for index, name in enumerate(self.styles.names):
      prefix = f'{STYLE_METRICS_PREFIX}{name}/'
      for metric in _PER_STYLE_METRICS:
        metrics[prefix + metric.split('/')[-1]] = jnp.mean(
            sgd_metrics[metric][:, index])
      mine = (labels == index).astype(jnp.float32)
      metrics[prefix + STYLE_REWARD_MEAN.split('/')[-1]] = (
          jnp.sum(style_reward * mine) / jnp.maximum(jnp.sum(mine), 1.0))
    return metrics

  def _style_loss(self, params, normalizer, reference_windows,
                  policy_windows, noise_key):
    """The loss of every style's discriminator on its own [S, n, H, F].

    Per style: the discriminators' losses, summed (each one's gradient is
    its own). Conditioned: the one discriminator on all styles, each
    window with its style. Metrics are per style, [S].
    """
    num = self.styles.num
    if not self.conditioned:
      totals, metrics = jax.vmap(self._loss, in_axes=(0, None, 0, 0, 0))(
          params, normalizer, reference_windows, policy_windows,
          jax.random.split(noise_key, num))
      return jnp.sum(totals), metrics
    n = reference_windows.shape[1]
    styles = jnp.repeat(jnp.arange(num), n)
    flat = lambda w: jnp.reshape(w, (num * n,) + w.shape[2:])
    return self._conditioned_loss(params, normalizer, flat(reference_windows),
                                  flat(policy_windows), noise_key, styles)

  def _loss(self, params, normalizer, reference_windows, policy_windows,
            noise_key):
    x_ref, x_pol = self._disc_inputs(normalizer, reference_windows,
                                     policy_windows, noise_key)
    d_ref = self.network.apply(params, x_ref)
    d_pol = self.network.apply(params, x_pol)
    # At the (noisy) reference inputs the discriminator was trained on.
    penalty = losses.r1_gradient_penalty(
        lambda x: self.network.apply(params, x), x_ref)
    adversarial = losses.loss_fn(self.config.loss)(d_ref, d_pol)
    total = self._total_loss(params, adversarial, penalty)
    acc_ref, acc_pol = losses.accuracy(d_ref, d_pol)
    return total, {
        DISC_LOSS: adversarial,
        GRAD_PENALTY: penalty,
        DISC_TOTAL_LOSS: total,
        ACCURACY_REFERENCE: acc_ref,
        ACCURACY_POLICY: acc_pol,
        D_REFERENCE: jnp.mean(d_ref),
        D_POLICY: jnp.mean(d_pol),
    }

  def _conditioned_loss(self, params, normalizer, reference_windows,
                        policy_windows, noise_key, styles):
    """The conditioned discriminator's loss on style-major rows [S * n].

    The adversarial loss and the gradient penalty are means over the
    styles' own, which are also the metrics, [S].
    """
    num = self.styles.num
    x_ref, x_pol = self._disc_inputs(normalizer, reference_windows,
                                     policy_windows, noise_key)
    condition = style_command.one_hot(styles, num)
    per_style = lambda v: jnp.reshape(v, (num, -1) + v.shape[1:])
    d_ref = per_style(self._apply_conditioned(params, x_ref, condition))
    d_pol = per_style(self._apply_conditioned(params, x_pol, condition))
    penalty = jax.vmap(lambda x, c: losses.r1_gradient_penalty(
        functools.partial(self._apply_conditioned, params), x, c))(
            per_style(x_ref), per_style(condition))
    adversarial = jax.vmap(losses.loss_fn(self.config.loss))(d_ref, d_pol)
    total = self._total_loss(params, jnp.mean(adversarial), jnp.mean(penalty))
    acc_ref, acc_pol = jax.vmap(losses.accuracy)(d_ref, d_pol)
    return total, {
        DISC_LOSS: adversarial,
        GRAD_PENALTY: penalty,
        DISC_TOTAL_LOSS: jnp.full((num,), total),
        ACCURACY_REFERENCE: acc_ref,
        ACCURACY_POLICY: acc_pol,
        D_REFERENCE: jnp.mean(d_ref, axis=1),
        D_POLICY: jnp.mean(d_pol, axis=1),
    }

  def _disc_inputs(self, normalizer, reference_windows, policy_windows,
                   noise_key):
    """Normalised, flattened (and, for updates, noisy) inputs of both."""
    cfg = self.config
    x_ref = disc.normalize_windows(reference_windows, normalizer,
                                   cfg.feature_clip, cfg.normalize_features)
    x_pol = disc.normalize_windows(policy_windows, normalizer,
                                   cfg.feature_clip, cfg.normalize_features)
    if cfg.disc_input_noise:
      key_ref, key_pol = jax.random.split(noise_key)
      x_ref = x_ref + cfg.disc_input_noise * jax.random.normal(
          key_ref, x_ref.shape)
      x_pol = x_pol + cfg.disc_input_noise * jax.random.normal(
          key_pol, x_pol.shape)
    return x_ref, x_pol

  def _total_loss(self, params, adversarial, penalty):
    cfg = self.config
    logit_reg = jnp.sum(jnp.square(disc.output_kernel(params)))
    decay = sum(jnp.sum(jnp.square(k)) for k in disc.kernels(params))
    return (adversarial + 0.5 * cfg.gradient_penalty_weight * penalty +
            cfg.logit_reg_weight * logit_reg + cfg.weight_decay * decay)

  def _per_device(self, key: jax.Array) -> jax.Array:
    if self.axis_name is None:
      return key
    return jax.random.fold_in(key, jax.lax.axis_index(self.axis_name))
