"""The environment's robot as MuJoCo sees it, and kinematic replay on it.

`load_robot` takes a MuJoCo Playground environment name (its `mj_model` is
the model Playground trains) or an MJCF file. `replay` runs MuJoCo's forward
kinematics (`mj_kinematics`) over reference frames: body and foot positions,
and each foot's lowest point against the ground plane z = 0.
"""

import dataclasses
import functools
import os
from typing import Dict, Optional, Sequence, Tuple

import mujoco
import numpy as np

from amp_ppo.robots import presets

# Joint types as ints: model arrays hold ints, which `in` does not match
# against the enum members.
HINGE_OR_SLIDE = (int(mujoco.mjtJoint.mjJNT_HINGE),
                  int(mujoco.mjtJoint.mjJNT_SLIDE))


@dataclasses.dataclass(frozen=True, eq=False)
class RobotModel:
  """A free-floating robot and the sites that stand for its feet.

  Attributes:
    name: the environment name or MJCF path it was loaded from.
    model: the MuJoCo model (first joint free, the robot's root).
    feet: names of the foot sites.
    control_dt: the environment's control step, if known (seconds).
  """
  name: str
  model: mujoco.MjModel
  feet: Tuple[str, ...]
  control_dt: Optional[float] = None

  def __post_init__(self):
    if (self.model.njnt == 0
        or self.model.jnt_type[0] != mujoco.mjtJoint.mjJNT_FREE):
      raise ValueError(f'robot {self.name!r}: its first joint is not a free '
                       'joint — retargeting needs a free-floating robot.')
    for site in self.feet:
      self.site_id(site)

  def site_id(self, name: str) -> int:
    index = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_SITE, name)
    if index < 0:
      raise ValueError(
          f'robot {self.name!r}: has no site named {name!r} — use one of '
          f'{", ".join(_names(self.model, mujoco.mjtObj.mjOBJ_SITE))}.')
    return index

  def joint_names(self) -> Tuple[str, ...]:
    """The hinge and slide joints after the free joint, in qpos order."""
    return tuple(
        mujoco.mj_id2name(self.model, mujoco.mjtObj.mjOBJ_JOINT, j)
        for j in range(1, self.model.njnt)
        if self.model.jnt_type[j] in HINGE_OR_SLIDE)

  def joint_qpos_address(self, name: str) -> int:
    index = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, name)
    if index < 1 or self.model.jnt_type[index] not in HINGE_OR_SLIDE:
      raise ValueError(f'robot {self.name!r}: has no hinge joint named '
                       f'{name!r} — use one of '
                       f'{", ".join(self.joint_names())}.')
    return int(self.model.jnt_qposadr[index])

  def limited_joints(self) -> Dict[str, Tuple[int, float, float]]:
    """Name -> (qpos address, lower, upper) of every limited joint."""
    limits = {}
    for j in range(1, self.model.njnt):
      if (self.model.jnt_type[j] in HINGE_OR_SLIDE
          and self.model.jnt_limited[j]):
        name = mujoco.mj_id2name(self.model, mujoco.mjtObj.mjOBJ_JOINT, j)
        lower, upper = self.model.jnt_range[j]
        limits[name] = (int(self.model.jnt_qposadr[j]), float(lower),
                        float(upper))
    return limits

  def standing_qpos(self) -> np.ndarray:
    """The first keyframe (Playground's 'home'), or qpos0 without one."""
    if self.model.nkey:
      return self.model.key_qpos[0].copy()
    return self.model.qpos0.copy()

  def leg_length(self, foot: str) -> float:
    """Height of the foot's leg at the zero pose: first leg joint to site.

    The zero pose stands the legs of Playground's quadrupeds and humanoids
    straight, so this is the leg's extended length.
    """
    data = mujoco.MjData(self.model)
    data.qpos[:] = self.model.qpos0
    mujoco.mj_kinematics(self.model, data)
    site = self.site_id(foot)
    top = _first_joint_below_root(self.model, self.model.site_bodyid[site])
    anchor = data.xanchor[top]
    return float(anchor[2] - data.site_xpos[site][2])

  def mean_leg_length(self) -> float:
    return float(np.mean([self.leg_length(foot) for foot in self.feet]))


@dataclasses.dataclass(frozen=True, eq=False)
class Replay:
  """Forward kinematics of reference frames.

  Attributes:
    body_positions: [T, nbody, 3] (body 0 is the world).
    foot_positions: [T, F, 3] of the foot sites.
    sole_heights: [T, F] lowest point of each foot's collision geoms (the
      site's height when its body has none) above z = 0.
  """
  body_positions: np.ndarray
  foot_positions: np.ndarray
  sole_heights: np.ndarray


def replay(robot: RobotModel, qpos: np.ndarray) -> Replay:
  """Runs mj_kinematics on every frame of qpos [T, nq]."""
  model = robot.model
  data = mujoco.MjData(model)
  sites = [robot.site_id(foot) for foot in robot.feet]
  geoms = [foot_geoms(model, site) for site in sites]
  bodies, feet, soles = [], [], []
  for frame in np.asarray(qpos, np.float64):
    data.qpos[:] = frame
    mujoco.mj_kinematics(model, data)
    bodies.append(data.xpos.copy())
    feet.append(data.site_xpos[sites].copy())
    soles.append([_lowest_point(model, data, site, foot)
                  for site, foot in zip(sites, geoms)])
  return Replay(np.array(bodies), np.array(feet), np.array(soles))


def foot_geoms(model: mujoco.MjModel, site: int) -> Tuple[int, ...]:
  """Collision geoms of the site's body: contype/conaffinity or a pair."""
  body = model.site_bodyid[site]
  paired = set(model.pair_geom1) | set(model.pair_geom2)
  return tuple(
      g for g in range(model.ngeom) if model.geom_bodyid[g] == body and (
          model.geom_contype[g] or model.geom_conaffinity[g] or g in paired))


def _lowest_point(model, data, site: int, geoms: Sequence[int]) -> float:
  if not geoms:
    return float(data.site_xpos[site][2])
  return min(_geom_bottom(model, data, g) for g in geoms)


def _geom_bottom(model, data, geom: int) -> float:
  """World height of a geom's lowest point."""
  kind = model.geom_type[geom]
  size = model.geom_size[geom]
  centre = data.geom_xpos[geom][2]
  # The world z axis in the geom's frame: how far each local axis reaches down.
  down = np.abs(data.geom_xmat[geom].reshape(3, 3)[2])
  if kind == mujoco.mjtGeom.mjGEOM_SPHERE:
    return centre - size[0]
  if kind == mujoco.mjtGeom.mjGEOM_CAPSULE:
    return centre - down[2] * size[1] - size[0]
  if kind == mujoco.mjtGeom.mjGEOM_CYLINDER:
    return centre - down[2] * size[1] - size[0] * np.sqrt(
        max(0.0, 1 - down[2]**2))
  if kind == mujoco.mjtGeom.mjGEOM_BOX:
    return centre - float(down @ size)
  if kind == mujoco.mjtGeom.mjGEOM_ELLIPSOID:
    return centre - float(np.linalg.norm(down * size))
  if kind == mujoco.mjtGeom.mjGEOM_MESH:
    mesh = model.geom_dataid[geom]
    start, count = model.mesh_vertadr[mesh], model.mesh_vertnum[mesh]
    vertices = model.mesh_vert[start:start + count]
    rotation = data.geom_xmat[geom].reshape(3, 3)
    return centre + float(np.min(vertices @ rotation[2]))
  return centre


def _first_joint_below_root(model, body: int) -> int:
  """The joint nearest the root on the chain from the root to `body`."""
  chain = []
  while body > 0 and model.body_parentid[body] != 0:
    chain.append(body)
    body = model.body_parentid[body]
  for link in reversed(chain):
    if model.body_jntnum[link]:
      return int(model.body_jntadr[link])
  raise ValueError('a foot site hangs off the root body itself, with no leg '
                   'joint — name the foot sites at the ends of the legs.')


def load_robot(env_or_xml: str,
               feet: Optional[Sequence[str]] = None) -> RobotModel:
  """The robot of a Playground environment, or of an MJCF file.

  Args:
    env_or_xml: a `mujoco_playground.registry` name (e.g.
      'Go1JoystickFlatTerrain') or a path to an .xml file.
    feet: foot site names; None: the preset for this robot (presets.py).

  Raises:
    ValueError: the name is neither, or no feet are known for it.
  """
  model, control_dt = _load_model(env_or_xml)
  if feet is None:
    target = presets.target_for(env_or_xml)
    if target is None:
      raise ValueError(
          f'robot {env_or_xml!r}: no foot sites are known for it — pass '
          'feet (site names at the soles, e.g. --feet FR,FL,RR,RL).')
    feet = target.feet
  return RobotModel(name=env_or_xml, model=model, feet=tuple(feet),
                    control_dt=control_dt)


@functools.lru_cache(maxsize=8)
def _load_model(env_or_xml: str) -> Tuple[mujoco.MjModel, Optional[float]]:
  if env_or_xml.endswith('.xml'):
    if not os.path.isfile(env_or_xml):
      raise ValueError(f'robot {env_or_xml!r}: no such MJCF file — check the '
                       'path.')
    return mujoco.MjModel.from_xml_path(env_or_xml), None
  return _load_playground(env_or_xml)


def _load_playground(name: str) -> Tuple[mujoco.MjModel, float]:
  """Loads the environment as Playground does, for its mj_model and dt."""
  try:
    # pylint: disable=g-import-not-at-top
    from amp_ppo.robots import menagerie
    from mujoco_playground import registry
  except ImportError as error:
    raise ValueError(
        f'robot {name!r}: is not an .xml file and MuJoCo Playground is not '
        'installed — pip install amp_ppo[playground], or pass an MJCF '
        'path.') from error
  if name not in registry.ALL_ENVS:
    raise ValueError(f'robot {name!r}: not a MuJoCo Playground environment '
                     f'nor an .xml path — use e.g. Go1JoystickFlatTerrain, '
                     'G1JoystickFlatTerrain, BerkeleyHumanoidJoystickFlat'
                     'Terrain.')
  menagerie.use_menagerie()
  env = registry.load(name)
  return env.mj_model, float(env.dt)


def _names(model, kind) -> Tuple[str, ...]:
  count = {mujoco.mjtObj.mjOBJ_SITE: model.nsite,
           mujoco.mjtObj.mjOBJ_BODY: model.nbody}[kind]
  return tuple(mujoco.mj_id2name(model, kind, i) or f'#{i}'
               for i in range(count))
