"""How long the commands that run no JAX program take: ``purejaxrl --help``, ``envs``, ``algos`` and a
flag error, each in a fresh process, best of 5 (the machine's load average printed with them).

    python experiments/cli_latency.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

COMMANDS = (
    ["--help"],
    ["envs"],
    ["algos"],
    ["train", "ppo", "--sweep.nosuch", "1"],
)


def seconds(args: list[str]) -> float:
    """Wall-clock seconds of ``purejaxrl ARGS`` in a fresh Python process."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "purejaxrl.cli", *args], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per command; the best is kept")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cpus)")
    for command in COMMANDS:
        best = min(seconds(command) for _ in range(args.repeats))
        print(f"{best:6.2f} s  purejaxrl {' '.join(command)}")
    print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
