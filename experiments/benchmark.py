"""The benchmark tables committed under ``experiments/benchmarks/``: ``purejaxrl bench`` per machine.

    python experiments/benchmark.py --out experiments/benchmarks/cpu.md \
        [--algo ppo sac dqn mrq] [--seeds 1 16 256 1024] [--repeats 3]

Each (algorithm, seeds) cell runs in fresh processes (``purejaxrl.benchmark``):
compile cold and from the persistent cache, best-of-``repeats`` env steps/s and
gradient updates/s over all seeds, the raw random-action loop of the same
environments and its ratio, peak host RSS and device memory. The table starts
with the machine, JAX version, date and XLA:CPU thread setting
(``PUREJAXRL_CPU_THREADS``).
"""

from __future__ import annotations

import sys

from purejaxrl.cli import bench_command

if __name__ == "__main__":
    argv = sys.argv[1:]
    if "--out" in argv:
        argv[argv.index("--out")] = "--markdown"
    sys.exit(bench_command(argv))
