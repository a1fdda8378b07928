"""SIGKILL a run at random moments, often inside a checkpoint write, and resume it.

    python experiments/kill_during_checkpoint.py [--trials 8] [--seeds 4]

Each trial starts PPO on CartPole (default config) in a subprocess that
checkpoints after every log row, kills it with SIGKILL at a random moment once
a few checkpoints exist, records whether the kill left a half-written orbax
checkpoint behind (its temporary directory), then resumes the run in this
process and checks that it ends bit-identical to an uninterrupted run.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import random
import signal
import subprocess
import sys
import tempfile
import time

import jax
import numpy as np
from purejaxrl.algorithms import ppo

import purejaxrl
from purejaxrl.compilation_cache import enable_persistent_cache

CHILD = """
import sys
import purejaxrl
from purejaxrl.algorithms import ppo
from purejaxrl.compilation_cache import enable_persistent_cache
enable_persistent_cache()
purejaxrl.run(ppo, ppo.Config(env="CartPole-v1"), seeds=int(sys.argv[2]), out=sys.argv[1],
              checkpoint_every=1, progress=False)
"""


def completed_steps(checkpoints: pathlib.Path) -> list[int]:
    return sorted(int(p.name) for p in checkpoints.glob("*") if p.name.isdigit())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=4)
    args = parser.parse_args()
    enable_persistent_cache()
    config = ppo.Config(env="CartPole-v1")
    reference = purejaxrl.run(ppo, config, seeds=args.seeds, progress=False)
    rng = random.Random(0)
    print("| trial | checkpoints when killed | half-written checkpoint left | resumed from row | "
          "bit-identical |\n|---|---|---|---|---|")
    for trial in range(args.trials):
        out = pathlib.Path(tempfile.mkdtemp()) / "run"
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(out), str(args.seeds)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        checkpoints = out / "checkpoints"
        target = rng.randint(5, 60)
        while child.poll() is None and len(completed_steps(checkpoints)) < 3 or (
                child.poll() is None and max(completed_steps(checkpoints), default=0) < target):
            time.sleep(0.002)
        time.sleep(rng.uniform(0.0, 0.05))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        steps = completed_steps(checkpoints)
        half_written = any(".orbax-checkpoint-tmp" in p.name for p in checkpoints.glob("*"))
        resumed = purejaxrl.run(ppo, config, seeds=args.seeds, out=out, resume=True, progress=False)
        same = all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in
                   zip(jax.tree.leaves(resumed.state.params), jax.tree.leaves(reference.state.params)))
        same &= all(np.array_equal(resumed.metrics[k], reference.metrics[k], equal_nan=True)
                    for k in reference.metrics)
        print(f"| {trial} | {len(steps)} (newest row {max(steps, default=-1)}) | {half_written} | "
              f"{max(steps, default=-1) + 1} | {same} |", flush=True)


if __name__ == "__main__":
    main()
