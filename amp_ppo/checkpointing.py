"""Checkpoint files written so that a crash never leaves a torn file."""

import os
import tempfile


def atomic_write_bytes(path: str, payload: bytes) -> None:
  """Writes `payload` to `path` via a synced temp file and an atomic rename."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp_path = tempfile.mkstemp(dir=directory, prefix='.tmp-',
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
