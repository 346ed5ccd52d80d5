"""Trains the shared run and stops inside the save of one checkpoint.

Usage:
  python -m tests.integration.reliability_kill_script CHECKPOINT_DIR REFERENCE STEP

The write of orbax's `commit_success.txt` into `resume_state*` in the step
directory of STEP (orbax's temporary directory, or wherever the resume state
is written; however it is opened from Python: `open` or `os.fdopen`)
writes half of its bytes, syncs them, prints `MID_SAVE <path>` on stdout and
sleeps, so that the test can SIGKILL this process in the middle of the real
save code path. It is orbax's last write before its commit: the whole resume
state is on disk then. Only file opening is intercepted; what amp_ppo and
orbax write, and where, is their own code.
"""

import builtins
import os
import sys
import time

import amp_ppo
from amp_ppo.reliability import checkpoint
from tests.integration import reliability_setup

_SLEEP_SECONDS = 600
_LAST_WRITE = 'commit_success.txt'


class _StallingFile:
  """A file whose first write stops halfway and waits to be killed."""

  def __init__(self, file, path):
    self._file = file
    self._path = path

  def write(self, data):
    half = len(data) // 2
    self._file.write(data[:half])
    self._file.flush()
    os.fsync(self._file.fileno())
    print(f'MID_SAVE {self._path}', flush=True)
    time.sleep(_SLEEP_SECONDS)
    raise SystemExit('not killed in time')

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    return self._file.__exit__(*exc)

  def __getattr__(self, name):
    return getattr(self._file, name)


def _install_trap(step_dir_name: str) -> None:
  real_open, real_fdopen = builtins.open, os.fdopen

  def trapped(file, path):
    parts = os.path.abspath(os.fsdecode(path)).split(os.sep)
    if (len(parts) > 2 and parts[-1] == _LAST_WRITE and
        parts[-3] == step_dir_name and
        parts[-2].startswith(checkpoint.RESUME_STATE)):
      return _StallingFile(file, path)
    return file

  def open_(path, mode='r', *args, **kwargs):
    file = real_open(path, mode, *args, **kwargs)
    if isinstance(path, (str, bytes, os.PathLike)) and 'w' in mode:
      return trapped(file, path)
    return file

  def fdopen(fd, mode='r', *args, **kwargs):
    file = real_fdopen(fd, mode, *args, **kwargs)
    if 'w' in mode:
      return trapped(file, os.readlink(f'/proc/self/fd/{fd}'))
    return file

  builtins.open, os.fdopen = open_, fdopen


def main():
  checkpoint_dir, reference_path, step = sys.argv[1:]
  _install_trap(f'{int(step):012d}')
  amp_ppo.train(**reliability_setup.train_kwargs(
      reference_path, save_checkpoint_path=checkpoint_dir))
  print('FINISHED', flush=True)


if __name__ == '__main__':
  main()
