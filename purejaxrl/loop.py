"""The training loop every algorithm shares: iterations in one ``lax.scan``.

    state, metrics = scan_iterations(update, config, state, num_iterations)

runs ``state, m = update(config, state)`` ``num_iterations`` times and folds the
per-iteration metrics into ``config.num_log_points`` rows
(``purejaxrl.metrics``), so memory does not grow with the run's length.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from purejaxrl.metrics import log_buffer_add, log_buffer_init, log_buffer_result, log_index, num_log_rows


def scan_iterations(
    update: Callable[[Any, Any], tuple[Any, dict]], config: Any, state: Any, num_iterations: int
) -> tuple[Any, dict]:
    rows = num_log_rows(config.num_log_points, num_iterations)
    # jit caches the trace, so finding the metric names costs no second trace
    # of ``update`` when the scan body calls it.
    update = jax.jit(update)
    metric_keys = jax.eval_shape(update, config, state)[1].keys()
    buffer = log_buffer_init(metric_keys, rows)

    def iteration(carry, index):
        state, buffer = carry
        state, metrics = update(config, state)
        return (state, log_buffer_add(buffer, log_index(index, num_iterations, rows), metrics)), None

    (state, buffer), _ = jax.lax.scan(iteration, (state, buffer), jnp.arange(num_iterations))
    return state, log_buffer_result(buffer)
