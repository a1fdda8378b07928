"""What ``check_finite=True`` costs: the runner's compiled chunk with and without the per-update
NaN/inf check of metrics and learned parameters, same states, alternating, best of N.

    python experiments/check_finite_cost.py --repeats 5

Prints a Markdown table: algorithm, environment, seeds, iterations per chunk, best seconds per
chunk without and with the check, and their ratio (compile excluded).
"""

from __future__ import annotations

import argparse
import functools
import platform
import time

import jax
from purejaxrl.algorithms import ppo, sac

from purejaxrl.runner import batched, initial_states, run_chunk

CASES = {
    "ppo": (ppo, ppo.Config(env="CartPole-v1", total_timesteps=65_536), 16),
    "sac": (sac, sac.Config(env="Pendulum-v1", total_timesteps=2_000, learning_starts=100), 200),
}


def compiled_chunk(algorithm, config, seeds: int, length: int, check_finite: bool):
    """A function timing one call of the runner's chunk program (compiled here) on fixed states."""
    configs, axes, _, states, _ = initial_states(algorithm, config, seeds, 0, None)
    chunk = jax.jit(batched(functools.partial(run_chunk, algorithm, length, check_finite), axes, True))
    jax.block_until_ready(chunk(configs, states))

    def seconds() -> float:
        start = time.perf_counter()
        jax.block_until_ready(chunk(configs, states))
        return time.perf_counter() - start

    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 16])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, JAX {jax.__version__}, {jax.default_backend()}, "
          f"best of {args.repeats} alternating calls")
    print("| algorithm | env | seeds | updates per chunk | plain s | checked s | ratio |")
    print("|---|---|---|---|---|---|---|")
    for name in args.algo:
        algorithm, config, length = CASES[name]
        for seeds in args.seeds:
            plain = compiled_chunk(algorithm, config, seeds, length, False)
            checked = compiled_chunk(algorithm, config, seeds, length, True)
            times = [(plain(), checked()) for _ in range(args.repeats)]  # alternating: load hits both
            best_plain, best_checked = (min(column) for column in zip(*times))
            print(f"| {name} | {config.env} | {seeds} | {length} | {best_plain:.3f} | {best_checked:.3f} | "
                  f"{best_checked / best_plain:.3f} |", flush=True)


if __name__ == "__main__":
    main()
