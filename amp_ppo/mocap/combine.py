"""Several converted references -> one multi-clip reference with weights.

Takes, or segments of one take (`convert --start/--end`), are converted and
checked one by one; `combine` puts their clips into one file, each input
with a weight: AMP draws reference windows from an input's clips with
probability weight / sum(weights), shared among that input's clips as
their own weights share it. Loops are kept. One file holds one frame rate,
so inputs at different rates are refused: resampling would drop the loop of
a clip whose last frame falls between the new frames. (`amp_ppo.train`
takes a list of files at any rates, with each file's own clip weights.)
"""

import dataclasses
import os
from typing import Optional, Sequence

import numpy as np

from amp_ppo import motion as motion_lib

def combine(sources: Sequence[str], out: str,
            weights: Optional[Sequence[float]] = None
           ) -> motion_lib.ReferenceMotion:
  """Writes the clips of `sources` to `out` and returns what it wrote.

  Args:
    sources: reference .npz files of one robot (or of one feature size).
    out: the combined .npz to write.
    weights: one per source (default 1 each), >= 0, not all 0.

  Raises:
    ValueError: naming the source or argument and the fix (CLI flag
      --weights).
  """
  sources = [os.fsdecode(source) for source in sources]
  if not sources:
    raise ValueError('combine: no references given — pass the converted '
                     '.npz files to combine.')
  weights = _weights(weights, len(sources))
  motions = [motion_lib.load_reference(source) for source in sources]
  rates = {source: motion.clips[0].fps
           for source, motion in zip(sources, motions)}
  if len(set(rates.values())) > 1:
    raise ValueError(
        f'combine: the references run at different frame rates ({rates}) '
        'and one file holds one — combine references of one rate, or pass '
        'the files to amp_ppo.train as a list (each keeps its rate).')
  clips = []
  for source, motion, weight in zip(sources, motions, weights):
    share = sum(clip.weight for clip in motion.clips)
    if share <= 0 and weight > 0:
      raise ValueError(f'combine: every clip of {source!r} has weight 0, so '
                       f'its weight {weight:g} cannot be shared among them — '
                       'give it weight 0 (CLI --weights) or re-save it.')
    clips.extend((clip, weight * clip.weight / share if share else 0.0)
                 for clip in motion.clips)
  _save(out, motion_lib.ReferenceMotion(tuple(
      dataclasses.replace(clip, weight=weight) for clip, weight in clips)))
  return motion_lib.load_reference(out)


def _weights(weights: Optional[Sequence[float]], count: int):
  if weights is None:
    return [1.0] * count
  weights = [float(weight) for weight in weights]
  if len(weights) != count:
    raise ValueError(f'combine: {len(weights)} weights for {count} '
                     'references — give one weight per reference (CLI '
                     '--weights).')
  if not all(np.isfinite(weight) and weight >= 0 for weight in weights):
    raise ValueError(f'combine: weights must be finite and >= 0, got '
                     f'{weights} (CLI --weights).')
  if sum(weights) <= 0:
    raise ValueError('combine: every weight is 0, so nothing would be '
                     'sampled — give one reference a positive weight (CLI '
                     '--weights).')
  return weights


def _save(out: str, motion: motion_lib.ReferenceMotion) -> None:
  clip_ids = np.concatenate([np.full(clip.num_frames, index, np.int32)
                             for index, clip in enumerate(motion.clips)])
  frames = {field: motion_lib.concatenated(motion, field)
            for field in motion.fields()}
  motion_lib.save_reference(
      out, fps=motion.clips[0].fps, clip_ids=clip_ids,
      clip_weights=np.array([clip.weight for clip in motion.clips]),
      clip_loops=np.array([motion_lib.loop_code(clip.loop)
                           for clip in motion.clips]), **frames)
