"""MR.Q: model-based representations for Q-learning (Fujimoto et al., ICLR 2025).

An encoder maps a state to ``zs = f(s)`` and a state-action pair to
``zsa = g(zs, a)``; a linear model on ``zsa`` predicts the next embedding, the
reward and termination, which makes the value approximately linear in ``zsa``.
TD3-style twin critics ``Q_j(zsa)`` and a deterministic policy ``pi(zs)`` learn
on top of the (frozen) embeddings.

Encoder (every ``target_update_period`` steps, ``target_update_period`` updates in
a burst on sequences ``(s_0, a_0, r_0, d_0, s'_0 ... a_{H-1}, ...)`` of length
``H = encoder_horizon``), unrolled in latent space from ``z_0 = f(s_0)``:

    (d^_t, z_{t+1}, r^_t) = W g(z_t, a_t) + b
    L = sum_t m_t [ dynamics_weight |z_{t+1} - f'(s'_t)|^2
                    + reward_weight CE(r^_t, two_hot(r_t))
                    + done_weight (d^_t - terminated_t)^2 ]

with ``f'`` the target encoder, the reward a classification over ``num_bins``
bins spaced evenly in symlog space (``purejaxrl.distributional.two_hot``), and
the mask ``m_t = prod_{k<t} (1 - done_k)`` zero after the episode ended
(termination or time limit) and for steps not yet stored. The done term is
used once any terminal transition has been stored.

Value (every step), over ``n = value_horizon`` steps stopping at the episode's
end ``h`` (the terminal step's reward kept; ``purejaxrl.replay.n_step_return``):

    a'  = clip(pi'(f'(s'_h)) + clip(N(0, sigma^2), -c, c), -1, 1)      (target smoothing)
    y   = (sum_{t<=h} gamma^t r_t + gamma^{h+1} (1 - terminated_h) s' min_j Q'_j(g'(f'(s'_h), a'))) / s
    L_Q = sum_j Huber(Q_j(g(f(s_0), a_0)) - y) / 2

where ``s = mean |r|`` over the buffer and ``s'`` its value at the previous
target update (values are learned in units of the reward scale).

Policy: ``L_pi = -mean_j Q_j(g(f(s), pi(f(s)))) + pre_activation_weight |u|^2``,
``pi = tanh(u)`` for continuous actions (scaled to the action bounds when acting)
and ``pi = softmax((u + Gumbel) / gumbel_tau)`` for discrete ones, a relaxed
one-hot fed to ``g``. Exploration adds ``N(0, exploration_noise^2)``; for
discrete actions the noises are halved and the action is the argmax.

Replay is LAP (Fujimoto et al., 2020): sampled with probability proportional to
``priority^alpha``, ``priority = max(max_j |Q_j - y|, min_priority)``, new
transitions at the running maximum priority.

Every ``target_update_period`` steps the target encoder, policy and critics are
hard copies of the online ones and ``s' <- s``, ``s <- mean |r|``. One
``update`` is exactly that period: the copy, the encoder's burst, then
``target_update_period`` steps of (act in every environment, store, one value
and policy update). So there is no branch on the step counter, which under
``vmap`` would become a ``select`` running the burst every step. The first
``learning_starts`` environment steps of uniformly random actions are taken in
``init``, which fills the buffer; the learning curve begins after them.

Defaults are the paper's (its Table 8 and the reference implementation).
Differences from the reference: the multi-step return keeps the reward of the
terminal step (the reference multiplies each reward by that step's own not-done
flag and drops it); sequences that cross a time limit are used up to the limit
and bootstrap from the true final observation (the reference does not sample
them); no pixel augmentation or frame stacking (no Atari here; MinAtar's
observations are object maps, not pixels).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from purejaxrl import random
from purejaxrl.config import (
    check,
    frozen_kwargs,
    pytree_dataclass,
    require,
    require_bools,
    require_ints,
    require_ordered,
    static,
)
from purejaxrl.distributional import huber, symexp_bins, two_hot
from purejaxrl.distributions import log_softmax
from purejaxrl.env_spec import EnvSpec, checked_env_spec, require_registered_env
from purejaxrl.env_spec import env_spec as make_env_spec
from purejaxrl.loop import scan_iterations
from purejaxrl.metrics import merge_finished_episode_metrics
from purejaxrl.networks import (
    ACTIVATIONS,
    RELU_GAIN,
    Conv,
    Dense,
    Flatten,
    apply_torso,
    conv_output_size,
    layer_norm,
    require_torso,
    set_config_torso,
    torso_name,
    xavier,
)
from purejaxrl.offpolicy import (
    Rollout,
    replay_slots,
    require_replay_sizes,
    rollout_init,
    rollout_step,
    transition_example,
)
from purejaxrl.optim import clip_by_global_norm
from purejaxrl.ordered import ordered_mean, ordered_sum
from purejaxrl.replay import (
    Replay,
    gather_sequences,
    n_step_return,
    prioritised_indices,
    replay_add,
    replay_init,
    uniform_indices,
    update_priorities,
)

# The reference's Atari encoder (84x84 frames): (features, kernel, stride) per convolution.
ATARI_CNN = ((32, 3, 2), (32, 3, 2), (32, 3, 2), (32, 3, 1))
# For small images such as MinAtar's 10x10, where ATARI_CNN leaves nothing.
SMALL_CNN = ((32, 3, 1), (32, 3, 1))
# Every kernel: Xavier-uniform with ReLU gain (biases zero), as the reference.
XAVIER = xavier(RELU_GAIN)


@pytree_dataclass
class Config:
    """MR.Q hyperparameters; defaults are the paper's (one set for Gym, DMC and Atari).

    Static (recompile when changed): the environment, sizes, horizons, periods,
    widths, activations, ``cnn_layers`` (``(features, kernel, stride)`` per
    convolution for image observations ``[H, W, C]``; ``None``: ``ATARI_CNN`` if it
    fits the image, else ``SMALL_CNN``), ``num_bins``, ``prioritized``. Traced:
    every rate, weight, noise scale and the reward bins' symlog range.
    ``buffer_size`` counts transitions over all environments; each stores the
    observation twice (``obs`` and ``next_obs``).
    """

    env: str = static("Pendulum-v1")
    """environment id (purejaxrl envs lists them)"""
    env_kwargs: tuple = static(())
    """keyword arguments for envs.make, as KEY=VALUE"""
    total_timesteps: int = static(20_000)
    """environment steps, warm-up included"""
    num_envs: int = static(1)
    """parallel environments"""
    buffer_size: int = static(1_000_000)
    """replay buffer size, in transitions over all environments"""
    batch_size: int = static(256)
    """sequences per update"""
    learning_starts: int = static(10_000)
    """random warm-up steps, taken in init"""
    target_update_period: int = static(250)
    """steps per period (one update)"""
    encoder_horizon: int = static(5)
    """H of the latent unroll"""
    value_horizon: int = static(3)
    """n of the multi-step return"""
    prioritized: bool = static(True)
    """LAP prioritised sampling"""
    zs_dim: int = static(512)
    """state embedding size"""
    za_dim: int = static(256)
    """action embedding size"""
    zsa_dim: int = static(512)
    """state-action embedding size"""
    encoder_hidden: int = static(512)
    """encoder hidden width"""
    value_hidden: int = static(512)
    """critic hidden width"""
    policy_hidden: int = static(512)
    """policy hidden width"""
    encoder_activation: str = static("elu")
    """encoder activation: tanh, relu, silu, swish, gelu or elu"""
    value_activation: str = static("elu")
    """critic activation: tanh, relu, silu, swish, gelu or elu"""
    policy_activation: str = static("relu")
    """policy activation: tanh, relu, silu, swish, gelu or elu"""
    torso: str = static("auto")
    """the state encoder's torso, under its zs layer: auto (cnn on [H, W, C], else mlp), mlp, cnn,
    flatten, or package.module:Name (flax)"""
    cnn_layers: tuple[tuple[int, int, int], ...] | None = static(None)
    """(features, kernel, stride) per convolution for image observations; None: the reference's Atari
    stack if it fits the image, else two 3x3 stride-1 layers of 32 (SMALL_CNN)"""
    num_bins: int = static(65)
    """reward bins"""
    num_log_points: int = static(100)
    """metric rows"""
    gamma: float = 0.99
    """discount"""
    exploration_noise: float = 0.2
    """exploration noise sigma_e"""
    target_policy_noise: float = 0.2
    """target policy noise sigma"""
    noise_clip: float = 0.3
    """target policy noise clip c"""
    dynamics_weight: float = 1.0
    """encoder loss weight of the dynamics term"""
    reward_weight: float = 0.1
    """encoder loss weight of the reward term"""
    done_weight: float = 0.1
    """encoder loss weight of the termination term"""
    priority_alpha: float = 0.4
    """LAP alpha"""
    min_priority: float = 1.0
    """LAP minimum priority p_min"""
    encoder_lr: float = 1e-4
    """AdamW step size, encoder"""
    encoder_weight_decay: float = 1e-4
    """AdamW weight decay, encoder"""
    value_lr: float = 3e-4
    """AdamW step size, critics"""
    value_weight_decay: float = 1e-4
    """AdamW weight decay, critics"""
    value_grad_clip: float = 20.0
    """critic gradient-norm clip"""
    policy_lr: float = 3e-4
    """AdamW step size, policy"""
    policy_weight_decay: float = 1e-4
    """AdamW weight decay, policy"""
    gumbel_tau: float = 10.0
    """tau_g of the relaxed one-hot (discrete actions)"""
    pre_activation_weight: float = 1e-5
    """lambda_pre, the policy's pre-activation penalty"""
    reward_symlog_low: float = -10.0
    """symlog range of the reward bins, lower end"""
    reward_symlog_high: float = 10.0
    """symlog range of the reward bins, upper end"""

    def __post_init__(self):
        object.__setattr__(self, "env_kwargs", frozen_kwargs(self.env_kwargs))
        if self.cnn_layers is not None:
            object.__setattr__(self, "cnn_layers", tuple(tuple(int(v) for v in layer)
                                                         for layer in self.cnn_layers))
        set_config_torso(self)
        validate(self)

    @property
    def warmup_iterations(self) -> int:
        """Steps of every environment with random actions, taken in ``init``:
        ``ceil(learning_starts / num_envs)``."""
        return -(-self.learning_starts // self.num_envs)

    @property
    def steps_per_iteration(self) -> int:
        return self.target_update_period * self.num_envs

    @property
    def num_iterations(self) -> int:
        """Target periods after the warm-up: ``(total_timesteps - warm-up steps) //
        steps_per_iteration`` (the remainder is not taken)."""
        return (self.total_timesteps - self.warmup_iterations * self.num_envs) // self.steps_per_iteration

    @property
    def replay_capacity(self) -> int:
        """Ring slots, one step of every environment each (``offpolicy.replay_slots``)."""
        return replay_slots(self)


def widths(width: int) -> dict:
    """Config fields that scale every width together: hidden layers and embeddings ``width``,
    ``za_dim = width // 2`` (the paper's 512 and 256 for ``width=512``). For small CPU runs:
    ``mrq.Config(env=..., **mrq.widths(128))``."""
    return {"zs_dim": width, "za_dim": width // 2, "zsa_dim": width, "encoder_hidden": width,
            "value_hidden": width, "policy_hidden": width}


def validate(config: Config) -> None:
    """Raise ``ConfigError`` naming the field of an impossible config."""
    require_registered_env(config)
    require_replay_sizes(config)
    require_ints(config, ("target_update_period", "encoder_horizon", "value_horizon", "zs_dim", "za_dim",
                          "zsa_dim", "encoder_hidden", "value_hidden", "policy_hidden"))
    require_ints(config, ("num_bins",), minimum=2)
    require_bools(config, ("prioritized",))
    require(config.learning_starts >= 1, config, "learning_starts",
            "must be at least 1: the encoder's first burst samples the buffer")
    first = config.warmup_iterations * config.num_envs + config.steps_per_iteration
    require(config.total_timesteps >= first, config, "total_timesteps",
            f"{config.total_timesteps} does not reach one target period after the warm-up "
            f"(learning_starts {config.learning_starts} + target_update_period {config.target_update_period} "
            f"x num_envs {config.num_envs} = {first})")
    horizon = max(config.encoder_horizon, config.value_horizon)
    require(config.replay_capacity >= horizon, config, "buffer_size",
            f"must hold {horizon} steps of every environment (the longest horizon), "
            f"got {config.replay_capacity} per environment")
    for name in ("encoder_activation", "value_activation", "policy_activation"):
        require(getattr(config, name) in ACTIVATIONS, config, name,
                f"unknown {getattr(config, name)!r}; choose one of {sorted(ACTIVATIONS)}")
    spec = checked_env_spec(config)
    if isinstance(config.torso, str) and torso_name(config.torso, spec.obs_shape) == "cnn":
        require(len(spec.obs_shape) == 3, config, "torso",
                f"cnn needs image observations [H, W, C], got shape {spec.obs_shape}")
        cnn_flat_size(config, spec.obs_shape)
    elif config.torso == "auto":
        require(len(spec.obs_shape) <= 1, config, "env",
                f"needs vector or image [H, W, C] observations, got shape {spec.obs_shape} "
                "(or a torso for them)")
    require_torso(config, torso_module(config, spec), spec.obs_shape)
    for name in ("gamma", "priority_alpha"):
        check(config, name, lambda v: (v >= 0) & (v <= 1), "in [0, 1]")
    for name in ("encoder_lr", "value_lr", "policy_lr", "gumbel_tau", "min_priority"):
        check(config, name, lambda v: v > 0, "positive")
    check(config, "value_grad_clip", lambda v: v > 0, "positive", allow_inf=True)
    for name in ("exploration_noise", "target_policy_noise", "dynamics_weight", "reward_weight",
                 "done_weight", "encoder_weight_decay", "value_weight_decay", "policy_weight_decay",
                 "pre_activation_weight"):
        check(config, name, lambda v: v >= 0, "non-negative")
    check(config, "noise_clip", lambda v: v >= 0, "non-negative", allow_inf=True)
    require_ordered(config, "reward_symlog_low", "reward_symlog_high")


def env_spec(config: Config) -> EnvSpec:
    return make_env_spec(config.env, config.env_kwargs)


def cnn_layers(config: Config, obs_shape: tuple[int, ...]) -> tuple:
    if config.cnn_layers is not None:
        return config.cnn_layers
    side = min(obs_shape[:2])
    for _, kernel, stride in ATARI_CNN:
        side = conv_output_size(side, kernel, stride)
    return ATARI_CNN if side >= 1 else SMALL_CNN


def cnn_flat_size(config: Config, obs_shape: tuple[int, ...]) -> int:
    """Features after the convolutions; ``ConfigError`` if the image shrinks to nothing."""
    height, width = obs_shape[:2]
    layers = cnn_layers(config, obs_shape)
    require(len(layers) >= 1 and all(len(layer) == 3 and min(layer) >= 1 for layer in layers), config,
            "cnn_layers", f"must be positive (features, kernel, stride) triples, got {layers!r}")
    for _, kernel, stride in layers:
        height, width = conv_output_size(height, kernel, stride), conv_output_size(width, kernel, stride)
        require(min(height, width) >= 1, config, "cnn_layers",
                f"{layers!r} shrinks a {obs_shape[0]}x{obs_shape[1]} image to nothing; "
                f"use fewer or smaller-stride layers, e.g. {SMALL_CNN}")
    return height * width * layers[-1][0]


# --------------------------------------------------------------------------- networks


class LayerNormMLP(nn.Module):
    """``act(LayerNorm(x W + b))`` per layer of ``features``, the last linear unless
    ``activate_output``; ``flatten`` folds ``x [B, ...]`` to ``[B, F]`` first (a torso)."""

    features: tuple[int, ...]
    activation: str
    activate_output: bool = False
    flatten: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if self.flatten:
            x = x.reshape(x.shape[0], -1)
        for i, width in enumerate(self.features):
            x = Dense(width, kernel_init=XAVIER)(x)
            if i < len(self.features) - 1 or self.activate_output:
                x = ACTIVATIONS[self.activation](layer_norm(x))
        return x


class ConvStack(nn.Module):
    """Torso for images ``[B, H, W, C]``: 'valid' convolutions ``(features, kernel, stride)``, each
    followed by ``activation``, flattened to ``[B, F]``."""

    layers: tuple[tuple[int, int, int], ...]
    activation: str

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for features, kernel, stride in self.layers:
            x = ACTIVATIONS[self.activation](Conv(features, kernel, stride, kernel_init=XAVIER)(x))
        return x.reshape(x.shape[0], -1)


class StateEncoder(nn.Module):
    """``zs = f(s) = act(LayerNorm(torso(s) W + b))``, ``zs_dim`` wide."""

    torso: nn.Module
    zs_dim: int
    activation: str

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        return LayerNormMLP((self.zs_dim,), self.activation, activate_output=True)(self.torso(obs))


class Modules(NamedTuple):
    """The flax modules; their variables are in ``Networks``."""

    zs: StateEncoder
    za: Dense
    zsa: LayerNormMLP
    model: Dense
    policy: LayerNormMLP
    critic: LayerNormMLP


class Networks(NamedTuple):
    encoder: dict  # variables of "zs" (state encoder), "za", "zsa" (state-action encoder), "model"
    policy: Any
    critics: tuple[Any, Any]


def torso_module(config: Config, spec: EnvSpec) -> nn.Module:
    """The state encoder's torso: a user's module; ``mlp`` (``auto`` for vectors) two LayerNorm
    layers of ``encoder_hidden``; ``cnn`` (``auto`` for images ``[H, W, C]``) the ``cnn_layers``
    convolutions; ``flatten`` none."""
    if isinstance(config.torso, nn.Module):
        return config.torso
    name = torso_name(config.torso, spec.obs_shape)
    if name == "cnn":
        return ConvStack(cnn_layers(config, spec.obs_shape), config.encoder_activation)
    if name == "flatten":
        return Flatten()
    h = config.encoder_hidden
    return LayerNormMLP((h, h), config.encoder_activation, activate_output=True, flatten=True)


def modules(config: Config, spec: EnvSpec) -> Modules:
    h, p, v = config.encoder_hidden, config.policy_hidden, config.value_hidden
    return Modules(
        zs=StateEncoder(torso_module(config, spec), config.zs_dim, config.encoder_activation),
        za=Dense(config.za_dim, kernel_init=XAVIER),
        zsa=LayerNormMLP((h, h, config.zsa_dim), config.encoder_activation),
        model=Dense(1 + config.zs_dim + config.num_bins, kernel_init=XAVIER),
        policy=LayerNormMLP((p, p, spec.action_dim), config.policy_activation),
        critic=LayerNormMLP((v, v, v, 1), config.value_activation),
    )


def init_networks(config: Config, spec: EnvSpec, key: jax.Array) -> Networks:
    """Xavier-uniform kernels with ReLU gain and zero biases everywhere, as the reference."""
    zs_key, za_key, zsa_key, model_key, policy_key, critic_key = jax.random.split(key, 6)
    m = modules(config, spec)
    zs = m.zs.init(zs_key, jnp.zeros((1, *spec.obs_shape), jnp.float32))
    encoder = {
        "zs": zs,
        "za": m.za.init(za_key, jnp.zeros((1, spec.action_dim), jnp.float32)),
        "zsa": m.zsa.init(zsa_key, jnp.zeros((1, config.zs_dim + config.za_dim), jnp.float32)),
        "model": m.model.init(model_key, jnp.zeros((1, config.zsa_dim), jnp.float32)),
    }
    policy = m.policy.init(policy_key, jnp.zeros((1, config.zs_dim), jnp.float32))
    critics = tuple(m.critic.init(k, jnp.zeros((1, config.zsa_dim), jnp.float32))
                    for k in jax.random.split(critic_key))
    return Networks(encoder, policy, critics)


def preprocess(spec: EnvSpec, obs: jax.Array) -> jax.Array:
    """float32 observations; 8-bit images to ``[-0.5, 0.5]`` as the reference."""
    x = obs.astype(jnp.float32)
    return x / 255.0 - 0.5 if obs.dtype == jnp.uint8 else x


def state_embedding(config: Config, spec: EnvSpec, encoder: dict, x: jax.Array) -> jax.Array:
    """``zs = f(s)`` for preprocessed observations ``[..., *obs_shape]``."""
    return apply_torso(modules(config, spec).zs, encoder["zs"], x, len(spec.obs_shape))


def state_action_embedding(config: Config, spec: EnvSpec, encoder: dict, zs: jax.Array,
                           action: jax.Array) -> jax.Array:
    """``zsa = g(zs, a)``: ``a`` embedded by ``act(a W + b)``, then an MLP with linear output."""
    m = modules(config, spec)
    za = ACTIVATIONS[config.encoder_activation](m.za.apply(encoder["za"], action))
    return m.zsa.apply(encoder["zsa"], jnp.concatenate([zs, za], axis=-1))


def model(config: Config, spec: EnvSpec, encoder: dict, zsa: jax.Array
          ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The linear model ``(done, next zs, reward logits)`` predicted from ``zsa``."""
    out = modules(config, spec).model.apply(encoder["model"], zsa)
    return out[..., 0], out[..., 1:1 + config.zs_dim], out[..., 1 + config.zs_dim:]


def critic_values(config: Config, spec: EnvSpec, critics: tuple, zsa: jax.Array) -> jax.Array:
    """``[..., 2]``: both critics' values of ``zsa``."""
    critic = modules(config, spec).critic
    return jnp.stack([critic.apply(c, zsa)[..., 0] for c in critics], axis=-1)


def policy_pre_activation(config: Config, spec: EnvSpec, policy: Any, zs: jax.Array) -> jax.Array:
    return modules(config, spec).policy.apply(policy, zs)


# --------------------------------------------------------------------------- actions


def discrete_noise_scale(spec: EnvSpec) -> float:
    """The reference halves every action noise for discrete actions (one-hots live in [0, 1],
    continuous actions in [-1, 1])."""
    return 1.0 if spec.continuous else 0.5


def relaxed_action(config: Config, spec: EnvSpec, pre: jax.Array, gumbel: jax.Array) -> jax.Array:
    """``tanh(u)``, or for discrete actions ``softmax((u + Gumbel) / gumbel_tau)``."""
    if spec.continuous:
        return jnp.tanh(pre)
    return jax.nn.softmax((pre + gumbel) / config.gumbel_tau, axis=-1)


def action_input(spec: EnvSpec, stored_action: jax.Array) -> jax.Array:
    """What ``g`` sees: the stored action in ``[-1, 1]`` or the one-hot of a discrete one."""
    if spec.continuous:
        return stored_action
    return jax.nn.one_hot(stored_action, spec.action_dim, dtype=jnp.float32)


def env_action(spec: EnvSpec, stored_action: jax.Array) -> jax.Array:
    """``[-1, 1]`` scaled to the action bounds (continuous); discrete actions as they are."""
    if spec.continuous:
        return spec.action_low + 0.5 * (stored_action + 1.0) * (spec.action_high - spec.action_low)
    return stored_action


def exploration_action(config: Config, spec: EnvSpec, pre: jax.Array, key: jax.Array) -> jax.Array:
    """The stored action: ``clip(tanh(u) + N(0, sigma^2), -1, 1)``, or the argmax of the relaxed
    one-hot plus ``N(0, (sigma / 2)^2)``."""
    noise_bits, gumbel_bits = random.bits(key, (2, *pre.shape))
    noise = discrete_noise_scale(spec) * config.exploration_noise * random.normal(noise_bits)
    action = relaxed_action(config, spec, pre, random.gumbel(gumbel_bits)) + noise
    if spec.continuous:
        return jnp.clip(action, -1.0, 1.0)
    return jnp.argmax(action, axis=-1).astype(jnp.int32)


def smoothed_target_action(config: Config, spec: EnvSpec, pre: jax.Array, key: jax.Array) -> jax.Array:
    """TD3's target policy smoothing, as ``g``'s input: clipped noise on ``pi'``, then clipped to
    ``[-1, 1]`` or made the one-hot of the argmax."""
    noise_bits, gumbel_bits = random.bits(key, (2, *pre.shape))
    scale = discrete_noise_scale(spec)
    noise = jnp.clip(scale * config.target_policy_noise * random.normal(noise_bits),
                     -scale * config.noise_clip, scale * config.noise_clip)
    action = relaxed_action(config, spec, pre, random.gumbel(gumbel_bits)) + noise
    if spec.continuous:
        return jnp.clip(action, -1.0, 1.0)
    return jax.nn.one_hot(jnp.argmax(action, axis=-1), spec.action_dim, dtype=jnp.float32)


def policy_of_obs(config: Config, spec: EnvSpec, networks: Networks, obs: jax.Array) -> jax.Array:
    """The policy's pre-activation ``u`` of raw observations: ``pi(f(s))`` before tanh/softmax."""
    zs = state_embedding(config, spec, networks.encoder, preprocess(spec, obs))
    return policy_pre_activation(config, spec, networks.policy, zs)


def act(config: Config, state: State, obs: jax.Array, key: jax.Array, deterministic: bool = False):
    """Environment actions for one observation or a batch: ``pi(f(s))`` scaled to the bounds (or its
    argmax) when ``deterministic``, else with exploration noise."""
    spec = env_spec(config)
    pre = policy_of_obs(config, spec, state.learner.online, obs)
    if deterministic:
        stored = jnp.tanh(pre) if spec.continuous else jnp.argmax(pre, axis=-1).astype(jnp.int32)
    else:
        stored = exploration_action(config, spec, pre, key)
    return env_action(spec, stored)


# --------------------------------------------------------------------------- state


class Learner(NamedTuple):
    online: Networks
    target: Networks
    encoder_opt: Any
    policy_opt: Any
    critic_opt: Any
    reward_scale: jax.Array  # s: mean |r| in the buffer at the last target update
    target_reward_scale: jax.Array  # s': its value one target update earlier


class State(NamedTuple):
    learner: Learner
    buffer: Replay
    rollout: Rollout
    seen_termination: jax.Array  # any terminal transition stored (switches the done loss on)
    key: jax.Array
    iteration: jax.Array


def optimizers(config: Config) -> tuple[optax.GradientTransformation, ...]:
    """AdamW for the encoder, the policy and the critics; the critics' gradients clipped by norm."""
    encoder = optax.adamw(config.encoder_lr, weight_decay=config.encoder_weight_decay)
    policy = optax.adamw(config.policy_lr, weight_decay=config.policy_weight_decay)
    critics = optax.chain(clip_by_global_norm(config.value_grad_clip),
                          optax.adamw(config.value_lr, weight_decay=config.value_weight_decay))
    return encoder, policy, critics


def init(config: Config, key: jax.Array) -> State:
    """Networks, an empty buffer, then ``learning_starts`` steps of uniformly random actions."""
    spec = env_spec(config)
    net_key, env_key, warmup_key, key = jax.random.split(key, 4)
    networks = init_networks(config, spec, net_key)
    encoder_tx, policy_tx, critic_tx = optimizers(config)
    learner = Learner(networks, networks, encoder_tx.init(networks.encoder), policy_tx.init(networks.policy),
                      critic_tx.init(networks.critics), jnp.float32(1.0), jnp.float32(0.0))
    rollout = rollout_init(spec, config.num_envs, env_key)
    stored_action = jnp.zeros((spec.action_dim,), jnp.float32) if spec.continuous else jnp.int32(0)
    buffer = replay_init(transition_example(rollout.obs[0], stored_action), config.replay_capacity,
                         config.num_envs)

    def random_step(carry, step_key):
        buffer, rollout, seen = carry
        action_key, env_key = jax.random.split(step_key)
        if spec.continuous:
            shape = (config.num_envs, spec.action_dim)
            stored = jax.random.uniform(action_key, shape, jnp.float32, -1.0, 1.0)
        else:
            stored = jax.random.randint(action_key, (config.num_envs,), 0, spec.action_dim).astype(jnp.int32)
        buffer, rollout, seen, _ = act_and_store(spec, buffer, rollout, seen, stored, env_key)
        return (buffer, rollout, seen), None

    warmup_keys = jax.random.split(warmup_key, config.warmup_iterations)
    (buffer, rollout, seen), _ = jax.lax.scan(random_step, (buffer, rollout, jnp.bool_(False)), warmup_keys)
    return State(learner, buffer, rollout, seen, key, jnp.zeros((), jnp.int32))


def parameters(state: State) -> Learner:
    """What training learns (``check_finite`` watches it): online and target networks, optimisers and
    the reward scales."""
    return state.learner


def act_and_store(spec: EnvSpec, buffer: Replay, rollout: Rollout, seen: jax.Array, stored_action: jax.Array,
                  key: jax.Array) -> tuple[Replay, Rollout, jax.Array, dict]:
    """Step every environment with ``stored_action`` (in ``[-1, 1]`` or discrete) and store it."""
    rollout, transition, episode_metrics = rollout_step(spec, rollout, env_action(spec, stored_action), key)
    buffer = replay_add(buffer, transition._replace(action=stored_action))
    return buffer, rollout, seen | jnp.any(transition.terminated), episode_metrics


# --------------------------------------------------------------------------- sampling


def sample_sequences(config: Config, buffer: Replay, key: jax.Array, length: int):
    """``(sequences [batch, length, ...], written [batch, length], slots, envs)``; starts drawn by LAP
    priority (``prioritized``) or uniformly."""
    if config.prioritized:
        slots, envs, _ = prioritised_indices(buffer, key, config.batch_size, config.priority_alpha)
    else:
        slots, envs = uniform_indices(buffer, key, config.batch_size)
    sequences, written = gather_sequences(buffer, slots, envs, length)
    return sequences, written, slots, envs


def reward_scale(buffer: Replay) -> jax.Array:
    """``mean |r|`` over the stored transitions (at least 1e-8)."""
    stored = (jnp.arange(buffer.priorities.shape[0]) < buffer.size)[:, None]
    total = ordered_sum(jnp.where(stored, jnp.abs(buffer.data.reward), 0.0))
    count = buffer.size * buffer.priorities.shape[1]
    return jnp.maximum(total / jnp.maximum(count, 1), 1e-8)


# --------------------------------------------------------------------------- encoder


def encoder_loss(config: Config, spec: EnvSpec, encoder: dict, target_zs: jax.Array, sequences: Any,
                 written: jax.Array, seen_termination: jax.Array) -> tuple[jax.Array, dict]:
    """The latent rollout's dynamics, reward and done losses, masked after the episode ended."""
    bins = symexp_bins(config.reward_symlog_low, config.reward_symlog_high, config.num_bins)
    zs = state_embedding(config, spec, encoder, preprocess(spec, sequences.obs[:, 0]))
    alive = jnp.ones(written.shape[0], jnp.float32)
    dynamics = reward = done = jnp.float32(0.0)
    for t in range(config.encoder_horizon):
        zsa = state_action_embedding(config, spec, encoder, zs, action_input(spec, sequences.action[:, t]))
        done_pred, zs, reward_logits = model(config, spec, encoder, zsa)
        mask = alive * written[:, t]
        dynamics += ordered_mean(mask[:, None] * jnp.square(zs - target_zs[:, t]))
        cross_entropy = -ordered_sum(two_hot(sequences.reward[:, t], bins) * log_softmax(reward_logits), -1)
        reward += ordered_mean(mask * cross_entropy)
        done += ordered_mean(mask * jnp.square(done_pred - sequences.terminated[:, t]))
        alive = alive * (1.0 - sequences.done[:, t])
    done = jnp.where(seen_termination, done, 0.0)
    loss = config.dynamics_weight * dynamics + config.reward_weight * reward + config.done_weight * done
    return loss, {"encoder_loss": loss, "dynamics_loss": dynamics, "reward_loss": reward, "done_loss": done}


def encoder_step(config: Config, spec: EnvSpec, learner: Learner, buffer: Replay, seen_termination: jax.Array,
                 key: jax.Array) -> tuple[Learner, dict]:
    """One AdamW step of the encoder (and its model head) on ``encoder_horizon``-step sequences."""
    sequences, written, _, _ = sample_sequences(config, buffer, key, config.encoder_horizon)
    target_zs = state_embedding(config, spec, learner.target.encoder, preprocess(spec, sequences.next_obs))
    grads, info = jax.grad(
        lambda e: encoder_loss(config, spec, e, target_zs, sequences, written, seen_termination), has_aux=True
    )(learner.online.encoder)
    updates, encoder_opt = optimizers(config)[0].update(grads, learner.encoder_opt, learner.online.encoder)
    online = learner.online._replace(encoder=optax.apply_updates(learner.online.encoder, updates))
    return learner._replace(online=online, encoder_opt=encoder_opt), info


# --------------------------------------------------------------------------- value and policy


def value_target(config: Config, spec: EnvSpec, learner: Learner, sequences: Any, written: jax.Array,
                 key: jax.Array) -> jax.Array:
    """``y`` of the module docstring: the multi-step return plus the target networks' smoothed
    bootstrap, in units of the reward scale."""
    returns, h, bootstrap = n_step_return(sequences.reward, sequences.terminated, sequences.done, written,
                                          config.gamma)
    next_obs = sequences.next_obs[jnp.arange(h.shape[0]), h]  # s'_h, the last step's true next state
    target = learner.target
    next_zs = state_embedding(config, spec, target.encoder, preprocess(spec, next_obs))
    next_pre = policy_pre_activation(config, spec, target.policy, next_zs)
    next_action = smoothed_target_action(config, spec, next_pre, key)
    next_q = jnp.min(critic_values(config, spec, target.critics, state_action_embedding(
        config, spec, target.encoder, next_zs, next_action)), axis=-1)
    return (returns + bootstrap * next_q * learner.target_reward_scale) / learner.reward_scale


def lap_priority(q: jax.Array, target: jax.Array, min_priority: jax.Array) -> jax.Array:
    """``max(max_j |Q_j - y|, min_priority)`` for ``q [batch, 2]``; sampled with probability
    proportional to its ``priority_alpha`` power."""
    return jnp.maximum(jnp.max(jnp.abs(q - target[:, None]), axis=-1), min_priority)


def value_and_policy_step(config: Config, spec: EnvSpec, learner: Learner, buffer: Replay, key: jax.Array
                          ) -> tuple[Learner, Replay, dict]:
    """Critics on ``value_horizon``-step returns, then the policy against the updated critics, then
    the sampled transitions' LAP priorities."""
    sample_key, target_key, gumbel_key = jax.random.split(key, 3)
    sequences, written, slots, envs = sample_sequences(config, buffer, sample_key, config.value_horizon)
    target = jax.lax.stop_gradient(value_target(config, spec, learner, sequences, written, target_key))
    encoder = learner.online.encoder
    zs = state_embedding(config, spec, encoder, preprocess(spec, sequences.obs[:, 0]))
    zsa = state_action_embedding(config, spec, encoder, zs, action_input(spec, sequences.action[:, 0]))
    _, policy_tx, critic_tx = optimizers(config)

    def critic_loss(critics):
        q = critic_values(config, spec, critics, zsa)
        return ordered_mean(huber(q - target[:, None], 1.0)), q

    (value_loss, q), grads = jax.value_and_grad(critic_loss, has_aux=True)(learner.online.critics)
    updates, critic_opt = critic_tx.update(grads, learner.critic_opt, learner.online.critics)
    critics = optax.apply_updates(learner.online.critics, updates)

    gumbel = random.gumbel(random.bits(gumbel_key, (config.batch_size, spec.action_dim)))

    def policy_loss(policy):
        pre = policy_pre_activation(config, spec, policy, zs)
        action = relaxed_action(config, spec, pre, gumbel)
        q_pi = critic_values(config, spec, critics, state_action_embedding(config, spec, encoder, zs, action))
        return -ordered_mean(q_pi) + config.pre_activation_weight * ordered_mean(jnp.square(pre))

    policy_loss_value, grads = jax.value_and_grad(policy_loss)(learner.online.policy)
    updates, policy_opt = policy_tx.update(grads, learner.policy_opt, learner.online.policy)
    policy = optax.apply_updates(learner.online.policy, updates)

    if config.prioritized:
        buffer = update_priorities(buffer, slots, envs, lap_priority(q, target, config.min_priority))
    online = learner.online._replace(policy=policy, critics=critics)
    learner = learner._replace(online=online, policy_opt=policy_opt, critic_opt=critic_opt)
    return learner, buffer, {"value_loss": value_loss, "policy_loss": policy_loss_value,
                             "q": ordered_mean(q) * learner.reward_scale}


# --------------------------------------------------------------------------- update


def refresh_targets(learner: Learner, buffer: Replay) -> Learner:
    """Hard copies of the online networks; ``s' <- s``, ``s <- mean |r|``."""
    return learner._replace(target=learner.online, target_reward_scale=learner.reward_scale,
                            reward_scale=reward_scale(buffer))


def update(config: Config, state: State) -> tuple[State, dict]:
    """One target period: copy the targets, the encoder's burst of ``target_update_period``
    updates, then ``target_update_period`` steps of acting, storing and value/policy learning."""
    spec = env_spec(config)
    key, burst_key, steps_key = jax.random.split(state.key, 3)
    learner = refresh_targets(state.learner, state.buffer)
    learner, encoder_metrics = jax.lax.scan(
        lambda lrn, k: encoder_step(config, spec, lrn, state.buffer, state.seen_termination, k),
        learner, jax.random.split(burst_key, config.target_update_period))

    def step(carry, step_key):
        learner, buffer, rollout, seen = carry
        act_key, env_key, learn_key = jax.random.split(step_key, 3)
        pre = policy_of_obs(config, spec, learner.online, rollout.obs)
        stored = exploration_action(config, spec, pre, act_key)
        buffer, rollout, seen, episode_metrics = act_and_store(spec, buffer, rollout, seen, stored, env_key)
        learner, buffer, learn_metrics = value_and_policy_step(config, spec, learner, buffer, learn_key)
        return (learner, buffer, rollout, seen), (episode_metrics, learn_metrics)

    (learner, buffer, rollout, seen), (episode_metrics, learn_metrics) = jax.lax.scan(
        step, (learner, state.buffer, state.rollout, state.seen_termination),
        jax.random.split(steps_key, config.target_update_period))
    warmup_steps = config.warmup_iterations * config.num_envs
    env_steps = warmup_steps + (state.iteration + 1) * config.steps_per_iteration
    metrics = {
        "env_steps": env_steps,
        **merge_finished_episode_metrics(episode_metrics),
        **jax.tree.map(ordered_mean, encoder_metrics),
        **jax.tree.map(ordered_mean, learn_metrics),
        "reward_scale": learner.reward_scale,
    }
    return State(learner, buffer, rollout, seen, key, state.iteration + 1), metrics


def train(config: Config, key: jax.Array) -> tuple[State, dict]:
    """``init`` (with the random warm-up) and every target period in one ``lax.scan``; metrics have
    one row per log point."""
    return scan_iterations(update, config, init(config, key), config.num_iterations)
