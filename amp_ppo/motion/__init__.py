"""Reference motion for AMP: the data model (the bottom layer).

The public API, one concept a module, NumPy only (it runs on the host before
anything is compiled):

  clips       the data model: Clip, ReferenceMotion, concatenated, Loop
              (and loop_code: how a file stores one)
  npz_format  amp_ppo's .npz files: load_reference, save_reference
  resampling  to the environment's control rate: resample
  windows     fit to the environment, feature windows: validate_for_env,
              window_starts

Import the package, not its modules, as `motion_lib` (`motion` names a
ReferenceMotion value):

  from amp_ppo import motion as motion_lib
  reference = motion_lib.load_reference('walk.npz')

Bundled references live in `DATA_DIR`; the controllers that made them are in
`amp_ppo.demos`, recording a trained policy is `amp_ppo.run.record`, and the
tools for outside motion are `amp_ppo.mocap` (`python -m amp_ppo.mocap
convert|check|preview|fetch`). Those sit above this package and import
MuJoCo, Brax or JAX; importing this one stays NumPy only.
"""

import os

# Re-exports: the modules above are the implementation, these the API.
# pylint: disable=g-importing-member
from amp_ppo.motion.clips import Clip
from amp_ppo.motion.clips import concatenated
from amp_ppo.motion.clips import Loop
from amp_ppo.motion.clips import loop_code
from amp_ppo.motion.clips import ReferenceMotion
from amp_ppo.motion.npz_format import load_reference
from amp_ppo.motion.npz_format import save_reference
from amp_ppo.motion.resampling import resample
from amp_ppo.motion.windows import validate_for_env
from amp_ppo.motion.windows import window_starts

# The bundled references (amp_ppo/motion/data), shipped as package data.
DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data')
