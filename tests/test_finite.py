"""NaN/inf in a run: the opt-in stop (check_finite) and the divergence report without it."""

import json
import types
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from purejaxrl.algorithms import dqn, mrq, ppo, sac

import purejaxrl
from purejaxrl import finite, rundir
from purejaxrl.cli import main

CONFIG = ppo.Config(env="CartPole-v1", total_timesteps=2048, num_envs=4, num_steps=32, num_minibatches=2,
                    num_log_points=4)  # 16 updates, 4 per log row
SEEDS = 6
POISON_AFTER = 9  # 0-based update after which some seeds' parameters become NaN


def is_poisoned(key):
    return jax.random.uniform(jax.random.fold_in(key, 1)) < 0.5


def poisoned_ppo():
    """PPO whose first actor kernel turns NaN after update ``POISON_AFTER`` in the seeds that
    ``is_poisoned`` picks from their key (a module-like stand-in: init, update, parameters)."""

    def init(config, key):
        return ppo.init(config, key), is_poisoned(key)

    def update(config, state):
        inner, poisoned = state
        inner, metrics = ppo.update(config, inner)
        hit = poisoned & (inner.iteration == POISON_AFTER + 1)
        layers = inner.params["actor_torso"]["params"]
        first = layers["Dense_0"] | {"kernel": jnp.where(hit, jnp.nan, layers["Dense_0"]["kernel"])}
        params = inner.params | {"actor_torso": {"params": layers | {"Dense_0": first}}}
        return (inner._replace(params=params), poisoned), metrics

    return types.SimpleNamespace(init=init, update=update, parameters=lambda state: ppo.parameters(state[0]))


def test_the_first_nonfinite_update_is_kept():
    first = finite.first_nonfinite_init()
    first = finite.first_nonfinite_add(first, jnp.int32(0), jnp.array([False, False]))
    assert first.tolist() == [-1, -1]
    first = finite.first_nonfinite_add(first, jnp.int32(3), jnp.array([False, True]))
    first = finite.first_nonfinite_add(first, jnp.int32(4), jnp.array([True, True]))
    assert first.tolist() == [3, 1]


def test_the_error_names_the_earliest_seed_point_update_and_quantity():
    first = np.full((2, 3, 2), -1)  # [points, seeds, (update, quantity)]
    first[1, 2] = [3, 0]
    first[0, 1] = [1, 1]
    points = [{"lr": 0.1}, {"lr": 0.2}]
    expected = (r"value_loss is NaN or infinite after update 9 \(0-based, of 40; 1,000 env steps\) "
                r"in seed 1 of sweep point lr=0.1; 1 other")
    with pytest.raises(finite.NonFiniteError, match=expected) as error:
        finite.raise_first_nonfinite(first, ["loss", "value_loss"], 8, 40, 100, points)
    assert (error.value.seed, error.value.point, error.value.update) == (1, points[0], 9)
    finite.raise_first_nonfinite(np.full((3, 2), -1), ["loss"], 0, 40, 100, None)  # nothing to report


def test_divergence_ignores_episode_statistics_and_warns_once_per_seed():
    row = {"env_steps": np.array([8, 8, 8]), "episode_return": np.array([np.nan, 1.0, np.nan]),
           "loss": np.array([0.5, np.inf, 0.1])}
    monitor = finite.DivergenceMonitor(None, [])
    with pytest.warns(finite.DivergenceWarning, match=r"loss turned NaN or infinite in log row 0 .* seed 1;"):
        monitor.observe(0, row)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        monitor.observe(1, row)  # seed 1 again: no second warning
    row["loss"] = np.array([np.nan, np.inf, 0.1])
    with pytest.warns(finite.DivergenceWarning, match=r"for seed 0;"):
        monitor.observe(2, row)
    stacked = {k: np.stack([v, v], axis=-1) for k, v in row.items()}
    assert finite.diverged_seeds(stacked).tolist() == [True, True, False]


@pytest.fixture(scope="module")
def healthy():
    return purejaxrl.run(ppo, CONFIG, seeds=2, progress=False)


def test_checking_changes_no_number_of_a_healthy_run(healthy):
    checked = purejaxrl.run(ppo, CONFIG, seeds=2, progress=False, check_finite=True)
    for key, values in healthy.metrics.items():
        np.testing.assert_array_equal(checked.metrics[key], values, err_msg=key)
    assert checked.summary["diverged_seeds"] == healthy.summary["diverged_seeds"] == []


@pytest.mark.parametrize("algorithm, config", [
    (sac, sac.Config(env="Pendulum-v1", total_timesteps=240, num_envs=2, buffer_size=200, batch_size=16,
                     learning_starts=40, hidden_sizes=(16, 16), num_log_points=4)),
    (dqn, dqn.Config(env="CartPole-v1", total_timesteps=400, num_envs=4, buffer_size=400, batch_size=16,
                     learning_starts=100, hidden_sizes=(16,), variant="c51", num_atoms=8, num_log_points=4)),
    (mrq, mrq.Config(env="Pendulum-v1", total_timesteps=260, learning_starts=60, target_update_period=50,
                     batch_size=16, buffer_size=400, num_log_points=4, **mrq.widths(16))),
], ids=["sac", "dqn-c51", "mrq"])
def test_healthy_off_policy_runs_pass_the_check(algorithm, config):
    """Warm-up, empty buffer slots and target networks raise no false alarm."""
    result = purejaxrl.run(algorithm, config, seeds=2, progress=False, check_finite=True)
    assert result.summary["diverged_seeds"] == []


def test_a_poisoned_parameter_stops_the_run_naming_seed_update_and_leaf(tmp_path):
    keys = jax.random.split(jax.random.key(0), SEEDS)
    poisoned = [i for i in range(SEEDS) if is_poisoned(keys[i])]
    assert 0 < len(poisoned) < SEEDS  # the test needs both kinds
    out = tmp_path / "run"
    with pytest.raises(finite.NonFiniteError) as error:
        purejaxrl.run(poisoned_ppo(), CONFIG, seeds=SEEDS, out=out, checkpoint_every=1, progress=False,
                      check_finite=True)
    assert (error.value.seed, error.value.update, error.value.point) == (poisoned[0], POISON_AFTER, None)
    assert error.value.quantity == "parameters['params']['actor_torso']['params']['Dense_0']['kernel']"
    assert f"{len(poisoned) - 1} other seed(s)" in str(error.value)
    # rows 0 and 1 (updates 0-7) were checkpointed; row 2 (updates 8-11) is logged, not checkpointed
    assert sorted(int(p.name) for p in (out / "checkpoints").iterdir()) == [0, 1]
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 3
    rundir.lock_run_dir(out).close()  # released


def test_a_diverging_sweep_point_is_reported_then_stopped_when_asked():
    sweep = {"lr": [2.5e-4, 1e30]}
    with pytest.warns(finite.DivergenceWarning, match=r"log row 0 .* for seed 0 of sweep point lr=1e\+30, "
                      r"seed 1 of sweep point lr=1e\+30;"):
        result = purejaxrl.run(ppo, CONFIG, seeds=2, sweep=sweep, progress=False)
    assert [p["diverged_seeds"] for p in result.summary["sweep"]] == [[], [0, 1]]
    with pytest.raises(finite.NonFiniteError, match="after update 0 .* in seed 0 of sweep point lr=1e"):
        purejaxrl.run(ppo, CONFIG, seeds=2, sweep=sweep, progress=False, check_finite=True)


def test_cli_check_finite_exits_1_and_the_summary_lists_diverged_seeds(tmp_path, capsys):
    flags = ["train", "ppo", "--env", "CartPole-v1", "--total-timesteps", "256", "--num-envs", "4",
             "--num-steps", "32", "--num-minibatches", "2", "--lr", "1e30", "--seeds", "2", "--no-progress"]
    assert main([*flags, "--check-finite"]) == 1
    assert "error: check_finite: " in capsys.readouterr().err
    with pytest.warns(finite.DivergenceWarning):
        assert main([*flags, "--out", str(tmp_path / "run")]) == 0
    assert "2 diverged (NaN/inf): seeds 0, 1" in capsys.readouterr().out
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["diverged_seeds"] == [0, 1]


def test_check_finite_must_be_a_bool():
    with pytest.raises(TypeError, match="check_finite must be True or False"):
        purejaxrl.run(ppo, CONFIG, seeds=1, check_finite="yes")
