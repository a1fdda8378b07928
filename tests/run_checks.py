"""Checks shared by the tests that interrupt, damage or guard a run directory."""

import numpy as np

from purejaxrl import rundir


def assert_same_run(result, reference):
    """``result`` (a ``purejaxrl.run`` result) equals ``reference`` bit for bit: metrics, final state,
    and one ``metrics.jsonl`` line per log row."""
    for key in reference.metrics:
        np.testing.assert_array_equal(result.metrics[key], reference.metrics[key])
    for a, b in zip(rundir.to_host_leaves(result.state).values(),
                    rundir.to_host_leaves(reference.state).values(), strict=True):
        np.testing.assert_array_equal(a, b)
    rows = len((result.out / "metrics.jsonl").read_text().splitlines())
    assert rows == reference.metrics["env_steps"].shape[-1]
