"""Every motion_imitation dog clip becomes a Go1 reference that passes.

The ten clips (CC BY-NC 4.0) are fetched from motion_imitation's PyPI source
archive into the cache on first use, never committed (tests/downloads.py
says what happens offline). Each converts whole: the ten took 3 s on two
CPU cores, after 5 s loading Go1's model.
"""

import functools

import pytest

pytest.importorskip('mink')
pytest.importorskip('mujoco_playground')

# pylint: disable=g-import-not-at-top,wrong-import-position
from amp_ppo.mocap import checks
from amp_ppo.mocap import convert
from amp_ppo.mocap.formats import sample_data
from tests import downloads

GO1 = 'Go1JoystickFlatTerrain'

# runningman is keyframe animation at 24 fps that holds poses and then
# snaps: a knee moves 15.4 cm in one frame (frame 112) against a median
# step of 1.7 cm, above the jump check's bound of 6 times the median. The
# Laikago frames themselves step so (9.2 times their median on Go1's legs,
# before any ground fitting); smoothing them once with [1, 2, 1] / 4 moves
# joints by up to 0.37 rad and still leaves a 10.9 cm step against a 10.6 cm
# bound. No retargeting that keeps the dance passes this check.
_SOURCE_JUMPS = pytest.mark.xfail(
    strict=True, reason='the source snaps (see _SOURCE_JUMPS\'s note)')


@pytest.fixture(scope='module', name='dog_clips')
def fixture_dog_clips():
  try:
    return sample_data.fetch(sample_data.MOTION_IMITATION,
                             sample_data.DOG_CLIPS)
  except sample_data.DownloadError as error:
    downloads.unavailable(f'cannot download '
                          f'{sample_data.MOTION_IMITATION.requirement} from '
                          f'PyPI: {error}')


@functools.lru_cache(maxsize=None)
def _converted(path):
  return convert.convert(path, GO1)


@pytest.mark.parametrize('clip', [
    pytest.param(clip, marks=_SOURCE_JUMPS) if clip == 'runningman' else clip
    for clip in sample_data.DOG_CLIPS])
def test_every_dog_clip_converts_onto_go1_passing_every_check(dog_clips,
                                                              clip):
  report = _converted(str(dog_clips[clip])).report
  failed = {name: check['summary'] for name, check in report['checks'].items()
            if check['status'] == checks.FAIL}
  assert not failed, failed
  assert report['passed']
  feet = report['checks']['feet']
  # The default limits, not loosened: stance soles within 2 cm of the
  # ground, none deeper than 1 cm.
  assert feet['limits']['stance_height_m'] == 0.02
  assert feet['limits']['penetration_m'] == 0.01
  assert feet['stance_fraction'] > 0.2  # the feet do stand


def test_a_straight_stance_leg_lowers_the_root_to_reach_the_ground(dog_clips):
  """inplace_steps holds its front right leg straighter than Go1's knee can
  go (frames 21 to 29): the root comes down instead of the foot floating."""
  result = _converted(str(dog_clips['inplace_steps']))
  drop = result.notes['ground']['largest_root_drop']
  assert 0.015 < drop < 0.03  # what the clipped knee lacks, about 2 cm
  assert result.report['checks']['feet']['stance_height_max_m'] <= 0.002
  # Feet that reach keep their placement as before: dog_trot's root is not
  # lowered.
  trot = _converted(str(dog_clips['dog_trot']))
  assert trot.notes['ground']['largest_root_drop'] == 0.0
