"""Tests for amp_ppo.vendor, the vendored Brax trainer's patch workflow.

Everything that writes works on a scratch --root holding copies of the pin
and the patch series; the real repository is only read. Nothing imports JAX.
"""

import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from amp_ppo import vendor

REPO = pathlib.Path(__file__).resolve().parents[1]
VENDORED_DIR = pathlib.Path('third_party', 'brax_ppo_vendored')
JAX_PATCH = '0001-jax-0.10-device-put-replicated.patch'
# A line of the pinned upstream that patch 0001's hunk #2 keeps as context.
# A context line of patch 0001's second hunk (the line after the rewritten
# device_put_replicated call).
HUNK_2_CONTEXT = '  eval_env = _maybe_wrap_env(\n'
# An upstream line that patch 0001's second hunk rewrites.
HUNK_2_REWRITTEN = (
    '      training_state, jax.local_devices()[:local_devices_to_use]\n')


def run_vendor(*args: str, root: pathlib.Path | None = None,
               cwd: pathlib.Path = REPO) -> subprocess.CompletedProcess:
  command = [sys.executable, '-m', 'amp_ppo.vendor']
  if root is not None:
    command += ['--root', str(root)]
  return subprocess.run(command + list(args), capture_output=True, text=True,
                        cwd=cwd, check=False, timeout=300)


def real_pin() -> vendor.Pin:
  return vendor.read_pin(vendor.Repo(REPO))


def installed_upstream_path() -> pathlib.Path:
  return vendor.installed_file(real_pin())[1]


def upstream_lines() -> list[str]:
  return vendor.read_lines(installed_upstream_path(), 'upstream')


def snapshot(root: pathlib.Path) -> dict[str, bytes]:
  return {str(path.relative_to(root)): path.read_bytes()
          for path in sorted(root.rglob('*')) if path.is_file()}


@pytest.fixture(name='scratch')
def fixture_scratch(tmp_path: pathlib.Path) -> vendor.Repo:
  """A --root with the real pin and patches, and train.py made by `sync`.

  Rebuilding train.py (instead of copying it) keeps these tests independent
  of edits to the real vendored file that are not in a patch yet.
  """
  root = tmp_path / 'repo'
  (root / VENDORED_DIR).mkdir(parents=True)
  shutil.copy(REPO / VENDORED_DIR / 'UPSTREAM.json', root / VENDORED_DIR)
  shutil.copytree(REPO / 'patches', root / 'patches')
  result = run_vendor('sync', root=root)
  assert result.returncode == 0, result.stderr
  return vendor.Repo(root)


def edit_file(path: pathlib.Path, old: str, new: str) -> None:
  text = path.read_text()
  assert text.count(old) == 1, old
  path.write_text(text.replace(old, new))


def write_synthetic_upstream(path: pathlib.Path, edit) -> pathlib.Path:
  lines = upstream_lines()
  edit(lines)
  path.write_text(''.join(lines))
  return path


# ------------------------------------------------------------- check ---


def test_check_passes_on_the_real_repository():
  result = run_vendor('check')
  assert result.returncode == 0, result.stderr
  assert result.stdout.startswith('OK: ')
  assert real_pin().version in result.stdout


def test_check_passes_on_a_synced_scratch_copy(scratch):
  result = run_vendor('check', root=scratch.root)
  assert result.returncode == 0, result.stderr
  assert result.stdout.startswith('OK: ')


def test_check_detects_a_one_byte_edit(scratch):
  data = bytearray(scratch.vendored.read_bytes())
  offset = data.index(b'def train(') + 4
  data[offset] = ord('T')  # def train( -> def Train(
  scratch.vendored.write_bytes(bytes(data))
  line_number = data[:offset].count(b'\n') + 1

  result = run_vendor('check', root=scratch.root)

  assert result.returncode == 1
  assert f'first differ at line {line_number}' in result.stderr
  assert "rebuilt:  'def train('" in result.stderr
  assert "vendored: 'def Train('" in result.stderr
  assert 'refresh' in result.stderr and 'sync' in result.stderr
  assert 'Traceback' not in result.stderr


def test_check_names_the_patch_and_hunk_that_do_not_apply(scratch):
  edit_file(scratch.patches_dir / JAX_PATCH, ' ' + HUNK_2_CONTEXT,
            ' ' + HUNK_2_CONTEXT.replace('eval_env', 'n'))

  result = run_vendor('check', root=scratch.root)

  assert result.returncode == 1
  message = ' '.join(result.stderr.split())
  assert f'patches/{JAX_PATCH} does not apply: hunk #2' in message
  assert re.search(r'at lines \d+-\d+ of upstream brax', message)
  assert "expected: '  n = _maybe_wrap_env('" in result.stderr
  assert f"found:    {HUNK_2_CONTEXT.rstrip()!r}" in result.stderr


def test_check_detects_a_brax_version_other_than_the_pin(scratch):
  edit_file(scratch.pin_file, real_pin().version, '0.14.1')

  result = run_vendor('check', root=scratch.root)

  assert result.returncode == 1
  message = ' '.join(result.stderr.split())
  assert f'installed brax is {real_pin().version}' in message
  assert 'pip install brax==0.14.1' in message
  assert f'upgrade --brax-version {real_pin().version}' in message


def test_check_detects_an_upstream_file_with_another_sha256(scratch):
  edit_file(scratch.pin_file, real_pin().sha256, '0' * 64)

  result = run_vendor('check', root=scratch.root)

  assert result.returncode == 1
  assert 'sha256' in result.stderr
  assert 'pip install --force-reinstall' in ' '.join(result.stderr.split())


# ----------------------------------------------------------- refresh ---


def test_refresh_records_an_edit_in_the_top_patch(scratch):
  *lower, top = sorted(scratch.patches_dir.glob('*.patch'))
  lower_before = [path.read_bytes() for path in lower]
  header = vendor.parse_patch(top.name, top.read_text()).header
  edit_file(scratch.vendored, '\ndef train(\n',
            '\n# Edited by a test.\ndef train(\n')
  assert run_vendor('check', root=scratch.root).returncode == 1

  result = run_vendor('refresh', root=scratch.root)

  assert result.returncode == 0, result.stderr
  patch_text = top.read_text()
  assert patch_text.startswith(header + '--- a/train.py\n+++ b/train.py\n')
  assert '+# Edited by a test.\n' in patch_text
  assert [path.read_bytes() for path in lower] == lower_before
  assert run_vendor('check', root=scratch.root).returncode == 0


def test_refresh_new_creates_a_patch_on_top(scratch):
  jax_patch = (scratch.patches_dir / JAX_PATCH).read_bytes()
  edit_file(scratch.vendored, '\ndef train(\n',
            '\n# AMP goes here.\ndef train(\n')

  result = run_vendor('refresh', '--new', '9999-test-hook.patch',
                      '--message', 'Marks where AMP goes.', root=scratch.root)

  assert result.returncode == 0, result.stderr
  assert (scratch.patches_dir / JAX_PATCH).read_bytes() == jax_patch
  new_patch = (scratch.patches_dir / '9999-test-hook.patch').read_text()
  assert new_patch.startswith('Marks where AMP goes.\n\n--- a/train.py\n')
  assert run_vendor('check', root=scratch.root).returncode == 0


def test_refresh_refuses_when_a_lower_patch_does_not_apply(scratch):
  edit_file(scratch.vendored, '\ndef train(\n',
            '\n# AMP goes here.\ndef train(\n')
  assert run_vendor('refresh', '--new', '9999-test-hook.patch', '-m', 'Hook.',
                    root=scratch.root).returncode == 0
  edit_file(scratch.patches_dir / JAX_PATCH, ' ' + HUNK_2_CONTEXT,
            ' ' + HUNK_2_CONTEXT.replace('eval_env', 'n'))
  before = snapshot(scratch.root)

  result = run_vendor('refresh', root=scratch.root)

  assert result.returncode == 1
  message = ' '.join(result.stderr.split())
  assert 'Refusing to refresh' in message
  assert f'{JAX_PATCH} does not apply: hunk #2' in message
  assert snapshot(scratch.root) == before


def test_refresh_rebuilds_upstream_when_brax_is_not_the_pinned_release(
    scratch, tmp_path):
  # Pin the scratch copy to a release other than the installed one.
  new_upstream = write_synthetic_upstream(
      tmp_path / 'train.py', lambda lines: lines.insert(100, '# Newer.\n'))
  assert run_vendor('upgrade', '--upstream', str(new_upstream), '--version',
                    '99.0', root=scratch.root).returncode == 0
  # Reverse-applying the series to an edited file keeps the edit, so the
  # pristine file comes from the vendored copy committed at git HEAD.
  git = ['git', '-C', str(scratch.root), '-c', 'user.name=t',
         '-c', 'user.email=t@example.com']
  for command in (['init', '-q'], ['add', '-A'], ['commit', '-qm', 'pin']):
    subprocess.run(git + command, check=True, capture_output=True)
  edit_file(scratch.vendored, '\ndef train(\n',
            '\n# Edited by a test.\ndef train(\n')

  result = run_vendor('refresh', root=scratch.root)

  assert result.returncode == 0, result.stderr
  checked = run_vendor('check', '--upstream', str(new_upstream),
                       root=scratch.root)
  assert checked.returncode == 0, checked.stderr


def test_refresh_new_rejects_a_name_that_sorts_below_the_top(scratch):
  result = run_vendor('refresh', '--new', '0000-early.patch', '-m', 'x',
                      root=scratch.root)
  assert result.returncode == 1
  assert 'lexical order' in ' '.join(result.stderr.split())


# ----------------------------------------------------------- upgrade ---


def test_upgrade_merges_upstream_changes_far_from_the_hunks(scratch, tmp_path):
  def edit(lines):
    lines[300] = lines[300].rstrip('\n') + '  # Changed upstream.\n'
    lines[100:100] = ['# New upstream line %d.\n' % i for i in range(5)]
  new_upstream = write_synthetic_upstream(tmp_path / 'train.py', edit)
  header = vendor.parse_patch(
      JAX_PATCH, (scratch.patches_dir / JAX_PATCH).read_text()).header

  result = run_vendor('upgrade', '--upstream', str(new_upstream),
                      '--version', '0.14.2.post1', root=scratch.root)

  assert result.returncode == 0, result.stderr
  assert 'merged cleanly' in result.stdout
  pin = vendor.read_pin(scratch)
  assert pin.version == '0.14.2.post1'
  assert pin.sha256 == vendor.sha256_of(vendor.read_lines(new_upstream, ''))
  series = vendor.load_series(scratch)
  assert series[0].header == header
  assert [h.old_start for h in series[0].hunks][-1] > 700  # Moved by +5.
  assert vendor.rebuild(vendor.read_lines(new_upstream, ''), series,
                        'new') == vendor.read_vendored(scratch)
  checked = run_vendor('check', '--upstream', str(new_upstream),
                       root=scratch.root)
  assert checked.returncode == 0, checked.stderr


def test_upgrade_reports_a_conflict_inside_a_hunk_then_finishes(
    scratch, tmp_path):
  def edit(lines):
    index = lines.index(HUNK_2_REWRITTEN)
    lines[index] = HUNK_2_REWRITTEN.replace('local_devices_to_use',
                                            'num_local_devices')
  new_upstream = write_synthetic_upstream(tmp_path / 'train.py', edit)
  before = snapshot(scratch.root)
  conflict_file = scratch.conflict_file(JAX_PATCH)
  upgrade = ('upgrade', '--upstream', str(new_upstream), '--version', '9.9')

  result = run_vendor(*upgrade, root=scratch.root)

  assert result.returncode == 1
  message = ' '.join(result.stderr.split())
  assert f'patches/{JAX_PATCH} conflicts with the new upstream' in message
  assert re.search(r'hunk #2: lines \d+-\d+ of upstream brax 9\.9', message)
  assert '--resolved' in message
  after = snapshot(scratch.root)
  assert after.pop(str(conflict_file.relative_to(scratch.root)))
  assert after == before
  conflicted = conflict_file.read_text()
  for marker in ('<<<<<<< ', '||||||| ', '=======\n', '>>>>>>> '):
    assert marker in conflicted

  # Resolve by hand: keep the new upstream side and redo the patch's change.
  resolved = re.sub(
      r'<<<<<<< .*?\n=======\n(.*?)>>>>>>> [^\n]*\n',
      lambda m: m.group(1).replace('jax.device_put_replicated(',
                                   'jax_compat.device_put_replicated('),
      conflicted, flags=re.S)
  conflict_file.write_text(resolved)
  result = run_vendor(*upgrade, '--resolved', str(conflict_file),
                      root=scratch.root)

  assert result.returncode == 0, result.stderr
  assert not conflict_file.exists()
  assert vendor.read_pin(scratch).version == '9.9'
  checked = run_vendor('check', '--upstream', str(new_upstream),
                       root=scratch.root)
  assert checked.returncode == 0, checked.stderr


def test_upgrade_needs_the_version_of_a_plain_upstream_file(scratch):
  result = run_vendor('upgrade', '--upstream', str(installed_upstream_path()),
                      root=scratch.root)
  assert result.returncode == 1
  assert '--version' in result.stderr


@pytest.fixture(name='brax_0_14_1_wheels', scope='module')
def fixture_brax_0_14_1_wheels(tmp_path_factory) -> pathlib.Path:
  """A directory holding the brax 0.14.1 wheel, downloaded once with pip."""
  directory = tmp_path_factory.mktemp('wheels')
  try:
    vendor.download_wheel('brax', '0.14.1', directory)
  except vendor.DownloadError as error:
    if error.network_unavailable:
      pytest.skip(f'no network to download brax 0.14.1: {error.message}')
    raise
  return directory


def test_upgrade_round_trip_through_brax_0_14_1_is_byte_identical(
    scratch, brax_0_14_1_wheels):
  before = snapshot(scratch.root)

  down = run_vendor('upgrade', '--brax-version', '0.14.1', '--download-dir',
                    str(brax_0_14_1_wheels), root=scratch.root)
  assert down.returncode == 0, down.stderr
  assert vendor.read_pin(scratch).version == '0.14.1'
  wheel = next(brax_0_14_1_wheels.glob('brax-0.14.1-*.whl'))
  checked = run_vendor('check', '--upstream', str(wheel), root=scratch.root)
  assert checked.returncode == 0, checked.stderr

  up = run_vendor('upgrade', '--upstream', str(installed_upstream_path()),
                  '--version', real_pin().version, root=scratch.root)
  assert up.returncode == 0, up.stderr
  assert snapshot(scratch.root) == before


# ----------------------------------------------- diffs, patches, merge ---


@pytest.mark.parametrize('old, new', [
    ('a\nb\nc\n', 'a\nB\nc\n'),
    ('a\nb\nc', 'a\nb\nC'),  # Neither has a final newline.
    ('a\nb\nc', 'a\nb\nc\n'),  # A final newline is added...
    ('a\nb\nc\n', 'a\nb\nc'),  # ...or taken away.
    ('', 'x\n'),
    ('x\n', ''),
])
def test_diff_apply_and_reverse_round_trip(old, new):
  patch = vendor.make_patch('t.patch', 'About.\n\n', vendor.split_lines(old),
                            vendor.split_lines(new))
  parsed = vendor.parse_patch('t.patch', patch.format())

  assert parsed == patch
  applied = vendor.apply_patch(vendor.split_lines(old), parsed, 'old')
  assert ''.join(applied.lines) == new
  reverted = vendor.apply_patch(applied.lines, parsed.reversed(), 'new')
  assert ''.join(reverted.lines) == old


@pytest.mark.parametrize('old, new', [
    ('a\nb\nc\n', 'a\nB\nc\n'),
    ('a\nb\nc', 'a\nb\nC'),
    ('a\nb\nc', 'a\nb\nc\n'),
    ('a\nb\nc\n', 'a\nb\nc'),
])
@pytest.mark.parametrize('tool', ['git apply', 'patch -p1'])
def test_standard_tools_accept_the_patches(tmp_path, old, new, tool):
  if not shutil.which(tool.split()[0]):
    pytest.skip(f'{tool.split()[0]} is not installed')
  patch = vendor.make_patch('t.patch', 'About.\n\n', vendor.split_lines(old),
                            vendor.split_lines(new))
  (tmp_path / 'train.py').write_text(old)
  (tmp_path / 't.patch').write_text(patch.format())

  subprocess.run(f'{tool} < t.patch', shell=True, cwd=tmp_path, check=True,
                 capture_output=True)

  assert (tmp_path / 'train.py').read_text() == new


def test_git_apply_accepts_the_real_series(tmp_path):
  shutil.copy(installed_upstream_path(), tmp_path / 'train.py')
  series = sorted((REPO / 'patches').glob('*.patch'))
  for patch_file in series:
    subprocess.run(['git', 'apply', str(patch_file)], cwd=tmp_path, check=True,
                   capture_output=True)
  expected = vendor.rebuild(upstream_lines(), vendor.load_series(
      vendor.Repo(REPO)), 'upstream')
  assert (tmp_path / 'train.py').read_text() == ''.join(expected)


def test_real_patch_files_are_in_canonical_form():
  for patch_file in sorted((REPO / 'patches').glob('*.patch')):
    text = patch_file.read_text()
    patch = vendor.parse_patch(patch_file.name, text)
    assert patch.format() == text
    assert patch.header.strip(), f'{patch_file.name} has no description'


def test_applier_follows_offsets_but_allows_no_fuzz():
  old = vendor.split_lines(''.join(f'line {i}\n' for i in range(30)))
  new = list(old)
  new[15] = 'changed\n'
  patch = vendor.make_patch('p.patch', '', old, new)
  shifted = ['extra\n'] * 7 + old

  assert vendor.apply_patch(shifted, patch, 'shifted').lines == (
      ['extra\n'] * 7 + new)

  shifted[7 + 14] = 'line 14 edited\n'  # One context line differs.
  with pytest.raises(vendor.PatchDoesNotApplyError) as error:
    vendor.apply_patch(shifted, patch, 'shifted')
  assert (error.value.patch_name, error.value.hunk_number) == ('p.patch', 1)
  assert "expected: 'line 14'" in error.value.render()
  assert "found:    'line 14 edited'" in error.value.render()


def test_merge3_takes_separate_changes_and_flags_overlapping_ones():
  base = [f'{i}\n' for i in range(10)]
  ours = list(base)
  ours[2] = 'ours\n'
  theirs = list(base)
  theirs[7] = 'theirs\n'
  labels = ('ours', 'base', 'theirs')

  clean = vendor.merge3(base, ours, theirs, labels)
  assert not clean.conflicts
  assert clean.lines[2] == 'ours\n' and clean.lines[7] == 'theirs\n'

  theirs[3] = 'theirs too\n'  # Right next to our change: no stable line.
  conflicted = vendor.merge3(base, ours, theirs, labels)
  assert [c.base for c in conflicted.conflicts] == [(2, 4)]
  assert conflicted.lines[2:12] == [
      '<<<<<<< ours\n', 'ours\n', '3\n', '||||||| base\n', '2\n', '3\n',
      '=======\n', '2\n', 'theirs too\n', '>>>>>>> theirs\n']
