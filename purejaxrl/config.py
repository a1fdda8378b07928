"""Configs as frozen dataclass pytrees.

Fields marked ``static(...)`` fix shapes or choices (env id, num_envs, network
sizes) and live in the pytree's treedef: changing one recompiles. Every other
field is a traced leaf, so numeric hyperparameters can be vmapped (seeds x
sweeps in one call) and even differentiated.

    @pytree_dataclass
    class Config:
        env: str = static("CartPole-v1")
        lr: float = 2.5e-4

Validation runs in ``__post_init__``. jax rebuilds configs from leaves that
may be tracers, ``None`` or sentinels (vmap axes), so numeric checks only look
at concrete numbers; static fields are always checked.
"""

from __future__ import annotations

import ast
import dataclasses
import itertools
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import jax
import numpy as np

T = TypeVar("T")


class ConfigError(ValueError):
    """An impossible config; the message names the offending field."""


def static(default: Any = dataclasses.MISSING, **kwargs: Any) -> Any:
    """A field that is part of the treedef (not traced, not vmappable)."""
    return dataclasses.field(default=default, metadata={"static": True}, **kwargs)


def pytree_dataclass(cls: type[T]) -> type[T]:
    """Make ``cls`` a frozen dataclass registered as a pytree."""
    cls = dataclasses.dataclass(frozen=True)(cls)
    fields = dataclasses.fields(cls)
    jax.tree_util.register_dataclass(
        cls,
        data_fields=[f.name for f in fields if not f.metadata.get("static")],
        meta_fields=[f.name for f in fields if f.metadata.get("static")],
    )
    return cls


def traced_fields(config: Any) -> list[str]:
    return [f.name for f in dataclasses.fields(config) if not f.metadata.get("static")]


def static_fields(config: Any) -> list[str]:
    return [f.name for f in dataclasses.fields(config) if f.metadata.get("static")]


def concrete_values(value: Any) -> np.ndarray | None:
    """``value`` as a numpy array when it is a concrete number, else ``None``.

    Tracers, ``None`` and jax's internal sentinels give ``None`` so that
    validation skips them.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float, np.number, np.ndarray)):
        return np.asarray(value)
    if isinstance(value, jax.Array) and not isinstance(value, jax.core.Tracer):
        try:
            return np.asarray(value)
        except Exception:  # noqa: BLE001 - abstract or deleted arrays are not checked
            return None
    return None


def config_name(config: Any) -> str:
    """``ppo.Config``: the config's class with the last part of its module, so an error names the
    algorithm (every algorithm's class is called ``Config``)."""
    return f"{type(config).__module__.rsplit('.', 1)[-1]}.{type(config).__qualname__}"


def check(config: Any, name: str, ok: Callable[[np.ndarray], Any], requirement: str,
          allow_inf: bool = False) -> None:
    """Raise ``ConfigError`` if the concrete value of numeric field ``name`` fails ``ok``, is not a
    number (a string, a bool), or is NaN or infinite (infinity passes with ``allow_inf``, where it
    means "off", as for a clipping threshold)."""
    raw = getattr(config, name)
    value = concrete_values(raw)  # None for strings and bools too, hence the isinstance test
    numeric = value is None or np.issubdtype(value.dtype, np.number)
    if isinstance(raw, (str, bool, np.bool_)) or not numeric:
        raise ConfigError(f"{config_name(config)}.{name} must be a number ({requirement}), got {raw!r}")
    if value is None:
        return
    finite = np.isfinite(value) | (allow_inf & np.isposinf(value))
    if not np.all(finite & ok(value)):
        requirement = requirement if allow_inf else f"{requirement} and finite"
        raise ConfigError(f"{config_name(config)}.{name} must be {requirement}, got {raw!r}")


def require_finite(config: Any, names: Iterable[str]) -> None:
    """Raise ``ConfigError`` unless every field in ``names`` is a finite number (any sign)."""
    for name in names:  # allow_inf=True: ``np.isfinite`` itself refuses infinity, without "and finite"
        check(config, name, np.isfinite, "finite", allow_inf=True)


def require_ordered(config: Any, low: str, high: str) -> None:
    """Raise ``ConfigError`` on ``high`` unless both bounds are finite and ``high > low``."""
    require_finite(config, (low, high))
    low_value, high_value = concrete_values(getattr(config, low)), concrete_values(getattr(config, high))
    if low_value is not None and high_value is not None:
        require(bool(np.all(high_value > low_value)), config, high,
                f"must be greater than {low} = {getattr(config, low)!r}, got {getattr(config, high)!r}")


def field_error(config: Any, name: str, message: str) -> ConfigError:
    """``ConfigError("ppo.Config.<name>: <message>")``."""
    return ConfigError(f"{config_name(config)}.{name}: {message}")


def require(condition: bool, config: Any, name: str, message: str) -> None:
    """Raise ``ConfigError`` naming field ``name`` unless ``condition``."""
    if not condition:
        raise field_error(config, name, message)


def is_int(value: Any) -> bool:
    """An integer, not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_int_at_least(value: Any, minimum: int) -> bool:
    """An integer (not a bool) that is at least ``minimum``."""
    return is_int(value) and value >= minimum


def require_ints(config: Any, names: Iterable[str], minimum: int = 1) -> None:
    """Raise ``ConfigError`` unless every field in ``names`` is an integer >= ``minimum``."""
    kind = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")
    for name in names:
        value = getattr(config, name)
        require(is_int_at_least(value, minimum), config, name, f"must be {kind}, got {value!r}")


def require_bools(config: Any, names: Iterable[str]) -> None:
    """Raise ``ConfigError`` unless every field in ``names`` is ``True`` or ``False``."""
    for name in names:
        value = getattr(config, name)
        require(isinstance(value, (bool, np.bool_)), config, name, f"must be True or False, got {value!r}")


MAX_ENV_STEPS = 2**31 - 1  # env steps are counted in int32 (jax's default integer)


def require_step_budget(config: Any) -> None:
    """Raise ``ConfigError`` unless ``total_timesteps`` is a positive integer that the int32 step
    counters can hold."""
    require_ints(config, ("total_timesteps",))
    require(config.total_timesteps <= MAX_ENV_STEPS, config, "total_timesteps",
            f"must be at most 2**31 - 1 = {MAX_ENV_STEPS:,} (env steps are counted in int32), "
            f"got {config.total_timesteps:,}")


def frozen_kwargs(kwargs: Mapping[str, Any] | Iterable[Any] | None) -> tuple:
    """A hashable, order-independent form of keyword arguments for static fields.

    Accepts a mapping, ``(key, value)`` pairs (lists too: a run directory's JSON
    record gives lists), or ``"key=value"`` strings (from the command line; values
    are read as Python literals where possible).
    """
    if kwargs is None:
        return ()
    if isinstance(kwargs, str) or not isinstance(kwargs, (Mapping, Iterable)):
        raise ConfigError(f"keyword arguments must be a mapping or (key, value) pairs, got {kwargs!r}")
    items = kwargs.items() if isinstance(kwargs, Mapping) else kwargs
    pairs = []
    for item in items:
        if isinstance(item, str):
            if "=" not in item:
                raise ConfigError(f"keyword argument {item!r} must look like key=value")
            key, text = item.split("=", 1)
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                value = text
            pairs.append((key, value))
        elif isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str):
            key, value = item
            pairs.append((key, tuple(value) if isinstance(value, list) else value))
        else:
            raise ConfigError(f"keyword arguments must be a mapping or (key, value) pairs, got {item!r}")
    return tuple(sorted(pairs))


def _without_validation(cls: type[T], values: Mapping[str, Any]) -> T:
    """Build a config bypassing ``__post_init__`` (for vmap axis specs)."""
    obj = object.__new__(cls)
    for name, value in values.items():
        object.__setattr__(obj, name, value)
    return obj


def _as_32bit(values: list[Any]) -> np.ndarray:
    array = np.asarray(values)
    if np.issubdtype(array.dtype, np.floating):
        return array.astype(np.float32)
    if np.issubdtype(array.dtype, np.integer):
        return array.astype(np.int32)
    return array


def sweep(config: T, **grid: Iterable[Any]) -> tuple[T, T]:
    """A batched config over the Cartesian product of ``grid`` and its ``in_axes``.

    Only traced fields can be swept. For ``sweep(c, lr=[1e-3, 3e-4], gamma=[0.9, 0.99])``
    the result holds 4 points in row-major order (``lr`` slowest): ``configs.lr``
    is ``[1e-3, 1e-3, 3e-4, 3e-4]`` and ``configs.gamma`` ``[0.9, 0.99, 0.9, 0.99]``.

        configs, in_axes = sweep(config, lr=[...], gamma=[...])
        train_grid = jax.vmap(jax.vmap(algo.train, in_axes=(None, 0)), in_axes=(in_axes, None))
        state, metrics = train_grid(configs, keys)   # leading axes: (grid, seeds)
    """
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"sweep expects a config dataclass, got {type(config).__name__}")
    if not grid:
        raise ValueError("sweep needs at least one field, e.g. sweep(config, lr=[1e-3, 3e-4])")
    traced = set(traced_fields(config))
    for name in grid:
        if name not in {f.name for f in dataclasses.fields(config)}:
            raise ConfigError(f"{config_name(config)} has no field {name!r} to sweep")
        if name not in traced:
            raise ConfigError(
                f"{config_name(config)}.{name} is static (it fixes shapes or choices) and "
                "cannot be vmapped; run one sweep per value instead"
            )
    for name, values in grid.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise ConfigError(f"sweep over {config_name(config)}.{name} needs a list of values, "
                              f"got {values!r}")
    columns = {name: list(values) for name, values in grid.items()}
    for name, values in columns.items():
        if not values:
            raise ConfigError(f"sweep over {config_name(config)}.{name} got no values")
    points = list(itertools.product(*columns.values()))
    batched = {name: _as_32bit([point[i] for point in points]) for i, name in enumerate(columns)}
    configs = dataclasses.replace(config, **batched)  # validates every grid point
    return configs, vmap_axes(config, *columns)


def is_number(value: Any) -> bool:
    """An int or float (Python or NumPy scalar), not a bool."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def sweep_grid(grid: Any) -> dict[str, list] | None:
    """A run's sweep ``{field: values}`` with every ``values`` read into a list (an iterator or a
    generator can be read only once, and the runner reads a sweep several times), ``None`` for no
    sweep (``None`` or ``{}``); ``ConfigError`` unless ``grid`` maps field names to non-empty
    sequences of numbers."""
    if grid is None:
        return None
    if not isinstance(grid, Mapping):
        raise ConfigError(f"sweep must map config field names to lists of values, e.g. "
                          f"{{'lr': [1e-3, 3e-4]}}, got {type(grid).__name__} {grid!r}")
    columns = {}
    for name, values in grid.items():
        if not isinstance(name, str):
            raise ConfigError(f"sweep keys must be config field names, got {name!r}")
        flat = not isinstance(values, np.ndarray) or values.ndim == 1
        if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable) or not flat:
            raise ConfigError(f"sweep[{name!r}] must be a sequence of numbers, got {values!r}")
        columns[name] = list(values)
        if not columns[name]:
            raise ConfigError(f"sweep[{name!r}] has no values; give at least one")
        strange = [value for value in columns[name] if not is_number(value)]
        if strange:
            raise ConfigError(f"sweep[{name!r}] must hold numbers, got {strange[0]!r}")
    return columns or None


def vmap_axes(config: T, *batched: str) -> T:
    """The ``in_axes`` spec of a config whose fields ``batched`` carry a leading axis 0 (every
    other traced field is shared; static fields are part of the treedef)::

        configs = dataclasses.replace(config, drift_params=population)   # [P, ...] leaves
        jax.vmap(train, in_axes=(vmap_axes(config, "drift_params"), None))(configs, key)
    """
    axes = {f.name: (0 if f.name in batched else None) for f in dataclasses.fields(config)}
    for name in static_fields(config):
        axes[name] = getattr(config, name)
    return _without_validation(type(config), axes)


def grid_points(grid: Mapping[str, Iterable[Any]]) -> list[dict[str, Any]]:
    """The points of a sweep grid as given, in ``sweep``'s order (first field slowest):
    ``grid_points({"lr": [1e-3, 3e-4]})`` is ``[{"lr": 0.001}, {"lr": 0.0003}]``, the values as
    written (as Python floats), not as the 32-bit floats the batched config holds."""
    columns = {name: [float(v) for v in values] for name, values in grid.items()}
    return [dict(zip(columns, values)) for values in itertools.product(*columns.values())]


def point_label(point: Mapping[str, Any] | None) -> str:
    """``"lr=0.001, gamma=0.99"``: a sweep point named by its values, as people write them."""
    return "" if point is None else ", ".join(f"{name}={value:g}" for name, value in point.items())


def sweep_points(configs: T, in_axes: T) -> list[dict[str, float]]:
    """The swept values of each grid point, in order (for tables and plots)."""
    swept = [name for name in traced_fields(configs) if getattr(in_axes, name) == 0]
    size = len(np.asarray(getattr(configs, swept[0])))
    return [{name: float(np.asarray(getattr(configs, name))[i]) for name in swept} for i in range(size)]
