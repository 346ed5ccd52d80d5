"""Long runs: exact-resume state in checkpoints, non-finite checks, and the
hooks the vendored PPO trainer calls for both."""
