"""AMP settings: one frozen dataclass, validated before anything compiles."""

import dataclasses
import math
import numbers
from typing import Mapping, Optional, Tuple

LOSSES = ('lsgan', 'bce')
# Discriminators of several styles (amp_reference given as a mapping).
STYLE_DISCRIMINATORS = ('conditioned', 'per_style')
# The settings that only several styles use.
STYLE_SETTINGS = ('style_probabilities', 'style_switch_probability',
                  'style_info_key', 'style_discriminator')


@dataclasses.dataclass(frozen=True)
class AmpConfig:
  """Settings of the discriminator, its update and the style reward.

  Attributes:
    task_weight: weight of the environment's reward in the policy's reward.
    style_weight: weight of the style reward in the policy's reward.
    loss: 'lsgan' (targets +1 reference / -1 policy, reward
      max(0, 1 - (d - 1)^2 / 4), in [0, 1]) or 'bce' (logistic loss, reward
      -log(max(1 - sigmoid(d), 1e-4)), in [0, 9.21]).
    style_reward_scale: multiplies the style reward before weighting.
    gradient_penalty_weight: w in the R1 penalty w / 2 * E||grad_x D(x)||^2,
      taken on normalised reference inputs. The adversarial term is the mean
      of the reference and policy losses (half their sum), so w weighs the
      penalty twice as heavily against it as the AMP paper's w does (the
      paper sums the two losses): 10 here is the paper's 20, and equals
      IsaacGymEnvs' 5 (which also halves the sum but drops the 1/2).
    logit_reg_weight: L2 weight on the output layer's kernel.
    disc_input_noise: standard deviation of Gaussian noise added to the
      discriminator's normalised inputs (both classes) in its updates, never
      when it scores the rollout; 0 adds none. It blurs the two classes where
      they barely overlap.
    weight_decay: L2 weight on every kernel of the discriminator.
    disc_hidden_layer_sizes: ReLU MLP layer sizes of the discriminator. The
      reference implementations use (1024, 512); (256, 256) keeps AMP's cost
      under a tenth of Brax PPO's on a CPU (benchmarks/throughput.py: ant
      with 1024 envs trains at 0.95 of AMP-off speed against 0.85), and the
      configs for large systems ask for (1024, 512) themselves.
    disc_learning_rate: Adam learning rate of the discriminator's own
      optimiser (separate from PPO's, so PPO's schedule and clipping do not
      act on it).
    disc_num_minibatches: discriminator SGD steps per PPO training step; None
      means one per PPO minibatch (`num_minibatches` of `ppo.train`).
    disc_minibatch_size: reference samples per discriminator step; the same number
      of policy samples, half from the current rollout and half from replay.
    replay_size: capacity of the replay buffer of past policy transitions;
      0 takes all policy samples from the current rollout.
    history_length: frames per discriminator input (2 means (s, s')).
    normalize_features: running mean/std normalisation of features.
    feature_clip: normalised features are clipped to [-clip, clip].
    reference_state_init: fraction of episode starts that begin from a random
      reference frame instead of the environment's own initial state.
    style_probabilities: with several styles (`amp_reference` a mapping),
      style name -> probability of drawing that style at an episode start
      and at a switch; None draws every style equally often.
    style_switch_probability: with several styles, the probability per
      control step that the command is drawn anew mid-episode (a switch
      trains the transitions between styles); 0 keeps each episode's style.
    style_info_key: with several styles, read the command from
      `state.info[style_info_key]` (an int32 style index, in the mapping's
      order), which the environment draws and shows its policy itself;
      amp_ppo then draws nothing and appends no one-hot. Reference state
      init starts an episode from the clips of the command the environment
      holds when the previous one ends; only the first episodes' starts,
      drawn before the environment's reset chose its command, may come
      from another style's clips.
    style_discriminator: with several styles, 'conditioned' (one
      discriminator that also sees the style's one-hot) or 'per_style' (one
      discriminator per style, as Multi-AMP). On the two-sway cart-pole
      (configs/multi_style.py, seeds 0 and 1) the conditioned one kept the
      pole up under both commands in both seeds and separated the styles
      better; one per style dropped it in seed 1. It also scores a rollout
      in one pass instead of one per style.
  """

  task_weight: float = 0.5
  style_weight: float = 0.5
  loss: str = 'lsgan'
  style_reward_scale: float = 2.0
  gradient_penalty_weight: float = 10.0
  logit_reg_weight: float = 0.05
  disc_input_noise: float = 0.0
  weight_decay: float = 1e-4
  disc_hidden_layer_sizes: Tuple[int, ...] = (256, 256)
  disc_learning_rate: float = 1e-4
  disc_num_minibatches: Optional[int] = None
  disc_minibatch_size: int = 512
  replay_size: int = 200_000
  history_length: int = 2
  normalize_features: bool = True
  feature_clip: float = 5.0
  reference_state_init: float = 0.0
  style_probabilities: Optional[Mapping[str, float]] = None
  style_switch_probability: float = 0.0
  style_info_key: Optional[str] = None
  style_discriminator: str = 'conditioned'

  def validate(self) -> 'AmpConfig':
    """Returns self, or raises ValueError naming the setting and the fix."""
    for name in ('task_weight', 'style_weight', 'style_reward_scale',
                 'gradient_penalty_weight', 'logit_reg_weight', 'weight_decay',
                 'disc_input_noise'):
      value = getattr(self, name)
      if not _is_finite_number(value) or value < 0:
        raise ValueError(
            f'AMP setting {name}={value!r}: must be a finite number >= 0.')
    if self.task_weight == 0 and self.style_weight == 0:
      raise ValueError('AMP settings task_weight and style_weight are both 0: '
                       'the policy would get no reward; set one > 0.')
    if self.loss not in LOSSES:
      raise ValueError(f'AMP setting loss={self.loss!r}: use one of {LOSSES}.')
    if not _is_finite_number(self.disc_learning_rate) or self.disc_learning_rate <= 0:
      raise ValueError(f'AMP setting disc_learning_rate={self.disc_learning_rate!r}: '
                       'must be a finite number > 0.')
    if (not self.disc_hidden_layer_sizes or
        not all(_is_positive_int(s) for s in self.disc_hidden_layer_sizes)):
      raise ValueError(
          f'AMP setting disc_hidden_layer_sizes={self.disc_hidden_layer_sizes!r}: give '
          'one or more positive layer widths, e.g. (1024, 512).')
    if self.disc_num_minibatches is not None and not _is_positive_int(
        self.disc_num_minibatches):
      raise ValueError(f'AMP setting disc_num_minibatches={self.disc_num_minibatches!r}:'
                       ' must be a positive integer, or None for one per PPO '
                       'minibatch.')
    if not _is_positive_int(self.disc_minibatch_size) or self.disc_minibatch_size < 2:
      raise ValueError(f'AMP setting disc_minibatch_size={self.disc_minibatch_size!r}: '
                       'must be an integer >= 2 (half rollout, half replay).')
    if not (self.replay_size == 0 or _is_positive_int(self.replay_size)):
      raise ValueError(f'AMP setting replay_size={self.replay_size!r}: must be '
                       'an integer >= 0 (0 disables replay).')
    if not _is_positive_int(self.history_length) or self.history_length < 2:
      raise ValueError(f'AMP setting history_length={self.history_length!r}: '
                       'must be an integer >= 2 (2 means (s, s\')).')
    if not isinstance(self.normalize_features, bool):
      raise ValueError(
          f'AMP setting normalize_features={self.normalize_features!r}: '
          'must be True or False.')
    if not _is_finite_number(self.feature_clip) or self.feature_clip <= 0:
      raise ValueError(f'AMP setting feature_clip={self.feature_clip!r}: '
                       'must be a finite number > 0.')
    if (not _is_finite_number(self.reference_state_init) or
        not 0 <= self.reference_state_init <= 1):
      raise ValueError(
          f'AMP setting reference_state_init={self.reference_state_init!r}: '
          'must be a fraction in [0, 1].')
    if (not _is_finite_number(self.style_switch_probability) or
        not 0 <= self.style_switch_probability <= 1):
      raise ValueError(
          'AMP setting style_switch_probability='
          f'{self.style_switch_probability!r}: must be a probability in '
          '[0, 1] (per control step).')
    if self.style_info_key is not None and (
        not isinstance(self.style_info_key, str) or not self.style_info_key):
      raise ValueError(
          f'AMP setting style_info_key={self.style_info_key!r}: must be a '
          'state.info key (a non-empty str), or None.')
    if self.style_discriminator not in STYLE_DISCRIMINATORS:
      raise ValueError(
          f'AMP setting style_discriminator={self.style_discriminator!r}: '
          f'use one of {STYLE_DISCRIMINATORS}.')
    return self

  def style_settings_given(self) -> Tuple[str, ...]:
    """The style_* settings that differ from their defaults."""
    defaults = AmpConfig()
    return tuple(name for name in STYLE_SETTINGS
                 if getattr(self, name) != getattr(defaults, name))


def _is_finite_number(value) -> bool:
  return (isinstance(value, numbers.Real) and not isinstance(value, bool) and
          math.isfinite(value))


def _is_positive_int(value) -> bool:
  return (isinstance(value, numbers.Integral) and not isinstance(value, bool)
          and value > 0)
