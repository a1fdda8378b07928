import jax
import jax.numpy as jnp
import numpy as np
import pytest
from purejaxrl.envs.gymnax_adapter import GYMNAX_IDS

from purejaxrl import envs

# MNISTBandit loads MNIST through an external download; everything else is pure.
NEEDS_DOWNLOAD = {"MNISTBandit-bsuite"}


def test_every_gymnax_id_is_registered():
    import gymnax

    assert set(gymnax.registered_envs) <= set(envs.names())


@pytest.mark.parametrize("env_id", [e for e in GYMNAX_IDS if e not in NEEDS_DOWNLOAD])
def test_make_reset_step_jit_vmap(env_id):
    env, params = envs.make(env_id)
    num_envs = 3

    @jax.jit
    def rollout(key):
        reset_key, key = jax.random.split(key)
        obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(reset_key, num_envs), params)

        def step(carry, key):
            state, _ = carry
            action_key, step_key = jax.random.split(key)
            actions = jax.vmap(env.action_space(params).sample)(jax.random.split(action_key, num_envs))
            obs, state, reward, terminated, truncated, info = jax.vmap(
                env.step, in_axes=(0, 0, 0, None)
            )(jax.random.split(step_key, num_envs), state, actions, params)
            return (state, obs), (reward, terminated, truncated, info["final_obs"])

        _, out = jax.lax.scan(step, (state, obs), jax.random.split(key, 5))
        return obs, out

    obs, (reward, terminated, truncated, final_obs) = rollout(jax.random.key(0))
    assert reward.shape == (5, num_envs)
    assert terminated.dtype == jnp.bool_ and truncated.dtype == jnp.bool_
    assert np.all(np.isfinite(np.asarray(reward, np.float32)))
    assert final_obs.shape[2:] == obs.shape[1:]


def test_cartpole_truncation_and_final_obs():
    env, params = envs.make("CartPole-v1")
    params = params.replace(max_steps_in_episode=5)
    obs, state = env.reset(jax.random.key(0), params)
    for t in range(1, 6):
        action = jnp.asarray(t % 2)  # alternate: the pole stays up for 5 steps
        next_obs, state, reward, terminated, truncated, info = env.step(
            jax.random.key(t), state, action, params)
        if t < 5:
            assert not bool(truncated) and not bool(terminated)
            np.testing.assert_array_equal(np.asarray(info["final_obs"]), np.asarray(next_obs))
    assert bool(truncated) and not bool(terminated)
    # auto-reset replaced the observation; final_obs keeps the true last one
    assert not np.allclose(np.asarray(info["final_obs"]), np.asarray(next_obs))
    assert int(state.time) == 0


def test_unknown_id_lists_closest_names():
    with pytest.raises(envs.UnknownEnvironmentError) as error:
        envs.make("Cartpole-v1")
    assert "CartPole-v1" in str(error.value)
    with pytest.raises(envs.UnknownEnvironmentError, match="Breakout-MinAtar"):
        envs.make("breakout")


def test_bad_constructor_kwargs_are_reported_with_the_id():
    with pytest.raises(TypeError, match="CartPole-v1"):
        envs.make("CartPole-v1", not_a_parameter=3)


def test_registering_a_duplicate_id_fails():
    with pytest.raises(ValueError, match="already registered"):
        envs.register("CartPole-v1", lambda: None)


def test_brax_and_mjx_families_load_lazily_and_are_listed():
    """Importing the package (and making a gymnax env) does not import Brax or MJX;
    ``names()`` lists every family, and a family's ids make through the registry."""
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from purejaxrl import envs\n"
        "envs.make('CartPole-v1')\n"
        "assert 'brax' not in sys.modules and 'mujoco.mjx' not in sys.modules\n"
        "assert envs.is_registered('mjx/reacher') and 'brax' not in sys.modules\n"
        "names = envs.names()\n"
        "assert 'brax/ant' in names and 'mjx/pendulum_swingup' in names\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True)
    env, params = envs.make("mjx/pendulum_swingup", max_steps=50)
    assert env.name == "mjx/pendulum_swingup" and int(params.max_steps) == 50
    with pytest.raises(ValueError, match="valid backends"):
        envs.make("brax/ant", backend="bullet")


@pytest.mark.parametrize("env_id, bad_action", [("CartPole-v1", jnp.zeros((2,), jnp.int32)),
                                                ("Pendulum-v1", jnp.zeros((3,)))])
def test_wrong_action_shape_is_a_clear_error(env_id, bad_action):
    env, params = envs.make(env_id)
    _, state = env.reset(jax.random.key(0), params)
    with pytest.raises(ValueError, match=f"{env_id}: expected an action of shape"):
        env.step(jax.random.key(1), state, bad_action, params)
