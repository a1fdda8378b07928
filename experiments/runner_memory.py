"""Host memory of a long runner call: does RSS stay flat as the run goes on?

    python experiments/runner_memory.py [--seeds 64] [--total-timesteps 500000] [--out DIR]
                                        [--checkpoint-every ROWS] [--malloc-trim] [--samples CSV]

Trains PPO on CartPole through ``purejaxrl.run`` (a run dir with checkpoints
when ``--out`` is given) while a thread samples the process's resident set
size every 0.25 s; prints RSS at 10%, 25%, 50%, 75% and 100% of the wall time
and the peak. ``--malloc-trim`` asks glibc to hand freed heap pages back to the
system (``malloc_trim(0)``) every 10 s: RSS that this removes was freed memory
kept by the allocator, not live data.
"""

from __future__ import annotations

import argparse
import ctypes
import threading
import time

import psutil
from purejaxrl.algorithms import ppo

import purejaxrl


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=64)
    parser.add_argument("--total-timesteps", type=int, default=500_000)
    parser.add_argument("--out", default=None)
    parser.add_argument("--checkpoint-every", type=int, default=None)
    parser.add_argument("--malloc-trim", action="store_true")
    parser.add_argument("--samples", default=None, help="write every (seconds, RSS MiB) sample to this CSV")
    args = parser.parse_args()
    trim = ctypes.CDLL("libc.so.6").malloc_trim if args.malloc_trim else None

    process, samples, running = psutil.Process(), [], threading.Event()
    running.set()

    def sample() -> None:
        last_trim = time.perf_counter()
        while running.is_set():
            if trim is not None and time.perf_counter() - last_trim > 10:
                trim(0)
                last_trim = time.perf_counter()
            samples.append((time.perf_counter(), process.memory_info().rss))
            time.sleep(0.25)

    thread = threading.Thread(target=sample, daemon=True)
    config = ppo.Config(env="CartPole-v1", total_timesteps=args.total_timesteps, num_log_points=200)
    start = time.perf_counter()
    thread.start()
    result = purejaxrl.run(ppo, config, seeds=args.seeds, out=args.out, progress=False,
                           checkpoint_every=args.checkpoint_every)
    running.clear()
    thread.join()
    wall = time.perf_counter() - start
    print(f"PPO CartPole, {args.seeds} seeds x {config.num_iterations * config.steps_per_iteration:,} steps, "
          f"{wall:.1f}s, IQM final return {result.summary['iqm']:.1f}")
    print("| fraction of wall time | RSS (MiB) |\n|---|---|")
    for fraction in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
        moment = start + fraction * wall
        rss = min(samples, key=lambda s: abs(s[0] - moment))[1]
        print(f"| {fraction:.0%} | {rss / 2**20:,.0f} |")
    print(f"peak RSS {max(s[1] for s in samples) / 2**20:,.0f} MiB")
    if args.samples:
        with open(args.samples, "w") as f:
            f.write("seconds,rss_mib\n")
            f.writelines(f"{t - start:.2f},{rss / 2**20:.1f}\n" for t, rss in samples)


if __name__ == "__main__":
    main()
