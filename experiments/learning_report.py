"""Shared by the learning-check scripts: train seeds in one vmapped call and print the summary.

    metrics = train_and_report(sac, "SAC", config, seeds=4, key=0)

prints the wall time (compilation included), the config, per-seed final returns
(mean episode return over the last 10% of training), their mean, std and IQM
with a bootstrap CI, and the deterministic policy's mean return over 16
evaluation episodes per seed; returns the metrics as NumPy arrays.
"""

from __future__ import annotations

import time
from types import ModuleType
from typing import Any

import jax
import numpy as np

from purejaxrl.evaluation import evaluate
from purejaxrl.stats import final_returns, summarize


def train_and_report(algorithm: ModuleType, name: str, config: Any, seeds: int, key: int) -> dict:
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
    return metrics
