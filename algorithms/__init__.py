"""purejaxrl.algorithms: one module per algorithm family, each exposing
``Config``, ``init``, ``update``, ``train`` and ``act``."""

from . import ppo

ALGORITHMS = {"ppo": ppo}

__all__ = ["ALGORITHMS", "ppo"]
