"""Keeps the vendored Brax PPO trainer equal to upstream plus a patch series.

third_party/brax_ppo_vendored/train.py is, by construction, the file named in
its UPSTREAM.json (from the pinned Brax release) with patches/*.patch applied
in lexical order. The tool checks that, rebuilds the file, turns hand edits
back into patches, and ports the series onto another release by three-way
merge (`--root DIR`, before or after the command, works on a scratch copy):

  python -m amp_ppo.vendor check [--upstream FILE]
  python -m amp_ppo.vendor sync
  python -m amp_ppo.vendor refresh [--new NNNN-name.patch --message TEXT]
  python -m amp_ppo.vendor upgrade (--brax-version X | --upstream FILE
                                    [--version X]) [--resolved FILE ...]

git (on PATH) applies, reverts, diffs and merges the patches: series.py;
cli.py holds the commands. Brax is never imported (that would pull in JAX for
nothing). The workflow is described in BUILD_NOTES.md.
"""
