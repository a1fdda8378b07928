"""Raw environment throughput per family: random actions, 1 / 64 / 1,024 parallel envs.

    python experiments/bench_envs.py [--ids CartPole-v1 brax/ant mjx/pendulum_swingup]
                                     [--num-envs 1 64 1024] [--env-steps 100000]

For each id and width, one jitted ``lax.scan`` of ``jax.vmap(env.step)`` with
uniformly random actions (auto-reset included, as in training). Compile time is
``lower().compile()``; steps/s counts environment steps (vector steps x width)
on the compiled program, best of ``--repeats``. Prints a Markdown table headed
with the machine, JAX version and date.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from purejaxrl import envs

DEFAULT_IDS = ("CartPole-v1", "Pendulum-v1", "brax/ant", "brax/inverted_pendulum",
               "mjx/pendulum_swingup", "mjx/cartpole_swingup", "mjx/reacher")


def random_action(space, key: jax.Array) -> jax.Array:
    """A uniformly random action from a gymnax ``Discrete`` or bounded ``Box`` space."""
    if isinstance(space, envs.spaces.Discrete):
        return jax.random.randint(key, (), 0, space.n)
    low = jnp.broadcast_to(jnp.asarray(space.low, jnp.float32), space.shape)
    high = jnp.broadcast_to(jnp.asarray(space.high, jnp.float32), space.shape)
    return jax.random.uniform(key, space.shape, minval=low, maxval=high)


def random_action_loop(env, params, num_envs: int, num_steps: int):
    """``key -> (final states, total reward)`` of ``num_steps`` vector steps of ``num_envs`` environments.

    The final states are returned so XLA cannot drop the physics (Brax's
    inverted pendulum pays a constant reward; summing rewards alone let XLA
    delete the whole simulation and report a billion steps/s).
    """
    space = env.action_space(params)
    step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def run(key):
        reset_key, key = jax.random.split(key)
        _, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(reset_key, num_envs), params)

        def one_step(state, key):
            action_key, step_key = jax.random.split(key)
            actions = jax.vmap(lambda k: random_action(space, k))(jax.random.split(action_key, num_envs))
            _, state, reward, _, _, _ = step(jax.random.split(step_key, num_envs), state, actions, params)
            return state, jnp.sum(reward)

        state, rewards = jax.lax.scan(one_step, state, jax.random.split(key, num_steps))
        return state, jnp.sum(rewards)

    return run


def measure(env_id: str, num_envs: int, env_steps: int, repeats: int) -> dict:
    env, params = envs.make(env_id)
    num_steps = max(10, env_steps // num_envs)
    key = jax.random.key(0)
    start = time.perf_counter()
    compiled = jax.jit(random_action_loop(env, params, num_envs, num_steps)).lower(key).compile()
    compile_s = time.perf_counter() - start
    best, total = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        _, total = jax.block_until_ready(compiled(key))
        best = min(best, time.perf_counter() - start)
    if not np.isfinite(float(total)):
        raise FloatingPointError(f"{env_id}: non-finite reward with random actions")
    return {"compile_s": compile_s, "steps_per_s": num_steps * num_envs / best}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", nargs="+", default=list(DEFAULT_IDS))
    parser.add_argument("--num-envs", nargs="+", type=int, default=[1, 64, 1024])
    parser.add_argument("--env-steps", type=int, default=100_000,
                        help="environment steps per measurement (vector steps = this / width)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    unknown = [i for i in args.ids if i not in envs.names()]
    if unknown:
        parser.error(f"unknown ids {unknown}; closest: {[envs.closest_names(i) for i in unknown]}")

    print(f"machine: {platform.processor() or platform.machine()}, {jax.device_count()} "
          f"{jax.default_backend()} device(s) ({jax.devices()[0].device_kind}), jax {jax.__version__}, "
          f"{datetime.date.today().isoformat()}\n")
    print("| env | parallel envs | compile (s) | env steps/s |")
    print("|---|---|---|---|")
    for env_id in args.ids:
        for num_envs in args.num_envs:
            result = measure(env_id, num_envs, args.env_steps, args.repeats)
            print(f"| {env_id} | {num_envs:,} | {result['compile_s']:.2f} | "
                  f"{result['steps_per_s']:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
