"""Reading the markdown tables the benchmark scripts print."""

import re
from typing import Dict, List


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
