"""Which OpenGL backend MuJoCo's offscreen renderer can use here.

mujoco reads MUJOCO_GL once, when it is first imported, and picks its GL
context class then (mujoco/rendering/classic/gl_context.py); unset, Linux
gets GLFW, which needs a display. A backend that cannot start may abort the
process inside C, so `choose()` tries each candidate in a child process and
sets MUJOCO_GL to the first that renders. It must run before anything
imports mujoco: `python -m amp_ppo.main`, `python -m amp_ppo.mocap` and the
tests' conftest call it first. The answer travels to child processes
(pytest workers, subprocess tests) in the environment, so they do not probe
again. This module imports no mujoco itself.
"""

import dataclasses
import os
import platform
import subprocess
import sys
from typing import List, Optional, Tuple

GL_VARIABLE = 'MUJOCO_GL'
# Linux: EGL on GPU machines (and through Mesa's software device on some CPU
# machines), else OSMesa (Debian's libosmesa6). macOS: CGL needs no window.
CANDIDATES = {'Linux': ('egl', 'osmesa'),
              'Darwin': ('cgl', 'glfw')}.get(platform.system(), ('glfw',))
# The answer for this process and its children: the backend that rendered
# (MUJOCO_GL is then set to it) with its OpenGL renderer's name, or '!' and
# the MUJOCO_GL that was tried ('!' alone: unset) with the reason.
_ANSWER_VARIABLE = 'AMP_PPO_GL_BACKEND'
_RENDERER_VARIABLE = 'AMP_PPO_GL_RENDERER'
_NOTE_VARIABLE = 'AMP_PPO_GL_NOTE'
# OpenGL renderer names of Mesa's CPU rasterisers.
_SOFTWARE_RENDERERS = ('llvmpipe', 'softpipe', 'swrast', 'software')
_PROBE_TIMEOUT_SECONDS = 60
_PROBE = """
import mujoco
model = mujoco.MjModel.from_xml_string(
    '<mujoco><worldbody><light pos="0 0 1"/><geom size=".1"/></worldbody>'
    '</mujoco>')
data = mujoco.MjData(model)
mujoco.mj_forward(model, data)
renderer = mujoco.Renderer(model, 8, 8)
renderer.update_scene(data)
pixels = renderer.render()
from OpenGL import GL
print(GL.glGetString(GL.GL_RENDERER).decode())
renderer.close()
assert pixels.any(), 'the test scene rendered black'
"""
_INSTALL_HINT = ('install OSMesa (Debian: apt-get install libosmesa6) and '
                 'PyOpenGL, or run where EGL works')


@dataclasses.dataclass(frozen=True)
class Backend:
  """The MUJOCO_GL value that renders (None: none does) and why not.

  Attributes:
    name: the MUJOCO_GL value, e.g. 'egl'; None when none renders.
    note: why none renders, and what to install.
    renderer: OpenGL's name for the renderer, e.g. 'llvmpipe (LLVM 15...)'.
  """
  name: Optional[str]
  note: str = ''
  renderer: str = ''

  @property
  def available(self) -> bool:
    return self.name is not None

  @property
  def software(self) -> bool:
    """Whether the CPU rasterises (OSMesa, or EGL on Mesa's llvmpipe)."""
    return any(word in self.renderer.lower() for word in _SOFTWARE_RENDERERS)


def choose() -> Backend:
  """Probes once per process tree; sets MUJOCO_GL unless the user did.

  Call before anything imports mujoco. With MUJOCO_GL set, only that
  backend is tried.
  """
  user_choice = os.environ.get(GL_VARIABLE, '').strip().lower()
  answer = os.environ.get(_ANSWER_VARIABLE)
  if answer == user_choice and answer:
    return Backend(answer, renderer=os.environ.get(_RENDERER_VARIABLE, ''))
  if answer == '!' + user_choice:
    return Backend(None, os.environ.get(_NOTE_VARIABLE, ''))
  candidates = (user_choice,) if user_choice else CANDIDATES
  failures = []
  backend = None
  for name in candidates:
    rendered, message = _probe(name)
    if rendered:
      backend = Backend(name, renderer=message)
      break
    failures.append(f'{name}: {message}')
  if backend is None:
    backend = Backend(None, _failure_note(user_choice, failures))
  else:
    os.environ[GL_VARIABLE] = backend.name
  os.environ[_ANSWER_VARIABLE] = backend.name or '!' + user_choice
  os.environ[_RENDERER_VARIABLE] = backend.renderer
  os.environ[_NOTE_VARIABLE] = backend.note
  return backend


def status() -> Backend:
  """The backend this process can render with now, probing if need be.

  Unavailable also when mujoco was imported before MUJOCO_GL was chosen:
  it keeps the context class it picked then.
  """
  backend = choose()
  if not backend.available:
    return backend
  imported = _imported_context()
  if imported not in (None, backend.name):
    return Backend(None, (
        f'mujoco was imported with the {imported} GL context before '
        f'MUJOCO_GL was chosen: start Python with MUJOCO_GL={backend.name}, '
        'or call amp_ppo.robots.gl_backend.choose() before importing '
        'mujoco.'))
  return backend


def _imported_context() -> Optional[str]:
  """The GL backend of an imported mujoco ('egl', 'osmesa', 'glfw', ...)."""
  mujoco = sys.modules.get('mujoco')
  context = getattr(mujoco, 'GLContext', None)
  if context is None:
    return None
  return context.__module__.rsplit('.', 1)[-1]


def _probe(name: str) -> Tuple[bool, str]:
  """Whether MuJoCo renders with MUJOCO_GL=name in a child process.

  Returns:
    (True, OpenGL's renderer name), or (False, the error's last line).
  """
  environment = dict(os.environ, **{GL_VARIABLE: name})
  try:
    result = subprocess.run([sys.executable, '-c', _PROBE], env=environment,
                            capture_output=True, text=True, check=False,
                            timeout=_PROBE_TIMEOUT_SECONDS)
  except subprocess.TimeoutExpired:
    return False, f'no frame within {_PROBE_TIMEOUT_SECONDS} s'
  if result.returncode == 0:
    lines = result.stdout.strip().splitlines()
    return True, lines[-1] if lines else ''
  lines = [line for line in result.stderr.splitlines() if line.strip()]
  error = lines[-1].strip() if lines else f'exit status {result.returncode}'
  return False, error if len(error) <= 160 else error[:159] + '…'


def _failure_note(user_choice: str, failures: List[str]) -> str:
  tried = '; '.join(failures)
  if user_choice:
    return (f'MuJoCo cannot render with MUJOCO_GL={user_choice} ({tried}): '
            'drawing stick figures instead — unset MUJOCO_GL to try '
            f'{" and ".join(CANDIDATES)}, or {_INSTALL_HINT}.')
  return (f'MuJoCo cannot render here ({tried}): drawing stick figures '
          f'instead — {_INSTALL_HINT}.')
