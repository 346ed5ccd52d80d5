"""Outside motion -> amp_ppo reference npz for an environment, checked.

`convert` reads the file (by suffix: .txt/.json motion_imitation, or
DeepMimic where its keys say so, .csv, .bvh), retargets it onto the
environment's robot (same-topology joint mapping for robot motion from
another robot, the joints as they are for a CSV recorded on this robot,
keypoint IK for BVH and DeepMimic), puts it on the ground,
computes qvel by finite differences, saves it with `save_reference` (with
how the take loops, if it does) and runs the checks (`checks`), whose report
it saves beside it. `check_file` runs the same checks on a saved reference,
the seam of every looping clip included.
The saved file is what `amp_ppo.train(..., amp_reference=path)` takes for
that environment: qpos and qvel in the environment model's joint order at
the source's frame rate (amp_ppo resamples to the control rate).
"""

import dataclasses
import os
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from amp_ppo import motion as motion_lib
from amp_ppo.mocap import formats
from amp_ppo.mocap.formats import source_motion
from amp_ppo.mocap.retarget import ground
from amp_ppo.mocap.retarget import human_to_humanoid
from amp_ppo.mocap.retarget import joint_mapping
from amp_ppo.robots import presets
from amp_ppo.robots import robot_model
from amp_ppo.mocap.retarget import velocities
from amp_ppo.mocap import checks

FORMATS = ('motion_imitation', 'csv', 'bvh', 'deepmimic')
# Human skeletons, fit by keypoint IK.
_KEYPOINT_FORMATS = ('bvh', 'deepmimic')
_SUFFIX_FORMATS = {'.txt': 'motion_imitation', '.json': 'motion_imitation',
                   '.csv': 'csv', '.bvh': 'bvh'}


@dataclasses.dataclass(frozen=True)
class ConvertOptions:
  """How to read and retarget (everything has a default for known robots).

  Attributes:
    source_format: one of FORMATS; None: from the file's suffix.
    source_robot: the robot a motion_imitation file was recorded on
      (presets.QUADRUPED_SOURCES; default 'laikago').
    csv_layout: the CSV's columns (formats.CsvLayout; default LAFAN1's).
    skeleton: BVH role -> joint name overrides (human_to_humanoid roles).
    keypoints: role -> (body or site, 'body' | 'site') of the robot;
      None: the robot's preset.
    feet: the robot's foot sites; None: its preset.
    bvh_up_axis, bvh_forward_axis, bvh_length_unit: see formats.bvh
      ('infer' and None infer the up axis and unit).
    start, end: seconds of the source to keep (None: its start, its end);
      the source is cut before retargeting, and a cut take no longer loops.
    check_settings: thresholds of the checks. Retargeting human motion holds
      every joint to max_joint_speed (or the robot preset's own, lower,
      limit, which the check then uses too) and the root to max_root_speed.
  """
  source_format: Optional[str] = None
  source_robot: Optional[str] = None
  csv_layout: formats.CsvLayout = formats.CsvLayout()
  skeleton: Optional[Mapping[str, str]] = None
  keypoints: Optional[Mapping[str, Tuple[str, str]]] = None
  feet: Optional[Sequence[str]] = None
  bvh_up_axis: str = 'infer'
  bvh_forward_axis: Optional[str] = None
  bvh_length_unit: Optional[float] = None
  start: Optional[float] = None
  end: Optional[float] = None
  check_settings: checks.CheckSettings = checks.CheckSettings()


@dataclasses.dataclass(frozen=True, eq=False)
class Conversion:
  """A converted reference: its frames, what retargeting did, the report."""
  qpos: np.ndarray  # [T, nq]
  qvel: np.ndarray  # [T, nv]
  fps: float
  loop: Optional[source_motion.Loop]
  robot: robot_model.RobotModel
  notes: Dict[str, Any]  # scale, ground fit, clipped joints, ...
  report: Dict[str, Any]
  out: Optional[str] = None
  report_path: Optional[str] = None


def convert(source: str,
            env: str,
            out: Optional[str] = None,
            options: ConvertOptions = ConvertOptions(),
            report_path: Optional[str] = None) -> Conversion:
  """Converts, checks and (given `out`) saves one motion file.

  Args:
    source: the motion file.
    env: a MuJoCo Playground environment name or an MJCF path.
    out: the reference .npz to write; None: nothing is written.
    options: reading and retargeting choices.
    report_path: where the check report goes; default `out` with
      '.check.json' in place of '.npz' (none without `out`).

  Raises:
    ValueError: a malformed file or option, naming the fix.
  """
  _check_cut(options.start, options.end)
  robot = robot_model.load_robot(env, options.feet)
  source_format = _source_format(source, options.source_format)
  settings = _robot_settings(robot, options.check_settings)
  qpos, fps, loop, notes = _retarget(source, source_format, robot, options,
                                     settings)
  source_root_height = notes.pop('source_root_height', None)
  if options.start is not None or options.end is not None:
    notes['cut_s'] = [options.start, options.end]
  qpos, fit = ground.place_on_ground(
      robot, qpos, fps, settings.stance_speed,
      free_root_height=source_format in _KEYPOINT_FORMATS)
  notes['ground'] = dataclasses.asdict(fit)
  qvel = velocities.qvel_from_qpos(robot.model, qpos, fps, loop)
  report = checks.check_reference(robot, qpos, qvel, fps, loop, settings,
                                  source_root_height=source_root_height)
  report['source'] = os.fsdecode(source)
  report['retargeting'] = notes
  if out is not None:
    # Only a looping take stores clip_loops, so others stay readable by
    # versions before it.
    loops = {} if loop is None else {
        'clip_loops': np.array([motion_lib.loop_code(loop)])}
    motion_lib.save_reference(out, fps=fps, qpos=qpos, qvel=qvel, **loops)
    report_path = report_path or default_report_path(out)
  if report_path is not None:
    checks.save_report(report_path, report)
  return Conversion(qpos=qpos, qvel=qvel, fps=fps, loop=loop, robot=robot,
                    notes=notes, report=report, out=out,
                    report_path=report_path)


def check_file(reference: str, env: str,
               feet: Optional[Sequence[str]] = None,
               settings: checks.CheckSettings = checks.CheckSettings(),
               report_path: Optional[str] = None) -> Dict[str, Any]:
  """The checks of every clip of a reference npz on the env's robot.

  A clip the file marks as looping (clip_loops) is checked across its seam
  too, as `convert` checks it.

  Raises:
    ValueError: the file is malformed or holds features, not qpos/qvel, or
      its widths do not fit the robot.
  """
  robot = robot_model.load_robot(env, feet)
  motion = load_state_reference(reference, robot)
  report = checks.combined([
      checks.check_reference(robot, clip.qpos, clip.qvel, clip.fps,
                             loop=clip.loop, settings=settings)
      for clip in motion.clips])
  report['reference'] = os.fsdecode(reference)
  if report_path is not None:
    checks.save_report(report_path, report)
  return report


def load_state_reference(reference: str, robot: robot_model.RobotModel):
  """A reference npz's clips, refused unless they are qpos/qvel of robot."""
  motion = motion_lib.load_reference(reference)
  if motion.kind != 'state':
    raise ValueError(f'reference file {reference!r}: holds features, not '
                     'qpos/qvel — only state references replay on a robot.')
  motion_lib.validate_for_env(motion, nq=robot.model.nq, nv=robot.model.nv,
                              feature_size=None, history_length=1)
  return motion


def default_report_path(out: str) -> str:
  stem = out[:-4] if out.endswith('.npz') else out
  return stem + '.check.json'


def _source_format(source: str, source_format: Optional[str]) -> str:
  if source_format is not None:
    if source_format not in FORMATS:
      raise ValueError(f'unknown source format {source_format!r} — use one '
                       f'of {", ".join(FORMATS)}.')
    return source_format
  suffix = os.path.splitext(os.fsdecode(source))[1].lower()
  if suffix not in _SUFFIX_FORMATS:
    raise ValueError(
        f'motion file {os.fsdecode(source)!r}: cannot tell its format from '
        f'the suffix {suffix!r} — name it .txt/.json, .csv or .bvh, or pass '
        f'the format ({", ".join(FORMATS)}).')
  if (_SUFFIX_FORMATS[suffix] == 'motion_imitation'
      and formats.is_deepmimic(source)):
    return 'deepmimic'
  return _SUFFIX_FORMATS[suffix]


def _check_cut(start: Optional[float], end: Optional[float]) -> None:
  """Refuses a --start/--end that is no time span, before any loading."""
  for name, value in (('start', start), ('end', end)):
    if value is not None and not (np.isfinite(value) and value >= 0):
      raise ValueError(f'convert: {name} must be seconds >= 0, got {value!r} '
                       f'(CLI --{name}).')
  if start is not None and end is not None and end <= start:
    raise ValueError(f'convert: end ({end} s) must come after start ({start} '
                     's) (CLI --start/--end).')


def _cut_frames(source: str, num_frames: int, fps: float,
                start: Optional[float], end: Optional[float]) -> slice:
  """The frames from start to end seconds (both kept), at least two."""
  duration = (num_frames - 1) / fps
  first = 0 if start is None else int(np.ceil(start * fps - 1e-6))
  last = num_frames - 1 if end is None else int(np.floor(end * fps + 1e-6))
  if end is not None and end > duration + 0.5 / fps:
    raise ValueError(f'motion file {source!r}: --end {end:g} s is past the '
                     f'take\'s end at {duration:.3f} s — pass an end within '
                     'the take, or none.')
  if last - first < 1:
    raise ValueError(f'motion file {source!r}: --start {start} s leaves '
                     f'fewer than two frames of its {duration:.3f} s — pass '
                     'an earlier start.')
  return slice(first, last + 1)


def _cut(motion, options):
  """The motion between options.start and options.end; a cut one does not
  loop."""
  if options.start is None and options.end is None:
    return motion
  frames = _cut_frames(motion.source, motion.num_frames, motion.fps,
                       options.start, options.end)
  if isinstance(motion, source_motion.KeypointMotion):
    return dataclasses.replace(motion, positions=motion.positions[frames],
                               loop=None)
  return dataclasses.replace(
      motion, root_position=motion.root_position[frames],
      root_quaternion=motion.root_quaternion[frames],
      joint_angles=motion.joint_angles[frames], loop=None)


def _robot_settings(robot, settings: checks.CheckSettings
                   ) -> checks.CheckSettings:
  """The checks' settings, with the robot preset's joint speed limit where
  it is lower (never a looser check)."""
  target = presets.target_for(robot.name)
  own = target.max_joint_speed if target is not None else None
  if own is None or own >= settings.max_joint_speed:
    return settings
  return dataclasses.replace(settings, max_joint_speed=own)


def _retarget(source, source_format, robot, options, settings):
  """(qpos, fps, loop, notes) on the robot, before ground placement."""
  if source_format in _KEYPOINT_FORMATS:
    return _from_keypoints(source, source_format, robot, options, settings)
  if source_format == 'csv':
    motion = _cut(formats.read_csv_motion(source, options.csv_layout),
                  options)
    mapping = joint_mapping.JointMapping(
        joints=tuple(joint_mapping.identity_mapping(motion, robot)),
        base_rotation=np.array([1.0, 0.0, 0.0, 0.0]),
        source_leg_length=robot.mean_leg_length())
    notes = {'method': 'joints as recorded for this robot'}
  else:
    quadruped = joint_mapping.source_for(options.source_robot)
    motion = _cut(formats.read_motion_imitation(
        source, num_joints=quadruped.num_joints), options)
    target = presets.target_for(robot.name)
    if target is None or not target.leg_joints:
      raise ValueError(
          f'robot {robot.name!r}: {quadruped.name} motion retargets onto '
          'quadrupeds with preset leg joints (Go1 environments) — use a Go1 '
          'environment.')
    mapping = joint_mapping.quadruped_mapping(quadruped, target)
    notes = {'method': f'joint mapping from {quadruped.name}'}
  retargeted = joint_mapping.retarget(motion, robot, mapping)
  notes.update(scale=retargeted.scale, clipped_joints_rad=retargeted.clipped,
               source_fps=motion.fps)
  return retargeted.qpos, motion.fps, motion.loop, notes


def _read_keypoints(source, source_format, options):
  if source_format == 'deepmimic':
    return formats.read_deepmimic(source)
  from amp_ppo.mocap.formats import bvh  # pylint: disable=g-import-not-at-top
  return bvh.read_bvh(source, up_axis=options.bvh_up_axis,
                      forward_axis=options.bvh_forward_axis,
                      length_unit=options.bvh_length_unit)


def _from_keypoints(source, source_format, robot, options, settings):
  motion = _cut(_read_keypoints(source, source_format, options), options)
  keypoints = options.keypoints
  if keypoints is None:
    target = presets.target_for(robot.name)
    if target is None or not target.keypoints:
      raise ValueError(
          f'robot {robot.name!r}: no keypoints are known for it — map the '
          'human roles to its bodies (keypoints), or use a G1, H1, T1 or '
          'BerkeleyHumanoid environment.')
    keypoints = target.keypoints
  skeleton = human_to_humanoid.skeleton_map(motion, options.skeleton)
  result = human_to_humanoid.retarget(
      motion, robot, keypoints, skeleton,
      max_joint_speed=settings.max_joint_speed,
      max_root_speed=settings.max_root_speed)
  notes = {'method': 'keypoint inverse kinematics (mink)',
           'scales': result.scales, 'keypoints': result.roles,
           'source_fps': motion.fps,
           'source_frames': motion.num_frames,
           'ik': {'max_joint_speed_rad_s': settings.max_joint_speed,
                  'unconverged_frames': checks.frame_ranges(
                      _mask(result.unconverged_frames, motion.num_frames)),
                  'speed_limited_frames': checks.frame_ranges(
                      _mask(result.speed_limited_frames,
                            motion.num_frames))},
           'tracking_error_m': result.tracking_error_m,
           'source_root_height': result.source_root_height}
  return result.qpos, motion.fps, motion.loop, notes


def _mask(frames, num_frames: int) -> np.ndarray:
  mask = np.zeros(num_frames, bool)
  mask[list(frames)] = True
  return mask
