"""python -m amp_ppo.mocap convert | check | preview, end to end."""

import json
import subprocess
import sys
import zipfile

import pytest

pytest.importorskip('mink')
pytest.importorskip('pybvh')
pytest.importorskip('mujoco_playground')

# pylint: disable=g-import-not-at-top,wrong-import-position
from amp_ppo.mocap import __main__ as cli
from tests.mocap import synthetic_sources

ENV = 'BerkeleyHumanoidJoystickFlatTerrain'


def test_convert_check_preview(tmp_path, capsys):
  source = synthetic_sources.write_bvh(
      tmp_path / 'steps.bvh', synthetic_sources.stepping_rows(24, 30.0))
  out = tmp_path / 'steps.npz'
  strip = tmp_path / 'steps.png'
  assert cli.main(['convert', str(source), '--env', ENV, '--out', str(out),
                   '--preview', str(strip)]) == 0
  printed = capsys.readouterr().out
  assert 'PASS  feet' in printed and 'PASSED' in printed
  report = json.loads((tmp_path / 'steps.check.json').read_text())
  assert report['passed'] and report['source'] == str(source)
  assert strip.stat().st_size > 10_000
  # A BVH take does not loop, so the file stays as older versions read it.
  with zipfile.ZipFile(out) as archive:
    assert 'clip_loops.npy' not in archive.namelist()

  assert cli.main(['check', str(out), '--env', ENV, '--report',
                   str(tmp_path / 'again.json')]) == 0
  again = json.loads((tmp_path / 'again.json').read_text())
  assert again['clips'][0]['checks']['feet']['status'] == 'pass'

  gif = tmp_path / 'steps.gif'
  assert cli.main(['preview', str(out), '--env', ENV, '--out',
                   str(tmp_path / 'p.png'), '--gif', str(gif)]) == 0
  assert gif.read_bytes()[:6] in (b'GIF89a', b'GIF87a')


def test_malformed_input_exits_2_with_the_message(tmp_path, capsys):
  bad = tmp_path / 'bad.txt'
  bad.write_text('{"LoopMode": "Wrap", "Frames": [[0]]}')
  assert cli.main(['convert', str(bad), '--env', ENV, '--out',
                   str(tmp_path / 'x.npz')]) == 2
  assert "field 'FrameDuration': is missing" in capsys.readouterr().err
  assert not (tmp_path / 'x.npz').exists()


def test_failing_check_exits_1(tmp_path):
  import numpy as np  # pylint: disable=g-import-not-at-top
  from amp_ppo import motion as motion_lib
  from amp_ppo.robots import robot_model
  robot = robot_model.load_robot(ENV)
  qpos = np.tile(robot.standing_qpos(), (10, 1))
  qpos[:, 2] -= 0.05  # feet 5 cm into the ground
  path = tmp_path / 'sunk.npz'
  motion_lib.save_reference(path, fps=50.0, qpos=qpos,
                            qvel=np.zeros((10, robot.model.nv)))
  assert cli.main(['check', str(path), '--env', ENV]) == 1


def test_module_entry_point_and_record_still_exist():
  result = subprocess.run([sys.executable, '-m', 'amp_ppo.mocap', '--help'],
                          capture_output=True, text=True, check=False)
  assert result.returncode == 0
  assert all(command in result.stdout
             for command in ('convert', 'check', 'preview', 'fetch'))
  import importlib.util  # pylint: disable=g-import-not-at-top
  assert importlib.util.find_spec('amp_ppo.run.record') is not None
