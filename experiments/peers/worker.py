"""One side of the peer comparison: compile one training program, then time runs on request.

Run by ``compare.py`` in the framework's own virtual environment:

    python worker.py --framework purejaxrl|rejax --algo ppo|sac [--cpu-threads N]

It prints one line ``RESULT {json}`` with ``{"compile_s", "env_steps"}`` after compiling, then for
every ``run`` line read from stdin runs the compiled program once (to completion,
``block_until_ready``) and prints ``RESULT {"run_s"}`` (libraries may print other
lines to stdout; the coordinator reads only these). The configurations are the issue's:
``PPO_CONFIG`` and ``SAC_CONFIG`` below, spelt in each framework's own terms.
It imports only the framework asked for, so each venv needs only its own.
``--cpu-threads N`` starts XLA:CPU with N pool threads for either framework
(``purejaxrl/cpu_threads.py``, loaded as a file so that rejax's venv can use it).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pathlib
import sys
import time

import jax

MARKER = "RESULT "
PPO_CONFIG = dict(env="CartPole-v1", total_timesteps=500_000, num_envs=4, num_steps=128, num_epochs=4,
                  num_minibatches=4, lr=2.5e-4, gamma=0.99, gae_lambda=0.95, clip_eps=0.2, ent_coef=0.01,
                  vf_coef=0.5, max_grad_norm=0.5, hidden_sizes=(64, 64), activation="tanh")
SAC_CONFIG = dict(env="Pendulum-v1", total_timesteps=20_000, num_envs=1, buffer_size=20_000,
                  learning_starts=1_000, batch_size=256, lr=3e-4, gamma=0.99, tau=0.01,
                  hidden_sizes=(64, 64), activation="relu")


def purejaxrl_train(algo: str):
    """``(train(key), env_steps)`` of the project's ``train`` at the shared config."""
    if algo == "ppo":
        from purejaxrl.algorithms import ppo

        config = ppo.Config(**PPO_CONFIG, anneal_lr=True, clip_value_loss=True)
        steps = config.num_iterations * config.batch_size
        return (lambda key: ppo.train(config, key)), steps
    from purejaxrl.algorithms import sac

    config = sac.Config(**SAC_CONFIG, updates_per_step=1)
    return (lambda key: sac.train(config, key)), config.num_iterations * config.num_envs


def rejax_train(algo: str):
    """``(train(key), env_steps)`` of rejax 0.1.3 at the shared config, evaluation switched off
    (its default callback plays 128 episodes every ``eval_freq`` steps; ours logs training
    episodes only). rejax has no learning-rate annealing option; an optax schedule over its
    optimiser steps stands in (PureJaxRL anneals the same way). rejax's ``max_grad_norm`` is
    optax's element-wise ``clip``, not a global-norm clip: its choice, kept."""
    import optax
    from rejax import PPO, SAC

    no_evaluation = dict(eval_freq=None, skip_initial_evaluation=True)
    if algo == "ppo":
        c = PPO_CONFIG
        iterations = c["total_timesteps"] // (c["num_envs"] * c["num_steps"])
        optimiser_steps = iterations * c["num_epochs"] * c["num_minibatches"]
        no_evaluation["eval_freq"] = iterations * c["num_envs"] * c["num_steps"]
        algorithm = PPO.create(
            env=c["env"], total_timesteps=no_evaluation["eval_freq"], num_envs=c["num_envs"],
            num_steps=c["num_steps"], num_epochs=c["num_epochs"], num_minibatches=c["num_minibatches"],
            learning_rate=optax.linear_schedule(c["lr"], 0.0, optimiser_steps), gamma=c["gamma"],
            gae_lambda=c["gae_lambda"], clip_eps=c["clip_eps"], ent_coef=c["ent_coef"], vf_coef=c["vf_coef"],
            max_grad_norm=c["max_grad_norm"],
            agent_kwargs=dict(activation=c["activation"], hidden_layer_sizes=c["hidden_sizes"]),
            **no_evaluation)
    else:
        c = SAC_CONFIG
        no_evaluation["eval_freq"] = c["total_timesteps"]
        algorithm = SAC.create(
            env=c["env"], total_timesteps=c["total_timesteps"], num_envs=c["num_envs"],
            buffer_size=c["buffer_size"], fill_buffer=c["learning_starts"], batch_size=c["batch_size"],
            learning_rate=c["lr"], gamma=c["gamma"], polyak=1.0 - c["tau"], target_update_freq=1,
            num_epochs=1, hidden_layer_sizes=c["hidden_sizes"],
            agent_kwargs=dict(activation=c["activation"]), **no_evaluation)
    algorithm = algorithm.replace(eval_callback=lambda algo, ts, rng: ())
    return algorithm.train, algorithm.total_timesteps


def limit_cpu_threads(threads: int) -> int:
    """``purejaxrl.cpu_threads.limit_cpu_threads``, loaded from its file (no package import)."""
    path = pathlib.Path(__file__).resolve().parents[2] / "purejaxrl" / "cpu_threads.py"
    spec = importlib.util.spec_from_file_location("cpu_threads", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.limit_cpu_threads(threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", choices=("purejaxrl", "rejax"), required=True)
    parser.add_argument("--algo", choices=("ppo", "sac"), required=True)
    parser.add_argument("--cpu-threads", type=int, default=None,
                        help="XLA:CPU pool threads (default: one per CPU)")
    args = parser.parse_args()
    if args.cpu_threads is not None:
        limit_cpu_threads(args.cpu_threads)
    jax.numpy.zeros(()).block_until_ready()  # backend start-up is not compile time
    train, steps = (purejaxrl_train if args.framework == "purejaxrl" else rejax_train)(args.algo)
    key = jax.random.PRNGKey(0)
    start = time.perf_counter()
    compiled = jax.jit(train).lower(key).compile()
    print(MARKER + json.dumps({"compile_s": time.perf_counter() - start, "env_steps": int(steps),
                      "jax": jax.__version__}), flush=True)
    for line in sys.stdin:
        if line.strip() != "run":
            break
        start = time.perf_counter()
        jax.block_until_ready(compiled(key))
        print(MARKER + json.dumps({"run_s": time.perf_counter() - start}), flush=True)


if __name__ == "__main__":
    main()
