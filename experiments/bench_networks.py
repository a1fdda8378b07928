"""PPO before and after a change to its networks, alternating in one process.

The PPO of git revision ``--before`` (its ``algorithms/ppo.py`` and ``purejaxrl/networks.py``,
loaded from git as standalone modules) and the working tree's PPO train the peer configuration of
``experiments/bench_ppo.py`` (PureJaxRL's CartPole: 4 envs x 128 steps, 500k steps); a raw gymnax
random-action loop runs beside them. Each round times all three once, in an alternating order;
the table gives every round and the best of each.

    python experiments/bench_networks.py --before 577563f [--rounds 5] [--total-timesteps 500000]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import jax
from bench_ppo import raw_gymnax_loop

ROOT = pathlib.Path(__file__).resolve().parent.parent


def module_from_git(revision: str, path: str, name: str, replace: dict[str, str]):
    """The file ``path`` at ``revision`` imported as module ``name`` (with text replacements)."""
    source = subprocess.run(["git", "show", f"{revision}:{path}"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    for old, new in replace.items():
        source = source.replace(old, new)
    file = pathlib.Path(tempfile.mkdtemp()) / f"{name}.py"
    file.write_text(source)
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def compiled_train(ppo_module, total_timesteps: int):
    config = ppo_module.Config(
        env="CartPole-v1", total_timesteps=total_timesteps, num_envs=4, num_steps=128, num_epochs=4,
        num_minibatches=4, lr=2.5e-4, anneal_lr=True, gamma=0.99, gae_lambda=0.95, clip_eps=0.2,
        ent_coef=0.01, vf_coef=0.5, clip_value_loss=True, max_grad_norm=0.5, hidden_sizes=(64, 64),
        activation="tanh")
    start = time.perf_counter()
    compiled = jax.jit(ppo_module.train).lower(config, jax.random.key(0)).compile()
    return (lambda key: compiled(config, key)), time.perf_counter() - start, config


def seconds(run, key) -> float:
    start = time.perf_counter()
    jax.block_until_ready(run(key))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="git revision of the PPO to compare against")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--total-timesteps", type=int, default=500_000)
    args = parser.parse_args()

    from purejaxrl.algorithms import ppo

    module_from_git(args.before, "purejaxrl/networks.py", "networks_before", {})
    ppo_before = module_from_git(args.before, "algorithms/ppo.py", "ppo_before",
                                 {"from purejaxrl.networks import": "from networks_before import"})
    train_before, compile_before, config = compiled_train(ppo_before, args.total_timesteps)
    train_after, compile_after, _ = compiled_train(ppo, args.total_timesteps)
    steps = config.num_iterations * config.batch_size
    raw = jax.jit(raw_gymnax_loop(steps // 4))
    jax.block_until_ready(raw(jax.random.key(0)))
    jax.block_until_ready(train_before(jax.random.key(0)))
    jax.block_until_ready(train_after(jax.random.key(0)))

    print(f"JAX {jax.__version__}, {jax.devices()[0].platform}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.2f}; {steps:,} steps; compile before {compile_before:.2f} s, "
          f"after {compile_after:.2f} s")
    print("| round | raw loop (s) | PPO before (s) | PPO after (s) | after / before | raw / after |")
    print("|---|---|---|---|---|---|")
    times = {"raw": [], "before": [], "after": []}
    runs = {"raw": raw, "before": train_before, "after": train_after}
    for round_index in range(args.rounds):
        order = ["raw", "before", "after"] if round_index % 2 == 0 else ["after", "before", "raw"]
        for name in order:
            times[name].append(seconds(runs[name], jax.random.key(round_index + 1)))
        raw_s, before_s, after_s = (times[k][-1] for k in ("raw", "before", "after"))
        print(f"| {round_index + 1} | {raw_s:.2f} | {before_s:.2f} | {after_s:.2f} | "
              f"{after_s / before_s:.3f} | {raw_s / after_s:.2f} |")
    best = {k: min(v) for k, v in times.items()}
    print(f"| best | {best['raw']:.2f} | {best['before']:.2f} | {best['after']:.2f} | "
          f"{best['after'] / best['before']:.3f} | {best['raw'] / best['after']:.2f} |")
    print(f"load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
