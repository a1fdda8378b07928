"""A learned drift against PPO and DPO at equal budget, on held-out seeds and environments.

    python experiments/lpo_evaluate.py --drift cartpole_8k \\
        --env CartPole-v1:8192 --env Acrobot-v1:32768 --seeds 32 --plot docs/lpo_cartpole_8k.png

``--env ID:STEPS`` (repeatable) trains ``ppo.Config(env=ID, total_timesteps=STEPS)`` with
each objective (``clip``, ``dpo``, ``lpo`` with the drift; every other field PPO's
default, plus ``--ppo FIELD=VALUE`` overrides) on the same ``--seeds`` keys
``split(key(--key), seeds)``; the default key 1000 is not one meta-training draws from
(its seeds come from ``key(0)``'s splits). Prints per objective the IQM and mean of
the final returns with 95% bootstrap CIs, and P(LPO > PPO) with its CI, as a Markdown
table at the end (also appended to ``--markdown PATH`` if given; each environment's
training times are printed as it finishes); ``--plot`` also draws the drift and its
r-derivative (``lpo.plot_drift``).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import jax
import numpy as np
from learning_report import add_markdown_option, print_table
from purejaxrl.algorithms import lpo, ppo

from purejaxrl.config import frozen_kwargs
from purejaxrl.losses import lpo_is_temporal
from purejaxrl.stats import final_returns, probability_of_improvement


def objectives(base: ppo.Config, params: dict, drift_clip: bool) -> dict[str, ppo.Config]:
    return {"PPO": base, "DPO": dataclasses.replace(base, objective="dpo"),
            "LPO": dataclasses.replace(base, objective="lpo", drift_params=params, drift_clip=drift_clip)}


def improvement(x: np.ndarray, y: np.ndarray) -> str:
    """P(X > Y) [95% CI] over the seeds that finished an episode; n/a if either side has none."""
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    return "{:.2f} [{:.2f}, {:.2f}]".format(*probability_of_improvement(x, y)) if x.size and y.size else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drift", required=True, help="a shipped drift's name or an .npz file")
    parser.add_argument("--drift-clip", action="store_true", help="the drift was learned over PPO-clip's")
    parser.add_argument("--env", action="append", required=True, help="ID:TOTAL_TIMESTEPS, repeatable")
    parser.add_argument("--ppo", nargs="*", default=[], help="FIELD=VALUE overrides of every ppo.Config")
    parser.add_argument("--seeds", type=int, default=32)
    parser.add_argument("--key", type=int, default=1000)
    parser.add_argument("--plot", default=None, help="PNG path for the drift's figure")
    add_markdown_option(parser)
    args = parser.parse_args()

    params = lpo.load(args.drift)
    keys = jax.random.split(jax.random.key(args.key), args.seeds)
    overrides = dict(frozen_kwargs(args.ppo))
    print(f"drift {args.drift} ({'temporally-aware ' if lpo_is_temporal(params) else ''}LPO"
          f"{', over PPO-clip' if args.drift_clip else ''}), {args.seeds} seeds (key {args.key})")
    results, versus, times = {}, [], []
    for spec in args.env:
        env, steps = spec.rsplit(":", 1)
        base = ppo.Config(env=env, total_timesteps=int(steps), **overrides)
        finals, seconds = {}, {}
        for name, config in objectives(base, params, args.drift_clip).items():
            start = time.perf_counter()
            _, metrics = jax.block_until_ready(lpo.train_seeds(config, keys))
            finals[name] = final_returns(jax.device_get(metrics))
            seconds[name] = time.perf_counter() - start
        print(f"{env}, {int(steps):,} steps: trained "
              + ", ".join(f"{name} in {wall:.1f}s" for name, wall in seconds.items()), flush=True)
        for name in ("PPO", "DPO", "LPO"):
            results[env, f"{int(steps):,}", name] = finals[name]
            versus.append("" if name == "LPO" else improvement(finals["LPO"], finals[name]))
            times.append(seconds[name])
    if args.plot:
        print("wrote", lpo.plot_drift(params, args.plot, title=f"LPO drift {args.drift}"))
    print_table(results, args.markdown, label=("env", "steps", "objective"),
                extra={"P(LPO > it) [95% CI]": versus, "time (s)": times})


if __name__ == "__main__":
    main()
