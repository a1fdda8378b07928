"""MR.Q learning check: seeds vmapped in one call, final returns and their IQM.

    python experiments/mrq_learning.py --width 128                      # Pendulum-v1, 20k steps, 4 seeds
    python experiments/mrq_learning.py --width 128 --env CartPole-v1 --total-timesteps 50000
    python experiments/mrq_learning.py --width 128 --env Breakout-MinAtar --total-timesteps 25000 \\
        --learning-starts 5000 --seeds 1 --cnn-layers '[[16,3,1],[16,3,1]]'
    python experiments/mrq_learning.py --width 128 --env brax/inverted_pendulum --total-timesteps 15000 \\
        --learning-starts 2000 --env-kwargs '{"backend": "spring", "episode_length": 1000}' --seeds 2

``--width W`` sets every hidden width and ``zs_dim = zsa_dim = W``, ``za_dim = W / 2``
(``mrq.widths``; the paper's widths are 512, ``za_dim`` 256: leave ``--width`` out). Everything
else is ``mrq.Config``'s defaults unless given. Prints per-seed final returns
(mean episode return over the last 10% of training), their mean, std and IQM,
the deterministic policy's return over 16 evaluation episodes per seed, the
learning curve (mean over seeds) and the wall time including compilation; last, the
result table (IQM and mean with 95% CIs), also appended to ``--markdown PATH`` if given.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from learning_report import add_markdown_option, print_table, train_and_report
from purejaxrl.algorithms import mrq


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="Pendulum-v1")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--key", type=int, default=0)
    parser.add_argument("--total-timesteps", type=int, default=20_000)
    parser.add_argument("--width", type=int, default=None)
    parser.add_argument("--learning-starts", type=int, default=None)
    parser.add_argument("--buffer-size", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--num-envs", type=int, default=None)
    parser.add_argument("--cnn-layers", type=json.loads, default=None,
                        help="(features, kernel, stride) per convolution, e.g. '[[16, 3, 1]]'")
    parser.add_argument("--env-kwargs", type=json.loads, default=None,
                        help='e.g. \'{"backend": "spring", "episode_length": 1000}\' for Brax')
    add_markdown_option(parser)
    args = parser.parse_args()

    overrides = {"learning_starts": args.learning_starts, "buffer_size": args.buffer_size,
                 "batch_size": args.batch_size, "num_envs": args.num_envs, "env_kwargs": args.env_kwargs,
                 "cnn_layers": args.cnn_layers}
    sizes = mrq.widths(args.width) if args.width else {}
    config = mrq.Config(env=args.env, total_timesteps=args.total_timesteps, **sizes,
                        **{k: v for k, v in overrides.items() if v is not None})
    metrics, table = train_and_report(mrq, "MR.Q", config, args.seeds, args.key)
    steps, curve = metrics["env_steps"][0], np.nanmean(metrics["episode_return"], axis=0)
    marks = np.linspace(0, len(steps) - 1, min(10, len(steps))).astype(int)
    print("| env steps | mean return | value loss | encoder loss | reward loss | reward scale |")
    print("|---|---|---|---|---|---|")
    for i in marks:
        print(f"| {steps[i]:,} | {curve[i]:.1f} | {metrics['value_loss'][:, i].mean():.3g} | "
              f"{metrics['encoder_loss'][:, i].mean():.3g} | {metrics['reward_loss'][:, i].mean():.3g} | "
              f"{metrics['reward_scale'][:, i].mean():.3g} |")
    print_table(markdown=args.markdown, **table)


if __name__ == "__main__":
    main()
