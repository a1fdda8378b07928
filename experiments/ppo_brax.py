"""Continuous PPO on a Brax environment through ``purejaxrl.envs`` (no PPO code change).

    python experiments/ppo_brax.py [--env brax/inverted_pendulum] [--backend spring]
                                   [--seeds 4] [--total-timesteps 65536] [--markdown PATH]

Brax compiles slowly on CPU (``spring`` is the fastest backend there; see
``experiments/RESULTS.md``), so the default is a short run on the smallest
system. On an accelerator, raise ``--total-timesteps`` for real curves. Ends with the
result table (IQM and mean with 95% CIs), also appended to ``--markdown PATH`` if given.
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np
from learning_report import add_markdown_option, print_table
from purejaxrl.algorithms import ppo

from purejaxrl.stats import final_returns, iqm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="brax/inverted_pendulum")
    parser.add_argument("--backend", default="spring")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--total-timesteps", type=int, default=65_536)
    parser.add_argument("--key", type=int, default=0)
    add_markdown_option(parser)
    args = parser.parse_args()

    config = ppo.Config(
        env=args.env, env_kwargs={"backend": args.backend, "episode_length": 1000},
        total_timesteps=args.total_timesteps, num_envs=16, num_steps=64, num_epochs=4,
        num_minibatches=8, lr=3e-4, normalize_obs=True, num_log_points=16,
    )
    keys = jax.random.split(jax.random.key(args.key), args.seeds)
    start = time.perf_counter()
    _, metrics = jax.block_until_ready(jax.jit(jax.vmap(ppo.train, in_axes=(None, 0)))(config, keys))
    wall = time.perf_counter() - start

    total = config.num_iterations * config.steps_per_iteration
    print(f"{args.env} ({args.backend}), {args.seeds} seeds x {total:,} steps: "
          f"{wall:.1f}s wall including compile")
    print("| env steps | mean return over seeds |\n|---|---|")
    steps, returns = metrics["env_steps"][0], np.nanmean(metrics["episode_return"], axis=0)
    for row in range(0, len(steps), 3):
        print(f"| {int(steps[row]):,} | {returns[row]:.1f} |")
    finals = final_returns(metrics)
    print(f"final returns per seed: {np.round(finals, 1).tolist()}; IQM {iqm(finals):.1f}")
    print_table({f"PPO, {args.env} ({args.backend}), {total:,} steps, key {args.key}": finals}, args.markdown,
                extra={"wall (s)": [wall]})


if __name__ == "__main__":
    main()
