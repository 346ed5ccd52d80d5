"""What a test does when data it needs cannot be downloaded.

On a developer's machine without network it skips (or falls back) and says
why. In CI (`CI=true`, which CI sets) the suite must have run everything, so
missing data fails the run instead of passing it with less tested.
"""

import os

import pytest


def in_ci() -> bool:
  return os.environ.get('CI') == 'true'


def unavailable(reason: str) -> None:
  """Skips the test, or fails it in CI."""
  if in_ci():
    pytest.fail(f'{reason}; in CI (CI=true) the data must be fetchable.')
  pytest.skip(reason)
