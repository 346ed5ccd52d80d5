"""Experiment configs for `python -m amp_ppo.main --config=<file>[:preset]`."""
