"""Pictures of a reference replayed kinematically on its robot.

MuJoCo's offscreen renderer needs OpenGL (EGL or OSMesa), which headless
machines often lack, so the offline pictures are matplotlib drawings of the
body positions from `mj_kinematics`: each body joined to its parent, feet
marked (filled while in stance), the ground plane at z = 0. `write_strip`
draws a row of frames into a PNG, `write_animation` a GIF (Pillow) or an
MP4 (needs ffmpeg), `write_html` Brax's interactive viewer, which loads its
JavaScript from a CDN when opened.
"""

import os
import types
from typing import Optional, Sequence

import matplotlib
matplotlib.use('Agg')  # files only; never a window
# pylint: disable=g-import-not-at-top,wrong-import-position
from matplotlib import animation
from matplotlib import pyplot as plt
import numpy as np

from amp_ppo.robots import contacts
from amp_ppo.robots import robot_model

_BONE_COLOUR = '#2b5d8a'
_FOOT_COLOUR = '#c0392b'
_GROUND_COLOUR = '#d9d9d9'


def write_strip(robot: robot_model.RobotModel, qpos: np.ndarray, fps: float,
                path: str, *, num_frames: int = 6,
                title: Optional[str] = None) -> None:
  """A PNG of `num_frames` evenly spaced frames side by side."""
  replay = robot_model.replay(robot, qpos)
  in_stance = _stance(replay, fps)
  frames = np.unique(np.linspace(0, len(qpos) - 1, num_frames).astype(int))
  figure = plt.figure(figsize=(2.6 * len(frames), 3.0))
  for column, frame in enumerate(frames):
    axes = figure.add_subplot(1, len(frames), column + 1, projection='3d')
    _draw(axes, robot, replay, in_stance, frame)
    axes.set_title(f't = {frame / fps:.2f} s', fontsize=9)
  if title:
    figure.suptitle(title, fontsize=10)
  figure.tight_layout()
  _save_figure(figure, path)


def write_animation(robot: robot_model.RobotModel, qpos: np.ndarray,
                    fps: float, path: str, *, max_fps: float = 30.0) -> None:
  """A GIF or MP4 (by the path's suffix) of the replay in real time.

  Raises:
    ValueError: the suffix is neither, or MP4 is asked for without ffmpeg.
  """
  suffix = os.path.splitext(path)[1].lower()
  if suffix == '.gif':
    writer_class = animation.PillowWriter
  elif suffix == '.mp4':
    if not animation.writers.is_available('ffmpeg'):
      raise ValueError(f'{path}: MP4 needs ffmpeg, which is not installed — '
                       'install it (apt-get install ffmpeg) or write a .gif.')
    writer_class = animation.FFMpegWriter
  else:
    raise ValueError(f'{path}: write a .gif or an .mp4.')
  replay = robot_model.replay(robot, qpos)
  in_stance = _stance(replay, fps)
  stride = max(1, int(round(fps / max_fps)))
  frames = range(0, len(qpos), stride)
  figure = plt.figure(figsize=(4, 4))
  axes = figure.add_subplot(projection='3d')

  def draw(frame):
    axes.cla()
    _draw(axes, robot, replay, in_stance, frame)
    axes.set_title(f't = {frame / fps:.2f} s', fontsize=9)

  movie = animation.FuncAnimation(figure, draw, frames=frames)
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  movie.save(path, writer=writer_class(fps=fps / stride))
  plt.close(figure)


def write_html(robot: robot_model.RobotModel, qpos: np.ndarray, fps: float,
               path: str) -> None:
  """Brax's HTML viewer of the replay (body transforms from mj_kinematics)."""
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
  figure.savefig(path, dpi=110)
  plt.close(figure)


def default_paths(out: str, kinds: Sequence[str]):
  """Preview files beside a reference: walk.npz -> walk.preview.png, ..."""
  stem = os.path.splitext(out)[0]
  return {kind: f'{stem}.preview.{kind}' for kind in kinds}
