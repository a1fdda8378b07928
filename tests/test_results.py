"""Results never score a seed that has none: diverged and episode-less seeds are left out and
counted in summaries, the CLI table, ``compare``, ``plot`` and ``eval``; sweep points are named by
their values."""

import json
import math

import numpy as np
import pytest
from purejaxrl.algorithms import ppo

import purejaxrl
from purejaxrl.cli import main
from purejaxrl.cli.results import summary_lines
from purejaxrl.plots import run_curves
from purejaxrl.rundir import read_metrics
from purejaxrl.runner import summarize
from purejaxrl.stats import final_returns

PENDULUM = ppo.Config(env="Pendulum-v1", total_timesteps=2048, num_envs=4, num_steps=64, num_minibatches=2,
                      num_epochs=1, num_log_points=4)


def fake_metrics(returns, episodes, loss=None):
    """``[seeds, rows]`` metrics as the runner stacks them."""
    returns = np.asarray(returns, np.float64)
    rows = returns.shape[-1]
    return {"episode_return": returns, "episodes": np.asarray(episodes, np.int64),
            "actor_loss": np.zeros_like(returns) if loss is None else np.asarray(loss, np.float64),
            "env_steps": np.broadcast_to(np.arange(1, rows + 1) * 100, returns.shape)}


def test_a_seed_whose_episodes_returned_nan_has_no_final_return_rather_than_zero():
    metrics = fake_metrics([[-900.0, -800.0], [-900.0, np.nan]], [[2, 2], [2, 2]])
    finals = final_returns(metrics, fraction=0.5)
    assert finals[0] == -800.0
    assert np.isnan(finals[1])  # was 0.0: better than every healthy Pendulum seed


def test_summary_statistics_are_over_the_finite_seeds_and_count_the_others():
    returns = [[-500.0, -400.0], [-600.0, -300.0], [-700.0, np.nan], [np.nan, np.nan]]
    episodes = [[1, 1], [1, 1], [1, 1], [0, 0]]
    loss = [[0.1, 0.1], [0.1, np.inf], [0.1, 0.1], [0.1, 0.1]]  # seed 1: returns finite, loss diverged
    summary = summarize(fake_metrics(returns, episodes, loss), None, 4, 1.0)
    assert summary["final_returns"][0] == -400.0
    assert all(math.isnan(v) for v in summary["final_returns"][1:])
    assert summary["mean"] == -400.0 and summary["num_finite"] == 1
    assert summary["diverged_seeds"] == [1, 2] and summary["without_episodes_seeds"] == [3]
    text = "\n".join(summary_lines(json.loads(json.dumps(purejaxrl.rundir._json_safe(summary)))))
    assert "final return -400.00 (1 of 4 seeds)" in text
    assert "2 diverged (NaN/inf): seeds 1, 2" in text and "1 finished no episode: seed 3" in text
    assert "nan" not in text.lower().replace("nan/inf", "")


@pytest.fixture(scope="module")
def pendulum_sweep(tmp_path_factory):
    """Pendulum (returns below 0): a healthy point and one that diverges at once (lr 1e30)."""
    out = tmp_path_factory.mktemp("runs") / "pendulum"
    with pytest.warns(purejaxrl.finite.DivergenceWarning):
        purejaxrl.run(ppo, PENDULUM, seeds=2, sweep={"lr": [1e-3, 1e30]}, out=out, progress=False)
    return out


def test_a_diverged_sweep_point_reports_no_statistic_and_summary_json_keeps_the_values_given(pendulum_sweep):
    text = (pendulum_sweep / "summary.json").read_text()
    summary = json.loads(text)
    healthy, diverged = summary["sweep"]
    assert healthy["point"] == {"lr": 0.001} and '"lr": 0.001\n' in text
    assert all(v < 0 for v in healthy["final_returns"]) and healthy["mean"] < 0
    assert diverged["final_returns"] == [None, None] and diverged["mean"] is None
    assert diverged["iqm"] is None and diverged["diverged_seeds"] == [0, 1]


def test_the_cli_table_names_points_by_value_and_says_which_seeds_diverged(pendulum_sweep, capsys):
    lines = summary_lines(json.loads((pendulum_sweep / "summary.json").read_text()))
    assert "sweep point lr=0.001" in lines and "sweep point lr=1e+30" in lines
    assert lines[-1] == "  no final return: none of the 2 seeds has one; 2 diverged (NaN/inf): seeds 0, 1"
    assert sum("diverged" == line.split()[-1] for line in lines) == 2


def test_compare_picks_sweep_points_and_refuses_a_side_without_final_returns(pendulum_sweep, capsys):
    run = str(pendulum_sweep)
    assert main(["compare", run, run]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a sweep of 2 points; pick one" in err and f"{run}@lr=0.001" in err
    assert main(["compare", f"{run}@lr=0.001", f"{run}@lr=1e30"]) == 2
    captured = capsys.readouterr()
    assert "note: " + f"{run}@lr=1e30: P is over 0 of its 2 seeds; 2 diverged" in captured.out
    assert captured.err == f"error: {run}@lr=1e30 has no seed with a final return; nothing to compare\n"
    assert main(["compare", f"{run}@lr=0.001", f"{run}@lr=0.001"]) == 0
    assert f"P({run}@lr=0.001 > {run}@lr=0.001) = 0.500" in capsys.readouterr().out
    assert main(["compare", f"{run}@lr=0.5", run + "@lr=0.001"]) == 2
    assert "has no sweep point lr=0.5; its points:" in capsys.readouterr().err


def test_plot_names_points_by_value_and_leaves_diverged_seeds_out(pendulum_sweep, tmp_path, capsys):
    record = json.loads((pendulum_sweep / "config.json").read_text())
    curves = run_curves(read_metrics(pendulum_sweep), [{"lr": v} for v in record["sweep"]["lr"]], "p")
    assert list(curves) == ["p lr=0.001", "p lr=1e+30 (2 of 2 seeds diverged, left out)"]
    assert curves["p lr=0.001"][1].shape == (2, 4)
    assert main(["plot", f"{pendulum_sweep}@lr=0.001", "-o", str(tmp_path / "c.png")]) == 0
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_eval_names_points_by_value_and_prints_returns_as_people_write_them(pendulum_sweep, capsys):
    assert main(["eval", str(pendulum_sweep), "--episodes", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("  lr=0.001: mean return per seed [-") and out[2].startswith("  lr=1e+30: ")
    healthy = out[1].split("[")[1].split("]")[0].split(", ")
    assert all(len(v.split(".")[1]) == 2 for v in healthy)  # two decimals, no float32 digits


def write_run(directory, *, env="CartPole-v1", finals=(100.0,), env_steps=1000, sweep=None, diverged=(),
              seed=0, lr=2.5e-4):
    """A finished run directory as ``runner.run`` writes it (config.json, summary.json), by hand."""
    directory.mkdir(parents=True)
    config = {"env": env, "env_kwargs": [], "total_timesteps": env_steps, "lr": lr}
    record = {"config_type": "purejaxrl.algorithms.ppo.Config", "config": config, "seeds": len(finals),
              "seed": seed, "sweep": sweep}
    entry = {"final_returns": list(finals), "num_seeds": len(finals),
             "num_nan": sum(v is None for v in finals), "num_finite": sum(v is not None for v in finals),
             "mean": None, "std": None, "median": None, "iqm": None, "mean_ci": [None, None],
             "iqm_ci": [None, None], "diverged_seeds": list(diverged),
             "without_episodes_seeds": [i for i, v in enumerate(finals) if v is None and i not in diverged]}
    kept = [v for v in finals if v is not None]
    if kept:
        entry.update(mean=float(np.mean(kept)), iqm=float(np.mean(kept)), std=None if len(kept) < 2 else 1.0)
    (directory / "config.json").write_text(json.dumps(record))
    (directory / "summary.json").write_text(json.dumps({"seeds": len(finals), "env_steps": env_steps,
                                                        "wall_seconds": 1.0, **entry}))
    return str(directory)


def test_compare_takes_one_seed_runs_and_seeds_without_episodes(tmp_path, capsys):
    a = write_run(tmp_path / "a", finals=(250.0,))
    b = write_run(tmp_path / "b", finals=(120.5, None))
    assert main(["compare", a, b]) == 0
    out = capsys.readouterr().out
    assert "final return 250.00 (1 seed)" in out and "+- nan" not in out and "n/a" not in out
    assert f"note: {b}: P is over 1 of its 2 seeds; 1 finished no episode: seed 1" in out
    assert f"P({a} > {b}) = 1.000" in out and "(1 seed against 1 seed)" in out


def test_compare_refuses_different_environments_and_prints_different_budgets(tmp_path, capsys):
    cartpole = write_run(tmp_path / "a", finals=(250.0, 240.0))
    pendulum = write_run(tmp_path / "b", env="Pendulum-v1", finals=(-200.0, -300.0))
    longer = write_run(tmp_path / "c", finals=(500.0, 480.0), env_steps=4000)
    assert main(["compare", cartpole, pendulum]) == 2
    assert "ran on CartPole-v1" in capsys.readouterr().err
    assert main(["compare", cartpole, longer]) == 0
    assert "note: the budgets differ: 1,000 env steps against 4,000" in capsys.readouterr().out


def test_compare_pools_the_seeds_of_runs_of_one_config_started_with_different_seeds(tmp_path, capsys):
    first = write_run(tmp_path / "s0", finals=(10.0, 20.0), seed=0)
    second = write_run(tmp_path / "s1", finals=(None, 40.0), seed=1, diverged=(0,))
    other = write_run(tmp_path / "b", finals=(15.0, 25.0, 35.0))
    assert main(["compare", f"{first}+{second}", other]) == 0
    out = capsys.readouterr().out
    assert "     2      diverged" in out  # the second run's seed 0 is the pooled side's seed 2
    assert "mean 23.33" in out and "over 3 of 4 seeds; 1 diverged (NaN/inf): seed 2" in out
    assert f"P({first}+{second} > {other}) = 0.444" in out and "(3 seeds against 3 seeds)" in out


@pytest.mark.parametrize(("change", "message"), [
    ({"seed": 0}, "pools runs of the same base seed 0, which trained the same seed keys"),
    ({"lr": 1e-3}, "differ in lr: seeds are pooled only from runs of one config"),
    ({"env_steps": 2000}, "differ in env_steps, total_timesteps: seeds are pooled only"),
])
def test_compare_refuses_to_pool_runs_of_other_configs_or_the_same_seed(change, message, tmp_path, capsys):
    first = write_run(tmp_path / "s0", finals=(10.0, 20.0), seed=0)
    second = write_run(tmp_path / "s1", finals=(30.0, 40.0), **{"seed": 1, **change})
    assert main(["compare", f"{first}+{second}", first]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err


@pytest.mark.parametrize(("files", "message"), [
    ({}, "is not a run directory (no config.json)"),
    ({"config.json": "{"}, "config.json is not valid JSON"),
    ({"config.json": json.dumps({"config": {"env": "CartPole-v1"}, "sweep": None})}, "missing keys"),
    ({"config.json": json.dumps({"config_type": "purejaxrl.algorithms.ppo.Config", "config": {}, "seeds": 1,
                                 "seed": 0, "sweep": None})}, "has no summary.json"),
])
def test_compare_of_something_that_is_not_a_finished_run_is_one_line(files, message, tmp_path, capsys):
    good = write_run(tmp_path / "good")
    bad = tmp_path / "bad"
    bad.mkdir()
    for name, text in files.items():
        (bad / name).write_text(text)
    assert main(["compare", good, str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err


def test_eval_of_a_run_without_a_checkpoint_is_one_line(tmp_path, capsys):
    run = write_run(tmp_path / "a")
    (tmp_path / "a" / "summary.json").unlink()
    assert main(["eval", run]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "has no checkpoint yet" in err


def test_plot_reads_the_complete_rows_of_metrics_cut_by_a_kill(pendulum_sweep, tmp_path, capsys):
    copy = tmp_path / "cut"
    copy.mkdir()
    (copy / "config.json").write_text((pendulum_sweep / "config.json").read_text())
    text = (pendulum_sweep / "metrics.jsonl").read_text()
    (copy / "metrics.jsonl").write_text(text[: len(text) - 40])  # the last line half written
    assert main(["plot", f"{copy}@lr=0.001", "-o", str(tmp_path / "c.png")]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith("warning: ") and "incomplete" in captured.err
    assert (tmp_path / "c.png").exists()
