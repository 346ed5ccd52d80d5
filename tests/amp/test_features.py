"""Feature functions: from (q, qd) only, heading-free, and the default one's
choice of bodies and dimensions."""

from brax import envs
import jax
import jax.numpy as jnp
import mujoco
from mujoco import mjx
import numpy as np
import pytest

from amp_ppo.amp import build
from amp_ppo.amp import features
from amp_ppo import motion as motion_lib
from amp_ppo.demos import cartpole_sway


@pytest.fixture(scope='module')
def positional_ant():
  return envs.get_environment('ant', backend='positional')


@pytest.mark.parametrize('env_name', ['inverted_pendulum', 'ant'])
def test_features_depend_on_q_and_qd_only(env_name):
  # Positional Brax carries body transforms that drift from forward
  # kinematics of q; features must not read them, or reference frames
  # (which have only q and qd) and policy states would disagree.
  env = envs.get_environment(env_name, backend='positional')
  feature_fn = features.default_feature_fn(env)
  frame_fn = features.frame_fn_for(env, None, None)
  state = jax.jit(env.reset)(jax.random.PRNGKey(1))
  step = jax.jit(env.step)  # One wrapper: each new one compiles anew.
  for _ in range(3):
    state = step(state, jnp.full((env.action_size,), 0.3))
  from_policy = frame_fn(state)
  rebuilt = env.pipeline_init(state.pipeline_state.q,
                              state.pipeline_state.qd)
  drift = np.abs(rebuilt.x.pos - state.pipeline_state.x.pos).max()
  assert drift > 1e-5  # the trap exists in this backend
  from_reference = feature_fn(state.pipeline_state.q,
                              state.pipeline_state.qd)
  np.testing.assert_array_equal(from_policy, from_reference)
  assert np.all(np.isfinite(from_policy))


def test_free_root_features_ignore_heading(positional_ant):
  env = positional_ant
  feature_fn = jax.jit(features.default_feature_fn(env))
  q = np.array(env.sys.init_q)
  qd = np.zeros(env.sys.qd_size())
  qd[0] = 1.0  # moving along the facing direction
  turned_q, turned_qd = q.copy(), qd.copy()
  angle = 1.1  # yaw the whole robot, velocity included
  turned_q[3:7] = [np.cos(angle / 2), 0, 0, np.sin(angle / 2)]
  turned_qd[:2] = [np.cos(angle), np.sin(angle)]
  np.testing.assert_allclose(feature_fn(q, qd),
                             feature_fn(turned_q, turned_qd), atol=1e-4)


def test_quaternion_starts(positional_ant):
  assert list(features.quaternion_starts(positional_ant.sys)) == [3]
  pendulum = envs.get_environment('inverted_pendulum')
  assert list(features.quaternion_starts(pendulum.sys)) == []


_ROBOT = """
    <body name="torso" pos="0 0 1">
      <freejoint/>
      <geom type="box" size="0.2 0.1 0.05" mass="1"/>
      <body name="leg" pos="0.2 0 0">
        <joint name="hip" type="hinge" axis="0 1 0"/>
        <geom type="capsule" fromto="0 0 0 0 0 -0.4" size="0.03" mass="0.2"/>
        <body name="foot" pos="0 0 -0.4">
          <joint name="knee" type="hinge" axis="0 1 0"/>
          <geom type="sphere" size="0.04" mass="0.1"/>
        </body>
      </body>
    </body>"""

_PROP = """
    <body name="crate" pos="3 1 0.5">
      <geom type="box" size="0.5 0.5 0.5"/>
    </body>"""


class _MjxScene:
  """The parts of an MJX environment that the feature function reads."""

  def __init__(self, bodies: str):
    self.mj_model = mujoco.MjModel.from_xml_string(
        f'<mujoco><worldbody>{bodies}</worldbody></mujoco>')
    self.mjx_model = mjx.put_model(self.mj_model)


def _random_states(model, n=5):
  rng = np.random.default_rng(1)
  q = np.asarray(model.qpos0) + rng.uniform(-0.4, 0.4, (n, model.nq))
  q[:, 3:7] /= np.linalg.norm(q[:, 3:7], axis=1, keepdims=True)
  qd = rng.standard_normal((n, model.nv))
  return jnp.asarray(q, jnp.float32), jnp.asarray(qd, jnp.float32)


def test_free_root_is_the_body_of_the_free_joint_not_body_1():
  alone, behind_a_prop = _MjxScene(_ROBOT), _MjxScene(_PROP + _ROBOT)
  assert int(behind_a_prop.mj_model.jnt_bodyid[0]) == 2  # the premise
  q, qd = _random_states(alone.mj_model)
  want = jax.jit(jax.vmap(features.default_feature_fn(alone)))(q, qd)
  got = jax.jit(jax.vmap(features.default_feature_fn(behind_a_prop)))(q, qd)
  # The prop's fixed pose is no part of the robot's style.
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def _cartpole_features():
  env = envs.get_environment(cartpole_sway.ENV_NAME,
                             backend=cartpole_sway.ENV_BACKEND)
  feature_fn = jax.jit(jax.vmap(features.default_feature_fn(env)))
  motion = motion_lib.load_reference(cartpole_sway.BUNDLED_REFERENCE)
  reference = np.asarray(feature_fn(
      jnp.asarray(motion_lib.concatenated(motion, 'qpos')),
      jnp.asarray(motion_lib.concatenated(motion, 'qvel'))))
  starts = jax.jit(jax.vmap(env.reset))(
      jax.random.split(jax.random.PRNGKey(0), 16))
  initial = np.asarray(feature_fn(starts.pipeline_state.q,
                                  starts.pipeline_state.qd))
  return reference, initial


def test_the_default_demo_has_no_constant_or_duplicate_feature():
  reference, initial = _cartpole_features()
  report = build.feature_report(reference, initial)
  assert report['constant_dims'] == []
  assert report['duplicate_dims'] == []
  # The cart's and the pole's body positions only repeat q[0] or stay put;
  # what is left is the state itself.
  assert reference.shape[1] == 4


def test_feature_report_names_constant_and_duplicate_dimensions():
  rng = np.random.default_rng(0)
  frames = rng.standard_normal((32, 3))
  frames = np.concatenate([frames, frames[:, 1:2], np.ones((32, 1))], axis=1)
  report = build.feature_report(frames[:20], frames[20:])
  assert report['constant_dims'] == [4]
  assert report['duplicate_dims'] == [(1, 3)]
