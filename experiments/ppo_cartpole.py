"""The README's headline: PPO's default config on CartPole-v1, seeds in one call.

    python experiments/ppo_cartpole.py [--seeds 8] [--key 0] [--markdown PATH]

Times exactly ``jax.jit(jax.vmap(ppo.train, in_axes=(None, 0)))(config, keys)``
in a fresh process, compile included (backend start-up excluded), and prints
each seed's final return (episodes that finished in the last 10% of training), then the
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
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--key", type=int, default=0)
    add_markdown_option(parser)
    args = parser.parse_args()

    keys = jax.random.split(jax.random.key(args.key), args.seeds)  # starts the backend
    config = ppo.Config(env="CartPole-v1")
    start = time.perf_counter()
    _, metrics = jax.jit(jax.vmap(ppo.train, in_axes=(None, 0)))(config, keys)
    finals = final_returns(jax.block_until_ready(metrics))
    seconds = time.perf_counter() - start
    print(f"CartPole-v1, default PPO config, {args.seeds} seeds x {config.total_timesteps:,} steps: "
          f"{seconds:.2f}s wall including compile")
    if args.seeds <= 32:
        print("final returns:", np.round(finals, 1).tolist())
    else:
        print("final returns: min {:.1f}, 5th/25th/50th percentile {:.1f}/{:.1f}/{:.1f}".format(
            np.min(finals), *np.percentile(finals, [5, 25, 50])))
    solved = f"{int(np.sum(finals >= 475))}/{args.seeds}"
    print(f"seeds >= 475: {solved}, IQM {iqm(finals):.1f}")
    label = f"PPO, CartPole-v1, {config.total_timesteps:,} steps, key {args.key}"
    print_table({label: finals}, args.markdown, extra={"seeds >= 475": [solved], "wall (s)": [seconds]})


if __name__ == "__main__":
    main()
