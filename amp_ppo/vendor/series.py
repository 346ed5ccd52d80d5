"""The patch series, where it lives, and the git commands that work on it.

A patch is a single-file unified diff (`--- a/train.py` / `+++ b/train.py`)
under a free-text description. git does all the patch work on scratch copies;
this module turns its failures into messages naming the patch and hunk.
"""

import dataclasses
import hashlib
import json
import os
import pathlib
import re
import subprocess
import tempfile
from typing import Optional, Sequence

from amp_ppo import atomic_file

DIFF_HEADER = '--- a/train.py\n+++ b/train.py\n'
MARKERS = ('<<<<<<< ', '||||||| ', '=======', '>>>>>>> ')  # diff3 style.
_FILE_HEADER = re.compile(r'^--- .*\n\+\+\+ .*\n', re.M)
_HUNK_HEADER = re.compile(r'^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@', re.M)


class VendorError(Exception):
  """A failure explained to the user.

  Its lines are paragraphs, wrapped when shown, except those indented by two
  spaces (source lines, commands), which are shown verbatim.
  """


def verbatim(lines: Sequence[str]) -> str:
  return ''.join('\n  ' + line for line in lines)


def split_lines(text: str) -> list[str]:
  """Splits on '\\n' only (not on form feeds), keeping the endings."""
  return re.findall(r'[^\n]*\n|[^\n]+\Z', text)


def read_text(path: pathlib.Path, what: str) -> str:
  try:  # Bytes, not text mode: newline translation would change the hash.
    return path.read_bytes().decode('utf-8')
  except FileNotFoundError:
    raise VendorError(f'{what} not found: {path}.') from None


def write_text(path: pathlib.Path, text: str) -> None:
  atomic_file.atomic_write_bytes(str(path), text.encode('utf-8'))


def sha256_of(text: str) -> str:
  return hashlib.sha256(text.encode('utf-8')).hexdigest()


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
  return f'line {end}' if end - start == 1 else f'lines {start + 1}-{end}'


def plural(count: int, word: str) -> str:
  return f'{count} {word}' + ('' if count == 1 else
                              'es' if word.endswith('ch') else 's')


def hunks(diff_text: str) -> list[list[str]]:
  """The lines of each hunk of a unified diff, its "@@" header first."""
  return [split_lines(chunk)
          for chunk in re.split(r'^(?=@@ )', diff_text, flags=re.M)
          if chunk.startswith('@@ ')]


def header_start(hunk: Sequence[str], new: bool = False) -> int:
  """The old (or new) start line that a hunk's "@@" header names."""
  return int(_HUNK_HEADER.match(hunk[0])[3 if new else 1])


def span(hunk: Sequence[str], new: bool = False) -> tuple[int, int]:
  """0-based [start, end) of a hunk's old (or new) lines."""
  length = int(_HUNK_HEADER.match(hunk[0])[4 if new else 2] or 1)
  start = header_start(hunk, new) - (1 if length else 0)  # 0: the line before.
  return start, start + length


@dataclasses.dataclass(frozen=True)
class Patch:
  """One patch file as on disk: a description, then a unified diff."""

  name: str
  text: str

  def __post_init__(self):
    if not (_FILE_HEADER.search(self.text) and _HUNK_HEADER.search(self.text)):
      raise VendorError(f'patches/{self.name} is not a unified diff: it needs '
                        '"--- a/train.py" and "+++ b/train.py", then hunks.')

  @property
  def header(self) -> str:
    return self.text[:_FILE_HEADER.search(self.text).start()]

  def hunks(self) -> list[list[str]]:
    return hunks(self.text[_FILE_HEADER.search(self.text).end():])

  def changes(self) -> tuple[int, int]:
    """Lines added and lines removed."""
    ops = [line[0] for hunk in self.hunks() for line in hunk[1:]]
    return ops.count('+'), ops.count('-')


def stage_label(label: str, names: Sequence[str],
                reverse: bool = False) -> str:
  """Names `label` with the patches `names` applied (or reverted)."""
  if not names:
    return label
  names = names[0] if len(names) == 1 else f'{names[0]} .. {names[-1]}'
  return f'{label} with {names} reverted' if reverse else f'{label} + {names}'


def git(args: Sequence[str], files: dict[str, str],
        fail_from: Optional[int] = 1
        ) -> tuple[subprocess.CompletedProcess, Optional[str]]:
  """Runs git on scratch copies of `files` (name: text).

  Returns its result and train.py afterwards; an exit status of `fail_from`
  or more raises. The C locale keeps git's messages parseable; leaving out
  the user's config (diff.context, color.ui, ...) and any repository above
  makes the patches the same for everyone.
  """
  with tempfile.TemporaryDirectory(prefix='amp_ppo_vendor_') as directory:
    for name, text in files.items():
      path = pathlib.Path(directory, name)
      path.parent.mkdir(exist_ok=True)
      path.write_bytes(text.encode('utf-8'))
    env = dict(os.environ, LC_ALL='C', GIT_CONFIG_NOSYSTEM='1',
               GIT_CONFIG_GLOBAL=os.devnull,
               GIT_CEILING_DIRECTORIES=os.path.dirname(directory))
    result = subprocess.run(['git', *args], cwd=directory, env=env,
                            capture_output=True, check=False)
    after = pathlib.Path(directory, 'train.py')
    after = after.read_bytes().decode('utf-8') if after.exists() else None
  # Decoded by hand: text mode would translate newlines.
  result.stdout = result.stdout.decode('utf-8')
  result.stderr = result.stderr.decode('utf-8', 'replace')
  if fail_from is not None and result.returncode >= fail_from:
    raise VendorError(f'git {args[0]} failed (exit status {result.returncode})'
                      ':' + verbatim(result.stderr.strip().splitlines()))
  return result, after


def diff(old: str, new: str, context: int = 3) -> str:
  """The unified diff from `old` to `new` (a/train.py, b/train.py), or ''."""
  output = git(['diff', '--no-index', '--no-color', '--no-ext-diff',
                '--diff-algorithm=myers', f'-U{context}', 'a/train.py',
                'b/train.py'], {'a/train.py': old, 'b/train.py': new},
               fail_from=2)[0].stdout
  match = _FILE_HEADER.search(output)
  # Without git's function-name suffix, a hunk header stays put when upstream
  # edits the nearest "def" line.
  return DIFF_HEADER + re.sub(r'^(@@ [^@\n]* @@).*$', r'\1',
                              output[match.end():], flags=re.M) if match else ''


def make_patch(name: str, header: str, old: str, new: str) -> Optional[Patch]:
  """The patch turning `old` into `new` under `header`; None if equal."""
  text = diff(old, new)
  return Patch(name, header + text) if text else None


def apply(text: str, patch: Patch, label: str, reverse: bool = False) -> str:
  """`text` (called `label` in errors) with `patch` applied by git apply."""
  result, after = git(
      ['apply', '--whitespace=nowarn', *(['-R'] if reverse else []), 'p'],
      {'train.py': text, 'p': patch.text}, fail_from=None)
  if result.returncode == 0:
    return after
  # git names the failed hunk by the start line in its header (the new side
  # when reversing).
  failed = re.search(r'patch failed: train\.py:(\d+)', result.stderr)
  number, hunk = next(
      ((n, hunk) for n, hunk in enumerate(patch.hunks(), 1)
       if failed and int(failed[1]) == header_start(hunk, reverse)),
      (None, None))
  if hunk is None:
    raise VendorError(f'patches/{patch.name} does not apply to {label}; git '
                      'apply says:' + verbatim(result.stderr.splitlines()))
  # Show the first line that breaks the closest near-match.
  want = [line[1:] for line in hunk[1:]
          if line[0] in (' ', '+' if reverse else '-')]
  lines, (start, end) = split_lines(text), span(hunk, reverse)
  closest = max(range(max(len(lines) - len(want), 0) + 1), key=lambda at: (
      sum(lines[at + k:at + k + 1] == [w] for k, w in enumerate(want)),
      -abs(at - start)))
  bad = next((k for k, w in enumerate(want)
              if lines[closest + k:closest + k + 1] != [w]), 0)
  raise VendorError(
      f'patches/{patch.name} does not {"revert" if reverse else "apply"}: '
      f'hunk #{number} expects its {len(want)} context and '
      f'{"added" if reverse else "removed"} lines at {line_range(start, end)}'
      f' of {label}, and git apply matches them exactly nowhere it may apply '
      '(offsets are searched, fuzz is not allowed).' + verbatim([
          f'closest match at {line_range(closest, closest + len(want))}; '
          f'first mismatch at line {closest + bad + 1}:',
          f'  expected: {show_line(want[bad] if want else None)}',
          f'  found:    {show_line((lines[closest + bad:] or [None])[0])}']))


def rebuild(text: str, series: Sequence[Patch], label: str,
            reverse: bool = False) -> str:
  """`text` with the series applied in order, or reverted top patch first."""
  done = []
  for patch in reversed(series) if reverse else series:
    text = apply(text, patch, stage_label(label, done, reverse), reverse)
    done.append(patch.name)
  return text


def merge(ours: str, base: str, theirs: str,
          labels: Sequence[str]) -> tuple[str, int]:
  """git merge-file --diff3 (`labels`: ours, base, theirs).

  Returns the merged text and its number of conflicts: git's exit status, up
  to 127 (above that, an error).
  """
  result = git(['merge-file', '-p', '--diff3',
                *(arg for label in labels for arg in ('-L', label)),
                'ours', 'base', 'theirs'],
               {'ours': ours, 'base': base, 'theirs': theirs}, fail_from=128)[0]
  return result.stdout, result.returncode


def conflict_places(merged: str, base: str, theirs: str) -> list[list[tuple]]:
  """0-based [(start, end) in base, (start, end) in theirs] of each conflict.

  Resolving every conflict to one side leaves a text that differs from that
  side only by clean merges; git diff's hunk headers then give the shifts.
  """
  resolved, places, section = ([], []), [], 0  # 0: outside, then 1, 2, 3.
  for line in split_lines(merged):
    if line.startswith(MARKERS[section]):
      if section in (0, 3):
        places.append([len(side) for side in resolved])
      section = (section + 1) % 4
    else:
      for side, skip in zip(resolved, (3, 2)):  # Base, theirs.
        if section not in (1, skip):
          side.append(line)
  shifts = [[(span(hunk), span(hunk, True))
             for hunk in hunks(diff(original, ''.join(side), 0))]
            for original, side in zip((base, theirs), resolved)]

  def unshift(at, side):
    return at - sum((new_end - new_start) - (old_end - old_start)
                    for (old_start, old_end), (new_start, new_end)
                    in shifts[side] if new_end <= at)
  return [[(unshift(start, side), unshift(end, side))
           for side, (start, end) in enumerate(zip(starts, ends))]
          for starts, ends in zip(places[::2], places[1::2])]


@dataclasses.dataclass(frozen=True)
class Pin:
  """UPSTREAM.json: which upstream file the vendored trainer starts from."""

  package: str
  version: str
  file: str
  sha256: str
  fields: dict  # All of the JSON, so that rewriting it keeps other keys.

  def name(self, version: Optional[str] = None) -> str:
    """e.g. "brax 0.14.2 brax/training/agents/ppo/train.py"."""
    return f'{self.package} {version or self.version} {self.file}'

  def label(self, version: Optional[str] = None) -> str:
    return f'upstream {self.name(version)}'


class Repo:
  """Where the vendored trainer, its pin and its patch series live."""

  def __init__(self, root: pathlib.Path):
    self.root = root
    self.vendored_dir = root / 'third_party' / 'brax_ppo_vendored'
    self.vendored = self.vendored_dir / 'train.py'
    self.pin_file = self.vendored_dir / 'UPSTREAM.json'
    self.patches_dir = root / 'patches'

  def conflict_file(self, patch_name: str) -> pathlib.Path:
    return self.vendored_dir / f'train.py.{patch_name[:-6]}.conflict'

  def show(self, path: pathlib.Path,
           base: Optional[pathlib.Path] = None) -> str:
    """`path` as people type it: relative to `base` (the root) if inside."""
    try:
      return str(path.resolve().relative_to((base or self.root).resolve()))
    except ValueError:
      return str(path)

  def series(self) -> list[Patch]:
    """patches/*.patch in lexical order of file name."""
    return [Patch(path.name, read_text(path, 'patch')) for path in
            sorted(self.patches_dir.glob('*.patch'), key=lambda p: p.name)]

  def read_vendored(self) -> str:
    return read_text(self.vendored, 'vendored trainer')

  def read_pin(self) -> Pin:
    try:
      fields = json.loads(read_text(self.pin_file, 'UPSTREAM.json'))
      return Pin(fields['package'], fields['version'], fields['file'],
                 fields['sha256'], fields)
    except (ValueError, KeyError, TypeError) as error:
      raise VendorError(
          f'{self.show(self.pin_file)} must be a JSON object with "package", '
          f'"version", "file" and "sha256": {error!r}.') from None
