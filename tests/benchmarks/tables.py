"""Running a benchmark script on the CPU, and reading the tables it prints."""

import os
import re
import subprocess
import sys
from typing import Dict, List, Sequence

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def load_script(script: str):
  """benchmarks/`script` imported as a module, to test its functions."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  name = os.path.splitext(script)[0]
  spec = importlib.util.spec_from_file_location(
      name, os.path.join(_ROOT, 'benchmarks', script))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def run_benchmark(script: str, arguments: Sequence[str]) -> str:
  """stdout of benchmarks/`script` run with `arguments`; asserts success."""
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  env.pop('XLA_FLAGS', None)
  completed = subprocess.run(
      [sys.executable, os.path.join(_ROOT, 'benchmarks', script)] +
      list(arguments), cwd=_ROOT, env=env, capture_output=True, text=True,
      timeout=900, check=False)
  assert completed.returncode == 0, (completed.stdout[-3000:] +
                                     completed.stderr[-3000:])
  return completed.stdout


def markdown_tables(output: str) -> List[List[Dict[str, str]]]:
  """Every table in `output`, as rows of {header: cell}."""
  lines = output.splitlines()
  found = []
  for i, line in enumerate(lines):
    if (line.startswith('|') and i + 1 < len(lines) and
        lines[i + 1].startswith('|-') and
        not (i and lines[i - 1].startswith('|'))):
      header = [c.strip() for c in line.strip('|').split('|')]
      rows = []
      for row in lines[i + 2:]:
        if not row.startswith('|'):
          break
        rows.append(dict(zip(header, (c.strip() for c in
                                      row.strip('|').split('|')))))
      found.append(rows)
  return found


def table_rows(output: str, first_header: str) -> List[Dict[str, str]]:
  """Rows of the first table whose header starts with `first_header`."""
  for rows in markdown_tables(output):
    if rows and next(iter(rows[0])) == first_header:
      return rows
  raise AssertionError(f'no table starting with {first_header!r}')


def number(cell: str) -> float:
  match = re.fullmatch(r'-?[\d,]*\.?\d+', cell)
  assert match, f'not a number: {cell!r}'
  return float(cell.replace(',', ''))
