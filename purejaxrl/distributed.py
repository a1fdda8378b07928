"""One experiment over several processes (hosts): what the runner needs from ``jax.distributed``.

Recipe (every host runs the same script; ``out`` on a filesystem all hosts see)::

    import purejaxrl

    purejaxrl.distributed.initialize()   # first: before gymnax or the algorithms are imported
    # Slurm, Open MPI, TPU pods are found automatically; elsewhere, on each host:
    #     initialize("10.0.0.1:1234", num_processes=2, process_id=0)   (1 on the other host)
    from purejaxrl.algorithms import ppo

    result = purejaxrl.run(ppo, ppo.Config(env="CartPole-v1"), seeds=1024, out="/shared/runs/cp")

or ``purejaxrl train ppo ... --coordinator 10.0.0.1:1234 --num-processes 2 --process-id I``.

The seed axis is then sharded over every device of every process. Each process
runs ``init`` for all seeds and keeps its own devices' slices; after every
chunk the metric row is gathered to every process, so all of them hold the
same metrics and summary. Process 0 alone writes the run directory's files and
shows progress; checkpoints are written by orbax with every process taking part.
``result.state`` holds global arrays (each process sees its own shards);
``to_host(result.state)`` gathers them.
"""

from __future__ import annotations

from typing import Any

import jax


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> None:
    """``jax.distributed.initialize`` with cross-process CPU collectives (gloo) turned on, so CPU
    processes can gather metrics too. Call it before any other JAX work, and so before importing
    gymnax or ``purejaxrl.algorithms`` (gymnax builds arrays when imported)."""
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(coordinator_address, num_processes, process_id)
    except RuntimeError as error:
        if "must be called before" not in str(error):
            raise
        raise RuntimeError("purejaxrl.distributed.initialize() must come before any JAX work, including "
                           "importing gymnax or purejaxrl.algorithms (gymnax builds arrays when "
                           "imported): call it first in the script") from error


def is_primary() -> bool:
    """True in the process that writes files and prints (process 0; the only one when alone)."""
    return jax.process_index() == 0


def barrier(name: str) -> None:
    """Wait until every process gets here (nothing to wait for when alone)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def to_host(tree: Any) -> Any:
    """Every array leaf as NumPy holding its global value; shards on other processes are gathered
    (a collective: every process must call it)."""
    leaves, treedef = jax.tree.flatten(tree)
    is_global = [isinstance(x, jax.Array) and not x.is_fully_addressable for x in leaves]
    if not any(is_global):
        return jax.device_get(tree)
    from jax.experimental import multihost_utils

    remote = [x for x, g in zip(leaves, is_global) if g]
    gathered = iter(multihost_utils.process_allgather(remote, tiled=True))
    return jax.tree.unflatten(treedef, [next(gathered) if g else jax.device_get(x)
                                        for x, g in zip(leaves, is_global)])
