"""The import graphs of the package and the benchmarks read bottom to top
(.importlinter)."""

import ast
import os
import pathlib
import subprocess
import sys

_ROOT = pathlib.Path(__file__).resolve().parents[1]
_VENDORED = _ROOT / 'third_party' / 'brax_ppo_vendored' / 'train.py'
# What the vendored trainer may import of amp_ppo: the trainer interface and
# the JAX shim of patch 0001.
_VENDORED_MAY_IMPORT = {'amp_ppo.jax_compat', 'amp_ppo.trainer_extension'}


def _lint_imports(config: pathlib.Path):
  linter = os.path.join(os.path.dirname(sys.executable), 'lint-imports')
  return subprocess.run([linter, '--config', str(config), '--no-cache'],
                        cwd=_ROOT, capture_output=True, text=True,
                        check=False)


def test_every_import_contract_is_kept():
  result = _lint_imports(_ROOT / '.importlinter')
  assert result.returncode == 0, result.stdout + result.stderr


def _lint_a_copy(tmp_path, edits):
  """lint-imports over a copy of the packages, each edit's code appended."""
  for package in ('amp_ppo', 'benchmarks'):
    subprocess.run(['cp', '-r', str(_ROOT / package), str(tmp_path)],
                   check=True)
  for module, code in edits.items():
    path = tmp_path / module
    path.write_text(path.read_text() + code)
  config = tmp_path / '.importlinter'
  config.write_text((_ROOT / '.importlinter').read_text())
  linter = os.path.join(os.path.dirname(sys.executable), 'lint-imports')
  return subprocess.run(
      [linter, '--config', str(config), '--no-cache'], cwd=tmp_path,
      capture_output=True, text=True, check=False,
      env={**os.environ, 'PYTHONPATH': str(tmp_path)})


def test_the_checker_sees_an_upward_import_inside_a_function(tmp_path):
  # The contracts above are only worth something if they can break: the
  # same contracts over a copy of the packages with one upward import each.
  result = _lint_a_copy(tmp_path, {
      'amp_ppo/amp/features.py': (
          '\n\ndef _upward():\n  from amp_ppo.run import experiment\n'
          '  return experiment\n'),
      'benchmarks/gpu.py': (
          '\n\ndef _sideways():\n  from benchmarks import memory\n'
          '  from tests import helpers\n  return memory, helpers\n')})
  assert result.returncode != 0
  assert 'amp_ppo.amp.features -> amp_ppo.run.experiment' in result.stdout
  assert 'benchmarks.gpu -> benchmarks.memory' in result.stdout
  assert 'benchmarks.gpu -> tests' in result.stdout


def _amp_ppo_imports(path: pathlib.Path):
  imported = set()
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.Import):
      imported.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module:
      imported.update(f'{node.module}.{alias.name}' if node.module ==
                      'amp_ppo' else node.module for alias in node.names)
  return {name for name in imported if name.split('.')[0] == 'amp_ppo'}


def test_the_vendored_trainer_imports_one_interface_and_the_jax_shim():
  # grimp cannot see the vendored package (it lives in third_party/), so
  # its side of the graph is checked here.
  assert _amp_ppo_imports(_VENDORED) <= _VENDORED_MAY_IMPORT
