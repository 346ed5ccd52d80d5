"""The reference-motion data model: clips of frames and the motion they form.

A `ReferenceMotion` is one or more `Clip`s of one kind, state frames (qpos and
qvel) or precomputed discriminator features, and one frame width per field.
Clips are checked when made, so every consumer can rely on that structure.
A clip that loops says how it continues after its last frame (`Loop`).
"""

import dataclasses
import math
from typing import Optional, Tuple

import numpy as np

# Largest array (in bytes, counting at least 4 bytes per element since frames
# become float32) that a reference may hold: a file declaring more is refused
# from its npy header before anything is allocated, and resampling refuses to
# produce more. Read at call time, so it can be changed here.
MAX_ARRAY_BYTES = 2 * 1024**3

STATE_FIELDS = ('qpos', 'qvel')
FRAME_FIELDS = ('qpos', 'qvel', 'features')
FRAME_SHAPES = {'qpos': '[T, nq]', 'qvel': '[T, nv]', 'features': '[T, F]'}

# A loop as one integer (the npz field clip_loops): bits that OR together.
# 0 does not loop; 3 is motion_imitation's "Wrap" default, Loop().
LOOPS = 1
OFFSET_POSITION = 2
OFFSET_HEADING = 4
LOOP_CODES = (0, LOOPS, LOOPS | OFFSET_POSITION, LOOPS | OFFSET_HEADING,
              LOOPS | OFFSET_POSITION | OFFSET_HEADING)


@dataclasses.dataclass(frozen=True)
class Loop:
  """How a looping clip continues after its last frame.

  The clip is one cycle whose last frame is the same instant as its first
  (the convention of motion_imitation's "LoopMode": "Wrap" files). The next
  cycle repeats the frames moved by the root's displacement over the cycle:
  its ground-plane translation when `offset_position`, its turn about the
  vertical when `offset_heading`.
  """
  offset_position: bool = True
  offset_heading: bool = False


def loop_code(loop: Optional[Loop]) -> int:
  """The integer a reference file stores for a loop (0: does not loop)."""
  if loop is None:
    return 0
  return (LOOPS | (OFFSET_POSITION if loop.offset_position else 0)
          | (OFFSET_HEADING if loop.offset_heading else 0))


def loop_from_code(code: int) -> Optional[Loop]:
  """The loop an integer of LOOP_CODES stands for (None: does not loop)."""
  if code not in LOOP_CODES:
    raise ValueError(f'loop code {code!r} is not one of {LOOP_CODES}.')
  if not code & LOOPS:
    return None
  return Loop(offset_position=bool(code & OFFSET_POSITION),
              offset_heading=bool(code & OFFSET_HEADING))


@dataclasses.dataclass(frozen=True, eq=False)
class Clip:
  """One contiguous reference clip.

  Frame arrays are stored as read-only float32 views (the caller's arrays are
  never modified). Either `qpos` and `qvel` are set, or `features` is.
  `loop` is None unless the clip is one cycle of a repeating motion.
  `eq=False`: clips compare by identity, since array fields have no boolean
  equality.
  """
  source: str
  fps: float
  weight: float
  qpos: Optional[np.ndarray] = None
  qvel: Optional[np.ndarray] = None
  features: Optional[np.ndarray] = None
  loop: Optional[Loop] = None

  def __post_init__(self):
    for field in FRAME_FIELDS:
      value = getattr(self, field)
      if value is not None:
        # A fresh view, so freezing it leaves the caller's array writable.
        frames = np.asarray(value, dtype=np.float32).view()
        frames.flags.writeable = False
        object.__setattr__(self, field, frames)
    object.__setattr__(self, 'fps', float(self.fps))
    object.__setattr__(self, 'weight', float(self.weight))
    _check_clip_structure(self)

  @property
  def kind(self) -> str:
    """'state' (qpos/qvel) or 'features'."""
    return 'features' if self.features is not None else 'state'

  @property
  def num_frames(self) -> int:
    frames = self.features if self.features is not None else self.qpos
    return int(frames.shape[0])

  def width(self, field: str) -> int:
    """Number of columns of a frame field of this clip."""
    return int(getattr(self, field).shape[1])


def _check_clip_structure(clip: Clip) -> None:
  """Cheap structural checks (content was checked when loading)."""
  present = tuple(f for f in FRAME_FIELDS if getattr(clip, f) is not None)
  if present not in (STATE_FIELDS, ('features',)):
    raise ValueError(f'clip {clip.source!r}: holds {present or "no frames"}; '
                     'expected qpos and qvel, or features alone.')
  for field in present:
    frames = getattr(clip, field)
    if frames.ndim != 2 or 0 in frames.shape:
      raise ValueError(
          f'clip {clip.source!r}: field {field!r} expected a non-empty '
          f'{FRAME_SHAPES[field]} array, got shape {frames.shape}.')
  if len({getattr(clip, f).shape[0] for f in present}) != 1:
    raise ValueError(f'clip {clip.source!r}: qpos and qvel have different '
                     'numbers of frames.')
  if not (math.isfinite(clip.fps) and clip.fps > 0):
    raise ValueError(f'clip {clip.source!r}: fps must be finite and > 0, '
                     f'got {clip.fps}.')
  if not (math.isfinite(clip.weight) and clip.weight >= 0):
    raise ValueError(f'clip {clip.source!r}: weight must be finite and >= 0, '
                     f'got {clip.weight}.')
  if clip.loop is not None and not isinstance(clip.loop, Loop):
    raise TypeError(f'clip {clip.source!r}: loop must be a Loop or None, got '
                    f'{type(clip.loop).__name__}.')


@dataclasses.dataclass(frozen=True)
class ReferenceMotion:
  """Reference clips of one kind and one frame width, in load order.

  Motions are equal when they hold the same Clip objects.
  """
  clips: Tuple[Clip, ...]

  def __post_init__(self):
    object.__setattr__(self, 'clips', tuple(self.clips))
    _check_motion_structure(self.clips)

  @property
  def kind(self) -> str:
    """'state' (qpos/qvel) or 'features'."""
    return self.clips[0].kind

  @property
  def num_frames(self) -> int:
    return sum(clip.num_frames for clip in self.clips)

  def fields(self) -> Tuple[str, ...]:
    """The frame fields every clip holds."""
    return STATE_FIELDS if self.kind == 'state' else ('features',)


def _check_motion_structure(clips: Tuple[Clip, ...]) -> None:
  """One kind and one width per field across all clips (and files)."""
  if not clips:
    raise ValueError('a ReferenceMotion needs at least one clip.')
  for clip in clips:
    if not isinstance(clip, Clip):
      raise TypeError(f'ReferenceMotion clips must be Clip, got '
                      f'{type(clip).__name__}.')
  first = clips[0]
  for clip in clips[1:]:
    if clip.kind != first.kind:
      raise ValueError(
          f'reference clips mix kinds: {first.source!r} holds {first.kind} '
          f'frames but {clip.source!r} holds {clip.kind} frames — use state '
          'frames (qpos/qvel) in every file, or features in every file.')
    for field in FRAME_FIELDS:
      if getattr(clip, field) is None:
        continue
      if clip.width(field) != first.width(field):
        raise ValueError(
            f'reference clips disagree on the width of {field!r}: '
            f'{first.source!r} has {first.width(field)} columns but '
            f'{clip.source!r} has {clip.width(field)} — record every file '
            'with the same model.')


def concatenated(motion: ReferenceMotion, field: str) -> np.ndarray:
  """A frame field of all clips stacked in order: float32 [sum T, D]."""
  if field not in FRAME_FIELDS:
    raise ValueError(f'unknown frame field {field!r}; expected one of '
                     f'{FRAME_FIELDS}.')
  if field not in motion.fields():
    raise ValueError(f'field {field!r} is not in a {motion.kind!r} reference '
                     f'(it holds {", ".join(motion.fields())}).')
  return np.concatenate([getattr(clip, field) for clip in motion.clips])


def max_array_bytes_text() -> str:
  """MAX_ARRAY_BYTES for messages: '2 GiB', or bytes if not whole GiB."""
  if MAX_ARRAY_BYTES >= 1024**3 and MAX_ARRAY_BYTES % 1024**3 == 0:
    return f'{MAX_ARRAY_BYTES // 1024**3} GiB'
  return f'{MAX_ARRAY_BYTES} bytes'
