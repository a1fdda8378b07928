"""JAX's persistent compilation cache, switched on for purejaxrl's programs.

A whole training run is one XLA program, and on CPU compiling it takes longer
than running small budgets (PPO on CartPole: seconds of compile). With the
persistent cache on, a second process that compiles the same program (same
code, config statics, shapes, JAX version and device) loads the executable from
disk instead.

    from purejaxrl.compilation_cache import enable_persistent_cache
    enable_persistent_cache()          # ~/.cache/purejaxrl/jax, before the first compile

Where the cache lives, first match wins:

1. ``PUREJAXRL_NO_CACHE=1`` (or ``true``/``yes``/``on``): no cache, returns ``None``;
2. ``path=False``: no cache, returns ``None``;
3. ``path`` given;
4. ``$PUREJAXRL_CACHE_DIR``;
5. ``$XDG_CACHE_HOME/purejaxrl/jax``, i.e. ``~/.cache/purejaxrl/jax`` by default.

JAX only writes programs that took at least ``jax_persistent_cache_min_compile_time_secs``
(default 1 s) to compile; this module sets it to 0 and lifts the entry-size floor
(``jax_persistent_cache_min_entry_size_bytes = -1``) so that CPU programs are cached too.

The cache directory is trusted input: an executable loaded from it runs as
you. Do not point it at a directory others can write to.
"""

from __future__ import annotations

import os
import pathlib
from typing import Literal

import jax
from jax.experimental.compilation_cache import compilation_cache as _jax_cache

CACHE_DIR_ENV = "PUREJAXRL_CACHE_DIR"
NO_CACHE_ENV = "PUREJAXRL_NO_CACHE"
_TRUE = {"1", "true", "yes", "on"}

_enabled_dir: pathlib.Path | None = None  # what this module last set; None when it has not set one


def cache_disabled_by_env() -> bool:
    """``True`` when ``$PUREJAXRL_NO_CACHE`` is 1/true/yes/on (case-insensitive)."""
    return os.environ.get(NO_CACHE_ENV, "").strip().lower() in _TRUE


def default_cache_dir() -> pathlib.Path:
    """``$PUREJAXRL_CACHE_DIR``, else ``$XDG_CACHE_HOME/purejaxrl/jax`` (``~/.cache/purejaxrl/jax``)."""
    if os.environ.get(CACHE_DIR_ENV):
        return pathlib.Path(os.environ[CACHE_DIR_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base).expanduser() / "purejaxrl" / "jax"


def resolve_cache_dir(path: str | os.PathLike | Literal[False] | None = None) -> pathlib.Path | None:
    """The absolute cache directory ``enable_persistent_cache(path)`` would use, or ``None`` (off)."""
    if cache_disabled_by_env() or path is False:
        return None
    if path is None:
        return default_cache_dir().absolute()
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise TypeError(f"enable_persistent_cache: path must be a path, None or False; got {path!r}")
    return pathlib.Path(path).expanduser().absolute()


def _set_jax_cache_dir(path: pathlib.Path | None) -> None:
    """Point JAX at ``path`` (``None``: no cache) and forget the cache state JAX holds.

    JAX opens the cache directory once, at the first compile after one is set,
    and decides once per process whether the cache is in use; ``reset_cache``
    makes it do both again, so the cache can move to another directory.
    """
    jax.config.update("jax_compilation_cache_dir", None if path is None else str(path))
    _jax_cache.reset_cache()


def enable_persistent_cache(path: str | os.PathLike | Literal[False] | None = None) -> pathlib.Path | None:
    """Turn JAX's persistent compilation cache on at ``path``; returns the directory, or ``None`` when off.

    Idempotent: calling again with the same directory changes nothing; another
    directory moves the cache there. ``path=False`` or ``PUREJAXRL_NO_CACHE=1``
    returns ``None`` and turns off a cache that this function turned on earlier
    (a cache configured directly through ``jax.config`` is left alone).
    """
    global _enabled_dir
    directory = resolve_cache_dir(path)
    if directory is None:
        if _enabled_dir is not None:
            _set_jax_cache_dir(None)
            _enabled_dir = None
        return None
    directory.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    if _enabled_dir != directory or jax.config.jax_compilation_cache_dir != str(directory):
        _set_jax_cache_dir(directory)
        _enabled_dir = directory
    return directory
