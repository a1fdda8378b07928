"""Property-based tests (hypothesis): returns, distributional projections and the replay buffer
against plain-Python models, on inputs hypothesis chooses (and shrinks when one fails).

Shapes are drawn from small ranges so that each jitted function compiles a handful of times;
``derandomize`` makes every CI run try the same examples.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from purejaxrl.distributional import (
    categorical_mean,
    categorical_projection,
    categorical_support,
    quantile_huber_loss,
    quantile_midpoints,
    symexp_bins,
    two_hot,
)
from purejaxrl.replay import (
    gather_sequences,
    n_step_return,
    replay_add,
    replay_init,
    sampling_probabilities,
    uniform_indices,
    update_priorities,
)
from purejaxrl.returns import gae

PROPERTY = settings(max_examples=60, deadline=None, derandomize=True)


def floats32(low: float, high: float):
    """float32 values in ``[low, high]`` (the bounds rounded to float32)."""
    return st.floats(float(np.float32(low)), float(np.float32(high)), width=32)


finite_floats = floats32(-10.0, 10.0)
unit = floats32(0.0, 1.0)

gae_jit = jax.jit(gae)
projection_jit = jax.jit(categorical_projection)
two_hot_jit = jax.jit(two_hot)
add_jit = jax.jit(replay_add)


# --------------------------------------------------------------------------- GAE


@st.composite
def rollouts(draw):
    """``(rewards, values, next_values, terminated, truncated)``, ``[T, 2]`` each, T in 1..8."""
    steps = draw(st.integers(1, 8))
    floats = [draw(arrays(np.float32, (steps, 2), elements=finite_floats)) for _ in range(3)]
    terminated = draw(arrays(np.bool_, (steps, 2)))
    truncated = draw(arrays(np.bool_, (steps, 2))) & ~terminated
    return (*floats, terminated, truncated)


def python_gae(rewards, values, next_values, terminated, truncated, gamma, lam):
    """One environment's advantages by the textbook definition, in float64: the sum over the
    episode's remaining steps ``A_t = sum_k (gamma lam)^k delta_{t+k}``, stopping after the first
    step that ends the episode (not a recursion, so it checks ``gae``'s recursion)."""
    advantages = []
    for t in range(len(rewards)):
        total, weight = 0.0, 1.0
        for k in range(t, len(rewards)):
            bootstrap = 0.0 if terminated[k] else gamma * float(next_values[k])
            total += weight * (float(rewards[k]) + bootstrap - float(values[k]))
            if terminated[k] or truncated[k]:
                break
            weight *= gamma * lam
        advantages.append(total)
    return np.array(advantages)


@PROPERTY
@given(rollouts(), unit, unit)
def test_gae_is_the_discounted_sum_of_td_errors_within_each_episode(rollout, gamma, lam):
    advantages, targets = gae_jit(*(jnp.asarray(x) for x in rollout), gamma, lam)
    for env in range(2):
        expected = python_gae(*(x[:, env] for x in rollout), gamma, lam)
        np.testing.assert_allclose(advantages[:, env], expected, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(targets, advantages + rollout[1], rtol=1e-5, atol=1e-5)


@PROPERTY
@given(rollouts(), unit, unit, st.data())
def test_gae_never_looks_past_an_episode_end(rollout, gamma, lam, data):
    """Whatever happens after step ``t`` ends an episode cannot change ``A_0 .. A_t``."""
    rewards, values, next_values, terminated, truncated = rollout
    steps = len(rewards)
    t = data.draw(st.integers(0, steps - 1))
    truncated = truncated.copy()
    truncated[t] = ~terminated[t]  # step t ends the episode either way
    later = data.draw(arrays(np.float32, (steps, 2), elements=finite_floats))
    changed = [np.where(np.arange(steps)[:, None] > t, later, x) for x in (rewards, values, next_values)]
    before, _ = gae_jit(*(jnp.asarray(x) for x in (rewards, values, next_values, terminated, truncated)),
                        gamma, lam)
    after, _ = gae_jit(*(jnp.asarray(x) for x in (*changed, terminated, truncated)), gamma, lam)
    np.testing.assert_array_equal(before[:t + 1], after[:t + 1])


# --------------------------------------------------------------------------- C51 projection and two-hot


@st.composite
def categorical_targets(draw):
    """``(atoms [n], probs [n], v_min, v_max, K)``: a Bellman target ``r + gamma z`` of a random
    distribution over ``n`` atoms, projected onto ``K`` atoms."""
    num_atoms = draw(st.integers(2, 9))
    v_min = draw(floats32(-50.0, 10.0))
    v_max = v_min + draw(floats32(0.5, 60.0))
    weights = draw(arrays(np.float32, (num_atoms,), elements=floats32(0.0, 1.0)))
    weights[draw(st.integers(0, num_atoms - 1))] += 1.0  # not all zero
    reward = draw(floats32(-30.0, 30.0))
    discount = draw(unit)
    support = np.asarray(categorical_support(v_min, v_max, num_atoms))
    atoms = (reward + discount * support).astype(np.float32)
    return atoms, weights / weights.sum(), v_min, v_max, num_atoms


@PROPERTY
@given(categorical_targets())
def test_projection_conserves_mass_and_stays_a_distribution(target):
    atoms, probs, v_min, v_max, num_atoms = target
    projected = np.asarray(projection_jit(atoms, probs, categorical_support(v_min, v_max, num_atoms)))
    assert projected.shape == (num_atoms,)
    assert (projected >= 0).all()
    assert math.isclose(projected.sum(), 1.0, abs_tol=1e-5)


@PROPERTY
@given(categorical_targets())
def test_projection_keeps_the_mean_of_atoms_inside_the_support(target):
    atoms, probs, v_min, v_max, num_atoms = target
    support = categorical_support(v_min, v_max, num_atoms)
    clipped = np.clip(atoms, v_min, v_max)  # mass beyond the ends lands on them
    projected = projection_jit(atoms, probs, support)
    scale = max(abs(v_min), abs(v_max), 1.0)
    assert math.isclose(float(categorical_mean(projected, support)), float(np.dot(probs, clipped)),
                        abs_tol=2e-5 * scale)


@PROPERTY
@given(categorical_targets())
def test_projection_puts_mass_only_on_the_neighbours_of_each_atom(target):
    atoms, probs, v_min, v_max, num_atoms = target
    support = np.asarray(categorical_support(v_min, v_max, num_atoms))
    for i in range(len(atoms)):  # one target atom at a time: at most two adjacent support atoms
        one = np.zeros_like(probs)
        one[i] = 1.0
        projected = np.asarray(projection_jit(atoms, one, support))
        nonzero = np.flatnonzero(projected > 1e-6)
        assert len(nonzero) <= 2 and (len(nonzero) < 2 or nonzero[1] == nonzero[0] + 1)
        x = np.clip(atoms[i], v_min, v_max)
        assert all(abs(support[j] - x) <= (support[1] - support[0]) * (1 + 1e-4) + 1e-5 for j in nonzero)


@PROPERTY
@given(floats32(-1e4, 1e4), st.integers(2, 12), floats32(0.5, 12.0))
def test_two_hot_is_a_distribution_whose_mean_is_the_clipped_value(x, num_bins, reach):
    bins = symexp_bins(-reach, reach, num_bins)
    encoded = np.asarray(two_hot_jit(jnp.float32(x), bins))
    assert (encoded >= 0).all() and math.isclose(encoded.sum(), 1.0, abs_tol=1e-5)
    nonzero = np.flatnonzero(encoded)
    assert len(nonzero) <= 2 and (len(nonzero) < 2 or nonzero[1] == nonzero[0] + 1)
    clipped = float(np.clip(x, bins[0], bins[-1]))
    assert math.isclose(float(categorical_mean(jnp.asarray(encoded), bins)), clipped,
                        rel_tol=1e-4, abs_tol=1e-4 * float(bins[-1]))


@PROPERTY
@given(arrays(np.float32, (5,), elements=finite_floats), arrays(np.float32, (7,), elements=finite_floats),
       floats32(0.1, 5.0))
def test_quantile_loss_is_non_negative_and_zero_only_at_the_targets(quantiles, targets, kappa):
    loss = float(quantile_huber_loss(quantiles, targets, quantile_midpoints(5), kappa))
    assert loss >= 0
    same = np.full(5, targets[0], np.float32)
    assert float(quantile_huber_loss(same, np.full(7, targets[0], np.float32), quantile_midpoints(5),
                                     kappa)) == 0.0


# --------------------------------------------------------------------------- replay buffer

EXAMPLE = {"reward": jnp.float32(0), "terminated": jnp.bool_(False), "done": jnp.bool_(False)}


@st.composite
def buffers(draw):
    """A buffer of ``capacity`` slots x ``num_envs`` after ``adds`` steps, and the steps themselves."""
    capacity, num_envs = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    adds = draw(st.integers(0, 3 * capacity + 1))
    rewards = draw(arrays(np.float32, (adds, num_envs), elements=finite_floats))
    terminated = draw(arrays(np.bool_, (adds, num_envs)))
    done = terminated | draw(arrays(np.bool_, (adds, num_envs)))
    buffer = replay_init(EXAMPLE, capacity, num_envs)
    for t in range(adds):
        buffer = add_jit(buffer, {"reward": jnp.asarray(rewards[t]), "terminated": jnp.asarray(terminated[t]),
                                  "done": jnp.asarray(done[t])})
    return buffer, capacity, num_envs, rewards, terminated, done


def newest_add_in_slot(slot, adds, capacity):
    """Which add (0-based) a ring of ``capacity`` slots holds in ``slot`` after ``adds`` adds."""
    written = [t for t in range(adds) if t % capacity == slot]
    return written[-1] if written else None


@PROPERTY
@given(buffers())
def test_the_ring_holds_the_newest_adds_in_order(case):
    buffer, capacity, num_envs, rewards, _, _ = case
    adds = len(rewards)
    assert int(buffer.size) == min(adds, capacity) and int(buffer.position) == adds % capacity
    for slot in range(capacity):
        t = newest_add_in_slot(slot, adds, capacity)
        expected = np.zeros(num_envs, np.float32) if t is None else rewards[t]
        np.testing.assert_array_equal(buffer.data["reward"][slot], expected)
        assert (buffer.priorities[slot] > 0).all() == (t is not None)


@PROPERTY
@given(buffers(), st.integers(0, 2**31 - 1))
def test_uniform_draws_land_in_filled_slots(case, seed):
    buffer, capacity, num_envs, rewards, _, _ = case
    slots, envs = uniform_indices(buffer, jax.random.key(seed), 64)
    assert (np.asarray(slots) < max(min(len(rewards), capacity), 1)).all() and (np.asarray(slots) >= 0).all()
    assert (np.asarray(envs) < num_envs).all() and (np.asarray(envs) >= 0).all()


@PROPERTY
@given(buffers(), st.data())
def test_prioritised_probabilities_cover_exactly_the_filled_slots(case, data):
    buffer, capacity, num_envs, rewards, _, _ = case
    filled = min(len(rewards), capacity)
    if filled:
        new = data.draw(arrays(np.float32, (filled, num_envs), elements=floats32(1e-3, 10.0)))
        slots, envs = (jnp.asarray(i) for i in np.divmod(np.arange(filled * num_envs), num_envs))
        buffer = update_priorities(buffer, slots, envs, jnp.asarray(new.reshape(-1)))
    alpha = data.draw(floats32(0.0, 1.0))
    probabilities = np.asarray(sampling_probabilities(buffer, alpha))
    assert (probabilities[filled:] == 0).all() and (probabilities[:filled] > 0).all()
    assert math.isclose(probabilities.sum(), 1.0 if filled else 0.0, abs_tol=1e-5)


def python_n_step(rewards, terminated, done, slot, env, adds, capacity, n, gamma):
    """``(G, h, bootstrap)`` walking the ring forward from ``slot`` in add order."""
    start = newest_add_in_slot(slot, adds, capacity)
    steps = [t for t in range(start, min(start + n, adds)) if t >= adds - capacity]  # still stored
    total, h = 0.0, 0
    for j, t in enumerate(steps):
        total += gamma ** j * float(rewards[t, env])
        h = j
        if done[t, env]:
            break
    t = steps[h]
    return total, h, 0.0 if terminated[t, env] else gamma ** (h + 1)


@PROPERTY
@given(buffers(), st.integers(1, 4), unit, st.data())
def test_n_step_returns_follow_the_ring_and_stop_at_episode_ends(case, n, gamma, data):
    buffer, capacity, num_envs, rewards, terminated, done = case
    adds = len(rewards)
    if adds == 0:
        return
    filled = min(adds, capacity)
    slots = np.array(data.draw(st.lists(st.integers(0, filled - 1), min_size=1, max_size=4)))
    envs = np.array([data.draw(st.integers(0, num_envs - 1)) for _ in slots])
    sequences, written = gather_sequences(buffer, jnp.asarray(slots), jnp.asarray(envs), n)
    returns, h, bootstrap = n_step_return(sequences["reward"], sequences["terminated"], sequences["done"],
                                          written, jnp.float32(gamma))
    for i, (slot, env) in enumerate(zip(slots, envs)):
        expected = python_n_step(rewards, terminated, done, slot, env, adds, capacity, n, gamma)
        assert int(h[i]) == expected[1]
        assert math.isclose(float(returns[i]), expected[0], rel_tol=1e-5, abs_tol=1e-4)
        assert math.isclose(float(bootstrap[i]), expected[2], rel_tol=1e-5, abs_tol=1e-6)
