import jax
import jax.numpy as jnp
import numpy as np

from purejaxrl import metrics, stats


def test_episode_stats_report_finished_episodes_and_reset():
    s = metrics.episode_stats_init(2)
    s, ret, length = metrics.episode_stats_step(s, jnp.array([1.0, 2.0]), jnp.array([False, True]))
    np.testing.assert_allclose(np.asarray(ret), [1.0, 2.0])
    np.testing.assert_array_equal(np.asarray(length), [1, 1])
    np.testing.assert_allclose(np.asarray(s.running_return), [1.0, 0.0])
    s, ret, length = metrics.episode_stats_step(s, jnp.array([1.0, 5.0]), jnp.array([True, False]))
    assert float(ret[0]) == 2.0 and int(length[0]) == 2


def test_finished_episode_metrics_nan_when_none():
    m = metrics.finished_episode_metrics(jnp.ones(3), jnp.ones(3, jnp.int32), jnp.zeros(3, bool))
    assert np.isnan(float(m["episode_return"])) and int(m["episodes"]) == 0
    m = metrics.finished_episode_metrics(jnp.array([1.0, 3.0, 9.0]), jnp.array([1, 3, 9]),
                                         jnp.array([True, True, False]))
    assert float(m["episode_return"]) == 2.0 and float(m["episode_length"]) == 2.0


def test_log_buffer_reduces_iterations_to_rows():
    num_iterations, rows = 10, 4  # rows get iterations [0,1,2], [3,4], [5,6,7], [8,9]
    per_iteration = [
        {"env_steps": (i + 1) * 100, "loss": float(i), "episodes": i % 2,
         "episode_return": float(10 * i) if i % 2 else float("nan"),
         "episode_length": 1.0 if i % 2 else float("nan")}
        for i in range(num_iterations)
    ]
    buffer = metrics.log_buffer_init(per_iteration[0].keys(), rows)
    add = jax.jit(metrics.log_buffer_add)
    for i, m in enumerate(per_iteration):
        row = metrics.log_index(jnp.asarray(i), num_iterations, rows)
        buffer = add(buffer, row, {k: jnp.asarray(v) for k, v in m.items()})
    out = metrics.log_buffer_result(buffer)
    np.testing.assert_array_equal(np.asarray(out["env_steps"]), [300, 500, 800, 1000])
    np.testing.assert_allclose(np.asarray(out["loss"]), [1.0, 3.5, 6.0, 8.5])
    np.testing.assert_array_equal(np.asarray(out["episodes"]), [1, 1, 2, 1])
    np.testing.assert_allclose(np.asarray(out["episode_return"]), [10.0, 30.0, 60.0, 90.0])


def test_rows_without_episodes_are_nan():
    buffer = metrics.log_buffer_init(["episode_return", "episodes", "env_steps"], 2)
    buffer = metrics.log_buffer_add(buffer, jnp.asarray(1), {
        "episode_return": jnp.asarray(5.0), "episodes": jnp.asarray(2), "env_steps": jnp.asarray(7)})
    out = metrics.log_buffer_result(buffer)
    assert np.isnan(float(out["episode_return"][0])) and float(out["episode_return"][1]) == 5.0


def test_final_returns_weight_by_episode_count_and_iqm():
    m = {"episode_return": np.array([[0.0] * 9 + [100.0], [np.nan] * 10]),
         "episodes": np.array([[1] * 9 + [3], [0] * 10])}
    finals = stats.final_returns(m, fraction=0.2)  # last two rows: (0*1 + 100*3) / 4
    assert finals[0] == 75.0 and np.isnan(finals[1])  # no episode ever finished


def test_final_returns_widen_the_window_until_an_episode_finished():
    # a perfect agent: all environments end together at the time limit, so the
    # last rows hold no episode; the window reaches back to the last that did
    returns = np.array([np.nan, 500.0, np.nan, np.nan, np.nan, 300.0, 500.0, np.nan, np.nan, np.nan])
    counts = np.array([0, 16, 0, 0, 0, 2, 14, 0, 0, 0])
    finals = stats.final_returns({"episode_return": returns, "episodes": counts}, fraction=0.1)
    assert finals == 500.0  # window = last 4 rows: 14 episodes of 500
    finals = stats.final_returns({"episode_return": returns, "episodes": counts}, fraction=0.5)
    assert finals == (2 * 300.0 + 14 * 500.0) / 16
    assert stats.iqm(np.array([0.0, 1.0, 2.0, 3.0, 100.0, -100.0, 1.5, 2.5])) == 1.75


def test_merging_per_step_episode_metrics_weights_each_step_by_its_count():
    steps = {"episode_return": jnp.array([10.0, jnp.nan, 1.0]),
             "episode_length": jnp.array([10.0, jnp.nan, 2.0]), "episodes": jnp.array([1, 0, 3], jnp.int32)}
    merged = metrics.merge_finished_episode_metrics(steps)
    np.testing.assert_allclose(merged["episode_return"], (10.0 + 3.0) / 4)
    np.testing.assert_allclose(merged["episode_length"], (10.0 + 6.0) / 4)
    assert int(merged["episodes"]) == 4
    none = metrics.merge_finished_episode_metrics({**steps, "episodes": jnp.zeros(3, jnp.int32)})
    assert np.isnan(none["episode_return"]) and int(none["episodes"]) == 0
