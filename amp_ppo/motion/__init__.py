"""Reference motion: amp_ppo's npz format, validation, resampling to the
control rate and feature windows (`reference`); bundled demos and their data;
recording a trained policy as a reference (`record`)."""
