"""purejaxrl.algorithms: one module per algorithm family, each exposing
``Config``, ``init``, ``update``, ``train`` and ``act`` (``ALGORITHMS``), and ``lpo``, the
meta-learned PPO objective."""

from . import dqn, lpo, mrq, ppo, sac

ALGORITHMS = {"ppo": ppo, "sac": sac, "dqn": dqn, "mrq": mrq}

__all__ = ["ALGORITHMS", "dqn", "lpo", "mrq", "ppo", "sac"]
