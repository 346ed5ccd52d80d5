"""Brax's PPO trainer, vendored from the pinned Brax release with amp_ppo's patches.

train.py is produced by `python -m amp_ppo.vendor` from the upstream file named
in UPSTREAM.json plus the patch series in patches/; edit it only through that
workflow (see BUILD_NOTES.md).
"""
