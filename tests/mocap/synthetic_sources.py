"""Small, valid motion files written by the tests: a BVH, robot MJCF."""

import math
import pathlib

import numpy as np

# A human skeleton in centimetres, Y up, facing +Z: hips, a spine and two
# legs with end sites at the toes.
HIERARCHY = """HIERARCHY
ROOT Hips
{
  OFFSET 0.0 0.0 0.0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Chest
  {
    OFFSET 0.0 25.0 0.0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0.0 30.0 0.0
    }
  }
  JOINT LeftHip
  {
    OFFSET 9.0 0.0 0.0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT LeftKnee
    {
      OFFSET 0.0 -45.0 0.0
      CHANNELS 3 Zrotation Xrotation Yrotation
      JOINT LeftAnkle
      {
        OFFSET 0.0 -42.0 0.0
        CHANNELS 3 Zrotation Xrotation Yrotation
        End Site
        {
          OFFSET 0.0 -6.0 15.0
        }
      }
    }
  }
  JOINT RightHip
  {
    OFFSET -9.0 0.0 0.0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT RightKnee
    {
      OFFSET 0.0 -45.0 0.0
      CHANNELS 3 Zrotation Xrotation Yrotation
      JOINT RightAnkle
      {
        OFFSET 0.0 -42.0 0.0
        CHANNELS 3 Zrotation Xrotation Yrotation
        End Site
        {
          OFFSET 0.0 -6.0 15.0
        }
      }
    }
  }
}
"""
HIP_HEIGHT_CM = 45.0 + 42.0 + 6.0


def stepping_rows(num_frames: int, fps: float) -> np.ndarray:
  """Channel values of a person stepping in place, one leg at a time."""
  period = 1.2  # seconds per left-right cycle
  rows = []
  for frame in range(num_frames):
    phase = 2 * math.pi * frame / fps / period
    left, right = max(0.0, math.sin(phase)), max(0.0, -math.sin(phase))
    row = [0.0, HIP_HEIGHT_CM, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    for lift in (left, right):
      # Hip flexes forward (negative X), knee back, ankle keeps foot level.
      row += [0.0, -35.0 * lift, 0.0, 0.0, 70.0 * lift, 0.0, 0.0,
              -35.0 * lift, 0.0]
    rows.append(row)
  return np.array(rows)


def write_bvh(path: pathlib.Path, rows: np.ndarray, fps: float = 30.0,
              hierarchy: str = HIERARCHY) -> pathlib.Path:
  lines = [hierarchy.rstrip(), 'MOTION', f'Frames: {len(rows)}',
           f'Frame Time: {1.0 / fps:.6f}']
  lines += [' '.join(f'{value:.4f}' for value in row) for row in rows]
  path.write_text('\n'.join(lines) + '\n')
  return path


# A free body with one hinged leg ending in a foot site and sphere: enough
# for velocities, limits and feet, and fast to load.
ROBOT_XML = """
<mujoco>
  <compiler angle="radian"/>
  <worldbody>
    <geom name="floor" type="plane" size="5 5 0.1"/>
    <body name="base" pos="0 0 0.5">
      <freejoint/>
      <geom type="box" size="0.2 0.1 0.05"/>
      <body name="leg" pos="0 0 0">
        <joint name="hip" type="hinge" axis="0 1 0" range="-1 1"/>
        <geom type="capsule" fromto="0 0 0 0 0 -0.4" size="0.02"
              contype="0" conaffinity="0"/>
        <site name="foot" pos="0 0 -0.45"/>
        <geom name="foot" type="sphere" pos="0 0 -0.45" size="0.05"/>
      </body>
    </body>
  </worldbody>
</mujoco>
"""


def write_robot(path: pathlib.Path) -> str:
  path.write_text(ROBOT_XML)
  return str(path)
