"""Test-suite hygiene shared by every module.

Each program XLA:CPU compiles keeps its machine code in memory mappings of its own, and JAX
keeps every compiled program alive in its caches. The suite compiles over a thousand
programs in one process: by about 90% of it the process held more than Linux's default
``vm.max_map_count`` (65,530 mappings), and LLVM aborted the process ("Unable to allocate
section memory"). Programs are reused within a module (compile time dominates), never
across modules, so the caches are cleared after each module: the process then stays near
1,700 mappings instead of growing by ~1,000-2,000 per module.
"""

import jax
import pytest


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs_after_each_module():
    yield
    jax.clear_caches()
