"""A learned drift against PPO and DPO at equal budget, on held-out seeds and environments.

    python experiments/lpo_evaluate.py --drift cartpole_8k \\
        --env CartPole-v1:8192 --env Acrobot-v1:32768 --seeds 32 --plot docs/lpo_cartpole_8k.png

``--env ID:STEPS`` (repeatable) trains ``ppo.Config(env=ID, total_timesteps=STEPS)`` with
each objective (``clip``, ``dpo``, ``lpo`` with the drift; every other field PPO's
default, plus ``--ppo FIELD=VALUE`` overrides) on the same ``--seeds`` keys
``split(key(--key), seeds)``; the default key 1000 is not one meta-training draws from
(its seeds come from ``key(0)``'s splits). Prints per objective the IQM and mean of
the final returns with 95% bootstrap CIs, and P(LPO > PPO) with its CI; ``--plot``
also draws the drift and its r-derivative (``lpo.plot_drift``).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import jax
import numpy as np
from purejaxrl.algorithms import lpo, ppo

from purejaxrl.config import frozen_kwargs
from purejaxrl.losses import lpo_is_temporal
from purejaxrl.stats import final_returns, probability_of_improvement, summarize


def objectives(base: ppo.Config, params: dict, drift_clip: bool) -> dict[str, ppo.Config]:
    return {"PPO": base, "DPO": dataclasses.replace(base, objective="dpo"),
            "LPO": dataclasses.replace(base, objective="lpo", drift_params=params, drift_clip=drift_clip)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drift", required=True, help="a shipped drift's name or an .npz file")
    parser.add_argument("--drift-clip", action="store_true", help="the drift was learned over PPO-clip's")
    parser.add_argument("--env", action="append", required=True, help="ID:TOTAL_TIMESTEPS, repeatable")
    parser.add_argument("--ppo", nargs="*", default=[], help="FIELD=VALUE overrides of every ppo.Config")
    parser.add_argument("--seeds", type=int, default=32)
    parser.add_argument("--key", type=int, default=1000)
    parser.add_argument("--plot", default=None, help="PNG path for the drift's figure")
    args = parser.parse_args()

    params = lpo.load(args.drift)
    keys = jax.random.split(jax.random.key(args.key), args.seeds)
    overrides = dict(frozen_kwargs(args.ppo))
    print(f"drift {args.drift} ({'temporally-aware ' if lpo_is_temporal(params) else ''}LPO"
          f"{', over PPO-clip' if args.drift_clip else ''}), {args.seeds} seeds (key {args.key})")
    print("| env | steps | objective | IQM [95% CI] | mean [95% CI] | P(LPO > it) [95% CI] | time (s) |")
    print("|---|---|---|---|---|---|---|")
    for spec in args.env:
        env, steps = spec.rsplit(":", 1)
        base = ppo.Config(env=env, total_timesteps=int(steps), **overrides)
        finals, seconds = {}, {}
        for name, config in objectives(base, params, args.drift_clip).items():
            start = time.perf_counter()
            _, metrics = jax.block_until_ready(lpo.train_seeds(config, keys))
            finals[name] = final_returns(jax.device_get(metrics))
            seconds[name] = time.perf_counter() - start
        for name in ("PPO", "DPO", "LPO"):
            s = summarize(finals[name])
            versus = "" if name == "LPO" else "{:.2f} [{:.2f}, {:.2f}]".format(
                *probability_of_improvement(finals["LPO"][~np.isnan(finals["LPO"])],
                                            finals[name][~np.isnan(finals[name])]))
            iqm_text = f"{s['iqm']:.1f} [{s['iqm_ci'][0]:.1f}, {s['iqm_ci'][1]:.1f}]"
            print(f"| {env} | {int(steps):,} | {name} | {iqm_text}"
                  f" | {s['mean']:.1f} [{s['mean_ci'][0]:.1f}, {s['mean_ci'][1]:.1f}] | {versus} "
                  f"| {seconds[name]:.1f} |", flush=True)
    if args.plot:
        print("wrote", lpo.plot_drift(params, args.plot, title=f"LPO drift {args.drift}"))


if __name__ == "__main__":
    main()
