"""Missing downloads skip on a developer's machine and fail in CI."""

import pytest

from tests import downloads


def test_missing_data_skips_outside_ci(monkeypatch):
  monkeypatch.delenv('CI', raising=False)
  with pytest.raises(pytest.skip.Exception, match='no network'):
    downloads.unavailable('no network')


def test_missing_data_fails_in_ci(monkeypatch):
  monkeypatch.setenv('CI', 'true')
  with pytest.raises(pytest.fail.Exception, match='no network.*CI=true'):
    downloads.unavailable('no network')
