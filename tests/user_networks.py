"""A user's own networks, outside the package, for the tests of the network interface."""

import flax.linen as nn
import jax.numpy as jnp


class Tiny(nn.Module):
    """Observations [B, ...] -> features [B, width]: one ReLU layer on the flattened observation."""

    width: int = 16

    @nn.compact
    def __call__(self, obs):
        return nn.relu(nn.Dense(self.width)(obs.reshape(obs.shape[0], -1)))


class KeepsShape(nn.Module):
    """A wrong torso: features keep the observation's shape instead of being [B, F]."""

    @nn.compact
    def __call__(self, obs):
        return obs[:, None] * self.param("scale", nn.initializers.ones, ())


class Holds(nn.Module):
    """A torso with a field a run directory cannot record as JSON."""

    table: object = None

    @nn.compact
    def __call__(self, obs):
        return jnp.tanh(nn.Dense(4)(obs.reshape(obs.shape[0], -1)))
