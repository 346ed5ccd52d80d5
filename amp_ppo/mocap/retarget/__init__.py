"""Retargeting outside motion onto an environment's MuJoCo model.

Needs `mujoco` and, for inverse kinematics, `mink` (the `motion` extra).
The robot model and presets are in `amp_ppo.robots`.


  joint_mapping      same-topology robots: sign and offset per joint, base
                     rotation, root scaled by leg length
  human_to_humanoid  BVH keypoints onto a humanoid by IK
  keypoint_ik        frame-by-frame mink IK within joint limits
  ground             stance feet onto z = 0 (root height, then foot IK)
  velocities         qvel by finite differences with mj_differentiatePos,
                     loops wrapped

Modules are imported one by one (`from amp_ppo.mocap.retarget import
joint_mapping`); this package imports nothing itself.
"""
