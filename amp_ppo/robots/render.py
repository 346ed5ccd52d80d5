"""MuJoCo's own renderer on a robot replaying reference or policy frames.

Needs a GL backend that works (gl_backend.status()); preview.py draws stick
figures without one. The camera tracks the root body. A model without a
floor gets one drawn into each frame's scene, checkered and fixed in the
world so that walking shows against the tracking camera: a RobotModel holds
a compiled model (Playground hands over `env.mj_model`), with no spec left
to edit. A model without lights gets a brighter headlight on the copy of
the model that is rendered. On a software rasteriser (OSMesa, or EGL on
Mesa's llvmpipe) that copy skips multisampling and keeps its shadow map to
2048 pixels a side: with OSMesa on 2 busy cores a 320x240 G1 frame took
0.27 s instead of 1.5 s (Go1: 0.19 s instead of 0.76 s), shadows and
reflections still drawn.
"""

import copy
from typing import Sequence

import mujoco
import numpy as np

from amp_ppo.robots import robot_model

_CAMERA_AZIMUTH = 135.0  # degrees: from the robot's front left
_CAMERA_ELEVATION = -15.0
# Camera distance per metre of the robot's extent: the whole robot fits
# MuJoCo's default 45° field of view with room to move.
_DISTANCE_PER_EXTENT = 2.0
_FLOOR_RGBA = (np.array([0.80, 0.82, 0.85, 1.0], np.float32),
               np.array([0.62, 0.66, 0.71, 1.0], np.float32))
_TILES_EACH_WAY = 8  # floor tiles drawn from the root to each side
_FLOOR_THICKNESS = 0.002  # metres; its top is the plane z = 0
_SOFTWARE_SHADOW_MAP = 2048  # pixels a side (Playground's scenes ask 8192)


class RobotRenderer:
  """Frames of one robot at given qpos. Close it (or use `with`) to free GL.

  Args:
    robot: the robot.
    width, height: pixels.
    software: cheaper settings for a CPU rasteriser
      (gl_backend.Backend.software).

  Raises:
    ValueError: the requested size is not positive.
  """

  def __init__(self, robot: robot_model.RobotModel, width: int, height: int,
               software: bool = False):
    if width < 1 or height < 1:
      raise ValueError(f'render size {width}x{height}: width and height '
                       'must be positive pixel counts.')
    self._model = _rendering_model(robot.model, width, height, software)
    self._data = mujoco.MjData(self._model)
    self._renderer = mujoco.Renderer(self._model, height, width)
    self._options = mujoco.MjvOption()
    self._options.sitegroup[:] = 0  # foot and IMU sites are not the robot
    extent = robot_extent(self._model)
    self._camera = _tracking_camera(self._model, extent)
    self._tile = None if _has_floor(self._model) else extent / 2

  def __enter__(self) -> 'RobotRenderer':
    return self

  def __exit__(self, *unused_exception) -> None:
    self.close()

  def close(self) -> None:
    self._renderer.close()

  def render(self, qpos: np.ndarray) -> np.ndarray:
    """[height, width, 3] uint8 pixels of the robot at one qpos."""
    self._data.qpos[:] = qpos
    # Positions, the centre of mass the tracking camera looks at, lights.
    mujoco.mj_kinematics(self._model, self._data)
    mujoco.mj_comPos(self._model, self._data)
    mujoco.mj_camlight(self._model, self._data)
    self._renderer.update_scene(self._data, self._camera, self._options)
    if self._tile is not None:
      _add_floor(self._renderer.scene, self._data.qpos[:2], self._tile)
    return self._renderer.render()


def render_frames(robot: robot_model.RobotModel, qpos: Sequence[np.ndarray],
                  width: int, height: int,
                  software: bool = False) -> np.ndarray:
  """[T, height, width, 3] uint8: each qpos row rendered."""
  with RobotRenderer(robot, width, height, software) as renderer:
    return np.stack([renderer.render(frame) for frame in qpos])


def robot_extent(model: mujoco.MjModel) -> float:
  """Largest side (m) of the box around the robot's geoms at qpos0."""
  data = mujoco.MjData(model)
  mujoco.mj_kinematics(model, data)
  root = model.jnt_bodyid[0]
  geoms = np.flatnonzero(model.body_rootid[model.geom_bodyid] == root)
  radii = model.geom_rbound[geoms][:, None]
  centres = data.geom_xpos[geoms]
  sides = (centres + radii).max(axis=0) - (centres - radii).min(axis=0)
  return float(sides.max())


def _rendering_model(model: mujoco.MjModel, width: int, height: int,
                     software: bool) -> mujoco.MjModel:
  """A copy whose offscreen buffer fits the size, lit if it had no light."""
  model = copy.copy(model)
  model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
  model.vis.global_.offheight = max(model.vis.global_.offheight, height)
  if software:
    model.vis.quality.offsamples = 0
    model.vis.quality.shadowsize = min(model.vis.quality.shadowsize,
                                       _SOFTWARE_SHADOW_MAP)
  if model.nlight == 0:
    model.vis.headlight.ambient[:] = 0.35
    model.vis.headlight.diffuse[:] = 0.65
  return model


def _has_floor(model: mujoco.MjModel) -> bool:
  """Whether the world body holds a plane or height field."""
  # As ints: `in` does not match model arrays' ints against enum members.
  floors = (int(mujoco.mjtGeom.mjGEOM_PLANE),
            int(mujoco.mjtGeom.mjGEOM_HFIELD))
  return any(model.geom_bodyid[g] == 0 and int(model.geom_type[g]) in floors
             for g in range(model.ngeom))


def _tracking_camera(model: mujoco.MjModel,
                     extent: float) -> mujoco.MjvCamera:
  camera = mujoco.MjvCamera()
  camera.type = mujoco.mjtCamera.mjCAMERA_TRACKING
  camera.trackbodyid = model.jnt_bodyid[0]  # the free joint's body
  camera.distance = _DISTANCE_PER_EXTENT * extent
  camera.azimuth = _CAMERA_AZIMUTH
  camera.elevation = _CAMERA_ELEVATION
  return camera


def _add_floor(scene: mujoco.MjvScene, centre: np.ndarray,
               tile: float) -> None:
  """Checkered tiles around `centre` (x, y), on grid lines fixed in the world.

  Tiles of both colours side by side, none overlapping, so that no two
  surfaces fight over the same depth.
  """
  first = np.floor(np.asarray(centre) / tile).astype(int) - _TILES_EACH_WAY
  size = np.array([tile / 2, tile / 2, _FLOOR_THICKNESS / 2])
  identity = np.eye(3).ravel()
  for i in range(first[0], first[0] + 2 * _TILES_EACH_WAY + 1):
    for j in range(first[1], first[1] + 2 * _TILES_EACH_WAY + 1):
      if scene.ngeom >= scene.maxgeom:
        return
      position = np.array([(i + 0.5) * tile, (j + 0.5) * tile,
                           -_FLOOR_THICKNESS / 2])
      mujoco.mjv_initGeom(scene.geoms[scene.ngeom],
                          mujoco.mjtGeom.mjGEOM_BOX, size, position, identity,
                          _FLOOR_RGBA[(i + j) % 2])
      scene.ngeom += 1
