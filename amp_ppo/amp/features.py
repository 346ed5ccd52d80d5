"""AMP features: one function for reference frames and policy states alike.

A feature function maps one state's joint positions and velocities (q, qd)
to a vector [F]. The same function turns the reference motion's (qpos, qvel)
frames and the policy's states (q, qd of Brax's `pipeline_state`, or qpos,
qvel of an MJX `Data`) into features, so the two can never disagree in joint
order, units or velocity definitions. The default one adds body positions by
the environment's own forward kinematics. `feature_windows` records them
during training.
"""

import functools
from typing import Any, Callable, List, Optional, Sequence, Tuple

from brax import envs
from brax import kinematics as brax_kinematics
from brax import math as brax_math
import jax
import jax.numpy as jnp
import numpy as np

# (q [nq], qd [nv]) -> features [F], for one state.
FeatureFn = Callable[[jax.Array, jax.Array], jax.Array]

_MJ_FREE_JOINT = 0
_MJ_BALL_JOINT = 1


def physics_state(state: envs.State) -> Any:
  """The simulator state inside an environment state (Brax or MJX)."""
  pipeline_state = getattr(state, 'pipeline_state', None)
  if pipeline_state is not None:
    return pipeline_state
  data = getattr(state, 'data', None)
  if data is not None:
    return data
  raise ValueError(
      'AMP: the environment state has neither `pipeline_state` (Brax) nor '
      '`data` (MJX); pass amp_info_feature_key to read features from '
      'state.info instead.')


def _is_mjx_model(sys) -> bool:
  # Brax's System extends MJX's Model; only Brax's has `link_types`.
  return hasattr(sys, 'jnt_qposadr') and not hasattr(sys, 'link_types')


def physics_model(env: envs.Env) -> Any:
  """The environment's model: a Brax `System` or an MJX `Model`."""
  env = getattr(env, 'unwrapped', env)
  for name in ('sys', 'mjx_model'):
    model = getattr(env, name, None)
    if model is not None:
      return model
  raise ValueError(
      f'AMP: cannot find the physics model of {type(env).__name__} (no `sys` '
      'or `mjx_model`); pass amp_feature_fn and a reference of precomputed '
      '`features`, or amp_info_feature_key.')


def has_free_root(model) -> bool:
  if _is_mjx_model(model):
    return model.njnt > 0 and int(model.jnt_type[0]) == _MJ_FREE_JOINT
  return bool(model.link_types) and model.link_types[0] == 'f'


def quaternion_starts(model) -> Sequence[int]:
  """Indices in qpos where a 4-wide unit quaternion begins."""
  if _is_mjx_model(model):
    starts = []
    for joint_type, address in zip(np.asarray(model.jnt_type),
                                   np.asarray(model.jnt_qposadr)):
      if joint_type == _MJ_FREE_JOINT:
        starts.append(int(address) + 3)
      elif joint_type == _MJ_BALL_JOINT:
        starts.append(int(address))
    return starts
  starts, offset = [], 0
  q_widths = {'f': 7, 'b': 4, '1': 1, '2': 2, '3': 3}
  for link_type in model.link_types:
    if link_type == 'f':
      starts.append(offset + 3)
    elif link_type == 'b':
      starts.append(offset)
    offset += q_widths[link_type]
  return starts


def state_sizes(model):
  """(nq, nv) of the model."""
  if _is_mjx_model(model):
    return int(model.nq), int(model.nv)
  return int(model.q_size()), int(model.qd_size())


def _robot_bodies(model) -> Tuple[int, np.ndarray]:
  """MJX body ids of the free joint's body and of its subtree (root first).

  A scene may define bodies before the robot (props, terrain pieces), so the
  root is the body that owns the free joint, not body 1.
  """
  root = int(np.asarray(model.jnt_bodyid)[0])
  subtree = np.flatnonzero(np.asarray(model.body_rootid) == root)
  return root, subtree


def _root_and_key_points(model, kinematics_fn, key_sites, q, qd):
  """World-frame root pose/velocities and key point positions from (q, qd).

  Key points are the `key_sites` (e.g. the feet) where given, else every
  body of the robot but the root. Root entries assume the first joint is a
  free joint.
  """
  if _is_mjx_model(model):
    xpos, xquat, site_xpos = kinematics_fn(q, qd)
    root, subtree = _robot_bodies(model)
    key_pos = (site_xpos[key_sites] if key_sites is not None
               else xpos[subtree[1:]])
    # qvel's free-joint angular part is in the body frame.
    return dict(root_pos=xpos[root], root_rot=xquat[root], root_vel=qd[0:3],
                root_ang=brax_math.rotate(qd[3:6], xquat[root]),
                key_pos=key_pos)
  x, xd = kinematics_fn(q, qd)
  return dict(root_pos=x.pos[0], root_rot=x.rot[0], root_vel=xd.vel[0],
              root_ang=xd.ang[0], key_pos=x.pos[1:])


def _body_positions(model, kinematics_fn, q, qd):
  if _is_mjx_model(model):
    return kinematics_fn(q, qd)[0][1:]  # without the world body
  return kinematics_fn(q, qd)[0].pos


def _heading_inverse(rot: jax.Array) -> jax.Array:
  """Quaternion that undoes the yaw (rotation about world z) of `rot`."""
  forward = brax_math.rotate(jnp.array([1.0, 0.0, 0.0]), rot)
  yaw = jnp.arctan2(forward[1], forward[0])
  return jnp.array([jnp.cos(-yaw / 2), 0.0, 0.0, jnp.sin(-yaw / 2)])


def _free_root_parts(model, kinematics_fn, key_sites, q, qd):
  """(root and joint features, key point positions [3 K]) of a free robot."""
  s = _root_and_key_points(model, kinematics_fn, key_sites, q, qd)
  to_heading = _heading_inverse(s['root_rot'])
  local = lambda v: brax_math.rotate(v, to_heading)
  root_rot = brax_math.quat_mul(to_heading, s['root_rot'])
  # Two axes of the rotation matrix: continuous, unlike a quaternion's sign.
  # The forward axis has no sideways (y) part in the heading frame, which is
  # defined by it; that entry would be a constant 0.
  tangent = brax_math.rotate(jnp.array([1.0, 0.0, 0.0]), root_rot)[::2]
  normal = brax_math.rotate(jnp.array([0.0, 0.0, 1.0]), root_rot)
  key_points = jax.vmap(local)(s['key_pos'] - s['root_pos'])
  return jnp.concatenate([
      s['root_pos'][2:3], tangent, normal, local(s['root_vel']),
      local(s['root_ang']), q[7:], qd[6:]]), key_points.ravel()


def _fixed_base_parts(model, kinematics_fn, q, qd):
  """(q and qd, world body positions [3 B]) of a fixed-base system."""
  body_pos = _body_positions(model, kinematics_fn, q, qd)
  return jnp.concatenate([q, qd]), body_pos.ravel()


# Body coordinates closer than this (relative) over the probe poses count
# as constant or as copies of another feature.
_SAME_COLUMN_TOLERANCE = 1e-6
_PROBE_POSES = 16


def _mj_model(env: envs.Env, model) -> Optional[Any]:
  """The MuJoCo model behind a Brax System or an MJX environment, if any."""
  mj_model = getattr(getattr(env, 'unwrapped', env), 'mj_model', None)
  return mj_model if mj_model is not None else getattr(model, 'mj_model',
                                                       None)


def _informative_body_columns(mj_model) -> Optional[np.ndarray]:
  """World body coordinates that vary and repeat no q; None: keep all.

  A body fixed to the world has constant coordinates, and a body on a
  slider repeats that joint's q; both would only add dead or duplicate
  discriminator inputs, and the start-up report would flag them. Decided
  with MuJoCo's own forward kinematics at random poses, on the host, so
  building the feature function compiles nothing.
  """
  import mujoco  # pylint: disable=g-import-not-at-top
  if mj_model is None:
    return None
  data = mujoco.MjData(mj_model)
  rng = np.random.default_rng(0)
  poses, bodies = [], []
  for _ in range(_PROBE_POSES):
    data.qpos[:] = mj_model.qpos0 + rng.uniform(-0.5, 0.5, mj_model.nq)
    mujoco.mj_normalizeQuat(mj_model, data.qpos)
    mujoco.mj_kinematics(mj_model, data)
    poses.append(data.qpos.copy())
    bodies.append(data.xpos[1:].ravel().copy())  # without the world body
  columns = list(np.asarray(poses).T)
  keep = []
  for index, column in enumerate(np.asarray(bodies).T):
    tolerance = _SAME_COLUMN_TOLERANCE * (1.0 + np.max(np.abs(column)))
    if np.ptp(column) <= tolerance:
      continue
    if any(np.max(np.abs(column - other)) <= tolerance for other in columns):
      continue
    columns.append(column)
    keep.append(index)
  if len(keep) == 3 * (mj_model.nbody - 1):
    return None
  return np.asarray(keep, np.int32)


def _features(parts_fn, body_columns, q, qd) -> jax.Array:
  own, bodies = parts_fn(q, qd)
  if body_columns is not None:
    bodies = bodies[body_columns]
  return jnp.concatenate([own, bodies])


def _kinematics_fn(env: envs.Env, model):
  """(q, qd) -> world-frame body poses, by the model's forward kinematics."""
  if _is_mjx_model(model):
    from mujoco import mjx  # pylint: disable=g-import-not-at-top
    # A pure-JAX copy of the model: the environment's own may use another
    # MJX implementation (e.g. Warp), whose kernels this does not need.
    mj_model = getattr(getattr(env, 'unwrapped', env), 'mj_model', None)
    if mj_model is not None:
      model = mjx.put_model(mj_model, impl='jax')
    blank = mjx.make_data(model)

    def mjx_kinematics(q, qd):
      data = mjx.kinematics(model, blank.replace(qpos=q, qvel=qd))
      return data.xpos, data.xquat, data.site_xpos

    return mjx_kinematics
  return functools.partial(brax_kinematics.forward, model)


def _feet_sites(env: envs.Env) -> Optional[np.ndarray]:
  """MuJoCo site ids of the robot's feet, where the environment names them.

  MuJoCo Playground's locomotion environments keep them in `_feet_site_id`.
  """
  ids = getattr(getattr(env, 'unwrapped', env), '_feet_site_id', None)
  return None if ids is None else np.asarray(ids, np.int32).ravel()


def default_feature_fn(env: envs.Env) -> FeatureFn:
  """(q, qd) -> features for `env`'s model, via forward kinematics.

  Computed from (q, qd) alone, never from the simulator's other state: some
  Brax backends (positional, spring) carry body transforms that drift from
  forward kinematics of q, and reference frames only have q and qd.

  Free-floating robots: root height, root orientation and linear/angular
  velocity in the heading frame (so style does not depend on which way the
  robot faces), joint positions and velocities, and the position of every
  body of the robot (the free joint's subtree) relative to the root in the
  heading frame; where the environment names the feet (MuJoCo Playground's
  locomotion robots), the feet instead of every body, as locomotion AMP
  setups use key points rather than the whole tree. Fixed-base systems: q, qd and the world body coordinates
  that vary and copy no other feature over random probe states (a cart's
  position repeats its slider's q; a fixed body's never changes).
  """
  model = physics_model(env)
  kinematics_fn = _kinematics_fn(env, model)
  if has_free_root(model):
    parts_fn = functools.partial(_free_root_parts, model, kinematics_fn,
                                 _feet_sites(env) if _is_mjx_model(model)
                                 else None)
    return functools.partial(_features, parts_fn, None)
  parts_fn = functools.partial(_fixed_base_parts, model, kinematics_fn)
  return functools.partial(
      _features, parts_fn, _informative_body_columns(_mj_model(env, model)))


def state_frames(feature_fn: FeatureFn,
                 states: Sequence[Tuple[np.ndarray, np.ndarray]]
                ) -> List[np.ndarray]:
  """Float32 feature frames [T, F] of each (qpos [T, nq], qvel [T, nv]).

  How a state reference becomes feature frames, for training (`build`) and
  evaluation alike. One jitted function serves every sequence, so sequences
  of one length compile once.
  """
  to_frames = jax.jit(jax.vmap(feature_fn))
  return [np.asarray(to_frames(jnp.asarray(qpos), jnp.asarray(qvel)),
                     np.float32)
          for qpos, qvel in states]


def joint_state(state: envs.State) -> Tuple[jax.Array, jax.Array]:
  """(q, qd) of an environment state, Brax or MJX."""
  physics = physics_state(state)
  if hasattr(physics, 'qpos'):
    return physics.qpos, physics.qvel
  return physics.q, physics.qd


def frame_fn_for(env: envs.Env, feature_fn: Optional[FeatureFn],
                 info_feature_key: Optional[str]):
  """The env-state -> frame function: from state.info, or from (q, qd)."""
  if info_feature_key is not None:
    return lambda state: jnp.asarray(state.info[info_feature_key],
                                     jnp.float32)
  feature_fn = feature_fn or default_feature_fn(env)
  return lambda state: jnp.asarray(feature_fn(*joint_state(state)),
                                   jnp.float32)
