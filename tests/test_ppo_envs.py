"""PPO, unchanged, learns on the project's own MJX environments and on Brax.

Short budgets (CPU); the full runs are ``experiments/ppo_mjx.py`` and
``experiments/ppo_brax.py``.
"""

import jax
import numpy as np
from purejaxrl.algorithms import ppo

from purejaxrl.stats import final_returns

train_seeds = jax.jit(jax.vmap(ppo.train, in_axes=(None, 0)))


def test_ppo_learns_mjx_pendulum_swingup():
    """Random actions return about 3 (of at most 200); 65k steps reach well over 50."""
    config = ppo.Config(
        env="mjx/pendulum_swingup", total_timesteps=65_536, num_envs=16, num_steps=128, num_epochs=10,
        num_minibatches=32, lr=1e-3, gamma=0.97, normalize_obs=True, num_log_points=16,
    )
    _, metrics = train_seeds(config, jax.random.split(jax.random.key(0), 2))
    finals = final_returns(metrics)
    assert np.all(finals > 50), finals
    assert np.all(np.nanmean(metrics["episode_return"][:, :2], axis=1) < 20)


def test_ppo_learns_brax_inverted_pendulum():
    """Brax's inverted pendulum (spring backend): about 25 a episode at first, over 100 after 16k steps."""
    config = ppo.Config(
        env="brax/inverted_pendulum", env_kwargs={"backend": "spring", "episode_length": 1000},
        total_timesteps=16_384, num_envs=16, num_steps=64, num_epochs=4, num_minibatches=8, lr=3e-4,
        normalize_obs=True, num_log_points=16,
    )
    _, metrics = train_seeds(config, jax.random.split(jax.random.key(0), 2))
    assert np.all(final_returns(metrics) > 100), final_returns(metrics)
    assert np.all(np.nanmean(metrics["episode_return"][:, :2], axis=1) < 50)
