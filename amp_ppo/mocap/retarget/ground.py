"""Putting retargeted motion on the ground plane z = 0.

Retargeting carries over the source's own ground errors (motion_imitation's
dog clips float or sink their stance toes by a few centimetres) and adds
the difference of the two robots' feet. Two steps remove both: the root
moves vertically so the median stance sole touches the ground, then
inverse kinematics (root held, limbs free, joint limits kept) moves each
foot by contacts.ground_corrections, keeping its orientation.

A leg held straighter than the target's joints allow cannot reach the
ground from where the root is: Go1's knee stops 0.89 rad short of straight,
and Laikago's stance legs in motion_imitation's inplace_steps are straighter
than that, so their feet stay up to 2.2 cm above the ground with the root
held. Where a stance sole is left above the ground, the root comes down by
what the leg lacks, eased in and out at ROOT_DROP_SPEED, and the feet are
placed again. A robot whose legs reach everywhere is left as the first
placement made it.
"""

import dataclasses

import mujoco
import numpy as np

from amp_ppo.motion import quaternions
from amp_ppo.robots import contacts
from amp_ppo.mocap.retarget import keypoint_ik
from amp_ppo.robots import robot_model

# Foot position errors matter most; the orientation keeps soles level.
_FOOT_POSITION_COST = 10.0
_FOOT_ORIENTATION_COST = 1.0
# A stance sole the limbs leave higher than this (metres) lowers the root;
# below it, the solve's own tolerance.
UNREACHED_HEIGHT = 1e-3
# How fast (m/s) a root lowered for an unreached foot goes down and comes
# back: a 2 cm dip eases in over 0.2 s.
ROOT_DROP_SPEED = 0.1


@dataclasses.dataclass(frozen=True)
class GroundFit:
  """What placing on the ground changed (metres)."""
  root_shift: float  # added to the root height
  largest_foot_correction: float  # the largest per-foot vertical move asked
  # The most the root was lowered for a foot its leg could not reach.
  largest_root_drop: float = 0.0


def place_on_ground(robot: robot_model.RobotModel, qpos: np.ndarray,
                    fps: float,
                    stance_speed: float = contacts.STANCE_SPEED,
                    free_root_height: bool = False):
  """(qpos on the ground, GroundFit) for frames qpos [T, nq].

  free_root_height lets the foot IK raise, lower and tilt the root too, for
  legs that cannot reach the ground by themselves (a humanoid bent at its
  hip limits).
  """
  qpos = np.array(qpos, np.float64)
  before = robot_model.replay(robot, qpos)
  soles = before.sole_heights
  # Slow feet decide the ground level before heights can say which touch it.
  slow = contacts.speeds(before.foot_positions, fps) < stance_speed
  reference = soles[slow] if slow.any() else soles.min(axis=1)
  shift = -float(np.median(reference))
  qpos[:, 2] += shift
  soles = soles + shift
  in_stance = contacts.stance(before.foot_positions, soles, fps, stance_speed)
  corrections = contacts.ground_corrections(soles, in_stance)
  drop = np.zeros(len(qpos))
  if np.abs(corrections).max() > 0:
    qpos = _move_feet(robot, qpos, corrections, free_root_height)
    if not free_root_height:  # a free root already goes where legs reach
      qpos, drop = _lower_root_for_unreached_feet(robot, qpos, in_stance, fps,
                                                  stance_speed)
  return qpos, GroundFit(root_shift=shift,
                         largest_foot_correction=float(
                             np.abs(corrections).max()),
                         largest_root_drop=float(drop.max()))


def _lower_root_for_unreached_feet(robot: robot_model.RobotModel,
                                   qpos: np.ndarray, in_stance: np.ndarray,
                                   fps: float, stance_speed: float):
  """(qpos, root drop [T]): the root lowered where stance soles stay up.

  Stance is as the first placement saw it or as the placed frames show it
  (the checks' view), so a foot the first placement slowed into stance
  counts too.
  """
  placed = robot_model.replay(robot, qpos)
  in_stance = in_stance | contacts.stance(placed.foot_positions,
                                          placed.sole_heights, fps,
                                          stance_speed)
  unreached = np.where(in_stance, placed.sole_heights, 0.0).max(axis=1)
  if unreached.max() <= UNREACHED_HEIGHT:
    return qpos, np.zeros(len(qpos))
  drop = _eased(np.where(unreached > UNREACHED_HEIGHT, unreached, 0.0),
                ROOT_DROP_SPEED / fps)
  qpos = qpos.copy()
  qpos[:, 2] -= drop
  lowered = robot_model.replay(robot, qpos).sole_heights
  corrections = contacts.ground_corrections(lowered, in_stance)
  return _move_feet(robot, qpos, corrections, False), drop


def _eased(depth: np.ndarray, step: float) -> np.ndarray:
  """The least profile at or above depth [T] that changes by at most step
  per frame: each frame's depth, tapered off linearly on both sides."""
  profile = np.array(depth, np.float64)
  for frame in range(1, len(profile)):  # tapers after each frame
    profile[frame] = max(profile[frame], profile[frame - 1] - step)
  for frame in range(len(profile) - 2, -1, -1):  # and before it
    profile[frame] = max(profile[frame], profile[frame + 1] - step)
  return profile


def _move_feet(robot: robot_model.RobotModel, qpos: np.ndarray,
               corrections: np.ndarray,
               free_root_height: bool) -> np.ndarray:
  """IK with the root held: each foot site down by its correction."""
  positions, orientations = _site_poses(robot, qpos)
  targets = []
  for index, foot in enumerate(robot.feet):
    goal = positions[:, index].copy()
    goal[:, 2] -= corrections[:, index]
    targets.append(keypoint_ik.KeypointTarget(
        frame=foot, frame_type='site', positions=goal,
        position_cost=_FOOT_POSITION_COST,
        orientations=orientations[:, index],
        orientation_cost=_orientation_cost(robot, foot)))
  return keypoint_ik.solve(robot, targets, initial_qpos=qpos,
                           freeze_root=True,
                           free_root_height=free_root_height,
                           warm_start=False)


def _orientation_cost(robot: robot_model.RobotModel, foot: str) -> float:
  """Soles with corners stay level; a ball foot may roll as it likes."""
  model = robot.model
  geoms = robot_model.foot_geoms(model, robot.site_id(foot))
  spheres = all(model.geom_type[g] == int(mujoco.mjtGeom.mjGEOM_SPHERE)
                for g in geoms)
  return 0.0 if geoms and spheres else _FOOT_ORIENTATION_COST


def _site_poses(robot: robot_model.RobotModel, qpos: np.ndarray):
  """World positions [T, F, 3] and w-x-y-z orientations [T, F, 4] of feet."""
  model = robot.model
  data = mujoco.MjData(model)
  sites = [robot.site_id(foot) for foot in robot.feet]
  positions, orientations = [], []
  for frame in qpos:
    data.qpos[:] = frame
    mujoco.mj_kinematics(model, data)
    positions.append(data.site_xpos[sites].copy())
    orientations.append(quaternions.from_matrix(
        data.site_xmat[sites].reshape(-1, 3, 3)))
  return np.array(positions), np.array(orientations)
