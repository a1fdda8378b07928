"""The ``purejaxrl`` command line.

    purejaxrl train ppo --env CartPole-v1 --seeds 16 [--lr 3e-4 ...] [--out DIR] [--sweep.lr 1e-3 3e-4]
    purejaxrl train ppo --resume DIR
    purejaxrl train ppo --objective lpo --drift-params NAME|FILE.npz
    purejaxrl eval DIR [--episodes N]
    purejaxrl render DIR [-o FILE] [--seed-index I] [--max-steps N] [--key K] [--fps F] [--every N]
    purejaxrl plot DIR [DIR ...] [-o FILE]
    purejaxrl compare DIR_A DIR_B
    purejaxrl meta lpo --env CartPole-v1 --generations 32 --population 32 --out DIR [--ppo.FIELD V ...]
    purejaxrl envs
    purejaxrl algos

Every ``Config`` field of the algorithm is a flag (from its dataclass, via tyro).
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from purejaxrl.cli.meta import meta_command
from purejaxrl.cli.results import compare_command, eval_command, plot_command, render_command
from purejaxrl.cli.train import _algorithms, config_from_file, split_sweep_flags, train_command

__all__ = ["config_from_file", "main", "split_sweep_flags"]



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


def bench_command(argv: list[str]) -> int:
    from purejaxrl import benchmark

    parser = argparse.ArgumentParser(prog="purejaxrl bench", description=benchmark.__doc__.splitlines()[0])
    cases = list(benchmark.BENCH_CASES)
    parser.add_argument("--algo", nargs="+", default=cases, choices=cases,
                        help="algorithms to time (default: all)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 16, 256, 1024],
                        help="seed counts, each one vmapped program (default: 1 16 256 1024)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per cell; the best is kept")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="seconds a cell may take before it is skipped")
    parser.add_argument("--markdown", type=pathlib.Path, default=None,
                        help="also write the table to this file")
    args = parser.parse_args(argv)
    try:
        rows = benchmark.run_benchmark(args.algo, args.seeds, args.repeats, args.timeout,
                                       progress=lambda line: print(line, file=sys.stderr, flush=True))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    table = benchmark.markdown(rows, args.repeats)
    print(table)
    if args.markdown is not None:
        args.markdown.write_text(table + "\n")
    return 0


COMMANDS = {"train": train_command, "eval": eval_command, "render": render_command, "plot": plot_command,
            "compare": compare_command, "meta": meta_command, "envs": envs_command, "algos": algos_command,
            "bench": bench_command}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: purejaxrl {train,eval,render,plot,compare,meta,envs,algos,bench} ...\n\n"
              "  train ALGO  train seeds (x sweep points) in one vmapped call, print final returns\n"
              "  eval DIR    deterministic-policy returns of a run's newest checkpoint\n"
              "  render DIR  one deterministic episode as a GIF or an HTML viewer\n"
              "  plot DIR..  learning curves of run directories in one PNG\n"
              "  compare A B final returns of two runs and P(A > B)\n"
              "  meta lpo    meta-learn a PPO objective (LPO drift) with evolution strategies\n"
              "  envs        list environment ids\n"
              "  algos       list algorithms\n"
              "  bench       training throughput, compile time and memory at 1 to 1,024 seeds")
        return 0 if argv else 2
    command = COMMANDS.get(argv[0])
    if command is None:
        print(f"unknown command {argv[0]!r}; choose one of: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    from purejaxrl.cpu_threads import cpu_threads_from_env, limit_cpu_threads

    try:
        threads = cpu_threads_from_env()
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if threads is not None and command is not bench_command:  # bench's cells read it themselves
        limit_cpu_threads(threads)
    return command(argv[1:])


