import pytest

from purejaxrl import benchmark
from purejaxrl.cli import main


@pytest.fixture(scope="module")
def ppo_rows():
    """One real PPO cell at 2 seeds (cold process, then a cached-compile process)."""
    return benchmark.run_benchmark(["ppo"], [2], repeats=1)


def test_a_cell_reports_throughput_memory_and_both_compiles(ppo_rows):
    (row,) = ppo_rows
    assert "error" not in row, row
    config = benchmark.BENCH_CASES["ppo"].make_config()
    assert row["env_steps"] == 2 * config.num_iterations * config.batch_size
    per_seed_updates = config.num_iterations * config.num_epochs * config.num_minibatches
    assert row["updates_per_s"] * row["run_s"] == pytest.approx(2 * per_seed_updates)
    assert row["env_steps_per_s"] * row["run_s"] == pytest.approx(row["env_steps"])
    assert row["raw_ratio"] == pytest.approx(row["env_steps_per_s"] / row["raw_steps_per_s"])
    assert row["rss_mib"] > 100 and row["device_mib"] > 0
    assert row["compile_s"] > 0 and row["cached_compile_s"] > 0


def test_markdown_names_the_machine_and_every_cell(ppo_rows):
    failed = {"algorithm": "ppo", "seeds": 4096, "error": "killed (out of memory?)"}
    table = benchmark.markdown(ppo_rows + [failed], 1)
    assert "JAX" in table.splitlines()[0]
    rows = [line for line in table.splitlines() if line.startswith("| ppo |")]
    assert len(rows) == 2 and "killed" in rows[1]
    assert all(line.count("|") == benchmark.HEADER.count("|") for line in rows)


def test_a_cell_over_its_time_comes_back_as_an_error_row():
    (row,) = benchmark.run_benchmark(["dqn"], [1], repeats=1, timeout=0.5)
    assert row["error"] == "over 0.5 s"


@pytest.mark.parametrize(("argv", "message"), [
    (["bench", "--algo", "ppo", "--seeds", "0"], "seed counts must be positive"),
    (["bench", "--algo", "ppo", "--repeats", "0"], "repeats must be at least 1"),
])
def test_bench_cli_rejects_bad_input(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
