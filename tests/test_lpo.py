"""LPO: the ES outer loop, meta-training end to end (resume included), drift files and the CLI.

The drift's properties (zero and flat at r = 1, never negative, temporal inputs) are
tested in test_losses.py; PPO with the objectives in test_ppo.py. Every meta-training
run here uses the same tiny inner config, so the population program compiles once.
"""

import dataclasses
import json
import shutil
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from purejaxrl.algorithms import lpo, ppo

from purejaxrl import ConfigError, cli
from purejaxrl.stats import final_returns

TINY_PPO = {"total_timesteps": 1024, "num_log_points": 2}
META = lpo.MetaConfig(ppo=TINY_PPO, population_size=4, num_seeds=2, generations=2, baseline_seeds=2)


def test_open_es_converges_on_a_toy_quadratic():
    target = {"a": jnp.array([1.0, -2.0]), "b": jnp.array([0.5])}
    start = jax.tree.map(jnp.zeros_like, target)
    es = lpo.strategy(dataclasses.replace(META, population_size=16, std=0.1, lr=0.05), start)
    state = es.init(jax.random.key(0), start, es.default_params)
    key = jax.random.key(1)
    for _ in range(300):
        key, ask_key, tell_key = jax.random.split(key, 3)
        population, state = es.ask(ask_key, state, es.default_params)
        squared_error = sum(jnp.sum((population[k] - target[k]) ** 2, axis=-1) for k in target)
        state, _ = es.tell(tell_key, population, squared_error, state, es.default_params)  # evosax minimises
    mean = es.get_mean(state)
    error = float(jnp.sqrt(sum(jnp.sum((mean[k] - target[k]) ** 2) for k in target)))
    assert error < 0.1, error  # from 2.29 at the start


def test_a_population_of_ppo_drifts_trains_like_ppo_on_the_shared_seeds():
    """All-zero drifts over PPO-clip's: every member's run is PPO's run on the same keys."""
    meta = dataclasses.replace(META, drift_clip=True)
    zeros = jax.tree.map(jnp.zeros_like, lpo.init_drift(jax.random.key(0)))
    population = jax.tree.map(lambda x: jnp.stack([x] * meta.population_size), zeros)
    keys = jax.random.split(jax.random.key(3), meta.num_seeds)
    fitness, per_env = lpo.generation_fitness(meta, population, keys, {"CartPole-v1": 1.0})
    _, metrics = lpo.train_seeds(meta.inner_config("CartPole-v1", None), keys)
    expected = np.nanmean(final_returns(jax.device_get(metrics)))
    np.testing.assert_array_equal(per_env["CartPole-v1"], np.full(meta.population_size, expected))
    np.testing.assert_array_equal(fitness, per_env["CartPole-v1"])
    # normalised: each environment's returns divided by |PPO's return| on it
    normalized, _ = lpo.generation_fitness(dataclasses.replace(meta, normalize=True), population, keys,
                                           {"CartPole-v1": -4.0})
    np.testing.assert_allclose(normalized, per_env["CartPole-v1"] / 4.0, rtol=1e-6)


def test_meta_training_two_generations_end_to_end_and_resume(tmp_path):
    out = tmp_path / "meta"
    result = lpo.meta_train(META, 0, out=out, progress=False)
    assert result.history["fitness"].shape == (2, 4)
    assert np.isfinite(result.history["fitness"]).all()
    assert result.history["return/CartPole-v1"].shape == (2, 4)
    assert np.isfinite(result.baseline["CartPole-v1"])
    files = ("config.json", "metrics.jsonl", "metrics.csv", "summary.json", "meta_curve.png", "drift.npz")
    for name in files:
        assert (out / name).exists(), name
    assert len(json.loads((out / "summary.json").read_text())["mean_fitness"]) == 2
    saved = lpo.load(out / "drift.npz")
    jax.tree.map(np.testing.assert_array_equal, saved, result.params)
    # the ES moved: the mean is no longer the initial drift
    initial = lpo.init_drift(jax.random.split(jax.random.key(0), 3)[1])
    assert not np.allclose(saved["out"], initial["out"])

    # a run killed after its first generation resumes and ends where the uninterrupted one did
    shutil.rmtree(out / "checkpoints" / "1")
    resumed = lpo.meta_train(META, 0, out=out, resume=True, progress=False)
    jax.tree.map(np.testing.assert_array_equal, resumed.params, result.params)
    np.testing.assert_array_equal(resumed.history["fitness"], result.history["fitness"])
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    with pytest.raises(FileExistsError, match="already holds a run"):
        lpo.meta_train(META, 0, out=out, progress=False)
    with pytest.raises(ValueError, match="different config.generations"):
        lpo.meta_train(dataclasses.replace(META, generations=3), 0, out=out, resume=True, progress=False)


def test_cli_meta_lpo(tmp_path, capsys):
    out = tmp_path / "cli"
    code = cli.main(["meta", "lpo", "--population", "4", "--seeds", "2", "--generations", "1",
                     "--baseline-seeds", "2", "--ppo.total_timesteps", "1024", "--ppo.num_log_points", "2",
                     "--out", str(out), "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "generation 1: mean fitness" in printed
    assert lpo.load(out / "drift.npz")["hidden"].shape == (8, 128)
    assert cli.main(["meta", "lpo", "--population", "3"]) == 2
    assert "must be even" in capsys.readouterr().err
    assert cli.main(["meta", "lpo", "--ppo.total_timesteps"]) == 2


def test_drift_files_round_trip_and_bad_names_are_named(tmp_path):
    params = lpo.init_drift(jax.random.key(4), temporal=True)
    path = lpo.save(params, tmp_path / "mine")
    jax.tree.map(np.testing.assert_array_equal, lpo.load(path), params)
    with pytest.raises(FileNotFoundError, match="shipped drifts are"):
        lpo.load("no_such_drift")
    np.savez(tmp_path / "other.npz", w=np.zeros(3))
    with pytest.raises(ValueError, match="not drift parameters"):
        lpo.load(tmp_path / "other.npz")


@pytest.mark.parametrize(("changes", "field"), [
    ({"population_size": 5}, "population_size"),
    ({"num_seeds": 0}, "num_seeds"),
    ({"std": 0.0}, "std"),
    ({"envs": ()}, "envs"),
    ({"envs": ("CartPole-v1", "CartPole-v1")}, "envs"),
    ({"ppo": {"objective": "dpo"}}, "ppo"),
    ({"ppo": {"env": "Acrobot-v1"}}, "ppo"),
    ({"std": None}, "std"),
    ({"lr": float("inf")}, "lr"),
    ({"temporal": "yes"}, "temporal"),
    ({"envs": ("CartPole-v1", 3)}, "envs"),
])
def test_bad_meta_configs_name_the_field(changes, field):
    with pytest.raises(ConfigError, match=rf"MetaConfig\.{field}"):
        dataclasses.replace(META, **changes)


def test_normalising_by_a_zero_ppo_return_is_an_error(monkeypatch):
    monkeypatch.setattr(lpo, "baseline_returns", lambda meta, key: {"CartPole-v1": 0.0})
    with pytest.raises(ValueError, match="cannot normalise"):
        lpo.meta_train(dataclasses.replace(META, normalize=True), 0, progress=False)


def test_temporal_init_must_match_the_meta_config():
    with pytest.raises(ValueError, match="temporally aware"):
        lpo.meta_train(META, 0, init_params=lpo.init_drift(jax.random.key(0), temporal=True), progress=False)
    assert isinstance(META.inner_config("CartPole-v1", None), ppo.Config)


def test_drift_figure_and_grid(tmp_path):
    params = lpo.init_drift(jax.random.key(5), temporal=True)
    ratios, advantages, values, slopes = lpo.drift_grid(params, progress=0.5, points=41)
    assert values.shape == slopes.shape == (41, 41)
    at_one = np.argmin(np.abs(ratios - 1.0))
    assert abs(ratios[at_one] - 1.0) < 1e-6
    np.testing.assert_allclose(values[:, at_one], 0.0, atol=1e-6)
    np.testing.assert_allclose(slopes[:, at_one], 0.0, atol=1e-6)
    assert values.min() >= 0.0
    path = lpo.plot_drift(params, tmp_path / "drift.png", title="random")
    assert path.exists() and path.stat().st_size > 10_000


SHARDED_META = textwrap.dedent("""
    import os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    import jax, numpy as np
    from purejaxrl.algorithms import lpo
    from purejaxrl.runner import place, seed_sharding
    assert jax.device_count() == 2
    meta = lpo.MetaConfig(ppo={"total_timesteps": 1024, "num_log_points": 2}, population_size=4,
                          num_seeds=2, generations=1, baseline_seeds=2)
    population = jax.tree.map(lambda x: np.stack([x] * 4), lpo.init_drift(jax.random.key(0)))
    placed = place(population, seed_sharding(meta.population_size, 0))
    assert len({s.device for s in placed["hidden"].addressable_shards}) == 2
    result = lpo.meta_train(meta, 0, progress=False)
    assert np.isfinite(result.history["fitness"]).all(), result.history
    print("fitness", result.history["fitness"].tolist())
""")


def test_meta_training_spreads_the_population_over_two_devices():
    done = subprocess.run([sys.executable, "-c", SHARDED_META], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "fitness" in done.stdout


def test_shipped_drift_loads_into_a_valid_ppo_config():
    assert "cartpole_8k" in lpo.shipped()
    params = lpo.load("cartpole_8k")
    assert params["hidden"].shape == (8, 128) and params["out"].shape == (128,)
    assert params["hidden"].dtype == jnp.float32
    config = ppo.Config(objective="lpo", drift_params=params)
    ratios, _, values, _ = lpo.drift_grid(config.drift_params, points=21)
    assert values.min() >= 0.0 and values.max() > 0.0
