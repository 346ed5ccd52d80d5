"""AMP features: one function for reference frames and policy states alike.

A feature function maps one state's joint positions and velocities (q, qd)
to a vector [F]. The same function turns the reference motion's (qpos, qvel)
frames and the policy's states (q, qd of Brax's `pipeline_state`, or qpos,
qvel of an MJX `Data`) into features, so the two can never disagree in joint
order, units or velocity definitions. The default one adds body positions by
the environment's own forward kinematics.

`AmpFeatureWrapper` sits directly on the raw environment, beneath Brax's
episode and auto-reset wrappers, and writes the window of the last
`history_length` frames into `state.info` at every step. It therefore sees the
post-step state before an auto-reset replaces it, and a window never spans two
episodes.
"""

import functools
from typing import Any, Callable, Optional, Sequence, Tuple

from brax import envs
from brax import kinematics as brax_kinematics
from brax import math as brax_math
import jax
import jax.numpy as jnp
import numpy as np

# (q [nq], qd [nv]) -> features [F], for one state.
FeatureFn = Callable[[jax.Array, jax.Array], jax.Array]

# Keys this module adds to `state.info`.
WINDOW_KEY = 'amp_window'          # [H, F]: frames t-H+2 .. t+1, pre-reset.
_HISTORY_KEY = 'amp_history'       # [H-1, F]: the last H-1 frames.
_FIRST_FRAME_KEY = 'amp_first_frame'  # [F]: frame of the episode's start.
_PREVIOUS_OBS_KEY = 'amp_previous_obs'  # obs this wrapper last returned.

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


def _root_and_bodies(model, kinematics_fn, q, qd):
  """World-frame root pose/velocities and body positions from (q, qd).

  Root entries assume the first joint is a free joint.
  """
  if _is_mjx_model(model):
    xpos, xquat = kinematics_fn(q, qd)
    # Body 0 is the world; qvel's free-joint angular part is in the body frame.
    return dict(root_pos=xpos[1], root_rot=xquat[1], root_vel=qd[0:3],
                root_ang=brax_math.rotate(qd[3:6], xquat[1]),
                body_pos=xpos[1:])
  x, xd = kinematics_fn(q, qd)
  return dict(root_pos=x.pos[0], root_rot=x.rot[0], root_vel=xd.vel[0],
              root_ang=xd.ang[0], body_pos=x.pos)


def _body_positions(model, kinematics_fn, q, qd):
  if _is_mjx_model(model):
    return kinematics_fn(q, qd)[0][1:]  # without the world body
  return kinematics_fn(q, qd)[0].pos


def _heading_inverse(rot: jax.Array) -> jax.Array:
  """Quaternion that undoes the yaw (rotation about world z) of `rot`."""
  forward = brax_math.rotate(jnp.array([1.0, 0.0, 0.0]), rot)
  yaw = jnp.arctan2(forward[1], forward[0])
  return jnp.array([jnp.cos(-yaw / 2), 0.0, 0.0, jnp.sin(-yaw / 2)])


def _free_root_features(model, kinematics_fn, q, qd) -> jax.Array:
  s = _root_and_bodies(model, kinematics_fn, q, qd)
  to_heading = _heading_inverse(s['root_rot'])
  local = lambda v: brax_math.rotate(v, to_heading)
  root_rot = brax_math.quat_mul(to_heading, s['root_rot'])
  # Two axes of the rotation matrix: continuous, unlike a quaternion's sign.
  tangent = brax_math.rotate(jnp.array([1.0, 0.0, 0.0]), root_rot)
  normal = brax_math.rotate(jnp.array([0.0, 0.0, 1.0]), root_rot)
  bodies = jax.vmap(local)(s['body_pos'][1:] - s['root_pos'])
  return jnp.concatenate([
      s['root_pos'][2:3], tangent, normal, local(s['root_vel']),
      local(s['root_ang']), q[7:], qd[6:], bodies.ravel()])


def _fixed_base_features(model, kinematics_fn, q, qd) -> jax.Array:
  body_pos = _body_positions(model, kinematics_fn, q, qd)
  return jnp.concatenate([q, qd, body_pos.ravel()])


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
      return data.xpos, data.xquat

    return mjx_kinematics
  return functools.partial(brax_kinematics.forward, model)


def default_feature_fn(env: envs.Env) -> FeatureFn:
  """(q, qd) -> features for `env`'s model, via forward kinematics.

  Computed from (q, qd) alone, never from the simulator's other state: some
  Brax backends (positional, spring) carry body transforms that drift from
  forward kinematics of q, and reference frames only have q and qd.

  Free-floating robots: root height, root orientation and linear/angular
  velocity in the heading frame (so style does not depend on which way the
  robot faces), joint positions and velocities, and every body's position
  relative to the root in the heading frame. Fixed-base systems: q, qd and
  world body positions.
  """
  model = physics_model(env)
  kinematics_fn = _kinematics_fn(env, model)
  if has_free_root(model):
    return functools.partial(_free_root_features, model, kinematics_fn)
  return functools.partial(_fixed_base_features, model, kinematics_fn)


def joint_state(state: envs.State) -> Tuple[jax.Array, jax.Array]:
  """(q, qd) of an environment state, Brax or MJX."""
  physics = physics_state(state)
  if hasattr(physics, 'qpos'):
    return physics.qpos, physics.qvel
  return physics.q, physics.qd


class AmpFeatureWrapper(envs.Wrapper):
  """Records a window of AMP features at every step, before any auto-reset."""

  def __init__(self, env: envs.Env, frame_fn: Callable[[envs.State], jax.Array],
               history_length: int, frame_is_from_info: bool):
    super().__init__(env)
    self._frame_fn = frame_fn
    self._history_length = history_length
    self._frame_is_from_info = frame_is_from_info
    # A window of (s, s') from physics needs nothing from the previous step;
    # longer windows and info-provided features must find episode starts.
    self._tracks_history = history_length > 2 or frame_is_from_info

  def reset(self, rng: jax.Array) -> envs.State:
    state = self.env.reset(rng)
    frame = self._frame_fn(state)
    window = jnp.broadcast_to(frame, (self._history_length,) + frame.shape)
    state.info[WINDOW_KEY] = window
    if self._tracks_history:
      state.info[_HISTORY_KEY] = window[1:]
      state.info[_FIRST_FRAME_KEY] = frame
      state.info[_PREVIOUS_OBS_KEY] = state.obs
    return state

  def step(self, state: envs.State, action: jax.Array) -> envs.State:
    history = self._history_before_step(state)
    next_state = self.env.step(state, action)
    window = jnp.concatenate([history, self._frame_fn(next_state)[None]])
    next_state.info[WINDOW_KEY] = window
    if self._tracks_history:
      next_state.info[_HISTORY_KEY] = window[1:]
      next_state.info[_PREVIOUS_OBS_KEY] = next_state.obs
    return next_state

  def _history_before_step(self, state: envs.State) -> jax.Array:
    if not self._tracks_history:
      return self._frame_fn(state)[None]
    # An outer auto-reset swaps in the first obs and physics state but keeps
    # this wrapper's info; an obs that is not the one we returned last means
    # the episode restarted, and the history must restart with it.
    restarted = _trees_differ(state.obs, state.info[_PREVIOUS_OBS_KEY])
    if self._frame_is_from_info:
      start_frame = state.info[_FIRST_FRAME_KEY]
    else:
      start_frame = self._frame_fn(state)
    fresh = jnp.broadcast_to(start_frame,
                             (self._history_length - 1,) + start_frame.shape)
    return jnp.where(restarted, fresh, state.info[_HISTORY_KEY])


def _trees_differ(a, b) -> jax.Array:
  leaves = jax.tree_util.tree_leaves(
      jax.tree_util.tree_map(lambda x, y: jnp.any(x != y), a, b))
  return functools.reduce(jnp.logical_or, leaves, jnp.bool_(False))


def frame_fn_for(env: envs.Env, feature_fn: Optional[FeatureFn],
                 info_feature_key: Optional[str]):
  """The env-state -> frame function, and whether it reads state.info."""
  if info_feature_key is not None:
    return (lambda state: jnp.asarray(state.info[info_feature_key],
                                      jnp.float32)), True
  feature_fn = feature_fn or default_feature_fn(env)
  return (lambda state: jnp.asarray(feature_fn(*joint_state(state)),
                                    jnp.float32)), False
