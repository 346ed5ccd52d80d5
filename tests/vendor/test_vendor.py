"""Tests for amp_ppo.vendor, the vendored Brax trainer's patch workflow.

Everything that writes works on a scratch --root holding copies of the pin
and the patch series; the real repository is only read. Nothing imports JAX.
"""

import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from amp_ppo.vendor import cli
from amp_ppo.vendor import series
from tests import downloads

REPO = pathlib.Path(__file__).resolve().parents[2]
VENDORED_DIR = pathlib.Path('third_party', 'brax_ppo_vendored')
JAX_PATCH = '0001-jax-0.10-device-put-replicated.patch'
# A context line of patch 0001's second hunk (the line after the rewritten
# device_put_replicated call).
HUNK_2_CONTEXT = '  eval_env = _maybe_wrap_env(\n'
# An upstream line that patch 0001's second hunk rewrites.
HUNK_2_REWRITTEN = (
    '      training_state, jax.local_devices()[:local_devices_to_use]\n')


def run_vendor(*args: str, root: pathlib.Path | None = None,
               env: dict[str, str] | None = None
               ) -> subprocess.CompletedProcess:
  command = [sys.executable, '-m', 'amp_ppo.vendor']
  if root is not None:
    command += ['--root', str(root)]
  return subprocess.run(command + list(args), capture_output=True, text=True,
                        cwd=REPO, env=env, check=False, timeout=300)


def real_pin() -> series.Pin:
  return series.Repo(REPO).read_pin()


def installed_upstream_path() -> pathlib.Path:
  return cli.installed_file(real_pin())


def snapshot(root: pathlib.Path) -> dict[str, bytes]:
  return {str(path.relative_to(root)): path.read_bytes()
          for path in sorted(root.rglob('*')) if path.is_file()}


def one_line(output: str) -> str:
  """Messages are wrapped at 79 columns; tests match them unwrapped."""
  return ' '.join(output.split())


@pytest.fixture(name='scratch')
def fixture_scratch(tmp_path: pathlib.Path) -> series.Repo:
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
  return series.Repo(root)


def edit_file(path: pathlib.Path, old: str, new: str) -> None:
  text = path.read_text()
  assert text.count(old) == 1, old
  path.write_text(text.replace(old, new))


def write_synthetic_upstream(path: pathlib.Path, edit) -> pathlib.Path:
  lines = installed_upstream_path().read_text().splitlines(keepends=True)
  edit(lines)
  path.write_text(''.join(lines))
  return path


def break_hunk_2_of_the_jax_patch(repo: series.Repo) -> None:
  edit_file(repo.patches_dir / JAX_PATCH, ' ' + HUNK_2_CONTEXT,
            ' ' + HUNK_2_CONTEXT.replace('eval_env', 'n'))


def add_comment_before_train(repo: series.Repo, comment: str) -> None:
  edit_file(repo.vendored, '\ndef train(\n', f'\n# {comment}\ndef train(\n')


# ------------------------------------------------------------- check ---


def test_check_passes_on_the_real_repository():
  result = run_vendor('check')
  assert result.returncode == 0, result.stderr
  assert re.fullmatch(
      r'OK: third_party/brax_ppo_vendored/train\.py = brax '
      + re.escape(real_pin().version) + r' brax/training/agents/ppo/train\.py'
      r' \(sha256 [0-9a-f]{12}\) \+ \d+ patches; \d+ lines added, \d+ '
      r'removed vs upstream\.\n', result.stdout)


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
  break_hunk_2_of_the_jax_patch(scratch)

  result = run_vendor('check', root=scratch.root)

  assert result.returncode == 1
  message = one_line(result.stderr)
  assert f'patches/{JAX_PATCH} does not apply: hunk #2' in message
  assert re.search(r'at lines \d+-\d+ of upstream brax', message)
  assert "expected: '  n = _maybe_wrap_env('" in result.stderr
  assert f'found:    {HUNK_2_CONTEXT.rstrip()!r}' in result.stderr


def test_check_detects_a_brax_version_other_than_the_pin(scratch):
  edit_file(scratch.pin_file, real_pin().version, '0.14.1')

  result = run_vendor('check', root=scratch.root)

  assert result.returncode == 1
  message = one_line(result.stderr)
  assert f'installed brax is {real_pin().version}' in message
  assert 'pip install brax==0.14.1' in message
  assert f'upgrade --brax-version {real_pin().version}' in message


def test_check_detects_an_upstream_file_with_another_sha256(scratch):
  edit_file(scratch.pin_file, real_pin().sha256, '0' * 64)

  result = run_vendor('check', root=scratch.root)

  assert result.returncode == 1
  assert 'sha256' in result.stderr
  assert 'pip install --force-reinstall' in one_line(result.stderr)


def test_a_missing_git_is_reported_as_such(scratch, tmp_path):
  no_git = tmp_path / 'bin-without-git'
  no_git.mkdir()

  result = run_vendor('check', root=scratch.root,
                      env=dict(os.environ, PATH=str(no_git)))

  assert result.returncode == 1
  assert 'git is not on PATH' in one_line(result.stderr)
  assert 'Traceback' not in result.stderr


# ----------------------------------------------------------- refresh ---


def test_refresh_records_an_edit_in_the_top_patch(scratch):
  *lower, top = scratch.series()
  add_comment_before_train(scratch, 'Edited by a test.')
  assert run_vendor('check', root=scratch.root).returncode == 1

  result = run_vendor('refresh', root=scratch.root)

  assert result.returncode == 0, result.stderr
  patch_text = (scratch.patches_dir / top.name).read_text()
  assert patch_text.startswith(top.header + series.DIFF_HEADER)
  assert '+# Edited by a test.\n' in patch_text
  assert scratch.series()[:-1] == lower
  assert run_vendor('check', root=scratch.root).returncode == 0


def test_refresh_new_creates_a_patch_on_top(scratch):
  before = scratch.series()
  add_comment_before_train(scratch, 'AMP goes here.')

  result = run_vendor('refresh', '--new', '9999-test-hook.patch',
                      '--message', 'Marks where AMP goes.', root=scratch.root)

  assert result.returncode == 0, result.stderr
  *lower, new_patch = scratch.series()
  assert lower == before
  assert new_patch.text.startswith(
      'Marks where AMP goes.\n\n' + series.DIFF_HEADER)
  assert run_vendor('check', root=scratch.root).returncode == 0


def test_refresh_refuses_when_a_lower_patch_does_not_apply(scratch):
  add_comment_before_train(scratch, 'AMP goes here.')
  assert run_vendor('refresh', '--new', '9999-test-hook.patch', '-m', 'Hook.',
                    root=scratch.root).returncode == 0
  break_hunk_2_of_the_jax_patch(scratch)
  before = snapshot(scratch.root)

  result = run_vendor('refresh', root=scratch.root)

  assert result.returncode == 1
  message = one_line(result.stderr)
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
  # Reverting the series from an edited file keeps the edit, so the pristine
  # file comes from the vendored copy committed at git HEAD.
  git = ['git', '-C', str(scratch.root), '-c', 'user.name=t',
         '-c', 'user.email=t@example.com']
  for command in (['init', '-q'], ['add', '-A'], ['commit', '-qm', 'pin']):
    subprocess.run(git + command, check=True, capture_output=True)
  add_comment_before_train(scratch, 'Edited by a test.')

  result = run_vendor('refresh', root=scratch.root)

  assert result.returncode == 0, result.stderr
  checked = run_vendor('check', '--upstream', str(new_upstream),
                       root=scratch.root)
  assert checked.returncode == 0, checked.stderr


def test_refresh_new_rejects_a_name_that_sorts_below_the_top(scratch):
  result = run_vendor('refresh', '--new', '0000-early.patch', '-m', 'x',
                      root=scratch.root)
  assert result.returncode == 1
  assert 'lexical order' in one_line(result.stderr)


# ----------------------------------------------------------- upgrade ---


def test_upgrade_merges_upstream_changes_far_from_the_hunks(scratch, tmp_path):
  def edit(lines):
    lines[300] = lines[300].rstrip('\n') + '  # Changed upstream.\n'
    lines[100:100] = ['# New upstream line %d.\n' % i for i in range(5)]
  new_upstream = write_synthetic_upstream(tmp_path / 'train.py', edit)
  header = scratch.series()[0].header

  result = run_vendor('upgrade', '--upstream', str(new_upstream),
                      '--version', '0.14.2.post1', root=scratch.root)

  assert result.returncode == 0, result.stderr
  assert 'merged cleanly' in result.stdout
  pin = scratch.read_pin()
  assert pin.version == '0.14.2.post1'
  assert pin.sha256 == series.sha256_of(new_upstream.read_text())
  jax_patch = scratch.series()[0]
  assert jax_patch.header == header
  assert series.header_start(jax_patch.hunks()[-1]) > 700  # Moved by +5.
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
  message = one_line(result.stderr)
  assert (f'patches/{JAX_PATCH} conflicts with the new upstream in 1 place '
          '(hunk #2)') in message
  index = new_upstream.read_text().splitlines().index(
      HUNK_2_REWRITTEN.replace('local_devices_to_use',
                               'num_local_devices').rstrip('\n'))
  assert (f'hunk #2: lines {index}-{index + 1} of upstream brax 9.9'
          in message)
  assert f'(was lines {index}-{index + 1} of upstream brax' in message
  assert f'--resolved {conflict_file}' in message
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
  assert scratch.read_pin().version == '9.9'
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
    cli.download_wheel('brax', '0.14.1', directory)
  except series.VendorError as error:
    if cli.OFFLINE_MESSAGE in str(error):
      downloads.unavailable(f'no network to download brax 0.14.1: {error}')
    raise
  return directory


def test_upgrade_round_trip_through_brax_0_14_1_is_byte_identical(
    scratch, brax_0_14_1_wheels):
  # Porting onto the same upstream rewrites each patch as git diff makes it,
  # so that the round trip below compares like with like.
  same = run_vendor('upgrade', '--upstream', str(installed_upstream_path()),
                    '--version', real_pin().version, root=scratch.root)
  assert same.returncode == 0, same.stderr
  before = snapshot(scratch.root)

  down = run_vendor('upgrade', '--brax-version', '0.14.1', '--download-dir',
                    str(brax_0_14_1_wheels), root=scratch.root)
  assert down.returncode == 0, down.stderr
  assert scratch.read_pin().version == '0.14.1'
  wheel = next(brax_0_14_1_wheels.glob('brax-0.14.1-*.whl'))
  checked = run_vendor('check', '--upstream', str(wheel), root=scratch.root)
  assert checked.returncode == 0, checked.stderr

  up = run_vendor('upgrade', '--upstream', str(installed_upstream_path()),
                  '--version', real_pin().version, root=scratch.root)
  assert up.returncode == 0, up.stderr
  assert snapshot(scratch.root) == before


# ----------------------------------------------------- the real series ---


def test_git_apply_accepts_the_real_series_in_order(tmp_path):
  shutil.copy(installed_upstream_path(), tmp_path / 'train.py')
  for patch in series.Repo(REPO).series():
    assert patch.header.strip(), f'{patch.name} has no description'
    (tmp_path / 'p.patch').write_text(patch.text)
    for extra in (['--check'], []):
      subprocess.run(['git', 'apply', *extra, 'p.patch'], cwd=tmp_path,
                     check=True, capture_output=True)
