"""PPO training throughput next to a raw gymnax random-action loop, in one process.

PureJaxRL's CartPole config: 4 envs x 128 steps, 500k steps, 4 epochs,
4 minibatches, lr 2.5e-4 annealed, ent_coef 0.01, clipped value loss. The raw loop steps the same
4 CartPole environments (gymnax itself, no project code) with uniformly random
actions for the same number of steps, as one jitted ``lax.scan``.

    python experiments/bench_ppo.py [--repeats 3] [--total-timesteps 500000]

Compile time is ``lower().compile()`` of the whole training program in this
(fresh) process; steps/s is measured on the compiled program, best of
``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import platform
import time

import gymnax
import jax
import jax.numpy as jnp
from purejaxrl.algorithms import ppo

NUM_ENVS = 4


def purejaxrl_cartpole_config(total_timesteps: int) -> ppo.Config:
    return ppo.Config(
        env="CartPole-v1", total_timesteps=total_timesteps, num_envs=NUM_ENVS, num_steps=128,
        num_epochs=4, num_minibatches=4, lr=2.5e-4, anneal_lr=True, gamma=0.99, gae_lambda=0.95,
        clip_eps=0.2, ent_coef=0.01, vf_coef=0.5, clip_value_loss=True, max_grad_norm=0.5,
        hidden_sizes=(64, 64), activation="tanh",
    )


def raw_gymnax_loop(num_steps: int):
    """Random actions in ``NUM_ENVS`` gymnax CartPoles for ``num_steps`` vector steps."""
    env, params = gymnax.make("CartPole-v1")

    def run(key):
        reset_key, key = jax.random.split(key)
        _, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(reset_key, NUM_ENVS), params)

        def step(state, key):
            action_key, step_key = jax.random.split(key)
            actions = jax.random.randint(action_key, (NUM_ENVS,), 0, env.num_actions)
            _, state, reward, _, _, _ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(step_key, NUM_ENVS), state, actions, params)
            return state, reward

        _, rewards = jax.lax.scan(step, state, jax.random.split(key, num_steps))
        return rewards.sum()

    return run


def measure(fn, args, repeats: int) -> tuple[float, float]:
    """(compile seconds, best run seconds) of ``jax.jit(fn)(*args)``."""
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        best = min(best, time.perf_counter() - start)
    return compile_s, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--total-timesteps", type=int, default=500_000)
    args = parser.parse_args()

    config = purejaxrl_cartpole_config(args.total_timesteps)
    steps = config.num_iterations * config.batch_size
    key = jax.random.key(0)
    jnp.zeros(()).block_until_ready()  # backend start-up is not compile time

    ppo_compile, ppo_run = measure(lambda k: ppo.train(config, k), (key,), args.repeats)
    raw_compile, raw_run = measure(raw_gymnax_loop(steps // NUM_ENVS), (key,), args.repeats)

    ppo_sps, raw_sps = steps / ppo_run, steps / raw_run
    print(f"machine: {platform.processor() or platform.machine()}, jax {jax.__version__}, "
          f"backend {jax.default_backend()}, devices {jax.device_count()}")
    print(f"{steps:,} env steps, {NUM_ENVS} envs, best of {args.repeats}\n")
    print("| program | compile (s) | run (s) | env steps/s | ratio to raw |")
    print("|---|---|---|---|---|")
    print(f"| raw gymnax random actions | {raw_compile:.2f} | {raw_run:.2f} | {raw_sps:,.0f} | 1.00 |")
    print(f"| purejaxrl PPO (train) | {ppo_compile:.2f} | {ppo_run:.2f} | {ppo_sps:,.0f} | "
          f"{ppo_sps / raw_sps:.2f} |")


if __name__ == "__main__":
    main()
