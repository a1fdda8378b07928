"""Off-policy throughput: env steps/s and gradient updates/s of SAC, the DQN variants and MR.Q.

    python experiments/bench_offpolicy.py [--algorithms sac dqn dqn-minatar mrq] [--seeds 1 16]
                                          [--sac-steps 2000] [--dqn-steps 20000] [--minatar-steps 12000]
                                          [--mrq-steps 1000] [--mrq-widths 128 512]

Each configuration trains with learning from the first step (``learning_starts=0``;
MR.Q: after a warm-up of one batch, 256 random steps, taken in ``init`` and
counted in the time but not in the steps) so every iteration takes its gradient
steps (``dqn-minatar``: CNN DQN on Breakout-MinAtar at ``dqn_minatar.py``'s config, whose
replay holds the run's steps up to 100,000); compile time (lower + compile) and run time
(best of ``--repeats``) are measured separately. Updates/s count one gradient step of one seed as one
update; for MR.Q one update is a value-and-policy step together with one step
of the encoder (its bursts add up to one encoder step per environment step).
"""

from __future__ import annotations

import argparse
import dataclasses
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
    updates_per_iteration = getattr(config, "updates_per_step", None) or config.target_update_period
    updates = seeds * config.num_iterations * updates_per_iteration
    return {"compile_s": compile_s, "run_s": run_s, "env_steps_per_s": env_steps / run_s,
            "updates_per_s": updates / run_s}


def configurations(algorithms: list[str], sac_steps: int, dqn_steps: int, minatar_steps: int, mrq_steps: int,
                   mrq_widths):
    if "mrq" in algorithms:
        mrq = importlib.import_module("purejaxrl.algorithms.mrq")
        for width in mrq_widths:
            config = mrq.Config(env="Pendulum-v1", total_timesteps=256 + mrq_steps, learning_starts=256,
                                **mrq.widths(width))
            yield f"MR.Q Pendulum-v1, width {width}", mrq, config
    if "sac" in algorithms:
        sac = importlib.import_module("purejaxrl.algorithms.sac")
        yield "SAC Pendulum-v1", sac, sac.Config(env="Pendulum-v1", total_timesteps=sac_steps,
                                                 learning_starts=0)
    if "dqn-minatar" in algorithms:
        from dqn_minatar import minatar_config

        config = minatar_config("Breakout-MinAtar", minatar_steps, "cnn")
        config = dataclasses.replace(config, learning_starts=0)
        yield "dqn Breakout-MinAtar, CNN", importlib.import_module("purejaxrl.algorithms.dqn"), config
    if "dqn" not in algorithms:
        return
    dqn = importlib.import_module("purejaxrl.algorithms.dqn")
    for variant in ("dqn", "c51", "qrdqn"):
        yield (f"{variant} CartPole-v1", dqn,
               dqn.Config(env="CartPole-v1", variant=variant, total_timesteps=dqn_steps, learning_starts=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithms", nargs="+", default=["sac", "dqn"],
                        choices=["sac", "dqn", "dqn-minatar", "mrq"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--sac-steps", type=int, default=2000)
    parser.add_argument("--dqn-steps", type=int, default=20_000)
    parser.add_argument("--minatar-steps", type=int, default=12_000)
    parser.add_argument("--mrq-steps", type=int, default=1000)
    parser.add_argument("--mrq-widths", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(f"backend {jax.default_backend()}, devices {jax.devices()}")
    print("| algorithm | seeds | env steps | compile (s) | run (s) | env steps/s | updates/s |")
    print("|---|---|---|---|---|---|---|")
    chosen = configurations(args.algorithms, args.sac_steps, args.dqn_steps, args.minatar_steps,
                            args.mrq_steps, args.mrq_widths)
    for name, module, config in chosen:
        for seeds in args.seeds:
            r = bench(module, config, seeds, args.repeats)
            print(f"| {name} | {seeds} | {config.total_timesteps:,} | {r['compile_s']:.1f} | "
                  f"{r['run_s']:.2f} | {r['env_steps_per_s']:,.0f} | {r['updates_per_s']:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
