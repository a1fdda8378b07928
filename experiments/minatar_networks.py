"""Pgx's MinAtar PPO network as a user's torso (``examples/minatar-ppo/train.py`` in sotetsuk/pgx).

    --torso minatar_networks:PgxMinAtar     (with experiments/ on PYTHONPATH)

Pgx's network: a 2x2 convolution of 32 channels ('SAME'), ReLU, 2x2 average pooling, a dense
layer of 64 with ReLU; then the actor and the critic each two dense layers of 64 with tanh
before their output. PPO's feed-forward heads are linear, so this torso carries the two tanh
layers too and each of the actor and the critic gets its own copy (``shared_torso=False``):
pgx shares the convolution and the first dense layer between them.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from purejaxrl.networks import RELU_GAIN, Conv, Dense


class PgxMinAtar(nn.Module):
    """``obs [B, 10, 10, C] -> features [B, 64]``."""

    channels: int = 32
    width: int = 64

    @nn.compact
    def __call__(self, obs):
        x = obs.astype(jnp.float32)
        x = jnp.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))  # 'SAME' for a 2x2 kernel, then 'valid'
        x = nn.relu(Conv(self.channels, kernel_size=2)(x))
        x = nn.avg_pool(x, (2, 2), strides=(2, 2), padding="VALID")
        x = nn.relu(Dense(self.width, RELU_GAIN)(x.reshape(x.shape[0], -1)))
        x = jnp.tanh(Dense(self.width, RELU_GAIN)(x))
        return jnp.tanh(Dense(self.width, RELU_GAIN)(x))
