"""purejaxrl.algorithms: one module per algorithm family, each exposing
``Config``, ``init``, ``update``, ``train`` and ``act``."""

from . import dqn, mrq, ppo, sac

ALGORITHMS = {"ppo": ppo, "sac": sac, "dqn": dqn, "mrq": mrq}

__all__ = ["ALGORITHMS", "dqn", "mrq", "ppo", "sac"]
