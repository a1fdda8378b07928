"""Off-policy throughput: env steps/s and gradient updates/s of SAC and the DQN variants.

    python experiments/bench_offpolicy.py [--algorithms sac dqn] [--seeds 1 16] [--sac-steps 2000]
                                          [--dqn-steps 20000]

Each configuration trains with learning from the first step (``learning_starts=0``)
so every iteration takes its gradient steps; compile time (lower + compile)
and run time (best of ``--repeats``) are measured separately. Updates/s count
one gradient step of one seed as one update.
"""

from __future__ import annotations

import argparse
import importlib
import time

import jax


def bench(module, config, seeds: int, repeats: int) -> dict:
    keys = jax.random.split(jax.random.key(0), seeds)
    train = jax.jit(jax.vmap(module.train, in_axes=(None, 0)))
    start = time.perf_counter()
    compiled = train.lower(config, keys).compile()
    compile_s = time.perf_counter() - start
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(compiled(config, keys))
        runs.append(time.perf_counter() - start)
    run_s = min(runs)
    env_steps = seeds * config.num_iterations * config.steps_per_iteration
    updates = seeds * config.num_iterations * config.updates_per_step
    return {"compile_s": compile_s, "run_s": run_s, "env_steps_per_s": env_steps / run_s,
            "updates_per_s": updates / run_s}


def configurations(algorithms: list[str], sac_steps: int, dqn_steps: int):
    if "sac" in algorithms:
        sac = importlib.import_module("purejaxrl.algorithms.sac")
        yield "SAC Pendulum-v1", sac, sac.Config(env="Pendulum-v1", total_timesteps=sac_steps,
                                                 learning_starts=0)
    if "dqn" not in algorithms:
        return
    dqn = importlib.import_module("purejaxrl.algorithms.dqn")
    for variant in ("dqn", "c51", "qrdqn"):
        yield (f"{variant} CartPole-v1", dqn,
               dqn.Config(env="CartPole-v1", variant=variant, total_timesteps=dqn_steps, learning_starts=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithms", nargs="+", default=["sac", "dqn"], choices=["sac", "dqn"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--sac-steps", type=int, default=2000)
    parser.add_argument("--dqn-steps", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(f"backend {jax.default_backend()}, devices {jax.devices()}")
    print("| algorithm | seeds | env steps | compile (s) | run (s) | env steps/s | updates/s |")
    print("|---|---|---|---|---|---|---|")
    for name, module, config in configurations(args.algorithms, args.sac_steps, args.dqn_steps):
        for seeds in args.seeds:
            r = bench(module, config, seeds, args.repeats)
            print(f"| {name} | {seeds} | {config.total_timesteps:,} | {r['compile_s']:.1f} | "
                  f"{r['run_s']:.2f} | {r['env_steps_per_s']:,.0f} | {r['updates_per_s']:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
