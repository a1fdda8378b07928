"""Training throughput of every algorithm at 1 to 1,024 seeds: ``purejaxrl bench``.

One *cell* is one algorithm on its reference environment with ``seeds`` seeds
in one program, as ``purejaxrl.run`` compiles them (``runner.over_seeds``;
``BENCH_CASES``). Each cell runs in a fresh Python
process, so compile times are cold and peak memory is the cell's own:

1. compile the seeds' ``train`` with an empty persistent cache (cold), run it
   ``repeats`` times and keep the best run: env steps/s and gradient updates/s
   over all seeds; peak host RSS; device memory (GPU: peak bytes in use; CPU:
   XLA's buffer sizes for the program, from ``memory_analysis``);
2. the *raw loop*: the same environments (``seeds x num_envs`` in parallel)
   stepped with uniformly random actions for the same number of steps, one
   jitted ``lax.scan`` that returns the final states (so nothing is deleted as
   dead code); training's env steps/s over the raw loop's is the *raw ratio*;
3. a second fresh process compiles the same program again from the now warm
   persistent cache (cached compile).

``run_benchmark`` returns the rows; ``markdown`` formats them with the machine,
JAX version and date. ``purejaxrl bench --algo ppo --seeds 1 16 256 1024``
prints the table (``--markdown PATH`` also writes it).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

MARKER = "BENCH "  # a cell process's reply line; libraries may print other lines


@dataclasses.dataclass(frozen=True)
class BenchCase:
    """An algorithm on its reference environment at a fixed per-seed budget."""

    algorithm: str
    description: str
    make_config: Callable[[], Any]
    gradient_updates: Callable[[Any], int]  # per seed, for the whole run


def _ppo_config():
    from purejaxrl.algorithms import ppo

    return ppo.Config(env="CartPole-v1", total_timesteps=16_384, num_envs=4, num_steps=128, num_epochs=4,
                      num_minibatches=4, lr=2.5e-4, anneal_lr=True, ent_coef=0.01, clip_value_loss=True,
                      hidden_sizes=(64, 64), activation="tanh", num_log_points=8)


def _sac_config():
    from purejaxrl.algorithms import sac

    return sac.Config(env="Pendulum-v1", total_timesteps=2_048, num_envs=1, buffer_size=20_000,
                      learning_starts=256, batch_size=256, lr=3e-4, gamma=0.99, tau=0.01,
                      hidden_sizes=(64, 64), activation="relu", num_log_points=8)


def _dqn_config():
    from purejaxrl.algorithms import dqn

    return dqn.Config(env="CartPole-v1", total_timesteps=20_480, num_envs=10, buffer_size=50_000,
                      learning_starts=1_280, num_log_points=8)


def _mrq_config():
    from purejaxrl.algorithms import mrq

    width = 128  # the paper's 512 runs at about 2 updates/s on a 2-core CPU
    return mrq.Config(env="Pendulum-v1", total_timesteps=756, learning_starts=256, target_update_period=250,
                      zs_dim=width, za_dim=width, zsa_dim=width, encoder_hidden=width, value_hidden=width,
                      policy_hidden=width, num_log_points=2)


def _off_policy_updates(config: Any) -> int:
    learning = max(config.num_iterations * config.num_envs - config.learning_starts, 0) // config.num_envs
    return learning * config.updates_per_step


BENCH_CASES: dict[str, BenchCase] = {
    "ppo": BenchCase("ppo", "PPO, CartPole-v1, PureJaxRL config (4 envs x 128 steps, 4 x 4 minibatches), "
                     "16,384 steps per seed", _ppo_config,
                     lambda c: c.num_iterations * c.num_epochs * c.num_minibatches),
    "sac": BenchCase("sac", "SAC, Pendulum-v1, 1 env, 64x64, batch 256, learning from step 256, "
                     "2,048 steps per seed", _sac_config, _off_policy_updates),
    "dqn": BenchCase("dqn", "DQN, CartPole-v1, 10 envs, 64x64, batch 128, learning from step 1,280, "
                     "20,480 steps per seed", _dqn_config, _off_policy_updates),
    "mrq": BenchCase("mrq", "MR.Q, Pendulum-v1, all widths 128 (paper: 512), learning from step 256, "
                     "756 steps per seed", _mrq_config,
                     lambda c: c.num_iterations * c.target_update_period),
}


# --------------------------------------------------------------------------- one cell (its own process)


def peak_rss_mib() -> float:
    """The process's peak resident set so far (``ru_maxrss``, KiB on Linux) in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def device_memory_mib(compiled: Any) -> tuple[float | None, str]:
    """``(MiB, what)``: the device's peak bytes in use where it reports them (GPU), else XLA's
    argument + output + temporary buffer sizes of the compiled program (CPU)."""
    import jax

    stats = jax.devices()[0].memory_stats()
    if stats and "peak_bytes_in_use" in stats:
        return stats["peak_bytes_in_use"] / 2**20, "peak in use"
    analysis = compiled.memory_analysis()
    if analysis is None:
        return None, "n/a"
    total = analysis.argument_size_in_bytes + analysis.output_size_in_bytes + analysis.temp_size_in_bytes
    return total / 2**20, "XLA buffers"


def raw_loop(config: Any, seeds: int, vector_steps: int) -> Callable:
    """``run(key) -> final env states``: ``seeds x num_envs`` environments stepped
    ``vector_steps`` times with uniformly random actions, auto-reset included."""
    import jax

    from purejaxrl.env_spec import env_spec
    from purejaxrl.offpolicy import uniform_actions

    spec = env_spec(config.env, config.env_kwargs)
    parallel = seeds * config.num_envs
    step = jax.vmap(spec.env.step, in_axes=(0, 0, 0, None))

    def run(key):
        reset_key, key = jax.random.split(key)
        _, state = jax.vmap(spec.env.reset, in_axes=(0, None))(jax.random.split(reset_key, parallel),
                                                               spec.env_params)

        def body(state, key):
            action_key, step_key = jax.random.split(key)
            actions = uniform_actions(spec, action_key, parallel)
            _, state, _, _, _, _ = step(jax.random.split(step_key, parallel), state, actions, spec.env_params)
            return state, None

        return jax.lax.scan(body, state, jax.random.split(key, vector_steps))[0]

    return run


def best_time(fn: Callable[[], Any], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def measure_cell(algorithm: str, seeds: int, repeats: int, compile_only: bool) -> dict:
    """Compile (and unless ``compile_only`` run and compare with the raw loop) one cell in this
    process; the persistent cache is whatever ``JAX_COMPILATION_CACHE_DIR`` says."""
    import importlib

    import jax

    from purejaxrl.runner import over_seeds

    case = BENCH_CASES[algorithm]
    module = importlib.import_module(f"purejaxrl.algorithms.{algorithm}")
    config = case.make_config()
    keys = jax.random.split(jax.random.key(0), seeds)
    jax.numpy.zeros(()).block_until_ready()  # backend start-up is not compile time
    start = time.perf_counter()
    train = over_seeds(module.train)  # what ``purejaxrl.run`` compiles for one sweep point
    compiled = jax.jit(lambda keys: train(config, keys)).lower(keys).compile()
    result = {"compile_s": time.perf_counter() - start}
    if compile_only:
        return result
    run_s = best_time(lambda: jax.block_until_ready(compiled(keys)), repeats)
    env_steps = seeds * config.num_iterations * config.steps_per_iteration
    memory, memory_kind = device_memory_mib(compiled)
    result.update(run_s=run_s, env_steps=env_steps, env_steps_per_s=env_steps / run_s,
                  updates_per_s=seeds * case.gradient_updates(config) / run_s, rss_mib=peak_rss_mib(),
                  device_mib=memory, device_memory=memory_kind)
    raw = jax.jit(raw_loop(config, seeds, env_steps // (seeds * config.num_envs))).lower(keys[0]).compile()
    raw_s = best_time(lambda: jax.block_until_ready(raw(keys[0])), repeats)
    result.update(raw_steps_per_s=env_steps / raw_s, raw_ratio=raw_s / run_s)
    return result


def cell_main(argv: Sequence[str]) -> None:
    """``python -m purejaxrl.benchmark ALGO SEEDS REPEATS compile|run``: one cell, one reply line."""
    algorithm, seeds, repeats, mode = argv
    from purejaxrl.cpu_threads import cpu_threads_from_env, limit_cpu_threads

    threads = cpu_threads_from_env()
    if threads is not None:
        limit_cpu_threads(threads)
    result = measure_cell(algorithm, int(seeds), int(repeats), mode == "compile")
    print(MARKER + json.dumps(result), flush=True)


# --------------------------------------------------------------------------- the table


def run_cell(algorithm: str, seeds: int, repeats: int, mode: str, cache_dir: str, timeout: float) -> dict:
    """One cell in a fresh process with the persistent cache at ``cache_dir``; a cell that runs
    out of memory or time comes back as ``{"error": ...}`` rather than stopping the table."""
    env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": cache_dir,
           "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
           "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}
    command = [sys.executable, "-m", "purejaxrl.benchmark", algorithm, str(seeds), str(repeats), mode]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout:g} s"}
    for line in done.stdout.splitlines():
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER):])
    killed = done.returncode in (-9, 137)
    reason = "killed (out of memory?)" if killed else f"exit {done.returncode}: {done.stderr.strip()[-300:]}"
    return {"error": reason}


def run_benchmark(algorithms: Sequence[str], seed_counts: Sequence[int], repeats: int = 3,
                  timeout: float = 1800.0, progress: Callable[[str], None] | None = None) -> list[dict]:
    """Every (algorithm, seeds) cell: cold compile and runs, then the cached compile."""
    unknown = [a for a in algorithms if a not in BENCH_CASES]
    if unknown:
        raise ValueError(f"unknown algorithm(s) {unknown}; choose from {list(BENCH_CASES)}")
    if not seed_counts or any(int(s) < 1 for s in seed_counts):
        raise ValueError(f"seed counts must be positive integers, got {list(seed_counts)}")
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    rows = []
    for algorithm in algorithms:
        for seeds in seed_counts:
            with tempfile.TemporaryDirectory(prefix="purejaxrl-bench-cache-") as cache_dir:
                row = {"algorithm": algorithm, "seeds": int(seeds),
                       **run_cell(algorithm, seeds, repeats, "run", cache_dir, timeout)}
                if "error" not in row:
                    row["cached_compile_s"] = run_cell(algorithm, seeds, 1, "compile", cache_dir,
                                                       timeout).get("compile_s")
            rows.append(row)
            if progress is not None:
                progress(format_row(row))
    return rows


def machine_line() -> str:
    import jax

    from purejaxrl.cpu_threads import cpu_threads_from_env

    device = jax.devices()[0]
    threads = cpu_threads_from_env()
    cpu = platform.processor() or platform.machine()
    return (f"{device.platform.upper()} {getattr(device, 'device_kind', '')} ({cpu}, "
            f"{len(os.sched_getaffinity(0))} cores), JAX {jax.__version__}, "
            f"{datetime.date.today().isoformat()}, "
            f"XLA:CPU pool threads: {threads or 'one per CPU (default)'}")


HEADER = ("| algorithm | seeds | compile cold (s) | compile cached (s) | run (s) | env steps/s | updates/s "
          "| raw loop steps/s | ratio to raw | peak RSS (MiB) | device memory (MiB) |")


def format_row(row: dict) -> str:
    if "error" in row:
        return f"| {row['algorithm']} | {row['seeds']} | {row['error']} |" + " |" * 8
    cached = row.get("cached_compile_s")
    device = "n/a" if row["device_mib"] is None else f"{mib(row['device_mib'])} ({row['device_memory']})"
    cached = "n/a" if cached is None else f"{cached:.2f}"
    return (f"| {row['algorithm']} | {row['seeds']} | {row['compile_s']:.2f} | {cached} | "
            f"{row['run_s']:.2f} | {row['env_steps_per_s']:,.0f} | "
            f"{row['updates_per_s']:,.0f} | {row['raw_steps_per_s']:,.0f} | {row['raw_ratio']:.2f} | "
            f"{row['rss_mib']:,.0f} | {device} |")


def mib(value: float) -> str:
    """MiB with one decimal below 10 (a small program's buffers are not 0)."""
    return f"{value:.1f}" if value < 10 else f"{value:,.0f}"


def markdown(rows: Sequence[dict], repeats: int) -> str:
    algorithms = dict.fromkeys(row["algorithm"] for row in rows)
    lines = [machine_line(), "", f"Best of {repeats} runs per cell; each cell in a fresh process.", ""]
    lines += [f"- {name}: {BENCH_CASES[name].description}" for name in algorithms]
    lines += ["", HEADER, "|" + "---|" * 11]
    lines += [format_row(row) for row in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    cell_main(sys.argv[1:])
