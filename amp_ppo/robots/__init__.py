"""The robots references play on: models, presets, previews (MuJoCo, NumPy).

Below the experiment runner and the motion tooling, which both draw and
replay robots; above the data model.

  menagerie    where Playground's Menagerie robots come from
  presets      known targets (Go1, G1, Berkeley Humanoid) and sources, as data
  robot_model  an environment's robot (Playground name or MJCF), kinematic
               replay, foot soles against the ground
  contacts     stance detection shared by retargeting, checks and previews
  preview      image strips, GIF/MP4 and Brax's HTML viewer of a replay:
               MuJoCo-rendered where GL works, else stick figures
  render       MuJoCo's renderer on a robot: tracking camera, floor if none
  gl_backend   which GL backend (EGL, OSMesa) MuJoCo can render with here
  kinematic_gait  a computed gait of a free-floating robot, as a reference
                  (tests and benchmarks that need one fast)

Modules are imported one by one; this package imports nothing itself.
"""
