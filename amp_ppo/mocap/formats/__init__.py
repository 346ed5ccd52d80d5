"""Readers of outside motion, each checking its input like the npz loader.

  source_motion     what they produce: RobotMotion (root pose and joint
                    angles), KeypointMotion (named skeleton points), Loop
  motion_imitation  motion_imitation / AMP_for_hardware JSON text files
  deepmimic         DeepMimic humanoid JSON text files (joint rotations of
                    its humanoid3d character, turned into KeypointMotion)
  csv_motion        retargeted robot motion as CSV (LAFAN1 layout or a
                    CsvLayout)
  bvh               BVH motion capture, through pybvh (the `motion` extra;
                    not imported here, so this package stays NumPy only)

Every malformed file raises ValueError naming the file, the field and the
fix. Nothing is unpickled.
"""

# pylint: disable=g-importing-member
from amp_ppo.mocap.formats.csv_motion import CsvLayout
from amp_ppo.mocap.formats.csv_motion import read_csv_motion
from amp_ppo.mocap.formats.deepmimic import is_deepmimic
from amp_ppo.mocap.formats.deepmimic import read_deepmimic
from amp_ppo.mocap.formats.motion_imitation import read_motion_imitation
from amp_ppo.mocap.formats.source_motion import KeypointMotion
from amp_ppo.mocap.formats.source_motion import Loop
from amp_ppo.mocap.formats.source_motion import RobotMotion
