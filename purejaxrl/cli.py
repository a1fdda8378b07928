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
import itertools
import pathlib
import sys
import time

import tyro

TRAIN_USAGE = ("usage: purejaxrl train ALGORITHM [--seeds N] [--seed S] [--out DIR] "
               "[--resume DIR [--fallback]] [--sweep.FIELD V1 V2 ...] [--checkpoint-every ROWS] "
               "[--check-finite] [--no-cache] [--no-progress] "
               "[--config FILE] [--wandb-project NAME] "
               "[--distributed | --coordinator HOST:PORT --num-processes N --process-id I] [config flags]")

RUNNER_HELP = """runner flags:
  --seeds INT             seeds, trained in one vmapped call (default: 1)
  --seed INT              base seed the keys are split from (default: 0)
  --out DIR               run directory: metrics, checkpoints, summary, plot
  --resume DIR            continue the run in DIR from its newest checkpoint
  --fallback              with --resume: if the newest checkpoint is damaged, move it aside
                          and continue from the newest intact one (default: stop with an error)
  --sweep.FIELD V1 V2 ..  a grid over a traced config field (repeatable)
  --checkpoint-every INT  log rows between checkpoints (default: a tenth of the run)
  --check-finite          check losses and parameters after every update; stop at the first
                          NaN/inf naming seed, sweep point and update (exit status 1)
  --no-cache              do not use the persistent compilation cache
  --no-progress           no progress bar
  --config FILE           a JSON file of Config fields (presets in experiments/configs/);
                          flags override it
  --wandb-project NAME    also log to Weights & Biases (pip install 'purejaxrl[wandb]');
                          offline unless an API key is configured or --wandb-mode online
  --wandb-entity NAME, --wandb-mode online|offline|disabled
  --distributed           one run over several processes; Slurm, Open MPI and TPU pods
                          are detected (jax.distributed.initialize)
  --coordinator HOST:PORT, --num-processes N, --process-id I
                          the same, set by hand (process 0 listens on HOST:PORT)
"""


def _algorithms():
    from purejaxrl.algorithms import ALGORITHMS

    return ALGORITHMS


def split_sweep_flags(flags: list[str]) -> tuple[dict[str, list[float]], list[str]]:
    """``--sweep.lr 1e-3 3e-4`` -> ``{"lr": [1e-3, 3e-4]}``; the other flags are returned as they are."""
    sweep, rest, i = {}, [], 0
    while i < len(flags):
        if flags[i].startswith("--sweep."):
            name, values = flags[i].removeprefix("--sweep.").replace("-", "_"), []
            i += 1
            while i < len(flags) and not flags[i].startswith("--"):
                values.append(flags[i])
                i += 1
            try:
                sweep[name] = [float(v) for v in values]
            except ValueError as error:
                raise SystemExit(f"error: --sweep.{name} takes numbers, got {values}") from error
            if not values:
                raise SystemExit(f"error: --sweep.{name} needs at least one value")
        else:
            rest.append(flags[i])
            i += 1
    return sweep, rest


def runner_flags() -> argparse.ArgumentParser:
    runner = argparse.ArgumentParser(add_help=False)
    runner.add_argument("--seeds", type=int, default=1)
    runner.add_argument("--seed", type=int, default=0)
    runner.add_argument("--out", default=None)
    runner.add_argument("--resume", default=None)
    runner.add_argument("--fallback", action="store_true")
    runner.add_argument("--checkpoint-every", type=int, default=None)
    runner.add_argument("--check-finite", action="store_true")
    runner.add_argument("--no-cache", action="store_true")
    runner.add_argument("--no-progress", action="store_true")
    runner.add_argument("--config", default=None)
    runner.add_argument("--wandb-project", default=None)
    runner.add_argument("--wandb-entity", default=None)
    runner.add_argument("--wandb-mode", default=None, choices=["online", "offline", "disabled"])
    runner.add_argument("--distributed", action="store_true")
    runner.add_argument("--coordinator", default=None)
    runner.add_argument("--num-processes", type=int, default=None)
    runner.add_argument("--process-id", type=int, default=None)
    return runner


def start_distributed(run_args) -> str | None:
    """``jax.distributed`` when asked for, before the algorithms (and gymnax) are imported;
    an error message for an incomplete set of flags."""
    by_hand = (run_args.coordinator, run_args.num_processes, run_args.process_id)
    if any(v is not None for v in by_hand) and any(v is None for v in by_hand):
        return "--coordinator, --num-processes and --process-id go together"
    if run_args.distributed or by_hand[0] is not None:
        from purejaxrl import distributed

        distributed.initialize(*by_hand)
    return None


def train_command(argv: list[str]) -> int:
    run_args, other_flags = runner_flags().parse_known_args(argv[1:])
    error = start_distributed(run_args)
    if error is not None:
        print(f"error: {error}", file=sys.stderr)
        return 2
    algorithms = _algorithms()
    if not argv or argv[0].startswith("-") and "--resume" not in argv:
        print(TRAIN_USAGE + f"\nalgorithms: {', '.join(algorithms)}", file=sys.stderr)
        return 2
    name = argv[0]
    if name not in algorithms:
        print(f"unknown algorithm {name!r}; choose one of: {', '.join(algorithms)}", file=sys.stderr)
        return 2
    algo = algorithms[name]
    try:
        sweep, config_flags = split_sweep_flags(other_flags)
    except SystemExit as error:
        print(error, file=sys.stderr)
        return 2
    if "-h" in config_flags or "--help" in config_flags:
        print(RUNNER_HELP)
    if run_args.resume is not None:
        return resume_training(algo, run_args)
    if run_args.fallback:
        print("error: --fallback only applies with --resume DIR", file=sys.stderr)
        return 2
    # a ConfigError from Config.__post_init__ is reported by tyro, which exits with status 2
    try:
        default = algo.Config() if run_args.config is None else config_from_file(algo, run_args.config)
    except (OSError, ValueError, TypeError) as error:
        print(f"error: --config {run_args.config}: {error}", file=sys.stderr)
        return 2
    if "--drift-params" in config_flags:  # a drift's name or .npz file, loaded for objective lpo
        try:
            default, config_flags = with_drift_params(default, config_flags)
        except (OSError, ValueError) as error:
            print(f"error: --drift-params: {error}", file=sys.stderr)
            return 2
    config = tyro.cli(algo.Config, args=config_flags, default=default, prog=f"purejaxrl train {name}")
    if run_args.seeds < 1:
        print(f"error: --seeds must be at least 1, got {run_args.seeds}", file=sys.stderr)
        return 2
    return run_training(name, algo, config, run_args, sweep)


def with_drift_params(default, flags: list[str]):
    """``--drift-params NAME|FILE`` (``lpo.load``) as the default config's LPO drift; the
    objective becomes ``lpo``. Returns the new default and the other flags."""
    import dataclasses

    from purejaxrl.algorithms import lpo

    at = flags.index("--drift-params")
    if at + 1 >= len(flags) or flags[at + 1].startswith("--"):
        raise ValueError("give a shipped drift's name or an .npz file")
    if not hasattr(default, "drift_params"):
        raise ValueError(f"{type(default).__module__} has no learned objective (PPO has)")
    params = lpo.load(flags[at + 1])
    return dataclasses.replace(default, objective="lpo", drift_params=params), flags[:at] + flags[at + 2:]


def config_from_file(algo, path: str):
    """A ``Config`` from a JSON file of field values (presets: ``experiments/configs/``);
    flags given on the command line override it."""
    import json
    import pathlib

    values = json.loads(pathlib.Path(path).read_text())
    if not isinstance(values, dict):
        raise ValueError("expected a JSON object of Config fields")
    return algo.Config(**values)


def resume_training(algo, run_args) -> int:
    from purejaxrl.rundir import read_record

    try:
        record = read_record(run_args.resume)
    except FileNotFoundError as error:
        print(f"error: --resume: {error}", file=sys.stderr)
        return 2
    config = algo.Config(**record["config"])
    run_args.seeds, run_args.seed, run_args.out = record["seeds"], record["seed"], run_args.resume
    name = type(config).__module__.rsplit(".", 1)[-1]
    return run_training(name, algo, config, run_args, record["sweep"] or {}, resume=True)


def run_training(name: str, algo, config, run_args, sweep: dict, resume: bool = False) -> int:
    import purejaxrl
    from purejaxrl import distributed
    from purejaxrl.compilation_cache import enable_persistent_cache
    from purejaxrl.finite import NonFiniteError
    from purejaxrl.rundir import CheckpointError, RunDirBusyError

    enable_persistent_cache(False if run_args.no_cache else None)
    points = f" x {len(list(itertools.product(*sweep.values())))} sweep points" if sweep else ""
    print(f"{name} on {config.env}: {run_args.seeds} seed(s){points} x {config.total_timesteps:,} steps"
          + (f", run dir {run_args.out}" if run_args.out else ""), flush=True)
    wandb = None
    if run_args.wandb_project is not None:
        from purejaxrl.wandb_sink import WandB

        wandb = WandB(project=run_args.wandb_project, entity=run_args.wandb_entity, mode=run_args.wandb_mode)
    start = time.perf_counter()
    try:
        result = purejaxrl.run(algo, config, seeds=run_args.seeds, seed=run_args.seed, sweep=sweep or None,
                               out=run_args.out, resume=resume, fallback=resume and run_args.fallback,
                               checkpoint_every=run_args.checkpoint_every,
                               progress=not run_args.no_progress, wandb=wandb,
                               check_finite=run_args.check_finite)
    except (CheckpointError, RunDirBusyError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except NonFiniteError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if distributed.is_primary():
        print(f"done in {time.perf_counter() - start:.1f}s (compile included)")
        print_summary(result.summary)
    return 0


def print_summary(summary: dict) -> None:
    """Final returns per seed (episodes in the last 10% of training) and their statistics."""
    points = summary.get("sweep") or [{"point": None, **summary}]
    for entry in points:
        if entry["point"] is not None:
            print("sweep point " + ", ".join(f"{k}={v:g}" for k, v in entry["point"].items()))
        print(f"  {'seed':>4}  {'final return':>12}")
        for i, value in enumerate(entry["final_returns"]):
            print(f"  {i:>4}  {value:>12.2f}")
        low, high = entry["iqm_ci"]
        print(f"  mean {entry['mean']:.2f} +- {entry['std']:.2f} (std), IQM {entry['iqm']:.2f} "
              f"[95% CI {low:.2f}, {high:.2f}], {entry['num_seeds']} seeds "
              f"({entry['num_nan']} without episodes)")
        if entry.get("diverged_seeds"):
            print(f"  diverged (NaN/inf losses): seeds {entry['diverged_seeds']}")


def plot_command(argv: list[str]) -> int:
    """``purejaxrl plot DIR... [-o FILE]``: learning curves of one or more runs in one figure."""
    parser = argparse.ArgumentParser(prog="purejaxrl plot")
    parser.add_argument("runs", nargs="+")
    parser.add_argument("-o", "--output", default="learning_curves.png")
    args = parser.parse_args(argv)
    from purejaxrl.plots import plot_learning_curves
    from purejaxrl.rundir import read_metrics

    curves = {}
    for run in args.runs:
        try:
            metrics = read_metrics(run)
        except (FileNotFoundError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        returns = metrics["episode_return"].reshape(-1, *metrics["episode_return"].shape[-2:])
        steps = metrics["env_steps"].reshape(-1, metrics["env_steps"].shape[-1])[0]
        for i, per_point in enumerate(returns):
            curves[run if len(returns) == 1 else f"{run} [{i}]"] = (steps, per_point)
    path = plot_learning_curves(curves, args.output)
    print(f"wrote {path}")
    return 0


def eval_command(argv: list[str]) -> int:
    """``purejaxrl eval DIR``: the newest checkpoint's deterministic policies, fresh episodes."""
    parser = argparse.ArgumentParser(prog="purejaxrl eval")
    parser.add_argument("run")
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0, help="seed of the evaluation episodes")
    args = parser.parse_args(argv)
    import numpy as np

    from purejaxrl.evaluation import evaluate
    from purejaxrl.runner import load, read_run

    try:
        algo, _, record = read_run(args.run)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    name = algo.__name__.rsplit(".", 1)[-1]
    config, state, rows = load(algo, args.run)
    import jax

    returns = evaluate(algo, config, state, jax.random.key(args.seed), args.episodes)
    per_agent = np.nanmean(returns, axis=-1).reshape(-1, record["seeds"])
    print(f"{args.run}: {name} on {config.env}, checkpoint after {rows} log rows, "
          f"{args.episodes} deterministic episodes per seed")
    for p, row in enumerate(per_agent):
        label = f"sweep point {p}: " if len(per_agent) > 1 else ""
        print(f"  {label}mean return per seed {np.round(row, 2).tolist()}, mean {np.nanmean(row):.2f}")
    return 0


def render_command(argv: list[str]) -> int:
    """``purejaxrl render DIR``: one deterministic episode of the newest checkpoint as a GIF
    (gymnax classic control, MinAtar) or Brax's HTML viewer (Brax, MJX)."""
    parser = argparse.ArgumentParser(prog="purejaxrl render")
    parser.add_argument("run")
    parser.add_argument("-o", "--output", default=None,
                        help="file to write (default: DIR/render.gif or DIR/render.html)")
    parser.add_argument("--seed-index", type=int, default=0,
                        help="which agent: the seed, or point * seeds + seed in a sweep (default: 0)")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="steps to record at most (default: the environment's time limit)")
    parser.add_argument("--key", type=int, default=0, help="seed of the episode")
    parser.add_argument("--fps", type=float, default=None, help="GIF frames per second")
    parser.add_argument("--every", type=int, default=1, help="draw every N-th step")
    args = parser.parse_args(argv)
    from purejaxrl.render import render

    try:
        path = render(args.run, args.output, seed_index=args.seed_index, max_steps=args.max_steps,
                      key=args.key, fps=args.fps, every=args.every)
    except (FileNotFoundError, IndexError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


def compare_command(argv: list[str]) -> int:
    """``purejaxrl compare A B``: both runs' final returns and P(A > B) with a bootstrap CI."""
    parser = argparse.ArgumentParser(prog="purejaxrl compare")
    parser.add_argument("run_a")
    parser.add_argument("run_b")
    args = parser.parse_args(argv)
    import json
    import pathlib

    import numpy as np

    from purejaxrl.stats import probability_of_improvement

    finals = []
    for run in (args.run_a, args.run_b):
        summary_file = pathlib.Path(run) / "summary.json"
        if not summary_file.exists():
            print(f"error: {run} has no summary.json (not a finished run)", file=sys.stderr)
            return 2
        summary = json.loads(summary_file.read_text())
        if summary.get("sweep"):
            print(f"error: {run} is a sweep; compare single configurations", file=sys.stderr)
            return 2
        print(f"{run}:")
        print_summary(summary)
        values = np.array([np.nan if v is None else v for v in summary["final_returns"]], np.float64)
        finals.append(values[~np.isnan(values)])
    point, low, high = probability_of_improvement(finals[0], finals[1])
    print(f"P({args.run_a} > {args.run_b}) = {point:.3f} [95% CI {low:.3f}, {high:.3f}]")
    return 0


def meta_command(argv: list[str]) -> int:
    """``purejaxrl meta lpo ...``: meta-train an LPO drift with OpenAI-ES (``lpo.meta_train``)."""
    parser = argparse.ArgumentParser(
        prog="purejaxrl meta",
        description="Meta-train a learned PPO objective (LPO) with evolution strategies.")
    parser.add_argument("method", choices=["lpo"])
    parser.add_argument("--env", action="append", default=None,
                        help="inner environment; repeat for several (default: CartPole-v1)")
    parser.add_argument("--generations", type=int, default=32)
    parser.add_argument("--population", type=int, default=32, help="drifts per generation (even)")
    parser.add_argument("--seeds", type=int, default=4,
                        help="inner seeds per drift, shared by the population")
    parser.add_argument("--std", type=float, default=0.03, help="ES noise scale")
    parser.add_argument("--lr", type=float, default=0.01, help="ES Adam step")
    parser.add_argument("--temporal", action="store_true", help="temporally-aware LPO")
    parser.add_argument("--drift-clip", action="store_true", help="learn on top of PPO-clip's drift")
    parser.add_argument("--normalize", action=argparse.BooleanOptionalAction, default=None,
                        help="divide returns by PPO's (default: with several environments)")
    parser.add_argument("--baseline-seeds", type=int, default=16, help="seeds of the PPO baseline run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None,
                        help="run directory: per-generation logs, checkpoints, drift.npz")
    parser.add_argument("--resume", default=None, help="continue the meta-training run in this directory")
    parser.add_argument("--no-progress", action="store_true")
    args, rest = parser.parse_known_args(argv)
    ppo_fields, i = [], 0
    while i < len(rest):  # --ppo.FIELD VALUE: a field of every inner ppo.Config
        if not rest[i].startswith("--ppo.") or i + 1 >= len(rest):
            print(f"error: unrecognised argument {rest[i]!r} (inner PPO fields go as --ppo.FIELD VALUE)",
                  file=sys.stderr)
            return 2
        ppo_fields.append(f"{rest[i].removeprefix('--ppo.').replace('-', '_')}={rest[i + 1]}")
        i += 2
    import numpy as np

    from purejaxrl.algorithms import lpo
    from purejaxrl.config import ConfigError

    try:
        if args.resume is not None:
            from purejaxrl.rundir import read_record

            record = read_record(args.resume)
            meta, seed, out = lpo.MetaConfig(**record["config"]), record["seed"], args.resume
        else:
            meta = lpo.MetaConfig(envs=tuple(args.env or ("CartPole-v1",)), ppo=tuple(ppo_fields),
                                  temporal=args.temporal, drift_clip=args.drift_clip,
                                  population_size=args.population, num_seeds=args.seeds,
                                  generations=args.generations, std=args.std, lr=args.lr,
                                  normalize=args.normalize, baseline_seeds=args.baseline_seeds)
            seed, out = args.seed, args.out
    except (ConfigError, FileNotFoundError, TypeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"LPO meta-training on {', '.join(meta.envs)}: {meta.generations} generations x "
          f"{meta.population_size} drifts x {meta.num_seeds} seeds" + (f", run dir {out}" if out else ""),
          flush=True)
    start = time.perf_counter()
    result = lpo.meta_train(meta, seed, out=out, resume=args.resume is not None,
                            progress=not args.no_progress)
    fitness = result.history["fitness"]
    print(f"done in {time.perf_counter() - start:.1f}s; PPO baseline {result.baseline}")
    for g in sorted({0, len(fitness) // 2, len(fitness) - 1}):
        finite = fitness[g][np.isfinite(fitness[g])]
        print(f"  generation {g + 1}: mean fitness {finite.mean():.4g}, max {finite.max():.4g}")
    if out:
        print(f"the ES mean's drift: {out}/drift.npz "
              "(ppo.Config(objective='lpo', drift_params=lpo.load(...)))")
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


if __name__ == "__main__":
    sys.exit(main())
