"""amp_ppo's benchmarks, run from the repository root as modules.

  python -m benchmarks.throughput      # AMP off against on, one process
  python -m benchmarks.gpu             # the same at GPU sizes

Each script imports amp_ppo and the shared modules beside it, never another
script's internals beyond the one-way imports .importlinter lists, and
never tests/:

  bench_lib       variants, turn-taking training runs, reference recording,
                  tables and the machine's description
  compiled_epoch  the training epoch compiled ahead of time, its XLA memory
  gpu_tasks       the GPU benchmarks' tasks (Playground Go1 and humanoid,
                  Brax humanoid)

RESULTS.md holds the figures, each with its command.
"""
