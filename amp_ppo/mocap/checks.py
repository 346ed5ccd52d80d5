"""Checks of a reference motion replayed kinematically on its robot.

Each check has a status ('pass', 'warn' or 'fail') and the figures behind
it; the report is a JSON-able dict, printed short by `format_report` and
saved by `save_report`:
  fps          the frame rate against the environment's control rate (warn
               below it: resampling then interpolates frames that were never
               seen)
  joint_limits every limited joint inside its range
  feet         stance soles within `stance_height` of the ground, no sole
               deeper than `penetration` below it (stance as in
               retarget.contacts: slow and near the ground)
  root_height  the root's height within a range around the standing pose's
  velocities   joint and root speeds below physical bounds
  jumps        no frame step that moves a body far more than the clip's
               usual step (also across a loop's seam)
  crouch       (given the source's pelvis heights scaled onto the robot, as
               `convert` passes for human motion) the root never stays below
               `crouch_fraction` (85 %) of that height for `crouch_seconds`
               (0.25 s) or longer: a robot that crouches where the person
               stood means the retargeting's scale or solve is wrong, which
               root_height's wide range does not see
A failed check names the frames that fail it as inclusive ranges
(`failing_frames`, and `failing_seconds` at the clip's fps), so a take can
be trimmed (convert --start/--end) or dropped.
"""

import dataclasses
import json
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from amp_ppo import atomic_file
from amp_ppo.mocap.formats import source_motion
from amp_ppo.robots import contacts
from amp_ppo.robots import robot_model
from amp_ppo.mocap.retarget import velocities

PASS, WARN, FAIL = 'pass', 'warn', 'fail'


@dataclasses.dataclass(frozen=True)
class CheckSettings:
  """Thresholds (metres, radians, seconds)."""
  stance_height: float = 0.02
  penetration: float = 0.01
  stance_speed: float = contacts.STANCE_SPEED
  contact_height: float = contacts.CONTACT_HEIGHT
  # Root height allowed, as fractions of the standing pose's root height.
  root_height_range: Tuple[float, float] = (0.15, 2.0)
  max_joint_speed: float = 30.0
  max_root_speed: float = 10.0
  # A step is a jump above both jump_ratio times the median step and
  # jump_min metres (for the body that moves most in it).
  jump_ratio: float = 6.0
  jump_min: float = 0.05
  joint_limit_tolerance: float = 1e-4
  # The root is crouched below crouch_fraction of the source's pelvis height
  # scaled onto the robot; a crouch lasting crouch_seconds fails. (A real
  # walk's retargeted root stays within a few per cent of that height; the
  # crouches this catches sink it by a third or more.)
  crouch_fraction: float = 0.85
  crouch_seconds: float = 0.25


def check_reference(robot: robot_model.RobotModel,
                    qpos: np.ndarray,
                    qvel: np.ndarray,
                    fps: float,
                    loop: Optional[source_motion.Loop] = None,
                    settings: CheckSettings = CheckSettings(),
                    source_root_height: Optional[np.ndarray] = None
                   ) -> Dict[str, Any]:
  """The report of one clip: qpos [T, nq], qvel [T, nv] at fps.

  source_root_height: [T] the source's pelvis height scaled onto the robot
    (metres), for the crouch check; None: no crouch check.
  """
  qpos = np.asarray(qpos, np.float64)
  qvel = np.asarray(qvel, np.float64)
  replay = robot_model.replay(robot, qpos)
  checks = {
      'fps': _fps(robot, fps),
      'joint_limits': _joint_limits(robot, qpos, settings),
      'feet': _feet(robot, replay, fps, settings),
      'root_height': _root_height(robot, qpos, settings),
      'velocities': _velocities(robot, qvel, settings),
      'jumps': _jumps(robot, qpos, replay, loop, settings),
  }
  if source_root_height is not None:
    checks['crouch'] = _crouch(qpos, source_root_height, fps, settings)
  for check in checks.values():
    failing = check.pop('failing_mask', None)
    if check['status'] == FAIL and failing is not None:
      check['failing_frames'] = frame_ranges(failing)
      check['failing_seconds'] = [[start / fps, end / fps]
                                  for start, end in check['failing_frames']]
  return {
      'robot': robot.name,
      'frames': int(len(qpos)),
      'fps': float(fps),
      'duration_s': float((len(qpos) - 1) / fps),
      'loops': loop is not None,
      'passed': all(check['status'] != FAIL for check in checks.values()),
      'checks': checks,
  }


def combined(reports: List[Dict[str, Any]]) -> Dict[str, Any]:
  """One report for the clips of a reference file."""
  return {'passed': all(report['passed'] for report in reports),
          'clips': reports}


def format_report(report: Dict[str, Any]) -> str:
  """A few lines a person reads: one per check, then the verdict."""
  if 'clips' in report:
    parts = [f'clip {index}: ' + format_report(clip)
             for index, clip in enumerate(report['clips'])]
    verdict = 'PASSED' if report['passed'] else 'FAILED'
    return '\n'.join(parts + [f'reference {verdict}'])
  lines = [f'{report["robot"]}: {report["frames"]} frames at '
           f'{report["fps"]:g} fps ({report["duration_s"]:.2f} s)'
           + (', looping' if report['loops'] else '')]
  for name, check in report['checks'].items():
    lines.append(f'  {check["status"].upper():4}  {name:12} {check["summary"]}')
    if check.get('failing_frames'):
      lines.append(f'{"":20}failing {_ranges_text(check)}')
  lines.append('  ' + ('PASSED' if report['passed'] else 'FAILED'))
  return '\n'.join(lines)


def save_report(path: str, report: Dict[str, Any]) -> None:
  text = json.dumps(report, indent=2, sort_keys=False) + '\n'
  atomic_file.atomic_write(path, lambda file: file.write(text.encode()))


def frame_ranges(mask: np.ndarray) -> List[List[int]]:
  """Inclusive [first, last] frame ranges where mask [T] is true."""
  mask = np.asarray(mask, bool)
  edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
  starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
  return [[int(start), int(end)] for start, end in zip(starts, ends)]


_RANGES_SHOWN = 4


def _ranges_text(check: Dict[str, Any]) -> str:
  """'frames 12-40 (0.10-0.33 s), ...', the first few ranges."""
  parts = [f'{start}-{end} ({first:.2f}-{last:.2f} s)'
           for (start, end), (first, last) in zip(
               check['failing_frames'][:_RANGES_SHOWN],
               check['failing_seconds'])]
  more = len(check['failing_frames']) - _RANGES_SHOWN
  return 'frames ' + ', '.join(parts) + (f' and {more} more' if more > 0
                                         else '')


def _status(ok: bool) -> str:
  return PASS if ok else FAIL


def _fps(robot: robot_model.RobotModel, fps: float) -> Dict[str, Any]:
  if robot.control_dt is None:
    return {'status': PASS, 'fps': fps, 'control_rate': None,
            'summary': f'{fps:g} fps (no control rate known for the robot)'}
  control_rate = 1.0 / robot.control_dt
  ok = fps >= control_rate * (1 - 1e-6)
  return {'status': PASS if ok else WARN, 'fps': fps,
          'control_rate': control_rate,
          'summary': (f'{fps:g} fps, environment control rate '
                      f'{control_rate:g} Hz'
                      + ('' if ok else ': frames will be interpolated'))}


def _joint_limits(robot, qpos, settings) -> Dict[str, Any]:
  worst, worst_joint, outside = 0.0, None, 0
  failing = np.zeros(len(qpos), bool)
  for name, (address, lower, upper) in robot.limited_joints().items():
    excess = np.maximum(lower - qpos[:, address], qpos[:, address] - upper)
    failing |= excess > settings.joint_limit_tolerance
    outside += int(np.sum(excess > settings.joint_limit_tolerance))
    if excess.max() > worst:
      worst, worst_joint = float(excess.max()), name
  ok = worst <= settings.joint_limit_tolerance
  return {'status': _status(ok), 'worst_violation_rad': worst,
          'worst_joint': worst_joint, 'frames_outside': outside,
          'failing_mask': failing,
          'summary': ('every limited joint inside its range' if ok else
                      f'{worst_joint} {worst:.4f} rad outside its range '
                      f'({outside} joint-frames outside)')}


def _feet(robot, replay, fps, settings) -> Dict[str, Any]:
  soles = replay.sole_heights
  in_stance = contacts.stance(replay.foot_positions, soles, fps,
                              settings.stance_speed, settings.contact_height)
  per_foot = {}
  for index, foot in enumerate(robot.feet):
    stance_soles = soles[in_stance[:, index], index]
    per_foot[foot] = {
        'stance_fraction': float(in_stance[:, index].mean()),
        'stance_height_max_m': (float(stance_soles.max())
                                if stance_soles.size else None),
        'lowest_m': float(soles[:, index].min()),
    }
  stance_max = (float(soles[in_stance].max()) if in_stance.any() else None)
  penetration = float(max(0.0, -soles.min()))
  if stance_max is None:  # nothing stands anywhere: the whole clip fails
    failing = np.ones(len(soles), bool)
  else:
    failing = ((in_stance & (soles > settings.stance_height)).any(axis=1)
               | (soles < -settings.penetration).any(axis=1))
  ok = (stance_max is not None and stance_max <= settings.stance_height
        and penetration <= settings.penetration)
  if stance_max is None:
    summary = ('no foot is ever in stance (slower than '
               f'{settings.stance_speed} m/s below '
               f'{settings.contact_height} m): nothing stands on the ground')
  else:
    summary = (f'stance soles at most {100 * stance_max:.2f} cm above the '
               f'ground (limit {100 * settings.stance_height:g}), deepest '
               f'{100 * penetration:.2f} cm below it (limit '
               f'{100 * settings.penetration:g}), stance '
               f'{100 * in_stance.mean():.0f} % of foot-frames')
  return {'status': _status(ok), 'stance_height_max_m': stance_max,
          'penetration_max_m': penetration,
          'stance_fraction': float(in_stance.mean()), 'per_foot': per_foot,
          'failing_mask': failing,
          'limits': {'stance_height_m': settings.stance_height,
                     'penetration_m': settings.penetration,
                     'stance_speed_m_s': settings.stance_speed,
                     'contact_height_m': settings.contact_height},
          'summary': summary}


def _root_height(robot, qpos, settings) -> Dict[str, Any]:
  standing = float(robot.standing_qpos()[2])
  low, high = (fraction * standing for fraction in settings.root_height_range)
  lowest, highest = float(qpos[:, 2].min()), float(qpos[:, 2].max())
  ok = low <= lowest and highest <= high
  return {'status': _status(ok), 'min_m': lowest, 'max_m': highest,
          'allowed_m': [low, high], 'standing_m': standing,
          'failing_mask': (qpos[:, 2] < low) | (qpos[:, 2] > high),
          'summary': (f'{lowest:.3f} to {highest:.3f} m (allowed {low:.3f} to '
                      f'{high:.3f}, standing {standing:.3f})')}


def _velocities(robot, qvel, settings) -> Dict[str, Any]:
  names = robot.joint_names()
  addresses = [robot.model.jnt_dofadr[j] for j in range(1, robot.model.njnt)
               if int(robot.model.jnt_type[j]) in robot_model.HINGE_OR_SLIDE]
  joint_speeds = (np.abs(qvel[:, addresses]) if addresses else
                  np.zeros((len(qvel), 1)))
  frame, column = np.unravel_index(np.argmax(joint_speeds),
                                   joint_speeds.shape)
  joint_speed = float(joint_speeds[frame, column])
  root_speeds = np.linalg.norm(qvel[:, :3], axis=1)
  root_frame = int(np.argmax(root_speeds))
  ok = (joint_speed <= settings.max_joint_speed
        and root_speeds[root_frame] <= settings.max_root_speed)
  joint = names[column] if addresses else None
  failing = ((joint_speeds.max(axis=1) > settings.max_joint_speed)
             | (root_speeds > settings.max_root_speed))
  return {'status': _status(ok), 'max_joint_speed_rad_s': joint_speed,
          'failing_mask': failing,
          'fastest_joint': joint, 'fastest_joint_frame': int(frame),
          'max_root_speed_m_s': float(root_speeds[root_frame]),
          'fastest_root_frame': root_frame,
          'summary': (f'joints at most {joint_speed:.2f} rad/s ({joint}, '
                      f'limit {settings.max_joint_speed:g}), root at most '
                      f'{root_speeds[root_frame]:.2f} m/s (limit '
                      f'{settings.max_root_speed:g})')}


def _jumps(robot, qpos, replay, loop, settings) -> Dict[str, Any]:
  bodies = replay.body_positions[:, 1:]
  if len(bodies) < 2:
    return {'status': PASS, 'summary': 'a single frame has no steps'}
  steps = np.linalg.norm(np.diff(bodies, axis=0), axis=-1).max(axis=1)
  median = float(np.median(steps))
  bound = max(settings.jump_ratio * median, settings.jump_min)
  worst = int(np.argmax(steps))
  # A step from frame i to i + 1 that jumps fails both frames.
  failing = np.zeros(len(bodies), bool)
  failing[:-1] |= steps > bound
  failing[1:] |= steps > bound
  result = {'median_step_m': median, 'worst_step_m': float(steps[worst]),
            'worst_step_frame': worst, 'bound_m': bound,
            'failing_mask': failing}
  ok = steps[worst] <= bound
  summary = (f'largest step {100 * steps[worst]:.2f} cm at frame {worst} '
             f'(median {100 * median:.2f} cm, bound {100 * bound:.2f})')
  if loop is not None and len(qpos) >= 3:
    following = velocities.next_cycle_frame(qpos, 1, loop)
    seam_bodies = robot_model.replay(robot, following[None]).body_positions
    seam = float(np.linalg.norm(seam_bodies[0, 1:] - bodies[-1],
                                axis=-1).max())
    result['seam_step_m'] = seam
    if seam > bound:  # the last frame and the next cycle's first
      failing[[-1, 0]] = True
    ok = ok and seam <= bound
    summary += f', loop seam {100 * seam:.2f} cm'
  result.update(status=_status(ok), summary=summary)
  return result


def _crouch(qpos, source_root_height, fps, settings) -> Dict[str, Any]:
  """Root height against the source's pelvis height scaled onto the robot."""
  expected = np.asarray(source_root_height, np.float64)
  if expected.shape != (len(qpos),) or not np.isfinite(expected).all():
    raise ValueError(f'check_reference: source_root_height must be finite, '
                     f'one height per frame ({len(qpos)}), got shape '
                     f'{expected.shape}.')
  # Where the source's pelvis is on the ground, no root can be lower.
  measurable = expected > 1e-3
  fraction = np.ones(len(qpos))
  fraction[measurable] = qpos[measurable, 2] / expected[measurable]
  crouched = fraction < settings.crouch_fraction
  ranges = frame_ranges(crouched)
  lengths = [(end - start + 1) / fps for start, end in ranges]
  sustained = np.zeros(len(qpos), bool)
  for (start, end), seconds in zip(ranges, lengths):
    if seconds >= settings.crouch_seconds:
      sustained[start:end + 1] = True
  lowest = int(np.argmin(fraction))
  longest = max(lengths, default=0.0)
  ok = not sustained.any()
  return {'status': _status(ok), 'min_fraction': float(fraction[lowest]),
          'min_fraction_frame': lowest, 'longest_crouch_s': longest,
          'limits': {'fraction': settings.crouch_fraction,
                     'seconds': settings.crouch_seconds},
          'failing_mask': sustained,
          'summary': (f'root at least {100 * fraction[lowest]:.0f} % of the '
                      f'source pelvis height scaled onto the robot (frame '
                      f'{lowest}); longest stretch below '
                      f'{100 * settings.crouch_fraction:g} %: {longest:.2f} s '
                      f'(limit {settings.crouch_seconds:g})')}
