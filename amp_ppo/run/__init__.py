"""The experiment runner behind `python -m amp_ppo.main`: environments and
configs to `amp_ppo.train`, run outputs, evaluation and the style metric."""
