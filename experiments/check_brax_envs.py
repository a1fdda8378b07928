"""Smoke-check every Brax environment x backend through the project's Brax adapter.

For each combination: ``make_brax``, then ``jax.jit(jax.vmap(env.reset))`` and a
jitted ``lax.scan`` of ``jax.vmap(env.step, in_axes=(0, 0, 0, None))`` over
``--num-steps`` steps of ``--num-envs`` environments with uniformly random
actions inside the action space's bounds. ``--episode-length`` (default 10) is
short so the time limit and the auto-reset run too. A combination is ``ok`` when
every reward and observation is finite, the shapes match the spaces and the
state keeps its pytree structure; otherwise its error is reported (Brax itself
supports only some backends for some environments: those are reported as
``unsupported``).

    python experiments/check_brax_envs.py [--names ant hopper] [--backends spring mjx]
                                          [--num-envs 4] [--num-steps 20] [--out table.md]

Compile time is ``lower().compile()`` of reset plus rollout in this process;
steps/s is ``num_envs * num_steps`` over the wall time of one compiled rollout
(best of ``--repeats``), environment steps only (no policy).
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import platform
import sys
import time
import traceback

import jax
import jax.numpy as jnp
import numpy as np
from purejaxrl.envs.brax_adapter import BRAX_BACKENDS, BRAX_NAMES, make_brax


@dataclasses.dataclass(frozen=True)
class Result:
    name: str
    backend: str
    status: str
    compile_s: float = float("nan")
    steps_per_s: float = float("nan")
    terminations: int = 0
    truncations: int = 0
    detail: str = ""


def make_rollout(env, params, num_envs: int, num_steps: int):
    """``(reset, rollout)``: batched reset, and ``num_steps`` random-action vector steps in a scan."""
    action_space = env.action_space(params)

    def reset(key):
        return jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, num_envs), params)

    def rollout(key, obs, state):
        def one_step(carry, key):
            _, state = carry
            action_key, step_key = jax.random.split(key)
            actions = jax.vmap(action_space.sample)(jax.random.split(action_key, num_envs))
            obs, state, reward, terminated, truncated, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(step_key, num_envs), state, actions, params
            )
            return (obs, state), (obs, reward, terminated, truncated, info["final_obs"])

        return jax.lax.scan(one_step, (obs, state), jax.random.split(key, num_steps))

    return jax.jit(reset), jax.jit(rollout)


def check(
    name: str, backend: str, num_envs: int, num_steps: int, episode_length: int, repeats: int
) -> Result:
    try:
        env, params = make_brax(name, backend=backend, episode_length=episode_length)
    except ValueError as error:
        status = "unsupported" if "Brax cannot build" in str(error) else "error"
        return Result(name, backend, status, detail=str(error).split(";")[0])

    try:
        reset, rollout = make_rollout(env, params, num_envs, num_steps)
        key = jax.random.PRNGKey(0)  # raw uint32 keys here; the tests use typed keys
        start = time.perf_counter()
        reset_compiled = reset.lower(key).compile()
        obs, state = reset_compiled(key)
        rollout_compiled = rollout.lower(key, obs, state).compile()
        compile_s = time.perf_counter() - start

        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            out = jax.block_until_ready(rollout_compiled(key, obs, state))
            best = min(best, time.perf_counter() - start)
        (_, final_state), (step_obs, reward, terminated, truncated, final_obs) = out

        obs_size = env.observation_space(params).shape
        problems = []
        if step_obs.shape != (num_steps, num_envs, *obs_size):
            problems.append(f"obs shape {step_obs.shape}")
        if jax.tree.structure(final_state) != jax.tree.structure(state):
            problems.append("state structure changed")
        if not np.all(np.isfinite(np.asarray(reward))):
            problems.append("non-finite reward")
        if not (np.all(np.isfinite(np.asarray(step_obs))) and np.all(np.isfinite(np.asarray(final_obs)))):
            problems.append("non-finite observation")
        if reward.dtype != jnp.float32 or terminated.dtype != jnp.bool_ or truncated.dtype != jnp.bool_:
            problems.append(f"dtypes {reward.dtype}/{terminated.dtype}/{truncated.dtype}")
        return Result(
            name, backend, "ok" if not problems else "FAILED", compile_s, num_envs * num_steps / best,
            int(np.asarray(terminated).sum()), int(np.asarray(truncated).sum()), "; ".join(problems),
        )
    except Exception as error:  # report every failure, keep checking the rest
        traceback.print_exc(file=sys.stderr)
        message = (str(error).splitlines() or [""])[0][:160]
        return Result(name, backend, "error", detail=f"{type(error).__name__}: {message}")
    finally:
        jax.clear_caches()


def markdown_row(result: Result) -> str:
    compile_s = f"{result.compile_s:.1f}" if np.isfinite(result.compile_s) else "-"
    steps = f"{result.steps_per_s:,.0f}" if np.isfinite(result.steps_per_s) else "-"
    ended = f"{result.terminations} / {result.truncations}" if result.status in ("ok", "FAILED") else "-"
    return (
        f"| {result.name} | {result.backend} | {result.status} | {compile_s} | {steps} | {ended} "
        f"| {result.detail.replace('|', '/')} |"
    )


HEADER = (
    "| name | backend | status | compile s | steps/s | terminated / truncated | detail |\n"
    "|---|---|---|---|---|---|---|"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", nargs="+", default=list(BRAX_NAMES), choices=BRAX_NAMES)
    parser.add_argument("--backends", nargs="+", default=list(BRAX_BACKENDS), choices=BRAX_BACKENDS)
    parser.add_argument("--num-envs", type=int, default=4)
    parser.add_argument("--num-steps", type=int, default=20)
    parser.add_argument("--episode-length", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=pathlib.Path, default=None, help="also write the Markdown table here")
    args = parser.parse_args(argv)

    lines = [
        f"Brax adapter check: {args.num_envs} envs x {args.num_steps} steps, episode_length "
        f"{args.episode_length}, random actions; jax {jax.__version__} on {jax.default_backend()} "
        f"({platform.processor() or platform.machine()})",
        "",
        HEADER,
    ]
    print("\n".join(lines), flush=True)
    start = time.perf_counter()
    results = []
    for name in args.names:
        for backend in args.backends:
            result = check(name, backend, args.num_envs, args.num_steps, args.episode_length, args.repeats)
            results.append(result)
            lines.append(markdown_row(result))
            print(lines[-1], flush=True)
    total = time.perf_counter() - start
    ok = sum(r.status == "ok" for r in results)
    lines += ["", f"{ok}/{len(results)} ok, total {total:.0f} s"]
    print("\n".join(lines[-2:]), flush=True)
    if args.out is not None:
        args.out.write_text("\n".join(lines) + "\n")
    return 0 if all(r.status in ("ok", "unsupported") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
