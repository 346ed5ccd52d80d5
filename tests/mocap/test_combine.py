"""Converted references combined into one multi-clip file with weights."""

import numpy as np
import pytest

from amp_ppo import motion as motion_lib
from amp_ppo.mocap import __main__ as cli
from amp_ppo.mocap import combine


def _write(path, num_frames, fps=30.0, clips=1, loop=None, offset=0.0):
  qpos = np.tile(np.arange(num_frames, dtype=np.float32)[:, None], (1, 3))
  arrays = dict(fps=fps, qpos=qpos + offset, qvel=np.zeros_like(qpos))
  if clips > 1:
    arrays['clip_ids'] = np.repeat(np.arange(clips), num_frames // clips)
    arrays['clip_weights'] = np.arange(1.0, clips + 1)
  if loop is not None:
    arrays['clip_loops'] = np.array([motion_lib.loop_code(loop)])
  motion_lib.save_reference(str(path), **arrays)
  return str(path)


def test_inputs_become_clips_sampled_by_their_weights(tmp_path):
  walk = _write(tmp_path / 'walk.npz', 10, loop=motion_lib.Loop())
  # Two clips of weights 1 and 2 share their input's weight 3 as 1 : 2.
  turns = _write(tmp_path / 'turns.npz', 8, clips=2, offset=100.0)
  motion = combine.combine([walk, turns], str(tmp_path / 'all.npz'),
                           weights=[1.0, 3.0])
  assert [clip.num_frames for clip in motion.clips] == [10, 4, 4]
  assert [clip.weight for clip in motion.clips] == [1.0, 1.0, 2.0]
  assert motion.clips[0].loop == motion_lib.Loop()
  assert motion.clips[1].loop is None
  np.testing.assert_array_equal(motion.clips[2].qpos[:, 0],
                                [104, 105, 106, 107])
  # Each input's frames sampled in proportion: windows of 2 frames.
  starts, probabilities = motion_lib.window_starts(motion, 2)
  per_clip = np.add.reduceat(probabilities, [0, 9, 12])
  np.testing.assert_allclose(per_clip, [0.25, 0.25, 0.5])


@pytest.mark.parametrize('weights, message', [
    ([1.0], 'one weight per reference'),
    ([1.0, -1.0], 'finite and >= 0'),
    ([0.0, 0.0], 'every weight is 0')])
def test_bad_weights_are_refused_naming_the_flag(tmp_path, weights, message):
  paths = [_write(tmp_path / f'{i}.npz', 5) for i in range(2)]
  with pytest.raises(ValueError, match=message) as error:
    combine.combine(paths, str(tmp_path / 'all.npz'), weights)
  assert '--weights' in str(error.value)
  assert not (tmp_path / 'all.npz').exists()


def test_different_frame_rates_are_refused(tmp_path):
  paths = [_write(tmp_path / 'a.npz', 5, fps=30.0),
           _write(tmp_path / 'b.npz', 5, fps=60.0)]
  with pytest.raises(ValueError, match='different frame rates'):
    combine.combine(paths, str(tmp_path / 'all.npz'))


def test_cli_combines_and_prints_each_clips_share(tmp_path, capsys):
  paths = [_write(tmp_path / f'{i}.npz', 6) for i in range(2)]
  out = str(tmp_path / 'all.npz')
  assert cli.main(['combine', *paths, '--weights', '3,1', '--out', out]) == 0
  printed = capsys.readouterr().out
  assert 'clip 0: 6 frames at 30 fps, sampled 75.0 %' in printed
  assert len(motion_lib.load_reference(out).clips) == 2
  assert cli.main(['combine', *paths, '--weights', '1', '--out', out]) == 2
