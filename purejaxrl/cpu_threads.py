"""How many threads XLA:CPU computes with; chosen before JAX starts its CPU backend.

XLA:CPU runs a program on a pool of one thread per CPU the process may use, and
hands independent operations of a loop body to different threads. For RL
programs of small matrices that is a loss: each hand-over wakes the other
thread, the loop ping-pongs between cores (about 20 context switches per PPO
iteration at PureJaxRL's CartPole config, measured with ``/proc``), and on a
virtual machine a wake-up can cost more than the operation. One thread runs the
same program with no hand-overs.

XLA sizes the pool by the CPUs in the process's affinity mask when the backend
starts, so ``limit_cpu_threads(n)`` narrows the mask to ``n`` CPUs, starts the
backend, and gives every thread the full mask back: the pool keeps ``n``
threads, which the OS may still move between all cores. Uses only the
standard library and ``jax``, so a peer's environment can load this file alone.

    PUREJAXRL_CPU_THREADS=1 purejaxrl train ppo ...     # the CLI reads the variable
"""

from __future__ import annotations

import os

CPU_THREADS_ENV = "PUREJAXRL_CPU_THREADS"


def cpu_threads_from_env() -> int | None:
    """``PUREJAXRL_CPU_THREADS`` as a positive int, ``None`` when unset; a clear error otherwise."""
    value = os.environ.get(CPU_THREADS_ENV, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{CPU_THREADS_ENV} must be a positive integer, got {value!r}")
    return int(value)


def limit_cpu_threads(threads: int) -> int:
    """Start JAX's CPU backend with an intra-op pool of ``threads`` threads; returns the pool
    size it got (``min(threads, usable CPUs)``). Must run before JAX's first computation:
    afterwards the pool exists and a ``RuntimeError`` says so."""
    import jax
    from jax._src import xla_bridge

    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    usable = os.sched_getaffinity(0)
    if xla_bridge.backends_are_initialized():
        raise RuntimeError("limit_cpu_threads must run before JAX's first computation (its CPU backend "
                           "has started and sized its thread pool); call it first, or set "
                           f"{CPU_THREADS_ENV} for the CLI")
    if threads >= len(usable):
        jax.devices("cpu")
        return len(usable)
    os.sched_setaffinity(0, sorted(usable)[:threads])
    try:
        jax.devices("cpu")
    finally:
        for thread_id in os.listdir("/proc/self/task"):
            try:
                os.sched_setaffinity(int(thread_id), usable)
            except (ProcessLookupError, PermissionError):  # a thread that ended meanwhile
                pass
    return threads
