"""Scripted controllers that make reference motions for amp_ppo's demos."""
