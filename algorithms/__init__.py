"""purejaxrl.algorithms: one module per algorithm family, each exposing
``Config``, ``init``, ``update``, ``train`` and ``act``."""

from . import dqn, ppo, sac

ALGORITHMS = {"ppo": ppo, "sac": sac, "dqn": dqn}

__all__ = ["ALGORITHMS", "dqn", "ppo", "sac"]
