"""PPO training throughput next to a raw gymnax random-action loop, in one process.

PureJaxRL's CartPole config: 4 envs x 128 steps, 500k steps, 4 epochs,
4 minibatches, lr 2.5e-4 annealed, ent_coef 0.01, clipped value loss. The raw loop steps the same
4 CartPole environments (gymnax itself, no project code) with uniformly random
actions for the same number of steps, as one jitted ``lax.scan``.

    python experiments/bench_ppo.py [--repeats 3] [--total-timesteps 500000]
                                    [--purejaxrl-checkout DIR]

With ``--purejaxrl-checkout`` (a clone of github.com/luchris429/purejaxrl) it
also times PureJaxRL's own ``purejaxrl/ppo.py`` ``make_train`` at the same
config in the same process. Its code runs unchanged; only gymnax 1.0's
six-value ``step`` is folded back into the four-value form it was written for
(``done = terminated or truncated``), and if ``navix`` is not installed an
empty module stands in for it (its wrappers.py imports it for a wrapper the
CartPole run does not use).

Compile time is ``lower().compile()`` of the whole training program in this
(fresh) process; steps/s is measured on the compiled program, best of
``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import pathlib
import platform
import sys
import time
import types

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


class _DoneStep:
    """A gymnax 1.0 environment seen through the pre-1.0 ``step`` signature."""

    def __init__(self, env):
        self._env = env

    def __getattr__(self, name):
        return getattr(self._env, name)

    def step(self, key, state, action, params=None):
        obs, state, reward, terminated, truncated, info = self._env.step(key, state, action, params)
        return obs, state, reward, jnp.logical_or(terminated, truncated), info


def reference_purejaxrl_train(checkout: pathlib.Path, total_timesteps: int):
    """PureJaxRL's ``make_train`` from a checkout, at its own CartPole config."""
    source = checkout / "purejaxrl"
    if not (source / "ppo.py").is_file():
        raise SystemExit(f"--purejaxrl-checkout: no purejaxrl/ppo.py under {checkout}")
    sys.path.insert(0, str(source))  # its ppo.py imports its sibling wrappers.py
    if importlib.util.find_spec("navix") is None:
        sys.modules["navix"] = types.ModuleType("navix")
    spec = importlib.util.spec_from_file_location("purejaxrl_reference_ppo", source / "ppo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def make(env_id, **kwargs):
        env, params = gymnax.make(env_id, **kwargs)
        return _DoneStep(env), params

    module.gymnax = type("GymnaxWithOldStep", (), {"make": staticmethod(make)})
    config = {
        "LR": 2.5e-4, "NUM_ENVS": NUM_ENVS, "NUM_STEPS": 128, "TOTAL_TIMESTEPS": total_timesteps,
        "UPDATE_EPOCHS": 4, "NUM_MINIBATCHES": 4, "GAMMA": 0.99, "GAE_LAMBDA": 0.95,
        "CLIP_EPS": 0.2, "ENT_COEF": 0.01, "VF_COEF": 0.5, "MAX_GRAD_NORM": 0.5,
        "ACTIVATION": "tanh", "ENV_NAME": "CartPole-v1", "ANNEAL_LR": True, "DEBUG": False,
    }
    return module.make_train(config)


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
    parser.add_argument("--purejaxrl-checkout", type=pathlib.Path, default=None,
                        help="also time PureJaxRL's ppo.py from this clone")
    args = parser.parse_args()

    config = purejaxrl_cartpole_config(args.total_timesteps)
    steps = config.num_iterations * config.steps_per_iteration
    key = jax.random.key(0)
    jnp.zeros(()).block_until_ready()  # backend start-up is not compile time

    ppo_compile, ppo_run = measure(lambda k: ppo.train(config, k), (key,), args.repeats)
    raw_compile, raw_run = measure(raw_gymnax_loop(steps // NUM_ENVS), (key,), args.repeats)

    rows = [("purejaxrl PPO (train)", ppo_compile, ppo_run)]
    if args.purejaxrl_checkout is not None:
        reference = reference_purejaxrl_train(args.purejaxrl_checkout, args.total_timesteps)
        rows.append(("PureJaxRL ppo.py (reference)", *measure(reference, (jax.random.PRNGKey(0),),
                                                             args.repeats)))

    raw_sps = steps / raw_run
    print(f"machine: {platform.processor() or platform.machine()}, jax {jax.__version__}, "
          f"backend {jax.default_backend()}, devices {jax.device_count()}")
    print(f"{steps:,} env steps, {NUM_ENVS} envs, best of {args.repeats}\n")
    print("| program | compile (s) | run (s) | env steps/s | ratio to raw |")
    print("|---|---|---|---|---|")
    print(f"| raw gymnax random actions | {raw_compile:.2f} | {raw_run:.2f} | {raw_sps:,.0f} | 1.00 |")
    for name, compile_s, run_s in rows:
        print(f"| {name} | {compile_s:.2f} | {run_s:.2f} | {steps / run_s:,.0f} | "
              f"{steps / run_s / raw_sps:.2f} |")


if __name__ == "__main__":
    main()
