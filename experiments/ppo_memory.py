"""Recurrent PPO against feed-forward PPO on a task that needs memory, same config and seeds.

    python experiments/ppo_memory.py [--env CartPole-NoVel-v1] [--seeds 8]
                                     [--total-timesteps 2000000] [--lr 3e-3] [--ent-coef 0.01]
                                     [--num-envs 64] [--num-steps 32] [--num-epochs 4]
                                     [--num-minibatches 4] [--core gru] [--normalize-obs]
                                     [--recurrent-only] [--markdown PATH]

``CartPole-NoVel-v1`` observes the cart position and pole angle only (velocities hidden).
Both agents (defaults): 64 envs x 32 steps, 4 epochs x 4 minibatches (16 whole environments each),
lr annealed, an entropy bonus (``--ent-coef``), an MLP torso (64, 64, tanh); the recurrent one adds a GRU (or
LSTM) of 128 units after it. Prints each agent's per-seed final returns (mean training
episode return over the last 10% of training), IQM with a 95% bootstrap CI, the
deterministic policy's mean return over 16 episodes, and P(recurrent > feed-forward) with
its CI; the result table is appended to ``--markdown PATH`` if given.
"""

from __future__ import annotations

import argparse
import dataclasses

from learning_report import add_markdown_option, print_table, train_and_report
from purejaxrl.algorithms import ppo

from purejaxrl.stats import final_returns, probability_of_improvement


def memory_config(args: argparse.Namespace) -> ppo.Config:
    return ppo.Config(env=args.env, total_timesteps=args.total_timesteps, num_envs=args.num_envs,
                      num_steps=args.num_steps, num_epochs=args.num_epochs,
                      num_minibatches=args.num_minibatches, ent_coef=args.ent_coef, lr=args.lr,
                      normalize_obs=args.normalize_obs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="CartPole-NoVel-v1")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--total-timesteps", type=int, default=2_000_000)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--ent-coef", type=float, default=0.01)
    parser.add_argument("--num-envs", type=int, default=64)
    parser.add_argument("--num-steps", type=int, default=32)
    parser.add_argument("--num-epochs", type=int, default=4)
    parser.add_argument("--num-minibatches", type=int, default=4)
    parser.add_argument("--core", default="gru", choices=["gru", "lstm"])
    parser.add_argument("--normalize-obs", action="store_true")
    parser.add_argument("--recurrent-only", action="store_true", help="train the recurrent agent only")
    add_markdown_option(parser)
    args = parser.parse_args()

    feed_forward = memory_config(args)
    recurrent = dataclasses.replace(feed_forward, core=args.core)
    rnn_metrics, rnn_table = train_and_report(ppo, f"{args.core.upper()} PPO", recurrent, args.seeds, key=0)
    if args.recurrent_only:
        print_table(rnn_table["results"], args.markdown, extra=rnn_table["extra"])
        return
    ff_metrics, ff_table = train_and_report(ppo, "feed-forward PPO", feed_forward, args.seeds, key=0)
    p, low, high = probability_of_improvement(final_returns(rnn_metrics), final_returns(ff_metrics))
    print(f"P({args.core.upper()} > feed-forward) = {p:.2f} [95% CI {low:.2f}, {high:.2f}]")
    print_table({**ff_table["results"], **rnn_table["results"]}, args.markdown,
                extra={"wall (s)": [*ff_table["extra"]["wall (s)"], *rnn_table["extra"]["wall (s)"]]})


if __name__ == "__main__":
    main()
