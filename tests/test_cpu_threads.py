import os
import subprocess
import sys

import pytest

from purejaxrl.cpu_threads import CPU_THREADS_ENV, cpu_threads_from_env, limit_cpu_threads

POOL_SIZE = """
import os, sys
from purejaxrl.cpu_threads import limit_cpu_threads
before = os.sched_getaffinity(0)
got = limit_cpu_threads(1)
import jax.numpy as jnp
(jnp.ones((256, 256)) @ jnp.ones((256, 256))).block_until_ready()
names = [open(f"/proc/self/task/{t}/comm").read() for t in os.listdir("/proc/self/task")]
pool = [name for name in names if name.startswith("tf_XLAEigen")]
print(got, len(pool), os.sched_getaffinity(0) == before)
"""


def test_one_thread_gives_a_pool_of_one_and_gives_the_cpus_back():
    out = subprocess.run([sys.executable, "-c", POOL_SIZE], capture_output=True, text=True, check=True).stdout
    got, pool, restored = out.split()[-3:]
    assert (int(got), int(pool), restored) == (1, 1, "True")


def test_after_the_backend_started_it_refuses():
    import jax.numpy as jnp

    jnp.zeros(()).block_until_ready()
    with pytest.raises(RuntimeError, match="before JAX's first computation"):
        limit_cpu_threads(1)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_threads_must_be_a_positive_int(bad):
    with pytest.raises(ValueError, match="positive integer"):
        limit_cpu_threads(bad)


def test_environment_variable(monkeypatch):
    monkeypatch.delenv(CPU_THREADS_ENV, raising=False)
    assert cpu_threads_from_env() is None
    monkeypatch.setenv(CPU_THREADS_ENV, "2")
    assert cpu_threads_from_env() == 2
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(CPU_THREADS_ENV, bad)
        with pytest.raises(ValueError, match=CPU_THREADS_ENV):
            cpu_threads_from_env()
    assert os.environ[CPU_THREADS_ENV] == "-1"
