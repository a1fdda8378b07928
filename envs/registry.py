"""The environment registry: one id -> one factory returning ``(env, env_params)``.

Families live behind prefixes (gymnax ids as they are, ``brax/<name>``,
``mjx/<name>``), so ``names()`` lists everything a user can pass to ``make``.
A family whose library is slow to import (Brax, MJX) is registered lazily
with ``register_family``: its ids are loaded the first time ``names()`` is
called or an id with its prefix is made.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Iterable
from typing import Any

import jax

EnvFactory = Callable[..., tuple[Any, Any]]

_FACTORIES: dict[str, EnvFactory] = {}
_PENDING_FAMILIES: dict[str, Callable[[], dict[str, EnvFactory]]] = {}
_UNAVAILABLE: dict[str, str] = {}


class UnknownEnvironmentError(ValueError):
    """Raised by ``make`` for an id that is not registered."""


def register(env_id: str, factory: EnvFactory) -> None:
    """Register ``factory(**kwargs) -> (env, env_params)`` under ``env_id``."""
    if not isinstance(env_id, str) or not env_id:
        raise TypeError(f"environment id must be a non-empty string, got {env_id!r}")
    if env_id in _FACTORIES:
        raise ValueError(f"environment id {env_id!r} is already registered")
    _FACTORIES[env_id] = factory


def mark_unavailable(env_id: str, reason: str) -> None:
    """An id a library defines but that cannot run here: ``make`` names it and gives ``reason``."""
    _UNAVAILABLE[env_id] = reason


def register_family(prefix: str, load: Callable[[], dict[str, EnvFactory]]) -> None:
    """Register every id ``load()`` returns (``{id: factory}``, ids starting with
    ``prefix``), calling ``load`` only when one of them is first needed."""
    if prefix in _PENDING_FAMILIES or any(name.startswith(prefix) for name in _FACTORIES):
        raise ValueError(f"environment family {prefix!r} is already registered")
    _PENDING_FAMILIES[prefix] = load


def _load_families(env_id: str | None = None) -> None:
    """Load the pending families ``env_id`` could belong to (all of them for ``None``)."""
    for prefix in list(_PENDING_FAMILIES):
        if env_id is None or env_id.startswith(prefix):
            factories = _PENDING_FAMILIES.pop(prefix)()
            for name, factory in factories.items():
                if not name.startswith(prefix):
                    raise ValueError(f"family {prefix!r} returned an id outside it: {name!r}")
                register(name, factory)


def names() -> list[str]:
    """Every registered id, in registration order."""
    _load_families()
    return list(_FACTORIES)


def is_registered(env_id: str) -> bool:
    """``env_id in names()``, loading only the family ``env_id`` could belong to."""
    if not isinstance(env_id, str):
        return False
    _load_families(env_id)
    return env_id in _FACTORIES


def close_matches(query: str, candidates: Iterable[str], n: int = 5) -> list[str]:
    """``candidates`` that look like ``query`` (case-insensitive), best first: difflib's
    close matches, then those containing or contained in ``query``."""
    lowered = {name.lower(): name for name in candidates}
    query = str(query).lower()
    matches = difflib.get_close_matches(query, list(lowered), n=n, cutoff=0.3)
    contained = [k for k in lowered if query and (query in k or k in query)]
    ordered = list(dict.fromkeys(matches + contained))[:n]
    return [lowered[m] for m in ordered]


def closest_names(env_id: str, n: int = 5) -> list[str]:
    """Registered ids that look like ``env_id``, best first."""
    return close_matches(env_id, names(), n)


@functools.lru_cache(maxsize=64)
def make_cached(env_id: str, env_kwargs: tuple = ()) -> tuple[Any, Any]:
    """``make(env_id, **dict(env_kwargs))`` built once per id and (hashable) kwargs.

    Algorithms build their environment the first time their program is traced;
    compile-time evaluation keeps the environment's arrays concrete there, not
    tracers that would leak out of the trace through this cache.
    """
    with jax.ensure_compile_time_eval():
        return make(env_id, **dict(env_kwargs))


def make(env_id: str, **kwargs: Any) -> tuple[Any, Any]:
    """Build a registered environment: ``env, env_params = make(id, **kwargs)``."""
    factory = _FACTORIES.get(env_id) if is_registered(env_id) else None
    if factory is None and env_id in _UNAVAILABLE:
        raise UnknownEnvironmentError(f"{env_id} is not available: {_UNAVAILABLE[env_id]}")
    if factory is None:
        suggestions = closest_names(env_id)
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        raise UnknownEnvironmentError(
            f"unknown environment id {env_id!r}.{hint} "
            f"(`purejaxrl envs` or `purejaxrl.envs.names()` lists all {len(_FACTORIES)} ids)"
        )
    return factory(**kwargs)
