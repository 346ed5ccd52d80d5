"""Long runs: amp_ppo's part of a checkpoint (layout, exact-resume state,
retention), non-finite checks, and the hooks the vendored PPO trainer calls."""
