"""MuJoCo-rendered previews, the GL backend probe, and the stick fallback.

Rendering needs a GL backend (EGL, or OSMesa: Debian's libosmesa6). Without
one these tests skip, except in CI (CI=true), where .ci/run installs OSMesa
and a missing backend fails them.
"""

import imageio.v3 as iio
import numpy as np
import pytest

from amp_ppo.robots import gl_backend
from amp_ppo.robots import preview
from amp_ppo.robots import render
from tests import downloads
from tests.robots import preview_helpers

_WIDTH, _HEIGHT = 96, 72


def _require_backend() -> None:
  """Skips without a GL backend, or fails in CI, where .ci/run installs one."""
  backend = gl_backend.status()
  if backend.available:
    return
  if downloads.in_ci():
    pytest.fail(f'{backend.note} In CI (CI=true) MuJoCo must render: '
                '.ci/run installs libosmesa6.')
  pytest.skip(backend.note)


def _fraction_changed(image: np.ndarray, empty: np.ndarray) -> float:
  return float(np.mean(np.abs(image.astype(int) - empty).max(axis=-1) > 24))


def test_the_robot_is_rendered_on_an_added_floor(tmp_path):
  _require_backend()
  robot = preview_helpers.load(tmp_path / 'robot.xml')
  hidden = preview_helpers.load(tmp_path / 'hidden.xml', visible=False)
  qpos = preview_helpers.swinging_qpos(robot, 3)
  image = render.render_frames(robot, qpos, _WIDTH, _HEIGHT)
  empty = render.render_frames(hidden, qpos, _WIDTH, _HEIGHT)
  assert image.shape == (3, _HEIGHT, _WIDTH, 3)
  assert image.dtype == np.uint8
  # The robot covers a good part of each frame...
  assert all(_fraction_changed(i, e) > 0.05 for i, e in zip(image, empty))
  # ...and moves: its legs swing from frame to frame.
  assert _fraction_changed(image[0], image[1]) > 0.01
  # The model has no floor: the checkered one drawn in fills the lower
  # rows with two shades, lit by the headlight it gets instead of lights.
  floor = empty[0, -_HEIGHT // 4:].reshape(-1, 3)
  shades = np.unique(floor // 16, axis=0)
  assert floor.mean() > 60 and len(shades) >= 2


def test_a_model_with_a_floor_gets_no_second_one(tmp_path):
  _require_backend()
  robot = preview_helpers.load(tmp_path / 'robot.xml', floor=True)
  with render.RobotRenderer(robot, 32, 24) as renderer:
    renderer.render(robot.model.qpos0)
    scene = renderer._renderer.scene  # pylint: disable=protected-access
    assert scene.ngeom == robot.model.ngeom  # its plane and the robot


def test_reference_and_policy_are_two_panels_side_by_side(tmp_path):
  _require_backend()
  robot = preview_helpers.load(tmp_path / 'robot.xml')
  reference = preview_helpers.swinging_qpos(robot, 5)
  policy = preview_helpers.swinging_qpos(robot, 3, phase=np.pi / 2)
  clips = [preview.Clip('reference', reference, 10.0),
           preview.Clip('policy', policy, 10.0)]
  gif = tmp_path / 'side.gif'
  png = tmp_path / 'side.png'
  printed = []
  drawn = preview.write_animation(robot, clips, str(gif), width=_WIDTH,
                                  height=_HEIGHT, printer=printed.append)
  preview.write_strip(robot, clips, str(png), num_frames=2, width=_WIDTH,
                      height=_HEIGHT, printer=printed.append)
  assert drawn.renderer.startswith('MuJoCo') and not drawn.note
  assert not printed
  frames = iio.imread(gif, index=None)[..., :3]
  # 0.4 s at 10 fps: 5 frames, real time; the shorter policy holds its last.
  assert frames.shape[:3] == (5, _HEIGHT, 2 * _WIDTH + 4)
  left, gap, right = (frames[:, :, :_WIDTH], frames[:, :, _WIDTH:-_WIDTH],
                      frames[:, :, -_WIDTH:])
  assert (gap > 240).all()
  assert _fraction_changed(left[1], right[1]) > 0.01  # different poses
  below_captions = slice(_HEIGHT // 4, None)
  np.testing.assert_array_equal(right[-1, below_captions],
                                right[-2, below_captions])
  assert not np.array_equal(left[-1, below_captions],
                            left[-2, below_captions])
  assert iio.imread(png)[..., :3].std() > 20


def test_mp4_needs_imageio_ffmpeg_or_says_so(tmp_path, monkeypatch):
  monkeypatch.setattr(preview.importlib.util, 'find_spec', lambda name: None)
  with pytest.raises(ValueError, match='pip install imageio-ffmpeg'):
    preview.check_animation(str(tmp_path / 'a.mp4'))
  with pytest.raises(ValueError, match='write a .gif or an .mp4'):
    preview.check_animation(str(tmp_path / 'a.avi'))
  with pytest.raises(ValueError, match='--gif-frames'):
    preview.check_animation(str(tmp_path / 'a.gif'), max_frames=0)


def test_without_a_backend_stick_figures_and_the_note_once(tmp_path,
                                                           monkeypatch):
  preview_helpers.force_no_gl(monkeypatch, 'no GL here (forced by the test)')
  robot = preview_helpers.load(tmp_path / 'robot.xml')
  clips = [preview.Clip('reference', preview_helpers.swinging_qpos(robot, 4),
                        10.0)]
  printed = []
  drawn = preview.write_strip(robot, clips, str(tmp_path / 's.png'),
                              num_frames=2, printer=printed.append)
  again = preview.write_animation(robot, clips, str(tmp_path / 's.gif'),
                                  printer=printed.append)
  assert drawn == again
  assert drawn.renderer == preview.STICK_FIGURES
  assert 'forced by the test' in drawn.note
  assert 'stick figures' in drawn.note and 'libosmesa6' in drawn.note
  assert printed == [drawn.note]  # once, however many files
  assert len(iio.imread(tmp_path / 's.gif', index=None)) == 4
  assert iio.imread(tmp_path / 's.png')[..., :3].std() > 10


def test_choose_tries_egl_then_osmesa_and_passes_the_answer_on(monkeypatch):
  for variable in ('MUJOCO_GL',) + preview_helpers.GL_ANSWER_VARIABLES:
    monkeypatch.delenv(variable, raising=False)
  probed = []

  def probe(name):
    probed.append(name)
    return (True, 'llvmpipe (LLVM 15)') if name == 'osmesa' else (
        False, 'EGL failed')

  monkeypatch.setattr(gl_backend, '_probe', probe)
  monkeypatch.setattr(gl_backend, 'CANDIDATES', ('egl', 'osmesa'))  # Linux
  chosen = gl_backend.choose()
  assert chosen == gl_backend.Backend('osmesa', renderer='llvmpipe (LLVM 15)')
  assert chosen.software
  assert gl_backend.os.environ['MUJOCO_GL'] == 'osmesa'
  assert gl_backend.choose() == chosen  # as a child process: no probe
  assert probed == ['egl', 'osmesa']


def test_a_users_mujoco_gl_is_the_only_one_tried(monkeypatch):
  monkeypatch.setenv('MUJOCO_GL', 'egl')
  for variable in preview_helpers.GL_ANSWER_VARIABLES:
    monkeypatch.delenv(variable, raising=False)
  probed = []
  monkeypatch.setattr(gl_backend, '_probe',
                      lambda name: probed.append(name) or (False, 'no device'))
  backend = gl_backend.choose()
  assert probed == ['egl'] and not backend.available
  assert 'MUJOCO_GL=egl' in backend.note and 'unset MUJOCO_GL' in backend.note


def test_a_failing_backend_is_reported_not_fatal():
  # mujoco refuses this MUJOCO_GL on import; the child process takes it.
  # pylint: disable-next=protected-access
  rendered, error = gl_backend._probe('nosuch')
  assert not rendered and 'MUJOCO_GL' in error
