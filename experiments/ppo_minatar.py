"""CNN PPO against MLP PPO on a MinAtar task, at gymnax's published PPO config and budget.

    python experiments/ppo_minatar.py [--env Breakout-MinAtar] [--seeds 4]
                                      [--total-timesteps 10000000]
                                      [--torso cnn cnn-shared mlp] [--markdown PATH]

The config is gymnax-blines' PPO config for MinAtar (the one behind gymnax's README table:
10M steps, Breakout-MinAtar 28, SpaceInvaders-MinAtar 131): 64 envs x 128 steps, 4 epochs x
8 minibatches, lr 5e-4 constant, gamma 0.999, GAE lambda 0.95, clip 0.2, entropy 0.01, value
coefficient 0.5, gradient norm 0.5, relu. The MLP agent flattens the 10x10xC grid into two
dense layers of 256 for the actor and another two for the critic (gymnax-blines' network); the
CNN agents use MinAtar's own network (one 3x3 convolution of 16 channels and one dense layer of
128, the ``cnn`` torso): ``cnn`` gives the actor and the critic one each, ``cnn-shared`` one
for both (``shared_torso``). Prints per-seed final returns (mean training episode return over
the last 10% of training), IQM with a 95% bootstrap CI, the deterministic policy's mean over
16 episodes, and P(CNN > MLP).
"""

from __future__ import annotations

from learning_report import MINATAR_HIDDEN_SIZES, minatar_torsos_main
from purejaxrl.algorithms import ppo

AGENTS = ("cnn", "cnn-shared", "mlp")


def minatar_config(env: str, total_timesteps: int, agent: str) -> ppo.Config:
    torso = agent.removesuffix("-shared")
    return ppo.Config(
        env=env, total_timesteps=total_timesteps, num_envs=64, num_steps=128, num_epochs=4,
        num_minibatches=8, lr=5e-4, anneal_lr=False, gamma=0.999, gae_lambda=0.95, clip_eps=0.2,
        ent_coef=0.01, vf_coef=0.5, max_grad_norm=0.5, torso=torso, hidden_sizes=MINATAR_HIDDEN_SIZES[torso],
        activation="relu", shared_torso=agent.endswith("-shared"),
    )


if __name__ == "__main__":
    minatar_torsos_main(ppo, "PPO", minatar_config, __doc__.splitlines()[0], AGENTS)
