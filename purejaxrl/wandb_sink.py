"""Weights & Biases as a metrics sink of ``purejaxrl.run`` (optional: ``pip install purejaxrl[wandb]``).

    purejaxrl.run(ppo, config, seeds=16, out="runs/cp", wandb=WandB(project="cartpole"))

Every log row becomes one W&B step: each metric's mean over seeds (one key per
sweep point) against ``env_steps``; the config is the run's config and the
final summary its summary. Offline-safe: unless ``mode`` or ``WANDB_MODE`` says
otherwise, the run is logged online only when an API key is configured and
written offline (``wandb sync`` later) when none is, so a machine without
network or login never waits on W&B. The W&B run id is kept in the run
directory, so ``resume=True`` continues the same W&B run.
"""

from __future__ import annotations

import dataclasses
import netrc
import os
import pathlib
import urllib.parse
from typing import Literal

import numpy as np

from purejaxrl.rundir import mean_per_point

MODES = ("online", "offline", "disabled")


@dataclasses.dataclass(frozen=True)
class WandB:
    """Where to log: W&B ``project`` (and ``entity``, run ``name``, ``tags``); ``mode`` one of
    ``online | offline | disabled``, or ``None`` for ``WANDB_MODE``, else online with an API key
    and offline without one."""

    project: str
    entity: str | None = None
    name: str | None = None
    tags: tuple[str, ...] = ()
    mode: Literal["online", "offline", "disabled"] | None = None

    def __post_init__(self):
        if not isinstance(self.project, str) or not self.project:
            raise ValueError(f"WandB.project must be a non-empty string, got {self.project!r}")
        if self.mode is not None and self.mode not in MODES:
            raise ValueError(f"WandB.mode must be one of {', '.join(MODES)} or None, got {self.mode!r}")


def _import_wandb():
    try:
        import wandb
    except ImportError as error:
        raise ImportError("logging to Weights & Biases needs the wandb package: "
                          "pip install 'purejaxrl[wandb]'") from error
    return wandb


def has_api_key() -> bool:
    """``WANDB_API_KEY`` set, or an entry for the W&B host in ``$NETRC`` or ``~/.netrc`` (what
    ``wandb login`` writes); looked up without any network call."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urllib.parse.urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        return netrc.netrc(os.environ.get("NETRC")).authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def resolve_mode(requested: str | None) -> str:
    """``requested``, else ``WANDB_MODE``, else online when an API key is configured, else offline."""
    if requested is not None:
        return requested
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    return "online" if has_api_key() else "offline"


class WandbSink:
    def __init__(self, settings: WandB, config_record: dict, points: list[dict] | None,
                 directory: pathlib.Path | None, resume: bool):
        wandb = _import_wandb()
        self.points = points
        run_id = None
        id_file = None if directory is None else directory / "wandb_run_id"
        if resume and id_file is not None and id_file.exists():
            run_id = id_file.read_text().strip()
        self.run = wandb.init(
            project=settings.project, entity=settings.entity, name=settings.name, tags=list(settings.tags),
            config=config_record, dir=None if directory is None else str(directory),
            mode=resolve_mode(settings.mode), id=run_id, resume="allow" if run_id else None,
        )
        self.run.define_metric("env_steps")
        self.run.define_metric("*", step_metric="env_steps")
        if id_file is not None and run_id is None:
            id_file.write_text(self.run.id + "\n")

    def log(self, metrics: dict[str, np.ndarray]) -> None:
        self.run.log({"env_steps": int(np.max(metrics["env_steps"])), **mean_per_point(metrics, self.points)})

    def finish(self, summary: dict) -> None:
        """The summary's numbers (per sweep point as ``name/point_i``) as the W&B run summary."""
        scalars = {k: v for k, v in summary.items() if isinstance(v, (int, float))}
        for p, entry in enumerate(summary.get("sweep", [])):
            scalars.update({f"{k}/point_{p}": v for k, v in entry.items() if isinstance(v, (int, float))})
        self.run.summary.update(scalars)
        self.run.finish()
