"""purejaxrl.compilation_cache: a second process loads compiled programs from disk.

Everything that changes JAX's configuration runs in fresh Python processes, so
this test process's own settings stay untouched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from purejaxrl.compilation_cache import CACHE_DIR_ENV, NO_CACHE_ENV, resolve_cache_dir

# Compiles a small but non-trivial program (an MLP in a scan, its gradient) after
# an unrelated compile: enabling must work even after JAX has checked the cache
# once. Counts JAX's own cache events through ``jax.monitoring``.
COMPILE_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import jax, jax.numpy as jnp
    from purejaxrl.compilation_cache import enable_persistent_cache

    events = {"hits": 0, "misses": 0}
    def listen(event, **kwargs):
        if event == "/jax/compilation_cache/cache_hits":
            events["hits"] += 1
        elif event == "/jax/compilation_cache/cache_misses":
            events["misses"] += 1
    jax.monitoring.register_event_listener(listen)

    jax.jit(lambda x: x + 1)(1.0).block_until_ready()   # compiled before the cache is on
    before = dict(events)
    directory = enable_persistent_cache()

    def loss(w, xs):
        def step(h, x):
            h = jnp.tanh(h @ w + x)
            return h, jnp.sum(h * h)
        _, out = jax.lax.scan(step, jnp.zeros(16), xs)
        return out.mean()

    @jax.jit
    def program(w, xs):
        value, grad = jax.value_and_grad(loss)(w, xs)
        return value + jnp.sum(grad)

    w = jnp.eye(16) * 0.5
    xs = jnp.linspace(-1.0, 1.0, 32 * 16).reshape(32, 16)
    result = float(program(w, xs))
    after = {name: events[name] - before[name] for name in events}
    print(json.dumps({"dir": str(directory), "before": before, "after": after, "result": result}))
    """
)


def run_python(script: str, env: dict[str, str]) -> dict:
    """Run ``script`` in a fresh interpreter and parse the JSON on its last stdout line."""
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (CACHE_DIR_ENV, NO_CACHE_ENV)}
    env.update({"JAX_PLATFORMS": "cpu", **extra})
    return env


def test_second_process_is_served_from_the_cache(tmp_path):
    cache = tmp_path / "jax-cache"
    env = clean_env(**{CACHE_DIR_ENV: str(cache)})

    first = run_python(COMPILE_SCRIPT, env)
    assert first["dir"] == str(cache)
    assert first["before"] == {"hits": 0, "misses": 0}  # the early compile did not use the cache
    assert first["after"]["hits"] == 0 and first["after"]["misses"] >= 1
    entries = sorted(p.name for p in cache.iterdir())
    assert len(entries) >= first["after"]["misses"], entries  # every miss was written

    second = run_python(COMPILE_SCRIPT, env)
    assert second["after"]["misses"] == 0
    assert second["after"]["hits"] == first["after"]["misses"]  # every program came from disk
    assert second["result"] == first["result"]


def test_disabled_cache_is_never_touched(tmp_path):
    cache = tmp_path / "jax-cache"
    env = clean_env(**{CACHE_DIR_ENV: str(cache), NO_CACHE_ENV: "1"})
    out = run_python(COMPILE_SCRIPT, env)
    assert out["dir"] == "None"
    assert out["after"] == {"hits": 0, "misses": 0}
    assert not cache.exists()


def test_enable_is_idempotent_moves_and_turns_off(tmp_path):
    script = textwrap.dedent(
        f"""
        import json, os, pathlib, jax, jax.numpy as jnp
        from purejaxrl.compilation_cache import enable_persistent_cache
        a = enable_persistent_cache({str(tmp_path / "a")!r})
        again = enable_persistent_cache(pathlib.Path({str(tmp_path / "a")!r}))
        config_a = jax.config.jax_compilation_cache_dir
        jax.jit(lambda x: jnp.sin(x) * 2)(jnp.ones(3)).block_until_ready()
        files_a = len(os.listdir(a))
        b = enable_persistent_cache({str(tmp_path / "b")!r})   # the cache moves to b
        config_b = jax.config.jax_compilation_cache_dir
        jax.jit(lambda x: jnp.cos(x) * 3)(jnp.ones(4)).block_until_ready()
        files = [len(os.listdir(a)), len(os.listdir(b))]
        off = enable_persistent_cache(False)
        jax.jit(lambda x: jnp.tan(x) * 4)(jnp.ones(5)).block_until_ready()
        files_off = [len(os.listdir(a)), len(os.listdir(b))]
        print(json.dumps({{
            "a": str(a), "again": str(again), "config_a": config_a, "b": str(b), "config_b": config_b,
            "off": off, "config_off": jax.config.jax_compilation_cache_dir,
            "min_time": jax.config.jax_persistent_cache_min_compile_time_secs,
            "files_a": files_a, "files": files, "files_off": files_off,
        }}))
        """
    )
    out = run_python(script, clean_env())
    assert out["a"] == out["again"] == out["config_a"] == str(tmp_path / "a")
    assert out["b"] == out["config_b"] == str(tmp_path / "b")
    assert out["off"] is None and out["config_off"] is None
    assert out["min_time"] == 0.0
    assert out["files_a"] >= 1
    assert out["files"][0] == out["files_a"] and out["files"][1] >= 1  # new programs go to b only
    assert out["files_off"] == out["files"]  # off: nothing more is written


def test_cache_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv(NO_CACHE_ENV, raising=False)
    monkeypatch.delenv(CACHE_DIR_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert resolve_cache_dir() == tmp_path / "home" / ".cache" / "purejaxrl" / "jax"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_cache_dir() == tmp_path / "xdg" / "purejaxrl" / "jax"
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "env"))
    assert resolve_cache_dir() == tmp_path / "env"
    assert resolve_cache_dir(tmp_path / "arg") == tmp_path / "arg"  # an explicit path wins
    assert resolve_cache_dir(False) is None
    for value in ("1", "true", "YES"):
        monkeypatch.setenv(NO_CACHE_ENV, value)
        assert resolve_cache_dir(tmp_path / "arg") is None
    monkeypatch.setenv(NO_CACHE_ENV, "0")
    assert resolve_cache_dir(tmp_path / "arg") == tmp_path / "arg"


@pytest.mark.parametrize("path", ["", 3, True])
def test_bad_paths(path):
    with pytest.raises(TypeError, match="path"):
        resolve_cache_dir(path)
