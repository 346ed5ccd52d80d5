"""A Playground run draws its final policy beside its reference."""

import types

import ml_collections
import numpy as np
import pytest

from amp_ppo.robots import kinematic_gait
from amp_ppo.robots import menagerie
from amp_ppo.run import evaluation
from amp_ppo.run import experiment

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


def test_policy_and_reference_strips_are_written(tmp_path):
  menagerie.use_menagerie()
  env = registry.load(_GO1)
  reference = kinematic_gait.write_locomotion_reference(
      env, str(tmp_path / 'gait.npz'))
  qpos = np.tile(env._init_q, (12, 1))  # pylint: disable=protected-access
  env_config = ml_collections.ConfigDict(dict(suite='playground', name=_GO1))
  printed = []
  paths = experiment._write_previews(  # pylint: disable=protected-access
      env_config, env, _rollout(qpos, done_at=8), reference, str(tmp_path),
      printed.append)
  assert [p.rsplit('/', 1)[-1] for p in paths] == [
      experiment.POLICY_PREVIEW, experiment.REFERENCE_PREVIEW]
  for path in paths:
    with open(path, 'rb') as f:
      assert f.read(8) == b'\x89PNG\r\n\x1a\n'
  assert 'policy_preview.png' in printed[0]


def test_brax_systems_get_no_strips(tmp_path):
  env_config = ml_collections.ConfigDict(dict(suite='brax', name='ant'))
  assert experiment._write_previews(  # pylint: disable=protected-access
      env_config, None, None, None, str(tmp_path), print) == []
