"""CNN DQN against MLP DQN on a MinAtar task, at Dopamine's published JAX DQN config for MinAtar.

    python experiments/dqn_minatar.py [--env Breakout-MinAtar] [--seeds 4]
                                      [--total-timesteps 10000000] [--torso cnn mlp]
                                      [--markdown PATH]

The config is Dopamine's MinAtar DQN (``dopamine/labs/environments/minatar/dqn_*.gin``, the
JAX agent of Obando-Ceron & Castro's "Revisiting Rainbow", ICML 2021): 10M environment steps,
one gradient step every 4 environment steps (here 4 environments stepped together, one update
per step of all four), replay of 100,000 transitions, batch 32, Adam lr 2.5e-4 with eps
3.125e-4, gamma 0.99, squared TD error, no double Q, target copied every 1,000 environment
steps, learning from 1,000 steps, epsilon from 1 to 0.01 over 250,000 steps. Gradients are
clipped at norm 10 (Dopamine does not clip). The CNN agent is MinAtar's own DQN network (one
3x3 convolution of 16 channels, one dense layer of 128); the MLP agent flattens the grid into
two dense layers of 256 (gymnax-blines' PPO network). Prints per-seed final returns (mean
training episode return over the last 10% of training), IQM with a 95% bootstrap CI, the
greedy policy's mean over 16 episodes, and P(CNN > MLP).
"""

from __future__ import annotations

from learning_report import MINATAR_HIDDEN_SIZES, minatar_torsos_main
from purejaxrl.algorithms import dqn

NUM_ENVS = 4  # Dopamine's one update every 4 environment steps


def minatar_config(env: str, total_timesteps: int, torso: str) -> dqn.Config:
    return dqn.Config(
        env=env, variant="dqn", total_timesteps=total_timesteps, num_envs=NUM_ENVS,
        buffer_size=100_000, batch_size=32, updates_per_step=1, learning_starts=1_000,
        target_update_period=1_000 // NUM_ENVS, double=False, torso=torso,
        hidden_sizes=MINATAR_HIDDEN_SIZES[torso], activation="relu", lr=2.5e-4, adam_eps=3.125e-4,
        gamma=0.99, epsilon_start=1.0, epsilon_end=0.01, epsilon_fraction=250_000 / total_timesteps,
    )


if __name__ == "__main__":
    minatar_torsos_main(dqn, "DQN", minatar_config, __doc__.splitlines()[0])
