"""Files written so that a crash never leaves a torn file.

A file is written to a temporary name in its final directory, flushed and
fsynced, renamed over the final name with `os.replace` (atomic on POSIX), and
then the directory is fsynced so that the rename itself survives a power cut.
A process killed at any point therefore leaves either the old file (or none)
or the complete new one, plus at worst a `.tmp-*` file that readers ignore.
"""

import os
import secrets
from typing import BinaryIO, Callable, Optional

# Prefix of the temporary files; readers must never treat them as data.
TEMP_PREFIX = '.tmp-'


def fsync_directory(directory: str) -> None:
  """Makes renames and new entries in `directory` durable (POSIX only)."""
  if not hasattr(os, 'O_DIRECTORY'):  # e.g. Windows: nothing to sync.
    return
  fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
  try:
    os.fsync(fd)
  finally:
    os.close(fd)


def atomic_write(path: str, write: Callable[[BinaryIO], None],
                 mode: Optional[int] = None) -> None:
  """Calls `write(file)` on a temp file, then renames it over `path`.

  The file gets permission bits `mode` if given, else 0o666 less the umask,
  as a plain `open` would give it.
  """
  directory, name = os.path.split(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  tmp_path = os.path.join(directory,
                          f'{TEMP_PREFIX}{secrets.token_hex(8)}-{name}')
  fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
  try:
    with os.fdopen(fd, 'wb') as f:
      write(f)
      f.flush()
      os.fsync(f.fileno())
    if mode is not None:
      os.chmod(tmp_path, mode)
    os.replace(tmp_path, path)
  except BaseException:
    if os.path.exists(tmp_path):
      os.remove(tmp_path)
    raise
  fsync_directory(directory)


def atomic_write_bytes(path: str, payload: bytes) -> None:
  """Writes `payload` to `path` atomically (see `atomic_write`)."""
  atomic_write(path, lambda f: f.write(payload))
