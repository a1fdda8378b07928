"""purejaxrl: end-to-end accelerated reinforcement learning in JAX."""

from purejaxrl.config import ConfigError, pytree_dataclass, static, sweep, sweep_points

__version__ = "0.1.0"

__all__ = ["ConfigError", "__version__", "pytree_dataclass", "static", "sweep", "sweep_points"]


def __getattr__(name: str):
    """``purejaxrl.run``, ``RunResult``, ``evaluate`` and ``distributed`` without importing the
    runner (and orbax, tqdm) up front."""
    import importlib

    if name in ("run", "RunResult"):
        return getattr(importlib.import_module("purejaxrl.runner"), name)
    if name == "evaluate":
        return importlib.import_module("purejaxrl.evaluation").evaluate
    if name == "distributed":
        return importlib.import_module("purejaxrl.distributed")
    raise AttributeError(f"module 'purejaxrl' has no attribute {name!r}")
