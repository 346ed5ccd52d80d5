"""Frame-by-frame inverse kinematics onto keypoint targets, with mink.

Each frame starts from the previous frame's solution, the root included (or
from a given initial guess), and iterates mink's differential IK until the
step is negligible or no longer lowers the tasks' error (a step that raises
it is taken back and retried with more damping); frames that reach the
iteration cap unconverged are reported (`Solution`).

Limits:
  - mink's ConfigurationLimit keeps every joint inside its range;
  - SpeedBox (with `max_joint_speed` and `fps`) keeps every hinge and slide
    joint within max_joint_speed / fps of the previous frame's solution, and
    (with `max_root_speed`) the root's position likewise. These coordinates
    are linear in mink's step, so the bound is exact however many iterations
    a frame takes (mink's VelocityLimit bounds one iteration, not a frame).
    Yaw joints then cannot flip to another branch between frames;
  - FrameStepBox (with `frame_step_ratio`) keeps each target's body within
    a box around where it was, a few times its target's own move: where the
    robot must pass from one solution branch to another, it does so over
    several frames instead of one (linearised per iteration).
A posture task draws the joints lightly toward a reference pose and, with
`continuity_cost`, a second one toward the previous frame's joints.

A looping take (`loop`) is solved in laps: each lap after the first starts
from the last one's last frame, the same instant as frame 0, and the speed
box of its last frame is also around the next cycle's frame 1, so the seam
holds the same bounds as any two frames.
"""

import dataclasses
from typing import List, Optional, Sequence

import mink
import mujoco
import numpy as np

from amp_ppo.mocap.formats import source_motion
from amp_ppo.mocap.retarget import velocities
from amp_ppo.robots import robot_model

# A frame has converged once no coordinate moves more than CONVERGED_STEP in
# an iteration (rad or m), or an iteration lowers the tasks' weighted
# squared error by less than CONVERGED_RELATIVE_DROP of it plus
# CONVERGED_COST_DROP (about a 1 mm error at cost 1).
CONVERGED_STEP = 1e-5
CONVERGED_RELATIVE_DROP = 1e-4
CONVERGED_COST_DROP = 1e-6
_SOLVER = 'daqp'
_DAMPING = 1e-4
# How much a step that raised the cost multiplies the damping (_iterate).
_DAMPING_GROWTH = 10.0
_STEP_DT = 1.0  # mink integrates velocity * dt; dt 1 makes velocity the step
# The first frame starts far from its targets (the standing pose).
_FIRST_FRAME_ITERATIONS = 500
# A looping take's laps (track's loop): until the last frame moves less than
# _LAP_TOLERANCE (rad or m) from one lap to the next, at most _MAX_LAPS.
# Every lap after the first holds the speed bounds across the seam; later
# ones only bring frame 0 and the last frame, one instant, closer together.
# (Joints no target sees, such as G1's wrist rolls, move about a quarter
# less each lap: 0.01 rad in the second on `run`.)
_LAP_TOLERANCE = 1e-2
_MAX_LAPS = 4


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


@dataclasses.dataclass(frozen=True, eq=False)
class Solution:
  """Solved frames and how the solve went for each.

  Attributes:
    qpos: [T, nq].
    converged: [T] the iterations stopped before the cap (_iterate).
    speed_limited: [T] some coordinate ended on the edge of its speed box.
    laps: times the frames were solved (more than 1 for a looping take).
  """
  qpos: np.ndarray
  converged: np.ndarray
  speed_limited: np.ndarray
  laps: int = 1

  def unconverged_frames(self) -> List[int]:
    return [int(frame) for frame in np.flatnonzero(~self.converged)]


class SpeedBox(mink.Limit):
  """Hinge, slide and root-position coordinates within a box per frame.

  `around(previous_qpos)` centres the box on the previous frame's solution;
  each coordinate may move at most its half width from there. Those
  coordinates are linear in mink's step (hinge and slide angles, and the
  free joint's world-frame position), so the bound holds exactly, whatever
  the number of iterations.
  """

  def __init__(self, model: mujoco.MjModel, joint_step: Optional[float],
               root_step: Optional[float] = None):
    """Half widths: joint_step for hinge and slide joints, root_step for the
    free joint's position (metres); None leaves them out."""
    qpos_addresses, dof_addresses, widths, ground = [], [], [], []
    for joint in range(model.njnt):
      kind = int(model.jnt_type[joint])
      if kind in robot_model.HINGE_OR_SLIDE and joint_step is not None:
        qpos_addresses.append(model.jnt_qposadr[joint])
        dof_addresses.append(model.jnt_dofadr[joint])
        widths.append(joint_step)
        ground.append(False)
      elif kind == int(mujoco.mjtJoint.mjJNT_FREE) and root_step is not None:
        qpos_addresses.extend(model.jnt_qposadr[joint] + np.arange(3))
        dof_addresses.extend(model.jnt_dofadr[joint] + np.arange(3))
        widths.extend([root_step] * 3)
        ground.extend([True, True, False])  # x and y; z is the height
    self._qpos_addresses = np.array(qpos_addresses, int)
    self._widths = np.array(widths, np.float64)
    self._ground = np.array(ground, bool)
    self._projection = np.eye(model.nv)[np.array(dof_addresses, int)]
    self._lower = self._upper = None

  def around(self, previous_qpos: np.ndarray,
             following_qpos: Optional[np.ndarray] = None) -> None:
    """Centres the box on the previous frame's solution and, given the
    following frame's (a loop's last frame: the next cycle's frame 1 is
    solved already), keeps it within the same widths of that too, except
    the root's ground position (the next cycle's follows from this frame's
    own). A coordinate whose two boxes do not meet keeps the first."""
    centre = previous_qpos[self._qpos_addresses]
    self._lower, self._upper = centre - self._widths, centre + self._widths
    if following_qpos is None:
      return
    after = following_qpos[self._qpos_addresses]
    lower = np.maximum(self._lower, after - self._widths)
    upper = np.minimum(self._upper, after + self._widths)
    narrowed = ~self._ground & (lower <= upper)
    self._lower = np.where(narrowed, lower, self._lower)
    self._upper = np.where(narrowed, upper, self._upper)

  def clip(self, qpos: np.ndarray) -> np.ndarray:
    """qpos with its boxed coordinates moved into the box."""
    qpos = qpos.copy()
    qpos[self._qpos_addresses] = np.clip(qpos[self._qpos_addresses],
                                         self._lower, self._upper)
    return qpos

  def on_edge(self, qpos: np.ndarray, tolerance: float = 1e-7) -> bool:
    values = qpos[self._qpos_addresses]
    return bool(np.any((values <= self._lower + tolerance)
                       | (values >= self._upper - tolerance)))

  def compute_qp_inequalities(self, configuration: mink.Configuration,
                              dt: float) -> mink.Constraint:
    del dt  # A bound on the step itself.
    values = configuration.q[self._qpos_addresses]
    # Rounding can leave a coordinate a hair outside: never ask to move out.
    room_up = np.maximum(self._upper - values, 0.0)
    room_down = np.maximum(values - self._lower, 0.0)
    return mink.Constraint(
        G=np.vstack([self._projection, -self._projection]),
        h=np.concatenate([room_up, room_down]))


class FrameStepBox(mink.Limit):
  """Target frames (bodies, sites) within a box around where they were.

  `around(positions, radii)` centres frame k's box on its position at the
  previous frame's solution, radii[k] metres along each world axis. The
  bound is linearised at each iteration, so it holds to the last
  iteration's first order: a body then cannot swing far in one frame while
  the motion asks it to move little (the robot passing from one solution
  branch to another over a few frames instead of one).
  """

  def __init__(self, model: mujoco.MjModel,
               frames: Sequence[KeypointTarget]):
    self._model = model
    self._frames = [(frame_id(model, target), target.frame_type)
                    for target in frames]
    self._jacobian = np.zeros((3, model.nv))
    self._centres = self._radii = None

  def positions(self, data: mujoco.MjData) -> np.ndarray:
    return np.array([data.xpos[index] if kind == 'body'
                     else data.site_xpos[index]
                     for index, kind in self._frames])

  def around(self, positions: np.ndarray, radii: np.ndarray) -> None:
    self._centres = np.asarray(positions, np.float64)
    self._radii = np.asarray(radii, np.float64)

  def compute_qp_inequalities(self, configuration: mink.Configuration,
                              dt: float) -> mink.Constraint:
    del dt  # A bound on the step itself.
    data = configuration.data
    rows, room_up, room_down = [], [], []
    for (index, kind), centre, radius, position in zip(
        self._frames, self._centres, self._radii, self.positions(data)):
      if kind == 'body':
        mujoco.mj_jacBody(self._model, data, self._jacobian, None, index)
      else:
        mujoco.mj_jacSite(self._model, data, self._jacobian, None, index)
      rows.append(self._jacobian.copy())
      offset = position - centre
      # Never ask to move out; where linearisation overshot, stay put.
      room_up.append(np.maximum(radius - offset, 0.0))
      room_down.append(np.maximum(radius + offset, 0.0))
    jacobian = np.vstack(rows)
    return mink.Constraint(G=np.vstack([jacobian, -jacobian]),
                           h=np.concatenate(room_up + room_down))


def frame_id(model: mujoco.MjModel, target: KeypointTarget) -> int:
  """The MuJoCo id of a target's body or site."""
  kind = (mujoco.mjtObj.mjOBJ_BODY if target.frame_type == 'body'
          else mujoco.mjtObj.mjOBJ_SITE)
  index = mujoco.mj_name2id(model, kind, target.frame)
  if index < 0:
    raise ValueError(f'keypoint IK: the robot has no {target.frame_type} '
                     f'named {target.frame!r}.')
  return index


def solve(robot: robot_model.RobotModel,
          targets: Sequence[KeypointTarget],
          **options) -> np.ndarray:
  """qpos [T, nq] that best reach the targets: `track`'s frames."""
  return track(robot, targets, **options).qpos


def track(robot: robot_model.RobotModel,
          targets: Sequence[KeypointTarget],
          *,
          initial_qpos: np.ndarray,
          posture: Optional[np.ndarray] = None,
          posture_cost: float = 1e-2,
          continuity_cost: float = 0.0,
          fps: Optional[float] = None,
          max_joint_speed: Optional[float] = None,
          max_root_speed: Optional[float] = None,
          frame_step_ratio: Optional[float] = None,
          frame_step_floor: float = 0.01,
          freeze_root: bool = False,
          free_root_height: bool = False,
          warm_start: bool = True,
          damping: float = _DAMPING,
          max_iterations: int = 50,
          loop: Optional[source_motion.Loop] = None) -> Solution:
  """The frames that best reach the targets, within joint and speed limits.

  Args:
    robot: the target robot.
    targets: one entry per keypoint, each with T frames.
    initial_qpos: [T, nq] starting guesses (frame 0's is always used; later
      frames start from the previous solution when warm_start).
    posture: [T, nq] poses the joints are drawn to (default initial_qpos).
    posture_cost: weight of the posture task.
    continuity_cost: weight (per radian) of a second posture task drawing
      the joints toward the previous frame's solution (with warm_start):
      where the targets leave two poses about as good, the robot keeps the
      one it was in instead of jumping to the other.
    fps: frames per second, for the speed limits.
    max_joint_speed: rad/s (m/s for slide joints) no joint may exceed from
      one frame to the next; None: no bound.
    max_root_speed: m/s the root's position may not exceed; None: no bound.
    frame_step_ratio: each target's frame moves at most
      this many times as far as its target does from one frame to the next
      (at least frame_step_floor metres), along each axis (FrameStepBox);
      None: no bound.
    frame_step_floor: metres a target frame may always move per frame.
    freeze_root: hold the free joint at initial_qpos (only limbs move).
    free_root_height: with freeze_root, still let the root move vertically
      and turn (only its ground position is held).
    warm_start: start each frame from the previous frame's solution, root
      included.
    damping: Levenberg-Marquardt damping of every step.
    max_iterations: differential IK steps per frame at most
      (with warm_start, frame 0, which starts from the initial guess, may
      take _FIRST_FRAME_ITERATIONS).
    loop: how the frames loop (their last frame the same instant as the
      next cycle's first), None: they do not. A looping take is solved in
      laps until its last frame moves less than _LAP_TOLERANCE, at most
      _MAX_LAPS: frame 0 of each lap after the first is the last lap's
      last frame moved back a cycle, and the speed bounds hold across the
      seam as between any two frames. Needs warm_start.

  Raises:
    ValueError: a speed bound without fps, a loop without warm_start or of
      fewer than 3 frames, or a frame type mink lacks.
  """
  model = robot.model
  initial_qpos = np.asarray(initial_qpos, np.float64)
  posture = initial_qpos if posture is None else np.asarray(posture)
  bounded = max_joint_speed is not None or max_root_speed is not None
  if bounded and not (fps and fps > 0):
    raise ValueError('keypoint IK: a speed bound needs the frame rate fps.')
  box = (SpeedBox(model, _per_frame(max_joint_speed, fps),
                  _per_frame(max_root_speed, fps)) if bounded else None)
  configuration = mink.Configuration(model)
  steps = (FrameStepBox(model, targets) if frame_step_ratio is not None
           else None)
  tasks = [_frame_task(target) for target in targets]
  posture_task = mink.PostureTask(model, cost=posture_cost)
  regularisers = [posture_task]
  if continuity_cost and warm_start:
    continuity_task = mink.PostureTask(model, cost=continuity_cost)
    regularisers.append(continuity_task)
  limits = [mink.ConfigurationLimit(model)]
  frozen = [0, 1] if free_root_height else list(range(6))
  constraints = ([mink.DofFreezingTask(model, dof_indices=frozen)]
                 if freeze_root else [])
  frames = len(initial_qpos)
  if loop is not None and not (warm_start and frames >= 3):
    raise ValueError('keypoint IK: a looping take is solved in laps, each '
                     'frame from the previous one: loop needs warm_start '
                     f'and at least 3 frames, got {frames}.')
  solutions = np.empty_like(initial_qpos)
  converged = np.zeros(frames, bool)
  speed_limited = np.zeros(frames, bool)

  def solve_frame(frame: int, following: Optional[np.ndarray] = None):
    previous = solutions[frame - 1] if frame else None
    start = initial_qpos[frame].copy()
    if warm_start and frame:
      start[:] = previous
    frame_limits = list(limits)
    if box is not None and frame:
      box.around(previous, following)
      start = box.clip(start)
      frame_limits.append(box)
    if steps is not None and frame:
      configuration.update(previous)
      steps.around(steps.positions(configuration.data),
                   _frame_radii(targets, frame, frame_step_ratio,
                                frame_step_floor))
      frame_limits.append(steps)
    configuration.update(_within_limits(robot, start))
    posture_task.set_target(posture[frame])
    if len(regularisers) > 1:
      regularisers[1].set_target(previous if frame else start)
    iterations = (max(max_iterations, _FIRST_FRAME_ITERATIONS)
                  if warm_start and not frame else max_iterations)
    for task, target in zip(tasks, targets):
      task.set_target(_pose(target, frame))
    converged[frame] = _iterate(configuration, tasks + regularisers,
                                frame_limits, constraints, damping,
                                iterations)
    solutions[frame] = configuration.q
    speed_limited[frame] = (box is not None and frame > 0
                            and box.on_edge(configuration.q))

  for frame in range(frames):
    solve_frame(frame)
  laps = 1
  # A looping take's last frame is the same instant as the next cycle's
  # first, and the next cycle goes on from it: one lap from frame 0 leaves
  # the joints wherever the cycle's end took them (T1's hip yaw at one stop
  # at the end of `run`, at the other at its start: 30 rad/s across the
  # seam). So the cycle is solved again from its end: frame 0 becomes the
  # last frame moved back a cycle (one instant, one pose, reached within
  # the bounds from the frames before it; the source's own frame 0 may
  # disagree with its last, as `run`'s does by 28 cm at a toe), and the
  # last frame's speed box is also around the next cycle's frame 1, so the
  # seam's step holds the bounds as every other step does. Laps go on
  # while the last frame still moves.
  while loop is not None and laps < _MAX_LAPS:
    last = solutions[-1].copy()
    solutions[0] = velocities.previous_cycle_frame(solutions, frames - 1,
                                                   loop)
    converged[0], speed_limited[0] = converged[-1], speed_limited[-1]
    for frame in range(1, frames - 1):
      solve_frame(frame)
    solve_frame(frames - 1,
                following=velocities.next_cycle_frame(solutions, 1, loop))
    laps += 1
    if np.abs(solutions[-1] - last).max() < _LAP_TOLERANCE:
      break
  return Solution(qpos=solutions, converged=converged,
                  speed_limited=speed_limited, laps=laps)


def _frame_radii(targets: Sequence[KeypointTarget], frame: int,
                 ratio: float, floor: float) -> np.ndarray:
  """How far each target's frame may move into `frame`, per axis."""
  moves = [np.abs(target.positions[frame] - target.positions[frame - 1])
           for target in targets]
  return np.maximum(ratio * np.array(moves), floor)


def _per_frame(speed: Optional[float],
               fps: Optional[float]) -> Optional[float]:
  """The most a coordinate may move in one frame (None: unbounded)."""
  if speed is None:
    return None
  if not speed > 0:
    raise ValueError(f'keypoint IK: speed bounds must be > 0, got {speed}.')
  return float(speed) / float(fps)


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


def _iterate(configuration, tasks, limits, constraints, damping: float,
             max_iterations: int) -> bool:
  """Differential IK steps until one is negligible or no longer lowers the
  tasks' cost (GMR's test: large damping leaves long, flat tails of tiny
  steps along what the tasks hardly see); True if it got there.

  A step that raises the cost overshot (a linearisation far from the
  targets: the first frame, a frame that turns fast): it is taken back and
  tried again with ten times the damping (Levenberg-Marquardt), which falls
  back after each step that lowers the cost. Stopping there instead left
  G1's first `run` frame where one overshooting step had thrown it, a hip
  turned 108 degrees, for later frames to undo at the joint speed limit.
  """
  cost = _cost(configuration, tasks)
  current_damping = damping
  for _ in range(max_iterations):
    step = mink.solve_ik(configuration, tasks, _STEP_DT, _SOLVER,
                         damping=current_damping, limits=limits,
                         constraints=constraints or None)
    if np.abs(step).max() < CONVERGED_STEP:
      configuration.integrate_inplace(step, _STEP_DT)
      return True
    before = configuration.q.copy()
    configuration.integrate_inplace(step, _STEP_DT)
    previous, cost = cost, _cost(configuration, tasks)
    if cost > previous:
      configuration.update(before)
      cost = previous
      current_damping *= _DAMPING_GROWTH
      continue
    current_damping = max(current_damping / _DAMPING_GROWTH, damping)
    if previous - cost < CONVERGED_RELATIVE_DROP * cost + CONVERGED_COST_DROP:
      return True
  return False


def _cost(configuration, tasks) -> float:
  """The weighted squared error the tasks minimise."""
  total = 0.0
  for task in tasks:
    weighted_error = task.cost * task.compute_error(configuration)
    total += float(weighted_error @ weighted_error)
  return total


def _within_limits(robot: robot_model.RobotModel,
                   qpos: np.ndarray) -> np.ndarray:
  """mink refuses to start outside the joint ranges."""
  qpos = qpos.copy()
  for address, lower, upper in robot.limited_joints().values():
    qpos[address] = np.clip(qpos[address], lower, upper)
  mujoco.mj_normalizeQuat(robot.model, qpos)
  return qpos
