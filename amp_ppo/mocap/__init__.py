"""Outside motion capture onto an environment's robot: `python -m amp_ppo.mocap`.

The tooling layer above the data model (`amp_ppo.motion`) and the robot layer
(`amp_ppo.robots`); nothing below imports it.

  formats   readers: BVH, CSV, motion_imitation text, the source data model
  retarget  same-topology joint mapping, human keypoints by IK, ground
            contact, finite-difference velocities
  checks    joint limits, feet against the ground, root height, velocities,
            jumps, fps; a JSON-able report
  convert   read, retarget, check and save one file (the CLI's `convert`)

Modules are imported one by one; this package imports nothing itself.
"""
