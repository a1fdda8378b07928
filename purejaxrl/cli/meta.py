"""``purejaxrl meta lpo``: meta-train a learned PPO objective with evolution strategies."""

from __future__ import annotations

import argparse
import sys
import time

from purejaxrl.cli.args import Parser, UsageError
from purejaxrl.cli.train import config_fields


def ppo_field_help() -> str:
    """The ``--ppo.FIELD VALUE`` options: every ``ppo.Config`` field with its docstring."""
    lines = ["inner PPO fields (--ppo.FIELD VALUE, shared by every inner run; env, objective, "
             "drift_params and drift_clip are set by the meta-training):"]
    for field in config_fields("ppo").values():
        if field.name not in ("env", "objective", "drift_params", "drift_clip"):
            lines.append(f"  --ppo.{field.name:20} {' '.join((field.doc or '').split())}")
    return "\n".join(lines)


def meta_command(argv: list[str]) -> int:
    """``purejaxrl meta lpo ...``: meta-train an LPO drift with OpenAI-ES (``lpo.meta_train``)."""
    parser = Parser(
        prog="purejaxrl meta",
        description="Meta-train a learned PPO objective (LPO) with evolution strategies.",
        epilog=ppo_field_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
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
            raise UsageError(f"unrecognised argument {rest[i]!r} (inner PPO fields go as --ppo.FIELD VALUE; "
                             "purejaxrl meta lpo --help lists them)")
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


