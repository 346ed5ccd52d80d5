"""Checkpoint files written so that a crash never leaves a torn file.

A file is written to a temporary name in its final directory, flushed and
fsynced, renamed over the final name with `os.replace` (atomic on POSIX), and
then the directory is fsynced so that the rename itself survives a power cut.
A process killed at any point therefore leaves either the old file (or none)
or the complete new one, plus at worst a `.tmp-*` file that readers ignore.
"""

import os
import tempfile

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


def fsync_tree(directory: str) -> None:
  """Fsyncs every file and directory below `directory` (and itself).

  Called before a checkpoint's completion marker is written, so that files
  written by other libraries (Brax's orbax files) are on disk before the
  marker that declares them complete.
  """
  for root, _, files in os.walk(directory):
    for name in files:
      fd = os.open(os.path.join(root, name), os.O_RDONLY)
      try:
        os.fsync(fd)
      finally:
        os.close(fd)
    fsync_directory(root)


def atomic_write_bytes(path: str, payload: bytes) -> None:
  """Writes `payload` to `path` via a synced temp file and an atomic rename."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp_path = tempfile.mkstemp(dir=directory, prefix=TEMP_PREFIX,
                                  suffix=os.path.basename(path))
  try:
    with os.fdopen(fd, 'wb') as f:
      f.write(payload)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp_path, path)
  except BaseException:
    if os.path.exists(tmp_path):
      os.remove(tmp_path)
    raise
  fsync_directory(directory)
