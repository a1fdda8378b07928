"""The replay buffer: ring order, wrap-around, uniform and prioritised draws, vmapped over seeds."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purejaxrl.replay import (
    add_and_sample,
    gather_sequences,
    n_step_return,
    replay_add,
    replay_init,
    sample_prioritised,
    sample_uniform,
    sampling_probabilities,
    update_priorities,
)

EXAMPLE = {"obs": jnp.zeros(2), "reward": jnp.float32(0), "terminated": jnp.bool_(False)}


def step(t, num_envs=3):
    """Transitions of step ``t``: obs ``[t, env]``, reward ``t + env / 10``."""
    envs = jnp.arange(num_envs, dtype=jnp.float32)
    return {"obs": jnp.stack([jnp.full(num_envs, t, jnp.float32), envs], -1),
            "reward": t + envs / 10, "terminated": jnp.zeros(num_envs, bool)}


def fill(buffer, steps):
    for t in range(steps):
        buffer = replay_add(buffer, step(t, num_envs=buffer.priorities.shape[1]))
    return buffer


def test_adds_fill_slots_in_order_and_wrap_around():
    buffer = fill(replay_init(EXAMPLE, capacity=4, num_envs=3), 6)
    assert int(buffer.size) == 4 and int(buffer.position) == 2
    np.testing.assert_array_equal(buffer.data["obs"][:, 0, 0], [4, 5, 2, 3])  # 4 and 5 overwrote 0, 1
    np.testing.assert_allclose(buffer.data["reward"][1], [5.0, 5.1, 5.2])


def test_uniform_samples_only_filled_slots_and_all_of_them():
    buffer = fill(replay_init(EXAMPLE, capacity=8, num_envs=3), 3)
    batch, slots, envs = jax.jit(sample_uniform, static_argnums=2)(buffer, jax.random.key(0), 3000)
    assert set(np.asarray(slots).tolist()) == {0, 1, 2}
    assert set(np.asarray(envs).tolist()) == {0, 1, 2}
    np.testing.assert_allclose(batch["reward"], slots + envs / 10, rtol=1e-6)
    counts = np.bincount(np.asarray(slots) * 3 + np.asarray(envs), minlength=9)
    assert counts.min() > 3000 / 9 * 0.7 and counts.max() < 3000 / 9 * 1.3


@pytest.mark.parametrize("steps_before", [0, 2, 5, 9])  # empty, filling, full, wrapped around
def test_add_and_sample_is_add_then_sample_bit_for_bit(steps_before):
    buffer = fill(replay_init(EXAMPLE, capacity=5, num_envs=3), steps_before)
    new = step(100)
    keys = jax.random.split(jax.random.key(steps_before), 4)
    added, batches = jax.jit(add_and_sample, static_argnums=3)(buffer, new, keys, 64)
    expected_buffer = replay_add(buffer, new)
    for got, want in zip(jax.tree.leaves(added), jax.tree.leaves(expected_buffer)):
        np.testing.assert_array_equal(got, want)
    drew_the_new_slot = False
    for i, key in enumerate(keys):
        batch, slots, _ = sample_uniform(expected_buffer, key, 64)
        drew_the_new_slot |= bool(np.any(np.asarray(slots) == int(buffer.position)))
        for name in batch:
            np.testing.assert_array_equal(batches[name][i], batch[name])
    assert drew_the_new_slot


def test_dqn_and_sac_training_loops_copy_no_replay_buffer():
    """Gathering a batch from the buffer a write has just changed, XLA:CPU copied every
    buffer-sized array twice per iteration; ``add_and_sample`` orders the write after the gather."""
    from purejaxrl.algorithms import dqn, sac

    for algorithm, config in [
        (dqn, dqn.Config(env="CartPole-v1", total_timesteps=2_000, num_envs=3, buffer_size=3 * 97,
                         learning_starts=300)),
        (sac, sac.Config(env="Pendulum-v1", total_timesteps=2_000, num_envs=3, buffer_size=3 * 97,
                         learning_starts=300)),
    ]:
        compiled = jax.jit(algorithm.train, static_argnums=0).lower(config, jax.random.key(0)).compile()
        # in the loop: a copy of the loop's own buffer (a tuple element) or of such a copy
        copies = re.findall(r"= f32\[97,3[^\]]*\]\S* copy\(%(?:get-tuple-element|copy)", compiled.as_text())
        assert not copies, f"{algorithm.__name__} copies its replay buffer in the training loop: {copies[:2]}"


def test_prioritised_draws_follow_priority_to_the_alpha():
    buffer = fill(replay_init(EXAMPLE, capacity=4, num_envs=2), 2)  # 4 stored transitions
    buffer = update_priorities(buffer, jnp.array([0, 0, 1, 1]), jnp.array([0, 1, 0, 1]),
                               jnp.array([1.0, 2.0, 4.0, 8.0]))
    alpha, draws = 0.5, 40_000
    expected = np.array([1.0, 2.0, 4.0, 8.0]) ** alpha
    expected /= expected.sum()
    probabilities = sampling_probabilities(buffer, alpha)
    np.testing.assert_allclose(np.asarray(probabilities)[:2].reshape(-1), expected, rtol=1e-6)
    assert float(jnp.sum(probabilities[2:])) == 0.0  # empty slots are never drawn
    sample = jax.jit(sample_prioritised, static_argnums=2)
    batch, slots, envs, p = sample(buffer, jax.random.key(1), draws, alpha)
    frequency = np.bincount(np.asarray(slots) * 2 + np.asarray(envs), minlength=8)[:4] / draws
    np.testing.assert_allclose(frequency, expected, atol=0.01)
    np.testing.assert_allclose(p, expected[np.asarray(slots) * 2 + np.asarray(envs)], rtol=1e-6)
    np.testing.assert_allclose(batch["reward"], slots + envs / 10, rtol=1e-6)


def test_new_transitions_get_the_largest_priority_so_far():
    buffer = fill(replay_init(EXAMPLE, capacity=4, num_envs=2), 1)
    buffer = update_priorities(buffer, jnp.array([0]), jnp.array([1]), jnp.array([5.0]))
    buffer = replay_add(buffer, step(1, num_envs=2))
    np.testing.assert_array_equal(buffer.priorities[1], [5.0, 5.0])


def test_new_transitions_get_the_running_maximum_even_after_it_was_lowered():
    """LAP/PER: the maximum is over every priority ever set, not only those still stored."""
    buffer = fill(replay_init(EXAMPLE, capacity=4, num_envs=1), 2)
    buffer = update_priorities(buffer, jnp.array([0]), jnp.array([0]), jnp.array([7.0]))
    buffer = update_priorities(buffer, jnp.array([0]), jnp.array([0]), jnp.array([2.0]))
    buffer = replay_add(buffer, step(2, num_envs=1))
    np.testing.assert_array_equal(buffer.priorities[:, 0], [2.0, 1.0, 7.0, 0.0])


def test_vmapped_over_seeds_each_buffer_equals_its_own():
    def run(key):
        buffer = replay_init(EXAMPLE, capacity=4, num_envs=3)
        buffer = jax.lax.fori_loop(0, 5, lambda t, b: replay_add(b, step(t)), buffer)
        return sample_uniform(buffer, key, 16)

    keys = jax.random.split(jax.random.key(2), 4)
    batched = jax.jit(jax.vmap(run))(keys)
    for i in range(4):
        alone = jax.jit(run)(keys[i])
        for x, y in zip(jax.tree.leaves(alone), jax.tree.leaves(batched)):
            np.testing.assert_array_equal(x, y[i])


def test_bad_sizes_are_errors():
    with pytest.raises(ValueError, match="capacity"):
        replay_init(EXAMPLE, capacity=0, num_envs=1)


def test_n_step_returns_stop_at_episode_ends_and_at_the_newest_transition():
    """Env 0: no episode end; env 1: terminated at step 1; env 2: truncated at step 1."""
    example = {"reward": jnp.float32(0), "terminated": jnp.bool_(False), "done": jnp.bool_(False),
               "next_obs": jnp.float32(0)}
    buffer = replay_init(example, capacity=8, num_envs=3)
    for t in range(5):
        terminated = jnp.array([False, t == 1, False])
        done = jnp.array([False, t == 1, t == 1])
        buffer = replay_add(buffer, {"reward": jnp.full(3, float(t + 1)), "terminated": terminated,
                                     "done": done, "next_obs": jnp.full(3, 10.0 * (t + 1))})
    gamma, n = 0.5, 3
    slots, envs = jnp.array([0, 0, 0, 3]), jnp.array([0, 1, 2, 0])
    data, written = gather_sequences(buffer, slots, envs, n)
    returns, h, bootstrap = n_step_return(data["reward"], data["terminated"], data["done"], written, gamma)
    next_obs = jnp.take_along_axis(data["next_obs"], h[:, None], axis=-1)[:, 0]
    # env 0 from slot 0: r = 1, 2, 3 -> 1 + 0.5 * 2 + 0.25 * 3, bootstrap gamma^3 from next_obs_2 = 30
    # env 1: terminated at offset 1 -> 1 + 0.5 * 2, no bootstrap
    # env 2: truncated at offset 1 -> 1 + 0.5 * 2, bootstrap gamma^2 from final_obs 20
    # env 0 from slot 3: only slots 3, 4 written after it -> 4 + 0.5 * 5, bootstrap gamma^2 from 50
    np.testing.assert_allclose(returns, [2.75, 2.0, 2.0, 6.5])
    np.testing.assert_array_equal(h, [2, 1, 1, 1])
    np.testing.assert_allclose(bootstrap, [0.125, 0.0, 0.25, 0.25])
    np.testing.assert_allclose(next_obs, [30.0, 20.0, 20.0, 50.0])
