"""Reference motion for AMP, and recording it.

The public API, one concept a module, NumPy only (it runs on the host before
anything is compiled):

  clips       the data model: Clip, ReferenceMotion, concatenated
  npz_format  amp_ppo's .npz files: load_reference, save_reference
  resampling  to the environment's control rate: resample
  windows     fit to the environment, feature windows: validate_for_env,
              window_starts

Import the package, not its modules, as `motion_lib` (`motion` names a
ReferenceMotion value):

  from amp_ppo import motion as motion_lib
  reference = motion_lib.load_reference('walk.npz')

Bundled demos and their data are in `demos` and `data`; `record` records a
trained policy as a reference. Those import Brax and JAX, so they are not
imported here: importing the package stays NumPy only. So are the tools for
outside motion (`python -m amp_ppo.motion convert|check|preview|fetch`):
`formats` (readers), `retarget` and `review` (MuJoCo, mink) and `convert`.
"""

# Re-exports: the modules above are the implementation, these the API.
# pylint: disable=g-importing-member
from amp_ppo.motion.clips import Clip
from amp_ppo.motion.clips import concatenated
from amp_ppo.motion.clips import ReferenceMotion
from amp_ppo.motion.npz_format import load_reference
from amp_ppo.motion.npz_format import save_reference
from amp_ppo.motion.resampling import resample
from amp_ppo.motion.windows import validate_for_env
from amp_ppo.motion.windows import window_starts
