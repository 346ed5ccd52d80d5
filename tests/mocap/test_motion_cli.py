"""python -m amp_ppo.mocap convert | check | preview | fetch, end to end."""

import dataclasses
import hashlib
import json
import subprocess
import sys
import zipfile

import imageio.v3
import pytest

pytest.importorskip('mink')
pytest.importorskip('pybvh')
pytest.importorskip('mujoco_playground')

# pylint: disable=g-import-not-at-top,wrong-import-position
from amp_ppo.mocap import __main__ as cli
from amp_ppo.mocap.formats import sample_data
from tests.mocap import synthetic_sources
from tests.mocap import test_sample_data as local_index

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
  # A CPU renders a few frames a second: 4 are enough here.
  assert cli.main(['preview', str(out), '--env', ENV, '--out',
                   str(tmp_path / 'p.png'), '--gif', str(gif),
                   '--gif-frames', '4']) == 0
  assert gif.read_bytes()[:6] in (b'GIF89a', b'GIF87a')
  assert len(imageio.v3.imread(gif, index=None)) == 4


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


def test_fetch_list_names_every_take_and_its_licence(capsys):
  assert cli.main(['fetch', '--list']) == 0
  printed = capsys.readouterr().out
  for name, take in sample_data.TAKES.items():
    assert f'{name}: ' in printed and take.licence in printed
  assert cli.main(['fetch', '--list', 'walk']) == 2
  assert 'either --list or clip names' in capsys.readouterr().err


def test_fetch_refuses_an_unknown_clip(capsys):
  assert cli.main(['fetch', 'moonwalk']) == 2
  assert "unknown clips ['moonwalk']" in capsys.readouterr().err


def test_fetch_reads_a_take_from_the_configured_index(tmp_path, monkeypatch,
                                                      capsys):
  payload = local_index.demo_sdist()
  local_index.use_index(monkeypatch, tmp_path, local_index.write_file_index(
      tmp_path / 'index', payload))
  take = dataclasses.replace(
      sample_data.TAKES['walk'], archive=local_index.demo_archive(payload),
      stem='good', sha256=hashlib.sha256(local_index.GOOD).hexdigest())
  monkeypatch.setitem(sample_data.TAKES, 'walk', take)
  assert cli.main(['fetch', 'walk']) == 0
  printed = capsys.readouterr().out
  path = tmp_path / 'cache/clips/demo-1.0/good.txt'
  assert f'walk: {path}' in printed
  assert 'walk is seconds 83 to 89 of it' in printed
  assert '--start 83 --end 89' in printed
  assert path.read_bytes() == local_index.GOOD
