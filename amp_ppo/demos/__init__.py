"""Scripted controllers that make reference motions for amp_ppo's demos."""

from absl import flags


def define_recording_flags(default_out: str) -> None:
  """The flags every recorder takes; call only when run as a program."""
  flags.DEFINE_string('out', default_out, 'Where to write the reference npz.')
  flags.DEFINE_integer('num_clips', 4, 'Clips to record.')
  flags.DEFINE_float('clip_seconds', 10.0, 'Seconds per clip.')
  flags.DEFINE_integer('seed', 0, 'Seed of the reset noise.')
