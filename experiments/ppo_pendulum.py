"""Continuous PPO on Pendulum-v1: 4 seeds, 1M steps, final-return IQM.

    python experiments/ppo_pendulum.py [--seeds 4] [--total-timesteps 1048576] [--markdown PATH]

Hyperparameters follow the usual Pendulum choices (gamma 0.9, 10 epochs,
no entropy bonus; cf. the RL Baselines3 Zoo), with 16 environments. Ends with the result
table (IQM and mean with 95% CIs), also appended to ``--markdown PATH`` if given.
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np
from learning_report import add_markdown_option, print_table
from purejaxrl.algorithms import ppo

from purejaxrl.stats import final_returns, iqm


def pendulum_config(total_timesteps: int) -> ppo.Config:
    return ppo.Config(
        env="Pendulum-v1", total_timesteps=total_timesteps, num_envs=16, num_steps=128,
        num_epochs=10, num_minibatches=32, lr=1e-3, gamma=0.9, gae_lambda=0.95, ent_coef=0.0,
        max_grad_norm=0.5,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--total-timesteps", type=int, default=1_048_576)
    add_markdown_option(parser)
    args = parser.parse_args()

    config = pendulum_config(args.total_timesteps)
    keys = jax.random.split(jax.random.key(0), args.seeds)
    start = time.perf_counter()
    _, metrics = jax.block_until_ready(jax.jit(jax.vmap(ppo.train, in_axes=(None, 0)))(config, keys))
    seconds = time.perf_counter() - start
    finals = final_returns(metrics)
    curve = np.nanmean(np.asarray(metrics["episode_return"]), axis=0)
    steps = np.asarray(metrics["env_steps"])[0]
    print(f"Pendulum-v1, PPO, {args.seeds} seeds x {config.total_timesteps:,} steps, "
          f"{seconds:.0f}s including compile")
    print("learning curve (mean over seeds):")
    for row in range(0, len(curve), max(1, len(curve) // 10)):
        print(f"  {steps[row]:>9,} steps  {curve[row]:9.1f}")
    print("final returns per seed:", np.round(finals, 1).tolist())
    print(f"IQM {iqm(finals):.1f}, mean {np.mean(finals):.1f} +- {np.std(finals):.1f} (std)")
    print_table({f"PPO, Pendulum-v1, {config.total_timesteps:,} steps": finals}, args.markdown,
                extra={"wall (s)": [seconds]})


if __name__ == "__main__":
    main()
