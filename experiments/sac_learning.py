"""SAC learning check: seeds vmapped in one call, final returns and their IQM.

    python experiments/sac_learning.py                                   # Pendulum-v1, 20k steps, 4 seeds
    python experiments/sac_learning.py --env CartPole-v1 --total-timesteps 50000 \\
        --hidden 64 64 --batch-size 128 --target-entropy-scale 0.3      # discrete SAC

Prints per-seed final returns (mean episode return over the last 10% of
training), their mean, std and IQM, the deterministic policy's return over
16 evaluation episodes per seed, the learning curve (mean over seeds) and the
wall time including compilation; last, the result table (IQM and mean with 95% CIs),
also appended to ``--markdown PATH`` if given.
"""

from __future__ import annotations

import argparse

import numpy as np
from learning_report import add_markdown_option, print_table, train_and_report
from purejaxrl.algorithms import sac


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="Pendulum-v1")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--key", type=int, default=0)
    parser.add_argument("--total-timesteps", type=int, default=20_000)
    parser.add_argument("--hidden", type=int, nargs="+", default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--target-entropy-scale", type=float, default=None)
    parser.add_argument("--num-envs", type=int, default=None)
    add_markdown_option(parser)
    args = parser.parse_args()

    overrides = {"hidden_sizes": tuple(args.hidden) if args.hidden else None, "batch_size": args.batch_size,
                 "target_entropy_scale": args.target_entropy_scale, "num_envs": args.num_envs}
    config = sac.Config(env=args.env, total_timesteps=args.total_timesteps,
                        **{k: v for k, v in overrides.items() if v is not None})
    metrics, table = train_and_report(sac, "SAC", config, args.seeds, args.key)
    steps, curve = metrics["env_steps"][0], np.nanmean(metrics["episode_return"], axis=0)
    marks = np.linspace(0, len(steps) - 1, 10).astype(int)
    print("| env steps | mean return | alpha | entropy |\n|---|---|---|---|")
    for i in marks:
        print(f"| {steps[i]:,} | {curve[i]:.1f} | {metrics['alpha'][:, i].mean():.3g} | "
              f"{metrics['entropy'][:, i].mean():.2f} |")
    print_table(markdown=args.markdown, **table)


if __name__ == "__main__":
    main()
