import dataclasses

import jax
import numpy as np
import pytest
from purejaxrl.algorithms import ppo

from purejaxrl import ConfigError, sweep, sweep_points
from purejaxrl.config import frozen_kwargs


def test_config_is_a_frozen_pytree_with_static_and_traced_fields():
    config = ppo.Config()
    leaves, treedef = jax.tree_util.tree_flatten(config)
    # lr, gamma, gae_lambda, clip_eps, ent_coef, vf_coef, max_grad_norm, dpo_alpha, dpo_beta
    # (drift_params is None: no leaves)
    assert len(leaves) == 9
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.lr = 1.0  # type: ignore[misc]
    changed = dataclasses.replace(config, num_envs=4)
    assert jax.tree_util.tree_structure(changed) != treedef  # static change -> new treedef
    assert jax.tree_util.tree_structure(dataclasses.replace(config, lr=1.0)) == treedef


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"num_envs": 3, "num_steps": 5, "num_minibatches": 4}, "num_minibatches"),
        ({"lr": -1.0}, "lr"),
        ({"gamma": 1.5}, "gamma"),
        ({"num_envs": 0}, "num_envs"),
        ({"total_timesteps": 10}, "total_timesteps"),
        ({"activation": "sigmoidish"}, "activation"),
        ({"objective": "nope"}, "objective"),
        ({"objective": "lpo"}, "drift_params"),
        ({"objective": "lpo", "drift_params": {"hidden": np.zeros((5, 128)), "out": np.zeros(128)}},
         "drift_params"),
        ({"drift_params": {"hidden": np.zeros((8, 128)), "out": np.zeros(128)}}, "drift_params"),
        ({"drift_clip": True}, "drift_clip"),
        ({"objective": "dpo", "dpo_alpha": 0.0}, "dpo_alpha"),
        ({"hidden_sizes": ()}, "hidden_sizes"),
        ({"hidden_sizes": (64.5,)}, "hidden_sizes"),
        ({"env": "CartPol-v1"}, "env"),
        ({"lr": float("inf")}, "lr"),
        ({"lr": "3e-4"}, "lr"),
        ({"lr": True}, "lr"),
        ({"vf_coef": float("nan")}, "vf_coef"),
        ({"normalize_obs": "yes"}, "normalize_obs"),
        ({"anneal_lr": 1}, "anneal_lr"),
        ({"total_timesteps": 2**31}, "total_timesteps"),
        ({"env_kwargs": {"nope": 1}}, "env_kwargs"),
    ],
)
def test_bad_configs_raise_errors_naming_the_field(changes, field):
    with pytest.raises(ConfigError, match=rf"ppo\.Config\.{field}"):
        ppo.Config(**changes)


def test_unknown_env_suggests_close_names():
    with pytest.raises(ConfigError, match="CartPole-v1"):
        ppo.Config(env="cartpole")


def test_env_kwargs_accept_mapping_pairs_and_cli_strings():
    assert frozen_kwargs({"b": 2, "a": 1}) == frozen_kwargs(["a=1", "b=2"]) == (("a", 1), ("b", 2))
    assert frozen_kwargs([["a", [1, 2]]]) == (("a", (1, 2)),)  # a run directory's JSON lists
    for bad, match in ((["a"], "key=value"), ("a=1", "mapping or"), (3, "mapping or")):
        with pytest.raises(ConfigError, match=match):
            frozen_kwargs(bad)
    config = ppo.Config(env="brax/inverted_pendulum", env_kwargs={"backend": "spring"})
    hash(config)  # static fields must be hashable


def test_infinity_is_accepted_only_where_it_switches_clipping_off():
    config = ppo.Config(clip_eps=float("inf"), max_grad_norm=float("inf"))
    assert config.clip_eps == config.max_grad_norm == float("inf")
    with pytest.raises(ConfigError, match=r"Config\.clip_eps must be positive, got -inf"):
        ppo.Config(clip_eps=float("-inf"))
    with pytest.raises(ConfigError, match=r"ppo\.Config\.ent_coef must be finite, got inf$"):
        ppo.Config(ent_coef=float("inf"))


def test_sweep_builds_a_row_major_grid_and_in_axes():
    configs, in_axes = sweep(ppo.Config(), lr=[1e-3, 3e-4], gamma=[0.9, 0.99, 0.999])
    np.testing.assert_allclose(np.asarray(configs.lr), [1e-3] * 3 + [3e-4] * 3, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(configs.gamma), [0.9, 0.99, 0.999] * 2, rtol=1e-6)
    assert in_axes.lr == 0 and in_axes.gamma == 0 and in_axes.clip_eps is None
    assert in_axes.env == "CartPole-v1"
    points = sweep_points(configs, in_axes)
    assert len(points) == 6 and points[1]["gamma"] == pytest.approx(0.99)
    doubled = jax.vmap(lambda c: c.lr * 2, in_axes=(in_axes,))(configs)
    assert doubled.shape == (6,)


def test_sweep_rejects_static_unknown_and_invalid_values():
    with pytest.raises(ConfigError, match="static"):
        sweep(ppo.Config(), num_envs=[1, 2])
    with pytest.raises(ConfigError, match="no field"):
        sweep(ppo.Config(), learning_rate=[1.0])
    with pytest.raises(ConfigError, match="lr"):
        sweep(ppo.Config(), lr=[1e-3, -1.0])
    with pytest.raises(ConfigError, match="needs a list of values, got 0.1"):
        sweep(ppo.Config(), lr=0.1)
    with pytest.raises(ConfigError, match="must be a number"):
        sweep(ppo.Config(), lr=["fast"])


@pytest.mark.parametrize(("name", "env", "env_kwargs"), [
    ("ppo", "Breakout-MinAtar", {"use_minimal_action_set": False}),
    ("sac", "Reacher-misc", {"num_joints": 3}),
    ("dqn", "Breakout-MinAtar", {"use_minimal_action_set": False}),
    ("mrq", "Reacher-misc", {"num_joints": 3}),
])
def test_a_config_survives_its_run_directory_json_record(name, env, env_kwargs):
    """Resume, eval and render rebuild the config from config.json, where tuples became lists."""
    import json

    from purejaxrl.algorithms import ALGORITHMS

    from purejaxrl import rundir

    algorithm = ALGORITHMS[name]
    config = algorithm.Config(env=env, env_kwargs=env_kwargs)
    record = json.loads(json.dumps(rundir.config_record(config)))
    assert isinstance(record["env_kwargs"][0], list)
    assert algorithm.Config(**record) == config


def test_an_action_space_no_algorithm_handles_is_refused_naming_the_algorithm():
    import gymnax
    from gymnax.environments import spaces

    from purejaxrl import envs

    class TwoButtons(type(gymnax.make("CartPole-v1")[0])):
        def action_space(self, params=None):
            return spaces.Tuple([spaces.Discrete(2), spaces.Discrete(3)])

    envs.register("test/two-buttons", lambda: (TwoButtons(), TwoButtons().default_params))
    with pytest.raises(ConfigError, match=r"ppo\.Config\.env: needs a Discrete or 1-D Box action space; "
                                          r"'test/two-buttons' has Tuple"):
        ppo.Config(env="test/two-buttons")
