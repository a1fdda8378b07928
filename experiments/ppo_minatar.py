"""CNN PPO against MLP PPO on a MinAtar task, at gymnax's published PPO config and budget.

    python experiments/ppo_minatar.py [--env Breakout-MinAtar] [--seeds 4]
                                      [--total-timesteps 10000000] [--torso cnn mlp]
                                      [--markdown PATH]

The config is gymnax-blines' PPO config for MinAtar (the one behind gymnax's README table:
10M steps, Breakout-MinAtar 28, SpaceInvaders-MinAtar 131): 64 envs x 128 steps, 4 epochs x
8 minibatches, lr 5e-4 constant, gamma 0.999, GAE lambda 0.95, clip 0.2, entropy 0.01, value
coefficient 0.5, gradient norm 0.5, relu. The MLP agent flattens the 10x10xC grid into two
dense layers of 256 (gymnax-blines' network); the CNN agent is the ``cnn`` torso (one 3x3
convolution of 16 channels, MinAtar's own DQN network) under one dense layer of 256. Prints
per-seed final returns (mean training episode return over the last 10% of training), IQM with
a 95% bootstrap CI, the deterministic policy's mean over 16 episodes, and P(CNN > MLP).
"""

from __future__ import annotations

import argparse

from learning_report import add_markdown_option, print_table, train_and_report
from purejaxrl.algorithms import ppo

from purejaxrl.stats import final_returns, probability_of_improvement

HIDDEN_SIZES = {"cnn": (256,), "mlp": (256, 256)}


def minatar_config(env: str, total_timesteps: int, torso: str) -> ppo.Config:
    return ppo.Config(
        env=env, total_timesteps=total_timesteps, num_envs=64, num_steps=128, num_epochs=4,
        num_minibatches=8, lr=5e-4, anneal_lr=False, gamma=0.999, gae_lambda=0.95, clip_eps=0.2,
        ent_coef=0.01, vf_coef=0.5, max_grad_norm=0.5, torso=torso, hidden_sizes=HIDDEN_SIZES[torso],
        activation="relu",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="Breakout-MinAtar")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--total-timesteps", type=int, default=10_000_000)
    parser.add_argument("--torso", nargs="+", default=["cnn", "mlp"], choices=["cnn", "mlp"])
    add_markdown_option(parser)
    args = parser.parse_args()

    metrics, results, walls = {}, {}, []
    for torso in args.torso:
        config = minatar_config(args.env, args.total_timesteps, torso)
        metrics[torso], table = train_and_report(ppo, f"{torso.upper()} PPO", config, args.seeds, key=0)
        results.update(table["results"])
        walls += table["extra"]["wall (s)"]
    if set(metrics) == {"cnn", "mlp"}:
        cnn, mlp = final_returns(metrics["cnn"]), final_returns(metrics["mlp"])
        p, low, high = probability_of_improvement(cnn, mlp)
        print(f"P(CNN > MLP) = {p:.2f} [95% CI {low:.2f}, {high:.2f}]")
    print_table(results, args.markdown, extra={"wall (s)": walls})


if __name__ == "__main__":
    main()
