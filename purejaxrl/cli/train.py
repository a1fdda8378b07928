"""``purejaxrl train ALGO``: seeds (x sweep points) of one algorithm through ``purejaxrl.run``.

    purejaxrl train ppo --env CartPole-v1 --seeds 16 [--lr 3e-4 ...] [--out DIR] [--sweep.lr 1e-3 3e-4]
    purejaxrl train ppo --resume DIR
    purejaxrl train ppo --objective lpo --drift-params NAME|FILE.npz

Every ``Config`` field of the algorithm is a flag (from its dataclass, via tyro).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time

import tyro

from purejaxrl.cli.results import print_summary

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


