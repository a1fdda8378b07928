"""purejaxrl: end-to-end accelerated reinforcement learning in JAX."""

from purejaxrl.config import ConfigError, pytree_dataclass, static, sweep, sweep_points

__version__ = "0.1.0"

__all__ = ["ConfigError", "__version__", "pytree_dataclass", "static", "sweep", "sweep_points"]
