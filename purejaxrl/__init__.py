"""purejaxrl: end-to-end accelerated reinforcement learning in JAX."""

from purejaxrl.config import ConfigError, pytree_dataclass, static, sweep, sweep_points

__version__ = "0.1.0"

__all__ = ["ConfigError", "__version__", "pytree_dataclass", "static", "sweep", "sweep_points"]


def __getattr__(name: str):
    """``purejaxrl.run`` and ``purejaxrl.RunResult`` without importing the runner up front."""
    if name in ("run", "RunResult"):
        from purejaxrl import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'purejaxrl' has no attribute {name!r}")
