"""Frame-by-frame inverse kinematics onto keypoint targets, with mink.

Each frame is solved from the previous frame's solution (or a given initial
guess) by iterating mink's differential IK until the step is negligible.
mink's ConfigurationLimit keeps every joint inside its range; a posture
task regularises the joints toward a reference pose.
"""

import dataclasses
from typing import Optional, Sequence

import mink
import mujoco
import numpy as np

from amp_ppo.robots import robot_model

# A step is negligible once no coordinate moves more than this (rad or m).
_CONVERGED_STEP = 1e-5
_SOLVER = 'daqp'
_DAMPING = 1e-4
_STEP_DT = 1.0  # mink integrates velocity * dt; dt 1 makes velocity the step


@dataclasses.dataclass(frozen=True)
class KeypointTarget:
  """Where a body or site of the robot should be, frame by frame.

  Attributes:
    frame: body or site name.
    frame_type: 'body' or 'site'.
    positions: [T, 3] world positions.
    position_cost: weight of the position error (per metre).
    orientations: [T, 4] w-x-y-z world orientations, or None.
    orientation_cost: weight of the orientation error (per radian).
  """
  frame: str
  frame_type: str
  positions: np.ndarray
  position_cost: float = 1.0
  orientations: Optional[np.ndarray] = None
  orientation_cost: float = 0.0


def solve(robot: robot_model.RobotModel,
          targets: Sequence[KeypointTarget],
          *,
          initial_qpos: np.ndarray,
          posture: Optional[np.ndarray] = None,
          posture_cost: float = 1e-2,
          freeze_root: bool = False,
          free_root_height: bool = False,
          warm_start: bool = True,
          max_iterations: int = 50) -> np.ndarray:
  """qpos [T, nq] that best reach the targets, within joint limits.

  Args:
    robot: the target robot.
    targets: one entry per keypoint, each with T frames.
    initial_qpos: [T, nq] starting guesses (frame 0's is always used; later
      frames start from the previous solution when warm_start).
    posture: [T, nq] poses the joints are drawn to (default initial_qpos).
    posture_cost: weight of the posture task.
    freeze_root: hold the free joint at initial_qpos (only limbs move).
    free_root_height: with freeze_root, still let the root move vertically
      and turn (only its ground position is held).
    warm_start: start each frame from the previous frame's solution; its
      root still starts at the frame's own initial guess.
    max_iterations: differential IK steps per frame at most.
  """
  model = robot.model
  initial_qpos = np.asarray(initial_qpos, np.float64)
  posture = initial_qpos if posture is None else np.asarray(posture)
  configuration = mink.Configuration(model)
  tasks = [_frame_task(target) for target in targets]
  posture_task = mink.PostureTask(model, cost=posture_cost)
  limits = [mink.ConfigurationLimit(model)]
  frozen = [0, 1] if free_root_height else list(range(6))
  constraints = ([mink.DofFreezingTask(model, dof_indices=frozen)]
                 if freeze_root else [])
  solutions = np.empty_like(initial_qpos)
  for frame in range(len(initial_qpos)):
    start = initial_qpos[frame].copy()
    if warm_start and frame:
      start[7:] = solutions[frame - 1][7:]
    configuration.update(_within_limits(robot, start))
    posture_task.set_target(posture[frame])
    for task, target in zip(tasks, targets):
      task.set_target(_pose(target, frame))
    _iterate(configuration, tasks + [posture_task], limits, constraints,
             max_iterations)
    solutions[frame] = configuration.q
  return solutions


def _frame_task(target: KeypointTarget) -> mink.FrameTask:
  if target.frame_type not in ('body', 'site'):
    raise ValueError(f'keypoint {target.frame!r}: frame_type must be body or '
                     f'site, got {target.frame_type!r}.')
  orientation_cost = (target.orientation_cost
                      if target.orientations is not None else 0.0)
  return mink.FrameTask(target.frame, target.frame_type,
                        position_cost=target.position_cost,
                        orientation_cost=orientation_cost)


def _pose(target: KeypointTarget, frame: int) -> mink.SE3:
  rotation = (mink.SO3(target.orientations[frame])
              if target.orientations is not None else mink.SO3.identity())
  return mink.SE3.from_rotation_and_translation(rotation,
                                                target.positions[frame])


def _iterate(configuration, tasks, limits, constraints,
             max_iterations: int) -> None:
  for _ in range(max_iterations):
    step = mink.solve_ik(configuration, tasks, _STEP_DT, _SOLVER,
                         damping=_DAMPING, limits=limits,
                         constraints=constraints or None)
    configuration.integrate_inplace(step, _STEP_DT)
    if np.abs(step).max() < _CONVERGED_STEP:
      return


def _within_limits(robot: robot_model.RobotModel,
                   qpos: np.ndarray) -> np.ndarray:
  """mink refuses to start outside the joint ranges."""
  qpos = qpos.copy()
  for address, lower, upper in robot.limited_joints().values():
    qpos[address] = np.clip(qpos[address], lower, upper)
  mujoco.mj_normalizeQuat(robot.model, qpos)
  return qpos
