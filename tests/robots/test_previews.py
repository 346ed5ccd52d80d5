"""A Playground run draws its final policy beside its reference."""

import types

import imageio.v3 as iio
import ml_collections
import numpy as np
import pytest

from amp_ppo.robots import gl_backend
from amp_ppo.robots import kinematic_gait
from amp_ppo.robots import menagerie
from amp_ppo.robots import preview
from amp_ppo.run import evaluation
from amp_ppo.run import experiment
from amp_ppo.run import outputs

pytest.importorskip('mujoco_playground')
pytest.importorskip('mink', reason='needs the motion extra')
from mujoco_playground import registry  # pylint: disable=g-import-not-at-top,wrong-import-position

_GO1 = 'Go1JoystickFlatTerrain'


def _rollout(qpos, done_at):
  done = np.zeros((1, len(qpos)), bool)
  done[0, done_at] = True
  return evaluation.Rollout(frames=np.zeros((1, len(qpos), 3)),
                            rewards=np.zeros((1, len(qpos) - 1)), done=done,
                            first_env_states=types.SimpleNamespace(qpos=qpos))


def test_policy_beside_reference_is_written_and_reported(tmp_path,
                                                         monkeypatch):
  # A CPU renders a few frames a second: a short animation is enough here.
  monkeypatch.setattr(preview, 'ANIMATION_FRAMES_CPU', 4)
  menagerie.use_menagerie()
  env = registry.load(_GO1)
  reference = kinematic_gait.write_locomotion_reference(
      env, str(tmp_path / 'gait.npz'))
  qpos = np.tile(env._init_q, (12, 1))  # pylint: disable=protected-access
  env_config = ml_collections.ConfigDict(dict(suite='playground', name=_GO1))
  printed = []
  report = experiment._write_previews(  # pylint: disable=protected-access
      env_config, env, _rollout(qpos, done_at=8), reference, str(tmp_path),
      printed.append)
  assert [p.rsplit('/', 1)[-1] for p in report['previews']] == [
      outputs.PREVIEW_STRIP, outputs.PREVIEW_ANIMATION]
  strip, animation = report['previews']
  with open(strip, 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'
  backend = gl_backend.status()
  if backend.available:
    # Reference and policy side by side, as wide as each other.
    width = iio.imread(animation, index=0).shape[1]
    assert width == 2 * preview.WIDTH + 4
    assert report['preview_renderer'] == f'MuJoCo (MUJOCO_GL={backend.name})'
    assert report['preview_note'] is None
  else:
    assert report['preview_renderer'] == preview.STICK_FIGURES
    assert report['preview_note'] == backend.note
    assert iio.imread(animation, index=0).std() > 10
  assert 'preview.png, preview.gif' in printed[-1]


def test_brax_systems_get_no_strips(tmp_path):
  env_config = ml_collections.ConfigDict(dict(suite='brax', name='ant'))
  assert experiment._write_previews(  # pylint: disable=protected-access
      env_config, None, None, None, str(tmp_path), print) == {
          'previews': []}
