"""The ``purejaxrl`` command line.

    purejaxrl train ppo --env CartPole-v1 --seeds 16 [--lr 3e-4 ...]
    purejaxrl envs
    purejaxrl algos

Every ``Config`` field of the algorithm is a flag (from its dataclass, via tyro).
"""

from __future__ import annotations

import argparse
import sys
import time

import tyro

TRAIN_USAGE = "usage: purejaxrl train ALGORITHM [--seeds N] [--seed S] [config flags]"


def _algorithms():
    from purejaxrl.algorithms import ALGORITHMS

    return ALGORITHMS


def train_command(argv: list[str]) -> int:
    algorithms = _algorithms()
    if not argv or argv[0].startswith("-"):
        print(TRAIN_USAGE + f"\nalgorithms: {', '.join(algorithms)}", file=sys.stderr)
        return 2
    name, flags = argv[0], argv[1:]
    if name not in algorithms:
        print(f"unknown algorithm {name!r}; choose one of: {', '.join(algorithms)}", file=sys.stderr)
        return 2
    algo = algorithms[name]
    runner = argparse.ArgumentParser(add_help=False)
    runner.add_argument("--seeds", type=int, default=1, help="seeds, trained in one vmapped call")
    runner.add_argument("--seed", type=int, default=0, help="base seed the run's keys are split from")
    run_args, config_flags = runner.parse_known_args(flags)
    if "-h" in config_flags or "--help" in config_flags:
        print("runner flags:\n  --seeds INT  seeds, trained in one vmapped call (default: 1)\n"
              "  --seed INT   base seed the keys are split from (default: 0)\n")
    # a ConfigError from Config.__post_init__ is reported by tyro, which exits with status 2
    config = tyro.cli(algo.Config, args=config_flags, default=algo.Config(),
                      prog=f"purejaxrl train {name}")
    if run_args.seeds < 1:
        print(f"error: --seeds must be at least 1, got {run_args.seeds}", file=sys.stderr)
        return 2
    return run_training(name, algo, config, run_args.seeds, run_args.seed)


def run_training(name: str, algo, config, seeds: int, seed: int) -> int:
    import jax
    import numpy as np

    from purejaxrl.stats import final_returns, iqm

    keys = jax.random.split(jax.random.key(seed), seeds)
    train = jax.jit(jax.vmap(algo.train, in_axes=(None, 0)))
    print(f"{name} on {config.env}: {seeds} seed(s) x {config.total_timesteps:,} steps", flush=True)
    start = time.perf_counter()
    compiled = train.lower(config, keys).compile()
    compiled_at = time.perf_counter()
    _, metrics = jax.block_until_ready(compiled(config, keys))
    done = time.perf_counter()
    finals = final_returns(metrics)
    steps = int(np.asarray(metrics["env_steps"])[0, -1]) * seeds
    print(f"compile {compiled_at - start:.1f}s, train {done - compiled_at:.1f}s "
          f"({steps / max(done - compiled_at, 1e-9):,.0f} steps/s over all seeds)")
    print("final return (episodes in the last 10% of training):")
    print(f"  {'seed':>4}  {'return':>10}")
    for i, value in enumerate(finals):
        print(f"  {i:>4}  {value:>10.2f}")
    print(f"  mean {np.nanmean(finals):.2f} +- {np.nanstd(finals):.2f} (std), IQM {iqm(finals):.2f}, "
          f"min {np.nanmin(finals):.2f}, max {np.nanmax(finals):.2f}")
    return 0


def envs_command(argv: list[str]) -> int:
    from purejaxrl import envs

    for env_id in envs.names():
        print(env_id)
    return 0


def algos_command(argv: list[str]) -> int:
    for name, module in _algorithms().items():
        summary = (module.__doc__ or "").strip().splitlines()[0]
        print(f"{name:8} {summary}")
    return 0


COMMANDS = {"train": train_command, "envs": envs_command, "algos": algos_command}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: purejaxrl {train,envs,algos} ...\n\n"
              "  train ALGO  train seeds in one vmapped call and print final returns\n"
              "  envs        list environment ids\n"
              "  algos       list algorithms")
        return 0 if argv else 2
    command = COMMANDS.get(argv[0])
    if command is None:
        print(f"unknown command {argv[0]!r}; choose one of: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    return command(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
