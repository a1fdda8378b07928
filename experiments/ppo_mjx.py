"""Continuous PPO on the project's MJX pendulum swing-up: 4 seeds in one call, learning curve, IQM.

    python experiments/ppo_mjx.py [--seeds 4] [--total-timesteps 262144] [--env mjx/pendulum_swingup]
                                  [--markdown PATH]

``mjx/pendulum_swingup``: 200 steps of 0.05 s (10 s), reward in [0, 1] a step
(``upright * small_control * small_velocity``, see ``envs/mjx_envs.py``), so returns lie in [0, 200];
the pendulum starts hanging down and its motor is too weak to lift it directly. For scale the script
also prints the return of uniformly random actions and of the trained policies' deterministic
actions (each seed's final policy, 16 fresh episodes). Ends with the result table (IQM and mean
with 95% CIs of the final returns and of the deterministic policy's returns), also appended to
``--markdown PATH`` if given.

Hyperparameters: Pendulum-v1's PPO recipe (``experiments/ppo_pendulum.py``: 16 environments x 128
steps, 10 epochs of 32 minibatches) with observation normalisation and a longer horizon (gamma 0.97):
swinging up takes 2-4 s, 40-80 steps.

Measured numbers are in ``experiments/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from learning_report import add_markdown_option, print_table
from purejaxrl.algorithms import ppo

from purejaxrl import envs
from purejaxrl.stats import final_returns, iqm


def mjx_config(env_id: str, total_timesteps: int, gamma: float, lr: float, ent_coef: float) -> ppo.Config:
    return ppo.Config(
        env=env_id, total_timesteps=total_timesteps, num_envs=16, num_steps=128, num_epochs=10,
        num_minibatches=32, lr=lr, gamma=gamma, gae_lambda=0.95, ent_coef=ent_coef, max_grad_norm=0.5,
        normalize_obs=True, num_log_points=64,
    )


def episode_returns(env_id: str, policy, key: jax.Array, num_episodes: int) -> jax.Array:
    """Undiscounted returns of ``num_episodes`` full episodes; ``policy(obs, key) -> action``.

    Runs exactly ``max_steps`` steps, so an episode cut short by termination (not possible on the
    pendulum) would be counted with the start of the next one.
    """
    env, params = envs.make(env_id)
    reset_key, key = jax.random.split(key)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(reset_key, num_episodes), params)

    def one_step(carry, key):
        obs, state = carry
        policy_key, step_key = jax.random.split(key)
        action = policy(obs, policy_key)
        obs, state, reward, *_ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
            jax.random.split(step_key, num_episodes), state, action, params)
        return (obs, state), reward

    _, rewards = jax.lax.scan(one_step, (obs, state), jax.random.split(key, int(params.max_steps)))
    return rewards.sum(0)


def random_policy(env_id: str):
    env, params = envs.make(env_id)
    space = env.action_space(params)
    return lambda obs, key: jax.vmap(space.sample)(jax.random.split(key, obs.shape[0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="mjx/pendulum_swingup")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--total-timesteps", type=int, default=262_144)
    parser.add_argument("--gamma", type=float, default=0.97)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--ent-coef", type=float, default=0.0)
    parser.add_argument("--key", type=int, default=0)
    add_markdown_option(parser)
    args = parser.parse_args()

    config = mjx_config(args.env, args.total_timesteps, args.gamma, args.lr, args.ent_coef)
    keys = jax.random.split(jax.random.key(args.key), args.seeds)
    start = time.perf_counter()
    states, metrics = jax.block_until_ready(jax.jit(jax.vmap(ppo.train, in_axes=(None, 0)))(config, keys))
    seconds = time.perf_counter() - start

    finals = final_returns(metrics)
    returns = np.asarray(metrics["episode_return"])
    rows = np.flatnonzero(~np.isnan(returns).all(axis=0))  # log points where some seed finished an episode
    curve = np.nanmean(returns[:, rows], axis=0)
    steps = np.asarray(metrics["env_steps"])[0, rows]
    print(f"{args.env}, PPO, {args.seeds} seeds x {config.total_timesteps:,} steps, {seconds:.0f}s including "
          f"compile ({args.seeds * config.total_timesteps / seconds:,.0f} steps/s overall)")
    print(f"gamma {args.gamma}, lr {args.lr}, ent_coef {args.ent_coef}, 16 envs x 128 steps, 10 epochs x 32 "
          f"minibatches, normalize_obs")
    print("learning curve (episode return, mean over seeds):")
    for row in sorted({*range(0, len(curve), max(1, len(curve) // 8)), len(curve) - 1}):
        print(f"  {steps[row]:>10,} steps  {curve[row]:7.1f}")
    print("final returns per seed:", np.round(finals, 1).tolist())
    print(f"IQM {iqm(finals):.1f}, mean {np.mean(finals):.1f} +- {np.std(finals):.1f} (std)")

    eval_key, random_key = jax.random.split(jax.random.key(args.key + 1))
    random_returns = episode_returns(args.env, random_policy(args.env), random_key, 64)
    print(f"uniformly random actions, 64 episodes: {np.mean(random_returns):.1f} +- "
          f"{np.std(random_returns):.1f}")

    def deterministic(seed_state, key):
        policy = lambda obs, key: ppo.act(config, seed_state, obs, key, deterministic=True)  # noqa: E731
        return episode_returns(args.env, policy, key, 16)

    greedy = jax.jit(jax.vmap(deterministic))(states, jax.random.split(eval_key, args.seeds))
    greedy_per_seed = np.asarray(jnp.mean(greedy, axis=1), np.float64)
    print("deterministic policy, 16 episodes per seed:", np.round(greedy_per_seed, 1).tolist(),
          f"IQM {iqm(greedy_per_seed):.1f}")
    label = f"PPO, {args.env}, {config.total_timesteps:,} steps, key {args.key}"
    results = {label: finals, f"{label}, deterministic policy (16 episodes)": greedy_per_seed}
    print_table(results, args.markdown, extra={"wall (s)": [seconds, ""]})


if __name__ == "__main__":
    main()
