"""DQN, C51 and QR-DQN with their default config on CartPole-v1, seeds in one call.

    python experiments/dqn_cartpole.py [--variant dqn|c51|qrdqn|all] [--seeds 4] [--key 0]
                                       [--total-timesteps N] [--set FIELD=VALUE ...] [--markdown PATH]

Times exactly ``jax.jit(jax.vmap(dqn.train, in_axes=(None, 0)))(config, keys)`` in a
fresh process, compile included (backend start-up excluded), and prints each seed's
final return (mean return of the episodes that finished in the last 10% of
training, ``purejaxrl.stats.final_returns``), their IQM, mean and standard deviation.
The acceptance bar is an IQM of at least 400 for every variant. Ends with the result table
(IQM and mean with 95% CIs), also appended to ``--markdown PATH`` if given.
"""

from __future__ import annotations

import argparse
import ast
import time

import jax
import numpy as np
from learning_report import add_markdown_option, print_table
from purejaxrl.algorithms import dqn

from purejaxrl.stats import final_returns, summarize


def parse_value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def run(variant: str, seeds: int, key: int, total_timesteps: int | None, overrides: dict) -> dict:
    keys = jax.random.split(jax.random.key(key), seeds)  # starts the backend
    budget = {} if total_timesteps is None else {"total_timesteps": total_timesteps}
    config = dqn.Config(env="CartPole-v1", variant=variant, **overrides, **budget)
    start = time.perf_counter()
    _, metrics = jax.jit(jax.vmap(dqn.train, in_axes=(None, 0)))(config, keys)
    finals = final_returns(jax.block_until_ready(metrics))
    seconds = time.perf_counter() - start
    summary = summarize(finals)
    print(f"CartPole-v1, {variant}, {seeds} seeds x {config.total_timesteps:,} steps, key {key}"
          f"{', ' + str(overrides) if overrides else ''}: {seconds:.1f}s wall including compile")
    print("  final returns:", np.round(finals, 1).tolist())
    print(f"  IQM {summary['iqm']:.1f}, mean {summary['mean']:.1f} +- {summary['std']:.1f} (std), "
          f"min {np.nanmin(finals):.1f}")
    label = (f"{variant}, CartPole-v1, {config.total_timesteps:,} steps, key {key}"
             f"{', ' + str(overrides) if overrides else ''}")
    return {"variant": variant, "key": key, "iqm": summary["iqm"], "mean": summary["mean"],
            "std": summary["std"], "seconds": seconds, "label": label, "finals": finals}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="all", choices=[*dqn.VARIANTS, "all"])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--key", type=int, default=0)
    parser.add_argument("--total-timesteps", type=int, default=None,
                        help="default: the config's total_timesteps")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                        help="other Config fields, e.g. --set lr=1e-3 buffer_size=50000")
    add_markdown_option(parser)
    args = parser.parse_args()
    overrides = {name: parse_value(value) for name, value in (item.split("=", 1) for item in args.set)}

    variants = dqn.VARIANTS if args.variant == "all" else (args.variant,)
    rows = [run(v, args.seeds, args.key, args.total_timesteps, overrides) for v in variants]
    if len(rows) > 1:
        print("\nvariant   IQM    mean +- std     wall")
        for row in rows:
            print(f"{row['variant']:<8} {row['iqm']:6.1f}  {row['mean']:6.1f} +- {row['std']:5.1f}  "
                  f"{row['seconds']:6.1f}s")
    passed = all(row["iqm"] >= 400 for row in rows)
    print(f"\nIQM >= 400 for {'every variant' if len(rows) > 1 else args.variant}: {passed}")
    print_table({row["label"]: row["finals"] for row in rows}, args.markdown,
                extra={"wall (s)": [row["seconds"] for row in rows]})


if __name__ == "__main__":
    main()
