"""Two styles in one policy: a cart-pole that sways slow and wide, or fast
and narrow, as it is commanded.

The default demo's cart-pole and settings, with two references of the same
scripted controller (amp_ppo/demos/cartpole_sway.py, SWAYS): 0.6 m every
6 s and 0.2 m every 2.5 s. `amp_reference` is a mapping of the two, so the
policy observes a one-hot style command (drawn at every episode start) and
each style has its own discriminator. report.json holds the final policy's
style table (commanded style x reference style) and the references' own
separation; metrics.jsonl the table of every evaluation.

Presets: '' trains in a few minutes on 2 CPU cores; `smoke` is one tiny
iteration, for tests.
"""

import ml_collections

from amp_ppo.configs import common
from amp_ppo.configs import default
from amp_ppo.demos import cartpole_sway


def get_config(preset: str = '') -> ml_collections.ConfigDict:
  if preset not in ('', 'default', 'smoke'):
    raise ValueError(f'unknown preset {preset!r} of the multi_style config; '
                     "use '' or 'smoke'.")
  config = default.get_config()
  common.with_styles(config, {name: cartpole_sway.sway_reference(name)
                              for name in cartpole_sway.SWAYS})
  # A PPO-only policy has no command to compare.
  config.compare_to_ppo = False
  # Two styles, so more than twice the default demo's steps (about 450
  # CPU seconds; 7.5 minutes of 2 cores). Seed 0 ends with each style's
  # distance to its own reference 0.27 (fast_narrow) and 0.36 (slow_wide)
  # of its distance to the other's; seed 1 with 0.14 and 1.02: slow_wide,
  # whose 6 s sway ramps up from rest for much of a 10 s episode, is the
  # harder style.
  config.ppo.num_timesteps = 10_000_000
  config.ppo.num_evals = 11
  # Both styles in every evaluation and in the final one.
  config.evaluation.num_envs = 16
  if preset == 'smoke':
    common.smoke_ppo(config.ppo)
    common.smoke_network(config)
  return config
