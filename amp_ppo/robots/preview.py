"""Pictures of references and policies replayed kinematically on a robot.

Where MuJoCo can render (gl_backend: EGL, or OSMesa on CPU machines), the
robot itself is drawn by MuJoCo's renderer (render.py). Elsewhere
matplotlib draws stick figures of the body positions from `mj_kinematics`
(each body joined to its parent, feet marked and filled while in stance, the
ground at z = 0), and a one-line note says why, printed once per process.

Several clips (a reference and a policy) are drawn at the same times: one
row each in the PNG strip, one panel each, side by side, in the GIF or MP4
(imageio; MP4 needs imageio-ffmpeg). A shorter clip holds its last frame.
`write_html` writes Brax's interactive viewer, which loads its JavaScript
from CDNs when opened: it stays blank offline.
"""

import dataclasses
import importlib.util
import os
import sys
import types
from typing import Callable, List, Optional, Sequence

import matplotlib
matplotlib.use('Agg')  # files only; never a window
# pylint: disable=g-import-not-at-top,wrong-import-position
from matplotlib import pyplot as plt
import imageio.v2
import imageio.v3
import numpy as np
import PIL.Image
import PIL.ImageDraw

from amp_ppo.robots import contacts
from amp_ppo.robots import gl_backend
from amp_ppo.robots import render
from amp_ppo.robots import robot_model

# Rendered frame size (pixels).
WIDTH = 320
HEIGHT = 240
STRIP_FRAMES = 6
# Most frames in an animation by default. A CPU rasteriser renders a
# 320x240 G1 frame in about 0.27 s (OSMesa on 2 busy cores; render.py), so
# 24 frames of a policy beside its reference take some 15 s; stick figures
# keep to the same count. Where a GPU renders (EGL, no software
# rasteriser), animations may run to 150 frames (5 s at 30 fps).
ANIMATION_FRAMES_CPU = 24
ANIMATION_FRAMES_GPU = 150
ANIMATION_MAX_FPS = 30.0
STICK_FIGURES = 'stick figures'

_BONE_COLOUR = '#2b5d8a'
_FOOT_COLOUR = '#c0392b'
_GROUND_COLOUR = '#d9d9d9'
_PANEL_GAP = 4  # white pixels between animation panels
_DPI = 110
_NOTED = set()  # notes already printed by this process


@dataclasses.dataclass(frozen=True)
class Clip:
  """Frames to draw: a label ('reference', 'policy'), qpos [T, nq], fps."""
  label: str
  qpos: np.ndarray
  fps: float


@dataclasses.dataclass(frozen=True)
class Drawn:
  """How previews are drawn in this process, for what a run reports.

  Attributes:
    renderer: 'MuJoCo (MUJOCO_GL=egl)' and the like, or 'stick figures'.
    note: why stick figures; '' when MuJoCo renders.
  """
  renderer: str
  note: str


def how_drawn() -> Drawn:
  """MuJoCo's renderer where a GL backend works here, else stick figures."""
  backend = gl_backend.status()
  if backend.available:
    return Drawn(f'MuJoCo (MUJOCO_GL={backend.name})', '')
  return Drawn(STICK_FIGURES, backend.note)


def _print_to_stderr(line: str) -> None:
  print(line, file=sys.stderr)


def write_strip(robot: robot_model.RobotModel, clips: Sequence[Clip],
                path: str, *, num_frames: int = STRIP_FRAMES,
                title: str = '', width: int = WIDTH, height: int = HEIGHT,
                printer: Callable[[str], None] = _print_to_stderr) -> Drawn:
  """A PNG of `num_frames` evenly spaced times, one row per clip.

  Raises:
    ValueError: no clips, a clip that does not fit the robot, or
      num_frames < 1.
  """
  _check_clips(robot, clips)
  if num_frames < 1:
    raise ValueError(f'{path}: num_frames is {num_frames}; draw at least one '
                     'frame (--frames).')
  drawn = _drawn_noting_once(printer)
  times = _times(clips, num_frames)
  indices = [_frame_indices(clip, times) for clip in clips]
  rows, columns = len(clips), len(times)
  if drawn.note:
    figure = plt.figure(figsize=(2.6 * columns, 3.0 * rows))
    cells = _stick_cells(robot, clips, indices, figure)
  else:
    figure = plt.figure(figsize=(columns * width / 100,
                                 rows * (height / 100 + 0.35)))
    cells = _rendered_cells(robot, clips, indices, figure, width, height)
  for (row, column), axes in cells:
    axes.set_title(_caption(clips[row].label, times[column]), fontsize=9)
  if title:
    figure.suptitle(title, fontsize=10)
  figure.tight_layout()
  _save_figure(figure, path)
  return drawn


def write_animation(robot: robot_model.RobotModel, clips: Sequence[Clip],
                    path: str, *, max_frames: Optional[int] = None,
                    width: int = WIDTH, height: int = HEIGHT,
                    printer: Callable[[str], None] = _print_to_stderr
                    ) -> Drawn:
  """A GIF or MP4 (by the path's suffix) of the clips side by side.

  It plays in real time: up to `max_frames` frames (default
  ANIMATION_FRAMES_CPU, or _GPU where a GPU renders) span the longest clip,
  no more a second than the clips have, nor than ANIMATION_MAX_FPS.

  Raises:
    ValueError: the suffix is neither, MP4 without imageio-ffmpeg, no clips,
      a clip that does not fit the robot, or max_frames < 1.
  """
  check_animation(path, max_frames)
  _check_clips(robot, clips)
  drawn = _drawn_noting_once(printer)
  if max_frames is None:
    backend = gl_backend.status()
    gpu = backend.available and not backend.software
    max_frames = ANIMATION_FRAMES_GPU if gpu else ANIMATION_FRAMES_CPU
  span = _span(clips)
  rate = min(ANIMATION_MAX_FPS, max(clip.fps for clip in clips))
  # 1e-9: 0.3 s at 10 fps is 4 frames, not the 3 that 2.999... makes.
  count = min(max_frames, int(span * rate + 1e-9) + 1)
  times = _times(clips, count)
  indices = [_frame_indices(clip, times) for clip in clips]
  if drawn.note:
    frames = _stick_movie_frames(robot, clips, indices, times)
  else:
    frames = _rendered_movie_frames(robot, clips, indices, times, width,
                                    height)
  playback_fps = (count - 1) / span if count > 1 and span > 0 else 1.0
  _write_movie(frames, path, playback_fps)
  return drawn


def write_html(robot: robot_model.RobotModel, qpos: np.ndarray, fps: float,
               path: str) -> None:
  """Brax's HTML viewer of the replay (body transforms from mj_kinematics).

  The page loads its JavaScript from CDNs when opened: blank offline.
  """
  # pylint: disable=g-import-not-at-top
  import mujoco
  from brax import base
  from brax.io import html
  from brax.io import mjcf
  model = robot.model
  data = mujoco.MjData(model)
  states = []
  for frame in np.asarray(qpos, np.float64):
    data.qpos[:] = frame
    mujoco.mj_kinematics(model, data)
    states.append(types.SimpleNamespace(x=base.Transform(
        pos=data.xpos[1:].copy(), rot=data.xquat[1:].copy())))
  system = mjcf.load_model(model).tree_replace({'opt.timestep': 1.0 / fps})
  text = html.render(system, states)
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  with open(path, 'w', encoding='utf-8') as file:
    file.write(text)


def default_paths(out: str, kinds: Sequence[str]):
  """Preview files beside a reference: walk.npz -> walk.preview.png, ..."""
  stem = os.path.splitext(out)[0]
  return {kind: f'{stem}.preview.{kind}' for kind in kinds}


def _drawn_noting_once(printer: Callable[[str], None]) -> Drawn:
  drawn = how_drawn()
  if drawn.note and drawn.note not in _NOTED:
    _NOTED.add(drawn.note)
    printer(drawn.note)
  return drawn


def _check_clips(robot: robot_model.RobotModel,
                 clips: Sequence[Clip]) -> None:
  if not clips:
    raise ValueError('previews: no clips to draw.')
  nq = robot.model.nq
  for clip in clips:
    qpos = np.asarray(clip.qpos)
    if qpos.ndim != 2 or qpos.shape[1] != nq or not len(qpos):
      raise ValueError(
          f'previews: clip {clip.label!r} has qpos of shape {qpos.shape}; '
          f'robot {robot.name!r} needs [frames >= 1, {nq}] — is it motion '
          'for another robot (--env)?')
    if not clip.fps > 0:
      raise ValueError(f'previews: clip {clip.label!r} has fps {clip.fps}; '
                       'it must be positive.')


def check_animation(path: str, max_frames: Optional[int] = None) -> None:
  """Raises ValueError unless write_animation can write this file."""
  if max_frames is not None and max_frames < 1:
    raise ValueError(f'{path}: max_frames is {max_frames}; draw at least '
                     'one frame (--gif-frames).')
  suffix = os.path.splitext(path)[1].lower()
  if suffix == '.mp4':
    if importlib.util.find_spec('imageio_ffmpeg') is None:
      raise ValueError(f'{path}: MP4 needs imageio-ffmpeg, which is not '
                       'installed — pip install imageio-ffmpeg, or write a '
                       '.gif.')
  elif suffix != '.gif':
    raise ValueError(f'{path}: write a .gif or an .mp4.')


def _span(clips: Sequence[Clip]) -> float:
  """Seconds from the first frame to the last of the longest clip."""
  return max((len(clip.qpos) - 1) / clip.fps for clip in clips)


def _times(clips: Sequence[Clip], count: int) -> np.ndarray:
  return np.linspace(0.0, _span(clips), count)


def _frame_indices(clip: Clip, times: np.ndarray) -> np.ndarray:
  """The clip's frame at each time; its last one once it has ended."""
  frames = np.round(times * clip.fps).astype(int)
  return np.minimum(frames, len(clip.qpos) - 1)


def _caption(label: str, time: float) -> str:
  return f'{label}, t = {time:.2f} s' if label else f't = {time:.2f} s'


def _stick_cells(robot, clips, indices, figure) -> List:
  """((row, column), axes) of stick figures, one row per clip."""
  cells = []
  columns = len(indices[0])
  for row, (clip, frames) in enumerate(zip(clips, indices)):
    replay = robot_model.replay(robot, clip.qpos)
    in_stance = _stance(replay, clip.fps)
    for column, frame in enumerate(frames):
      axes = figure.add_subplot(len(clips), columns,
                                row * columns + column + 1, projection='3d')
      _draw(axes, robot, replay, in_stance, frame)
      cells.append(((row, column), axes))
  return cells


def _rendered_cells(robot, clips, indices, figure, width, height) -> List:
  """((row, column), axes) of MuJoCo renders, one row per clip."""
  cells = []
  columns = len(indices[0])
  with render.RobotRenderer(robot, width, height,
                            gl_backend.status().software) as renderer:
    for row, (clip, frames) in enumerate(zip(clips, indices)):
      for column, frame in enumerate(frames):
        axes = figure.add_subplot(len(clips), columns,
                                  row * columns + column + 1)
        axes.imshow(renderer.render(clip.qpos[frame]))
        axes.set_xticks([])  # the frame stays: skies are white too
        axes.set_yticks([])
        cells.append(((row, column), axes))
  return cells


def _rendered_movie_frames(robot, clips, indices, times, width,
                           height) -> np.ndarray:
  """[N, H, W, 3]: each time's renders side by side, captioned."""
  movie = []
  with render.RobotRenderer(robot, width, height,
                            gl_backend.status().software) as renderer:
    for step, time in enumerate(times):
      movie.append(_side_by_side([
          _captioned(renderer.render(clip.qpos[frames[step]]),
                     _caption(clip.label, time))
          for clip, frames in zip(clips, indices)]))
  return np.stack(movie)


def _stick_movie_frames(robot, clips, indices, times) -> np.ndarray:
  """[N, H, W, 3]: each time's stick figures side by side."""
  figure = plt.figure(figsize=(4 * len(clips), 4), dpi=80)
  axes = [figure.add_subplot(1, len(clips), k + 1, projection='3d')
          for k in range(len(clips))]
  replays = [robot_model.replay(robot, clip.qpos) for clip in clips]
  stances = [_stance(replay, clip.fps) for replay, clip in zip(replays,
                                                                 clips)]
  movie = []
  for step, time in enumerate(times):
    for panel, clip in enumerate(clips):
      axes[panel].cla()
      _draw(axes[panel], robot, replays[panel], stances[panel],
            indices[panel][step])
      axes[panel].set_title(_caption(clip.label, time), fontsize=9)
    figure.canvas.draw()
    movie.append(np.asarray(figure.canvas.buffer_rgba())[..., :3].copy())
  plt.close(figure)
  return np.stack(movie)


def _captioned(pixels: np.ndarray, text: str) -> np.ndarray:
  image = PIL.Image.fromarray(pixels)
  PIL.ImageDraw.Draw(image).text((6, 4), text, fill=(20, 20, 20))
  return np.asarray(image)


def _side_by_side(panels: Sequence[np.ndarray]) -> np.ndarray:
  gap = np.full((panels[0].shape[0], _PANEL_GAP, 3), 255, np.uint8)
  row = [panels[0]]
  for panel in panels[1:]:
    row += [gap, panel]
  return np.concatenate(row, axis=1)


def _write_movie(frames: np.ndarray, path: str, fps: float) -> None:
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  if path.lower().endswith('.gif'):
    # Pillow's GIF writer takes milliseconds per frame; loop=0 repeats.
    imageio.v3.imwrite(path, frames, extension='.gif',
                       duration=1000.0 / fps, loop=0)
  else:
    # H.264 in yuv420p needs even sides.
    height, width = frames.shape[1:3]
    frames = np.pad(frames, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)),
                    mode='edge')
    imageio.v2.mimwrite(path, frames, fps=fps, macro_block_size=1)


def _stance(replay: robot_model.Replay, fps: float) -> np.ndarray:
  return contacts.stance(replay.foot_positions, replay.sole_heights, fps)


def _draw(axes, robot: robot_model.RobotModel, replay: robot_model.Replay,
          in_stance: np.ndarray, frame: int) -> None:
  """One frame: bones, feet, ground, a cube around the robot."""
  model = robot.model
  bodies = replay.body_positions[frame]
  for body in range(2, model.nbody):
    parent = model.body_parentid[body]
    if parent == 0:
      continue
    segment = bodies[[parent, body]]
    axes.plot(segment[:, 0], segment[:, 1], segment[:, 2],
              color=_BONE_COLOUR, linewidth=2)
  for index, foot in enumerate(replay.foot_positions[frame]):
    # The last segment of a leg ends at its foot site, past its body.
    body = model.site_bodyid[robot.site_id(robot.feet[index])]
    segment = np.stack([bodies[body], foot])
    axes.plot(segment[:, 0], segment[:, 1], segment[:, 2],
              color=_BONE_COLOUR, linewidth=2)
    axes.scatter(*foot, s=24, color=_FOOT_COLOUR,
                 facecolors=_FOOT_COLOUR if in_stance[frame, index] else
                 'none')
  _frame_axes(axes, bodies[1:], robot.mean_leg_length())


def _frame_axes(axes, points: np.ndarray, leg_length: float) -> None:
  centre = points.mean(axis=0)
  half = max(0.8 * leg_length, 0.6 * float(np.ptp(points, axis=0).max()))
  ground = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * half
  xs = centre[0] + ground[:, 0]
  ys = centre[1] + ground[:, 1]
  axes.plot_trisurf(xs, ys, np.zeros(4), color=_GROUND_COLOUR, alpha=0.5)
  axes.set_xlim(centre[0] - half, centre[0] + half)
  axes.set_ylim(centre[1] - half, centre[1] + half)
  axes.set_zlim(0, 2 * half)
  axes.set_xticks([])
  axes.set_yticks([])
  axes.set_zticks([])
  axes.set_box_aspect((1, 1, 1))
  axes.view_init(elev=15, azim=-60)


def _save_figure(figure, path: str) -> None:
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  figure.savefig(path, dpi=_DPI)
  plt.close(figure)
