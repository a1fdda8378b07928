"""Shared by the learning scripts: the result table, and training seeds in one vmapped call with a summary.

    add_markdown_option(parser)                      # --markdown PATH
    print_table({"PPO, CartPole-v1, 500,000 steps": finals}, args.markdown, extra={"wall (s)": [12.3]})
    metrics, table = train_and_report(sac, "SAC", config, seeds=4, key=0)
    print_table(markdown=args.markdown, **table)

``print_table`` prints ``purejaxrl.stats.markdown_table`` (IQM and mean of the
per-seed final returns with 95% bootstrap CIs, under a line naming the machine,
JAX and the date) and appends it to the ``--markdown`` file if one was given.
``minatar_torsos_main`` is the command line of the MinAtar scripts (CNN against MLP at one
config). ``train_and_report`` prints the wall time (compilation included), the config,
per-seed final returns (mean episode return over the last 10% of training),
their mean, std and IQM with a bootstrap CI, and the deterministic policy's
mean return over 16 evaluation episodes per seed; returns the metrics as NumPy
arrays and the arguments of ``print_table`` for those two results.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import jax
import numpy as np

from purejaxrl.evaluation import evaluate
from purejaxrl.stats import final_returns, markdown_table, probability_of_improvement, summarize


def add_markdown_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--markdown", metavar="PATH", help="append the result table to this Markdown file")


def print_table(results: dict, markdown: str | None, **kwargs: Any) -> None:
    """Prints ``markdown_table(results, **kwargs)`` after a blank line; appends it to file ``markdown``."""
    table = markdown_table(results, **kwargs)
    print(f"\n{table}")
    if markdown:
        with open(markdown, "a") as file:
            file.write(f"{table}\n\n")


def train_and_report(
    algorithm: ModuleType, name: str, config: Any, seeds: int, key: int
) -> tuple[dict, dict]:
    keys = jax.random.split(jax.random.key(key), seeds)
    start = time.perf_counter()
    train = jax.jit(jax.vmap(algorithm.train, in_axes=(None, 0)))
    state, metrics = jax.block_until_ready(train(config, keys))
    wall = time.perf_counter() - start
    metrics = jax.tree.map(np.asarray, metrics)
    finals = final_returns(metrics)
    stats = summarize(finals)
    evaluation = evaluate(algorithm, config, state, jax.random.key(key + 1000), num_episodes=16)
    print(f"{name} on {config.env}, {seeds} seeds x {config.total_timesteps:,} steps (key {key}), "
          f"{wall:.1f}s including compile")
    print(f"config: {config}")
    print("final returns per seed:", np.round(finals, 1).tolist())
    print(f"mean {stats['mean']:.1f} +- {stats['std']:.1f} (std), IQM {stats['iqm']:.1f} "
          f"[95% CI {stats['iqm_ci'][0]:.1f}, {stats['iqm_ci'][1]:.1f}]")
    print("deterministic policy, mean of 16 episodes per seed:", np.round(evaluation.mean(-1), 1).tolist())
    label = f"{name}, {config.env}, {config.total_timesteps:,} steps, key {key}"
    results = {label: finals, f"{label}, deterministic policy (16 episodes)": np.asarray(evaluation.mean(-1))}
    return metrics, {"results": results, "extra": {"wall (s)": [wall, ""]}}


MINATAR_HIDDEN_SIZES = {"cnn": (128,), "mlp": (256, 256)}
"""Dense layers after the torso on MinAtar: MinAtar's own network (a 3x3 convolution of 16, dense 128)
and gymnax-blines' MLP (two layers of 256)."""


def minatar_torsos_main(algorithm: ModuleType, name: str, config: Callable[[str, int, str], Any],
                        description: str, agents: tuple[str, ...] = ("cnn", "mlp")) -> None:
    """``--env``, ``--seeds``, ``--total-timesteps``, ``--torso`` (some of ``agents``, the last
    being the MLP baseline), ``--markdown``: trains ``config(env, total_timesteps, agent)`` for
    each, then prints P(agent > MLP) for the others and the table."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--env", default="Breakout-MinAtar")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--total-timesteps", type=int, default=10_000_000)
    parser.add_argument("--torso", nargs="+", default=list(agents), choices=agents)
    add_markdown_option(parser)
    args = parser.parse_args()

    finals, results, walls = {}, {}, []
    for agent in args.torso:
        run_config = config(args.env, args.total_timesteps, agent)
        metrics, table = train_and_report(algorithm, f"{agent.upper()} {name}", run_config, args.seeds, key=0)
        finals[agent] = final_returns(metrics)
        results.update(table["results"])
        walls += table["extra"]["wall (s)"]
    baseline = agents[-1]
    for agent in finals:
        if agent != baseline and baseline in finals:
            p, low, high = probability_of_improvement(finals[agent], finals[baseline])
            print(f"P({agent.upper()} > {baseline.upper()}) = {p:.2f} [95% CI {low:.2f}, {high:.2f}]")
    print_table(results, args.markdown, extra={"wall (s)": walls})
