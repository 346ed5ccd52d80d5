"""The one controller-rollout recorder, and its one rule for the last frame.

The counter env's q is (step in episode, episode id); its episodes end after
5 + (id % 4) steps, so each clip's length is known from its first frame.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from amp_ppo.demos import recorder
from tests import helpers

_NUM_CLIPS = 6


def _still(unused_state, unused_step, unused_input):
  return jnp.zeros(1)


def _record(controller=_still, num_steps=12, **kwargs):
  return recorder.record(
      helpers.CounterEnv(), controller,
      jax.random.split(jax.random.PRNGKey(3), _NUM_CLIPS), num_steps,
      **kwargs)


def _clips(arrays):
  return [arrays['qpos'][arrays['clip_ids'] == c]
          for c in np.unique(arrays['clip_ids'])]


def test_a_clip_ends_before_its_episodes_terminal_frame():
  recording = _record()
  lengths = 5 + recording.qpos[:, 0, 1] % 4  # the terminal frame's step
  clips = _clips(recording.reference())
  assert len(clips) == _NUM_CLIPS
  for clip, length in zip(clips, lengths):
    np.testing.assert_array_equal(clip[:, 0], np.arange(length))
  assert recording.ended().all()


def test_start_drops_a_warm_up_from_every_clip():
  recording = _record()
  lengths = 5 + recording.qpos[:, 0, 1] % 4
  for clip, length in zip(_clips(recording.reference(start=2)), lengths):
    np.testing.assert_array_equal(clip[:, 0], np.arange(2, length))


def test_a_rollout_that_never_ends_keeps_every_frame():
  recording = _record(num_steps=3)  # every episode lasts 5 steps or more
  assert not recording.ended().any()
  for clip in _clips(recording.reference()):
    np.testing.assert_array_equal(clip[:, 0], np.arange(4))


def test_a_script_whose_clips_must_last_names_the_ones_that_ended():
  whole = _record(num_steps=3)
  np.testing.assert_array_equal(
      whole.unbroken_reference(start=1, failure='fell', advice='slow down')[
          'qpos'], whole.reference(start=1)['qpos'])
  ended = _record(num_steps=5)  # only the 5-step episodes end (id % 4 == 0)
  which = np.flatnonzero(ended.qpos[:, 0, 1] % 4 == 0).tolist()
  assert which
  with pytest.raises(RuntimeError,
                     match=rf'^fell in clip\(s\) {re.escape(str(which))}; '
                     'slow down.$'):
    ended.unbroken_reference(start=1, failure='fell', advice='slow down')


def test_short_clips_are_left_out_and_none_left_is_an_error():
  recording = _record()
  assert len(_clips(recording.reference(min_frames=8))) == np.sum(
      recording.qpos[:, 0, 1] % 4 == 3)  # episodes of 8 steps only
  with pytest.raises(RuntimeError, match='within 9 frames; try this'):
    recording.reference(min_frames=9, advice='try this')


def test_action_repeat_holds_each_action_and_the_controller_gets_its_input():
  # Clip c's action is c times the control step; the counter env pays
  # 1 - action^2 for every environment step.
  recording = _record(
      lambda state, step, scale: (scale * step)[None], num_steps=3,
      clip_inputs=jnp.arange(_NUM_CLIPS, dtype=jnp.float32),
      action_repeat=2)
  assert recording.qpos.shape[1] == 3 * 2 + 1
  actions = np.arange(_NUM_CLIPS)[:, None] * np.repeat(np.arange(3), 2)
  np.testing.assert_array_equal(recording.reward[:, 1:], 1 - actions**2)
