"""For preview tests: a bare robot, and a machine without OpenGL.

The robot has two legs, no light and no floor: small enough to load and
render in milliseconds, bare like a robot file a user passes with
--env robot.xml.
"""

import pathlib

import numpy as np

from amp_ppo.robots import gl_backend
from amp_ppo.robots import preview
from amp_ppo.robots import robot_model

FEET = ('left_foot', 'right_foot')
# Where gl_backend.choose() leaves its answer for child processes.
GL_ANSWER_VARIABLES = ('AMP_PPO_GL_BACKEND', 'AMP_PPO_GL_RENDERER',
                       'AMP_PPO_GL_NOTE')
_LEG = """
      <body name="{side}_leg" pos="0 {y} -0.08">
        <joint name="{side}_hip" axis="0 1 0" range="-1 1"/>
        <geom type="capsule" fromto="0 0 0 0 0 -0.45" size="0.03"
              rgba="0.2 0.3 0.8 1" group="{group}"/>
        <site name="{side}_foot" pos="0 0 -0.48"/>
      </body>"""


def write(path: pathlib.Path, visible: bool = True,
          floor: bool = False) -> str:
  """The robot's MJCF; `visible=False` puts its geoms in hidden group 5."""
  group = 0 if visible else 5
  plane = '<geom type="plane" size="0 0 0.1"/>' if floor else ''
  legs = ''.join(_LEG.format(side=side, y=y, group=group)
                 for side, y in (('left', 0.07), ('right', -0.07)))
  path.write_text(f"""<mujoco>
  <worldbody>
    {plane}
    <body name="torso" pos="0 0 0.6">
      <freejoint/>
      <geom type="box" size="0.15 0.1 0.08" rgba="0.8 0.3 0.2 1"
            group="{group}"/>{legs}
    </body>
  </worldbody>
</mujoco>""")
  return str(path)


def load(path: pathlib.Path, visible: bool = True,
         floor: bool = False) -> robot_model.RobotModel:
  return robot_model.load_robot(write(path, visible, floor), feet=FEET)


def swinging_qpos(robot: robot_model.RobotModel, frames: int,
                  phase: float = 0.0) -> np.ndarray:
  """[frames, nq]: standing at qpos0, the legs swinging in opposition."""
  qpos = np.tile(robot.model.qpos0, (frames, 1))
  swing = 0.6 * np.sin(np.linspace(0, np.pi, frames) + phase)
  qpos[:, 7], qpos[:, 8] = swing, -swing
  qpos[:, 0] = np.linspace(0.0, 0.3, frames)  # walking forward
  return qpos


def force_no_gl(monkeypatch, reason: str) -> None:
  """As on a machine without EGL and OSMesa: every backend probe fails."""
  for variable in GL_ANSWER_VARIABLES:
    monkeypatch.delenv(variable, raising=False)
  monkeypatch.setattr(gl_backend, '_probe', lambda name: (False, reason))
  monkeypatch.setattr(preview, '_NOTED', set())
